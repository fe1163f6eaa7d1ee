#include "support/faulty_vfs.hpp"

#include <sqlite3.h>

#include <cstring>
#include <memory>

namespace tack::testing {

namespace {

FaultyVfs* g_active = nullptr;

// A file of the wrapping VFS: our io_methods first, then the real file.
struct File {
  sqlite3_file base;
  sqlite3_file* real;
};

sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }

int fail_write() {
  switch (g_active ? g_active->fault() : FaultyVfs::Fault::None) {
    case FaultyVfs::Fault::DiskFull:
      g_active->count_failure();
      return SQLITE_FULL;
    case FaultyVfs::Fault::IoError:
      g_active->count_failure();
      return SQLITE_IOERR_WRITE;
    default:
      return SQLITE_OK;
  }
}

int x_close(sqlite3_file* f) {
  auto* real = real_of(f);
  int rc = real->pMethods ? real->pMethods->xClose(real) : SQLITE_OK;
  sqlite3_free(real);
  return rc;
}
int x_read(sqlite3_file* f, void* buf, int amt, sqlite3_int64 off) {
  return real_of(f)->pMethods->xRead(real_of(f), buf, amt, off);
}
int x_write(sqlite3_file* f, const void* buf, int amt, sqlite3_int64 off) {
  if (int rc = fail_write()) return rc;
  return real_of(f)->pMethods->xWrite(real_of(f), buf, amt, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (int rc = fail_write()) return rc;
  return real_of(f)->pMethods->xTruncate(real_of(f), size);
}
int x_sync(sqlite3_file* f, int flags) {
  if (g_active && g_active->fault() == FaultyVfs::Fault::SyncError) {
    g_active->count_failure();
    return SQLITE_IOERR_FSYNC;
  }
  return real_of(f)->pMethods->xSync(real_of(f), flags);
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return real_of(f)->pMethods->xFileSize(real_of(f), size);
}
int x_lock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xLock(real_of(f), level); }
int x_unlock(sqlite3_file* f, int level) {
  return real_of(f)->pMethods->xUnlock(real_of(f), level);
}
int x_check_reserved(sqlite3_file* f, int* out) {
  return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
  return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
int x_sector_size(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
int x_device_characteristics(sqlite3_file* f) {
  return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}
int x_shm_map(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
  return real_of(f)->pMethods->xShmMap(real_of(f), page, size, extend, out);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }
int x_shm_unmap(sqlite3_file* f, int del) {
  return real_of(f)->pMethods->xShmUnmap(real_of(f), del);
}

const sqlite3_io_methods kMethods = {
    2,           x_close,        x_read,        x_write,         x_truncate,
    x_sync,      x_file_size,    x_lock,        x_unlock,        x_check_reserved,
    x_file_control, x_sector_size, x_device_characteristics, x_shm_map, x_shm_lock,
    x_shm_barrier, x_shm_unmap,  nullptr,       nullptr,
};

int x_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  auto* real_vfs = static_cast<sqlite3_vfs*>(vfs->pAppData);
  auto* file = reinterpret_cast<File*>(f);
  file->real = static_cast<sqlite3_file*>(sqlite3_malloc(real_vfs->szOsFile));
  if (!file->real) return SQLITE_NOMEM;
  std::memset(file->real, 0, static_cast<std::size_t>(real_vfs->szOsFile));
  int rc = real_vfs->xOpen(real_vfs, name, file->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    sqlite3_free(file->real);
    file->real = nullptr;
    file->base.pMethods = nullptr;
    return rc;
  }
  file->base.pMethods = &kMethods;
  return SQLITE_OK;
}

}  // namespace

FaultyVfs::FaultyVfs() {
  real_ = sqlite3_vfs_find(nullptr);
  vfs_ = new sqlite3_vfs(*real_);
  vfs_->zName = "tack-test-faulty";
  vfs_->szOsFile = static_cast<int>(sizeof(File));
  vfs_->pAppData = real_;
  vfs_->xOpen = x_open;
  // Everything else (delete, access, full pathname, randomness, time...)
  // is the real VFS's own, with the real VFS as its argument.
  vfs_->xDelete = [](sqlite3_vfs* v, const char* n, int sync) {
    auto* r = static_cast<sqlite3_vfs*>(v->pAppData);
    return r->xDelete(r, n, sync);
  };
  vfs_->xAccess = [](sqlite3_vfs* v, const char* n, int flags, int* out) {
    auto* r = static_cast<sqlite3_vfs*>(v->pAppData);
    return r->xAccess(r, n, flags, out);
  };
  vfs_->xFullPathname = [](sqlite3_vfs* v, const char* n, int size, char* out) {
    auto* r = static_cast<sqlite3_vfs*>(v->pAppData);
    return r->xFullPathname(r, n, size, out);
  };
  vfs_->xDlOpen = nullptr;
  vfs_->xDlError = nullptr;
  vfs_->xDlSym = nullptr;
  vfs_->xDlClose = nullptr;
  vfs_->xRandomness = [](sqlite3_vfs* v, int n, char* out) {
    auto* r = static_cast<sqlite3_vfs*>(v->pAppData);
    return r->xRandomness(r, n, out);
  };
  vfs_->xSleep = [](sqlite3_vfs* v, int us) {
    auto* r = static_cast<sqlite3_vfs*>(v->pAppData);
    return r->xSleep(r, us);
  };
  vfs_->xCurrentTime = [](sqlite3_vfs* v, double* out) {
    auto* r = static_cast<sqlite3_vfs*>(v->pAppData);
    return r->xCurrentTime(r, out);
  };
  vfs_->xGetLastError = [](sqlite3_vfs* v, int n, char* out) {
    auto* r = static_cast<sqlite3_vfs*>(v->pAppData);
    return r->xGetLastError(r, n, out);
  };
  vfs_->xCurrentTimeInt64 = [](sqlite3_vfs* v, sqlite3_int64* out) {
    auto* r = static_cast<sqlite3_vfs*>(v->pAppData);
    return r->xCurrentTimeInt64(r, out);
  };
  vfs_->iVersion = 2;  // no syscall overrides
  g_active = this;
  sqlite3_vfs_register(vfs_, 1);
}

FaultyVfs::~FaultyVfs() {
  sqlite3_vfs_unregister(vfs_);
  g_active = nullptr;
  delete vfs_;
}

}  // namespace tack::testing
