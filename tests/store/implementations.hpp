// The store implementations the contract tests (contract_test.cpp) run
// against, one entry each. What the contract cannot say for itself lives
// here: where a test's store is, and how to leave one behind with a schema
// older than this tackd's. A new implementation (a shared database) adds an
// entry and passes contract_test.cpp unchanged.
#pragma once

#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "store/sqlite/db.hpp"
#include "support/temp_dir.hpp"

namespace tack::testing {

struct StoreImplementation {
  std::string name;
  // A location for a new, empty store of this kind, private to one test.
  std::function<std::string(const TempDir& dir)> location;
  // Leaves a store at `location` with a schema older than this tackd's
  // (one that Access::Owner would upgrade).
  std::function<void(const std::string& location)> make_older_schema;
};

inline const std::vector<StoreImplementation>& store_implementations() {
  static const std::vector<StoreImplementation> all = {
      {
          "sqlite",
          [](const TempDir& dir) { return dir.file("tack.db"); },
          [](const std::string& location) {
            // The fixture of a version 4 store, as that version wrote it.
            std::ifstream in(std::string(TACK_SOURCE_DIR) + "/tests/fixtures/store-v4.sql");
            if (!in) throw std::runtime_error("cannot read tests/fixtures/store-v4.sql");
            std::stringstream sql;
            sql << in.rdbuf();
            Db db(location);
            db.exec(sql.str());
          },
      },
  };
  return all;
}

}  // namespace tack::testing
