// Tests for daemon/mime.cpp: the structure by hand, and the whole message
// through Python's email package (tests/fixtures/mail_parse.py), an
// independent parser that reports every defect it finds.
#include "mime.hpp"

#include <catch2/catch.hpp>
#include <algorithm>
#include <fstream>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace tack;

namespace {

// 2026-11-22 10:15:00 UTC, a Sunday.
const auto kDate = std::chrono::system_clock::from_time_t(1795342500);

MimeInput sample() {
  MimeInput input;
  input.from = {"Shop", "shop@example.se"};
  input.to = {"", "anna@example.se"};
  input.subject = "Din beställning är skickad";
  input.text = "Hej Anna!\nDin order 1042 är på väg.\n";
  input.html = "<p>Hej Anna!</p>\n<p>Din order <b>1042</b> är på väg.</p>";
  input.idempotency_key = "shop-7f3a9c:shipped:email";
  input.message_id_seed = input.idempotency_key;
  input.date = kDate;
  return input;
}

std::vector<std::string> lines(const std::string& message) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < message.size()) {
    auto end = message.find("\r\n", start);
    if (end == std::string::npos) end = message.size();
    out.push_back(message.substr(start, end - start));
    start = end + 2;
  }
  return out;
}

std::string lf_lines(std::string text) {
  for (std::size_t at; (at = text.find("\r\n")) != std::string::npos;) text.erase(at, 1);
  return text;
}

nlohmann::json parse_with_python(const std::string& message) {
  tack::testing::TempDir dir;
  {
    std::ofstream out(dir.file("message.eml"), std::ios::binary);
    out << message;
  }
  auto parsed = tack::testing::parse_mail_file(dir.file("message.eml"), false);
  REQUIRE(parsed.size() == 1);
  return parsed[0];
}

}  // namespace

TEST_CASE("mime: a UTF-8 subject becomes RFC 2047 encoded-words", "[mime]") {
  const auto header = unstructured_header("Subject", "Din beställning är skickad");
  REQUIRE(header);
  CHECK(*header == "Subject: =?UTF-8?B?RGluIGJlc3TDpGxsbmluZyDDpHIgc2tpY2thZA==?=\r\n");
}

TEST_CASE("mime: a long UTF-8 subject folds into words that never split a character", "[mime]") {
  std::string subject;
  for (int i = 0; i < 30; ++i) subject += "åäö€";  // 2-, 2-, 2- and 3-byte characters
  const auto header = unstructured_header("Subject", subject);
  REQUIRE(header);
  for (const auto& line : lines(*header)) {
    CHECK(line.size() <= 78);
    const auto word_start = line.find("=?UTF-8?B?");
    REQUIRE(word_start != std::string::npos);
    CHECK(line.substr(line.size() - 2) == "?=");
  }
  CHECK(lines(*header).size() > 1);
  const MimeInput input = [&] {
    auto in = sample();
    in.subject = subject;
    return in;
  }();
  const auto parsed = parse_with_python(build_mime_message(input).message);
  CHECK(parsed["subject"] == subject);
  CHECK(parsed["defects"].empty());
}

TEST_CASE("mime: a long ASCII subject is folded at spaces, not encoded", "[mime]") {
  const std::string subject =
      "Your order 1042 has shipped and will arrive between twelve and two on Tuesday, as promised";
  const auto header = unstructured_header("Subject", subject);
  REQUIRE(header);
  CHECK(header->find("=?") == std::string::npos);
  for (const auto& line : lines(*header)) CHECK(line.size() <= 78);
  std::string unfolded = *header;
  for (std::size_t at; (at = unfolded.find("\r\n ")) != std::string::npos;) unfolded.erase(at, 2);
  CHECK(unfolded == "Subject: " + subject + "\r\n");
}

TEST_CASE("mime: ASCII that looks like an encoded-word is encoded", "[mime]") {
  const auto header = unstructured_header("Subject", "=?UTF-8?B?Zm9v?=");
  REQUIRE(header);
  CHECK(header->find("Zm9v?=\r\n") == std::string::npos);
}

TEST_CASE("mime: CR or LF in a header value is an error, not an injection", "[mime]") {
  auto input = sample();
  SECTION("subject") {
    input.subject = "Hello\r\nBcc: victim@example.com";
  }
  SECTION("subject, bare LF") {
    input.subject = "Hello\nBcc: victim@example.com";
  }
  SECTION("display name") {
    input.to.display_name = "Anna\r\nBcc: victim@example.com";
  }
  SECTION("address") {
    input.to.address = "anna@example.se\r\nBcc: victim@example.com";
  }
  SECTION("reply-to") {
    input.reply_to = Mailbox{"", "x@example.se\nBcc: v@example.com"};
  }
  const MimeMessage built = build_mime_message(input);
  CHECK_FALSE(built.ok());
  CHECK_FALSE(built.error.empty());
  CHECK(built.message.empty());
  CHECK(built.message.find("Bcc:") == std::string::npos);
}

TEST_CASE("mime: invalid UTF-8 is an error", "[mime]") {
  auto input = sample();
  input.subject = "bad \xff byte";
  CHECK_FALSE(build_mime_message(input).ok());
  CHECK_FALSE(valid_utf8("\xc3"));
  CHECK_FALSE(valid_utf8("\xc0\xaf"));      // overlong '/'
  CHECK_FALSE(valid_utf8("\xed\xa0\x80"));  // a UTF-16 surrogate
  CHECK(valid_utf8("Zażółć gęślą jaźń €"));
}

TEST_CASE("mime: replace_invalid_utf8 keeps good characters and marks each bad byte", "[mime]") {
  CHECK(replace_invalid_utf8("Zażółć €") == "Zażółć €");
  CHECK(replace_invalid_utf8(std::string("a\xff") + "b") == "a\uFFFDb");
  CHECK(replace_invalid_utf8("\xc0\xaf") == "\uFFFD\uFFFD");            // overlong '/'
  CHECK(replace_invalid_utf8("\xed\xa0\x80") == "\uFFFD\uFFFD\uFFFD");  // a surrogate
  CHECK(replace_invalid_utf8("end \xe2\x82") == "end \uFFFD\uFFFD");    // cut short
  CHECK(valid_utf8(replace_invalid_utf8("\xc3\x28\xa0\xa1\xf0\x28\x8c\xbc")));
}

TEST_CASE("mime: text plus HTML is multipart/alternative, text first", "[mime]") {
  const MimeMessage built = build_mime_message(sample());
  REQUIRE(built.ok());
  const std::string& m = built.message;

  const auto header_end = m.find("\r\n\r\n");
  REQUIRE(header_end != std::string::npos);
  const std::string headers = m.substr(0, header_end + 2);
  CHECK(headers.find("MIME-Version: 1.0\r\n") != std::string::npos);
  CHECK(headers.find("Date: Sun, 22 Nov 2026 10:15:00 +0000\r\n") != std::string::npos);
  CHECK(headers.find("From: Shop <shop@example.se>\r\n") != std::string::npos);
  CHECK(headers.find("To: anna@example.se\r\n") != std::string::npos);
  CHECK(headers.find("X-Tack-Idempotency-Key: shop-7f3a9c:shipped:email\r\n") != std::string::npos);
  CHECK(headers.find("Message-ID: " + built.message_id + "\r\n") != std::string::npos);
  CHECK(headers.find("Content-Type: multipart/alternative;") != std::string::npos);

  const auto b = headers.find("boundary=\"");
  REQUIRE(b != std::string::npos);
  const std::string boundary = headers.substr(b + 10, headers.find('"', b + 10) - b - 10);
  const auto text_part =
      m.find("--" + boundary + "\r\nContent-Type: text/plain; charset=UTF-8\r\n");
  const auto html_part = m.find("--" + boundary + "\r\nContent-Type: text/html; charset=UTF-8\r\n");
  const auto closing = m.find("--" + boundary + "--\r\n");
  REQUIRE(text_part != std::string::npos);
  REQUIRE(html_part != std::string::npos);
  REQUIRE(closing != std::string::npos);
  CHECK(text_part < html_part);
  CHECK(html_part < closing);
  CHECK(m.substr(closing) == "--" + boundary + "--\r\n");

  for (const auto& line : lines(m)) CHECK(line.size() <= 78);
  CHECK(m.find('\n') == m.find("\r\n") + 1);  // every LF is part of a CRLF
  std::size_t lf = 0;
  std::size_t crlf = 0;
  for (std::size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\n') ++lf;
    if (m[i] == '\n' && i > 0 && m[i - 1] == '\r') ++crlf;
  }
  CHECK(lf == crlf);
  for (unsigned char c : m) CHECK(c < 0x80);  // 7-bit clean: no SMTPUTF8/8BITMIME needed
}

TEST_CASE("mime: Python's email package reads back what was built", "[mime]") {
  auto input = sample();
  input.to = {"Anna Svensson-Åberg", "anna@example.se"};
  input.reply_to = Mailbox{"Kundtjänst, Shop AB", "support@example.se"};
  input.text = "Rad ett\r\nRad två med = och trailing space \n" + std::string(200, 'x') + "\n";
  const MimeMessage built = build_mime_message(input);
  REQUIRE(built.ok());
  const auto parsed = parse_with_python(built.message);

  CHECK(parsed["defects"].empty());
  CHECK(parsed["subject"] == "Din beställning är skickad");
  CHECK(parsed["from"] == "Shop <shop@example.se>");
  CHECK(parsed["to"] == "Anna Svensson-Åberg <anna@example.se>");
  CHECK(parsed["reply_to"] == "\"Kundtjänst, Shop AB\" <support@example.se>");
  CHECK(parsed["message_id"] == built.message_id);
  CHECK(parsed["date_iso"] == "2026-11-22T10:15:00+00:00");
  CHECK(parsed["idempotency_key"] == "shop-7f3a9c:shipped:email");
  CHECK(parsed["content_type"] == "multipart/alternative");
  CHECK(parsed["bare_lf"] == false);
  CHECK(parsed["max_line_octets"].get<int>() <= 78);
  REQUIRE(parsed["parts"].size() == 2);
  CHECK(parsed["parts"][0]["content_type"] == "text/plain");
  CHECK(parsed["parts"][0]["charset"] == "utf-8");
  // Bodies travel with CRLF line ends; the text is otherwise exact.
  CHECK(lf_lines(parsed["parts"][0]["content"]) ==
        "Rad ett\nRad två med = och trailing space \n" + std::string(200, 'x') + "\n");
  CHECK(parsed["parts"][1]["content_type"] == "text/html");
  CHECK(lf_lines(parsed["parts"][1]["content"]) == input.html);
}

TEST_CASE("mime: text only is a single text/plain part", "[mime]") {
  auto input = sample();
  input.html.clear();
  const MimeMessage built = build_mime_message(input);
  REQUIRE(built.ok());
  CHECK(built.message.find("multipart") == std::string::npos);
  CHECK(built.message.find("Content-Type: text/plain; charset=UTF-8\r\n"
                           "Content-Transfer-Encoding: quoted-printable\r\n\r\n") !=
        std::string::npos);
  const auto parsed = parse_with_python(built.message);
  CHECK(parsed["defects"].empty());
  CHECK(parsed["content_type"] == "text/plain");
  REQUIRE(parsed["parts"].size() == 1);
  CHECK(lf_lines(parsed["parts"][0]["content"]) == "Hej Anna!\nDin order 1042 är på väg.\n");
}

TEST_CASE("mime: the Message-ID follows the seed and the sender's domain", "[mime]") {
  const auto first = build_mime_message(sample());
  const auto again = build_mime_message(sample());
  auto other_input = sample();
  other_input.message_id_seed = "another-key";
  const auto other = build_mime_message(other_input);
  CHECK(first.message_id == again.message_id);  // a retry keeps its Message-ID
  CHECK(first.message_id != other.message_id);
  CHECK(first.message_id.front() == '<');
  CHECK(first.message_id.substr(first.message_id.size() - 12) == "@example.se>");
}

TEST_CASE("mime: display names are quoted or encoded as needed", "[mime]") {
  auto input = sample();
  SECTION("plain words stay as they are") {
    input.from = {"Shop AB", "shop@example.se"};
    CHECK(build_mime_message(input).message.find("From: Shop AB <shop@example.se>\r\n") !=
          std::string::npos);
  }
  SECTION("specials are quoted, with quotes escaped") {
    input.from = {"Shop \"Best\", AB", "shop@example.se"};
    CHECK(build_mime_message(input).message.find(
              "From: \"Shop \\\"Best\\\", AB\" <shop@example.se>\r\n") != std::string::npos);
  }
  SECTION("non-ASCII is an encoded-word") {
    input.from = {"Sklep Łódź", "shop@example.pl"};
    const auto built = build_mime_message(input);
    CHECK(built.message.find("From: =?UTF-8?B?") != std::string::npos);
    CHECK(parse_with_python(built.message)["from"] == "Sklep Łódź <shop@example.pl>");
  }
}

TEST_CASE("mime: parse_mailbox reads the usual forms", "[mime]") {
  auto plain = parse_mailbox("shop@example.se");
  REQUIRE(plain.mailbox);
  CHECK(plain.mailbox->address == "shop@example.se");
  CHECK(plain.mailbox->display_name.empty());

  auto named = parse_mailbox("  Shop Ö <shop@example.se> ");
  REQUIRE(named.mailbox);
  CHECK(named.mailbox->display_name == "Shop Ö");
  CHECK(named.mailbox->address == "shop@example.se");

  auto quoted = parse_mailbox(R"("Shop, \"AB\"" <shop@example.se>)");
  REQUIRE(quoted.mailbox);
  CHECK(quoted.mailbox->display_name == "Shop, \"AB\"");

  CHECK_FALSE(parse_mailbox("not an address").mailbox);
  CHECK_FALSE(parse_mailbox("a@b@c").mailbox);
  CHECK_FALSE(parse_mailbox("Shop <shop@example.se").mailbox);
  CHECK_FALSE(parse_mailbox("x@example.se\r\nBcc: y@example.se").mailbox);
}

TEST_CASE("mime: quoted-printable keeps lines short and trailing spaces safe", "[mime]") {
  CHECK(quoted_printable("a=b") == "a=3Db");
  CHECK(quoted_printable("ä") == "=C3=A4");
  CHECK(quoted_printable("end \nnext") == "end=20\r\nnext");
  CHECK(quoted_printable("tab\t") == "tab=09");
  const std::string long_line = quoted_printable(std::string(200, 'a'));
  for (const auto& line : lines(long_line)) CHECK(line.size() <= 76);
  std::string decoded = long_line;
  for (std::size_t at; (at = decoded.find("=\r\n")) != std::string::npos;) decoded.erase(at, 3);
  CHECK(decoded == std::string(200, 'a'));
}

TEST_CASE("mime: dates are RFC 5322 in UTC, whatever the locale", "[mime]") {
  CHECK(format_rfc5322_date(kDate) == "Sun, 22 Nov 2026 10:15:00 +0000");
  CHECK(format_rfc5322_date(std::chrono::system_clock::from_time_t(0)) ==
        "Thu, 01 Jan 1970 00:00:00 +0000");
}

TEST_CASE("mime: an unsubscribe URL becomes List-Unsubscribe and one-click List-Unsubscribe-Post",
          "[mime][optout]") {
  auto input = sample();
  const std::string url = "https://shop.example/v1/optout/" + std::string(150, 'A') + "." +
                          std::string(64, 'f');
  input.unsubscribe_url = url;
  const auto built = build_mime_message(input);
  REQUIRE(built.ok());
  const auto all = lines(built.message);
  CHECK(std::count(all.begin(), all.end(), "List-Unsubscribe: <" + url + ">") == 1);
  CHECK(std::count(all.begin(), all.end(), "List-Unsubscribe-Post: List-Unsubscribe=One-Click") ==
        1);
  // Without a URL, neither header.
  const auto plain = build_mime_message(sample());
  REQUIRE(plain.ok());
  CHECK(plain.message.find("List-Unsubscribe") == std::string::npos);
}

TEST_CASE("mime: a hostile unsubscribe URL is an error, never a header injection",
          "[mime][optout]") {
  for (const std::string& url :
       {std::string("https://x.example/a\r\nBcc: all@example.se"), std::string("javascript:alert(1)"),
        std::string("https://x.example/a> <mailto:evil@example.se"),
        std::string("https://x.example/") + std::string(1000, 'a'),
        std::string("https://x.example/\xc3\xa5"), std::string("https://x.example/a b")}) {
    auto input = sample();
    input.unsubscribe_url = url;
    const auto built = build_mime_message(input);
    INFO(url);
    CHECK_FALSE(built.ok());
    CHECK(built.message.empty());
  }
}
