#!/usr/bin/env bash
# README's test command: installs what the suite needs (Debian 12, as root),
# builds once with Ninja (ccache when present) and runs every test with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
build=${TACK_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTACK_BUILD_TESTS=ON
cmake --build "$build" --parallel "$(nproc)"
# The browser test's npm packages, as pinned in tests/browser/package-lock.json.
# Skipped while node_modules matches the lock file (no network needed); if
# npm cannot fetch them, the other tests still run and the browser test says why.
(
  cd tests/browser
  if ! cmp -s package-lock.json node_modules/.tack-package-lock.json; then
    if PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefer-offline --no-audit --no-fund; then
      cp package-lock.json node_modules/.tack-package-lock.json
    else
      echo "test.sh: npm ci failed in tests/browser; the support page test will fail" >&2
    fi
  fi
)
cd "$build"
ctest --output-on-failure --parallel "$(nproc)" --timeout 600
