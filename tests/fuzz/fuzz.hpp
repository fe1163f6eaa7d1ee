// fuzz: what every fuzz target of tests/fuzz/ shares.
//
// A target defines LLVMFuzzerTestOneInput and is linked twice: with
// libFuzzer (clang, -DTACK_FUZZ=ON) to search for inputs, and with
// replay_main.cpp (any compiler) to replay the corpus as a ctest. A broken
// invariant aborts through FUZZ_CHECK, which both count as a crash. Targets
// split their input into fields by lines (split_fields), so seeds stay
// readable text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#define FUZZ_CHECK(condition)                                                                \
  do {                                                                                       \
    if (!(condition)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

namespace tack::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The first `count - 1` lines of `text` (without their '\n'), then the rest
// as the last field. Missing fields are empty.
inline std::vector<std::string_view> split_fields(std::string_view text, std::size_t count) {
  std::vector<std::string_view> fields;
  while (fields.size() + 1 < count) {
    const auto newline = text.find('\n');
    if (newline == std::string_view::npos) {
      fields.push_back(text);
      text = {};
      continue;
    }
    fields.push_back(text.substr(0, newline));
    text.remove_prefix(newline + 1);
  }
  fields.push_back(text);
  return fields;
}

}  // namespace tack::fuzz
