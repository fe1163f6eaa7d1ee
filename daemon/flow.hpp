// flow: per-gateway flow control for the dispatcher. Pure: the clock is
// passed in as milliseconds, so tests drive time by hand.
//
// TokenBucket: a provider's throughput limit (messages per second with a
// burst) makes messages wait their turn instead of failing them.
// CircuitBreaker: after `failures` failures in a row that say the provider
// is down (no connection, no answer, a server error: Outcome::Health::Down)
// a gateway is left alone for `cooldown`, then one probe message is let
// through. Any answer from the provider closes the circuit: a sent
// message, and as much a refusal of that one message (a 4xx, a 5yz, a
// greylisting 451), since a provider that answers is up. A probe with no
// answer opens it again for twice as long, capped at `max_cooldown`
// (60 s unless the config says otherwise), so a provider that comes back
// is tried again within that time.
// SendRate: how many sends a gateway has been completing per second, which
// sizes how far ahead the dispatcher claims its messages.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>

namespace tack {

class TokenBucket {
 public:
  // rate_per_second <= 0: unlimited.
  TokenBucket(double rate_per_second = 0, int burst = 1);
  bool limited() const { return rate_ > 0; }
  // Whole tokens available now (a large number when unlimited).
  int available(std::int64_t now_ms);
  void take(int n, std::int64_t now_ms);
  // Milliseconds until one token is available (0 if one is now).
  std::int64_t wait_ms(std::int64_t now_ms);

 private:
  void refill(std::int64_t now_ms);
  double rate_;
  double burst_;
  double tokens_;
  std::int64_t last_ms_ = -1;
};

class CircuitBreaker {
 public:
  enum class State { Closed, Open, HalfOpen };
  static constexpr std::chrono::milliseconds kDefaultMaxCooldown{60000};
  // failures <= 0: never opens. A max_cooldown below cooldown is cooldown.
  CircuitBreaker(int failures = 0, std::chrono::milliseconds cooldown = std::chrono::seconds(30),
                 std::chrono::milliseconds max_cooldown = kDefaultMaxCooldown);

  // How many sends may start now, given `in_flight` already running.
  int allowance(std::int64_t now_ms, int in_flight);
  // The provider answered (whatever it said about the message).
  void record_success();
  // No answer, or one that says the provider is down.
  void record_failure(std::int64_t now_ms);
  State state(std::int64_t now_ms) const;
  // When an open circuit lets a probe through.
  std::int64_t reopens_at_ms() const { return open_until_ms_; }

 private:
  int threshold_;
  std::chrono::milliseconds cooldown_;
  std::chrono::milliseconds max_cooldown_;
  int consecutive_ = 0;
  int trips_ = 0;
  bool open_ = false;
  std::int64_t open_until_ms_ = 0;
};

// "closed", "open", "half_open": the names /metrics uses (tack_gateway_circuit).
std::string to_string(CircuitBreaker::State state);
inline constexpr std::array kAllCircuitStates = {
    CircuitBreaker::State::Closed, CircuitBreaker::State::Open, CircuitBreaker::State::HalfOpen};

class SendRate {
 public:
  static constexpr std::int64_t kWindowMs = 100;
  // One send completed at now_ms.
  void record(std::int64_t now_ms);
  // Over the last window of at least kWindowMs (0 before the first one
  // ends). A window closes at a send, so one that spans a lull says so.
  double per_second() const { return per_second_; }

 private:
  std::int64_t window_start_ms_ = -1;
  int count_ = 0;
  double per_second_ = 0;
};

}  // namespace tack
