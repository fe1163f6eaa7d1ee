#include "secrets.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <map>
#include <optional>

namespace tack {

namespace {

// Who besides the owner may read a file of this mode; null when no one.
const char* readers_besides_owner(unsigned mode) {
  if ((mode & 044u) == 0) return nullptr;
  return (mode & 040u) && (mode & 004u) ? "its group and all users"
         : (mode & 040u)                ? "its group"
                                        : "all users";
}

// The permission bits of `path`, or nullopt when it cannot be stat'ed.
std::optional<unsigned> permission_bits(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<unsigned>(st.st_mode) & 07777u;
}

}  // namespace

std::vector<ReadableSecret> readable_secret_files(const SecretsPolicy& policy) {
  // One finding per file, naming every secret it holds.
  std::map<std::string, std::vector<std::string>> by_path;
  std::map<std::string, bool> holds_inline;
  std::vector<std::string> order;
  for (const auto& file : policy.files) {
    auto [it, added] = by_path.try_emplace(file.path);
    if (added) order.push_back(file.path);
    it->second.push_back(file.key);
    holds_inline[file.path] = holds_inline[file.path] || file.inline_value;
  }
  std::vector<ReadableSecret> found;
  for (const auto& path : order) {
    // A file that cannot be stat'ed was read a moment ago by the loader;
    // if it is gone now, there is nothing left to protect.
    const auto mode = permission_bits(path);
    if (!mode) continue;
    const char* who = readers_besides_owner(*mode);
    if (!who) continue;
    ReadableSecret r;
    r.path = path;
    r.mode = *mode;
    r.message = fmt::format(
        "secrets: {} holds the secret{} {} and can be read by {} (mode {:04o}); run chmod 600 "
        "{}{}",
        path, by_path[path].size() > 1 ? "s" : "", fmt::join(by_path[path], ", "), who, *mode, path,
        holds_inline[path] ? ", or move the secrets out of it into ${ENV} or *_file keys" : "");
    found.push_back(std::move(r));
  }
  return found;
}

std::vector<ReadableSecret> readable_store_files(const std::string& store_path) {
  std::vector<ReadableSecret> found;
  // SQLite gives -wal and -shm the mode of the database when it makes them,
  // so a store made before tackd set its umask has all three open.
  for (const auto& path : {store_path, store_path + "-wal", store_path + "-shm"}) {
    const auto mode = permission_bits(path);
    if (!mode) continue;
    const char* who = readers_besides_owner(*mode);
    if (!who) continue;
    ReadableSecret r;
    r.path = path;
    r.mode = *mode;
    r.message = fmt::format(
        "store: {} holds personal data (names, phone numbers, e-mail addresses, events) and can "
        "be read by {} (mode {:04o}); run chmod 600 {}",
        path, who, *mode, path);
    found.push_back(std::move(r));
  }
  return found;
}

}  // namespace tack
