// scheduler: the core stage that gives tack a sense of time (issue 16).
//
// Intake stores a delayed rule's message as `scheduled` with its due time
// and no text, and a message planned inside the recipient's quiet hours as
// `scheduled` with its text, held until the window opens. The scheduler
// takes them from the store when due, under a lease (StoreTx::
// claim_scheduled; several tackd share them as they share sends), decides
// each one's fate (decide_scheduled, pure) and writes it back
// (settle_scheduled):
// - the rule is gone from the config, or the order reached a status its
//   `unless` names (a promise kept after all): cancelled, with the reason;
// - not rendered yet: rendered now with the running templates (a follow-up
//   uses the templates of the day it goes out); a template that fails, or
//   an SMS over its channel's segment budget (sms_cost.hpp, after the
//   channel's transliteration): failed, with the reason;
// - inside quiet hours and not urgent: held (still scheduled) until they end;
// - otherwise queued, where the dispatcher takes it; a frequency cap the
//   store checks then may skip it instead.
// Nothing scheduled lives in memory: one batch at a time, so a million
// pending follow-ups cost the store's disk, not tackd's memory.
//
// The clock: due times are wall-clock instants (a follow-up "at 10:00" is
// ten o'clock on the wall), but the waits are steady_timer waits of at most
// kMaxSleep, after which the wall clock is read again. So a wall-clock step
// (NTP, a virtual machine resumed) is noticed within kMaxSleep: forward,
// what is now due goes (nothing before its wall-clock time); back, nothing
// sleeps on a wait computed from the old time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "asio.hpp"
#include "intake.hpp"
#include "store/store.hpp"

namespace tack {

// Pure: what becomes of one due scheduled message at `now_ms`, with the
// running config and templates.
ScheduledOutcome decide_scheduled(const DueScheduled& due, const Snapshot& snapshot,
                                  std::int64_t now_ms);

class Scheduler {
 public:
  using Clock = std::function<std::int64_t()>;  // wall-clock ms (tests pass their own)
  using SnapshotFn = std::function<std::shared_ptr<const Snapshot>()>;
  static constexpr std::chrono::milliseconds kMaxSleep{5000};
  static constexpr int kBatch = 500;

  Scheduler(asio::io_context& io, Store& store, SnapshotFn snapshot, Clock clock,
            std::string owner);
  // Called after a batch queued messages (the dispatcher's wake).
  void on_queued(std::function<void()> callback) { on_queued_ = std::move(callback); }
  void start();
  void stop();
  // Look now (a message was scheduled, or sent now by an operator).
  void wake();
  // Totals since start, for tests and the log.
  std::int64_t queued() const { return queued_; }

 private:
  asio::awaitable<void> run();
  // One batch; returns how many were claimed.
  asio::awaitable<int> round();

  asio::io_context& io_;
  Store& store_;
  SnapshotFn snapshot_;
  Clock clock_;
  std::string owner_;
  std::function<void()> on_queued_;
  asio::steady_timer timer_;
  bool stopping_ = false;
  bool woken_ = false;
  std::int64_t queued_ = 0;
};

}  // namespace tack
