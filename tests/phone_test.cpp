#include "phone.hpp"

#include <catch2/catch.hpp>

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
