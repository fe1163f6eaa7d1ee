#include "store/sqlite/sqlite_store.hpp"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.hpp"

namespace tack::sqlite {

namespace {

// How much lower than the writer and the event loop a reader runs.
constexpr int kReaderNice = 10;

std::string describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return *ex.what() ? ex.what() : "unnamed error";
  } catch (...) {
    return "unknown exception";
  }
}
}  // namespace

SqliteStore::SqliteStore(std::unique_ptr<Db> writer, const std::string& path, int readers,
                         std::size_t max_batch)
    : db_(std::move(writer)), path_(path), max_batch_(max_batch) {
  // Opened here, not on their threads, so that a store that cannot be read
  // fails to open instead of failing every query later.
  std::vector<std::unique_ptr<Db>> connections;
  if (readers <= 0) readers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency() / 2));
  for (int i = 0; i < readers; ++i) connections.push_back(open_readonly(path));
  if (db_) writer_ = std::thread([this] { write_loop(); });
  for (auto& db : connections) {
    readers_.emplace_back([this, db = std::move(db)]() mutable { read_loop(std::move(db)); });
  }
}

SqliteStore::~SqliteStore() { close(); }

void SqliteStore::submit(Work work, Done done) {
  enqueue(Job{std::move(work), std::move(done), false});
}

void SqliteStore::submit_rehearsal(Work work, Done done) {
  enqueue(Job{std::move(work), std::move(done), true});
}

void SqliteStore::enqueue(Job job) {
  std::string refused;
  {
    std::lock_guard lock(mutex_);
    if (!db_) {
      refused = "the store is open read-only";
    } else if (closing_) {
      refused = "store is closed";
    } else {
      queue_.push_back(std::move(job));
    }
  }
  if (!refused.empty()) {
    // Late work after close: refuse it rather than lose it silently.
    if (job.done) job.done(refused);
    return;
  }
  wake_.notify_one();
}

bool SqliteStore::scrub() {
  // Any connection may checkpoint; a fresh one keeps this off the writer's
  // thread and outside its transactions.
  Db db(path_);
  auto checkpoint = db.prepare("PRAGMA wal_checkpoint(TRUNCATE)");
  return checkpoint.step() && checkpoint.int64(0) == 0;
}

void SqliteStore::submit_read(Query query, Done done) {
  {
    std::lock_guard lock(mutex_);
    if (!closing_) {
      reads_.push_back(ReadJob{std::move(query), std::move(done)});
      query = nullptr;
    }
  }
  if (query) {
    if (done) done("store is closed");
    return;
  }
  wake_readers_.notify_one();
}

void SqliteStore::close() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  wake_.notify_all();
  wake_readers_.notify_all();
  if (writer_.joinable()) writer_.join();
  for (auto& reader : readers_) {
    if (reader.joinable()) reader.join();
  }
}

bool SqliteStore::healthy() const {
  std::lock_guard lock(mutex_);
  return healthy_;
}

std::string SqliteStore::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

void SqliteStore::on_state_changes(StateChangeListener listener) {
  std::lock_guard lock(mutex_);
  state_listener_ = std::move(listener);
}

void SqliteStore::note_state_changes() {
  if (noting_state_changes_) return;
  db_->exec(
      "CREATE TEMP TABLE IF NOT EXISTS tack_state_changes (channel TEXT NOT NULL, gateway TEXT "
      "NOT NULL, state TEXT NOT NULL, created INTEGER NOT NULL);"
      "CREATE TEMP TRIGGER IF NOT EXISTS tack_message_created AFTER INSERT ON main.messages "
      "BEGIN INSERT INTO tack_state_changes VALUES (NEW.channel, NEW.gateway, NEW.state, 1); END;"
      "CREATE TEMP TRIGGER IF NOT EXISTS tack_message_state AFTER UPDATE OF state ON "
      "main.messages WHEN OLD.state IS NOT NEW.state "
      "BEGIN INSERT INTO tack_state_changes VALUES (NEW.channel, NEW.gateway, NEW.state, 0); END;");
  noting_state_changes_ = true;
}

void SqliteStore::report_state_changes(const StateChangeListener& listener) {
  std::vector<StateChange> changes;
  bool noted = false;
  {
    auto rows = db_->prepare(
        "SELECT channel, gateway, state, created, count(*) FROM temp.tack_state_changes "
        "GROUP BY channel, gateway, state, created");
    while (rows.step()) {
      noted = true;
      auto state = parse_state(rows.text(2));
      if (!state) continue;  // a state this tackd does not know: not its to count
      changes.push_back(
          StateChange{rows.text(0), rows.text(1), *state, rows.int64(3) != 0, rows.int64(4)});
    }
  }
  if (!noted) return;
  db_->prepare("DELETE FROM temp.tack_state_changes").run();
  if (!changes.empty()) listener(changes);
}

void SqliteStore::read_loop(std::unique_ptr<Db> db) {
  pthread_setname_np(pthread_self(), "tack-read");
  // Support reads yield the CPU to intake and sending: on Linux a thread's
  // nice value is its own. Failing to lower it costs nothing but that.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kReaderNice);
  Reader reader(*db);
  for (;;) {
    ReadJob job;
    {
      std::unique_lock lock(mutex_);
      wake_readers_.wait(lock, [&] { return closing_ || !reads_.empty(); });
      if (reads_.empty()) return;  // closing, and every query answered
      job = std::move(reads_.front());
      reads_.pop_front();
    }
    std::string error;
    try {
      // One snapshot for the whole query: an order's timeline reads several
      // tables and must not see a batch land halfway.
      Transaction snapshot(*db, false);
      job.query(reader);
      snapshot.commit();
    } catch (...) {
      error = "query failed: " + describe(std::current_exception());
    }
    if (!job.done) continue;
    try {
      job.done(error);
    } catch (...) {
      // A caller's callback must not take a reader down with it.
    }
  }
}

void SqliteStore::note_health(const std::string& batch_error, bool wrote) {
  const auto now = std::chrono::steady_clock::now();
  bool was_healthy;
  {
    std::lock_guard lock(mutex_);
    was_healthy = healthy_;
    // A batch that wrote nothing commits even on a full disk: only a write
    // proves the store works again.
    if (batch_error.empty() && !wrote && !healthy_) return;
    healthy_ = batch_error.empty();
    if (!batch_error.empty()) last_error_ = batch_error;
  }
  if (batch_error.empty()) {
    if (!was_healthy) {
      const auto seconds =
          std::chrono::duration_cast<std::chrono::seconds>(now - failing_since_).count();
      log::warning("store: writing again after {} s of failures; intake and sending resume",
                   seconds);
    }
    return;
  }
  // Loud at the first failure and once a minute while it lasts, not once
  // per batch: a full disk must not also fill the journal.
  if (was_healthy) {
    failing_since_ = now;
    last_alarm_ = now;
    log::error("store: {} -- tackd accepts no events and sends nothing until the store can "
               "write again (disk full? I/O error? locked by another process?)",
               batch_error);
  } else if (now - last_alarm_ >= std::chrono::minutes(1)) {
    last_alarm_ = now;
    log::error("store: still cannot write after {} s: {}",
               std::chrono::duration_cast<std::chrono::seconds>(now - failing_since_).count(),
               batch_error);
  }
}

void SqliteStore::write_loop() {
  // Named for `top -H` and perf (at most 15 characters).
  pthread_setname_np(pthread_self(), "tack-store");
  std::vector<Job> batch;
  std::vector<std::string> errors;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty() && closing_) return;
      while (!queue_.empty() && batch.size() < max_batch_) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    errors.assign(batch.size(), std::string());
    std::string batch_error;
    StateChangeListener listener;
    {
      std::lock_guard lock(mutex_);
      listener = state_listener_;
    }
    if (listener) {
      try {
        note_state_changes();
      } catch (const std::exception& e) {
        // Counting is not worth failing the work over: said once, then off.
        log::warning("store: message states cannot be counted for metrics: {}", e.what());
        std::lock_guard lock(mutex_);
        state_listener_ = nullptr;
        listener = nullptr;
      }
    }
    const auto changes_before = db_->total_changes();
    try {
      Transaction tx(*db_);
      Tx unit(*db_);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        db_->prepare("SAVEPOINT job").run();
        try {
          batch[i].work(unit);
          if (batch[i].rehearsal) db_->prepare("ROLLBACK TO job").run();
          db_->prepare("RELEASE job").run();
        } catch (const SqliteError& e) {
          // Disk full, I/O error, locked: the store is failing, not this
          // unit. Fail the whole batch so nobody is told "committed".
          if (e.transient()) throw;
          errors[i] = std::string("unit of work failed: ") + e.what();
          db_->prepare("ROLLBACK TO job").run();
          db_->prepare("RELEASE job").run();
        } catch (...) {
          // Never empty: an empty error means committed to the caller.
          errors[i] = std::string("unit of work failed: ") + describe(std::current_exception());
          db_->prepare("ROLLBACK TO job").run();
          db_->prepare("RELEASE job").run();
        }
      }
      tx.commit();
    } catch (...) {
      batch_error = "store cannot write: " + describe(std::current_exception());
    }
    note_health(batch_error, db_->total_changes() != changes_before);
    if (listener && noting_state_changes_) {
      try {
        // A batch that failed rolled its notes back with it.
        if (batch_error.empty()) report_state_changes(listener);
      } catch (...) {
        // Metrics must not take the writer down; what was noted is dropped.
        try {
          db_->exec("DELETE FROM temp.tack_state_changes");
        } catch (...) {
        }
      }
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!batch[i].done) continue;
      try {
        batch[i].done(batch_error.empty() ? errors[i] : batch_error);
      } catch (...) {
        // A caller's callback must not take the writer thread down with it.
      }
    }
    batch.clear();
  }
}

}  // namespace tack::sqlite
