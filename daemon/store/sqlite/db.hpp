// sqlite: the one owner of the SQLite C API. RAII handles for a connection
// and a prepared statement, and an exception type carrying SQLite's result
// code, so store and the sqlite_outbox source never touch sqlite3_* or a
// raw handle.
//
// Errors throw SqliteError: SQLite work happens on the store's writer
// thread or a source's thread inside a transaction, where one exception
// rolls back one unit of work cleanly. Nothing here is thread-safe: a Db is
// used by one thread at a time.
//
// A Db keeps the statements it prepared: a Stmt going out of scope is reset
// and handed back, and the next prepare() of the same SQL takes it again
// instead of compiling it anew (the store runs the same few statements tens
// of thousands of times a second). Every Stmt must be gone before its Db.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace tack {

class SqliteError : public std::runtime_error {
 public:
  SqliteError(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }
  // Disk full, I/O error, locked or busy: the fault may clear by itself.
  bool transient() const;

 private:
  int code_;
};

class Stmt;

class Db {
 public:
  enum class Mode { ReadWrite, ReadOnly };
  Db(const std::string& path, Mode mode = Mode::ReadWrite);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  void exec(const std::string& sql);
  Stmt prepare(std::string_view sql);
  std::int64_t last_insert_rowid() const;
  int changes() const;
  // Rows changed by this connection since it opened.
  std::int64_t total_changes() const;
  const std::string& path() const { return path_; }

 private:
  friend class Stmt;
  // Takes back a statement that is done with (reset, bindings cleared).
  void recycle(sqlite3_stmt* stmt);
  // Looks up SQL text by string_view without building a std::string, and
  // hashes only its length, head and tail: the store's statements are a few
  // hundred bytes long and looked up tens of times per event, and equal
  // hashes are told apart by comparing the whole text anyway.
  struct SqlHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view sql) const noexcept {
      constexpr std::size_t kHead = 24, kTail = 48;
      if (sql.size() <= kHead + kTail) return std::hash<std::string_view>{}(sql);
      const std::size_t head = std::hash<std::string_view>{}(sql.substr(0, kHead));
      const std::size_t tail = std::hash<std::string_view>{}(sql.substr(sql.size() - kTail));
      return head ^ (tail * 31) ^ (sql.size() * 0x9e3779b97f4a7c15ULL);
    }
  };
  sqlite3* db_ = nullptr;
  std::string path_;
  // Idle prepared statements by their SQL text. A statement's entry stays
  // when it is taken, so the hot path allocates nothing.
  std::unordered_map<std::string, std::vector<sqlite3_stmt*>, SqlHash, std::equal_to<>> idle_;
  std::size_t idle_count_ = 0;
};

class Stmt {
 public:
  Stmt(Stmt&& other) noexcept;
  Stmt& operator=(Stmt&& other) noexcept;
  ~Stmt();

  // Binds are 1-based like SQLite's; chainable.
  Stmt& bind(int index, std::int64_t value);
  Stmt& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  Stmt& bind(int index, std::string_view value);
  Stmt& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
  Stmt& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
  Stmt& bind_null(int index);
  // Bytes as a BLOB (a hash), never read as text.
  Stmt& bind_blob(int index, std::string_view bytes);
  Stmt& bind(int index, const std::optional<std::string>& value);

  // Steps once: true while a row is available.
  bool step();
  // Steps to completion (for writes).
  void run();
  void reset();

  bool is_null(int column) const;
  std::int64_t int64(int column) const;
  std::string text(int column) const;
  std::optional<std::string> optional_text(int column) const;

 private:
  friend class Db;
  Stmt(Db* owner, sqlite3_stmt* stmt) : owner_(owner), db_(owner->db_), stmt_(stmt) {}
  Db* owner_ = nullptr;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

// Runs SQL in a transaction; rolls back unless commit() was called.
class Transaction {
 public:
  explicit Transaction(Db& db, bool immediate = true);
  ~Transaction();
  void commit();

 private:
  Db& db_;
  bool done_ = false;
};

}  // namespace tack
