// config_errors: what the config loader, the template loader and `tackd
// check` report: each problem with its file, line and column, so ops fix a
// config in one pass. Positions are 1-based; 0 means the problem has none
// (a missing file, a whole-document problem).
#pragma once

#include <string>
#include <vector>

namespace tack {

struct ConfigError {
  std::string file;
  int line = 0;    // 1-based; 0 when the error has no position
  int column = 0;  // 1-based
  std::string message;
  std::string to_string() const;  // "file:line:column: message"
};

struct ConfigErrors {
  std::vector<ConfigError> items;
  std::string file;  // file the positions below refer to
  void add(int line, int column, std::string message);  // 1-based; 0: no position
  void add(std::string message);                        // no position
  bool empty() const { return items.empty(); }
  std::string to_string() const;  // one error per line
};

}  // namespace tack
