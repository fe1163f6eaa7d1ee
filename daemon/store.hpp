// store: the delivery log and work queue, in SQLite (WAL). The one owner of
// tack's schema: events, orders, messages, attempts, audit.
//
// Writes go through one writer thread that batches the work of many callers
// into one transaction (group commit): a caller submits a unit of work, the
// writer runs it inside a SAVEPOINT of the current batch, commits the batch
// (one fsync for many units) and only then calls each caller's `done`. A unit
// that throws is rolled back alone and its `done` gets the error; a batch whose
// COMMIT fails (disk full, I/O error) fails every unit in it. So nobody
// acknowledges or sends what is not on disk.
//
// The domain operations below are plain functions over a Db so they can run
// inside a writer batch, or in a one-off Transaction for the CLI and tests.
// They are the only SQL in tack (the outbox source has its own table).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "asio.hpp"
#include "message.hpp"
#include "sqlite.hpp"

namespace tack {

// Opens (creating if needed) a store file and brings its schema up to date.
// synchronous_full: PRAGMA synchronous=FULL (default) or NORMAL.
std::unique_ptr<Db> open_store(const std::string& path, bool synchronous_full = true);
// Opens an existing store read-only for support queries (`tackd log`).
std::unique_ptr<Db> open_store_readonly(const std::string& path);
int schema_version(Db& db);
// Throws unless the store has the schema this tackd writes: the CLI works
// beside a running tackd, which upgrades the store when it starts.
void require_current_schema(Db& db);

// ---- intake -------------------------------------------------------------

struct NewMessage {
  std::string rule;
  std::string channel;
  ChannelKind kind = ChannelKind::Sms;
  std::string template_name;
  std::string locale;
  std::string recipient;
  std::string subject;
  std::string text;
  std::string html;
  std::string idempotency_key;
  std::string gateway;  // first gateway of the channel
  std::string state = state::kQueued;  // or kFailed with last_error
  std::string last_error;
  std::int64_t expires_at_ms = 0;  // 0: never
  // >= 0: this is the rule's fallback-channel message for messages[i] of
  // the same record; it waits in 'standby' until that one fails.
  int standby_for = -1;
};

struct EventRecord {
  std::string event_id;        // empty for a rejected event
  std::string claimed_event_id;  // what a rejected event said its id was
  std::string order_id;
  std::string status;
  std::int64_t occurred_at_ms = 0;
  int rank = -1;
  bool terminal = false;
  std::string source;
  std::string payload;  // the raw event (capped for rejected ones)
  std::string reject_reason;  // non-empty: record as rejected
  std::vector<NewMessage> messages;
};

enum class EventVerdict { Accepted, Duplicate, Stale, Rejected };
std::string to_string(EventVerdict verdict);

struct EventResult {
  EventVerdict verdict = EventVerdict::Accepted;
  std::string event_id;
  std::string reason;  // for Rejected and Stale
  int messages_created = 0;
};

EventResult apply_event(Db& db, const EventRecord& record, std::int64_t now_ms);

// ---- dispatch -----------------------------------------------------------

// A claimed message: everything a gateway needs plus what the dispatcher
// needs to decide what comes next.
struct ClaimedMessage {
  OutboundMessage message;
  std::string gateway;
  int gateway_index = 0;
  // When this round of attempts began: creation, or an operator's retry.
  std::int64_t round_started_at_ms = 0;
  std::int64_t expires_at_ms = 0;  // 0: never
};

// Moves up to `limit` due messages of `gateway` to `sending`, oldest first,
// never one whose earlier sibling (same order and channel) is still pending.
std::vector<ClaimedMessage> claim_due(Db& db, const std::string& gateway, int limit,
                                      std::int64_t now_ms);
// Claimed messages that were never handed to a gateway go back to queued,
// their attempt count as before the claim.
void unclaim(Db& db, const std::vector<std::int64_t>& ids);
// While `from_gateway`'s circuit is open, its due messages of `channel` go
// to the channel's next gateway `to_gateway` (index `to_index`) instead.
std::vector<ClaimedMessage> claim_rerouted(Db& db, const std::string& channel,
                                           const std::string& from_gateway,
                                           const std::string& to_gateway, int to_index, int limit,
                                           std::int64_t now_ms);
// Moves messages (and standbys) whose rule's ttl ran out to 'expired'.
void expire_overdue(Db& db, std::int64_t now_ms);
// Earliest next_attempt_at among waiting messages, if any.
std::optional<std::int64_t> next_due_at(Db& db);

struct AttemptRecord {
  std::int64_t message_id = 0;
  std::string gateway;
  std::int64_t started_at_ms = 0;
  std::int64_t duration_ms = 0;
  std::string outcome;  // sent|retry|rejected|unknown|interrupted
  std::string detail;
  std::string provider_id;
  // The message's next state.
  std::string next_state;
  std::int64_t next_attempt_at_ms = 0;
  std::string next_gateway;
  int next_gateway_index = 0;
  std::string last_error;
  // Earlier requests of this attempt that got no answer (Outcome::
  // unanswered): each is its own attempt row, outcome unknown with this
  // detail, numbered before this one and written in the same transaction.
  std::vector<std::string> unanswered;
};

void record_attempt(Db& db, const AttemptRecord& attempt, std::int64_t now_ms);

// After a crash: messages left in `sending` go back to queued with an
// "unknown" attempt recorded (the request may have reached the provider;
// the retry carries the same idempotency key). Returns how many.
int recover_interrupted(Db& db, std::int64_t now_ms);

// Messages waiting, in flight, held and dead, by state.
struct QueueCounts {
  std::int64_t queued = 0, retry_wait = 0, sending = 0, held = 0, scheduled = 0, dead = 0;
};
QueueCounts queue_counts(Db& db);

// ---- operator verbs -----------------------------------------------------
// Each records who did what in the audit table. A message being sent right
// now is not touched: the answer says so and the operator tries again.

struct OperatorResult {
  int changed = 0;
  std::string error;  // why nothing changed
};

// failed, dead, retry_wait or held -> queued, with a fresh round of attempts.
OperatorResult operator_retry(Db& db, std::int64_t id, const std::string& actor,
                              std::int64_t now_ms);
// Every dead message (of one gateway, if given) that died since `since_ms`.
OperatorResult operator_retry_dead(Db& db, std::int64_t since_ms,
                                   const std::optional<std::string>& gateway,
                                   const std::string& actor, std::int64_t now_ms);
OperatorResult operator_cancel(Db& db, std::int64_t id, const std::string& actor,
                               std::int64_t now_ms);
OperatorResult operator_hold(Db& db, std::int64_t id, const std::string& actor,
                             std::int64_t now_ms);
OperatorResult operator_release(Db& db, std::int64_t id, const std::string& actor,
                                std::int64_t now_ms);
// Every failed message (of one gateway, if given) that failed since
// `since_ms` after a gateway's answer. A message tack refused itself at
// intake (an invalid number, no recipient) has no attempt and is left out:
// sending it as it is can only fail again.
OperatorResult operator_retry_failed(Db& db, std::int64_t since_ms,
                                     const std::optional<std::string>& gateway,
                                     const std::string& actor, std::int64_t now_ms);
// A held gateway gets no new sends until released; its messages wait.
OperatorResult operator_hold_gateway(Db& db, const std::string& gateway, bool hold,
                                     const std::string& actor, std::int64_t now_ms);
std::vector<std::string> held_gateways(Db& db);

// tackd's own gateway hold: the provider refused tack's credentials or
// account (Outcome::Health::Refused). The row is an ordinary hold with this
// actor, so `tackd release --gateway` ends it; unlike an operator's hold,
// the claim may move its messages to the channel's next gateway. A reload
// that changes the gateway's settings, and a restart, release it.
inline constexpr const char* kRefusedHoldActor = "tackd (credentials refused)";
struct GatewayHold {
  std::string gateway;
  std::string actor;  // kRefusedHoldActor, or the operator's
  std::int64_t at_ms = 0;
};
std::vector<GatewayHold> gateway_holds(Db& db);
// Audited with the provider's answer; false when the gateway was held already.
bool hold_refused_gateway(Db& db, const std::string& gateway, const std::string& answer,
                          std::int64_t now_ms);
// Ends tackd's own holds (of one gateway, if given), audited with `why`;
// an operator's hold stays. Returns the gateways released.
std::vector<std::string> release_refused_holds(Db& db, const std::optional<std::string>& gateway,
                                               const std::string& why, std::int64_t now_ms);

struct AuditEntry {
  std::int64_t at_ms = 0;
  std::string actor, action, target, detail;
};
// target: "message 12" or "gateway sms-46elks".
std::vector<AuditEntry> audit_for(Db& db, const std::string& target);

// ---- support view -------------------------------------------------------

struct AttemptView {
  int number = 0;
  std::string gateway;
  std::int64_t started_at_ms = 0;
  std::int64_t duration_ms = 0;
  std::string outcome;
  std::string detail;
  std::string provider_id;
};

struct MessageView {
  std::int64_t id = 0;
  std::string event_id, order_id, rule, channel, kind, template_name, locale, recipient;
  std::string subject, text, html, state, gateway, idempotency_key, provider_id, last_error;
  int attempts = 0;
  std::int64_t created_at_ms = 0, updated_at_ms = 0, next_attempt_at_ms = 0;
  std::int64_t fallback_for = 0;  // a rule's fallback message: the id of its primary
  std::vector<AttemptView> attempt_log;
  // Failed before any gateway saw it: tack refused it at intake (an invalid
  // or fixed-line number, a template that did not render). A retry would
  // send the same refusal, so none is offered.
  bool refused_by_tack() const;
  // The operator verbs (retry, cancel, hold, release) that can succeed on
  // it now, for the API and the page.
  std::vector<std::string> actions() const;
};

struct EventView {
  std::string event_id, order_id, status, verdict, reason, source;
  std::int64_t occurred_at_ms = 0, received_at_ms = 0;
  int duplicates = 0;
};

struct MessageQuery {
  std::optional<std::string> order_id;
  // Any of these (e-mail in any letter case); empty: any recipient.
  // phone_search_forms gives a typed number's forms.
  std::vector<std::string> recipients;
  std::optional<std::int64_t> message_id;
  int limit = 200;  // the newest this many, in id order
};

std::vector<MessageView> find_messages(Db& db, const MessageQuery& query);
std::vector<EventView> find_events(Db& db, const std::string& order_id);
std::vector<EventView> rejected_events(Db& db, int limit);

// For the HTTP support API (docs/http-api.md). Read-only.

// Messages matching every filter given, newest first, one page at a time.
struct MessageSearch {
  std::optional<std::string> order_id;
  std::vector<std::string> recipients;  // any of, exact: E.164 or e-mail address; empty: any
  std::string recipient_typed;          // the "to" that support typed, for the next page's link
  std::optional<std::string> state;
  std::optional<std::int64_t> since_ms;   // created_at >= since
  std::optional<std::int64_t> until_ms;   // created_at < until
  std::optional<std::int64_t> before_id;  // the page after this message id
  int limit = 50;
};
struct MessagePage {
  std::vector<MessageView> messages;  // newest first, with their attempt logs
  bool more = false;                  // older messages match too
};
MessagePage search_messages(Db& db, const MessageSearch& search);

// Everything tack knows of one order, or nullopt when it knows nothing.
struct OrderTimeline {
  std::string order_id;
  std::optional<std::string> status;  // the order's current status (its last accepted event)
  std::vector<EventView> events;      // as received, rejected and stale ones too
  std::vector<MessageView> messages;  // oldest first, with their attempt logs
  std::vector<AuditEntry> audit;      // operator actions on its messages, oldest first
  // The earliest message still waiting to be sent (queued, retry_wait,
  // scheduled): its id and when it is due.
  std::optional<std::pair<std::int64_t, std::int64_t>> next_contact;
};
std::optional<OrderTimeline> order_timeline(Db& db, const std::string& order_id);

// The waiting and in-flight figures for metrics.
struct QueueFigures : QueueCounts {
  std::optional<std::int64_t> oldest_due_at_ms;  // earliest next attempt already due
};
QueueFigures queue_figures(Db& db, std::int64_t now_ms);

// ---- retention and erasure (issue 6) ------------------------------------
// Personal data (recipient, subject, texts, last error, providers' answers,
// raw event payloads, rejected events' reasons) is replaced by kErased and
// the row's erased_at set; states, times, gateways, outcomes, order and
// event ids stay for statistics and audit. Only messages in a final state
// are touched, never one still pending.

inline constexpr const char* kErased = "[erased]";

struct PruneCounts {
  std::int64_t messages = 0, attempts = 0, events = 0;
  bool more = false;  // a batch was full: call again
};

// One batch of retention: up to `limit` messages in a final state last
// changed before `cutoff_ms` (with their attempts), and up to `limit` events
// received before it whose order has no message still pending, are
// anonymised (or, with `remove`, deleted), oldest first. Index-backed
// (messages_retention, events_retention): the cost is the batch, not the log.
PruneCounts prune_batch(Db& db, std::int64_t cutoff_ms, bool remove, int limit,
                        std::int64_t now_ms);
// How many rows prune_batch would touch until done (for --dry-run).
PruneCounts prune_preview(Db& db, std::int64_t cutoff_ms);

// The events of `order_ids` not yet erased, with their payloads, for the
// caller to decide which name a person.
std::vector<std::pair<std::int64_t, std::string>> events_of_orders(
    Db& db, const std::vector<std::string>& order_ids);
// The orders of every message to `recipient` (e-mail in any letter case).
std::vector<std::string> orders_of_recipient(Db& db, const std::string& recipient);
// Every event not yet erased whose payload contains `needle` (compared in
// lower case) or, when `digits` is not empty, those digits once spaces,
// dashes, dots and brackets are dropped ("070-123 45 67"). A full scan of
// events, read only: for a forget request, never the data path.
void scan_event_payloads(Db& db, const std::string& needle, const std::string& digits,
                         const std::function<void(std::int64_t id, const std::string& payload)>& each);

struct ForgetResult {
  int messages = 0, attempts = 0, events = 0;
  int cancelled = 0;                   // were still pending: cancelled, then erased
  std::vector<std::int64_t> in_flight;  // being sent right now: left alone, try again
};
// Erases every message to `recipient` (e-mail in any letter case), their
// attempts' provider answers, the events they came from and `event_ids`;
// cancels the person's pending messages first (audited per message). One
// audit entry ("forget") records the counts, never the person.
ForgetResult forget_recipient(Db& db, const std::string& recipient,
                              const std::vector<std::int64_t>& event_ids, const std::string& actor,
                              std::int64_t now_ms);

// Calls `each` for every message created in [since_ms, until_ms), oldest
// first, with its attempt log; one message in memory at a time.
void for_each_message(Db& db, std::int64_t since_ms, std::int64_t until_ms,
                      const std::function<void(const MessageView&)>& each);

// ---- the writer thread (group commit) -----------------------------------

class Store {
 public:
  using Work = std::function<void(Db&)>;
  // `error` is empty on success.
  using Done = std::function<void(const std::string& error)>;

  explicit Store(std::unique_ptr<Db> db, std::size_t max_batch = 2000);
  ~Store();  // drains queued work, then stops the thread
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Runs `work` on the writer thread inside the next batch; `done` runs on
  // the writer thread after the batch committed (or failed). Thread-safe.
  void submit(Work work, Done done);

  // Runs `fn` in a batch and resumes the awaiting coroutine on `executor`
  // with its result once committed. Errors come back as std::nullopt plus
  // `error`.
  template <class T, class Executor>
  asio::awaitable<std::optional<T>> call(Executor executor, std::function<T(Db&)> fn,
                                         std::string* error = nullptr);

  // Stops accepting work, finishes what is queued, joins the thread.
  void close();
  bool healthy() const;  // the last batch committed
  std::string last_error() const;

 private:
  struct Job {
    Work work;
    Done done;
  };
  void run();
  // Records whether the last batch committed; logs the change (writer thread).
  void note_health(const std::string& batch_error, bool wrote);

  std::unique_ptr<Db> db_;
  std::size_t max_batch_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool closing_ = false;
  bool healthy_ = true;
  std::string last_error_;
  std::chrono::steady_clock::time_point failing_since_{}, last_alarm_{};  // writer thread only
  std::thread thread_;
};

template <class T, class Executor>
asio::awaitable<std::optional<T>> Store::call(Executor executor, std::function<T(Db&)> fn,
                                              std::string* error) {
  struct Result {
    std::optional<T> value;
    std::string error;
  };
  // The initiation is a named local, not a temporary inside the co_await
  // expression: GCC 12 destroys such a temporary twice, and this one owns fn.
  auto initiate = [this, executor, fn = std::move(fn)](auto handler) mutable {
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    auto value = std::make_shared<std::optional<T>>();
    submit([fn = std::move(fn), value](Db& db) { *value = fn(db); },
           [shared, value, executor](const std::string& err) {
             Result r{err.empty() ? std::move(*value) : std::nullopt, err};
             asio::post(executor, [shared, r = std::move(r)]() mutable {
               (*shared)(std::move(r));
             });
           });
  };
  auto result = co_await asio::async_initiate<decltype(asio::use_awaitable), void(Result)>(
      std::move(initiate), asio::use_awaitable);
  if (error) *error = result.error;
  co_return std::move(result.value);
}

}  // namespace tack
