// phone: phone numbers to E.164, the one owner of libphonenumber.
//
// A Swedish shop's "070-123 45 67" with default region SE becomes
// "+46701234567". An invalid number is an error with a reason, never an
// exception. is_fixed_line tells SMS routing that the number cannot take a
// text (libphonenumber's FIXED_LINE type; FIXED_LINE_OR_MOBILE counts as
// mobile). Thread-safe: libphonenumber's PhoneNumberUtil is a singleton.
//
// A customer's number is read in the customer's country
// (normalize_customer_phone): customer.country, else the region of
// customer.locale ("pl-PL" -> PL), else the shop's locale.region. A number
// with "+" or an international prefix keeps its own country. A national
// number is never guessed into the shop's country when the customer's
// language points to another country where it is valid too ("701 234 568"
// of a customer whose locale is "pl"): it is an error naming both, so a
// Polish customer's order never reaches a Swedish stranger.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tack {

struct PhoneNumber {
  bool ok = false;
  std::string e164;    // "+46701234567" when ok
  std::string error;   // reason when not ok
  bool is_fixed_line = false;
  std::string region;  // the number's country, ISO 3166 alpha-2 ("SE"), when ok
};

PhoneNumber normalize_phone(std::string_view raw, std::string_view default_region);

// What an event says of where the customer's number belongs.
struct PhoneRegionHints {
  std::string_view country;      // customer.country, ISO 3166 alpha-2 ("PL"); may be empty
  std::string_view locale;       // customer.locale ("pl-PL", "pl"); may be empty
  std::string_view shop_region;  // the config's locale.region: the last resort
};
PhoneNumber normalize_customer_phone(std::string_view raw, const PhoneRegionHints& hints);

// The region of a BCP 47 or POSIX locale ("pl-PL", "sr_Latn_RS" -> "RS"),
// upper case, or "" when it names none.
std::string locale_region(std::string_view locale);

// Every form a number typed by support may be stored as, most likely first:
// E.164 in the shop's region, in every other region where the national
// number is valid, and the text as typed (a number tack refused is stored
// as it came). At most kMaxPhoneSearchForms.
constexpr std::size_t kMaxPhoneSearchForms = 256;
std::vector<std::string> phone_search_forms(std::string_view typed, std::string_view shop_region);

// For the daemon's own log lines: "+46*****4567". Never for the delivery log.
std::string mask_phone(std::string_view e164);
// "a***@example.se"
std::string mask_email(std::string_view email);
// `text` (a provider's answer, an error) with every appearance of the
// recipient masked: an e-mail address in any letter case; a phone number
// as +E.164, without the "+" and with "00" for it. For log lines.
std::string redact_recipient(std::string_view text, std::string_view recipient);

}  // namespace tack
