// The one explicit list of source kinds. A new source: one file pair in
// this folder, one entry here, one test file, one config example.
#include <filesystem>

#include "intake.hpp"
#include "sources/source.hpp"
#include "sources/sqlite_outbox.hpp"

namespace tack {

const std::vector<SourceKind>& source_kinds() {
  static const std::vector<SourceKind> kinds = {
      {"sqlite_outbox",
       "events from an outbox table in an SQLite database the shop writes to",
       {
           {"path", KeyType::String, true, false, "the SQLite database file holding the table"},
           {"table", KeyType::String, false, false, "table name (default outbox)"},
           {"poll_interval", KeyType::Duration, false, false, "how often to look (default 200ms)"},
           {"batch_size", KeyType::Int, false, false, "rows per intake batch (default 500)"},
       },
       [](const SourceConfig& config, SourceContext& context) -> std::unique_ptr<Source> {
         return std::make_unique<SqliteOutbox>(config.name,
                                               outbox_settings(config, context.config_dir),
                                               context.intake);
       }},
  };
  return kinds;
}

const SourceKind* find_source_kind(const std::string& type) {
  for (const auto& kind : source_kinds()) {
    if (kind.type == type) return &kind;
  }
  return nullptr;
}

}  // namespace tack
