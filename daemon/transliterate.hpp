// transliterate: an SMS text moved into GSM-7 where ICU knows how, so it
// travels in 160-character parts instead of UCS-2's 70.
//
// ICU's NFKC and Latin-ASCII transliterators, filtered by a UnicodeSet of
// the characters GSM 03.38 cannot carry (sms.hpp: gsm7_alphabet), so only
// those change: Polish ą ć ę ł ń ó ś ź ż become a c e l n o s z z, typographic
// quotes and dashes become " and -, the ellipsis "...", no-break spaces
// spaces, ligatures and full-width forms their letters, while Swedish å ä ö
// é, ò, ß and the extension table's € { } stay as they are. What ICU cannot
// map into Latin (emoji, CJK, Cyrillic) stays too, and such a text stays
// UCS-2. Invalid UTF-8 comes out as U+FFFD, one per bad sequence.
//
// The single owner of icu::Transliterator. Pure: text in, text out; one
// transliterator per thread (ICU's are not safe to share), built on first
// use. Called by sms_cost (intake and scheduler, at render), and `tackd
// check` through lint; config asks known_language about its `transliterate`
// lists.
#pragma once

#include <string>
#include <string_view>

namespace tack {

std::string transliterate_to_gsm7(std::string_view utf8);

// Whether ICU knows `language` as an ISO 639 language code ("pl", "cs";
// lower case, no region).
bool known_language(std::string_view language);

}  // namespace tack
