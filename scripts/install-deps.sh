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
)
test_pkgs=( catch2 python3 python3-aiosmtpd procps openssl )
want=("${build_pkgs[@]}")
[ "${1:-}" = "--test" ] && want+=("${test_pkgs[@]}")
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
