#include "sms.hpp"

#include <catch2/catch.hpp>
#include <string>

namespace {

std::string repeat(const std::string& piece, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += piece;
  return out;
}

}  // namespace

namespace tack {

TEST_CASE("an empty body has no parts", "[sms]") {
  SmsInfo info = analyze_sms("");
  CHECK(info.encoding == SmsEncoding::Gsm7);
  CHECK(info.characters == 0);
  CHECK(info.units == 0);
  CHECK(info.segments == 0);
}

TEST_CASE("160 GSM-7 characters fit one part and 161 need two", "[sms]") {
  SmsInfo at_limit = analyze_sms(repeat("a", 160));
  CHECK(at_limit.encoding == SmsEncoding::Gsm7);
  CHECK(at_limit.units == 160);
  CHECK(at_limit.segments == 1);

  SmsInfo over = analyze_sms(repeat("a", 161));
  CHECK(over.units == 161);
  CHECK(over.segments == 2);
}

TEST_CASE("concatenated GSM-7 parts hold 153 septets each", "[sms]") {
  CHECK(analyze_sms(repeat("a", 306)).segments == 2);
  CHECK(analyze_sms(repeat("a", 307)).segments == 3);
  CHECK(analyze_sms(repeat("a", 459)).segments == 3);
  CHECK(analyze_sms(repeat("a", 460)).segments == 4);
}

TEST_CASE("extension table characters count two septets", "[sms]") {
  for (const char* c : {"^", "{", "}", "[", "]", "~", "\\", "|", "€", "\f"}) {
    SmsInfo info = analyze_sms(c);
    INFO(c);
    CHECK(info.encoding == SmsEncoding::Gsm7);
    CHECK(info.characters == 1);
    CHECK(info.units == 2);
  }
  CHECK(analyze_sms(repeat("€", 80)).segments == 1);
  CHECK(analyze_sms(repeat("€", 80) + "a").segments == 2);
  CHECK(analyze_sms(repeat("a", 159) + "€").segments == 2);
}

TEST_CASE("an escape sequence is never split between two parts", "[sms]") {
  // 306 septets would fit two parts of 153, but the euro sign cannot start at
  // the last septet of the first part.
  SmsInfo info = analyze_sms(repeat("a", 152) + "€" + repeat("a", 152));
  CHECK(info.units == 306);
  CHECK(info.segments == 3);
}

TEST_CASE("the whole GSM 03.38 basic set stays GSM-7", "[sms]") {
  std::string basic =
      "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
      "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  SmsInfo info = analyze_sms(basic);
  CHECK(info.encoding == SmsEncoding::Gsm7);
  CHECK(info.units == info.characters);
}

TEST_CASE("Swedish text stays GSM-7", "[sms]") {
  SmsInfo info =
      analyze_sms("Hej Åsa! Din beställning är på väg från Örebro, café och allé ingår.");
  CHECK(info.encoding == SmsEncoding::Gsm7);
  CHECK(info.segments == 1);
}

TEST_CASE("Polish letters make the whole message UCS-2", "[sms]") {
  SmsInfo info = analyze_sms("Zamówienie zostało wysłane: ąćęłńóśźż");
  CHECK(info.encoding == SmsEncoding::Ucs2);
  CHECK(info.characters == 37);
  CHECK(info.units == 37);
  CHECK(info.segments == 1);
}

TEST_CASE("characters outside GSM 03.38 switch to UCS-2", "[sms]") {
  CHECK(analyze_sms("`").encoding == SmsEncoding::Ucs2);
  CHECK(analyze_sms("ç").encoding == SmsEncoding::Ucs2);  // only capital Ç is in the set
  CHECK(analyze_sms("“quoted”").encoding == SmsEncoding::Ucs2);
  CHECK(analyze_sms("a\tb").encoding == SmsEncoding::Ucs2);
}

TEST_CASE("70 UCS-2 units fit one part and 71 need two of 67", "[sms]") {
  CHECK(analyze_sms(repeat("ą", 70)).segments == 1);
  CHECK(analyze_sms(repeat("ą", 71)).segments == 2);
  CHECK(analyze_sms(repeat("ą", 134)).segments == 2);
  CHECK(analyze_sms(repeat("ą", 135)).segments == 3);
}

TEST_CASE("characters beyond the BMP count two UTF-16 units", "[sms]") {
  SmsInfo one = analyze_sms("😀");
  CHECK(one.encoding == SmsEncoding::Ucs2);
  CHECK(one.characters == 1);
  CHECK(one.units == 2);
  CHECK(analyze_sms(repeat("😀", 35)).segments == 1);
  CHECK(analyze_sms(repeat("😀", 36)).segments == 2);
  // A surrogate pair is not split between parts either.
  SmsInfo straddling = analyze_sms(repeat("ą", 66) + "😀" + repeat("ą", 66));
  CHECK(straddling.units == 134);
  CHECK(straddling.segments == 3);
}

TEST_CASE("invalid UTF-8 is counted as replacement characters, never a crash", "[sms]") {
  SmsInfo bad = analyze_sms(std::string("ab\xff\xfe") + "c");
  CHECK(bad.encoding == SmsEncoding::Ucs2);
  CHECK(bad.characters == 5);
  CHECK(bad.units == 5);

  SmsInfo truncated = analyze_sms(std::string("abc\xc3"));
  CHECK(truncated.encoding == SmsEncoding::Ucs2);
  CHECK(truncated.characters == 4);

  SmsInfo embedded_nul = analyze_sms(std::string("a\0b", 3));
  CHECK(embedded_nul.characters == 3);
  CHECK(embedded_nul.encoding == SmsEncoding::Ucs2);
}

TEST_CASE("encodings have their usual names", "[sms]") {
  CHECK(to_string(SmsEncoding::Gsm7) == "GSM-7");
  CHECK(to_string(SmsEncoding::Ucs2) == "UCS-2");
}

}  // namespace tack
