// sqlite_store: the Store contract over one SQLite file in WAL mode.
//
// Writes go through one writer thread that batches the work of many callers
// into one transaction (group commit): it runs each unit inside a SAVEPOINT
// of the current batch, commits the batch (one fsync for many units) and
// only then calls each caller's `done`. A unit that throws is rolled back
// alone; a batch whose COMMIT fails (disk full, I/O error) fails every unit
// in it. The single writer is also what serialises claims per order.
//
// Reads run on `readers` threads of their own, each with a read-only
// connection and a read transaction per query (a consistent snapshot), so a
// support query never waits behind intake and intake never waits for it.
// They run at a lower CPU priority (nice +10), so that a storm of support
// queries takes the cores the writer and the event loop leave idle.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "store/sqlite/ops.hpp"
#include "store/store.hpp"

namespace tack::sqlite {

// The contract's reads over one connection.
template <class Base>
class Reads : public Base {
 public:
  explicit Reads(Db& db) : db_(db) {}

  std::vector<MessageView> find_messages(const MessageQuery& q) override {
    return sqlite::find_messages(db_, q);
  }
  MessagePage search_messages(const MessageSearch& s) override {
    return sqlite::search_messages(db_, s);
  }
  std::optional<OrderTimeline> order_timeline(const std::string& order_id) override {
    return sqlite::order_timeline(db_, order_id);
  }
  std::vector<EventView> find_events(const std::string& order_id) override {
    return sqlite::find_events(db_, order_id);
  }
  std::vector<EventView> rejected_events(int limit) override {
    return sqlite::rejected_events(db_, limit);
  }
  std::vector<AuditEntry> audit_for(const std::string& target) override {
    return sqlite::audit_for(db_, target);
  }
  void for_each_message(std::int64_t since_ms, std::int64_t until_ms,
                        const std::function<void(const MessageView&)>& each) override {
    sqlite::for_each_message(db_, since_ms, until_ms, each);
  }
  QueueCounts queue_counts() override { return sqlite::queue_counts(db_); }
  QueueFigures queue_figures(std::int64_t now_ms) override {
    return sqlite::queue_figures(db_, now_ms);
  }
  std::optional<std::int64_t> next_due_at() override { return sqlite::next_due_at(db_); }
  std::optional<std::int64_t> next_scheduled_at() override {
    return sqlite::next_scheduled_at(db_);
  }
  std::vector<std::string> held_gateways() override { return sqlite::held_gateways(db_); }
  std::vector<GatewayHold> gateway_holds() override { return sqlite::gateway_holds(db_); }
  PruneCounts prune_preview(std::int64_t cutoff_ms) override {
    return sqlite::prune_preview(db_, cutoff_ms);
  }
  std::vector<std::string> orders_of_recipient(const std::string& recipient) override {
    return sqlite::orders_of_recipient(db_, recipient);
  }
  std::vector<std::pair<std::int64_t, std::string>> events_of_orders(
      const std::vector<std::string>& order_ids) override {
    return sqlite::events_of_orders(db_, order_ids);
  }
  void scan_event_payloads(
      const std::string& needle, const std::string& digits,
      const std::function<void(std::int64_t, const std::string&)>& each) override {
    sqlite::scan_event_payloads(db_, needle, digits, each);
  }
  std::vector<Suppression> suppressions(const SuppressionFilter& filter) override {
    return sqlite::suppressions(db_, filter);
  }

 protected:
  Db& db_;
};

using Reader = Reads<StoreReader>;

// The contract's unit of work over the writer's connection.
class Tx final : public Reads<StoreTx> {
 public:
  using Reads<StoreTx>::Reads;

  EventResult apply_event(const EventRecord& r, std::int64_t now_ms) override {
    return sqlite::apply_event(db_, r, now_ms);
  }
  std::vector<ClaimedMessage> claim_due(const Lease& lease, const std::string& gateway, int limit,
                                        std::int64_t now_ms) override {
    return sqlite::claim_due(db_, lease, gateway, limit, now_ms);
  }
  std::vector<ClaimedMessage> claim_rerouted(const Lease& lease, const std::string& channel,
                                             const std::string& from, const std::string& to,
                                             int to_index, int limit,
                                             std::int64_t now_ms) override {
    return sqlite::claim_rerouted(db_, lease, channel, from, to, to_index, limit, now_ms);
  }
  void unclaim(const std::vector<std::int64_t>& ids) override { sqlite::unclaim(db_, ids); }
  void defer_claimed(std::int64_t id, std::int64_t until_ms, const std::string& note,
                     std::int64_t now_ms) override {
    sqlite::defer_claimed(db_, id, until_ms, note, now_ms);
  }
  std::vector<DueScheduled> claim_scheduled(const Lease& lease, int limit,
                                            std::int64_t now_ms) override {
    return sqlite::claim_scheduled(db_, lease, limit, now_ms);
  }
  int settle_scheduled(const std::vector<ScheduledOutcome>& outcomes, const std::string& owner,
                       std::int64_t now_ms) override {
    return sqlite::settle_scheduled(db_, outcomes, owner, now_ms);
  }
  void expire_overdue(std::int64_t now_ms) override { sqlite::expire_overdue(db_, now_ms); }
  void record_attempt(const AttemptRecord& a, std::int64_t now_ms) override {
    sqlite::record_attempt(db_, a, now_ms);
  }
  int recover_interrupted(const std::string& owner, std::int64_t now_ms) override {
    return sqlite::recover_interrupted(db_, owner, now_ms);
  }
  ReceiptResult record_receipt(const Receipt& receipt, std::int64_t now_ms) override {
    return sqlite::record_receipt(db_, receipt, now_ms);
  }
  SuppressResult suppress(ChannelKind kind, const std::string& address, const std::string& source,
                          const std::string& actor, std::int64_t now_ms) override {
    return sqlite::suppress(db_, kind, address, source, actor, now_ms);
  }
  bool unsuppress(ChannelKind kind, const std::string& address, const std::string& actor,
                  std::int64_t now_ms) override {
    return sqlite::unsuppress(db_, kind, address, actor, now_ms);
  }
  OperatorResult operator_verb(OperatorVerb verb, std::int64_t id, const std::string& actor,
                               std::int64_t now_ms) override {
    return sqlite::operator_verb(db_, verb, id, actor, now_ms);
  }
  OperatorResult retry_dead(std::int64_t since_ms, const std::optional<std::string>& gateway,
                            const std::string& actor, std::int64_t now_ms) override {
    return sqlite::retry_dead(db_, since_ms, gateway, actor, now_ms);
  }
  OperatorResult retry_failed(std::int64_t since_ms, const std::optional<std::string>& gateway,
                              const std::string& actor, std::int64_t now_ms) override {
    return sqlite::retry_failed(db_, since_ms, gateway, actor, now_ms);
  }
  OperatorResult hold_gateway(const std::string& gateway, bool hold, const std::string& actor,
                              std::int64_t now_ms) override {
    return sqlite::hold_gateway(db_, gateway, hold, actor, now_ms);
  }
  bool hold_refused_gateway(const std::string& gateway, const std::string& answer,
                            std::int64_t now_ms) override {
    return sqlite::hold_refused_gateway(db_, gateway, answer, now_ms);
  }
  std::vector<std::string> release_refused_holds(const std::optional<std::string>& gateway,
                                                 const std::string& why,
                                                 std::int64_t now_ms) override {
    return sqlite::release_refused_holds(db_, gateway, why, now_ms);
  }
  ResendResult resend_message(std::int64_t id, const std::string& reason,
                              const std::string& actor, const FirstGateways& first_gateways,
                              std::int64_t now_ms) override {
    return sqlite::resend_message(db_, id, reason, actor, first_gateways, now_ms);
  }
  ContactResult correct_contact(const ContactCorrection& correction,
                                std::int64_t now_ms) override {
    return sqlite::correct_contact(db_, correction, now_ms);
  }
  std::optional<AuditEntry> add_order_note(const std::string& order_id, const std::string& text,
                                           const std::string& actor,
                                           std::int64_t now_ms) override {
    return sqlite::add_order_note(db_, order_id, text, actor, now_ms);
  }
  PruneCounts prune_batch(std::int64_t cutoff_ms, bool remove, int limit,
                          std::int64_t now_ms) override {
    return sqlite::prune_batch(db_, cutoff_ms, remove, limit, now_ms);
  }
  ForgetResult forget_recipient(const std::string& recipient,
                                const std::vector<std::int64_t>& event_ids,
                                const std::string& actor, std::int64_t now_ms) override {
    return sqlite::forget_recipient(db_, recipient, event_ids, actor, now_ms);
  }
};

class SqliteStore final : public Store {
 public:
  // `writer` null: read-only (submit fails). Readers open `path` read-only.
  SqliteStore(std::unique_ptr<Db> writer, const std::string& path, int readers,
              std::size_t max_batch);
  ~SqliteStore() override;

  void submit(Work work, Done done) override;
  void submit_rehearsal(Work work, Done done) override;
  void submit_read(Query query, Done done) override;
  bool scrub() override;
  void close() override;
  bool healthy() const override;
  std::string last_error() const override;
  void on_state_changes(StateChangeListener listener) override;

 private:
  struct Job {
    Work work;
    Done done;
    bool rehearsal = false;  // undone after it ran
  };
  void enqueue(Job job);
  struct ReadJob {
    Query query;
    Done done;
  };
  void write_loop();
  void read_loop(std::unique_ptr<Db> db);
  // Records whether the last batch committed; logs the change (writer thread).
  void note_health(const std::string& batch_error, bool wrote);
  // State changes reach the listener through temporary triggers on the
  // writer's connection (no schema change; nothing when nobody listens):
  // they note each change in a temporary table inside the unit, so a unit
  // rolled back takes its notes with it, and what a commit made durable is
  // read and cleared after it (writer thread).
  void note_state_changes();
  void report_state_changes(const StateChangeListener& listener);

  std::unique_ptr<Db> db_;
  std::string path_;
  std::size_t max_batch_;
  mutable std::mutex mutex_;
  std::condition_variable wake_, wake_readers_;
  std::deque<Job> queue_;
  std::deque<ReadJob> reads_;
  bool closing_ = false;
  bool healthy_ = true;
  std::string last_error_;
  StateChangeListener state_listener_;  // guarded by mutex_
  bool noting_state_changes_ = false;   // writer thread only
  std::chrono::steady_clock::time_point failing_since_{}, last_alarm_{};  // writer thread only
  std::thread writer_;
  std::vector<std::thread> readers_;
};

}  // namespace tack::sqlite
