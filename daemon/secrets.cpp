#include "secrets.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <map>

namespace tack {

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
    struct stat st {};
    // A file that cannot be stat'ed was read a moment ago by the loader;
    // if it is gone now, there is nothing left to protect.
    if (::stat(path.c_str(), &st) != 0) continue;
    const unsigned mode = static_cast<unsigned>(st.st_mode) & 07777u;
    if ((mode & 044u) == 0) continue;
    const char* who = (mode & 040u) && (mode & 004u) ? "its group and all users"
                      : (mode & 040u)                ? "its group"
                                                     : "all users";
    ReadableSecret r;
    r.path = path;
    r.mode = mode;
    r.message = fmt::format(
        "secrets: {} holds the secret{} {} and can be read by {} (mode {:04o}); run chmod 600 "
        "{}{}",
        path, by_path[path].size() > 1 ? "s" : "", fmt::join(by_path[path], ", "), who, mode, path,
        holds_inline[path] ? ", or move the secrets out of it into ${ENV} or *_file keys" : "");
    found.push_back(std::move(r));
  }
  return found;
}

}  // namespace tack
