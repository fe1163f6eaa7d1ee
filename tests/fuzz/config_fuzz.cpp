// Fuzz target: the config loader (load_config_text) on any text. The config
// names a directory that does not exist, so relative template and secret
// paths lead nowhere. Invariants: nothing throws or crashes; there is a
// config exactly when there are no errors, and the errors print.
#include <string>

#include "config.hpp"
#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(tack::fuzz::as_text(data, size));
  const tack::ConfigLoad load = tack::load_config_text(text, "/nonexistent/tack-fuzz/tack.yaml");
  FUZZ_CHECK(load.config.has_value() == load.errors.empty());
  for (const auto& error : load.errors.items) (void)error;
  (void)load.errors.to_string();
  return 0;
}
