#!/usr/bin/env bash
# The benchmark's one command (bench/README.md): installs what it needs
# (Debian 12, as root: the build dependencies, PostgreSQL, Redis, the
# peers' npm packages), builds tack and the bench programs optimised in
# build-bench/, and runs the whole comparison. Arguments go to run.py:
#   bench/run.sh                      # 100,000 events, tack, limits and peers
#   bench/run.sh --events 20000 --tack-only
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --bench
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DTACK_BUILD_TESTS=OFF \
  -DTACK_BUILD_BENCH=ON >/dev/null
cmake --build build-bench --parallel "$(nproc)"
exec /usr/bin/python3 bench/run.py --build-dir build-bench "$@"
