// secrets: whether the files that hold tack's secrets are kept from other
// users. The config loader notes each place a secret came from
// (SecretsPolicy::files: a `*_file`, or the config itself when it holds a
// secret written inline rather than as ${ENV} or `*_file`); this checks
// their permissions at start, on reload and in `tackd check`.
//
// A file is too open when its group or others may read it (mode & 044).
// Each finding names the file, its mode, which secret it holds and the fix
// (chmod 600). With `secrets: { on_readable: refuse }` the caller treats a
// finding as a config error (exit 78, or the running config kept on
// reload); with the default `warn` it logs a warning and goes on.
//
// The SQLite store (tack.db, -wal, -shm) holds personal data rather than a
// secret, but the same rule keeps it from other users: tackd creates it
// 0600 (main sets umask 077), and readable_store_files() finds an existing
// one that is too open, in the same words, for tackd to warn at start.
//
// The findings never hold a secret's value. Reads file metadata only.
#pragma once

#include <string>
#include <vector>

#include "config.hpp"

namespace tack {

struct ReadableSecret {
  std::string path;
  unsigned mode = 0;    // permission bits, like 0644
  std::string message;  // one line: what, where, mode and the fix
};

std::vector<ReadableSecret> readable_secret_files(const SecretsPolicy& policy);

// `store_path` and its -wal and -shm, those that exist and are too open.
std::vector<ReadableSecret> readable_store_files(const std::string& store_path);

}  // namespace tack
