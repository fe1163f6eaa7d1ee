// Fuzz target: what the HTTP listener makes of a request before any route
// acts on it (daemon/http/router.hpp, daemon/http/auth.hpp, daemon/sources/http_events.hpp): the request
// target, the Authorization header (Bearer and Basic), the body's HMAC
// signature (X-Tack-Signature) and the POST /v1/events body split into
// event documents. Input: line 1 the target, line 2 Authorization, line 3
// X-Tack-Signature, line 4 the configured secret, the rest the body.
// Invariants: nothing throws or crashes; a decoded target holds only UTF-8
// without control characters; the right signature (hex in either case)
// and the right token always match, and a wrong one never does; Basic
// credentials round-trip through base64.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <string>

#include "http/auth.hpp"
#include "http/router.hpp"
#include "event.hpp"
#include "fuzz.hpp"
#include "mime.hpp"
#include "sources/http_events.hpp"

namespace {

std::string hmac_hex(std::string_view secret, std::string_view body, bool upper) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest, &length);
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += digits[digest[i] >> 4];
    hex += digits[digest[i] & 0xf];
  }
  return hex;
}

std::string base64(std::string_view text) {
  std::string out(4 * ((text.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

bool has_control(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto fields = tack::fuzz::split_fields(tack::fuzz::as_text(data, size), 5);
  const std::string_view target = fields[0];
  const std::string_view authorization = fields[1];
  const std::string_view signature = fields[2];
  const std::string_view secret = fields[3];
  const std::string_view body = fields[4];

  const tack::Target parsed = tack::parse_target(target);
  if (parsed.error.empty()) {
    for (const auto& segment : parsed.segments) {
      FUZZ_CHECK(tack::valid_utf8(segment) && !has_control(segment));
    }
    for (const auto& [key, value] : parsed.query) {
      FUZZ_CHECK(tack::valid_utf8(key) && tack::valid_utf8(value));
      FUZZ_CHECK(!has_control(key) && !has_control(value));
    }
  }
  if (tack::is_static_path(target)) {
    // Never a way out of the support page's files.
    FUZZ_CHECK((std::string(target) + "/").find("/../") == std::string::npos);
  }

  // Whatever the headers say.
  (void)tack::bearer_matches(authorization, secret);
  (void)tack::signature_matches(signature, secret, body);
  if (auto basic = tack::parse_basic_authorization(authorization)) {
    FUZZ_CHECK(!basic->user.empty() && basic->user.find(':') == std::string::npos);
  }

  // What a client who knows the secret sends always passes; one changed
  // digit never does.
  const std::string good = "sha256=" + hmac_hex(secret, body, false);
  FUZZ_CHECK(tack::signature_matches(good, secret, body) == !secret.empty());
  FUZZ_CHECK(tack::signature_matches("SHA256=" + hmac_hex(secret, body, true), secret, body) ==
             !secret.empty());
  std::string bad = good;
  bad.back() = bad.back() == '0' ? '1' : '0';
  FUZZ_CHECK(!tack::signature_matches(bad, secret, body));
  FUZZ_CHECK(!tack::signature_matches(good, secret, std::string(body) + "x"));

  // Events are signed over "<timestamp>.<body>": good within the skew,
  // refused past it, and the signature field as a timestamp never throws.
  (void)tack::signature_refusal(signature, signature, secret, body, 1795000000);
  const std::string stamped =
      "sha256=" + hmac_hex(secret, "1795000000." + std::string(body), false);
  FUZZ_CHECK(tack::signature_refusal(stamped, "1795000000", secret, body, 1795000300).has_value() ==
             secret.empty());
  FUZZ_CHECK(tack::signature_refusal(stamped, "1795000000", secret, body, 1795000301));
  FUZZ_CHECK(tack::signature_refusal(good, "1795000000", secret, body, 1795000000));

  // The header's spaces around the token are not part of it.
  const bool token_ok = !secret.empty() && secret.front() != ' ' && secret.back() != ' ';
  FUZZ_CHECK(tack::bearer_matches("Bearer " + std::string(secret), secret) == token_ok);
  if (token_ok) FUZZ_CHECK(!tack::bearer_matches("Bearer " + std::string(secret) + "x", secret));

  // Basic credentials survive the trip through base64.
  const std::string user(signature.substr(0, signature.find(':')));
  if (!user.empty() && user.find('\0') == std::string::npos &&
      secret.find('\0') == std::string_view::npos) {
    const auto back =
        tack::parse_basic_authorization("Basic " + base64(user + ":" + std::string(secret)));
    FUZZ_CHECK(back && back->user == user && back->password == secret);
  }

  // The events body: each document goes to the validator as intake would.
  static const tack::StatusOrder statuses;
  static const tack::Limits limits;
  if (auto documents = tack::event_documents(body, limits)) {
    FUZZ_CHECK(documents->size() <= limits.max_events_per_request || documents->size() == 1);
    for (const auto& document : *documents) {
      const auto event = tack::parse_event(document, statuses, limits);
      FUZZ_CHECK(event.event.has_value() == event.reason.empty());
    }
  }
  return 0;
}
