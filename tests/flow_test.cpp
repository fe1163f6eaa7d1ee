#include <catch2/catch.hpp>

#include <vector>

#include "flow.hpp"

using namespace tack;
using namespace std::chrono_literals;

TEST_CASE("an unlimited bucket never holds a message back", "[flow]") {
  TokenBucket bucket;
  CHECK_FALSE(bucket.limited());
  CHECK(bucket.available(0) > 1000000);
  CHECK(bucket.wait_ms(0) == 0);
}

TEST_CASE("a token bucket allows a burst, then the rate", "[flow]") {
  TokenBucket bucket(10, 5);  // 10 per second, bursts of 5
  CHECK(bucket.available(0) == 5);
  bucket.take(5, 0);
  CHECK(bucket.available(0) == 0);
  CHECK(bucket.wait_ms(0) == 100);
  CHECK(bucket.available(100) == 1);
  CHECK(bucket.available(1000) == 5);  // never more than the burst
  bucket.take(5, 1000);
  CHECK(bucket.available(1350) == 3);
}

TEST_CASE("a circuit opens after repeated failures, probes, and closes on success", "[flow]") {
  CircuitBreaker breaker(3, 1000ms);
  CHECK(breaker.state(0) == CircuitBreaker::State::Closed);
  breaker.record_failure(0);
  breaker.record_failure(0);
  CHECK(breaker.allowance(0, 0) > 100);
  breaker.record_failure(10);
  CHECK(breaker.state(10) == CircuitBreaker::State::Open);
  CHECK(breaker.allowance(500, 0) == 0);
  CHECK(breaker.reopens_at_ms() == 1010);
  breaker.record_failure(20);  // a send already in flight: no longer pause
  CHECK(breaker.reopens_at_ms() == 1010);
  CHECK(breaker.state(1010) == CircuitBreaker::State::HalfOpen);
  CHECK(breaker.allowance(1010, 0) == 1);
  CHECK(breaker.allowance(1010, 1) == 0);  // one probe at a time
  breaker.record_failure(1020);             // the probe failed: twice as long
  CHECK(breaker.state(1020) == CircuitBreaker::State::Open);
  CHECK(breaker.reopens_at_ms() == 3020);
  breaker.record_success();
  CHECK(breaker.state(3020) == CircuitBreaker::State::Closed);
}

TEST_CASE("an open circuit's pause is capped at a minute by default", "[flow]") {
  // With the default 30 s cooldown, failed probes once doubled the pause up
  // to 16 minutes.
  CircuitBreaker breaker(1, 30000ms);
  std::int64_t now = 0;
  breaker.record_failure(now);
  CHECK(breaker.reopens_at_ms() == 30000);
  for (int probe = 0; probe < 10; ++probe) {
    now = breaker.reopens_at_ms();
    REQUIRE(breaker.allowance(now, 0) == 1);
    breaker.record_failure(now);  // the probe got no answer
    CHECK(breaker.state(now) == CircuitBreaker::State::Open);
    CHECK(breaker.reopens_at_ms() - now <= 60000);
  }
  CHECK(breaker.reopens_at_ms() - now == 60000);
}

TEST_CASE("the cap of an open circuit's pause is configurable", "[flow]") {
  CircuitBreaker breaker(1, 1000ms, 4000ms);
  std::int64_t now = 0;
  std::vector<std::int64_t> pauses;
  breaker.record_failure(now);
  pauses.push_back(breaker.reopens_at_ms() - now);
  for (int probe = 0; probe < 4; ++probe) {
    now = breaker.reopens_at_ms();
    breaker.record_failure(now);
    pauses.push_back(breaker.reopens_at_ms() - now);
  }
  CHECK(pauses == std::vector<std::int64_t>{1000, 2000, 4000, 4000, 4000});
  // A cap below the cooldown is the cooldown.
  CircuitBreaker small(1, 5000ms, 1000ms);
  small.record_failure(0);
  CHECK(small.reopens_at_ms() == 5000);
}

TEST_CASE("a probe the provider answers closes the circuit, whatever the answer", "[flow]") {
  // A greylisting server refuses each message's first try: the probe's
  // refusal is an answer (the dispatcher records it as a success), so the
  // circuit closes and every message gets its second try.
  CircuitBreaker breaker(2, 1000ms);
  breaker.record_failure(0);
  breaker.record_failure(0);
  CHECK(breaker.state(10) == CircuitBreaker::State::Open);
  CHECK(breaker.allowance(1000, 0) == 1);
  breaker.record_success();
  CHECK(breaker.state(1000) == CircuitBreaker::State::Closed);
  CHECK(breaker.allowance(1000, 5) > 100);
  // And the next opening starts from the first pause again.
  breaker.record_failure(2000);
  breaker.record_failure(2000);
  CHECK(breaker.reopens_at_ms() == 3000);
}

TEST_CASE("a success in between resets the failure count", "[flow]") {
  CircuitBreaker breaker(3, 1000ms);
  breaker.record_failure(0);
  breaker.record_failure(0);
  breaker.record_success();
  breaker.record_failure(0);
  breaker.record_failure(0);
  CHECK(breaker.state(0) == CircuitBreaker::State::Closed);
}

TEST_CASE("a breaker with no threshold never opens", "[flow]") {
  CircuitBreaker breaker;
  for (int i = 0; i < 100; ++i) breaker.record_failure(i);
  CHECK(breaker.state(100) == CircuitBreaker::State::Closed);
}

TEST_CASE("a send rate is measured over windows of at least 100 ms, a lull included", "[flow]") {
  SendRate rate;
  CHECK(rate.per_second() == 0);
  for (int i = 0; i < 50; ++i) rate.record(1000 + i);  // 50 sends in 49 ms
  CHECK(rate.per_second() == 0);                       // no whole window yet
  rate.record(1100);                                   // the window closes: 51 in 100 ms
  CHECK(rate.per_second() == Approx(510.0));
  rate.record(5000);  // one send after a lull of seconds
  CHECK(rate.per_second() == Approx(1000.0 / 3900.0));
  for (int t = 5001; t <= 5200; ++t) rate.record(t);  // 1 per ms
  CHECK(rate.per_second() == Approx(1000.0).epsilon(0.02));
}
