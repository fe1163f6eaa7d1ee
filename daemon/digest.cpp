#include "digest.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <openssl/x509.h>

#include <memory>

namespace tack {

namespace {
std::string hex(const unsigned char* data, unsigned int size) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(digits[data[i] >> 4]);
    out.push_back(digits[data[i] & 0x0f]);
  }
  return out;
}
}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), out, &size, EVP_sha256(), nullptr);
  return hex(out, size);
}

std::string sha256_bytes(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), out, &size, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(out), size);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &size);
  return hex(out, size);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::string> base64_decode(std::string_view text) {
  // EVP_DecodeBlock skips blanks and turns padding into zero bytes; the
  // checks here make it strict and give the true length.
  if (text.size() % 4 != 0 || text.size() > 64 * 1024) return std::nullopt;
  std::size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  for (std::size_t i = 0; i < text.size() - padding; ++i) {
    const char c = text[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/';
    if (!ok) return std::nullopt;
  }
  if (text.empty()) return std::string();
  std::string out(text.size() / 4 * 3, '\0');
  const int size = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                   reinterpret_cast<const unsigned char*>(text.data()),
                                   static_cast<int>(text.size()));
  if (size < 0 || static_cast<std::size_t>(size) < padding) return std::nullopt;
  out.resize(static_cast<std::size_t>(size) - padding);
  return out;
}

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// The key, when `der` is exactly one SubjectPublicKeyInfo of a P-256 key.
PkeyPtr p256_public_key(std::string_view der, std::string* why) {
  auto say = [why](const char* text) {
    if (why) *why = text;
    return PkeyPtr();
  };
  if (der.empty() || der.size() > 4096) return say("is empty or too long for a public key");
  const auto* cursor = reinterpret_cast<const unsigned char*>(der.data());
  PkeyPtr key(d2i_PUBKEY(nullptr, &cursor, static_cast<long>(der.size())));
  ERR_clear_error();
  if (!key) return say("is not a DER public key (SubjectPublicKeyInfo)");
  if (cursor != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return say("has bytes after the public key");
  }
  if (EVP_PKEY_base_id(key.get()) != EVP_PKEY_EC) return say("is not an elliptic-curve key");
  char curve[64] = {};
  std::size_t curve_size = 0;
  if (EVP_PKEY_get_utf8_string_param(key.get(), "group", curve, sizeof curve, &curve_size) != 1 ||
      std::string_view(curve, curve_size) != SN_X9_62_prime256v1) {
    return say("is not a P-256 (prime256v1) key");
  }
  return key;
}

}  // namespace

std::string check_p256_public_key(std::string_view public_key_der) {
  std::string why;
  if (!p256_public_key(public_key_der, &why)) return why;
  return {};
}

bool ecdsa_p256_sha256_verify(std::string_view public_key_der, std::string_view data,
                              std::string_view signature_der) {
  if (signature_der.empty() || signature_der.size() > 256) return false;
  PkeyPtr key = p256_public_key(public_key_der, nullptr);
  if (!key) return false;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1) {
    return false;
  }
  // 1 is a good signature; 0 a bad one, negative a malformed one.
  const bool good =
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature_der.data()),
                       signature_der.size(), reinterpret_cast<const unsigned char*>(data.data()),
                       data.size()) == 1;
  // A refused signature leaves its reasons queued; nobody reads them.
  ERR_clear_error();
  return good;
}

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int size = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                   reinterpret_cast<const unsigned char*>(data.data()),
                                   static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(size));
  return out;
}

std::string hmac_sha1_base64(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &size);
  return base64_encode(std::string_view(reinterpret_cast<const char*>(out), size));
}

std::string base64url_encode(std::string_view bytes) {
  std::string out = base64_encode(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (auto& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string standard(text);
  for (auto& c : standard) {
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    } else if (c == '+' || c == '/' || c == '=') {
      return std::nullopt;
    }
  }
  standard.append((4 - standard.size() % 4) % 4, '=');
  return base64_decode(standard);
}

}  // namespace tack
