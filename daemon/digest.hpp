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
// URL-safe base64 (RFC 4648 section 5: '-' and '_', no padding), for tokens
// in a URL path; decode is strict (nullopt on any other byte, or a length
// no encoding has).
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace tack
