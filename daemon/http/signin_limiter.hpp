// http/signin_limiter: how many wrong passwords a client address, and a
// user name, may try before tackd stops checking them for a while.
//
// Checking a password costs real CPU by design (yescrypt), so a flood of
// wrong ones must cost the flooder, not everyone: the router asks check()
// before it hashes, and a refused sign-in is answered 429 with Retry-After
// at no hashing cost.
//
// - Per client address: the first kAddressFreeFailures wrong passwords are
//   free; each one after that pauses the address for a doubling time (1 s,
//   2 s, 4 s, ... up to kAddressMaxPause). At most kAddressChecksAtOnce
//   checks from one address run at once; the rest are told `busy`.
// - Per user name: from kNameFreeFailures wrong passwords (any address) the
//   name pauses likewise, up to kNameMaxPause, except for an address that
//   signed in as that user within kKnownFor: an attack on anna's name from
//   elsewhere does not lock anna out at her desk.
// - A good password clears its address's count. Counts are forgotten
//   kForgetAfter after their last failure; each table keeps at most
//   kMaxTracked entries, the stalest dropped first, so memory is bounded
//   whatever the flood.
//
// Pure (the time comes in) and not thread-safe: the event loop's.
#pragma once

#include <chrono>
#include <map>
#include <string>

namespace tack {

class SignInLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kAddressFreeFailures = 5;
  static constexpr int kNameFreeFailures = 10;
  static constexpr int kAddressChecksAtOnce = 2;
  static constexpr std::chrono::seconds kAddressMaxPause{300};
  static constexpr std::chrono::seconds kNameMaxPause{60};
  static constexpr std::chrono::minutes kForgetAfter{15};
  static constexpr std::chrono::hours kKnownFor{24};
  static constexpr std::size_t kMaxTracked = 10000;

  struct Verdict {
    bool allowed = true;
    std::chrono::seconds retry_after{0};  // when refused
    std::string why;                      // when refused: for the answer and the log
    // Refused only because kAddressChecksAtOnce checks of this address run
    // now, not for wrong passwords: the caller may wait a moment and ask
    // again (an office behind one address signing in at nine).
    bool busy = false;
  };

  // May a password for `user` from `address` be checked now? When allowed,
  // the caller must call finish() once the check is done.
  Verdict begin(const std::string& address, const std::string& user, Clock::time_point now);
  // The check's result. Returns the pause a failure started (0 if none),
  // for the log.
  std::chrono::seconds finish(const std::string& address, const std::string& user, bool good,
                              Clock::time_point now);

  std::size_t tracked() const { return addresses_.size() + names_.size() + known_.size(); }

 private:
  struct Failures {
    int count = 0;
    Clock::time_point last{};
    Clock::time_point paused_until{};
  };
  static std::chrono::seconds pause_after(int count, int free, std::chrono::seconds max);
  template <class Map>
  static void bound(Map& map, Clock::time_point now);
  void forget_stale(Failures& failures, Clock::time_point now) const;

  std::map<std::string, Failures> addresses_;
  std::map<std::string, Failures> names_;
  std::map<std::string, int> checking_;                     // address -> checks running
  std::map<std::string, Clock::time_point> known_;          // "user\naddress" -> last good
};

}  // namespace tack
