// metrics: tack's Prometheus metrics, the only user of prometheus-cpp.
//
// One Metrics object lives for the daemon's life (app.cpp owns it) and is
// handed by reference to the stages that count: intake (events), the
// dispatcher (attempts, final states, circuits, holds), app (reloads, queue
// figures). Every method is thread-safe and cheap (no allocation on the hot
// path after the first use of a label set). render() gives the text
// exposition format for GET /metrics.
//
// Names follow the Prometheus naming guide: prefix tack_, _total for
// counters, seconds for durations. Labels are bounded sets (channel,
// gateway, state, outcome, verdict); never an order, recipient or message.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tack {

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // tack_events_total{verdict="accepted|duplicate|stale|rejected"}, source label.
  void event(const std::string& source, const std::string& verdict);
  // tack_attempts_total{gateway,outcome} and
  // tack_attempt_duration_seconds{gateway} (histogram).
  void attempt(const std::string& gateway, const std::string& outcome, double seconds);
  // tack_messages_total{channel,gateway,state}: a message reached a final
  // state (sent, failed, dead, expired, cancelled, superseded, ...).
  void message_final(const std::string& channel, const std::string& gateway,
                     const std::string& state);
  // tack_gateway_circuit_state{gateway} 0 closed, 1 half-open, 2 open.
  void circuit_state(const std::string& gateway, int state);
  // tack_gateway_held{gateway,reason} 1 while the gateway is held, else 0;
  // reason "auth" (the provider refused tack's credentials) or "operator".
  void gateway_held(const std::string& gateway, const std::string& reason, bool held);

  struct Queue {
    // (state name, messages): the states the lifecycle counts as waiting
    // or in flight.
    std::vector<std::pair<std::string, std::int64_t>> by_state;
    double oldest_due_age_seconds = 0;  // 0 when nothing is due
  };
  // tack_queue_messages{state} and tack_queue_oldest_due_age_seconds.
  void queue(const Queue& figures);
  // tack_store_healthy (1/0) and tack_store_errors_total (times the store
  // went from healthy to failing, as seen by these calls).
  void store_health(bool healthy);
  // tack_config_reloads_total{result="success|failure"},
  // tack_config_last_reload_success (1/0),
  // tack_config_last_reload_timestamp_seconds.
  void config_reload(bool success, double unix_seconds);
  // tack_retention_pruned_total{table="messages|attempts|events",
  // action="anonymise|delete"}: rows retention erased or deleted.
  void retention_pruned(const std::string& table, const std::string& action, std::int64_t rows);
  // tack_http_signin_refusals_total{reason="password|throttled"}: support
  // sign-ins refused for a wrong user name or password, or unchecked
  // because their address or name made too many (429).
  void sign_in_refused(const std::string& reason);
  // tack_build_info{version} 1 is set by the constructor.

  // The text exposition format (version 0.0.4) of every metric.
  std::string render() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tack
