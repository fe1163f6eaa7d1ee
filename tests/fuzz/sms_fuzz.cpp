// Fuzz target: the SMS encoder and segmenter (daemon/sms.hpp) on any bytes,
// valid UTF-8 or not. Invariants: an empty body is 0 segments and any other
// at least 1; one part holds at most 160 septets or 70 UTF-16 units, so
// more needs more parts, and parts never exceed what the units need when
// each part loses at most one unit to a character that does not split.
// Transliteration (daemon/transliterate.hpp) gives valid UTF-8 for any
// bytes and leaves a GSM-7 text as it is.
#include <unicode/utf8.h>

#include "fuzz.hpp"
#include "sms.hpp"
#include "transliterate.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = tack::fuzz::as_text(data, size);
  const tack::SmsInfo info = tack::analyze_sms(text);
  FUZZ_CHECK(info.characters >= 0 && info.units >= info.characters);
  FUZZ_CHECK(static_cast<std::size_t>(info.characters) <= text.size());
  FUZZ_CHECK((info.segments == 0) == text.empty());
  const bool gsm7 = info.encoding == tack::SmsEncoding::Gsm7;
  const int single = gsm7 ? 160 : 70;
  const int part = gsm7 ? 153 : 67;
  if (info.units <= single) {
    FUZZ_CHECK(info.segments == (text.empty() ? 0 : 1));
  } else {
    FUZZ_CHECK(info.segments >= (info.units + part - 1) / part);
    FUZZ_CHECK(info.segments <= (info.units + part - 2) / (part - 1));
  }
  if (gsm7) FUZZ_CHECK(info.units <= 2 * info.characters);
  FUZZ_CHECK(!tack::to_string(info.encoding).empty());

  const std::string moved = tack::transliterate_to_gsm7(text);
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(moved.data());
  const auto length = static_cast<std::int64_t>(moved.size());
  for (std::int64_t i = 0; i < length;) {
    UChar32 c = 0;
    U8_NEXT(bytes, i, length, c);
    FUZZ_CHECK(c >= 0);
  }
  if (gsm7) FUZZ_CHECK(moved == text);
  return 0;
}
