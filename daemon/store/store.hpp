// store: the contract of tack's delivery log and work queue. Everything
// tack remembers (events, orders, messages, attempts, gateway holds, the
// audit trail) is kept by one Store; nothing outside daemon/store/ knows how.
// SQLite (store/sqlite/) is the first implementation; a shared database
// with several tackd taking work from it is the next, and the promises
// below are written so that it can keep them unchanged.
//
// Writes: a caller submits a unit of work over a StoreTx. Units run in order
// of submission, each atomically (all of it or none), and `done` is called
// only once the unit is durable (an implementation may commit many units at
// once: group commit). A unit that throws is undone alone; its `done` gets
// the error. A failing store fails every unit and says so in healthy().
// So nobody acknowledges an event or sends a message that is not on disk.
//
// Reads: support queries, /metrics and the status line go through read(),
// which runs on its own connection(s) and never waits behind the writer's
// queue: a heavy support search does not delay intake. A read sees a
// committed state, never part of a unit.
//
// Promises every implementation keeps (tests/store/ states each once):
// - Dedup: an event id is taken once. Two units applying the same event,
//   even from two tackd at once, create its messages once (the insert of
//   the event row decides, on conflict; never select-then-insert).
// - Taken for good: retention or a forget request never frees an event
//   id. An erased event keeps its row and id; one that retention deletes
//   leaves a tombstone, the SHA-256 of its id (32 bytes, no personal data),
//   written in the unit that deletes the row and consulted by the same
//   insert that dedups. So an event sent again after it was deleted (a
//   replayed signed request, a shop re-sending its history) is a duplicate
//   and creates nothing. Tombstones are kept forever: a bound in time would
//   reopen the replay for anything older than it, and each costs less
//   than the anonymised row the default retention keeps for good instead.
// - Per-order order: a message is never claimed while an earlier message of
//   the same order and channel is waiting or in flight, across all owners;
//   claims of one order are serialised.
// - Ownership: a claim takes messages under a Lease (owner, duration).
//   recover_interrupted(owner) hands back what that owner left in flight
//   (it restarted: none of it can still be on its way) and what any owner
//   whose lease ran out left; never another live owner's sends.
// - The message lifecycle is store/lifecycle.hpp's, whatever the storage.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "asio.hpp"
#include "store/records.hpp"

namespace tack {

// A store that cannot do what was asked: cannot open, cannot write, holds
// a schema this tackd does not know. transient(): the fault may clear by
// itself (disk full, I/O error, locked).
class StoreError : public std::runtime_error {
 public:
  explicit StoreError(const std::string& what, bool transient = false)
      : std::runtime_error(what), transient_(transient) {}
  bool transient() const { return transient_; }

 private:
  bool transient_;
};

// The queries: what support, metrics and the dispatcher's timer read.
class StoreReader {
 public:
  virtual ~StoreReader() = default;

  // -- support --
  virtual std::vector<MessageView> find_messages(const MessageQuery& query) = 0;
  // Messages matching every filter given, newest first, one page at a time.
  virtual MessagePage search_messages(const MessageSearch& search) = 0;
  // Everything tack knows of one order, or nullopt when it knows nothing.
  virtual std::optional<OrderTimeline> order_timeline(const std::string& order_id) = 0;
  virtual std::vector<EventView> find_events(const std::string& order_id) = 0;
  virtual std::vector<EventView> rejected_events(int limit) = 0;
  // target: "message 12" or "gateway sms-46elks".
  virtual std::vector<AuditEntry> audit_for(const std::string& target) = 0;
  // Calls `each` for every message created in [since_ms, until_ms), oldest
  // first, with its attempt log; one message in memory at a time.
  virtual void for_each_message(std::int64_t since_ms, std::int64_t until_ms,
                                const std::function<void(const MessageView&)>& each) = 0;

  // -- queue --
  virtual QueueCounts queue_counts() = 0;
  virtual QueueFigures queue_figures(std::int64_t now_ms) = 0;
  // Earliest next attempt among claimable messages, if any.
  virtual std::optional<std::int64_t> next_due_at() = 0;
  // When the earliest scheduled message is due, if any.
  virtual std::optional<std::int64_t> next_scheduled_at() = 0;
  virtual std::vector<std::string> held_gateways() = 0;
  virtual std::vector<GatewayHold> gateway_holds() = 0;

  // -- retention and erasure --
  // How many rows prune_batch would touch until done (for --dry-run).
  virtual PruneCounts prune_preview(std::int64_t cutoff_ms) = 0;
  // The orders of every message to `recipient` (e-mail in any letter case).
  virtual std::vector<std::string> orders_of_recipient(const std::string& recipient) = 0;
  // The events of `order_ids` not yet erased, with their payloads, for the
  // caller to decide which name a person.
  virtual std::vector<std::pair<std::int64_t, std::string>> events_of_orders(
      const std::vector<std::string>& order_ids) = 0;
  // Every event not yet erased whose payload contains `needle` (compared in
  // lower case) or, when `digits` is not empty, those digits once spaces,
  // dashes, dots and brackets are dropped ("070-123 45 67"). A full scan:
  // for a forget request, never the data path.
  virtual void scan_event_payloads(
      const std::string& needle, const std::string& digits,
      const std::function<void(std::int64_t id, const std::string& payload)>& each) = 0;

  // -- opt-out --
  // The suppression list matching `filter`, newest first.
  virtual std::vector<Suppression> suppressions(const SuppressionFilter& filter) = 0;
};

// One unit of work: the reads above plus every change tack makes.
class StoreTx : public StoreReader {
 public:
  // -- intake --
  // Records the event (accepted, duplicate, stale or rejected) and, when
  // accepted, its messages; a newer status update supersedes older ones
  // still waiting (lifecycle: superseded_on_arrival); the event cancels the
  // order's scheduled messages of record.cancels_rules; a new queued message
  // over its frequency cap is skipped instead. A new message (any state but
  // failed) to an address suppressed on its kind is created `suppressed`,
  // its note saying since when and why, unless it ignores opt-out.
  virtual EventResult apply_event(const EventRecord& record, std::int64_t now_ms) = 0;

  // -- dispatch --
  // Moves up to `limit` due messages of `gateway` to `sending` under
  // `lease`, oldest first, never one whose earlier sibling (same order and
  // channel) is still pending. Expires overdue messages first.
  virtual std::vector<ClaimedMessage> claim_due(const Lease& lease, const std::string& gateway,
                                                int limit, std::int64_t now_ms) = 0;
  // While `from_gateway`'s circuit is open (or tackd held it itself), its
  // due messages of `channel` go to the channel's next gateway
  // `to_gateway` (index `to_index`) instead; never one that may already be
  // at the first provider.
  virtual std::vector<ClaimedMessage> claim_rerouted(const Lease& lease, const std::string& channel,
                                                     const std::string& from_gateway,
                                                     const std::string& to_gateway, int to_index,
                                                     int limit, std::int64_t now_ms) = 0;
  // Claimed messages never handed to a gateway go back to queued, their
  // attempt count as before the claim, their lease ended.
  virtual void unclaim(const std::vector<std::int64_t>& ids) = 0;
  // A claimed message that may not go out now (quiet hours) goes back to
  // wait, scheduled until `until_ms` with `note`, its attempt count as
  // before the claim, its lease ended.
  virtual void defer_claimed(std::int64_t id, std::int64_t until_ms, const std::string& note,
                             std::int64_t now_ms) = 0;

  // -- the scheduler --
  // Up to `limit` scheduled messages due by `now_ms`, earliest first, that
  // no live lease holds, leased to `lease.owner`; expires overdue ones
  // first. Several tackd share them as they share sends.
  virtual std::vector<DueScheduled> claim_scheduled(const Lease& lease, int limit,
                                                    std::int64_t now_ms) = 0;
  // Each claimed message's fate as the scheduler decided it; one no longer
  // scheduled or leased to `owner` (an operator cancelled it meanwhile) is
  // left alone. A Queued one over its frequency cap is skipped instead.
  // Returns how many were queued.
  virtual int settle_scheduled(const std::vector<ScheduledOutcome>& outcomes,
                               const std::string& owner, std::int64_t now_ms) = 0;
  // Messages (and standbys) whose rule's ttl ran out become expired.
  virtual void expire_overdue(std::int64_t now_ms) = 0;
  // The outcome of one attempt and the message's next state; settles its
  // standby and supersedes it when newer news waits (lifecycle). With an
  // opt_out_source (the provider refused: the recipient opted out with it)
  // the recipient is suppressed on the message's kind, as by suppress.
  virtual void record_attempt(const AttemptRecord& attempt, std::int64_t now_ms) = 0;
  // Messages left `sending` by `owner` (it restarted) or by any owner whose
  // lease ran out go back to queued with an "unknown" attempt recorded (the
  // provider may have them; the retry carries the same idempotency key).
  // Returns how many.
  virtual int recover_interrupted(const std::string& owner, std::int64_t now_ms) = 0;

  // -- delivery receipts --
  // What a provider reported about the message `receipt.gateway` sent with
  // `receipt.provider_id`: on the message's receipt timeline, and its state
  // moved as lifecycle's receipt_moves says (a delivered, undelivered or
  // bounced message), its standby settled by the new state. The same
  // receipt again (gateway, id, kind, status and time) is Repeated and
  // changes nothing. An id no attempt recorded yet while one of the
  // gateway's sends awaits its answer is Parked: record_attempt applies it
  // when it records that id. Otherwise Unknown, and nothing is kept.
  // A receipt that says the recipient opted out (Receipt::opted_out), once
  // applied (at once or from parked), suppresses the message's recipient
  // on its kind (suppress, kReceiptOptOutActor, receipt_opt_out_source).
  virtual ReceiptResult record_receipt(const Receipt& receipt, std::int64_t now_ms) = 0;

  // -- operator verbs --
  // Each records who did what in the audit trail. A message being sent
  // right now is not touched: the answer says so.
  virtual OperatorResult operator_verb(OperatorVerb verb, std::int64_t id,
                                       const std::string& actor, std::int64_t now_ms) = 0;
  // Every dead message (of one gateway, if given) that died since `since_ms`.
  virtual OperatorResult retry_dead(std::int64_t since_ms,
                                    const std::optional<std::string>& gateway,
                                    const std::string& actor, std::int64_t now_ms) = 0;
  // Every failed message (of one gateway, if given) a gateway refused since
  // `since_ms`; one tack refused at intake has no attempt and is left out.
  virtual OperatorResult retry_failed(std::int64_t since_ms,
                                      const std::optional<std::string>& gateway,
                                      const std::string& actor, std::int64_t now_ms) = 0;
  // A held gateway gets no new sends until released; its messages wait.
  virtual OperatorResult hold_gateway(const std::string& gateway, bool hold,
                                      const std::string& actor, std::int64_t now_ms) = 0;
  // tackd's own hold (kRefusedHoldActor), audited with the provider's
  // answer; false when the gateway was held already.
  virtual bool hold_refused_gateway(const std::string& gateway, const std::string& answer,
                                    std::int64_t now_ms) = 0;
  // Ends tackd's own holds (of one gateway, if given), audited with `why`;
  // an operator's hold stays. Returns the gateways released.
  virtual std::vector<std::string> release_refused_holds(
      const std::optional<std::string>& gateway, const std::string& why,
      std::int64_t now_ms) = 0;

  // -- support actions (records.hpp) --
  // A new message repeating message `id` (order, event, rule, channel,
  // recipient, texts, supersede policy) with a new key, queued now, at the
  // head of its channel's chain (`first_gateways`); both messages audited
  // ("resent as message N by ACTOR: reason", "resend of message M by
  // ACTOR: reason"). Only a message a provider accepted (lifecycle:
  // may_resend), and not to an address on the suppression list; for
  // another, an erased one or a suppressed address, `error` says why and
  // nothing changes.
  virtual ResendResult resend_message(std::int64_t id, const std::string& reason,
                                      const std::string& actor,
                                      const FirstGateways& first_gateways,
                                      std::int64_t now_ms) = 0;
  // Support corrected the order's phone and/or e-mail (checked and
  // normalised by the caller). In this unit: the order remembers it, so
  // the messages apply_event creates later for the order go there (SMS to
  // the phone, e-mail to the address); its pending messages of that kind
  // (lifecycle: follows_corrected_contact) go there instead; each of its
  // failed and dead ones of that kind (resent_on_corrected_contact) with a
  // text to send, not copied before and whose news did not reach the
  // customer through its fallback gets a new queued copy addressed there,
  // as resend_message makes one. The order is audited (target "order ID",
  // action "contact": "phone corrected from OLD to NEW by ACTOR: reason"),
  // and every message changed or copied. Not found: an order with no
  // event and no message; nothing changes.
  virtual ContactResult correct_contact(const ContactCorrection& correction,
                                        std::int64_t now_ms) = 0;
  // A note on an order: an audit entry (target "order ID", action "note",
  // detail `text`) that its timeline shows; nullopt for an unknown order.
  virtual std::optional<AuditEntry> add_order_note(const std::string& order_id,
                                                   const std::string& text,
                                                   const std::string& actor,
                                                   std::int64_t now_ms) = 0;

  // -- opt-out --
  // Puts `address` (normalised: E.164, e-mail in lower case; the store
  // lower-cases e-mail itself) on the suppression list of `kind` with
  // `source`, audited (target "optout KIND ADDRESS"). Its pending messages
  // of that kind (lifecycle: is_pending, but not one being sent right now)
  // that do not ignore opt-out become suppressed with a note. Already on
  // the list: the first entry stays, pending messages are still swept.
  virtual SuppressResult suppress(ChannelKind kind, const std::string& address,
                                  const std::string& source, const std::string& actor,
                                  std::int64_t now_ms) = 0;
  // Takes `address` off the list of `kind`, audited; false when it was not
  // on it. Messages suppressed before stay suppressed.
  virtual bool unsuppress(ChannelKind kind, const std::string& address, const std::string& actor,
                          std::int64_t now_ms) = 0;

  // -- retention and erasure --
  // Personal data (recipient, texts, last error, providers' answers and
  // receipts' reasons, raw payloads, rejected events' reasons) becomes
  // kErased; states, times, gateways, outcomes and ids stay. Only final
  // messages, never pending.
  // One batch: up to `limit` final messages last changed before `cutoff_ms`
  // and up to `limit` events received before it whose order has nothing
  // pending, oldest first; the cost is the batch, not the log. `remove`
  // deletes the rows instead, each deleted event leaving its id's tombstone.
  // Either way, up to `limit` parked receipts received before the cutoff
  // (no send's answer ever claimed them) are deleted.
  virtual PruneCounts prune_batch(std::int64_t cutoff_ms, bool remove, int limit,
                                  std::int64_t now_ms) = 0;
  // Erases every message to `recipient`, their attempts' answers, their
  // events and `event_ids`; cancels the person's pending messages first
  // (audited each). One audit entry records the counts, never the person.
  // An order's corrected address that is the person's is forgotten too,
  // and so is the text of the audit entries that named it.
  virtual ForgetResult forget_recipient(const std::string& recipient,
                                        const std::vector<std::int64_t>& event_ids,
                                        const std::string& actor, std::int64_t now_ms) = 0;
};

class Store {
 public:
  using Work = std::function<void(StoreTx&)>;
  using Query = std::function<void(StoreReader&)>;
  // `error` is empty on success.
  using Done = std::function<void(const std::string& error)>;

  virtual ~Store() = default;

  // Runs `work` in a unit of the writer; `done` runs (on a store thread)
  // once it is durable, or failed. Thread-safe.
  virtual void submit(Work work, Done done) = 0;
  // Runs `work` as a unit and then undoes it: what it would do, for a dry
  // run. `done` as above.
  virtual void submit_rehearsal(Work work, Done done) = 0;
  // Runs `query` on a reader, never queued behind writes; `done` as above.
  virtual void submit_read(Query query, Done done) = 0;
  // After an erasure: drops the old copies of changed pages that the store
  // keeps beside its live data (SQLite: truncates the write-ahead log), so
  // erased text is gone from the disk too. False when a reader held it
  // back; try again later.
  virtual bool scrub() = 0;
  // Stops taking work, finishes what is queued. Later work fails.
  virtual void close() = 0;
  // The last write committed.
  virtual bool healthy() const = 0;
  virtual std::string last_error() const = 0;
  // Every change of a message's state, whoever made it in this process
  // (intake, a claim, an attempt, expiry, an operator verb, a forget
  // request), goes to `listener` once its commit is durable: never a change
  // undone (a failed unit or batch, a rehearsal). Called on a store thread;
  // set once, before work is submitted. Changes another process makes to
  // the same store (a `tackd cancel` beside tackd) are that process's.
  using StateChangeListener = std::function<void(const std::vector<StateChange>&)>;
  virtual void on_state_changes(StateChangeListener listener) = 0;

  // The same, for a coroutine: resumes on `executor` with the result, or
  // nullopt and `error`. The answer is posted to `executor` from a store
  // thread, so its io_context must outlive the store's last answer.
  template <class T, class Executor>
  asio::awaitable<std::optional<T>> call(Executor executor, std::function<T(StoreTx&)> fn,
                                         std::string* error = nullptr);
  template <class T, class Executor>
  asio::awaitable<std::optional<T>> read(Executor executor, std::function<T(StoreReader&)> fn,
                                         std::string* error = nullptr);

  // Blocking, for the CLI and tests: the result, or StoreError.
  template <class T>
  T run(std::function<T(StoreTx&)> fn);
  template <class T>
  T query(std::function<T(StoreReader&)> fn);
  template <class T>
  T rehearse(std::function<T(StoreTx&)> fn);

 private:
  template <class T, class Arg, class Executor, class Submit>
  static asio::awaitable<std::optional<T>> await_unit(Executor executor,
                                                      std::function<T(Arg&)> fn,
                                                      std::string* error, Submit submit);
  template <class T, class Arg, class Submit>
  static T block_on(std::function<T(Arg&)> fn, Submit submit);
};

// How to open a store. `location` is a SQLite file path today.
struct StoreOptions {
  enum class Access {
    Owner,    // tackd itself: creates the store, upgrades its schema
    Beside,   // the CLI beside a running tackd: writes, never upgrades
    ReadOnly  // support queries only; submit() fails
  };
  std::string location;
  Access access = Access::Owner;
  bool synchronous_full = true;  // fsync every commit (SQLite: synchronous=FULL)
  std::size_t max_batch = 2000;  // units per group commit
  // Read connections, each on its own thread; 0: half the machine's cores
  // (at least one), so that reads never take the writer's and the event
  // loop's share.
  int readers = 0;
};

// Throws StoreError with what is wrong (no such file, a schema too old for
// the CLI or too new for this tackd).
std::unique_ptr<Store> open_store(const StoreOptions& options);

// This tackd as a claim owner: the host name (stable across restarts).
std::string this_owner();

// ---- templates ----------------------------------------------------------

template <class T, class Arg, class Executor, class Submit>
asio::awaitable<std::optional<T>> Store::await_unit(Executor executor, std::function<T(Arg&)> fn,
                                                    std::string* error, Submit submit) {
  struct Result {
    std::optional<T> value;
    std::string error;
  };
  // The initiation is a named local, not a temporary inside the co_await
  // expression: GCC 12 destroys such a temporary twice, and this one owns fn.
  auto initiate = [executor, submit, fn = std::move(fn)](auto handler) mutable {
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    auto value = std::make_shared<std::optional<T>>();
    submit([fn = std::move(fn), value](Arg& tx) { *value = fn(tx); },
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

template <class T, class Executor>
asio::awaitable<std::optional<T>> Store::call(Executor executor, std::function<T(StoreTx&)> fn,
                                              std::string* error) {
  return await_unit<T, StoreTx>(executor, std::move(fn), error,
                                [this](Work w, Done d) { submit(std::move(w), std::move(d)); });
}

template <class T, class Executor>
asio::awaitable<std::optional<T>> Store::read(Executor executor,
                                              std::function<T(StoreReader&)> fn,
                                              std::string* error) {
  return await_unit<T, StoreReader>(
      executor, std::move(fn), error,
      [this](Query q, Done d) { submit_read(std::move(q), std::move(d)); });
}

template <class T, class Arg, class Submit>
T Store::block_on(std::function<T(Arg&)> fn, Submit submit) {
  auto value = std::make_shared<std::optional<T>>();
  std::promise<std::string> finished;
  auto result = finished.get_future();
  submit([fn = std::move(fn), value](Arg& tx) { value->emplace(fn(tx)); },
         [&finished](const std::string& error) { finished.set_value(error); });
  const std::string error = result.get();
  if (!error.empty()) throw StoreError(error);
  return std::move(**value);
}

template <class T>
T Store::run(std::function<T(StoreTx&)> fn) {
  return block_on<T, StoreTx>(std::move(fn),
                              [this](Work w, Done d) { submit(std::move(w), std::move(d)); });
}

template <class T>
T Store::rehearse(std::function<T(StoreTx&)> fn) {
  return block_on<T, StoreTx>(
      std::move(fn), [this](Work w, Done d) { submit_rehearsal(std::move(w), std::move(d)); });
}

template <class T>
T Store::query(std::function<T(StoreReader&)> fn) {
  return block_on<T, StoreReader>(
      std::move(fn), [this](Query q, Done d) { submit_read(std::move(q), std::move(d)); });
}

}  // namespace tack
