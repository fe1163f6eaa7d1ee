#include "log.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace tack::log {

namespace {
std::atomic<int> g_level{static_cast<int>(Level::Info)};
std::mutex g_mutex;
}  // namespace

void set_level(Level level) { g_level = static_cast<int>(level); }

bool set_level(std::string_view name) {
  if (name == "debug") set_level(Level::Debug);
  else if (name == "info") set_level(Level::Info);
  else if (name == "notice") set_level(Level::Notice);
  else if (name == "warning") set_level(Level::Warning);
  else if (name == "error") set_level(Level::Error);
  else return false;
  return true;
}

bool enabled(Level level) { return static_cast<int>(level) <= g_level.load(); }

void write(Level level, std::string_view line) {
  if (!enabled(level)) return;
  std::string out = "<" + std::to_string(static_cast<int>(level)) + ">";
  // One event per line: a newline inside would let data forge a log line.
  for (char c : line) out.push_back(c == '\n' || c == '\r' ? ' ' : c);
  out.push_back('\n');
  std::lock_guard lock(g_mutex);
  std::fwrite(out.data(), 1, out.size(), stderr);
  std::fflush(stderr);
}

}  // namespace tack::log
