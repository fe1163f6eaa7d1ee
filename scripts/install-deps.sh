#!/usr/bin/env bash
# Installs everything tack needs to build, run and test on Debian 12, as root.
# Idempotent: safe to run again. Used by both README commands and .ci/run.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
build_pkgs=(
  build-essential cmake ninja-build ccache pkg-config git ca-certificates tzdata
  libboost-dev libboost-system-dev libcurl4-openssl-dev libyaml-cpp-dev
  libsqlite3-dev sqlite3 nlohmann-json3-dev libkainjow-mustache-dev libicu-dev
  libhowardhinnant-date-dev libphonenumber-dev libfmt-dev libcli11-dev
  libsystemd-dev libssl-dev
  prometheus-cpp-dev libcrypt-dev  # /metrics (core library only); HTTP Basic's crypt(3)
  dpkg-dev file  # cpack -G DEB: dpkg-shlibdeps computes Depends, CPackDeb runs file
  openssl curl  # demo.sh makes the run's token and password hash; the README's HTTP examples
)
# chromium, nodejs and npm: the support page's browser test (tests/browser/).
test_pkgs=( catch2 python3 python3-aiosmtpd procps openssl chromium nodejs npm )
# systemd-analyze verify/security (offline: systemd need not be PID 1) and man
# --warnings: tests/packaging/.
test_pkgs+=( systemd man-db )
# Sanitizer builds and fuzzing (scripts/sanitize.sh, scripts/fuzz.sh): clang
# 14 and its runtimes (ASan, UBSan, TSan, libFuzzer).
test_pkgs+=( clang libclang-rt-14-dev )
# Debian's libfaketime moves tackd's wall clock in tests/integration/test_time.py
# (follow-ups days ahead, a clock stepped forward and back).
test_pkgs+=( faketime )
# The Prometheus project's parser reads tackd's /metrics in tests/integration/test_metrics.py.
test_pkgs+=( python3-prometheus-client )
# The e-mail providers' fakes sign SendGrid's event webhook with ECDSA P-256
# (tests/integration/test_providers_email.py).
test_pkgs+=( python3-cryptography )
# The benchmark's peers (bench/peers/): PostgreSQL and Redis servers, Node.
bench_pkgs=( postgresql redis-server nodejs npm python3 )
want=("${build_pkgs[@]}")
if [ "${1:-}" = "--bench" ]; then
  for p in "${bench_pkgs[@]}"; do
    [ "$p" = npm ] && command -v npm >/dev/null 2>&1 && continue
    want+=("$p")
  done
fi
if [ "${1:-}" = "--test" ]; then
  for p in "${test_pkgs[@]}"; do
    # A nodejs from NodeSource brings its own npm and conflicts with Debian's.
    [ "$p" = npm ] && command -v npm >/dev/null 2>&1 && continue
    want+=("$p")
  done
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
