#include "dispatcher.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "log.hpp"
#include "phone.hpp"

namespace tack {

namespace {

std::string masked(const OutboundMessage& m) {
  return m.kind == ChannelKind::Email ? mask_email(m.recipient) : mask_phone(m.recipient);
}

double random_unit() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

}  // namespace

AttemptLogLine attempt_log_line(const OutboundMessage& message, const std::string& to,
                                const std::string& gateway, const Outcome& outcome,
                                const std::string& detail, const Decision& decision,
                                std::int64_t now_ms) {
  AttemptLogLine line;
  line.text = fmt::format("message {} ({} to {}, order {}, via {}): ", message.id,
                          message.channel, to, message.order_id, gateway);
  const std::string who =
      message.kind == ChannelKind::Email ? "the mail server" : "the provider";
  const std::string said = detail.empty() ? "" : ": " + detail;
  if (outcome.health == Outcome::Health::Refused) {
    line.level = log::Level::Warning;
    line.text += who + " refused tack's credentials" + said + "; it waits while gateway " +
                 gateway + " is held";
    return line;
  }
  switch (outcome.kind) {
    case Outcome::Kind::Sent:
      line.text += "sent";
      // An SMS provider's id finds the message in its dashboard. An
      // e-mail's is the Message-ID tack made, shaped like an address: the
      // delivery log keeps it.
      if (!outcome.provider_id.empty() && message.kind != ChannelKind::Email) {
        line.text += "; the provider's id is " + outcome.provider_id;
      }
      break;
    case Outcome::Kind::Rejected:
      line.text += who + " refused it" + said;
      break;
    case Outcome::Kind::Retry:
      line.text += who + " could not take it now" + said;
      break;
    case Outcome::Kind::Unknown:
      line.text += "no clear answer from " + who + " (it may have gone out)" + said;
      break;
  }
  line.level = outcome.kind == Outcome::Kind::Sent ? log::Level::Info : log::Level::Warning;
  // What happens next, in the lifecycle's words.
  const auto next = decision.state;
  std::string state(to_string(next));
  std::replace(state.begin(), state.end(), '_', ' ');
  if (next == MessageState::Sent || next == MessageState::Delivered) {
    if (outcome.kind != Outcome::Kind::Sent) line.text += "; " + state;
  } else if (is_final(next)) {
    line.text += "; " + state + " for good";
  } else if (!decision.gateway.empty() && decision.gateway != gateway) {
    line.text += "; trying gateway " + decision.gateway + " next";
  } else if (is_waiting(next) && decision.next_attempt_at_ms > now_ms) {
    const auto ms = decision.next_attempt_at_ms - now_ms;
    line.text += ms < 1000 ? fmt::format("; next attempt in {} ms", ms)
                           : fmt::format("; next attempt in {} s", (ms + 500) / 1000);
  } else {
    line.text += "; " + state + " again";
  }
  return line;
}

Decision decide_next(const ClaimedMessage& claimed, const Outcome& outcome,
                     const std::vector<std::string>& channel_gateways, const RetryPolicy& policy,
                     std::int64_t now_ms, double random01) {
  Decision d;
  d.gateway = claimed.gateway;
  d.gateway_index = claimed.gateway_index;
  d.next_attempt_at_ms = now_ms;
  switch (outcome.kind) {
    case Outcome::Kind::Sent:
      d.state = MessageState::Sent;
      return d;
    case Outcome::Kind::Rejected: {
      if (!outcome.opted_out.empty()) {
        // Not this gateway's refusal but the customer's: no other gateway
        // may carry it either.
        d.state = MessageState::Suppressed;
        d.last_error = "suppressed: " + claimed.gateway + " says the recipient opted out (" +
                       outcome.opted_out + "): " + outcome.detail;
        return d;
      }
      auto next = static_cast<std::size_t>(claimed.gateway_index) + 1;
      if (next < channel_gateways.size()) {
        // This gateway will never take it; the channel's next one may.
        d.state = MessageState::Queued;
        d.gateway = channel_gateways[next];
        d.gateway_index = static_cast<int>(next);
        d.last_error = claimed.gateway + " rejected: " + outcome.detail;
      } else {
        d.state = MessageState::Failed;
        d.last_error = outcome.detail;
      }
      return d;
    }
    case Outcome::Kind::Retry:
    case Outcome::Kind::Unknown:
      break;
  }
  // claim_due counted this attempt already.
  const int attempts = claimed.message.attempts + 1;
  d.last_error = outcome.detail;
  if (policy.max_attempts > 0 && attempts >= policy.max_attempts) {
    d.state = MessageState::Dead;
    d.last_error = "gave up after " + std::to_string(attempts) + " attempts: " + outcome.detail;
    return d;
  }
  const std::int64_t deadline = claimed.round_started_at_ms + policy.max_age.count();
  if (now_ms >= deadline) {
    d.state = MessageState::Dead;
    d.last_error = "gave up: older than max_age after " + std::to_string(attempts) +
                   " attempts: " + outcome.detail;
    return d;
  }
  std::int64_t delay;
  const auto cap = policy.max_backoff.count();
  if (outcome.retry_after) {
    delay = std::clamp<std::int64_t>(outcome.retry_after->count(), 0, cap);
  } else {
    // Capped exponential backoff with equal jitter: between half and all of
    // the step, so the schedule the README tables holds, and retries of
    // many messages still spread out instead of hitting a recovering
    // provider in one wave.
    double ceiling = static_cast<double>(policy.initial_backoff.count()) *
                     std::pow(2.0, std::min(attempts - 1, 30));
    ceiling = std::min(ceiling, static_cast<double>(cap));
    delay = static_cast<std::int64_t>(ceiling / 2 + ceiling / 2 * random01);
  }
  // The last attempt is made when max_age runs out, not skipped because the
  // pause before it would pass it.
  delay = std::min(delay, deadline - now_ms);
  if (claimed.expires_at_ms > 0 && now_ms + delay >= claimed.expires_at_ms) {
    d.state = MessageState::Expired;
    d.last_error = "expired unsent: its rule's ttl runs out before the next attempt (last error: " +
                   outcome.detail + ")";
    return d;
  }
  d.state = MessageState::RetryWait;
  d.next_attempt_at_ms = now_ms + delay;
  return d;
}

Dispatcher::Dispatcher(asio::io_context& io, Store& store, GatewayMap gateways,
                       const Config& config)
    : io_(io),
      store_(store),
      gateways_(std::move(gateways)),
      recorder_(io, store),
      timer_(io),
      idle_(io) {
  set_config(config);
}

void Dispatcher::set_config(const Config& config) {
  channel_gateways_.clear();
  for (const auto& [name, channel] : config.channels) channel_gateways_[name] = channel.gateways;
  max_in_flight_.clear();
  read_ahead_.clear();
  for (const auto& g : config.gateways) {
    max_in_flight_[g.name] = std::max(1, g.max_in_flight);
    // A rate-limited gateway's messages would only wait in memory.
    read_ahead_[g.name] = g.max_per_second > 0 ? 0 : kReadAhead * max_in_flight_[g.name];
    // A reload starts flow control afresh: a bucket full, a circuit closed.
    rate_.insert_or_assign(g.name, TokenBucket(g.max_per_second, g.burst));
    circuit_.insert_or_assign(
        g.name, CircuitBreaker(g.circuit_failures, g.circuit_cooldown, g.circuit_max_cooldown));
    report_circuit(g.name, now_ms());
  }
  retry_ = config.retry;
  channels_ = config.channels;
  quiet_hours_ = config.quiet_hours;
}

std::optional<QuietHold> Dispatcher::quiet_hold(const ClaimedMessage& c, std::int64_t at) const {
  auto channel = channels_.find(c.message.channel);
  if (channel == channels_.end() || c.timezone.empty()) return std::nullopt;
  return quiet_hours_hold(channel->second, c.urgent, quiet_hours_.window_for(c.country),
                          c.timezone, at);
}

asio::awaitable<void> Dispatcher::defer(ClaimedMessage claimed, QuietHold hold) {
  auto executor = co_await asio::this_coro::executor;
  const auto now = now_ms();
  const auto id = claimed.message.id;
  std::function<bool(StoreTx&)> work = [id, hold, now](StoreTx& tx) {  // named: see run()
    tx.defer_claimed(id, hold.until_ms, hold.note, now);
    return true;
  };
  std::string error;
  if (!co_await store_.call<bool>(executor, std::move(work), &error)) {
    // Still `sending` on disk: the next start hands it back as interrupted.
    log::error("store: cannot hold message {} for quiet hours: {}", id, error);
    co_return;
  }
  log::info("message {} order {}: {}", id, claimed.message.order_id, hold.note);
}

std::int64_t Dispatcher::now_ms() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void Dispatcher::report_circuit(const std::string& gateway, std::int64_t now) {
  if (metrics_) metrics_->circuit_state(gateway, to_string(circuit_[gateway].state(now)));
}

void Dispatcher::set_metrics(Metrics* metrics) {
  metrics_ = metrics;
  publish_holds();
  for (const auto& [name, circuit] : circuit_) report_circuit(name, now_ms());
}

Gateway* Dispatcher::gateway(const std::string& name) const {
  auto it = gateways_.find(name);
  return it == gateways_.end() ? nullptr : it->second.get();
}

void Dispatcher::replace_gateway(const std::string& name, std::unique_ptr<Gateway> gateway) {
  auto it = gateways_.find(name);
  if (it == gateways_.end()) return;
  retired_.push_back(std::move(it->second));
  it->second = std::move(gateway);
  circuit_[name].record_success();
  auto hold = holds_.find(name);
  if (hold != holds_.end() && hold->second.refused) {
    log::info("gateway {}: new settings from the reload; the hold (credentials refused) ends and "
              "they are tried",
              name);
    release_refused(name, "reload: new settings for the gateway", now_ms());
  }
  wake();
}

std::vector<std::string> Dispatcher::trouble() const {
  std::lock_guard lock(trouble_mutex_);
  return trouble_;
}

void Dispatcher::publish_holds() {
  std::vector<std::string> lines;
  for (const auto& [name, hold] : holds_) {
    if (hold.refused) {
      lines.push_back("gateway " + name +
                      " held: the provider refused tack's credentials; its messages wait (fix "
                      "them and reload, or tackd release --gateway " +
                      name + ")" + (hold.answer.empty() ? "" : ": " + hold.answer.substr(0, 200)));
    } else {
      lines.push_back("gateway " + name + " held by " + hold.actor + "; its messages wait");
    }
  }
  {
    std::lock_guard lock(trouble_mutex_);
    trouble_ = std::move(lines);
  }
  if (!metrics_) return;
  for (const auto& [name, gateway] : gateways_) {
    auto hold = holds_.find(name);
    const bool held = hold != holds_.end();
    metrics_->gateway_held(name, "auth", held && hold->second.refused);
    metrics_->gateway_held(name, "operator", held && !hold->second.refused);
  }
}

void Dispatcher::hold_refused(const std::string& gateway, const std::string& answer,
                              std::int64_t now) {
  if (holds_.count(gateway)) return;  // held already: said once
  Hold hold;
  hold.refused = true;
  hold.actor = kRefusedHoldActor;
  hold.answer = answer;
  hold.since_ms = now;
  hold.stored = false;
  holds_[gateway] = hold;
  releasing_.erase(gateway);
  bool has_next = false;
  for (const auto& [channel, list] : channel_gateways_) {
    auto at = std::find(list.begin(), list.end(), gateway);
    if (at != list.end() && at + 1 != list.end()) has_next = true;
  }
  log::error("gateway {}: the provider refused tack's credentials ({}); the gateway is held and "
             "its messages wait{}, none is failed. Fix the credentials and reload (SIGHUP), or "
             "once the account is fixed run: tackd release --gateway {}",
             gateway, answer.substr(0, 200),
             has_next ? " or go to their channel's next gateway" : "", gateway);
  publish_holds();
  store_.submit([gateway, answer, now](StoreTx& tx) { tx.hold_refused_gateway(gateway, answer, now); },
                [this, gateway](const std::string& error) {
                  asio::post(io_, [this, gateway, error] {
                    if (!error.empty()) {
                      // Held in memory all the same, until tackd stops.
                      log::error("store: cannot record the hold of gateway {}: {}", gateway, error);
                    }
                    auto it = holds_.find(gateway);
                    if (it != holds_.end() && it->second.refused && error.empty()) {
                      it->second.stored = true;
                    }
                  });
                });
}

void Dispatcher::release_refused(const std::string& gateway, const std::string& why,
                                 std::int64_t now) {
  holds_.erase(gateway);
  releasing_.insert(gateway);
  publish_holds();
  store_.submit(
      [gateway, why, now](StoreTx& tx) { tx.release_refused_holds(gateway, why, now); },
      [this, gateway](const std::string& error) {
        asio::post(io_, [this, gateway, error] {
          if (!error.empty()) {
            log::error("store: cannot record the release of gateway {}: {}", gateway, error);
          }
          releasing_.erase(gateway);
          wake();
        });
      });
}

void Dispatcher::update_holds(const std::vector<GatewayHold>& stored) {
  std::map<std::string, Hold> next;
  for (const auto& row : stored) {
    const bool refused = row.actor == kRefusedHoldActor;
    // A claim read before a release was committed still shows the row.
    if (refused && releasing_.count(row.gateway)) continue;
    Hold hold;
    hold.refused = refused;
    hold.actor = row.actor;
    hold.since_ms = row.at_ms;
    if (auto known = holds_.find(row.gateway); known != holds_.end()) {
      hold.answer = known->second.answer;
    }
    next[row.gateway] = hold;
  }
  bool changed = false;
  for (const auto& [name, hold] : holds_) {
    auto now_held = next.find(name);
    if (now_held == next.end()) {
      if (!hold.stored) {
        next[name] = hold;  // its row is not committed yet
        continue;
      }
      changed = true;
      log::info("gateway {}: released, sending again", name);
      circuit_[name].record_success();
    } else if (now_held->second.refused != hold.refused) {
      changed = true;
    }
  }
  for (const auto& [name, hold] : next) {
    if (!holds_.count(name)) changed = true;
  }
  holds_ = std::move(next);
  if (changed) publish_holds();
}

std::size_t Dispatcher::in_flight() const {
  std::size_t n = static_cast<std::size_t>(recording_);
  for (const auto& [name, count] : in_flight_) n += static_cast<std::size_t>(count);
  return n;
}

void Dispatcher::start() {
  running_ = true;
  asio::co_spawn(io_, run(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::error("dispatcher stopped: {}", ex.what());
    }
  });
}

void Dispatcher::wake() {
  asio::post(io_, [this] {
    wake_pending_ = true;
    timer_.cancel();
  });
}

asio::awaitable<void> Dispatcher::run() {
  auto executor = co_await asio::this_coro::executor;
  while (!stopping_) {
    wake_pending_ = false;
    auto now = now_ms();
    // What each gateway may take now: the in-flight limit, then its rate
    // limit and circuit. A gateway held back by those wakes us when it can
    // go again.
    std::map<std::string, int> capacity;
    std::optional<std::int64_t> flow_wake;
    std::function<void(std::int64_t)> wake_at = [&flow_wake](std::int64_t at) {
      flow_wake = flow_wake ? std::min(*flow_wake, at) : at;
    };
    for (const auto& [name, gateway] : gateways_) {
      auto& circuit = circuit_[name];
      report_circuit(name, now);
      auto& ready = ready_[name];
      if (holds_.count(name)) {
        // Held: nothing is sent; what was read ahead goes back to wait.
        co_await hand_back(name);
        continue;
      }
      if (circuit.state(now) == CircuitBreaker::State::Open) wake_at(circuit.reopens_at_ms());
      if (!ready.empty() && circuit.state(now) != CircuitBreaker::State::Closed) {
        // Read ahead for a gateway that has since failed: back to the store,
        // where the reroute below may hand them to the next gateway.
        co_await hand_back(name);
      }
      launch_ready(name, now);
      int free = free_slots(name, now, &wake_at);
      // Read ahead only while the gateway is healthy and unlimited: the
      // next messages are claimed in the same commit as these, so a slot
      // that frees never waits for an fsync.
      int ahead = circuit.state(now) == CircuitBreaker::State::Closed ? read_ahead(name) : 0;
      int want = free + ahead - static_cast<int>(ready.size());
      if (want > 0) capacity[name] = want;
    }
    // A gateway whose circuit is not closed, or that tackd held because
    // its provider refused the credentials, hands its waiting messages to
    // the next gateway of the channel that is healthy (DESIGN.md: fall back
    // to the next gateway). An operator's hold is the operator's call: no
    // rerouting to or from it happens in the claim.
    std::vector<Reroute> reroutes;
    for (const auto& [channel, list] : channel_gateways_) {
      for (std::size_t i = 0; i < list.size(); ++i) {
        auto from = circuit_.find(list[i]);
        auto held = holds_.find(list[i]);
        const bool refused = held != holds_.end() && held->second.refused;
        if (from == circuit_.end() ||
            (!refused && from->second.state(now) == CircuitBreaker::State::Closed)) {
          continue;
        }
        for (std::size_t j = i + 1; j < list.size(); ++j) {
          auto to = circuit_.find(list[j]);
          if (to == circuit_.end() || !capacity.count(list[j]) ||
              to->second.state(now) != CircuitBreaker::State::Closed) {
            continue;
          }
          reroutes.push_back({channel, list[i], list[j], static_cast<int>(j)});
          break;
        }
      }
    }
    struct Claim {
      std::vector<ClaimedMessage> messages;
      std::optional<std::int64_t> next_due;
      int rerouted = 0;
      std::vector<GatewayHold> holds;
    };
    std::string error;
    // Named, not a temporary in the co_await expression: GCC 12 destroys a
    // lambda temporary there twice (here: a double free of `capacity`).
    std::function<Claim(StoreTx&)> claim_work = [capacity, reroutes, now,
                                                   lease = lease_](StoreTx& tx) mutable {
      Claim c;
      for (auto& [gateway, free] : capacity) {
        auto got = tx.claim_due(lease, gateway, free, now);
        free -= static_cast<int>(got.size());
        std::move(got.begin(), got.end(), std::back_inserter(c.messages));
      }
      for (const auto& r : reroutes) {
        int& free = capacity[r.to];
        auto got = tx.claim_rerouted(lease, r.channel, r.from, r.to, r.to_index, free, now);
        free -= static_cast<int>(got.size());
        c.rerouted += static_cast<int>(got.size());
        std::move(got.begin(), got.end(), std::back_inserter(c.messages));
      }
      c.next_due = tx.next_due_at();
      // An operator's hold or release (tackd hold/release --gateway) shows
      // here within a claim.
      c.holds = tx.gateway_holds();
      return c;
    };
    auto claim = co_await store_.call<Claim>(executor, std::move(claim_work), &error);
    if (!claim) {
      log::error("store: cannot claim due messages: {}", error);
      timer_.expires_after(std::chrono::seconds(1));
      error_code ec;
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    update_holds(claim->holds);
    if (claim->rerouted > 0) {
      log::info("{} message(s) sent through the channel's next gateway while a circuit is open "
                "or a gateway is held",
                claim->rerouted);
    }
    std::set<std::string> claimed_for;
    for (auto& c : claim->messages) {
      claimed_for.insert(c.gateway);
      ready_[c.gateway].push_back(std::move(c));
    }
    for (const auto& name : claimed_for) launch_ready(name, now);
    if (stopping_) break;
    if (wake_pending_) continue;
    // Sleep until the next message is due; a new message or a finished send
    // wakes us sooner. Due-but-unclaimed messages wait for capacity or an
    // earlier sibling, and a finished send wakes us for those.
    auto sleep = std::chrono::milliseconds(1000);
    if (claim->next_due && *claim->next_due > now) {
      sleep = std::min(sleep, std::chrono::milliseconds(*claim->next_due - now));
    }
    if (flow_wake) {
      sleep = std::min(sleep, std::chrono::milliseconds(std::max<std::int64_t>(1, *flow_wake - now)));
    }
    timer_.expires_after(sleep);
    error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  running_ = false;
  idle_.cancel();
}

int Dispatcher::read_ahead(const std::string& gateway) {
  const int cap = read_ahead_[gateway];
  if (cap <= 0) return 0;
  const int floor = std::min(cap, max_in_flight_[gateway]);
  const double rate = send_rate_[gateway].per_second();
  const int wanted = static_cast<int>(std::min<double>(cap, rate * kReadAheadMs / 1000.0));
  return std::clamp(wanted, floor, cap);
}

int Dispatcher::free_slots(const std::string& gateway, std::int64_t now,
                           const std::function<void(std::int64_t)>* wake_at) {
  int limit = max_in_flight_.count(gateway) ? max_in_flight_[gateway] : 1;
  int free = limit - in_flight_[gateway];
  auto& bucket = rate_[gateway];
  int tokens = bucket.available(now);
  if (tokens <= 0 && wake_at) (*wake_at)(now + bucket.wait_ms(now));
  int allowed = circuit_[gateway].allowance(now, in_flight_[gateway]);
  return std::min({free, tokens, allowed});
}

void Dispatcher::launch_ready(const std::string& gateway, std::int64_t now) {
  if (holds_.count(gateway)) return;  // the run loop hands them back
  auto& ready = ready_[gateway];
  for (int free = free_slots(gateway, now, nullptr); free > 0 && !ready.empty(); --free) {
    ClaimedMessage c = std::move(ready.front());
    ready.pop_front();
    // Claimed as quiet hours began (a backlog, a retry due at 20:59): it
    // waits for them to end instead of going out.
    if (auto hold = quiet_hold(c, now)) {
      ++free;
      asio::co_spawn(io_, defer(std::move(c), std::move(*hold)), [](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log::error("quiet hours: cannot hold a message: {}", ex.what());
        }
      });
      continue;
    }
    ++in_flight_[c.gateway];
    rate_[c.gateway].take(1, now);
    asio::co_spawn(io_, send_one(std::move(c)), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log::error("send task failed: {}", ex.what());
      }
    });
  }
}

asio::awaitable<void> Dispatcher::hand_back(const std::string& gateway) {
  auto& ready = ready_[gateway];
  if (ready.empty()) co_return;
  std::vector<std::int64_t> ids;
  for (const auto& c : ready) ids.push_back(c.message.id);
  ready.clear();
  auto executor = co_await asio::this_coro::executor;
  std::string error;
  std::function<bool(StoreTx&)> work = [ids](StoreTx& tx) {  // named: see run()
    tx.unclaim(ids);
    return true;
  };
  if (!co_await store_.call<bool>(executor, std::move(work), &error)) {
    // Still `sending` on disk: the next start logs them as interrupted and
    // sends them again, the same as a crash would.
    log::error("store: cannot hand back {} claimed message(s): {}", ids.size(), error);
  }
}

asio::awaitable<void> Dispatcher::send_one(ClaimedMessage claimed) {
  auto executor = co_await asio::this_coro::executor;
  const auto started_ms = now_ms();
  const auto t0 = std::chrono::steady_clock::now();
  Outcome outcome;
  auto it = gateways_.find(claimed.gateway);
  if (it == gateways_.end()) {
    outcome = Outcome::retry("gateway " + claimed.gateway + " is not configured");
  } else {
    try {
      outcome = co_await it->second->send(claimed.message);
    } catch (const std::exception& e) {
      // A gateway must not throw; if one does, the message is not lost.
      outcome = Outcome::unknown(std::string("gateway error: ") + e.what());
    }
  }
  const auto duration = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - t0)
                            .count();
  const auto now = now_ms();
  if (it != gateways_.end()) {
    // Only the gateway's health counts, not what was said about the
    // message: any answer shows the provider is up (a greylisting 451
    // included); only no answer or a server error counts as down.
    auto& circuit = circuit_[claimed.gateway];
    auto before = circuit.state(now);
    switch (outcome.health) {
      case Outcome::Health::Answering:
        circuit.record_success();
        if (before != CircuitBreaker::State::Closed) {
          log::info("gateway {}: circuit closed, the provider answers again", claimed.gateway);
        }
        break;
      case Outcome::Health::Down:
        circuit.record_failure(now);
        if (circuit.state(now) == CircuitBreaker::State::Open &&
            before != CircuitBreaker::State::Open) {
          log::warning("gateway {}: circuit open after repeated failures; next probe in {} ms",
                       claimed.gateway, circuit.reopens_at_ms() - now);
        }
        break;
      case Outcome::Health::Refused:
        break;
    }
  }
  if (it != gateways_.end()) report_circuit(claimed.gateway, now);
  Decision decision;
  if (it != gateways_.end() && outcome.health == Outcome::Health::Refused) {
    // The gateway's problem, not the message's: it waits, with this
    // attempt in its log, until the gateway is released.
    decision.state = MessageState::Queued;
    decision.next_attempt_at_ms = now;
    decision.gateway = claimed.gateway;
    decision.gateway_index = claimed.gateway_index;
    decision.last_error = "gateway " + claimed.gateway +
                          " held: the provider refused tack's credentials: " + outcome.detail;
    hold_refused(claimed.gateway, outcome.detail, now);
  } else {
    auto channel = channel_gateways_.find(claimed.message.channel);
    static const std::vector<std::string> kNone;
    decision = decide_next(claimed, outcome,
                           channel == channel_gateways_.end() ? kNone : channel->second, retry_,
                           now, random_unit());
  }
  // A retry that would fall inside the recipient's quiet hours waits for
  // them to end (never dropped: max_age counts on, as for any wait).
  std::string note;
  if (is_waiting(decision.state)) {
    if (auto hold = quiet_hold(claimed, decision.next_attempt_at_ms)) {
      decision.next_attempt_at_ms = hold->until_ms;
      note = std::move(hold->note);
    }
  }
  // The message's new state is counted by the store once it is on disk
  // (Store::on_state_changes), with every other state change.
  if (metrics_) {
    metrics_->attempt(claimed.gateway, to_string(outcome.kind), static_cast<double>(duration) / 1000.0);
  }
  AttemptRecord attempt;
  attempt.message_id = claimed.message.id;
  attempt.gateway = claimed.gateway;
  attempt.started_at_ms = started_ms;
  attempt.duration_ms = duration;
  attempt.outcome = to_string(outcome.kind);
  attempt.detail = outcome.detail;
  attempt.provider_id = outcome.provider_id;
  attempt.next_state = decision.state;
  attempt.next_attempt_at_ms = decision.next_attempt_at_ms;
  attempt.next_gateway = decision.gateway;
  attempt.next_gateway_index = decision.gateway_index;
  attempt.last_error = decision.last_error;
  attempt.note = note;
  attempt.unanswered = outcome.unanswered;
  if (it != gateways_.end() && decision.state == MessageState::Sent) {
    attempt.receipt_wait_ms = it->second->receipt_wait().count();
  }
  if (decision.state == MessageState::Suppressed && !outcome.opted_out.empty()) {
    attempt.opt_out_source = "answer " + outcome.opted_out + " via " + claimed.gateway;
  }

  {
    const auto line = attempt_log_line(
        claimed.message, masked(claimed.message), claimed.gateway, outcome,
        redact_recipient(outcome.detail, claimed.message.recipient).substr(0, 200), decision, now);
    log::write(line.level, line.text);
  }
  if (!outcome.unanswered.empty()) {
    log::warning("message {} order {} via {}: the request went out {} times (logged as unknown "
                 "before this attempt): {}",
                 claimed.message.id, claimed.message.order_id, claimed.gateway,
                 outcome.unanswered.size() + 1, outcome.unanswered.front());
  }

  // The gateway is done with this request: its slot goes to the next
  // message now, so the claim for it joins this record's group commit (one
  // fsync for both) instead of waiting for it.
  --in_flight_[claimed.gateway];
  send_rate_[claimed.gateway].record(now);
  ++recording_;
  launch_ready(claimed.gateway, now);
  wake_pending_ = true;
  timer_.cancel();

  // The attempt must reach the log. While the store is failing, keep trying;
  // the message stays `sending` on disk, which a restart treats as unknown.
  for (int tries = 0;; ++tries) {
    const std::string error = co_await recorder_.record(attempt, now);
    if (error.empty()) {
      if (!attempt.opt_out_source.empty()) {
        log::info("message {}: {} refused it because the recipient opted out ({}); {} is on "
                  "the suppression list",
                  attempt.message_id, claimed.gateway, outcome.opted_out,
                  masked(claimed.message));
        if (metrics_) metrics_->opt_out("answer", "suppressed");
      }
      break;
    }
    log::error("store: cannot record attempt of message {}: {}", attempt.message_id, error);
    if (stopping_ && tries >= 3) break;
    asio::steady_timer pause(executor, std::chrono::seconds(1));
    error_code ec;
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  --recording_;
  wake_pending_ = true;
  timer_.cancel();
  idle_.cancel();
}

asio::awaitable<std::string> AttemptRecorder::record(AttemptRecord attempt, std::int64_t now_ms) {
  auto initiate = [this, &attempt, now_ms](auto handler) {
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    pending_.push_back(
        {std::move(attempt), now_ms, [shared](const std::string& error) { (*shared)(error); }});
    if (!flush_posted_) {
      flush_posted_ = true;
      asio::post(io_, [this] { flush(); });
    }
  };
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::string)>(
      std::move(initiate), asio::use_awaitable);
}

void AttemptRecorder::flush() {
  flush_posted_ = false;
  if (pending_.empty()) return;
  auto batch = std::make_shared<std::vector<Pending>>(std::move(pending_));
  pending_.clear();
  store_.submit(
      [batch](StoreTx& tx) {
        for (const auto& r : *batch) tx.record_attempt(r.attempt, r.now_ms);
      },
      [this, batch](const std::string& error) {
        asio::post(io_, [this, batch, error] {
          if (error.empty() || batch->size() == 1) {
            for (auto& r : *batch) r.done(error);
            return;
          }
          for (auto& r : *batch) {
            auto one = std::make_shared<Pending>(std::move(r));
            store_.submit([one](StoreTx& tx) { tx.record_attempt(one->attempt, one->now_ms); },
                          [this, one](const std::string& err) {
                            asio::post(io_, [one, err] { one->done(err); });
                          });
          }
        });
      });
}

asio::awaitable<bool> Dispatcher::drain(std::chrono::milliseconds grace) {
  stopping_ = true;
  timer_.cancel();
  // Messages read ahead but not sent go back to `queued`: nothing was
  // attempted, so nothing is logged for them.
  for (const auto& [name, ready] : ready_) co_await hand_back(name);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while ((running_ || in_flight() > 0) && std::chrono::steady_clock::now() < deadline) {
    idle_.expires_at(std::min(deadline, std::chrono::steady_clock::now() +
                                            std::chrono::milliseconds(100)));
    error_code ec;
    co_await idle_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return in_flight() == 0;
}

}  // namespace tack
