#!/usr/bin/env bash
# check_deb.sh build|install BUILD_DIR CPACK: builds the .deb with
# `cpack -G DEB` into a temp dir and checks it.
#
# build   (any user) what the package holds: its name tack_<version>_<arch>.deb,
#         Depends computed from the binary's libraries, root-owned files in the
#         Debian places, /etc/tack/tack.yaml marked as a conffile, man pages
#         gzipped and warning-free, and the packaged config, binary and
#         templates working together (`tackd check` on the unpacked tree); a
#         machine-readable copyright file and a Debian changelog for this
#         version by the Maintainer, a Maintainer that is no placeholder, and
#         the design and the HTTP API docs in /usr/share/doc/tack.
# install (root only; exit 77, which ctest reports as skipped, otherwise)
#         installs it with dpkg on this machine and checks it there: tackd
#         --version, tackd check on /etc/tack/tack.yaml, man -w, the unit
#         verified where it was installed, the system user and group tack,
#         the outbox in /var/spool/tack writable by group tack and nobody
#         else, tackd run as tack delivering an event that a process of
#         another user in group tack put into the packaged outbox (and such a
#         process outside the group refused), the conffile listed and a local change to it
#         kept across a reinstall, then dpkg -r and dpkg --purge leaving
#         nothing behind. A trap purges the package whatever happens; a
#         machine that already has tack (or its files) is left alone.
set -euo pipefail

mode=${1:?usage: check_deb.sh build|install BUILD_DIR CPACK}
build=${2:?usage: check_deb.sh build|install BUILD_DIR CPACK}
cpack=${3:?usage: check_deb.sh build|install BUILD_DIR CPACK}
here=$(cd "$(dirname "$0")" && pwd)

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "check_deb ($mode): $*" >&2; exit 1; }

if [ "$mode" = install ]; then
  [ "$(id -u)" -eq 0 ] || skip "installing the .deb needs root (dpkg -i); run ctest as root to check it"
  if dpkg-query -W -f='${Status}' tack 2>/dev/null | grep -q 'installed'; then
    skip "package tack is installed on this machine; not touching it"
  fi
  for path in /etc/tack /usr/share/tack /var/lib/tack /var/lib/private/tack /var/spool/tack \
      /usr/sbin/tackd /lib/systemd/system/tackd.service; do
    [ ! -e "$path" ] || skip "$path exists on this machine; not touching it"
  done
fi

work=$(mktemp -d /tmp/tack-deb-XXXXXX)
installed=no
tackd_pid=
# postinst makes the system user and group tack and purge leaves them, as
# Debian does; this test removes them again when it was what made them.
made_user=no
made_group=no
if [ "$mode" = install ]; then
  getent passwd tack > /dev/null || made_user=yes
  getent group tack > /dev/null || made_group=yes
fi
restore_root_mode=
cleanup() {
  if [ -n "$tackd_pid" ]; then kill -KILL "$tackd_pid" 2>/dev/null || true; fi
  if [ -n "$restore_root_mode" ]; then chmod "$restore_root_mode" /; fi
  if [ "$installed" = yes ]; then
    dpkg --purge tack > "$work/purge.log" 2>&1 || cat "$work/purge.log" >&2
    rm -rf /var/lib/tack /var/lib/private/tack /var/spool/tack
  fi
  if [ "$made_user" = yes ] && getent passwd tack > /dev/null; then userdel tack || true; fi
  if [ "$made_group" = yes ] && getent group tack > /dev/null; then groupdel tack || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# ---- build ------------------------------------------------------------------
"$cpack" -G DEB -B "$work/out" --config "$build/CPackConfig.cmake" > "$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log" >&2; fail "cpack -G DEB failed"; }
debs=("$work"/out/*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || fail "expected one .deb, found: ${debs[*]}"
deb=${debs[0]}
version=$("$build/tackd" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)
[ "$(basename "$deb")" = "tack_${version}_${arch}.deb" ] ||
  fail "package named $(basename "$deb"), expected tack_${version}_${arch}.deb"

field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = tack ] || fail "Package: $(field Package)"
[ "$(field Version)" = "$version" ] || fail "Version: $(field Version), tackd says $version"
[ "$(field Architecture)" = "$arch" ] || fail "Architecture: $(field Architecture)"
depends=$(field Depends)
for lib in procps passwd libc6 libstdc++6 libsqlite3-0 libcurl4 libsystemd0 libyaml-cpp0.7; do
  grep -q "\b$lib\b" <<<"$depends" || fail "Depends lacks $lib (shlibdeps): $depends"
done

dpkg-deb -c "$deb" > "$work/contents"
for path in ./usr/sbin/tackd ./lib/systemd/system/tackd.service ./etc/tack/tack.yaml \
    ./usr/share/tack/templates/shipped.yaml ./usr/share/tack/templates/partials.yaml \
    ./usr/share/man/man8/tackd.8.gz ./usr/share/man/man5/tack.yaml.5.gz \
    ./usr/share/doc/tack/README.md ./usr/share/doc/tack/examples/shipped.json \
    ./usr/share/doc/tack/examples/delivered.json ./usr/share/doc/tack/design.md \
    ./usr/share/doc/tack/http-api.md ./usr/share/doc/tack/copyright \
    ./usr/share/doc/tack/changelog.gz; do
  grep -q " $path\$" "$work/contents" || fail "the package lacks $path"
done
# Every template of the repo is in the package.
for template in "$here"/../../templates/*; do
  name=$(basename "$template")
  grep -q " ./usr/share/tack/templates/$name\$" "$work/contents" ||
    fail "the package lacks template $name"
done
awk '$2 != "root/root" { bad = 1; print } END { exit bad }' "$work/contents" ||
  fail "files not owned by root/root (above)"
grep -q '^-rwxr-xr-x .* ./usr/sbin/tackd$' "$work/contents" || fail "tackd is not 0755"
grep -q '^-rw-r--r-- .* ./etc/tack/tack.yaml$' "$work/contents" || fail "tack.yaml is not 0644"

mkdir "$work/control"
dpkg-deb -e "$deb" "$work/control"
[ "$(cat "$work/control/conffiles")" = /etc/tack/tack.yaml ] ||
  fail "conffiles: $(cat "$work/control/conffiles" 2>/dev/null)"
for script in postinst prerm postrm; do
  [ -x "$work/control/$script" ] || fail "maintainer script $script missing or not executable"
  sh -n "$work/control/$script" || fail "$script: shell syntax"
done

mkdir "$work/root"
dpkg-deb -x "$deb" "$work/root"
for page in "$work"/root/usr/share/man/man*/*.gz; do
  warnings=$(man --warnings -l "$page" 2>&1 >/dev/null) || fail "man -l $page failed"
  [ -z "$warnings" ] || fail "$(basename "$page"): $warnings"
done
# The Maintainer: a name and an address, not the old placeholder.
maintainer=$(field Maintainer)
grep -qE '^[^<>]+ <[^@<> ]+@[^@<> ]+\.[a-z]+>$' <<<"$maintainer" || fail "Maintainer: '$maintainer'"
grep -qiE '@localhost|example\.(com|org|net)>|changeme|TODO' <<<"$maintainer" &&
  fail "Maintainer is a placeholder: $maintainer"
# copyright: machine-readable (DEP-5): its Format line, a Files: * paragraph
# with Copyright and License, and every License short name it uses given a
# text in a stand-alone License paragraph.
doc="$work/root/usr/share/doc/tack"
head -n 1 "$doc/copyright" |
  grep -qx 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' ||
  fail "copyright: no DEP-5 Format line: $(head -n 1 "$doc/copyright")"
grep -qx 'Upstream-Name: tack' "$doc/copyright" || fail "copyright: no Upstream-Name: tack"
awk 'BEGIN { RS = "" } /^Files: \*\n/ && /\nCopyright: [^\n]+/ && /\nLicense: [^\n]+/ { ok = 1 }
     END { exit !ok }' "$doc/copyright" || fail "copyright: no Files: * paragraph with Copyright and License"
for license in $(sed -n 's/^License: \([^ ]*\)$/\1/p' "$doc/copyright" | sort -u); do
  awk -v l="$license" 'BEGIN { RS = "" } index($0, "License: " l "\n ") == 1 { ok = 1 } END { exit !ok }' \
    "$doc/copyright" || fail "copyright: license $license has no stand-alone paragraph with its text"
done
# changelog: gzipped without a time stamp, parsed by dpkg's own parser: this
# version, by the Maintainer.
gzip -t "$doc/changelog.gz" || fail "changelog.gz is not gzip"
gzip -dc "$doc/changelog.gz" > "$work/changelog"
[ "$(dpkg-parsechangelog -l "$work/changelog" -S Version)" = "$version" ] ||
  fail "changelog's version $(dpkg-parsechangelog -l "$work/changelog" -S Version), package $version"
[ "$(dpkg-parsechangelog -l "$work/changelog" -S Maintainer)" = "$maintainer" ] ||
  fail "changelog signed by $(dpkg-parsechangelog -l "$work/changelog" -S Maintainer), Maintainer is $maintainer"
cmp -s "$doc/design.md" "$here/../../docs/design.md" || fail "design.md differs from docs/design.md"
cmp -s "$doc/http-api.md" "$here/../../docs/http-api.md" || fail "http-api.md differs from docs/http-api.md"

config="$work/root/etc/tack/tack.yaml"
grep -q '^  path: /var/lib/tack/tack.db ' "$config" || fail "packaged config: store not in /var/lib/tack"
grep -q '^    path: /var/spool/tack/outbox.db ' "$config" ||
  fail "packaged config: outbox not /var/spool/tack/outbox.db"
grep -q '^  dir: /usr/share/tack/templates ' "$config" ||
  fail "packaged config: templates not in /usr/share/tack/templates"
# The unpacked binary, config and templates agree (templates moved to the
# unpacked tree, the only change).
sed "s#/usr/share/tack/templates#$work/root/usr/share/tack/templates#" "$config" > "$work/check.yaml"
"$work/root/usr/sbin/tackd" check --config "$work/check.yaml" > "$work/check.out" 2>&1 ||
  { cat "$work/check.out" >&2; fail "tackd check on the packaged config failed"; }
"$here/check_unit.sh" "$work/root/lib/systemd/system/tackd.service" \
  "$work/root/usr/sbin/tackd" "$work/root/usr/share/man" || fail "the packaged unit"
echo "build: $(basename "$deb") ok (Depends: $depends)"
[ "$mode" = install ] || exit 0

# ---- install ----------------------------------------------------------------
# A root folder made by `mktemp -d` (fresh-machine.sh's chroot) is mode
# 0700: no user but root reaches /usr/lib there, and tackd cannot run as
# tack. Every Debian install has 0755; so has this one while the test runs,
# and its own mode comes back afterwards.
root_mode=$(stat -c %a /)
if [ $((8#$root_mode & 8#001)) -eq 0 ]; then
  echo "check_deb (install): / is mode $root_mode (a chroot made by mktemp -d?): 0755 while the test runs" >&2
  restore_root_mode=$root_mode
  chmod 0755 /
fi
installed=yes
dpkg -i "$deb" > "$work/dpkg-i.log" 2>&1 || { cat "$work/dpkg-i.log" >&2; fail "dpkg -i failed"; }
[ "$(dpkg-query -W -f='${Status}' tack)" = "install ok installed" ] || fail "not installed"

[ "$(/usr/sbin/tackd --version)" = "tackd $version" ] || fail "tackd --version: $(/usr/sbin/tackd --version)"
/usr/sbin/tackd check --config /etc/tack/tack.yaml > "$work/check.out" 2>&1 ||
  { cat "$work/check.out" >&2; fail "tackd check --config /etc/tack/tack.yaml failed"; }
[ "$(man -w tackd)" = /usr/share/man/man8/tackd.8.gz ] || fail "man -w tackd: $(man -w tackd 2>&1)"
[ "$(man -w 5 tack.yaml)" = /usr/share/man/man5/tack.yaml.5.gz ] ||
  fail "man -w 5 tack.yaml: $(man -w 5 tack.yaml 2>&1)"
dpkg -L tack > "$work/files"
for path in /usr/sbin/tackd /lib/systemd/system/tackd.service /etc/tack/tack.yaml \
    /usr/share/tack/templates/shipped.yaml; do
  grep -qx "$path" "$work/files" || fail "dpkg -L tack lacks $path"
done
dpkg-query -W -f='${Conffiles}\n' tack | grep -q '^ /etc/tack/tack.yaml [0-9a-f]\{32\}' ||
  fail "conffile not registered: $(dpkg-query -W -f='${Conffiles}' tack)"
# As installed: the real ExecStart path and man pages.
"$here/check_unit.sh" /lib/systemd/system/tackd.service || fail "the installed unit"

# The system user and group the unit runs as, and the outbox the shop's own
# process writes: /var/spool/tack tack:tack 2770 (setgid: what a writer
# makes there is group tack's), the outbox tack:tack 0660 with its table.
getent group tack > /dev/null || fail "postinst made no group tack"
[ "$(id -gn tack 2>/dev/null)" = tack ] || fail "user tack missing or not in group tack: $(id tack 2>&1)"
[ "$(getent passwd tack | cut -d: -f7)" = /usr/sbin/nologin ] || fail "user tack has a login shell"
[ "$(stat -c '%U:%G %a' /var/spool/tack)" = "tack:tack 2770" ] ||
  fail "/var/spool/tack is $(stat -c '%U:%G %a' /var/spool/tack), expected tack:tack 2770"
[ "$(stat -c '%U:%G %a' /var/spool/tack/outbox.db)" = "tack:tack 660" ] ||
  fail "outbox.db is $(stat -c '%U:%G %a' /var/spool/tack/outbox.db), expected tack:tack 660"

# The packaged config runs: an event in, its messages out through the file
# gateway, in /var/lib/tack (which systemd's StateDirectory= would create),
# and the HTTP listener answers. Only its port differs: 8425 may be taken
# on the machine running this.
grep -q '^  listen: 127.0.0.1:8425 ' /etc/tack/tack.yaml || fail "packaged config: no http listen line"
# tackd runs as tack, as the unit runs it, in the state folder systemd
# would make (StateDirectory=tack, 0700).
chmod 0755 "$work"
sed 's/^  listen: 127.0.0.1:8425 /  listen: 127.0.0.1:0 /' /etc/tack/tack.yaml > "$work/run.yaml"
chmod 0644 "$work/run.yaml"
install -d -o tack -g tack -m 0700 /var/lib/tack
as_tack=(setpriv --reuid=tack --regid=tack --init-groups --inh-caps=-all)
"${as_tack[@]}" /usr/sbin/tackd run --config "$work/run.yaml" > "$work/tackd.log" 2>&1 &
tackd_pid=$!
wait_for() {  # wait_for WHAT COMMAND...: polls for up to 15 s
  local what=$1 i
  shift
  for i in $(seq 150); do
    if "$@"; then return 0; fi
    kill -0 "$tackd_pid" 2>/dev/null || { cat "$work/tackd.log" >&2; fail "tackd exited waiting for $what"; }
    sleep 0.1
  done
  cat "$work/tackd.log" >&2
  fail "timed out waiting for $what"
}
wait_for "tackd to run" grep -q running "$work/tackd.log"
port=$(sed -n 's/.*http: listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/tackd.log")
[ -n "$port" ] || { cat "$work/tackd.log" >&2; fail "tackd did not log its HTTP port"; }
livez=$(/usr/bin/python3 -c 'import sys, urllib.request as u
opener = u.build_opener(u.ProxyHandler({}))
print(opener.open("http://127.0.0.1:%s/livez" % sys.argv[1], timeout=10).read().decode())' \
  "$port") || fail "GET /livez failed"
[ "$(echo "$livez" | tr -d '[:space:]')" = ok ] || fail "GET /livez answered: $livez"
# The shop's process: another user (nobody) whose only tie to tack is
# group tack, as after `adduser shopuser tack`. Outside the group it is
# refused.
tack_gid=$(getent group tack | cut -d: -f3)
as_shop() { setpriv --reuid=nobody --regid=nogroup --groups="$1" --inh-caps=-all "${@:2}"; }
if as_shop nogroup /usr/sbin/tackd emit --config /etc/tack/tack.yaml \
    /usr/share/doc/tack/examples/shipped.json > "$work/emit-outsider.out" 2>&1; then
  fail "a process outside group tack could write the outbox"
fi
grep -q 'cannot open /var/spool/tack/outbox.db' "$work/emit-outsider.out" ||
  { cat "$work/emit-outsider.out" >&2; fail "the outsider's emit failed for another reason"; }
as_shop "$tack_gid" /usr/sbin/tackd emit --config /etc/tack/tack.yaml \
  /usr/share/doc/tack/examples/shipped.json > "$work/emit.out" 2>&1 ||
  { cat "$work/emit.out" >&2; fail "a process in group tack could not write the outbox"; }
wait_for "the message file" grep -qs '"order_id":"1042"' /var/lib/tack/messages.jsonl
both_sent() {  # the SMS and the e-mail of the shipped rule
  local n
  n=$(/usr/sbin/tackd log --config /etc/tack/tack.yaml --order 1042 --json |
    grep -cE '^ *"state": *"sent",?$' || true)
  [ "$n" -ge 2 ]
}
wait_for "the SMS and the e-mail to be sent" both_sent
# While both have the outbox open: its files (-wal, -shm) are group tack's
# and writable by the group; the store stayed tack's alone.
for f in /var/spool/tack/*; do
  [ "$(stat -c '%G' "$f")" = tack ] || fail "$f is group $(stat -c '%G' "$f"), not tack"
  [ "$(( 0$(stat -c '%a' "$f") & 060 ))" -eq $(( 060 )) ] || fail "$f is $(stat -c '%a' "$f"), not group-writable"
done
[ "$(stat -c '%U %a' /var/lib/tack/tack.db)" = "tack 600" ] ||
  fail "the store is $(stat -c '%U %a' /var/lib/tack/tack.db), expected tack 600"
kill -TERM "$tackd_pid"
rc=0
wait "$tackd_pid" || rc=$?
tackd_pid=
[ "$rc" -eq 0 ] || { cat "$work/tackd.log" >&2; fail "tackd exited $rc on SIGTERM"; }

# A local change to the conffile survives a reinstall.
echo "# local change by check_deb.sh" >> /etc/tack/tack.yaml
dpkg -i --force-confold "$deb" > "$work/dpkg-i2.log" 2>&1 ||
  { cat "$work/dpkg-i2.log" >&2; fail "reinstall failed"; }
grep -q '^# local change by check_deb.sh$' /etc/tack/tack.yaml || fail "reinstall lost the local change"

# Remove keeps the conffile; purge removes it and tack's state.
dpkg -r tack > "$work/dpkg-r.log" 2>&1 || { cat "$work/dpkg-r.log" >&2; fail "dpkg -r failed"; }
[ ! -e /usr/sbin/tackd ] || fail "dpkg -r left /usr/sbin/tackd"
[ ! -e /lib/systemd/system/tackd.service ] || fail "dpkg -r left the unit"
[ -e /etc/tack/tack.yaml ] || fail "dpkg -r removed the conffile"
[ "$(dpkg-query -W -f='${Status}' tack)" = "deinstall ok config-files" ] ||
  fail "after dpkg -r: $(dpkg-query -W -f='${Status}' tack)"
dpkg --purge tack > "$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; fail "dpkg --purge failed"; }
installed=no
for path in /etc/tack /var/lib/tack /var/spool/tack /usr/share/tack /usr/share/doc/tack \
    /usr/share/man/man8/tackd.8.gz; do
  [ ! -e "$path" ] || fail "dpkg --purge left $path"
done
if dpkg-query -W tack > /dev/null 2>&1; then
  fail "dpkg still knows tack: $(dpkg-query -W -f='${Status}' tack)"
fi
echo "install: dpkg -i, run, reinstall, remove and purge ok"
