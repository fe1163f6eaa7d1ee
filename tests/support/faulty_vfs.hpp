// faulty_vfs: a SQLite VFS for tests that wraps the default one and fails
// writes or syncs on demand, as a full disk, a failing disk or a failing
// fsync would. Registered as the default VFS while a FaultyVfs lives, so the
// code under test opens its files through it unchanged.
#pragma once

#include <atomic>

struct sqlite3_vfs;

namespace tack::testing {

class FaultyVfs {
 public:
  enum class Fault { None, DiskFull, IoError, SyncError };

  FaultyVfs();
  ~FaultyVfs();
  FaultyVfs(const FaultyVfs&) = delete;
  FaultyVfs& operator=(const FaultyVfs&) = delete;

  void inject(Fault fault) { fault_.store(fault); }
  Fault fault() const { return fault_.load(); }
  int failures() const { return failures_.load(); }
  void count_failure() { ++failures_; }

 private:
  std::atomic<Fault> fault_{Fault::None};
  std::atomic<int> failures_{0};
  sqlite3_vfs* real_ = nullptr;
  sqlite3_vfs* vfs_ = nullptr;
};

}  // namespace tack::testing
