// Fuzz target: the E.164 normaliser and the log maskers (daemon/phone.hpp).
// Input: line 1 the default region, the rest the number as a customer typed
// it. Invariants: a normalised number is "+" and 8..15 digits and
// normalises to itself; masking and redaction never crash and never leave
// the full number in a log line.
#include <cctype>
#include <string>

#include "fuzz.hpp"
#include "phone.hpp"

namespace {

bool is_e164(const std::string& text) {
  if (text.size() < 3 || text.size() > 16 || text[0] != '+') return false;
  for (std::size_t i = 1; i < text.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto fields = tack::fuzz::split_fields(tack::fuzz::as_text(data, size), 2);
  const std::string_view region = fields[0];
  const std::string_view raw = fields[1];
  const tack::PhoneNumber phone = tack::normalize_phone(raw, region);
  FUZZ_CHECK(phone.ok == phone.error.empty());
  if (phone.ok) {
    if (!is_e164(phone.e164)) std::fprintf(stderr, "not E.164: \"%s\"\n", phone.e164.c_str());
    FUZZ_CHECK(is_e164(phone.e164));
    const tack::PhoneNumber again = tack::normalize_phone(phone.e164, region);
    FUZZ_CHECK(again.ok && again.e164 == phone.e164);
    const std::string masked = tack::mask_phone(phone.e164);
    FUZZ_CHECK(masked.find(phone.e164) == std::string::npos);
    const std::string answer = "provider said: " + phone.e164 + " is unreachable";
    FUZZ_CHECK(tack::redact_recipient(answer, phone.e164).find(phone.e164) == std::string::npos);
  }
  // The customer's region: line 1 read as country and as locale, too. A
  // number read in any country is E.164 or an error with a reason.
  for (const tack::PhoneRegionHints hints :
       {tack::PhoneRegionHints{region, "", "SE"}, tack::PhoneRegionHints{"", region, "PL"}}) {
    const tack::PhoneNumber customer = tack::normalize_customer_phone(raw, hints);
    FUZZ_CHECK(customer.ok == customer.error.empty());
    FUZZ_CHECK(!customer.ok || is_e164(customer.e164));
  }
  (void)tack::locale_region(region);
  if (raw.size() <= 64) {  // support's search box; each form is one parse per region
    const auto forms = tack::phone_search_forms(raw, region);
    FUZZ_CHECK(forms.size() <= tack::kMaxPhoneSearchForms);
  }
  (void)tack::mask_phone(raw);
  (void)tack::mask_email(raw);
  (void)tack::redact_recipient(raw, region);
  (void)tack::redact_recipient(region, raw);
  return 0;
}
