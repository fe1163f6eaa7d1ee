#include "sms.hpp"

#include <unicode/utf8.h>

#include <cstdint>
#include <vector>

namespace tack {

namespace {

constexpr int kGsm7Single = 160;
constexpr int kGsm7Part = 153;
constexpr int kUcs2Single = 70;
constexpr int kUcs2Part = 67;

// GSM 03.38 basic set beyond printable ASCII. Printable ASCII is in the basic
// set too, except the backtick and the characters of the extension table.
constexpr std::u32string_view kBasicNonAscii = U"£¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà";
// The extension table: each is sent as ESC plus one septet.
constexpr std::u32string_view kExtension = U"\f^{}\\[~]|€";

// Septets a code point takes in GSM-7, or 0 when GSM-7 cannot carry it.
int gsm7_septets(char32_t c) {
  if (kExtension.find(c) != std::u32string_view::npos) return 2;
  if (c == '\n' || c == '\r') return 1;
  if (c >= 0x20 && c <= 0x7e) return c == '`' ? 0 : 1;
  return kBasicNonAscii.find(c) != std::u32string_view::npos ? 1 : 0;
}

// Parts needed when each character's cost must land whole in one part: an
// escape sequence or a surrogate pair is never split across parts (3GPP TS
// 23.038), so a part may hold one unit less than its size.
int count_segments(const std::vector<int>& costs, int total, int single, int part) {
  if (costs.empty()) return 0;
  if (total <= single) return 1;
  int segments = 1;
  int used = 0;
  for (int cost : costs) {
    if (used + cost > part) {
      ++segments;
      used = 0;
    }
    used += cost;
  }
  return segments;
}

}  // namespace

SmsInfo analyze_sms(std::string_view utf8) {
  std::vector<char32_t> code_points;
  code_points.reserve(utf8.size());
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(utf8.data());
  const auto length = static_cast<std::int64_t>(utf8.size());
  // Invalid UTF-8 becomes U+FFFD, one per maximal bad subsequence, which no
  // GSM table holds: the gateway will see UCS-2 either way.
  for (std::int64_t i = 0; i < length;) {
    UChar32 c = 0;
    U8_NEXT_OR_FFFD(bytes, i, length, c);
    code_points.push_back(static_cast<char32_t>(c));
  }

  SmsInfo info;
  info.characters = static_cast<int>(code_points.size());
  bool gsm7 = true;
  for (char32_t c : code_points) {
    if (gsm7_septets(c) == 0) {
      gsm7 = false;
      break;
    }
  }
  info.encoding = gsm7 ? SmsEncoding::Gsm7 : SmsEncoding::Ucs2;

  std::vector<int> costs;
  costs.reserve(code_points.size());
  for (char32_t c : code_points) {
    int cost = gsm7 ? gsm7_septets(c) : (c > 0xffff ? 2 : 1);
    costs.push_back(cost);
    info.units += cost;
  }
  info.segments = gsm7 ? count_segments(costs, info.units, kGsm7Single, kGsm7Part)
                       : count_segments(costs, info.units, kUcs2Single, kUcs2Part);
  return info;
}

std::u32string gsm7_alphabet() {
  std::u32string alphabet = U"\n\r";
  for (char32_t c = 0x20; c <= 0x7e; ++c) {
    if (c != '`') alphabet.push_back(c);
  }
  alphabet += kBasicNonAscii;
  for (char32_t c : kExtension) {
    if (alphabet.find(c) == std::u32string::npos) alphabet.push_back(c);
  }
  return alphabet;
}

std::string to_string(SmsEncoding encoding) {
  switch (encoding) {
    case SmsEncoding::Gsm7:
      return "GSM-7";
    case SmsEncoding::Ucs2:
      return "UCS-2";
  }
  return "GSM-7";
}

}  // namespace tack
