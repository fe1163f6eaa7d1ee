#include "phone.hpp"
#include "text.hpp"

#include <phonenumbers/phonenumberutil.h>
#include <unicode/locid.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace tack {

namespace {

using i18n::phonenumbers::PhoneNumberUtil;

std::string parse_error_reason(PhoneNumberUtil::ErrorType error) {
  switch (error) {
    case PhoneNumberUtil::NO_PARSING_ERROR:
      return {};
    case PhoneNumberUtil::INVALID_COUNTRY_CODE_ERROR:
      return "unknown country code (give the number with +country code)";
    case PhoneNumberUtil::NOT_A_NUMBER:
      return "not a phone number";
    case PhoneNumberUtil::TOO_SHORT_AFTER_IDD:
      return "too short after the international prefix";
    case PhoneNumberUtil::TOO_SHORT_NSN:
      return "too short to be a phone number";
    case PhoneNumberUtil::TOO_LONG_NSN:
      return "too long to be a phone number";
  }
  return "not a phone number";
}

// Why a parsed number is still not valid, in words support can act on.
std::string invalid_reason(const PhoneNumberUtil& util,
                           const i18n::phonenumbers::PhoneNumber& number) {
  switch (util.IsPossibleNumberWithReason(number)) {
    case PhoneNumberUtil::INVALID_COUNTRY_CODE:
      return "unknown country code";
    case PhoneNumberUtil::TOO_SHORT:
      return "too short for its country";
    case PhoneNumberUtil::TOO_LONG:
      return "too long for its country";
    case PhoneNumberUtil::INVALID_LENGTH:
      return "wrong number of digits for its country";
    default:
      return "not a valid number for its country";
  }
}

bool is_ascii_printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f;
  });
}

// Country calling codes whose numbers the fast path below builds: European
// codes whose metadata parses a national number by at most stripping the
// national (trunk) prefix, which the fast path leaves to Parse. Elsewhere
// (the Americas' carrier codes, San Marino's rewrite rule) Parse does more,
// so those numbers always go through it. phone_test compares both paths
// over thousands of random numbers of each code listed.
constexpr int kFastCodes[] = {30,  31,  32,  33,  34,  36,  40,  41,  43,  44,  45,
                              46,  47,  48,  49,  351, 353, 354, 358, 359, 370, 371,
                              372, 385, 386, 420, 421};

// A number in E.164 ("+" and up to 15 digits) of one of kFastCodes is
// built directly: calling codes are a prefix code, so the first 1 to 3
// digits that name a known code are it and the rest is the national
// number, the way libphonenumber's parser splits it. Its extraction
// regexes were half of the phone check's cost, and shops mostly store
// E.164. A national number that starts with the trunk prefix ("0", "06",
// "8") goes through Parse, which may strip it.
bool from_e164(std::string_view raw, const PhoneNumberUtil& util,
               i18n::phonenumbers::PhoneNumber* number) {
  constexpr std::size_t kMinDigits = 7, kMaxDigits = 15;
  if (raw.size() < kMinDigits + 1 || raw.size() > kMaxDigits + 1 || raw.front() != '+') {
    return false;
  }
  const std::string_view digits = raw.substr(1);
  // No country calling code starts with 0.
  if (digits.front() == '0' || !std::all_of(digits.begin(), digits.end(), [](char c) {
        return c >= '0' && c <= '9';
      })) {
    return false;
  }
  int code = 0;
  for (std::size_t length = 1; length <= 3; ++length) {
    code = code * 10 + (digits[length - 1] - '0');
    std::string region;
    util.GetRegionCodeForCountryCode(code, &region);
    if (region == "ZZ") continue;
    if (std::find(std::begin(kFastCodes), std::end(kFastCodes), code) == std::end(kFastCodes)) {
      return false;
    }
    const std::string_view national = digits.substr(length);
    std::string trunk;
    util.GetNddPrefixForRegion(region, true, &trunk);
    if (national.front() == '0' || (!trunk.empty() && national.substr(0, trunk.size()) == trunk)) {
      return false;
    }
    std::uint64_t value = 0;
    for (char c : national) value = value * 10 + static_cast<std::uint64_t>(c - '0');
    number->set_country_code(code);
    number->set_national_number(value);
    return true;
  }
  return false;
}

}  // namespace

PhoneNumber normalize_phone(std::string_view raw, std::string_view default_region) {
  PhoneNumber result;
  bool blank = std::all_of(raw.begin(), raw.end(),
                           [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
  if (blank) {
    result.error = "no phone number";
    return result;
  }
  std::string region(default_region);
  std::transform(region.begin(), region.end(), region.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });

  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  i18n::phonenumbers::PhoneNumber number;
  if (!from_e164(raw, util, &number)) {
    auto parsed = util.Parse(std::string(raw), region, &number);
    if (parsed != PhoneNumberUtil::NO_PARSING_ERROR) {
      result.error = parse_error_reason(parsed);
      return result;
    }
  }
  // GetNumberType is UNKNOWN exactly when IsValidNumber is false (both run
  // the region's number patterns); asking once halves the regex work, the
  // bulk of intake's CPU.
  const auto type = util.GetNumberType(number);
  if (type == PhoneNumberUtil::UNKNOWN) {
    result.error = invalid_reason(util, number);
    return result;
  }
  util.Format(number, PhoneNumberUtil::E164, &result.e164);
  // E.164 allows 15 digits; libphonenumber's metadata accepts a few longer
  // ones (German 16-digit numbers, found by the phone fuzz target), which a
  // provider would refuse and which are not E.164.
  constexpr std::size_t kMaxE164Digits = 15;
  if (result.e164.size() > kMaxE164Digits + 1) {
    result.e164.clear();
    result.error = "too long to be a phone number (E.164 allows 15 digits)";
    return result;
  }
  result.is_fixed_line = type == PhoneNumberUtil::FIXED_LINE;
  // The number's own country (a Polish number in a Swedish shop: PL), for
  // the customer's time zone when the event names none.
  util.GetRegionCodeForNumber(number, &result.region);
  result.ok = true;
  return result;
}

namespace {

std::string upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

bool is_known_region(const std::string& region) {
  if (region.size() != 2) return false;
  return PhoneNumberUtil::GetInstance()->GetCountryCodeForRegion(region) != 0;
}

// "+48 …": the number names its own country.
bool has_country_code(std::string_view raw) {
  auto first = raw.find_first_not_of(" \t(");
  return first != std::string_view::npos && raw[first] == '+';
}

// The country where `language` ("pl") is most spoken, from CLDR's likely
// subtags through ICU, or "" when ICU knows none.
std::string likely_region_of_language(std::string_view language) {
  if (language.empty() || language.size() > 8) return {};
  icu::Locale locale(std::string(language).c_str());
  UErrorCode status = U_ZERO_ERROR;
  locale.addLikelySubtags(status);
  if (U_FAILURE(status) || locale.isBogus()) return {};
  return locale.getCountry();
}

std::string locale_language(std::string_view locale) {
  auto end = locale.find_first_of("-_.@");
  const std::string language = lowercase(locale.substr(0, end));
  const bool letters = !language.empty() && std::all_of(language.begin(), language.end(), [](char c) {
    return c >= 'a' && c <= 'z';
  });
  return letters ? language : std::string();
}

}  // namespace

std::string locale_region(std::string_view locale) {
  // Subtags after the language: a 4-letter script is skipped; the region is
  // 2 letters (or 3 digits, which no phone region uses). POSIX "pl_PL.UTF-8"
  // and "sv_SE@euro" end at '.' or '@'.
  locale = locale.substr(0, locale.find_first_of(".@"));
  std::size_t start = locale.find_first_of("-_");
  while (start != std::string_view::npos) {
    std::size_t end = locale.find_first_of("-_", start + 1);
    std::string_view subtag = locale.substr(start + 1, end == std::string_view::npos
                                                           ? std::string_view::npos
                                                           : end - start - 1);
    if (subtag.size() == 2 && std::isalpha(static_cast<unsigned char>(subtag[0])) &&
        std::isalpha(static_cast<unsigned char>(subtag[1]))) {
      return upper(subtag);
    }
    if (subtag.size() != 4) return {};  // past the script: no region
    start = end;
  }
  return {};
}

PhoneNumber normalize_customer_phone(std::string_view raw, const PhoneRegionHints& hints) {
  const std::string shop = upper(hints.shop_region);
  if (has_country_code(raw)) return normalize_phone(raw, shop);
  if (!hints.country.empty()) {
    const std::string country = upper(hints.country);
    if (!is_known_region(country)) {
      PhoneNumber result;
      result.error = "customer.country \"" + std::string(hints.country.substr(0, 32)) +
                     "\" is not a two-letter country code (ISO 3166) such as SE, PL or GB";
      return result;
    }
    auto number = normalize_phone(raw, country);
    if (!number.ok) number.error += " (read as a national number of " + country + ", customer.country)";
    return number;
  }
  if (auto region = locale_region(hints.locale); is_known_region(region)) {
    auto number = normalize_phone(raw, region);
    if (!number.ok) {
      number.error += " (read as a national number of " + region + ", from customer.locale)";
    }
    return number;
  }
  // Nothing from the customer names a country: the shop's region is an
  // assumption, and said to be one in every error.
  auto assumed = normalize_phone(raw, shop);
  const std::string advice =
      "; give the number with +country code, or the event's customer.country";
  if (!assumed.ok) {
    // "00…" is the international prefix in the shop's region: its error is
    // about the number, not about the region.
    assumed.error += " (read as a national number of " + shop +
                     ", the shop's locale.region" + advice + ")";
    return assumed;
  }
  const std::string language = locale_language(hints.locale);
  const std::string other = likely_region_of_language(language);
  if (!other.empty() && other != shop && is_known_region(other) &&
      normalize_phone(raw, other).ok) {
    PhoneNumber result;
    result.error = "national number of an unknown country: valid in " + shop +
                   " (the shop's locale.region) and in " + other + " (customer.locale \"" +
                   language + "\"); not guessed" + advice;
    return result;
  }
  return assumed;
}

std::vector<std::string> phone_search_forms(std::string_view typed, std::string_view shop_region) {
  std::vector<std::string> forms;
  auto add = [&forms](std::string form) {
    if (forms.size() < kMaxPhoneSearchForms &&
        std::find(forms.begin(), forms.end(), form) == forms.end()) {
      forms.push_back(std::move(form));
    }
  };
  const std::string shop = upper(shop_region);
  if (auto own = normalize_phone(typed, shop); own.ok) add(own.e164);
  // A number tack refused is stored as it came.
  add(std::string(typed));
  if (!has_country_code(typed)) {
    std::set<std::string> regions;
    PhoneNumberUtil::GetInstance()->GetSupportedRegions(&regions);
    for (const auto& region : regions) {
      if (region == shop) continue;
      // A number with an international prefix ("0048…") belongs to its
      // country in every region; the shop's reading above has it.
      if (auto other = normalize_phone(typed, region); other.ok) add(other.e164);
    }
  }
  return forms;
}

std::string mask_phone(std::string_view e164) {
  constexpr std::size_t kShownHead = 3;  // "+" and the country code's first digits
  constexpr std::size_t kShownTail = 4;
  if (e164.empty()) return {};
  // Only plain ASCII is shown in part: cutting other text could leave half a
  // UTF-8 sequence in a log line.
  if (!is_ascii_printable(e164)) return "***";
  if (e164.size() <= kShownHead + kShownTail) return std::string(e164.size(), '*');
  return std::string(e164.substr(0, kShownHead)) +
         std::string(e164.size() - kShownHead - kShownTail, '*') +
         std::string(e164.substr(e164.size() - kShownTail));
}

std::string mask_email(std::string_view email) {
  auto at = email.rfind('@');
  if (at == std::string_view::npos) return "***";
  std::string_view local = email.substr(0, at);
  std::string first;
  if (!local.empty()) {
    // Keep the whole first character, however many UTF-8 bytes it takes.
    std::size_t n = 1;
    while (n < local.size() && (static_cast<unsigned char>(local[n]) & 0xc0) == 0x80) ++n;
    first = local.substr(0, n);
  }
  return first + "***" + std::string(email.substr(at));
}

std::string redact_recipient(std::string_view text, std::string_view recipient) {
  if (recipient.empty()) return std::string(text);
  const bool email = recipient.find('@') != std::string_view::npos;
  auto lower = [](std::string_view v) { return lowercase(v); };
  // Longest form first, so "+4670..." is not left as "+" plus a masked rest.
  std::vector<std::pair<std::string, std::string>> forms;
  if (email) {
    forms.emplace_back(lower(recipient), mask_email(recipient));
  } else {
    const std::string masked = mask_phone(recipient);
    forms.emplace_back(std::string(recipient), masked);
    if (recipient.front() == '+' && recipient.size() > 1) {
      forms.emplace_back("00" + std::string(recipient.substr(1)), masked);
      forms.emplace_back(std::string(recipient.substr(1)), masked);
    }
  }
  std::string out(text);
  for (const auto& [form, masked] : forms) {
    std::string haystack = email ? lower(out) : out;
    std::string result;
    std::size_t from = 0;
    for (auto at = haystack.find(form); at != std::string::npos; at = haystack.find(form, from)) {
      result.append(out, from, at - from);
      result += masked;
      from = at + form.size();
    }
    result.append(out, from, std::string::npos);
    out = std::move(result);
  }
  return out;
}

}  // namespace tack
