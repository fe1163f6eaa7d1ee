#include "http/signin_limiter.hpp"

#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

namespace tack {

namespace {

std::chrono::seconds seconds_until(SignInLimiter::Clock::time_point until,
                                   SignInLimiter::Clock::time_point now) {
  return std::max(std::chrono::seconds(1), std::chrono::ceil<std::chrono::seconds>(until - now));
}

std::string known_key(const std::string& user, const std::string& address) {
  return user + '\n' + address;
}

}  // namespace

std::chrono::seconds SignInLimiter::pause_after(int count, int free, std::chrono::seconds max) {
  if (count <= free) return std::chrono::seconds(0);
  const int doublings = std::min(count - free - 1, 20);
  return std::min(max, std::chrono::seconds(std::int64_t{1} << doublings));
}

void SignInLimiter::forget_stale(Failures& failures, Clock::time_point now) const {
  if (failures.count > 0 && now - failures.last >= kForgetAfter && now >= failures.paused_until) {
    failures = Failures{};
  }
}

template <class Map>
void SignInLimiter::bound(Map& map, Clock::time_point now) {
  if (map.size() < kMaxTracked) return;
  // Drop what no longer counts, then, if still full, the stalest half.
  auto last_of = [](const auto& entry) {
    if constexpr (std::is_same_v<std::decay_t<decltype(entry.second)>, Clock::time_point>) {
      return entry.second;
    } else {
      return entry.second.last;
    }
  };
  for (auto it = map.begin(); it != map.end();) {
    it = now - last_of(*it) >= kForgetAfter ? map.erase(it) : std::next(it);
  }
  if (map.size() < kMaxTracked) return;
  std::vector<Clock::time_point> times;
  times.reserve(map.size());
  for (const auto& entry : map) times.push_back(last_of(entry));
  auto middle = times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2);
  std::nth_element(times.begin(), middle, times.end());
  const auto cut = *middle;
  for (auto it = map.begin(); it != map.end();) {
    it = last_of(*it) <= cut ? map.erase(it) : std::next(it);
  }
}

SignInLimiter::Verdict SignInLimiter::begin(const std::string& address, const std::string& user,
                                            Clock::time_point now) {
  Verdict verdict;
  if (auto it = addresses_.find(address); it != addresses_.end()) {
    forget_stale(it->second, now);
    if (now < it->second.paused_until) {
      verdict.allowed = false;
      verdict.retry_after = seconds_until(it->second.paused_until, now);
      verdict.why = "too many wrong passwords from this address";
      return verdict;
    }
  }
  if (auto it = names_.find(user); it != names_.end()) {
    forget_stale(it->second, now);
    auto known = known_.find(known_key(user, address));
    const bool known_here = known != known_.end() && now - known->second < kKnownFor;
    if (now < it->second.paused_until && !known_here) {
      verdict.allowed = false;
      verdict.retry_after = seconds_until(it->second.paused_until, now);
      verdict.why = "too many wrong passwords for this user name";
      return verdict;
    }
  }
  int& running = checking_[address];
  if (running >= kAddressChecksAtOnce) {
    verdict.allowed = false;
    verdict.retry_after = std::chrono::seconds(1);
    verdict.why = "sign-ins from this address are already being checked";
    verdict.busy = true;
    return verdict;
  }
  ++running;
  return verdict;
}

std::chrono::seconds SignInLimiter::finish(const std::string& address, const std::string& user,
                                           bool good, Clock::time_point now) {
  if (auto it = checking_.find(address); it != checking_.end() && --it->second <= 0) {
    checking_.erase(it);
  }
  if (good) {
    addresses_.erase(address);
    bound(known_, now);
    known_[known_key(user, address)] = now;
    return std::chrono::seconds(0);
  }
  bound(addresses_, now);
  bound(names_, now);
  std::chrono::seconds started{0};
  auto fail = [&](Failures& f, int free, std::chrono::seconds max) {
    forget_stale(f, now);
    ++f.count;
    f.last = now;
    const auto pause = pause_after(f.count, free, max);
    if (pause.count() > 0) {
      f.paused_until = now + pause;
      started = std::max(started, pause);
    }
  };
  fail(addresses_[address], kAddressFreeFailures, kAddressMaxPause);
  fail(names_[user], kNameFreeFailures, kNameMaxPause);
  return started;
}

}  // namespace tack
