#include "flow.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tack {

TokenBucket::TokenBucket(double rate_per_second, int burst)
    : rate_(rate_per_second), burst_(std::max(1, burst)), tokens_(std::max(1, burst)) {}

void TokenBucket::refill(std::int64_t now_ms) {
  if (last_ms_ >= 0 && now_ms > last_ms_) {
    tokens_ = std::min(burst_, tokens_ + rate_ * static_cast<double>(now_ms - last_ms_) / 1000.0);
  }
  if (now_ms > last_ms_) last_ms_ = now_ms;
}

int TokenBucket::available(std::int64_t now_ms) {
  if (!limited()) return std::numeric_limits<int>::max() / 2;
  refill(now_ms);
  return static_cast<int>(std::floor(tokens_));
}

void TokenBucket::take(int n, std::int64_t now_ms) {
  if (!limited()) return;
  refill(now_ms);
  tokens_ -= n;
}

std::int64_t TokenBucket::wait_ms(std::int64_t now_ms) {
  if (!limited()) return 0;
  refill(now_ms);
  if (tokens_ >= 1) return 0;
  return static_cast<std::int64_t>(std::ceil((1 - tokens_) * 1000.0 / rate_));
}

CircuitBreaker::CircuitBreaker(int failures, std::chrono::milliseconds cooldown,
                               std::chrono::milliseconds max_cooldown)
    : threshold_(failures), cooldown_(cooldown), max_cooldown_(std::max(cooldown, max_cooldown)) {}

CircuitBreaker::State CircuitBreaker::state(std::int64_t now_ms) const {
  if (!open_) return State::Closed;
  return now_ms < open_until_ms_ ? State::Open : State::HalfOpen;
}

int CircuitBreaker::allowance(std::int64_t now_ms, int in_flight) {
  switch (state(now_ms)) {
    case State::Closed:
      return std::numeric_limits<int>::max() / 2;
    case State::Open:
      return 0;
    case State::HalfOpen:
      // One probe at a time; its outcome decides.
      return in_flight == 0 ? 1 : 0;
  }
  return 0;
}

void CircuitBreaker::record_success() {
  consecutive_ = 0;
  trips_ = 0;
  open_ = false;
}

void CircuitBreaker::record_failure(std::int64_t now_ms) {
  if (threshold_ <= 0) return;
  // Sends that were already in flight when the circuit opened tell nothing
  // new; only a failed probe (half-open) reopens it for longer.
  if (open_ && now_ms < open_until_ms_) return;
  ++consecutive_;
  // A failed probe reopens at once; otherwise wait for the threshold.
  if (open_ || consecutive_ >= threshold_) {
    const auto factor = std::int64_t{1} << std::min(trips_, 20);
    open_ = true;
    open_until_ms_ = now_ms + std::min(cooldown_.count() * factor, max_cooldown_.count());
    ++trips_;
  }
}

std::string to_string(CircuitBreaker::State state) {
  switch (state) {
    case CircuitBreaker::State::Closed: return "closed";
    case CircuitBreaker::State::Open: return "open";
    case CircuitBreaker::State::HalfOpen: return "half_open";
  }
  return "closed";
}

void SendRate::record(std::int64_t now_ms) {
  if (window_start_ms_ < 0) window_start_ms_ = now_ms;
  ++count_;
  const std::int64_t elapsed = now_ms - window_start_ms_;
  if (elapsed >= kWindowMs) {
    per_second_ = static_cast<double>(count_) * 1000.0 / static_cast<double>(elapsed);
    count_ = 0;
    window_start_ms_ = now_ms;
  }
}

}  // namespace tack
