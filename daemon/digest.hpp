// digest: hashing for idempotency keys and (later) webhook signatures; the
// one owner of OpenSSL's libcrypto.
#pragma once

#include <string>
#include <string_view>

namespace tack {

std::string sha256_hex(std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
// Compares in time independent of where the inputs differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace tack
