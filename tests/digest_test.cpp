// Tests for daemon/digest.cpp. Each helper that adds a function adds its
// tests at the end of this file.
#include "digest.hpp"

#include <catch2/catch.hpp>

using namespace tack;

namespace {

std::string b64(std::string_view text) {
  auto decoded = base64_decode(text);
  REQUIRE(decoded);
  return *decoded;
}

// ---- ECDSA P-256 (SendGrid's signed event webhook) -------------------------

// The test vector SendGrid publishes for its event webhook helpers: a
// verification key, a timestamp, a payload and its signature over
// timestamp + payload.
constexpr const char* kSendgridKey =
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQG"
    "hHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
constexpr const char* kSendgridSignature =
    "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/"
    "0=";
constexpr const char* kSendgridSigned =
    "1588788367{\"category\":\"example_payload\",\"event\":\"test_event\",\"message_id\":\"message_"
    "id\"}";
// Keys of other kinds, made with Python's cryptography for this test.
constexpr const char* kP384Key =
    "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEbz1uFDhA5t0soXNcuVJ9LKkz+9l5qhHwjsP3oOUcB0iELhKUnhyPZcXip2sJss"
    "pnoOIG0e9aB1WxVacPBw/9H7nGQgIfTncDtizegwWBtbe2aCftuLdHQB5mwzaW43mr";
constexpr const char* kRsaKey =
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDEQWr0KtsWnKtSrLGAsBidXJ+ka+xZ34uPK6Xk0ArcmU555OaM4wCS6A"
    "aVCfogrhYv/xpo0v2wH3ukQ6JVvwy5n6xpoUMYMiBF2xQj5aO8Cj0HuIMleTYyGdTirO9xLbasE5X3MWXI8r5lw0Doi64i"
    "rbGpnjdradpiIlS1XyOGHQIDAQAB";

}  // namespace

TEST_CASE("ecdsa_p256_sha256_verify takes SendGrid's published test vector", "[digest]") {
  CHECK(ecdsa_p256_sha256_verify(b64(kSendgridKey), kSendgridSigned, b64(kSendgridSignature)));
  CHECK(check_p256_public_key(b64(kSendgridKey)).empty());
}

TEST_CASE("ecdsa_p256_sha256_verify refuses a changed payload, timestamp or signature",
          "[digest]") {
  const std::string key = b64(kSendgridKey);
  const std::string signature = b64(kSendgridSignature);
  std::string payload = kSendgridSigned;
  payload.back() = ']';
  CHECK_FALSE(ecdsa_p256_sha256_verify(key, payload, signature));
  std::string timestamp = kSendgridSigned;
  timestamp[9] = '8';
  CHECK_FALSE(ecdsa_p256_sha256_verify(key, timestamp, signature));
  for (std::size_t i : {std::size_t(0), std::size_t(10), signature.size() - 1}) {
    std::string flipped = signature;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
    CHECK_FALSE(ecdsa_p256_sha256_verify(key, kSendgridSigned, flipped));
  }
  CHECK_FALSE(ecdsa_p256_sha256_verify(key, kSendgridSigned, ""));
  CHECK_FALSE(ecdsa_p256_sha256_verify(key, kSendgridSigned, signature.substr(0, 20)));
  CHECK_FALSE(ecdsa_p256_sha256_verify(key, kSendgridSigned, std::string(300, '\x30')));
  CHECK_FALSE(ecdsa_p256_sha256_verify(key, kSendgridSigned, signature + "x"));
}

TEST_CASE("ecdsa_p256_sha256_verify refuses keys that are not P-256 public keys", "[digest]") {
  const std::string signature = b64(kSendgridSignature);
  for (const std::string& key :
       {std::string(), std::string("not a key"), b64(kP384Key), b64(kRsaKey),
        b64(kSendgridKey).substr(0, 40), b64(kSendgridKey) + "\x01", std::string(5000, '\x30')}) {
    CHECK_FALSE(ecdsa_p256_sha256_verify(key, kSendgridSigned, signature));
    CHECK_FALSE(check_p256_public_key(key).empty());
  }
  CHECK(check_p256_public_key(b64(kP384Key)) == "is not a P-256 (prime256v1) key");
  CHECK(check_p256_public_key(b64(kRsaKey)) == "is not an elliptic-curve key");
}

TEST_CASE("digest: base64 round trip and RFC 4648 vectors", "[digest]") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  const std::string bytes("\x00\xff\xfe\x80 \x01", 6);
  CHECK(base64_decode(base64_encode(bytes)) == bytes);
}

TEST_CASE("digest: HMAC-SHA1 base64 (RFC 2202 vectors)", "[digest][twilio]") {
  // RFC 2202 case 2: key "Jefe", 0xeffcdf6ae5eb2fa2d27416d5f184df9c259a7c79.
  CHECK(hmac_sha1_base64("Jefe", "what do ya want for nothing?") == "7/zfauXrL6LSdBbV8YTfnCWafHk=");
  // RFC 2202 case 1: 20 bytes of 0x0b, "Hi There" ->
  // 0xb617318655057264e28bc0b6fb378c8ef146be00.
  CHECK(hmac_sha1_base64(std::string(20, '\x0b'), "Hi There") == "thcxhlUFcmTii8C2+zeMjvFGvgA=");
}
