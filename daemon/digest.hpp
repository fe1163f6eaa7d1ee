// digest: hashing for idempotency keys and (later) webhook signatures; the
// one owner of OpenSSL's libcrypto.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tack {

std::string sha256_hex(std::string_view data);
// The 32 bytes of the digest, not hex.
std::string sha256_bytes(std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
// Compares in time independent of where the inputs differ.
bool constant_time_equal(std::string_view a, std::string_view b);
// Standard base64 (RFC 4648, with padding) to bytes; nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view text);
// Bytes to standard base64 (RFC 4648, with padding).
std::string base64_encode(std::string_view data);
// HMAC-SHA1 of data, base64: Twilio's X-Twilio-Signature.
std::string hmac_sha1_base64(std::string_view key, std::string_view data);

}  // namespace tack
