// cli: the subcommands other than `run` (which is app). Each returns a
// sysexits code and prints errors for people, not stack traces.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tack {

// Errors make it exit 78; warnings (templates, readable secrets, lint.hpp's
// provider mistakes) are printed and, with `strict`, make it exit 78 too.
int cli_check(const std::string& config_path, bool strict = false);

// Where a command that only reads or changes the delivery log finds it
// (issue 12): the store's part of the config (config.hpp:
// load_store_config, which never needs a gateway secret nor a sound rest of
// the config), or the store file alone (--store), with no config read; then
// a phone number must be given in international form, as no locale.region
// is known, and a gateway name is not checked against the config's.
struct StoreTarget {
  std::string config_path;
  std::string store_path;  // non-empty: --store
};

int cli_render(const std::string& config_path, const std::string& template_name,
               const std::string& locale, const std::string& event_path,
               const std::string& channel_kind);
int cli_emit(const std::string& config_path, const std::string& input_path,
             const std::string& source_name);
// Reads only the store's part of the config (load_store_config).
int cli_outbox_init(const std::string& config_path, const std::string& source_name);

struct LogQuery {
  std::optional<std::string> order_id;
  std::optional<std::string> to;
  std::optional<long long> message_id;
  bool json = false;
  bool rejected = false;      // list recently rejected events
  bool oldest_first = false;  // the text view: oldest message first (default: newest first)
};
// --order: the order as the support page shows it (the API's order object
// with --json); an order tack knows nothing of exits 66 (EX_NOINPUT), as
// does an unknown --message. --to: every message to that phone number or
// e-mail address (none found is an answer, exit 0). Times in the text are
// the config's locale.timezone (UTC with --store).
int cli_log(const StoreTarget& target, const LogQuery& query);

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
int cli_operator(const StoreTarget& target, const OperatorCommand& command);

// Support actions (issue 15), as POST /v1/messages/{id}/resend and
// /v1/orders/{id}/notes answer them (docs/http-api.md), recorded as
// cli:USER. A resent message keeps the gateway its original last used.
int cli_resend(const StoreTarget& target, long long message_id, const std::string& reason);
int cli_note(const StoreTarget& target, const std::string& order_id, const std::string& text);

// ---- opt-out (issue 17) --------------------------------------------------
// `tackd optout add ADDRESS [--reason TEXT]`: the address (a phone number,
// in the shop's region unless international, or an e-mail address) gets no
// more SMS (or e-mail); its waiting messages on that kind are suppressed.
// Recorded as "operator cli:USER[: reason]". `remove` takes it off the list
// (messages suppressed before stay so); `list` prints the list, newest
// first, optionally of one kind or address, as text or JSON lines.
struct OptOutCommand {
  std::string action;  // add | remove | list
  std::string address;
  std::string reason;
  std::optional<std::string> kind;  // list: sms | email
  bool json = false;
};
int cli_optout(const StoreTarget& target, const OptOutCommand& command);

// ---- retention and erasure (issue 6) ------------------------------------

// `tackd log export`: every message created in [since, until) with its
// attempts, streamed to stdout as CSV (one row per attempt; a message with
// none has one row with empty attempt columns) or JSON lines (one message
// per line). since/until: YYYY-MM-DD (UTC), RFC 3339, or a duration ago
// ("7d"); unset: from the start, until now. CSV cells are split by
// `delimiter` (';' for Excel in a Swedish or Polish locale), and `bom` puts
// a UTF-8 byte order mark first so Excel reads the text as UTF-8.
struct ExportQuery {
  std::optional<std::string> since, until;
  bool json = false;
  char delimiter = ',';
  bool bom = false;
};
int cli_log_export(const StoreTarget& target, const ExportQuery& query);
// The export's --since/--until values as Unix milliseconds; nullopt if bad.
std::optional<std::int64_t> parse_export_time(const std::string& text, std::int64_t now_ms);

// `tackd forget --to PHONE_OR_EMAIL [--dry-run]`: erases one person's data
// (works while tackd runs), audited without the person. Reads the store's
// part of the config; no --store, as events written with a national number
// are found only with the config's locale.region.
int cli_forget(const std::string& config_path, const std::string& to, bool dry_run);
// `tackd prune [--dry-run]`: one retention run now, as tackd does it (the
// config's retention policy: no --store).
int cli_prune(const std::string& config_path, bool dry_run);

// A full sample event (every field DESIGN.md names) for `check` and docs.
std::string sample_event_json(const std::string& locale);

}  // namespace tack
