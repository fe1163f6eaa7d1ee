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
// ECDSA over P-256 with SHA-256 (SendGrid's signed event webhook): true when
// `signature_der` (an ASN.1 DER ECDSA-Sig-Value) signs `data` under
// `public_key_der` (a DER SubjectPublicKeyInfo holding a P-256 key). Any
// malformed input, or a key on another curve or of another type, is false.
bool ecdsa_p256_sha256_verify(std::string_view public_key_der, std::string_view data,
                              std::string_view signature_der);
// Why `public_key_der` is not a P-256 public key, or "" when it is (for
// checking a configured key at load).
std::string check_p256_public_key(std::string_view public_key_der);

// Bytes to standard base64 (RFC 4648, with padding).
std::string base64_encode(std::string_view data);
// HMAC-SHA1 of data, base64: Twilio's X-Twilio-Signature.
std::string hmac_sha1_base64(std::string_view key, std::string_view data);

// URL-safe base64 (RFC 4648 section 5: '-' and '_', no padding), for tokens
// in a URL path; decode is strict (nullopt on any other byte, or a length
// no encoding has).
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace tack
