#include "phone.hpp"

#include <catch2/catch.hpp>
#include <phonenumbers/phonenumberutil.h>

#include <algorithm>
#include <cctype>
#include <random>
#include <string>
#include <vector>

namespace tack {

TEST_CASE("a Swedish mobile number in national format becomes E.164", "[phone]") {
  PhoneNumber number = normalize_phone("070-123 45 67", "SE");
  CHECK(number.ok);
  CHECK(number.e164 == "+46701234567");
  CHECK(number.error.empty());
  CHECK_FALSE(number.is_fixed_line);
}

TEST_CASE("a number with a country code ignores the default region", "[phone]") {
  PhoneNumber number = normalize_phone("+48 512 345 678", "SE");
  CHECK(number.ok);
  CHECK(number.e164 == "+48512345678");
  CHECK_FALSE(number.is_fixed_line);
  // The number's own country, for the customer's time zone (quiet hours).
  CHECK(number.region == "PL");
  CHECK(normalize_phone("0701234567", "SE").region == "SE");
  CHECK(normalize_phone("+44 7400 123456", "SE").region == "GB");
  CHECK(normalize_phone("12", "SE").region.empty());
}

TEST_CASE("a Polish number in national format becomes E.164 with region PL", "[phone]") {
  PhoneNumber number = normalize_phone("512 345 678", "PL");
  CHECK(number.ok);
  CHECK(number.e164 == "+48512345678");
}

TEST_CASE("the default region may be given in lower case", "[phone]") {
  CHECK(normalize_phone("0701234567", "se").e164 == "+46701234567");
}

TEST_CASE("a Stockholm landline is a fixed line that cannot take an SMS", "[phone]") {
  PhoneNumber number = normalize_phone("08-123 456 78", "SE");
  CHECK(number.ok);
  CHECK(number.e164 == "+46812345678");
  CHECK(number.is_fixed_line);
}

TEST_CASE("an empty or blank number is an error", "[phone]") {
  for (const char* raw : {"", "   "}) {
    PhoneNumber number = normalize_phone(raw, "SE");
    CHECK_FALSE(number.ok);
    CHECK(number.e164.empty());
    CHECK(number.error == "no phone number");
  }
}

TEST_CASE("text that is not a phone number is an error with a reason", "[phone]") {
  for (std::string raw : {std::string("call me maybe"), std::string("\xff\xfe\xfd"),
                          std::string("+"), std::string(300, '7')}) {
    PhoneNumber number = normalize_phone(raw, "SE");
    INFO(raw);
    CHECK_FALSE(number.ok);
    CHECK_FALSE(number.error.empty());
  }
}

TEST_CASE("a number with too few digits for its country is invalid", "[phone]") {
  PhoneNumber number = normalize_phone("070-123 45 6", "SE");
  CHECK_FALSE(number.ok);
  CHECK_FALSE(number.error.empty());
  // The reason is for logs too: it must not repeat the number.
  CHECK(number.error.find("070") == std::string::npos);
}

TEST_CASE("a number over E.164's 15 digits is an error even where libphonenumber allows it",
          "[phone]") {
  auto p = normalize_phone("+4999025501932785", "");
  CHECK_FALSE(p.ok);
  CHECK(p.e164.empty());
  CHECK(p.error == "too long to be a phone number (E.164 allows 15 digits)");
}

TEST_CASE("a national number with an unknown default region asks for the country code", "[phone]") {
  PhoneNumber number = normalize_phone("0701234567", "XX");
  CHECK_FALSE(number.ok);
  CHECK(number.error.find("country code") != std::string::npos);
}

TEST_CASE("an unassigned country code is an error", "[phone]") {
  PhoneNumber number = normalize_phone("+999 1234567", "SE");
  CHECK_FALSE(number.ok);
  CHECK(number.error.find("country code") != std::string::npos);
}

TEST_CASE("mask_phone keeps the country code and the last four digits", "[phone]") {
  CHECK(mask_phone("+46701234567") == "+46*****4567");
  CHECK(mask_phone("+48512345678") == "+48*****5678");
  CHECK(mask_phone("+12025550100") == "+12*****0100");
}

TEST_CASE("mask_phone hides all of a number too short to show parts of", "[phone]") {
  CHECK(mask_phone("") == "");
  CHECK(mask_phone("+461234") == "*******");
  CHECK(mask_phone("+4612345") == "+46*2345");
  CHECK(mask_phone("07012345\xc3\xa5") == "***");
}

TEST_CASE("mask_email keeps the first character and the domain", "[phone]") {
  CHECK(mask_email("anna@example.se") == "a***@example.se");
  CHECK(mask_email("åsa@example.se") == "å***@example.se");
  CHECK(mask_email("@example.se") == "***@example.se");
  CHECK(mask_email("not an address") == "***");
  CHECK(mask_email("") == "***");
}

}  // namespace tack

TEST_CASE("a provider's answer is logged with the recipient masked", "[phone]") {
  using tack::redact_recipient;
  CHECK(redact_recipient("550 5.1.1 <Anna@Example.se>: user unknown", "anna@example.se") ==
        "550 5.1.1 <a***@example.se>: user unknown");
  CHECK(redact_recipient("invalid number +46701234567", "+46701234567") ==
        "invalid number +46*****4567");
  CHECK(redact_recipient("{\"to\":\"46701234567\",\"alt\":\"0046701234567\"}", "+46701234567") ==
        "{\"to\":\"+46*****4567\",\"alt\":\"+46*****4567\"}");
  CHECK(redact_recipient("HTTP 503: busy", "+46701234567") == "HTTP 503: busy");
  CHECK(redact_recipient("", "anna@example.se").empty());
  CHECK(redact_recipient("x anna@example.se anna@example.se", "anna@example.se") ==
        "x a***@example.se a***@example.se");
}

TEST_CASE("a number given in E.164 is checked the same as libphonenumber's parser would", "[phone]") {
  // normalize_phone builds "+digits" input directly instead of parsing it
  // (phone.cpp, from_e164); for any such input the outcome must be what
  // Parse followed by the same checks gives.
  using i18n::phonenumbers::PhoneNumberUtil;
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  auto reference = [&](const std::string& raw) {
    tack::PhoneNumber expected;
    i18n::phonenumbers::PhoneNumber number;
    if (util.Parse(raw, "SE", &number) != PhoneNumberUtil::NO_PARSING_ERROR) return expected;
    const auto type = util.GetNumberType(number);
    if (type == PhoneNumberUtil::UNKNOWN) return expected;
    util.Format(number, PhoneNumberUtil::E164, &expected.e164);
    if (expected.e164.size() > 16) return tack::PhoneNumber{};
    expected.ok = true;
    expected.is_fixed_line = type == PhoneNumberUtil::FIXED_LINE;
    return expected;
  };
  std::vector<std::string> inputs = {
      "+46701234567", "+4687654321",  "+48512345678",  "+447911123456", "+12015550123",
      "+390612345678", "+3906123456", "+79161234567",  "+8613812345678", "+80012345678",
      "+97312345678", "+2348031234567", "+4670123",    "+467012345678901", "+999123456789",
      "+0046701234567", "+46-70-123",  "+4601234567",  "+35312345678",  "+12345678901234",
  };
  std::mt19937 random(20261130);
  auto digits = [&](std::string raw, int n) {
    for (int d = 0; d < n; ++d) raw.push_back(static_cast<char>('0' + random() % 10));
    return raw;
  };
  for (int i = 0; i < 3000; ++i) inputs.push_back(digits("+", 7 + static_cast<int>(random() % 9)));
  // The codes phone.cpp builds directly, with a likely first digit (mobile
  // ranges start 4 to 9 in most of them) and any other.
  for (int code : {30, 31, 32, 33, 34, 36, 40, 41, 43, 44, 45, 46, 47, 48, 49, 351, 353, 354,
                   358, 359, 370, 371, 372, 385, 386, 420, 421}) {
    const std::string prefix = "+" + std::to_string(code);
    for (int i = 0; i < 400; ++i) {
      const int length = 6 + static_cast<int>(random() % 7);  // national: 6..12 digits
      inputs.push_back(digits(prefix + static_cast<char>('0' + random() % 10), length - 1));
    }
  }
  int valid = 0;
  for (const auto& raw : inputs) {
    INFO(raw);
    const tack::PhoneNumber expected = reference(raw);
    const tack::PhoneNumber got = tack::normalize_phone(raw, "SE");
    REQUIRE(got.ok == expected.ok);
    CHECK(got.e164 == expected.e164);
    CHECK(got.is_fixed_line == expected.is_fixed_line);
    CHECK(got.ok == got.error.empty());
    valid += got.ok ? 1 : 0;
  }
  CHECK(valid > 100);  // the sample holds valid numbers of many countries, not only errors
}

namespace tack {

// ---- The customer's region (issue 12, defect 1): a national number is read
// in the customer's country, never silently in the shop's.

namespace {
PhoneNumber customer_phone(std::string_view raw, std::string_view country,
                           std::string_view locale, std::string_view shop = "SE") {
  return normalize_customer_phone(raw, PhoneRegionHints{country, locale, shop});
}
}  // namespace

TEST_CASE("a Polish customer's national number is Polish in a Swedish shop", "[phone][region]") {
  // Read with the shop's region, this is +46701234568: a stranger's Swedish mobile.
  CHECK(customer_phone("701 234 568", "PL", "").e164 == "+48701234568");
  CHECK(customer_phone("701 234 568", "", "pl-PL").e164 == "+48701234568");
  CHECK(customer_phone("512 345 678", "", "pl_PL").e164 == "+48512345678");
  CHECK_FALSE(customer_phone("512 345 678", "", "pl-PL").is_fixed_line);
}

TEST_CASE("a UK mobile in national format is valid for a British customer", "[phone][region]") {
  auto number = customer_phone("07911 123456", "", "en-GB");
  CHECK(number.ok);
  CHECK(number.e164 == "+447911123456");
}

TEST_CASE("national numbers of seven countries, by customer.country and by locale",
          "[phone][region]") {
  struct Case {
    const char *country, *locale, *raw, *e164;
  };
  const Case cases[] = {
      {"SE", "sv-SE", "070-123 45 67", "+46701234567"},
      {"PL", "pl-PL", "512 345 678", "+48512345678"},
      {"GB", "en-GB", "07911 123456", "+447911123456"},
      {"DE", "de-DE", "0151 23456789", "+4915123456789"},
      {"NO", "nb-NO", "412 34 567", "+4741234567"},
      {"DK", "da-DK", "20 12 34 56", "+4520123456"},
      {"FI", "fi-FI", "040 123 4567", "+358401234567"},
  };
  for (const auto& c : cases) {
    INFO(c.country << " " << c.raw);
    // The shop is in another country than the customer, except for SE.
    for (const char* shop : {"SE", "PL", "GB"}) {
      auto by_country = customer_phone(c.raw, c.country, "", shop);
      CHECK(by_country.ok);
      CHECK(by_country.e164 == c.e164);
      CHECK_FALSE(by_country.is_fixed_line);
      CHECK(customer_phone(c.raw, "", c.locale, shop).e164 == c.e164);
      // Lower case is a country code too.
      std::string lower = c.country;
      for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      CHECK(customer_phone(c.raw, lower, "", shop).e164 == c.e164);
    }
  }
}

TEST_CASE("customer.country wins over the locale's region", "[phone][region]") {
  CHECK(customer_phone("512 345 678", "PL", "en-GB").e164 == "+48512345678");
}

TEST_CASE("a number with + or 00 keeps its own country whatever the hints say",
          "[phone][region]") {
  CHECK(customer_phone("+48 512 345 678", "SE", "sv-SE").e164 == "+48512345678");
  CHECK(customer_phone("0048 512 345 678", "SE", "").e164 == "+48512345678");
  CHECK(customer_phone("+44 7911 123456", "", "pl").e164 == "+447911123456");
}

TEST_CASE("the shop's region is used when nothing says otherwise", "[phone][region]") {
  CHECK(customer_phone("070-123 45 67", "", "").e164 == "+46701234567");
  CHECK(customer_phone("070-123 45 67", "", "sv").e164 == "+46701234567");
  // English says nothing of the country, and 070… is no number in the US or GB.
  CHECK(customer_phone("070-123 45 67", "", "en").e164 == "+46701234567");
}

TEST_CASE("a national number that could be another country's is not guessed",
          "[phone][region]") {
  // A Polish-speaking customer with no country: valid in Poland and in Sweden.
  auto number = customer_phone("701 234 568", "", "pl");
  CHECK_FALSE(number.ok);
  CHECK(number.e164.empty());
  CHECK_THAT(number.error, Catch::Contains("PL"));
  CHECK_THAT(number.error, Catch::Contains("SE"));
  CHECK_THAT(number.error, Catch::Contains("customer.country"));
}

TEST_CASE("a number invalid in the assumed region says which region was assumed",
          "[phone][region]") {
  auto number = customer_phone("07911 123456", "", "");
  CHECK_FALSE(number.ok);
  CHECK_THAT(number.error, Catch::Contains("SE"));
  CHECK_THAT(number.error, Catch::Contains("customer.country"));
}

TEST_CASE("a customer.country that is no country code is a clear error", "[phone][region]") {
  for (const char* country : {"Sweden", "XX", "S", "4", "se-SE"}) {
    INFO(country);
    auto number = customer_phone("070-123 45 67", country, "sv-SE");
    CHECK_FALSE(number.ok);
    CHECK_THAT(number.error, Catch::Contains("customer.country"));
  }
}

TEST_CASE("support finds a number by any notation", "[phone][region]") {
  auto forms = phone_search_forms("701 234 568", "SE");
  CHECK(std::find(forms.begin(), forms.end(), "+48701234568") != forms.end());
  CHECK(std::find(forms.begin(), forms.end(), "+46701234568") != forms.end());
  CHECK(std::find(forms.begin(), forms.end(), "701 234 568") != forms.end());
  CHECK(forms.size() <= kMaxPhoneSearchForms);
  auto uk = phone_search_forms("07911 123456", "SE");
  CHECK(std::find(uk.begin(), uk.end(), "+447911123456") != uk.end());
  auto e164 = phone_search_forms("+48 701-234-568", "SE");
  CHECK(std::find(e164.begin(), e164.end(), "+48701234568") != e164.end());
  CHECK(phone_search_forms("0048701234568", "SE").front() == "+48701234568");
}

}  // namespace tack
