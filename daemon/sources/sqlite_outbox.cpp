#include "sources/sqlite_outbox.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <regex>

#include "intake.hpp"
#include "log.hpp"
#include "store/sqlite/db.hpp"

namespace tack {

namespace {

bool valid_identifier(const std::string& name) {
  static const std::regex pattern("[A-Za-z_][A-Za-z0-9_]{0,62}");
  return std::regex_match(name, pattern);
}

std::unique_ptr<Db> open_outbox(const OutboxSettings& s) {
  auto db = std::make_unique<Db>(s.path);
  db->exec("PRAGMA journal_mode = WAL");
  db->exec("PRAGMA synchronous = FULL");
  return db;
}

}  // namespace

OutboxSettings outbox_settings(const SourceConfig& config, const std::string& config_dir) {
  OutboxSettings s;
  // The loader checked the keys' names and types; these are the values'.
  auto text = [&](const char* key) -> std::optional<std::string> {
    const SettingValue* value = config.settings.find(key);
    if (!value || value->shape != SettingValue::Shape::Text) return std::nullopt;
    return value->text;
  };
  std::filesystem::path path = text("path").value_or("");
  if (path.empty()) throw std::runtime_error("source " + config.name + ": path is required");
  if (path.is_relative() && !config_dir.empty()) path = std::filesystem::path(config_dir) / path;
  s.path = path.string();
  if (auto table = text("table")) s.table = *table;
  if (!valid_identifier(s.table)) {
    throw std::runtime_error("source " + config.name + ": table \"" + s.table +
                             "\" is not a plain SQL identifier");
  }
  if (auto interval = text("poll_interval")) {
    auto d = parse_duration(*interval);
    if (!d || d->count() <= 0) throw std::runtime_error("source " + config.name + ": bad poll_interval");
    s.poll_interval = *d;
  }
  if (auto batch = text("batch_size")) {
    const auto value = parse_int(*batch);
    if (!value || *value < 1 || *value > 100000) {
      throw std::runtime_error("source " + config.name + ": batch_size must be 1..100000");
    }
    s.batch_size = static_cast<int>(*value);
  }
  return s;
}

void init_outbox(const OutboxSettings& s) {
  if (!valid_identifier(s.table)) throw std::runtime_error("bad table name " + s.table);
  auto db = open_outbox(s);
  db->exec("CREATE TABLE IF NOT EXISTS " + s.table +
           " (id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL, created_at TEXT NOT "
           "NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), consumed_at TEXT)");
  db->exec("CREATE INDEX IF NOT EXISTS " + s.table + "_pending ON " + s.table +
           " (id) WHERE consumed_at IS NULL");
}

std::vector<std::int64_t> append_to_outbox(const OutboxSettings& s,
                                           const std::vector<std::string>& documents) {
  auto db = open_outbox(s);
  std::vector<std::int64_t> ids;
  Transaction tx(*db);
  auto insert = db->prepare("INSERT INTO " + s.table + " (payload) VALUES (?1)");
  for (const auto& d : documents) {
    insert.bind(1, d).run();
    ids.push_back(db->last_insert_rowid());
  }
  tx.commit();
  return ids;
}

std::int64_t pending_in_outbox(const OutboxSettings& s) {
  auto db = open_outbox(s);
  auto q = db->prepare("SELECT COUNT(*) FROM " + s.table + " WHERE consumed_at IS NULL");
  return q.step() ? q.int64(0) : 0;
}

SqliteOutbox::SqliteOutbox(std::string name, OutboxSettings settings, Intake& intake)
    : name_(std::move(name)), settings_(std::move(settings)), intake_(intake) {}

SqliteOutbox::~SqliteOutbox() {
  stop();
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

void SqliteOutbox::start() {
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  inotify_fd_ = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  thread_ = std::thread([this] { run(); });
}

void SqliteOutbox::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (stop_fd_ >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
}

bool SqliteOutbox::pause(std::chrono::milliseconds timeout) {
  // The WAL exists once a connection in WAL mode is open (ours is); it is
  // watched on first use and again whenever the watch was lost.
  if (inotify_fd_ >= 0 && watch_ < 0) {
    watch_ = ::inotify_add_watch(inotify_fd_, (settings_.path + "-wal").c_str(),
                                 IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF);
  }
  if (inotify_fd_ < 0 || watch_ < 0 || stop_fd_ < 0) {
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, timeout, [&] { return stopping_; });
    return !stopping_;
  }
  pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  ::poll(fds, 2, static_cast<int>(timeout.count()));
  if (fds[0].revents & POLLIN) {
    changed_at_ = std::chrono::steady_clock::now();
    // Drain every queued notice: one query below serves them all.
    alignas(inotify_event) char buffer[4096];
    ssize_t got;
    while ((got = ::read(inotify_fd_, buffer, sizeof buffer)) > 0) {
      for (char* at = buffer; at < buffer + got;) {
        auto* event = reinterpret_cast<inotify_event*>(at);
        if (event->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) watch_ = -1;
        at += sizeof(inotify_event) + event->len;
      }
    }
  }
  std::lock_guard lock(mutex_);
  return !stopping_;
}

void SqliteOutbox::run() {
  pthread_setname_np(pthread_self(), "tack-outbox");
  std::unique_ptr<Db> db;
  auto stopping = [&] {
    std::lock_guard lock(mutex_);
    return stopping_;
  };
  // A missing table (tackd started before the shop created it), a locked
  // or migrating database: looked at again every second, said once, then
  // every few minutes, and once more when it is over.
  log::RepeatedProblem problem_report(kProblemReminder);
  bool missing_table = false;
  bool announced = false;
  std::string said_problem;
  auto problem_since = std::chrono::steady_clock::now();
  while (!stopping()) {
    try {
      if (!db) db = open_outbox(settings_);
      std::vector<std::int64_t> ids;
      std::vector<std::string> payloads;
      {
        auto select = db->prepare("SELECT id, payload FROM " + settings_.table +
                                  " WHERE consumed_at IS NULL ORDER BY id LIMIT ?1");
        select.bind(1, settings_.batch_size);
        while (select.step()) {
          ids.push_back(select.int64(0));
          payloads.push_back(select.text(1));
        }
      }
      if (problem_report.ended()) {
        log::info("source {}: table {} {} in {}; reading it", name_, settings_.table,
                  missing_table ? "is there now" : "can be read again", settings_.path);
        announced = true;
      } else if (!announced) {
        log::info("source {}: reading {} in {}", name_, settings_.table, settings_.path);
        announced = true;
      }
      missing_table = false;
      said_problem.clear();
      if (ids.empty()) {
        // The WAL changes when the shop's commit is written, but the rows
        // become visible only once it is synced and indexed, a few
        // milliseconds later: after a change, look again every millisecond
        // for a while rather than wait for the next notice.
        auto wait = settings_.poll_interval;
        if (std::chrono::steady_clock::now() - changed_at_ < kSettleTime) {
          wait = std::min(wait, std::chrono::milliseconds(1));
        }
        if (!pause(wait)) break;
        continue;
      }
      auto batch = intake_.submit_and_wait(std::move(payloads), name_);
      if (!batch.error.empty()) {
        // Nothing was committed: leave the rows for the next round.
        log::error("source {}: intake could not commit {} events: {}", name_, ids.size(),
                   batch.error);
        if (!pause(std::chrono::seconds(1))) break;
        continue;
      }
      for (std::size_t i = 0; i < batch.results.size(); ++i) {
        const auto& r = batch.results[i];
        if (r.verdict == EventVerdict::Rejected) {
          log::warning("source {}: outbox row {} rejected: {}", name_, ids[i], r.reason);
        }
      }
      Transaction tx(*db);
      auto mark = db->prepare("UPDATE " + settings_.table +
                              " SET consumed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                              "WHERE id = ?1");
      for (auto id : ids) mark.bind(1, id).run();
      tx.commit();
    } catch (const std::exception& e) {
      // The shop's database may be missing, locked or being migrated: say so
      // once, keep trying.
      std::string problem = e.what();
      missing_table = problem.find("no such table") != std::string::npos;
      if (missing_table) {
        problem = "table " + settings_.table + " does not exist in " + settings_.path +
                  " yet; create it with `tackd outbox init` (waiting for it)";
      }
      const auto now = std::chrono::steady_clock::now();
      if (problem != said_problem) problem_since = now;
      if (problem_report.should_say(problem, now)) {
        if (problem == said_problem) {
          log::error("source {}: {} (still, for {} min)", name_, problem,
                     std::chrono::duration_cast<std::chrono::minutes>(now - problem_since).count());
        } else {
          log::error("source {}: {}", name_, problem);
        }
        said_problem = problem;
      }
      db.reset();
      if (!pause(std::chrono::seconds(1))) break;
    }
  }
}

}  // namespace tack
