#include "csv.hpp"

#include <catch2/catch.hpp>

using namespace tack;

TEST_CASE("plain cells are written as they are", "[csv]") {
  CHECK(csv_cell("shipped") == "shipped");
  CHECK(csv_cell("") == "");
  CHECK(csv_cell("Hej Anna! Din order är på väg") == "Hej Anna! Din order är på väg");
}

TEST_CASE("commas, quotes and line breaks are quoted as RFC 4180 says", "[csv]") {
  CHECK(csv_cell("a,b") == "\"a,b\"");
  CHECK(csv_cell("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(csv_cell("line 1\nline 2") == "\"line 1\nline 2\"");
  CHECK(csv_cell("a\r\nb") == "\"a\r\nb\"");
}

TEST_CASE("cells a spreadsheet would run as a formula start with a quote", "[csv]") {
  CHECK(csv_cell("=HYPERLINK(\"http://x\")") == "\"'=HYPERLINK(\"\"http://x\"\")\"");
  CHECK(csv_cell("+46701234567") == "'+46701234567");
  CHECK(csv_cell("-1") == "'-1");
  CHECK(csv_cell("@SUM(A1)") == "'@SUM(A1)");
  CHECK(csv_cell("\tx") == "'\tx");
  CHECK(csv_cell("a=b") == "a=b");
}

TEST_CASE("a record joins its cells and ends in CRLF", "[csv]") {
  CHECK(csv_record({"1", "a,b", ""}) == "1,\"a,b\",\r\n");
}

TEST_CASE("a semicolon-delimited record quotes cells holding a semicolon", "[csv]") {
  // Excel in a Swedish or Polish locale splits on ';'.
  CHECK(csv_record({"1", "a;b", "a,b", ""}, ';') == "1;\"a;b\";\"a,b\";\r\n");
  CHECK(csv_cell("Łódź; Åre", ';') == "\"Łódź; Åre\"");
  CHECK(csv_record({"a|b", "c"}, '|') == "\"a|b\"|c\r\n");
  CHECK(csv_record({"a\tb", "c"}, '\t') == "\"a\tb\"\tc\r\n");
  CHECK(csv_cell("+46701234567", ';') == "'+46701234567");
}

TEST_CASE("only delimiters a spreadsheet can split on are accepted", "[csv]") {
  CHECK(parse_csv_delimiter(",") == ',');
  CHECK(parse_csv_delimiter(";") == ';');
  CHECK(parse_csv_delimiter("|") == '|');
  CHECK(parse_csv_delimiter("tab") == '\t');
  CHECK(parse_csv_delimiter("\\t") == '\t');
  CHECK(parse_csv_delimiter("\t") == '\t');
  for (const char* bad : {"", ";;", "\"", "'", "\n", "\r", "a", "7", "=", "+", "-", "@", " ",
                          "\xc3\xa5", "\x00x", "semicolon"}) {
    CHECK_FALSE(parse_csv_delimiter(bad).has_value());
  }
  CHECK_FALSE(parse_csv_delimiter(std::string_view("\0", 1)).has_value());
  CHECK_FALSE(parse_csv_delimiter(std::string(100000, ';')).has_value());
}
