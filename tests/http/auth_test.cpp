// Tests for daemon/http/auth.cpp: the signed timestamp of an events
// request. The older credential tests (tokens, Basic, crypt hashes, the
// cache) are in router_test.cpp.
#include "http/auth.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>

#include "digest.hpp"

using namespace tack;

namespace {

const std::string kSecret = "secret-0123456789abcdef";
constexpr std::int64_t kNow = 1795000000;  // tackd's clock, Unix seconds

// What a shop sends: the HMAC of "<timestamp>.<body>".
std::string sign(const std::string& timestamp, const std::string& body,
                 const std::string& secret = kSecret) {
  return "sha256=" + hmac_sha256_hex(secret, timestamp + "." + body);
}

}  // namespace

// ---------------------------------------------------------------- signatures

TEST_CASE("a signature over the timestamp and body, within five minutes, is good",
          "[http][auth][signature]") {
  const std::string body = R"({"event_id":"e-1"})";
  for (std::int64_t at : {kNow, kNow - 300, kNow + 300, kNow - 1}) {
    const auto ts = std::to_string(at);
    INFO(ts);
    CHECK(signature_refusal(sign(ts, body), ts, kSecret, body, kNow) == std::nullopt);
  }
  // Hex in either case, as before.
  const auto ts = std::to_string(kNow);
  auto upper = sign(ts, body);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  CHECK(signature_refusal(upper, ts, kSecret, body, kNow) == std::nullopt);
}

TEST_CASE("a signed request older or newer than five minutes is refused as a replay",
          "[http][auth][signature]") {
  const std::string body = R"({"event_id":"e-1"})";
  const auto stale = std::to_string(kNow - 301);
  auto why = signature_refusal(sign(stale, body), stale, kSecret, body, kNow);
  REQUIRE(why);
  CHECK_THAT(*why, Catch::Contains("X-Tack-Timestamp") && Catch::Contains("301 s behind"));
  const auto future = std::to_string(kNow + 301);
  why = signature_refusal(sign(future, body), future, kSecret, body, kNow);
  REQUIRE(why);
  CHECK_THAT(*why, Catch::Contains("X-Tack-Timestamp") && Catch::Contains("301 s ahead"));
  const auto ancient = std::to_string(0);
  CHECK(signature_refusal(sign(ancient, body), ancient, kSecret, body, kNow));
}

TEST_CASE("a signature without X-Tack-Timestamp (the old form) is refused and told why",
          "[http][auth][signature]") {
  const std::string body = R"({"event_id":"e-1"})";
  const std::string old_form = "sha256=" + hmac_sha256_hex(kSecret, body);
  auto why = signature_refusal(old_form, "", kSecret, body, kNow);
  REQUIRE(why);
  CHECK_THAT(*why, Catch::Contains("X-Tack-Timestamp is required"));
  // Nor does the old signature pass beside a timestamp it does not cover.
  const auto ts = std::to_string(kNow);
  why = signature_refusal(old_form, ts, kSecret, body, kNow);
  REQUIRE(why);
  CHECK_THAT(*why, Catch::Contains("does not match"));
}

TEST_CASE("a malformed X-Tack-Timestamp is refused", "[http][auth][signature]") {
  const std::string body = "{}";
  for (const char* bad : {"abc", "-5", "+1795000000", "1795000000.5", " 1795000000",
                          "1795000000 ", "0x6afc", "1.795e9", "99999999999999999999999",
                          "1795000000\n"}) {
    INFO(bad);
    // Even when the signature covers exactly what was sent.
    auto why = signature_refusal(sign(bad, body), bad, kSecret, body, kNow);
    REQUIRE(why);
    CHECK_THAT(*why, Catch::Contains("whole Unix seconds"));
  }
}

TEST_CASE("a tampered body, timestamp or signature is refused", "[http][auth][signature]") {
  const std::string body = R"({"event_id":"e-1"})";
  const auto ts = std::to_string(kNow);
  const auto good = sign(ts, body);
  auto refused = [&](const std::string& signature, const std::string& timestamp,
                     const std::string& b, const std::string& secret = kSecret) {
    auto why = signature_refusal(signature, timestamp, secret, b, kNow);
    return why && why->find("does not match") != std::string::npos;
  };
  CHECK(refused(good, ts, body + " "));                          // the body
  CHECK(refused(good, std::to_string(kNow - 1), body));          // the timestamp moved
  CHECK(refused(sign(ts, body, "another secret-0123"), ts, body));  // another key
  auto one_digit_off = good;
  one_digit_off.back() = one_digit_off.back() == '0' ? '1' : '0';
  CHECK(refused(one_digit_off, ts, body));
  CHECK(refused("sha1=" + good.substr(7), ts, body));
  CHECK(refused(good.substr(7), ts, body));  // no "sha256="
  CHECK(refused("sha256=", ts, body));
  CHECK(refused("", ts, body));
  // A timestamp and body joined differently are not the signed text.
  CHECK(refused("sha256=" + hmac_sha256_hex(kSecret, ts + body), ts, body));
  // No secret configured: nothing is good.
  CHECK(signature_refusal(good, ts, "", body, kNow));
}

TEST_CASE("timestamp_refusal judges the head alone, before the body is read",
          "[http][auth][signature]") {
  CHECK(timestamp_refusal(std::to_string(kNow)) == std::nullopt);
  // The skew waits for the signature: a stranger learns nothing of the clock.
  CHECK(timestamp_refusal("0") == std::nullopt);
  CHECK_THAT(*timestamp_refusal(""), Catch::Contains("X-Tack-Timestamp is required"));
  CHECK_THAT(*timestamp_refusal("soon"), Catch::Contains("whole Unix seconds"));
}
