#include "optout.hpp"

#include <catch2/catch.hpp>

#include "digest.hpp"

using namespace tack;

namespace {

const std::string kSecret = "a-secret-of-enough-length";

OptOutToken anna() {
  OptOutToken t;
  t.kind = ChannelKind::Sms;
  t.address = "+46701234567";
  t.locale = "sv-SE";
  t.issued_at_s = 1764930131;
  return t;
}

}  // namespace

TEST_CASE("a reply that is only an opt-out keyword opts out, in any case and punctuation",
          "[optout]") {
  const auto keywords = default_opt_out_keywords();
  CHECK(opt_out_keyword("STOP", keywords) == "STOP");
  CHECK(opt_out_keyword("stop", keywords) == "STOP");
  CHECK(opt_out_keyword("  Stopp.  ", keywords) == "STOPP");
  CHECK(opt_out_keyword("STOP!!!", keywords) == "STOP");
  CHECK(opt_out_keyword("\tnie\r\n", keywords) == "NIE");
  CHECK(opt_out_keyword("Unsubscribe?", keywords) == "UNSUBSCRIBE");
  CHECK(opt_out_keyword("\u00a0stop\u3002", keywords) == "STOP");  // NBSP, ideographic full stop
}

TEST_CASE("a reply that only mentions a keyword does not opt out", "[optout]") {
  const auto keywords = default_opt_out_keywords();
  CHECK_FALSE(opt_out_keyword("please stop", keywords));
  CHECK_FALSE(opt_out_keyword("stop it", keywords));
  CHECK_FALSE(opt_out_keyword("S T O P", keywords));
  CHECK_FALSE(opt_out_keyword("!STOP", keywords));  // leading punctuation is not dropped
  CHECK_FALSE(opt_out_keyword("nieee", keywords));
  CHECK_FALSE(opt_out_keyword("", keywords));
  CHECK_FALSE(opt_out_keyword("   ...   ", keywords));
}

TEST_CASE("hostile replies are never an opt-out and never crash", "[optout]") {
  const auto keywords = default_opt_out_keywords();
  CHECK_FALSE(opt_out_keyword(std::string(100000, ' ') + "STOP", keywords));  // oversized
  CHECK_FALSE(opt_out_keyword("STOP\xff", keywords));                          // not UTF-8
  CHECK_FALSE(opt_out_keyword(std::string("ST\0OP", 5), keywords));           // NUL inside
  CHECK_FALSE(opt_out_keyword("\xed\xa0\x80", keywords));                      // a surrogate
}

TEST_CASE("configured keywords replace the defaults, matched with Unicode case folding",
          "[optout]") {
  OptOutKeywords keywords{{"pl", {"REZYGNUJĘ"}}, {"de", {"STRASSE"}}};
  CHECK(opt_out_keyword("rezygnuję", keywords) == "REZYGNUJĘ");
  CHECK(opt_out_keyword("straße", keywords) == "STRASSE");  // full case folding
  CHECK_FALSE(opt_out_keyword("STOP", keywords));
}

TEST_CASE("a signed opt-out token verifies and gives back what it names", "[optout]") {
  const auto token = sign_opt_out_token(anna(), kSecret);
  CHECK(token.size() < kMaxOptOutToken);
  CHECK(token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") ==
        std::string::npos);  // safe in a URL path as it is
  auto check = verify_opt_out_token(token, kSecret);
  REQUIRE(check.token);
  CHECK(check.token->kind == ChannelKind::Sms);
  CHECK(check.token->address == "+46701234567");
  CHECK(check.token->locale == "sv-SE");
  CHECK(check.token->issued_at_s == 1764930131);

  OptOutToken mail = anna();
  mail.kind = ChannelKind::Email;
  mail.address = "anna+shop@example.se";
  check = verify_opt_out_token(sign_opt_out_token(mail, kSecret), kSecret);
  REQUIRE(check.token);
  CHECK(check.token->kind == ChannelKind::Email);
  CHECK(check.token->address == "anna+shop@example.se");
}

TEST_CASE("forged, altered and truncated tokens are refused", "[optout]") {
  const auto token = sign_opt_out_token(anna(), kSecret);
  // Another secret.
  auto check = verify_opt_out_token(sign_opt_out_token(anna(), "another-secret-entirely"), kSecret);
  CHECK_FALSE(check.token);
  CHECK(check.forged);
  // Another address under the old MAC.
  OptOutToken other = anna();
  other.address = "+46709999999";
  const auto other_token = sign_opt_out_token(other, kSecret);
  const auto spliced =
      other_token.substr(0, other_token.find('.')) + token.substr(token.find('.'));
  check = verify_opt_out_token(spliced, kSecret);
  CHECK_FALSE(check.token);
  CHECK(check.forged);
  // Truncated: the MAC, or the payload.
  CHECK_FALSE(verify_opt_out_token(token.substr(0, token.size() - 1), kSecret).token);
  CHECK_FALSE(verify_opt_out_token(token.substr(1), kSecret).token);
  CHECK_FALSE(verify_opt_out_token(token.substr(0, token.find('.')), kSecret).token);
  // A flipped hex digit of the MAC.
  auto flipped = token;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  CHECK(verify_opt_out_token(flipped, kSecret).forged);
  // No secret configured: nothing verifies.
  CHECK_FALSE(verify_opt_out_token(token, "").token);
}

TEST_CASE("hostile tokens are refused with a reason and never crash", "[optout]") {
  CHECK(verify_opt_out_token("", kSecret).error == "empty token");
  const auto huge = verify_opt_out_token(std::string(1 << 20, 'A'), kSecret);
  CHECK_FALSE(huge.token);
  CHECK(huge.error.find("bytes") != std::string::npos);
  CHECK_FALSE(verify_opt_out_token("a.b.c", kSecret).token);
  CHECK_FALSE(verify_opt_out_token(".", kSecret).token);
  CHECK_FALSE(verify_opt_out_token(std::string("\0\0.\0", 4), kSecret).token);
  CHECK_FALSE(verify_opt_out_token("%2e%2e%2f." + std::string(64, 'a'), kSecret).token);

  // Correctly signed but not base64url, or not our form: refused, not forged.
  const std::string not_base64 = "!!!!";
  auto check = verify_opt_out_token(not_base64 + "." + hmac_sha256_hex(kSecret, not_base64), kSecret);
  CHECK_FALSE(check.token);
  CHECK_FALSE(check.forged);
  CHECK(check.error == "token's payload is not base64url");
  for (const std::string& body : {std::string("2\nsms\n+4670\nsv\n1"), std::string("1\nfax\n+4670\nsv\n1"),
                                 std::string("1\nsms\n\nsv\n1"), std::string("1\nsms\n+4670\nsv\nsoon"),
                                 std::string("1\nsms\n+4670\nsv\n1\nextra"),
                                 std::string("1\nsms\n+46\t70\nsv\n1"), std::string("1\nsms")}) {
    const auto payload = base64url_encode(body);
    check = verify_opt_out_token(payload + "." + hmac_sha256_hex(kSecret, payload), kSecret);
    INFO(body);
    CHECK_FALSE(check.token);
    CHECK_FALSE(check.error.empty());
  }
}

TEST_CASE("the opt-out URL is empty unless both the public URL and the secret are set",
          "[optout]") {
  const auto url = opt_out_url("https://shop.example/tack", kSecret, anna());
  CHECK(url.rfind("https://shop.example/tack/v1/optout?t=", 0) == 0);
  CHECK(verify_opt_out_token(url.substr(url.find("?t=") + 3), kSecret).token);
  CHECK(opt_out_url("", kSecret, anna()).empty());
  CHECK(opt_out_url("https://shop.example", "", anna()).empty());
}

TEST_CASE("base64url round-trips every length and refuses the standard alphabet", "[optout]") {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    bytes.push_back(static_cast<char>(0xfb + i));
    const auto encoded = base64url_encode(bytes);
    CHECK(encoded.find_first_of("+/=") == std::string::npos);
    CHECK(base64url_decode(encoded) == bytes);
  }
  CHECK_FALSE(base64url_decode("ab+c"));
  CHECK_FALSE(base64url_decode("abc="));
  CHECK_FALSE(base64url_decode("a"));
}
