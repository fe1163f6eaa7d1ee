# Sanitizer and fuzzing builds (docs/development.md, "Hostile input"). Included from the
# top CMakeLists.txt before any target, so every target of the build (tackcore,
# tackd, tack_tests, the fuzz runners) is compiled and linked the same way.
#
#   -DTACK_SANITIZE=address,undefined  ASan + UBSan, every finding fatal
#   -DTACK_SANITIZE=thread             TSan
#   -DTACK_FUZZ=ON                     (clang only) also link the libFuzzer
#                                      targets of tests/fuzz/; tack's own code
#                                      (tackcore) is compiled with
#                                      -fsanitize=fuzzer-no-link for coverage
#                                      feedback, the tests are not
#
# A sanitizer build of type RelWithDebInfo is compiled -O1 -gline-tables-only
# instead of -O2 -g: what the sanitizers' documentation recommends (reports
# keep file and line in every frame; the tests run at nearly the same speed)
# and a fifth less compile time, on a fresh machine two builds of everything.
#
# A finding must fail the test that hit it: UBSan does not recover
# (-fno-sanitize-recover=all), ASan and TSan abort on their first report.
# clang (the fuzz build's compiler): Boost 1.74's Asio looks for clang's old
# Coroutines TS (__cpp_coroutines) and so misses C++20 coroutines, which
# clang 14 has with libstdc++'s <coroutine>. Say they are there.
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  add_compile_definitions(BOOST_ASIO_HAS_CO_AWAIT=1)
endif()

set(TACK_SANITIZE "" CACHE STRING
    "Comma-separated -fsanitize= list for every target (address,undefined or thread)")
option(TACK_FUZZ "Build the libFuzzer fuzz targets (needs clang)" OFF)

if(TACK_SANITIZE)
  if(TACK_SANITIZE MATCHES "thread" AND TACK_SANITIZE MATCHES "address")
    message(FATAL_ERROR "TACK_SANITIZE: thread and address cannot be combined")
  endif()
  add_compile_options(-fsanitize=${TACK_SANITIZE} -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${TACK_SANITIZE} -fno-sanitize-recover=all)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang" AND TACK_SANITIZE MATCHES "undefined")
    # clang 14 cannot compile a coroutine with UBSan's "function" check
    # ("error: Cannot represent a difference across sections",
    # llvm/llvm-project#49689, fixed in clang 16). That one check, which
    # catches calls through a function pointer of the wrong type, is off;
    # the rest of -fsanitize=undefined stays.
    add_compile_options(-fno-sanitize=function)
  endif()
  set(CMAKE_CXX_FLAGS_RELWITHDEBINFO "-O1 -gline-tables-only -DNDEBUG")
  if(TACK_SANITIZE MATCHES "address")
    # Bounds checks of std::vector, std::string_view & co. as well.
    add_compile_definitions(_GLIBCXX_ASSERTIONS)
  endif()
endif()

if(TACK_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "TACK_FUZZ needs clang (libFuzzer): -DCMAKE_CXX_COMPILER=clang++")
  endif()
  # Coverage feedback from all of tack's code (CMakeLists.txt gives tackcore
  # these flags); only the fuzz targets link libFuzzer's main
  # (-fsanitize=fuzzer, tests/fuzz/CMakeLists.txt). The unit tests are left
  # uninstrumented: nothing reads their coverage.
  set(TACK_FUZZ_COVERAGE_FLAGS -fsanitize=fuzzer-no-link)
endif()

# The run-time options (ASAN_OPTIONS, UBSAN_OPTIONS, TSAN_OPTIONS) are set by
# scripts/test.sh and scripts/fuzz.sh; the tests and the tackd the
# integration tests start inherit them. Without them the defaults still
# fail a test on a finding (ASan aborts, UBSan does not recover, TSan exits
# 66), and ASan's leak checker is on by default.
