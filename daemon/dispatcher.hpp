// dispatcher: sends due messages through their gateways and decides what
// happens after each attempt. Runs on the Asio event loop.
//
// Loop: claim due messages from the store (which moves them to `sending`
// *before* any gateway sees them), send each on its own coroutine within the
// gateway's in-flight limit, rate limit and circuit breaker (flow.hpp),
// record the attempt and the message's next state in the store, wake up for
// the next due message. A healthy gateway without a rate limit also has
// messages claimed ahead (read_ahead(): about 50 ms of its recent sending
// rate, at least max_in_flight and at most 32 x max_in_flight), so a slot
// that frees takes the next message at once instead of waiting for a
// claim's fsync; a stop hands them back unsent, a crash logs them as
// interrupted (they may have been sent) and sends them again with the same
// idempotency key. While a gateway's circuit is open its messages go to the
// channel's next healthy gateway. Per-order order holds because the store
// never hands out a message while an earlier one for the same order and
// channel is pending (store/store.hpp).
//
// Gateway health (Outcome::Health): an answer from the provider closes the
// circuit, only Down outcomes count towards opening it (flow.hpp). A
// provider that refuses tack's credentials (Refused) holds the gateway: the
// message goes back to `queued` (not failed), an error is logged once per
// hold, a hold row (store/records.hpp kRefusedHoldActor) stops its sends, its
// messages go to the channel's next gateway if there is one, and /readyz
// (trouble()) and tack_gateway_held say so. It ends with an operator's
// `tackd release --gateway`, a reload that gives the gateway new settings
// (replace_gateway) or a restart.
//
// decide_next is the whole retry policy, pure: sent -> sent; rejected ->
// next gateway of the channel, else failed; retry/unknown -> retry_wait with
// capped exponential backoff and equal jitter (or the provider's Retry-After,
// clamped), until max_attempts (if set) or max_age, then dead; or expired, when the
// rule's ttl runs out before the next attempt.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "asio.hpp"
#include "config.hpp"
#include "flow.hpp"
#include "gateways/gateway.hpp"
#include "log.hpp"
#include "metrics.hpp"
#include "quiet_hours.hpp"
#include "store/store.hpp"

namespace tack {

struct Decision {
  MessageState state = MessageState::Queued;
  std::int64_t next_attempt_at_ms = 0;
  std::string gateway;
  int gateway_index = 0;
  std::string last_error;
};

// The daemon's log line for one attempt, as a sentence a person reads at
// 3 a.m.: "message 12 (sms to +46*****4567, order 1042, via sms): the
// provider refused it: <its answer>; failed for good". Info when it was
// sent; a warning when not (one message did not go well). A gateway whose
// credentials are refused is an error said once by the hold, not here.
// `to` is already masked and `detail` already redacted (log.hpp). Pure.
struct AttemptLogLine {
  log::Level level = log::Level::Info;
  std::string text;
};
AttemptLogLine attempt_log_line(const OutboundMessage& message, const std::string& to,
                                const std::string& gateway, const Outcome& outcome,
                                const std::string& detail, const Decision& decision,
                                std::int64_t now_ms);

// `random01` in [0, 1) makes the jitter; tests pass fixed values.
Decision decide_next(const ClaimedMessage& claimed, const Outcome& outcome,
                     const std::vector<std::string>& channel_gateways, const RetryPolicy& policy,
                     std::int64_t now_ms, double random01);

// Commits the dispatcher's attempts: answers that arrive in one turn of the
// event loop share one store job (one savepoint, one completion post). A
// job is all or nothing, so when one fails each of its records goes again
// on its own: a record that cannot be written does not hold back the rest.
class AttemptRecorder {
 public:
  AttemptRecorder(asio::io_context& io, Store& store) : io_(io), store_(store) {}
  // "" once the attempt is on disk, else why not. On io's thread.
  asio::awaitable<std::string> record(AttemptRecord attempt, std::int64_t now_ms);

 private:
  struct Pending {
    AttemptRecord attempt;
    std::int64_t now_ms = 0;
    std::function<void(const std::string& error)> done;  // called on io_
  };
  void flush();

  asio::io_context& io_;
  Store& store_;
  std::vector<Pending> pending_;
  bool flush_posted_ = false;
};

class Dispatcher {
 public:
  using GatewayMap = std::map<std::string, std::unique_ptr<Gateway>>;

  Dispatcher(asio::io_context& io, Store& store, GatewayMap gateways, const Config& config);

  void start();
  // Thread-safe: new work may be due.
  void wake();
  // Stops claiming; resumes when every in-flight send is recorded or the
  // grace period ran out (then the caller cancels transfers and calls
  // drain again with a short grace).
  asio::awaitable<bool> drain(std::chrono::milliseconds grace);
  // Takes the new config's channels, limits and retry policy (reload).
  void set_config(const Config& config);
  // Sends not yet recorded: requests in flight plus answers being committed.
  std::size_t in_flight() const;
  // Counts attempts, circuit states and holds there (optional); message
  // states are the store's to count (Store::on_state_changes).
  void set_metrics(Metrics* metrics);
  // Swaps in a gateway rebuilt from new settings (reload): its circuit
  // starts closed and a hold tackd put on it (credentials refused) ends, so
  // the new settings are tried. Sends the old one started finish with it.
  void replace_gateway(const std::string& name, std::unique_ptr<Gateway> gateway);
  // The gateway of that name running now, or null; on the event loop only
  // (a gateway's HTTP routes find their gateway through it).
  Gateway* gateway(const std::string& name) const;
  // One line for each held gateway ("gateway sms held: ..."), for /readyz.
  // Thread-safe.
  std::vector<std::string> trouble() const;

 private:
  struct Reroute {
    std::string channel, from, to;
    int to_index = 0;
  };
  asio::awaitable<void> run();
  asio::awaitable<void> send_one(ClaimedMessage claimed);
  // Sends the gateway may take now: in-flight limit, tokens and circuit.
  int free_slots(const std::string& gateway, std::int64_t now,
                 const std::function<void(std::int64_t)>* wake_at);
  // Starts sends from the gateway's read-ahead queue while it has room.
  void launch_ready(const std::string& gateway, std::int64_t now);
  // Returns the gateway's read-ahead messages to the store, unsent.
  asio::awaitable<void> hand_back(const std::string& gateway);
  std::int64_t now_ms() const;

  void report_circuit(const std::string& gateway, std::int64_t now);

  // Gateway holds, as the store has them (refreshed at every claim) plus
  // tackd's own not yet committed.
  struct Hold {
    bool refused = false;      // tackd's own: the provider refused its credentials
    std::string actor;         // who held it
    std::string answer;        // the provider's refusal, for refused holds
    std::int64_t since_ms = 0;
    bool stored = true;        // false until the hold row is committed
  };
  void hold_refused(const std::string& gateway, const std::string& answer, std::int64_t now);
  void release_refused(const std::string& gateway, const std::string& why, std::int64_t now);
  void update_holds(const std::vector<GatewayHold>& stored);
  void publish_holds();  // metrics and trouble lines
  std::map<std::string, Hold> holds_;
  std::set<std::string> releasing_;  // refused holds whose release is being committed
  std::vector<std::unique_ptr<Gateway>> retired_;  // replaced; sends may still use them
  mutable std::mutex trouble_mutex_;
  std::vector<std::string> trouble_;

  asio::io_context& io_;
  Store& store_;
  // Claims are this tackd's; the lease outlasts any attempt (every
  // gateway's timeouts and the transport's own retries).
  Lease lease_{this_owner(), 10 * 60 * 1000};
  Metrics* metrics_ = nullptr;
  GatewayMap gateways_;
  std::map<std::string, int> in_flight_;  // requests a gateway is working on
  std::map<std::string, int> max_in_flight_;
  // Attempts answered but not yet committed: the message is still `sending`
  // on disk, so the store hands out neither it nor a later sibling.
  int recording_ = 0;
  AttemptRecorder recorder_;
  // Read ahead: messages claimed (`sending` on disk) beyond the free slots,
  // sent as slots free: about kReadAheadMs of the gateway's recent sending
  // rate, at least max_in_flight and at most kReadAhead x max_in_flight.
  // Claims are then few and large, and a slot that frees never waits for a
  // claim's commit. A crash logs them as interrupted like any claimed
  // message; a stop hands them back unsent.
  static constexpr int kReadAhead = 32;
  static constexpr int kReadAheadMs = 50;
  int read_ahead(const std::string& gateway);
  std::map<std::string, int> read_ahead_;  // the cap; 0 for a rate-limited gateway
  std::map<std::string, SendRate> send_rate_;
  std::map<std::string, std::deque<ClaimedMessage>> ready_;
  std::map<std::string, TokenBucket> rate_;
  std::map<std::string, CircuitBreaker> circuit_;
  std::map<std::string, std::vector<std::string>> channel_gateways_;
  RetryPolicy retry_;
  // Quiet hours (issue 16): a claimed message that may not go out now is
  // handed back, scheduled until they end; a retry that would fall inside
  // them waits until they end.
  std::map<std::string, ChannelConfig> channels_;
  QuietHours quiet_hours_;
  std::optional<QuietHold> quiet_hold(const ClaimedMessage& c, std::int64_t at) const;
  asio::awaitable<void> defer(ClaimedMessage claimed, QuietHold hold);
  asio::steady_timer timer_;
  asio::steady_timer idle_;
  bool wake_pending_ = false;
  bool stopping_ = false;
  bool running_ = false;
};

}  // namespace tack
