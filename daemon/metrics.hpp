// metrics: tack's Prometheus metrics, the only user of prometheus-cpp.
//
// One Metrics object lives for the daemon's life (app.cpp owns it) and is
// handed by reference to the stages that count: intake (events), the
// dispatcher (attempts, circuits, holds), the store's state changes
// (messages created and every state they enter, whoever moved them), app
// (reloads, queue figures), retention and the sign-in. Every method is
// thread-safe and cheap (no allocation on the hot path after the first use
// of a label set). render() gives the text exposition format for GET
// /metrics, with the process_* metrics the Prometheus client libraries
// give (read from /proc/self at each scrape).
//
// Names follow the Prometheus naming guide: prefix tack_, _total for
// counters, seconds for durations. Labels are bounded sets (channel,
// gateway, state, outcome, verdict); never an order, recipient or message.
// Every series a Prometheus user would query exists from the first scrape,
// at 0: the constructor adds the fixed sets, configure() those the config
// names (its sources, gateways and channels), each state from the
// lifecycle's own list. One vocabulary: a state label is lifecycle.hpp's
// to_string, a circuit state flow.hpp's.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config.hpp"
#include "store/records.hpp"

namespace tack {

inline constexpr const char* kReportResults[] = {"applied", "repeated", "parked",
                                                 "unknown", "refused", "failed"};

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Adds, at 0, every series of the config's sources ("http" with an http:
  // section), gateways and channels. At start and after each reload; a
  // series of something a reload removed stays with its last value.
  void configure(const Config& config);

  // tack_events_total{source,verdict="accepted|duplicate|stale|rejected"}.
  void event(const std::string& source, const std::string& verdict);
  // tack_attempts_total{gateway,outcome} and
  // tack_attempt_duration_seconds{gateway} (histogram).
  void attempt(const std::string& gateway, const std::string& outcome, double seconds);
  // tack_messages_total{channel,gateway,state}: messages that entered each
  // state (created in it or moved to it), and
  // tack_messages_created_total{channel}; from Store::on_state_changes.
  void state_changes(const std::vector<StateChange>& changes);
  // tack_gateway_circuit{gateway,state="closed|open|half_open"}: 1 for the
  // state the gateway's circuit breaker is in, 0 for the others.
  void circuit_state(const std::string& gateway, std::string_view state);
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
  // tack_receipts_total{gateway, result}: providers' reports (delivery
  // receipts, replies) by what became of them (kReportResults).
  void report(const std::string& gateway, const std::string& result);
  // tack_optouts_total{via="reply|receipt|link", result}: opt-outs by how
  // they came and what became of them: suppressed (put on the list),
  // already (it was on it), refused (a malformed link, 400), forged (a
  // link not signed with tack's secret, 403), failed (not recorded).
  void opt_out(const std::string& via, const std::string& result);
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

// What the process_* metrics take from /proc/self/stat, read as the
// Prometheus client libraries read it. Pure, for tests: `text` is the
// file's content; nullopt when it is not that (the command name in
// brackets may hold anything, spaces and brackets included).
struct ProcessStat {
  double cpu_seconds = 0;             // user + system time
  double started_after_boot_seconds = 0;
  double virtual_memory_bytes = 0;
  double resident_memory_bytes = 0;
};
std::optional<ProcessStat> parse_proc_stat(std::string_view text, long ticks_per_second,
                                           long page_bytes);
// The boot time (Unix seconds) from /proc/stat's text: its `btime` line.
std::optional<double> parse_boot_time(std::string_view proc_stat_text);

}  // namespace tack
