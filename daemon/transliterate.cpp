#include "transliterate.hpp"

#include <unicode/translit.h>
#include <unicode/uloc.h>
#include <unicode/uniset.h>
#include <unicode/unistr.h>

#include <climits>
#include <cstdint>
#include <memory>

#include "sms.hpp"

namespace tack {

namespace {

// NFKC first, for the compatibility characters Latin-ASCII leaves (the
// narrow no-break space ICU writes in times, ligatures, full-width
// letters); both told to touch only what GSM-7 cannot carry.
std::unique_ptr<icu::Transliterator> make_gsm7_transliterator() {
  UErrorCode status = U_ZERO_ERROR;
  std::unique_ptr<icu::Transliterator> transliterator(
      icu::Transliterator::createInstance("NFKC; Latin-ASCII", UTRANS_FORWARD, status));
  if (U_FAILURE(status) || !transliterator) {
    // ICU's data ships with libicu; without it nothing is transliterated.
    return nullptr;
  }
  icu::UnicodeSet outside_gsm7;
  for (char32_t c : gsm7_alphabet()) outside_gsm7.add(static_cast<UChar32>(c));
  outside_gsm7.complement();
  outside_gsm7.freeze();
  transliterator->adoptFilter(outside_gsm7.clone());
  return transliterator;
}

icu::Transliterator* gsm7_transliterator() {
  // ICU's transliterators keep state while they work: one per thread.
  thread_local std::unique_ptr<icu::Transliterator> transliterator = make_gsm7_transliterator();
  return transliterator.get();
}

}  // namespace

std::string transliterate_to_gsm7(std::string_view utf8) {
  icu::Transliterator* transliterator = gsm7_transliterator();
  if (!transliterator || utf8.size() > static_cast<std::size_t>(INT32_MAX)) {
    return std::string(utf8);
  }
  // fromUTF8 turns each invalid sequence (a lone surrogate's three bytes
  // among them) into U+FFFD.
  icu::UnicodeString text = icu::UnicodeString::fromUTF8(
      icu::StringPiece(utf8.data(), static_cast<std::int32_t>(utf8.size())));
  transliterator->transliterate(text);
  std::string out;
  text.toUTF8String(out);
  return out;
}

bool known_language(std::string_view language) {
  if (language.size() < 2 || language.size() > 3) return false;
  for (char c : language) {
    if (c < 'a' || c > 'z') return false;
  }
  for (const char* const* code = uloc_getISOLanguages(); *code; ++code) {
    if (language == *code) return true;
  }
  return false;
}

}  // namespace tack
