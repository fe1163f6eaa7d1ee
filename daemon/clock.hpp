// clock: the wall clock as tack stores it, milliseconds since the Unix
// epoch. Read only at the edges (app, the CLI, the HTTP routes); everything
// pure takes the time as an argument.
#pragma once

#include <chrono>
#include <cstdint>

namespace tack {

inline std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace tack
