// Tests for daemon/digest.cpp against published test vectors.
#include "digest.hpp"

#include <catch2/catch.hpp>

using namespace tack;

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
