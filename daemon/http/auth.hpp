// http/auth: who may use the HTTP listener (docs/http-api.md,
// "Authentication"); the only user of libcrypt.
//
// Shop developers post events with a Bearer token, or sign them with
// HMAC-SHA256: X-Tack-Timestamp carries the time of signing (Unix seconds)
// and X-Tack-Signature: sha256=<hex> the HMAC of "<timestamp>.<body>", so
// a captured request is good for kSignatureMaxSkew either way of tackd's
// clock and no longer; within it, a copy only repeats an event id the
// store keeps taken (store.hpp). Token and signature are compared in
// constant time. Support staff and ops use HTTP Basic, checked against
// crypt(3) hashes ($y$ yescrypt, $6$ SHA-512, $5$ SHA-256).
//
// A yescrypt check costs a good part of a second of CPU by design, so
// verify() is meant for a worker thread, never the event loop, and a
// successful check is remembered for a while (UserAuth's cache, keyed by
// the SHA-256 of the whole Authorization header, never the password), so
// each page fetch does not pay for it again. An unknown user costs as much
// as a wrong password for the costliest hash configured, so timing does not
// tell which names exist. Nothing here logs or keeps a password or header.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config.hpp"

namespace tack {

struct BasicCredentials {
  std::string user;
  std::string password;
};

// "Basic <base64 of user:password>" (scheme in any case); nullopt when it
// is not that or does not decode.
std::optional<BasicCredentials> parse_basic_authorization(std::string_view header);

// Whether the Authorization header is "Bearer <token>" with exactly this
// token. An empty `token` (none configured) matches nothing.
bool bearer_matches(std::string_view header, std::string_view token);

// Whether X-Tack-Signature ("sha256=<hex>", hex in any case) is the
// HMAC-SHA256 of `signed_text` with `secret`. An empty `secret` matches
// nothing.
bool signature_matches(std::string_view header, std::string_view secret,
                       std::string_view signed_text);

// How far X-Tack-Timestamp may be from tackd's clock, either way: a
// request's way through proxies and retries, plus clocks a little apart.
// Fixed, not configured: a longer window is a longer replay.
inline constexpr std::int64_t kSignatureMaxSkewSeconds = 300;

// Why a signed events request is refused, as one sentence for the 401 and
// the log; nullopt when it is good. `timestamp` is X-Tack-Timestamp as
// sent (empty when missing): whole Unix seconds, digits only, within
// kSignatureMaxSkewSeconds of `now_s`. `signature` must be the HMAC of
// "<timestamp>.<body>". The skew is judged only once the signature holds,
// so only the secret's holder learns of tackd's clock from it.
std::optional<std::string> signature_refusal(std::string_view signature,
                                             std::string_view timestamp, std::string_view secret,
                                             std::string_view body, std::int64_t now_s);
// Its first part, for a request head before the body is read: whether
// X-Tack-Timestamp is there and is whole Unix seconds.
std::optional<std::string> timestamp_refusal(std::string_view timestamp);

// Hashes `password` with the settings (method and salt) of `hash` and
// compares the result with `hash` in constant time. Slow on purpose.
bool password_matches(std::string_view password, const std::string& hash);

class UserAuth {
 public:
  using Clock = std::chrono::steady_clock;
  using Users = std::vector<HttpUser>;

  explicit UserAuth(Users users, std::chrono::seconds cache_for = std::chrono::seconds(60),
                    std::size_t max_cached = 1024);

  // Takes a new user list (reload) and forgets every remembered check.
  void set_users(Users users);
  // The current list, for verify() on another thread.
  std::shared_ptr<const Users> users() const { return users_; }

  // The user a recently verified header names; nothing when it was not
  // verified lately. Not thread-safe: the event loop's side.
  std::optional<std::string> cached(std::string_view header, Clock::time_point now);
  void remember(std::string_view header, const std::string& user, Clock::time_point now);

  // The slow check (any thread): the user's name when the header's
  // password matches that user's hash.
  static std::optional<std::string> verify(const Users& users, std::string_view header);

  // The crypt(3) setting an unknown user's password is hashed with, so
  // that the check costs what the costliest configured hash costs, whoever
  // is listed first: the strongest kind there is ($y$, else $6$, else $5$)
  // with the highest cost parameters of that kind (rounds; yescrypt's N
  // and r), and a salt of tack's own. Empty without users.
  static std::string unknown_user_setting(const Users& users);

 private:
  struct Entry {
    std::string user;
    Clock::time_point until;
  };
  std::shared_ptr<const Users> users_;
  std::chrono::seconds cache_for_;
  std::size_t max_cached_;
  std::unordered_map<std::string, Entry> cache_;  // sha256_hex(header) -> who, until when
};

}  // namespace tack
