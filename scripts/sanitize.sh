#!/usr/bin/env bash
# The hostile-input stages of scripts/test.sh (docs/development.md, "Hostile input"), also
# runnable alone once scripts/install-deps.sh --test has run:
#   1. build-asan/: clang, ASan + UBSan (-fno-sanitize-recover=all) and the
#      libFuzzer targets; the whole ctest suite runs there, integration tests
#      against the sanitized tackd. Label "packaging" is left out: it checks
#      the .deb, the unit file and the man pages, not tack's code.
#   2. build-tsan/: clang, TSan; only tack_tests and tackd are built. The
#      unit tests (the store's writer thread and group commit, the
#      dispatcher, the HTTP listener's worker pool, the outbox source's
#      thread) and the integration tests against the TSan tackd.
#   3. each fuzz target for TACK_FUZZ_SECONDS (default 20) seconds.
# Neither tree builds the benchmark's programs (bench.smoke runs in the
# normal build; under a sanitizer it would check tack's code a third time).
# Every sanitizer report fails the script: the tests abort on it, and the
# reports of every process (tackd and the CLI started by integration tests
# included) go to BUILD/sanitizer-reports/, which must stay empty.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${TACK_JOBS:-$(nproc)}
fuzz_seconds=${TACK_FUZZ_SECONDS:-20}
asan_build=${TACK_ASAN_BUILD_DIR:-build-asan}
tsan_build=${TACK_TSAN_BUILD_DIR:-build-tsan}

took() {
  local seconds=$((SECONDS - $1))
  echo "sanitize.sh: $2: $((seconds / 60)) min $((seconds % 60)) s"
}

# Fails when any sanitizer report was written, after showing them.
check_reports() {
  local dir=$1
  if compgen -G "$dir/*" >/dev/null; then
    for report in "$dir"/*; do
      echo "==== $report" >&2
      cat "$report" >&2
    done
    echo "sanitize.sh: sanitizer findings above ($dir)" >&2
    return 1
  fi
}

configure() {
  local dir=$1
  shift
  CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTACK_BUILD_TESTS=ON -DTACK_BUILD_BENCH=OFF "$@"
}

# ---- 1. ASan + UBSan: the whole suite --------------------------------------
start=$SECONDS
configure "$asan_build" -DTACK_SANITIZE=address,undefined -DTACK_FUZZ=ON
cmake --build "$asan_build" --parallel "$jobs"
took $start "ASan+UBSan build"
reports=$PWD/$asan_build/sanitizer-reports
rm -rf "$reports" && mkdir -p "$reports"
start=$SECONDS
status=0
(
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$reports/asan"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan"
  cd "$asan_build"
  # integration.test_time runs in the normal suite only: libfaketime's
  # LD_PRELOAD and the sanitizer runtime both hook clock_gettime, and a
  # tackd under both can hang at start-up ("Unexpected recursive calls to
  # clock_gettime()"); the clock logic it tests is the same code.
  ctest --output-on-failure --parallel "$jobs" --timeout 900 -LE packaging \
    -E '^integration\.test_time$'
) || status=$?
took $start "ASan+UBSan suite"
check_reports "$reports"
[ "$status" -eq 0 ]

# ---- 2. TSan: unit and integration tests ---------------------------------
start=$SECONDS
configure "$tsan_build" -DTACK_SANITIZE=thread
cmake --build "$tsan_build" --parallel "$jobs" --target tack_tests tackd
took $start "TSan build"
reports=$PWD/$tsan_build/sanitizer-reports
rm -rf "$reports" && mkdir -p "$reports"
start=$SECONDS
status=0
(
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$reports/tsan"
  cd "$tsan_build"
  # Only tack_tests and tackd are built here: not the fuzz replays, nor the
  # bench programs that bench.smoke runs (it ran in the ASan tree).
  # Not test_time either (libfaketime and the sanitizer runtime: see above).
  ctest --output-on-failure --parallel "$jobs" --timeout 900 \
    -E '^(packaging|fuzz|bench)\.|^integration\.test_time$'
) || status=$?
took $start "TSan unit and integration tests"
check_reports "$reports"
[ "$status" -eq 0 ]

# ---- 3. bounded fuzzing ----------------------------------------------------
start=$SECONDS
TACK_FUZZ_BUILD_DIR=$asan_build bash scripts/fuzz.sh all "$fuzz_seconds"
took $start "fuzzing (${fuzz_seconds} s per target)"
