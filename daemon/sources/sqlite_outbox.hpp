// sqlite_outbox: events from an outbox table in an SQLite database that
// the shop writes to (the transactional outbox pattern: the shop inserts
// the event in the same transaction as the order change).
//
// A thread polls for rows with consumed_at IS NULL in id order, hands their
// payloads to the intake in one batch, and marks them consumed only after
// the intake reports them committed. A crash in between re-reads them; the
// intake's event_id dedup makes that harmless. If the intake cannot commit
// (store fault), the rows stay unconsumed and are retried.
//
// New rows are seen at once, not at the next poll: the thread watches the
// database's write-ahead log with inotify, and every commit the shop makes
// writes to it. poll_interval is the fallback for a change inotify does
// not report (a file replaced, a network file system).
//
// The table (README "The outbox table"; `tackd outbox init` creates it):
//   CREATE TABLE outbox (
//     id INTEGER PRIMARY KEY AUTOINCREMENT,
//     payload TEXT NOT NULL,          -- one event, canonical JSON
//     created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
//     consumed_at TEXT                -- set by tack once committed
//   );
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sources/source.hpp"

namespace tack {

struct OutboxSettings {
  std::string path;
  std::string table = "outbox";
  std::chrono::milliseconds poll_interval{200};
  int batch_size = 500;
};

OutboxSettings outbox_settings(const SourceConfig& config, const std::string& config_dir);

// For `tackd outbox init`: creates the table and its index if missing.
void init_outbox(const OutboxSettings& settings);
// For `tackd emit`: appends documents in one transaction; returns row ids.
std::vector<std::int64_t> append_to_outbox(const OutboxSettings& settings,
                                           const std::vector<std::string>& documents);
// Rows not yet consumed.
std::int64_t pending_in_outbox(const OutboxSettings& settings);

class SqliteOutbox : public Source {
 public:
  SqliteOutbox(std::string name, OutboxSettings settings, Intake& intake);
  ~SqliteOutbox() override;
  void start() override;
  void stop() override;

 private:
  void run();
  // Waits until the outbox's WAL changes, `timeout` passes or stop() is
  // called; false once stopping.
  bool pause(std::chrono::milliseconds timeout);
  std::string name_;
  OutboxSettings settings_;
  Intake& intake_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  int stop_fd_ = -1;     // eventfd: stop() wakes a pause in poll()
  int inotify_fd_ = -1;  // watches the outbox's -wal file; -1: poll only
  int watch_ = -1;
  // When the WAL last changed; rows may follow it by an fsync's time.
  std::chrono::steady_clock::time_point changed_at_{};
  static constexpr std::chrono::milliseconds kSettleTime{100};
  // A problem that persists (a missing table) is said again this often.
  static constexpr std::chrono::minutes kProblemReminder{5};
  std::thread thread_;
};

}  // namespace tack
