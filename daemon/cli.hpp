// cli: the subcommands other than `run` (which is app). Each returns a
// sysexits code and prints errors for people, not stack traces.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tack {

int cli_check(const std::string& config_path);
int cli_render(const std::string& config_path, const std::string& template_name,
               const std::string& locale, const std::string& event_path,
               const std::string& channel_kind);
int cli_emit(const std::string& config_path, const std::string& input_path,
             const std::string& source_name);
int cli_outbox_init(const std::string& config_path, const std::string& source_name);

struct LogQuery {
  std::optional<std::string> order_id;
  std::optional<std::string> to;
  std::optional<long long> message_id;
  bool json = false;
  bool rejected = false;  // list recently rejected events
};
int cli_log(const std::string& config_path, const LogQuery& query);

// Operator verbs on the delivery log: retry, cancel, hold, release. Each is
// recorded in the audit table with who and when; tackd picks the change up
// within a second.
struct OperatorCommand {
  std::string verb;  // retry | cancel | hold | release
  std::optional<long long> message_id;
  std::optional<std::string> gateway;
  bool dead = false;  // retry --dead
  bool failed = false;  // retry --failed: failed after a gateway's answer, not at intake
  std::optional<std::string> since;  // retry --dead/--failed --since 24h
};
int cli_operator(const std::string& config_path, const OperatorCommand& command);

// ---- retention and erasure (issue 6) ------------------------------------

// `tackd log export`: every message created in [since, until) with its
// attempts, streamed to stdout as CSV (one row per attempt; a message with
// none has one row with empty attempt columns) or JSON lines (one message
// per line). since/until: YYYY-MM-DD (UTC), RFC 3339, or a duration ago
// ("7d"); unset: from the start, until now.
struct ExportQuery {
  std::optional<std::string> since, until;
  bool json = false;
};
int cli_log_export(const std::string& config_path, const ExportQuery& query);
// The export's --since/--until values as Unix milliseconds; nullopt if bad.
std::optional<std::int64_t> parse_export_time(const std::string& text, std::int64_t now_ms);

// `tackd forget --to PHONE_OR_EMAIL [--dry-run]`: erases one person's data
// (works while tackd runs), audited without the person.
int cli_forget(const std::string& config_path, const std::string& to, bool dry_run);
// `tackd prune [--dry-run]`: one retention run now, as tackd does it.
int cli_prune(const std::string& config_path, bool dry_run);

// A full sample event (every field DESIGN.md names) for `check` and docs.
std::string sample_event_json(const std::string& locale);

}  // namespace tack
