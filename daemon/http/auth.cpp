#include "http/auth.hpp"

#include <crypt.h>

#include <algorithm>
#include <array>
#include <compare>
#include <cstdint>
#include <cctype>
#include <cstring>

#include <fmt/format.h>

#include "digest.hpp"

namespace tack {

namespace {

// "<scheme> <credentials>": the credentials when the scheme matches, in
// any case, followed by one or more spaces.
std::optional<std::string_view> credentials_of(std::string_view header, std::string_view scheme) {
  if (header.size() <= scheme.size() || header[scheme.size()] != ' ') return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) !=
        std::tolower(static_cast<unsigned char>(scheme[i]))) {
      return std::nullopt;
    }
  }
  auto rest = header.substr(scheme.size());
  rest.remove_prefix(std::min(rest.find_first_not_of(' '), rest.size()));
  while (!rest.empty() && rest.back() == ' ') rest.remove_suffix(1);
  if (rest.empty()) return std::nullopt;
  return rest;
}

// How much work a crypt(3) hash asks for, to compare two of them: the
// kind first ($5$ < $6$ < $y$), then its cost within the kind. {0, 0} for
// a hash of none of these kinds.
struct CryptCost {
  int kind = 0;
  std::uint64_t work = 0;
  auto operator<=>(const CryptCost&) const = default;
};

// The alphabet of crypt's base-64 numbers ("./0-9A-Za-z"), as values.
std::optional<std::uint32_t> crypt64(char c) {
  if (c >= '.' && c <= '9') return static_cast<std::uint32_t>(c - '.');
  if (c >= 'A' && c <= 'Z') return static_cast<std::uint32_t>(c - 'A' + 12);
  if (c >= 'a' && c <= 'z') return static_cast<std::uint32_t>(c - 'a' + 38);
  return std::nullopt;
}

// One number of yescrypt's parameter string ("j9T": flavour, N's log2, r),
// each at least `min`, as libxcrypt encodes them: the first character's
// value says how many characters follow (none below 48).
std::optional<std::uint32_t> yescrypt_number(std::string_view& text, std::uint32_t min) {
  if (text.empty()) return std::nullopt;
  auto first = crypt64(text.front());
  if (!first) return std::nullopt;
  text.remove_prefix(1);
  std::uint32_t start = 0, end = 47, extra = 0, bits = 0;
  std::uint64_t value = min;
  while (*first > end) {
    value += static_cast<std::uint64_t>(end + 1 - start) << bits;
    start = end + 1;
    end = start + (62 - end) / 2;
    ++extra;
    bits += 6;
  }
  value += static_cast<std::uint64_t>(*first - start) << bits;
  for (; extra > 0; --extra) {
    if (text.empty()) return std::nullopt;
    auto c = crypt64(text.front());
    if (!c) return std::nullopt;
    text.remove_prefix(1);
    bits -= 6;
    value += static_cast<std::uint64_t>(*c) << bits;
  }
  if (value > 0xffffffffu) return std::nullopt;
  return static_cast<std::uint32_t>(value);
}

CryptCost crypt_cost(std::string_view hash) {
  if (hash.starts_with("$y$")) {
    auto params = hash.substr(3);
    const auto flavour = yescrypt_number(params, 0);
    const auto n_log2 = flavour ? yescrypt_number(params, 1) : std::nullopt;
    const auto r = n_log2 ? yescrypt_number(params, 1) : std::nullopt;
    if (!r || *n_log2 > 40) return {3, 0};
    return {3, (std::uint64_t{1} << *n_log2) * *r};
  }
  constexpr std::array<std::pair<std::string_view, int>, 2> kShaCrypt = {{{"$6$", 2}, {"$5$", 1}}};
  for (auto [prefix, kind] : kShaCrypt) {
    if (!hash.starts_with(prefix)) continue;
    // crypt(3)'s default without "rounds=".
    std::uint64_t rounds = 5000;
    constexpr std::string_view kRounds = "rounds=";
    auto rest = hash.substr(prefix.size());
    if (rest.starts_with(kRounds)) {
      rest.remove_prefix(kRounds.size());
      rounds = 0;
      for (std::size_t i = 0; i < rest.size() && i < 10 && rest[i] >= '0' && rest[i] <= '9'; ++i) {
        rounds = rounds * 10 + static_cast<std::uint64_t>(rest[i] - '0');
      }
    }
    return {kind, rounds};
  }
  return {};
}

}  // namespace

std::optional<BasicCredentials> parse_basic_authorization(std::string_view header) {
  auto encoded = credentials_of(header, "Basic");
  if (!encoded) return std::nullopt;
  auto decoded = base64_decode(*encoded);
  if (!decoded) return std::nullopt;
  const auto colon = decoded->find(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  BasicCredentials out{decoded->substr(0, colon), decoded->substr(colon + 1)};
  // crypt(3) reads a C string: a NUL would cut the password short.
  if (out.password.find('\0') != std::string::npos || out.user.find('\0') != std::string::npos) {
    return std::nullopt;
  }
  return out;
}

bool bearer_matches(std::string_view header, std::string_view token) {
  if (token.empty()) return false;
  auto given = credentials_of(header, "Bearer");
  if (!given) return false;
  // Digests first, so the comparison's time says nothing about the token's
  // length either.
  return constant_time_equal(sha256_hex(*given), sha256_hex(token));
}

bool signature_matches(std::string_view header, std::string_view secret,
                       std::string_view signed_text) {
  if (secret.empty()) return false;
  constexpr std::string_view kPrefix = "sha256=";
  if (header.size() <= kPrefix.size()) return false;
  std::string given;
  given.reserve(header.size() - kPrefix.size());
  for (std::size_t i = 0; i < header.size(); ++i) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(header[i])));
    if (i < kPrefix.size()) {
      if (c != kPrefix[i]) return false;
    } else {
      given.push_back(c);
    }
  }
  return constant_time_equal(hmac_sha256_hex(secret, signed_text), given);
}

std::optional<std::string> timestamp_refusal(std::string_view timestamp) {
  if (timestamp.empty()) {
    return "X-Tack-Timestamp is required: sign \"<timestamp>.<body>\" with the events secret "
           "and send the time of signing in it, in Unix seconds";
  }
  // Digits only: no sign, no space, no fraction; 12 of them reach the year
  // 33658, and the sum below cannot overflow.
  const bool digits = timestamp.size() <= 12 &&
                      std::all_of(timestamp.begin(), timestamp.end(), [](char c) {
                        return c >= '0' && c <= '9';
                      });
  if (!digits) return "X-Tack-Timestamp must be the time of signing in whole Unix seconds";
  return std::nullopt;
}

std::optional<std::string> signature_refusal(std::string_view signature,
                                             std::string_view timestamp, std::string_view secret,
                                             std::string_view body, std::int64_t now_s) {
  if (secret.empty()) return "this tackd has no events secret (http.events.hmac_secret)";
  if (auto why = timestamp_refusal(timestamp)) return why;
  std::string signed_text;
  signed_text.reserve(timestamp.size() + 1 + body.size());
  signed_text.append(timestamp).append(".").append(body);
  if (!signature_matches(signature, secret, signed_text)) {
    return "the signature (X-Tack-Signature) does not match: it must be sha256=<hex of the "
           "HMAC-SHA256 of \"<X-Tack-Timestamp>.<body>\" with the events secret>";
  }
  std::int64_t signed_at = 0;
  for (char c : timestamp) signed_at = signed_at * 10 + (c - '0');
  const std::int64_t skew = now_s - signed_at;
  if (skew > kSignatureMaxSkewSeconds || -skew > kSignatureMaxSkewSeconds) {
    return fmt::format(
        "X-Tack-Timestamp {} is {} s {} tackd's clock; a signature is good for {} s either way "
        "(a replay, or a clock to set right)",
        timestamp, skew > 0 ? skew : -skew, skew > 0 ? "behind" : "ahead of",
        kSignatureMaxSkewSeconds);
  }
  return std::nullopt;
}

bool password_matches(std::string_view password, const std::string& hash) {
  if (password.size() >= CRYPT_MAX_PASSPHRASE_SIZE || hash.size() >= CRYPT_OUTPUT_SIZE) {
    return false;
  }
  const std::string phrase(password);
  // 32 KiB of scratch space: on the heap, zeroed as libcrypt asks.
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* out = crypt_rn(phrase.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
  const bool match = out != nullptr && constant_time_equal(out, hash);
  std::memset(data.get(), 0, sizeof(crypt_data));  // no copy of the hash input lingers
  return match;
}

UserAuth::UserAuth(Users users, std::chrono::seconds cache_for, std::size_t max_cached)
    : users_(std::make_shared<const Users>(std::move(users))),
      cache_for_(cache_for),
      max_cached_(max_cached) {}

void UserAuth::set_users(Users users) {
  users_ = std::make_shared<const Users>(std::move(users));
  cache_.clear();
}

std::optional<std::string> UserAuth::cached(std::string_view header, Clock::time_point now) {
  auto it = cache_.find(sha256_hex(header));
  if (it == cache_.end()) return std::nullopt;
  if (it->second.until <= now) {
    cache_.erase(it);
    return std::nullopt;
  }
  return it->second.user;
}

void UserAuth::remember(std::string_view header, const std::string& user, Clock::time_point now) {
  if (cache_.size() >= max_cached_) {
    for (auto it = cache_.begin(); it != cache_.end();) {
      it = it->second.until <= now ? cache_.erase(it) : std::next(it);
    }
    // Still full: many distinct good headers at once. Start afresh rather
    // than grow without bound.
    if (cache_.size() >= max_cached_) cache_.clear();
  }
  cache_[sha256_hex(header)] = Entry{user, now + cache_for_};
}

std::optional<std::string> UserAuth::verify(const Users& users, std::string_view header) {
  auto credentials = parse_basic_authorization(header);
  if (!credentials || users.empty()) return std::nullopt;
  auto user = std::find_if(users.begin(), users.end(),
                           [&](const HttpUser& u) { return u.name == credentials->user; });
  if (user == users.end()) {
    // As slow as a wrong password for the slowest user, so response times
    // do not reveal names. Worked out here rather than once per list: a
    // few string scans beside a hash that takes milliseconds.
    (void)password_matches(credentials->password, unknown_user_setting(users));
    return std::nullopt;
  }
  if (!password_matches(credentials->password, user->password_hash)) return std::nullopt;
  return user->name;
}

std::string UserAuth::unknown_user_setting(const Users& users) {
  if (users.empty()) return "";
  auto costliest = users.begin();
  for (auto it = users.begin(); it != users.end(); ++it) {
    if (crypt_cost(costliest->password_hash) < crypt_cost(it->password_hash)) costliest = it;
  }
  // The hash without its last part (the digest) and salt: method and cost.
  // The salt is tack's own, in crypt's alphabet; 16 characters fit every
  // kind (SHA-crypt reads at most 16; 16 base-64 characters are 12 whole
  // bytes for yescrypt).
  const std::string& hash = costliest->password_hash;
  const auto digest = hash.rfind('$');
  const auto salt = digest == std::string::npos || digest == 0 ? std::string::npos
                                                                : hash.rfind('$', digest - 1);
  if (salt == std::string::npos || salt < 2) return hash;
  return hash.substr(0, salt + 1) + "unknownuserdecoy";
}

}  // namespace tack
