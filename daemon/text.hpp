// text: small helpers for bytes that are text, used across tack: UTF-8
// checks, percent-encoding, trimming, ASCII lower case. Pure.
#pragma once

#include <string>
#include <string_view>

namespace tack {

// Well-formed UTF-8: no stray continuation byte, truncated or overlong
// sequence, surrogate or code point past U+10FFFF.
bool valid_utf8(std::string_view text);
// `text` with each byte that is not part of a well-formed UTF-8 character
// replaced by U+FFFD: for text from outside (a provider's answer, a parser's
// message quoting its input) that is stored or served as JSON.
std::string replace_invalid_utf8(std::string_view text);

// Every byte but ASCII letters, digits and `keep` as %XX (upper-case hex);
// a space as '+' when `space_as_plus`.
std::string percent_encode(std::string_view text, std::string_view keep, bool space_as_plus);
std::string url_encode(std::string_view text);   // RFC 3986: all but unreserved as %XX
std::string form_encode(std::string_view text);  // x-www-form-urlencoded: space as +

// `text` without the leading and trailing bytes in `chars`.
std::string trim(std::string_view text, std::string_view chars = " \t\r\n\f\v");
// ASCII letters in lower case; every other byte as it is (never the locale's).
std::string lowercase(std::string_view text);

}  // namespace tack
