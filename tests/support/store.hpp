// Test helpers for code that uses the store contract (store/store.hpp).
#pragma once

#include <memory>
#include <string>

#include "store/store.hpp"

namespace tack::testing {

// The store tackd would open at `path`, created if need be.
inline std::unique_ptr<Store> open_test_store(const std::string& path) {
  StoreOptions options;
  options.location = path;
  return open_store(options);
}

inline const Lease kTestLease{"test-node", 10 * 60 * 1000};

}  // namespace tack::testing
