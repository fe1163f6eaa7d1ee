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
