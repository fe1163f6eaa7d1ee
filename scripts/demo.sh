#!/usr/bin/env bash
# README's first command: installs dependencies (Debian 12, as root), builds
# tackd and runs it on the bundled example config, which needs no provider
# credentials: messages go to a file through the file gateway.
#
# Each run makes a run folder (demo/, made afresh) holding:
#   tack.yaml            config/tack.example.yaml plus, for this run, an events
#                        token and a support user "demo" (http.events, http.users)
#   events-token         the token, random, 0600
#   demo-password-hash   the support user's password as a SHA-512 crypt(3) hash
#   tack.db, outbox.db, messages.jsonl   what tackd writes
# and prints the token and the password with export lines to paste into
# another shell. Nothing secret is written outside demo/, which git ignores.
#
# Environment (the README test, tests/integration/test_readme.py, sets them;
# a person needs none):
#   TACKD          a tackd already built: no install, no build
#   TACK_PORT      the HTTP port (default 8425)
#   TACK_DEMO_DIR  the run folder (default demo/ in the checkout)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
port=${TACK_PORT:-8425}
run_dir=${TACK_DEMO_DIR:-$root/demo}
case "$port" in ''|*[!0-9]*) echo "demo.sh: TACK_PORT must be a port number, got '$port'" >&2; exit 64;; esac

if [ -n "${TACKD:-}" ]; then
  tackd=$TACKD
  [ -x "$tackd" ] || { echo "demo.sh: TACKD=$tackd is not an executable" >&2; exit 66; }
else
  bash scripts/install-deps.sh
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTACK_BUILD_TESTS=OFF
  cmake --build build --parallel "$(nproc)"
  tackd=./build/tackd
fi

# The run folder, fresh: last run's store, outbox and messages go.
rm -rf "$run_dir"
mkdir -p "$run_dir"
umask 077
# 32 random bytes as hex: the events token. 12 random bytes, base64 without
# the characters a shell or a URL would need quoted: the password.
token=$(openssl rand -hex 32)
password=$(openssl rand -base64 24 | tr -d '/+=\n' | cut -c1-16)
printf '%s\n' "$token" > "$run_dir/events-token"
# SHA-512 crypt, 5000 rounds (openssl's; tackd refuses fewer). The password
# goes in on stdin, never on a command line that ps would show.
printf '%s\n' "$password" | openssl passwd -6 -stdin > "$run_dir/demo-password-hash"

# The example config with paths made absolute (it is no longer next to
# config/), the HTTP port, and the token and user added under http:.
sed -e "s#^  dir: \.\./templates #  dir: $root/templates #" \
    -e "s#^  listen: 127\.0\.0\.1:8425 #  listen: 127.0.0.1:$port #" \
    -e 's#^http:$#http:\
  events:                        \# added by scripts/demo.sh for this run\
    token_file: events-token\
  users:\
    - name: demo\
      password_hash_file: demo-password-hash#' \
    config/tack.example.yaml > "$run_dir/tack.yaml"
for expected in "dir: $root/templates" "listen: 127.0.0.1:$port" "token_file: events-token"; do
  grep -qF "$expected" "$run_dir/tack.yaml" ||
    { echo "demo.sh: config/tack.example.yaml changed shape: no '$expected' in $run_dir/tack.yaml" >&2; exit 70; }
done

config=$run_dir/tack.yaml
[ "$run_dir" = "$root/demo" ] && config=demo/tack.yaml
"$tackd" check --config "$config" > "$run_dir/check.out" ||
  { cat "$run_dir/check.out" >&2; exit 78; }
"$tackd" outbox init --config "$config"
cat <<EOF

tackd is starting on $config: config/tack.example.yaml plus an events
token and a support user made for this run (in $run_dir, mode 0600).
The page: http://127.0.0.1:$port/ (user demo). In another shell, paste:

  export TACK_URL=http://127.0.0.1:$port
  export TOKEN=$token
  export TACK_PASSWORD=$password

then follow the README from "The first order". Ctrl-C stops tackd.

EOF
exec "$tackd" run --config "$config"
