#!/usr/bin/env bash
# Runs tack's libFuzzer targets (tests/fuzz/README.md).
#
#   scripts/fuzz.sh TARGET SECONDS   one target, e.g. scripts/fuzz.sh event 600
#   scripts/fuzz.sh all SECONDS      every target in turn, SECONDS each
#
# Builds the clang ASan+UBSan+libFuzzer configuration in ${TACK_FUZZ_BUILD_DIR:-build-asan}
# when its binaries are missing or stale. Each target starts from its seed
# corpus in tests/fuzz/corpus/TARGET/ and grows a working corpus in
# BUILD/fuzz-corpus/TARGET/ (not in git). A crash stops the run with
# non-zero status and leaves the input as BUILD/fuzz-artifacts/TARGET/crash-*:
# fix the bug, then copy the input into tests/fuzz/corpus/TARGET/ so the
# replay test (ctest -L fuzz) keeps it fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 2 ]; then
  echo "usage: scripts/fuzz.sh TARGET|all SECONDS" >&2
  exit 64
fi
targets_all=(event config render phone sms http_api provider_answer)
if [ "$1" = all ]; then
  targets=("${targets_all[@]}")
else
  targets=("$1")
  [[ " ${targets_all[*]} " == *" $1 "* ]] || {
    echo "fuzz.sh: unknown target $1 (one of: ${targets_all[*]})" >&2
    exit 64
  }
fi
seconds=$2
build=${TACK_FUZZ_BUILD_DIR:-build-asan}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
# With -g, ccache also hashes the build's working directory (hash_dir) and
# a clone in another folder would miss every entry; the debug info then
# names the first folder's paths, which only a debugger reads.
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTACK_BUILD_TESTS=ON -DTACK_SANITIZE=address,undefined -DTACK_FUZZ=ON
fi
cmake --build "$build" --parallel "${TACK_JOBS:-$(nproc)}" --target "${targets[@]/%/_fuzz}"

# The options scripts/test.sh uses too: every finding fatal, leaks included.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for target in "${targets[@]}"; do
  work="$build/fuzz-corpus/$target"
  artifacts="$build/fuzz-artifacts/$target"
  mkdir -p "$work" "$artifacts"
  echo "fuzz.sh: $target for ${seconds}s"
  # -rss_limit_mb: ASan's shadow counts too; -timeout: one input taking this
  # long is a finding (a hang or a quadratic blow-up). The full output goes
  # to a log; the end of it is shown.
  log="$build/fuzz-artifacts/$target.log"
  status=0
  "$build/tests/fuzz/${target}_fuzz" "$work" "tests/fuzz/corpus/$target" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    tail -n 80 "$log" >&2
    echo "fuzz.sh: $target FAILED (status $status); the input is in $artifacts/, the log in $log" >&2
    exit 1
  fi
  grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb|INFO: seed corpus)' "$log" || true
  echo "fuzz.sh: $target: no crash; corpus $(ls "$work" | wc -l) inputs"
done
