// phone: phone numbers to E.164, the one owner of libphonenumber.
//
// A Swedish shop's "070-123 45 67" with default region SE becomes
// "+46701234567". An invalid number is an error with a reason, never an
// exception. is_fixed_line tells SMS routing that the number cannot take a
// text (libphonenumber's FIXED_LINE type; FIXED_LINE_OR_MOBILE counts as
// mobile). Thread-safe: libphonenumber's PhoneNumberUtil is a singleton.
#pragma once

#include <string>
#include <string_view>

namespace tack {

struct PhoneNumber {
  bool ok = false;
  std::string e164;    // "+46701234567" when ok
  std::string error;   // reason when not ok
  bool is_fixed_line = false;
};

PhoneNumber normalize_phone(std::string_view raw, std::string_view default_region);

// For the daemon's own log lines: "+46*****4567". Never for the delivery log.
std::string mask_phone(std::string_view e164);
// "a***@example.se"
std::string mask_email(std::string_view email);
// `text` (a provider's answer, an error) with every appearance of the
// recipient masked: an e-mail address in any letter case; a phone number
// as +E.164, without the "+" and with "00" for it. For log lines.
std::string redact_recipient(std::string_view text, std::string_view recipient);

}  // namespace tack
