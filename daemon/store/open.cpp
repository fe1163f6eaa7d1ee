// The store implementations, by how a location names them. SQLite (a file
// path) is the only one today; a postgresql:// location will be the next.
#include <unistd.h>

#include <climits>

#include "store/sqlite/sqlite_store.hpp"
#include "store/store.hpp"

namespace tack {

std::unique_ptr<Store> open_store(const StoreOptions& options) {
  try {
    std::unique_ptr<Db> writer;
    switch (options.access) {
      case StoreOptions::Access::Owner:
        writer = sqlite::open_owner(options.location, options.synchronous_full);
        break;
      case StoreOptions::Access::Beside: writer = sqlite::open_beside(options.location); break;
      case StoreOptions::Access::ReadOnly: break;
    }
    return std::make_unique<sqlite::SqliteStore>(std::move(writer), options.location,
                                                 options.readers, options.max_batch);
  } catch (const SqliteError& e) {
    throw StoreError(e.what(), e.transient());
  }
}

std::string this_owner() {
  // A claim's owner outlives the process: a tackd that restarts on the same
  // host takes back what it left in flight at once (store.hpp).
  char host[HOST_NAME_MAX + 1] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "localhost";
  return host;
}

}  // namespace tack
