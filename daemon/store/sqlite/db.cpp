#include "store/sqlite/db.hpp"

#include <sqlite3.h>

#include <chrono>
#include <thread>

namespace tack {

namespace {

[[noreturn]] void fail(sqlite3* db, int code, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += db ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  throw SqliteError(code, message);
}

// Up to about 5 s, looking every millisecond. SQLite's own busy_timeout
// backs off to 100 ms sleeps, and a writer that holds the lock most of the
// time (a busy shop committing to its outbox every few milliseconds) can
// starve such a waiter for seconds.
int retry_while_busy(void*, int tries) {
  if (tries >= 5000) return 0;
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return 1;
}

}  // namespace

bool SqliteError::transient() const {
  switch (code_ & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
      return true;
    default:
      return false;
  }
}

Db::Db(const std::string& path, Mode mode) : path_(path) {
  // Before SQLite initializes (the first open): no global allocation
  // statistics, which take a process-wide mutex on every malloc.
  static const int configured = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)configured;
  int flags = mode == Mode::ReadOnly ? SQLITE_OPEN_READONLY
                                     : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = "cannot open " + path + ": " +
                          (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw SqliteError(rc, message);
  }
  sqlite3_extended_result_codes(db_, 1);
  // Another process (the shop writing the outbox, `tackd log`) may hold a
  // lock for a moment; wait rather than fail.
  sqlite3_busy_handler(db_, &retry_while_busy, nullptr);
}

Db::~Db() {
  for (auto& [sql, stmts] : idle_) {
    for (auto* stmt : stmts) sqlite3_finalize(stmt);
  }
  sqlite3_close_v2(db_);
}

void Db::exec(const std::string& sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string message = error ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    throw SqliteError(rc, message + " (in: " + sql.substr(0, 80) + ")");
  }
}

Stmt Db::prepare(std::string_view sql) {
  if (auto it = idle_.find(sql); it != idle_.end() && !it->second.empty()) {
    sqlite3_stmt* stmt = it->second.back();
    it->second.pop_back();
    --idle_count_;
    return Stmt(this, stmt);
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) fail(db_, rc, "prepare");
  return Stmt(this, stmt);
}

void Db::recycle(sqlite3_stmt* stmt) {
  // Statements built from varying SQL (an IN list of n ids) would pile up;
  // past a few hundred, new ones are simply finalized.
  constexpr std::size_t kMaxIdle = 256, kMaxTexts = 512;
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  if (idle_count_ < kMaxIdle) {
    const std::string_view sql = sqlite3_sql(stmt);
    auto it = idle_.find(sql);
    if (it == idle_.end() && idle_.size() < kMaxTexts) {
      it = idle_.emplace(std::string(sql), std::vector<sqlite3_stmt*>{}).first;
    }
    if (it != idle_.end()) {
      it->second.push_back(stmt);
      ++idle_count_;
      return;
    }
  }
  sqlite3_finalize(stmt);
}

std::int64_t Db::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
int Db::changes() const { return sqlite3_changes(db_); }

std::int64_t Db::total_changes() const { return sqlite3_total_changes64(db_); }

Stmt::Stmt(Stmt&& other) noexcept
    : owner_(other.owner_), db_(other.db_), stmt_(other.stmt_) {
  other.stmt_ = nullptr;
}

Stmt& Stmt::operator=(Stmt&& other) noexcept {
  if (this != &other) {
    if (stmt_) owner_->recycle(stmt_);
    owner_ = other.owner_;
    db_ = other.db_;
    stmt_ = other.stmt_;
    other.stmt_ = nullptr;
  }
  return *this;
}

Stmt::~Stmt() {
  if (stmt_) owner_->recycle(stmt_);
}

Stmt& Stmt::bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) fail(db_, rc, "bind");
  return *this;
}

Stmt& Stmt::bind(int index, std::string_view value) {
  int rc = sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8);
  if (rc != SQLITE_OK) fail(db_, rc, "bind");
  return *this;
}

Stmt& Stmt::bind_blob(int index, std::string_view bytes) {
  int rc = sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) fail(db_, rc, "bind");
  return *this;
}

Stmt& Stmt::bind_null(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) fail(db_, rc, "bind");
  return *this;
}

Stmt& Stmt::bind(int index, const std::optional<std::string>& value) {
  return value ? bind(index, *value) : bind_null(index);
}

bool Stmt::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_, rc, "step");
}

void Stmt::run() {
  while (step()) {
  }
  reset();
}

void Stmt::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Stmt::is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

std::int64_t Stmt::int64(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Stmt::text(int column) const {
  auto data = sqlite3_column_text(stmt_, column);
  if (!data) return {};
  return std::string(reinterpret_cast<const char*>(data),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::optional<std::string> Stmt::optional_text(int column) const {
  if (is_null(column)) return std::nullopt;
  return text(column);
}

// Prepared, not exec'd: the store runs these thousands of times a second,
// and a prepared statement comes back from the Db's cache.
Transaction::Transaction(Db& db, bool immediate) : db_(db) {
  db_.prepare(immediate ? "BEGIN IMMEDIATE" : "BEGIN").run();
}

Transaction::~Transaction() {
  if (!done_) {
    try {
      db_.prepare("ROLLBACK").run();
    } catch (...) {
      // A failed rollback leaves SQLite to roll back on the next statement.
    }
  }
}

void Transaction::commit() {
  db_.prepare("COMMIT").run();
  done_ = true;
}

}  // namespace tack
