// Tests for daemon/transliterate.cpp: what ICU's Latin-ASCII, filtered to
// the characters GSM-7 lacks, makes of SMS texts, hostile ones included.
#include "transliterate.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "sms.hpp"

using namespace tack;

TEST_CASE("Polish letters become their base letters, in both cases", "[transliterate]") {
  const std::pair<const char*, const char*> table[] = {
      {"ą", "a"}, {"ć", "c"}, {"ę", "e"}, {"ł", "l"}, {"ń", "n"}, {"ó", "o"}, {"ś", "s"},
      {"ź", "z"}, {"ż", "z"}, {"Ą", "A"}, {"Ć", "C"}, {"Ę", "E"}, {"Ł", "L"}, {"Ń", "N"},
      {"Ó", "O"}, {"Ś", "S"}, {"Ź", "Z"}, {"Ż", "Z"}};
  for (const auto& [polish, gsm] : table) {
    INFO(polish);
    CHECK(transliterate_to_gsm7(polish) == gsm);
  }
  const std::string sentence = "Zażółć gęślą jaźń. ŁÓDŹ";
  const std::string out = transliterate_to_gsm7(sentence);
  CHECK(out == "Zazolc gesla jazn. LODZ");
  CHECK(analyze_sms(sentence).encoding == SmsEncoding::Ucs2);
  CHECK(analyze_sms(out).encoding == SmsEncoding::Gsm7);
}

TEST_CASE("letters GSM-7 carries stay as they are", "[transliterate]") {
  // Swedish, and the accented letters of the basic set (ò is, ó is not).
  for (const char* kept : {"åäöÅÄÖ", "é É è ù ì ò à", "ü Ü ñ Ñ ß Æ æ Ø ø Ç",
                           "ΔΦΓΛΩΠΨΣΘΞ", "£¥¤§¡¿", "Hej Åsa! Din beställning är på väg."}) {
    INFO(kept);
    CHECK(transliterate_to_gsm7(kept) == kept);
  }
}

TEST_CASE("the extension table's characters stay; typography becomes ASCII", "[transliterate]") {
  CHECK(transliterate_to_gsm7("€ { } [ ] ~ \\ | ^") == "€ { } [ ] ~ \\ | ^");
  CHECK(transliterate_to_gsm7("“cytat” – koniec…") == "\"cytat\" - koniec...");
  CHECK(transliterate_to_gsm7("‘a’ — b") == "'a' - b");
  // No-break spaces (ICU puts them in dates and numbers) are spaces;
  // compatibility forms are their letters (NFKC).
  CHECK(transliterate_to_gsm7("12\u00a0000\u202fzł") == "12 000 zl");
  CHECK(transliterate_to_gsm7("ﬁ ½ ™ Ａ１") == "fi 1/2 TM A1");
  CHECK(analyze_sms(transliterate_to_gsm7("„Cześć” – już…")).encoding == SmsEncoding::Gsm7);
}

TEST_CASE("what ICU cannot map stays, and the text stays UCS-2", "[transliterate]") {
  for (const char* kept : {"😀", "漢字", "Привет", "👍🏽"}) {
    INFO(kept);
    CHECK(transliterate_to_gsm7(kept) == kept);
  }
  const std::string mixed = transliterate_to_gsm7("Dziękujemy! 😀");
  CHECK(mixed == "Dziekujemy! 😀");
  CHECK(analyze_sms(mixed).encoding == SmsEncoding::Ucs2);
  // A backtick is ASCII, so Latin-ASCII leaves it, and GSM-7 lacks it.
  CHECK(transliterate_to_gsm7("`") == "`");
}

TEST_CASE("hostile input: invalid UTF-8 and lone surrogates become U+FFFD", "[transliterate]") {
  CHECK(transliterate_to_gsm7(std::string("a\xff" "b")) == "a\xEF\xBF\xBD" "b");
  CHECK(transliterate_to_gsm7(std::string("\xc4")) == "\xEF\xBF\xBD");  // cut short
  // U+D800 written as UTF-8 (CESU style): not a character.
  const std::string lone = transliterate_to_gsm7(std::string("ż\xed\xa0\x80ł"));
  CHECK(lone.find("\xed\xa0\x80") == std::string::npos);
  CHECK(lone.substr(0, 1) == "z");
  CHECK(lone.substr(lone.size() - 1) == "l");
  CHECK(analyze_sms(lone).encoding == SmsEncoding::Ucs2);
  // Overlong encodings and NUL bytes do not end the text.
  CHECK(transliterate_to_gsm7(std::string("\xc0\xaf" "ą", 4)).ends_with("a"));
  CHECK(transliterate_to_gsm7(std::string("ą\0ę", 5)) == std::string("a\0e", 3));
  CHECK(transliterate_to_gsm7("").empty());
}

TEST_CASE("a 100 kB text is transliterated whole", "[transliterate]") {
  std::string big;
  while (big.size() < 100 * 1024) big += "Paczka już w drodze. ";
  const std::string out = transliterate_to_gsm7(big);
  CHECK(out.find("juz w drodze") != std::string::npos);
  CHECK(analyze_sms(out).encoding == SmsEncoding::Gsm7);
  CHECK(analyze_sms(out).characters == analyze_sms(big).characters);
}

TEST_CASE("known languages are ICU's ISO 639 codes", "[transliterate]") {
  for (const char* yes : {"pl", "cs", "sv", "de", "hu"}) {
    INFO(yes);
    CHECK(known_language(yes));
  }
  for (const char* no : {"", "p", "PL", "pl-PL", "polish", "xx", "qq", "p1", "pl "}) {
    INFO(no);
    CHECK_FALSE(known_language(no));
  }
}
