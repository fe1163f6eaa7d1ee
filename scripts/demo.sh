#!/usr/bin/env bash
# README's first command: installs dependencies (Debian 12, as root), builds
# tackd and runs it on the bundled example config, which needs no
# credentials: messages go to config/messages.jsonl through the file gateway.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTACK_BUILD_TESTS=OFF
cmake --build build --parallel "$(nproc)"
./build/tackd check --config config/tack.example.yaml
./build/tackd outbox init --config config/tack.example.yaml
echo
echo "tackd is starting on config/tack.example.yaml. In another shell:"
echo "  ./build/tackd emit --config config/tack.example.yaml examples/shipped.json"
echo "  tail -n 1 config/messages.jsonl"
echo "  ./build/tackd log --config config/tack.example.yaml --order 1042"
echo
exec ./build/tackd run --config config/tack.example.yaml
