// Tests for daemon/http/auth.cpp: the signed timestamp of an events request
// and what an unknown user's check costs. The older credential tests
// (tokens, Basic, crypt hashes, the cache) are in router_test.cpp.
#include "http/auth.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
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

// openssl passwd -5 -salt abc s3cret; yescrypt of s3cret by libxcrypt, cost j9T.
const std::string kSha256Hash = "$5$abc$jwdpXNqhFikLlhx6S0X0UM.iGc58jD5zdW7uaGHpnZ0";
const std::string kYescryptHash =
    "$y$j9T$abcdefghijklmnopqrstu0$NyfyH4ZD.0xwXLubQs5IZA4r6wlKR2/Huo9R.ZYZ0w2";

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

// ---------------------------------------------------------------- unknown users

TEST_CASE("an unknown user is checked against the strongest configured kind of hash",
          "[http][auth]") {
  // The first user's hash is the cheap kind: that is not what a stranger's
  // name is timed against.
  CHECK(UserAuth::unknown_user_setting({{"anna", kSha256Hash}, {"olle", kYescryptHash}})
            .rfind("$y$j9T$", 0) == 0);
  CHECK(UserAuth::unknown_user_setting({{"anna", kSha256Hash}, {"bo", "$6$salt$x"}})
            .rfind("$6$", 0) == 0);
  CHECK(UserAuth::unknown_user_setting({{"anna", kSha256Hash}}).rfind("$5$", 0) == 0);
  // Within a kind, the costliest parameters.
  CHECK(UserAuth::unknown_user_setting(
            {{"a", "$6$rounds=6000$s$x"}, {"b", "$6$rounds=90000$s$x"}, {"c", "$6$s$x"}})
            .rfind("$6$rounds=90000$", 0) == 0);
  CHECK(UserAuth::unknown_user_setting({{"a", "$5$s$x"}, {"b", "$5$rounds=10000$s$x"}})
            .rfind("$5$rounds=10000$", 0) == 0);
  // j9T: N = 2^12, r = 32; jAT: N = 2^13; j9V: r = 34.
  CHECK(UserAuth::unknown_user_setting(
            {{"a", kYescryptHash}, {"b", "$y$jAT$abcdefghijklmnopqrstu0$x"}, {"c", kSha256Hash}})
            .rfind("$y$jAT$", 0) == 0);
  CHECK(UserAuth::unknown_user_setting(
            {{"a", "$y$j9V$abcdefghijklmnopqrstu0$x"}, {"b", kYescryptHash}})
            .rfind("$y$j9V$", 0) == 0);
  // Its salt is tack's own, not a user's.
  CHECK(UserAuth::unknown_user_setting({{"olle", kYescryptHash}}).find("abcdefghijklmnopqrstu0") ==
        std::string::npos);
}

TEST_CASE("an unknown user's check takes as long as the slowest user's, not the first one's",
          "[http][auth]") {
  const UserAuth::Users users = {{"anna", kSha256Hash}, {"olle", kYescryptHash}};
  // The quickest of a few tries: the least disturbed by other work.
  auto quickest = [&](const std::string& header) {
    auto best = std::chrono::steady_clock::duration::max();
    for (int i = 0; i < 3; ++i) {
      const auto start = std::chrono::steady_clock::now();
      CHECK_FALSE(UserAuth::verify(users, header));
      best = std::min(best, std::chrono::steady_clock::now() - start);
    }
    return best;
  };
  const auto known = quickest("Basic b2xsZTp3cm9uZw==");    // olle:wrong, yescrypt
  const auto unknown = quickest("Basic ZXZlOnMzY3JldA==");  // eve:s3cret
  using Ms = std::chrono::duration<double, std::milli>;
  INFO("olle " << Ms(known).count() << " ms, eve " << Ms(unknown).count() << " ms");
  // A $5$ check is some hundred times quicker than this yescrypt one.
  CHECK(unknown * 2 >= known);
}
