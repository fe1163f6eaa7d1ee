// Tests for daemon/http/signin_limiter: who may have a password checked.
#include "http/signin_limiter.hpp"

#include <catch2/catch.hpp>

using namespace tack;
using namespace std::chrono_literals;
using Clock = SignInLimiter::Clock;

namespace {

// One whole check: begin, then finish with `good`; false when refused.
bool attempt(SignInLimiter& limiter, const std::string& address, const std::string& user,
             bool good, Clock::time_point now) {
  if (!limiter.begin(address, user, now).allowed) return false;
  limiter.finish(address, user, good, now);
  return true;
}

}  // namespace

TEST_CASE("an address's wrong passwords pause it, doubling, and only it", "[http]") {
  SignInLimiter limiter;
  const auto t0 = Clock::time_point{} + 1000h;
  for (int i = 0; i < SignInLimiter::kAddressFreeFailures; ++i) {
    CHECK(attempt(limiter, "192.0.2.66", "u" + std::to_string(i), false, t0));
  }
  // The next one is checked, and starts a 1 s pause.
  REQUIRE(limiter.begin("192.0.2.66", "x", t0).allowed);
  CHECK(limiter.finish("192.0.2.66", "x", false, t0) == 1s);
  auto refused = limiter.begin("192.0.2.66", "anna", t0 + 500ms);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.retry_after == 1s);
  CHECK(refused.why.find("address") != std::string::npos);
  // Everyone else is served meanwhile, even for the same names.
  CHECK(attempt(limiter, "192.0.2.7", "anna", true, t0 + 500ms));
  // After the pause one more try; failing doubles it.
  REQUIRE(limiter.begin("192.0.2.66", "y", t0 + 1s).allowed);
  CHECK(limiter.finish("192.0.2.66", "y", false, t0 + 1s) == 2s);
  CHECK_FALSE(limiter.begin("192.0.2.66", "y", t0 + 2500ms).allowed);
  CHECK(limiter.begin("192.0.2.66", "y", t0 + 3s).allowed);
  limiter.finish("192.0.2.66", "y", false, t0 + 3s);  // 4 s now
  CHECK(limiter.begin("192.0.2.66", "y", t0 + 6s).retry_after == 1s);
  // A long run tops out at the maximum, never overflows.
  auto t = t0 + 10s;
  for (int i = 0; i < 40; ++i) {
    t += SignInLimiter::kAddressMaxPause;
    REQUIRE(limiter.begin("192.0.2.66", "y", t).allowed);
    CHECK(limiter.finish("192.0.2.66", "y", false, t) <= SignInLimiter::kAddressMaxPause);
  }
  CHECK(limiter.begin("192.0.2.66", "y", t + 1s).retry_after ==
        SignInLimiter::kAddressMaxPause - 1s);
}

TEST_CASE("a good password clears its address; old failures are forgotten", "[http]") {
  SignInLimiter limiter;
  const auto t0 = Clock::time_point{} + 1000h;
  for (int i = 0; i < SignInLimiter::kAddressFreeFailures; ++i) {
    attempt(limiter, "192.0.2.8", "anna", false, t0);
  }
  CHECK(attempt(limiter, "192.0.2.8", "anna", true, t0));
  for (int i = 0; i < SignInLimiter::kAddressFreeFailures; ++i) {
    CHECK(attempt(limiter, "192.0.2.8", "anna", false, t0));
  }
  // Quiet for a while: the count starts again.
  const auto later = t0 + SignInLimiter::kForgetAfter;
  for (int i = 0; i < SignInLimiter::kAddressFreeFailures; ++i) {
    CHECK(attempt(limiter, "192.0.2.9", "bob", false, later));
    CHECK(attempt(limiter, "192.0.2.8", "carl", false, later));
  }
}

TEST_CASE("a name under attack pauses, but not where its user signed in before", "[http]") {
  SignInLimiter limiter;
  const auto t0 = Clock::time_point{} + 1000h;
  CHECK(attempt(limiter, "192.0.2.7", "anna", true, t0));  // anna at her desk
  // Many addresses, a few wrong passwords each, all for anna.
  for (int i = 0; i < SignInLimiter::kNameFreeFailures + 1; ++i) {
    CHECK(attempt(limiter, "198.51.100." + std::to_string(i), "anna", false, t0 + 1s));
  }
  auto refused = limiter.begin("203.0.113.1", "anna", t0 + 1s);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.why.find("user name") != std::string::npos);
  CHECK(attempt(limiter, "203.0.113.1", "bob", true, t0 + 1s));  // other names: fine
  CHECK(attempt(limiter, "192.0.2.7", "anna", true, t0 + 1s));   // anna's own address: fine
}

TEST_CASE("one address gets a few checks at once; memory stays bounded", "[http]") {
  SignInLimiter limiter;
  const auto t0 = Clock::time_point{} + 1000h;
  for (int i = 0; i < SignInLimiter::kAddressChecksAtOnce; ++i) {
    CHECK(limiter.begin("192.0.2.66", "anna", t0).allowed);
  }
  auto busy = limiter.begin("192.0.2.66", "anna", t0);
  CHECK_FALSE(busy.allowed);
  CHECK(busy.retry_after == 1s);
  CHECK(limiter.begin("192.0.2.7", "anna", t0).allowed);  // another address
  limiter.finish("192.0.2.7", "anna", true, t0);
  limiter.finish("192.0.2.66", "anna", false, t0);
  CHECK(limiter.begin("192.0.2.66", "anna", t0).allowed);
  limiter.finish("192.0.2.66", "anna", false, t0);
  limiter.finish("192.0.2.66", "anna", false, t0);

  // A flood from ever new addresses and names.
  for (int i = 0; i < 3 * static_cast<int>(SignInLimiter::kMaxTracked); ++i) {
    attempt(limiter, "10." + std::to_string(i), "n" + std::to_string(i), false,
            t0 + std::chrono::milliseconds(i));
  }
  CHECK(limiter.tracked() <= 2 * SignInLimiter::kMaxTracked + 1);
}
