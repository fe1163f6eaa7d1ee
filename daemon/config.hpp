// config: loads tack.yaml into a Config value, or into a list of errors.
//
// The loader collects *every* problem it finds (unknown keys, wrong types,
// missing required keys, references to undefined gateways, channels or
// templates) and reports each with file:line:column, so ops fix a config in
// one pass. `${ENV_VAR}` in any string value is substituted from the
// environment (an unset variable is an error); a key `foo_file` reads the
// secret `foo` from that file (trailing newline trimmed), and a relative
// `*_file` path is resolved against $CREDENTIALS_DIRECTORY when set, then
// against the config file's folder.
//
// Plugin settings (sources, gateways) are checked against the key tables the
// plugins declare in their registry (plugin_settings.hpp), so a plugin owns its
// keys and the loader owns reporting. Relative paths in the config (store,
// templates, outbox, file gateway) are resolved against the config's folder.
//
// Called at start-up and on reload (SIGHUP) by app, and by `tackd check`.
// Pure apart from reading the files it names and the environment.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "address_range.hpp"
#include "channel.hpp"
#include "config_errors.hpp"
#include "local_time.hpp"
#include "optout.hpp"
#include "plugin_settings.hpp"
#include "store/lifecycle.hpp"

namespace tack {

// The candidate close enough to `word` to be a typo of it, if one is (edit
// distance, an adjacent swap counting as one), for "did you mean" hints.
std::optional<std::string> closest_word(const std::string& word,
                                        const std::vector<std::string>& candidates);

// Durations are written "250ms", "30s", "5m", "2h", "3d" (or a bare number of
// seconds).
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text);
// A whole number, and true or false, as the config writes them.
std::optional<long long> parse_int(const std::string& text);
std::optional<bool> parse_bool(const std::string& text);

struct SourceConfig {
  std::string name;
  std::string type;         // key in sources/registry
  PluginSettings settings;  // checked against the kind's key table
};

struct GatewayConfig {
  std::string name;
  std::string type;       // key in gateways/registry
  int max_in_flight = 8;  // concurrent sends to this gateway
  int max_per_second = 0;  // token-bucket rate; 0: unlimited
  int burst = 1;           // sends allowed at once above the rate
  int circuit_failures = 5;  // transient failures in a row that open the circuit; 0: never
  std::chrono::milliseconds circuit_cooldown{30000};  // first pause of an open circuit
  std::chrono::milliseconds circuit_max_cooldown{60000};  // longest pause (doubling stops)
  PluginSettings settings;  // checked against the kind's key table
  // SMS parts one message may take through this gateway (a provider's or a
  // contract's limit); 0: none. An SMS channel's budget is the smallest of
  // its own and its gateways' (sms_cost.hpp).
  int max_segments = 0;
};

struct ChannelConfig {
  std::string name;
  ChannelKind kind = ChannelKind::Sms;
  std::vector<std::string> gateways;  // tried in order
  // SMS only: the parts one message may take (each is billed); a message
  // rendered longer is refused, failed with the reason (sms_cost.hpp), and
  // `tackd check` warns about a template whose sample needs more (lint.hpp).
  int max_segments = 3;
  // Messages wait for the recipient's allowed hours (Config::quiet_hours);
  // default on for sms, off for email.
  bool quiet_hours = true;
  // frequency_cap: at most cap_max messages per recipient in cap_per; more
  // are skipped. 0: no cap.
  int cap_max = 0;
  std::chrono::milliseconds cap_per{0};
  std::string cap_text{};  // "3 per 24h", as written
  // SMS only: languages ("pl") whose texts are transliterated to GSM-7
  // after rendering, where ICU can (transliterate.hpp).
  std::vector<std::string> transliterate{};
};

// A rule condition on an event field, addressed by a dotted path
// ("customer.tier", "data.country"). Every condition of a rule must hold.
struct Condition {
  enum class Op { Equals, NotEquals, In, NotIn, Exists, Missing };
  std::string field;
  Op op = Op::Equals;
  std::vector<std::string> values;
};

struct RuleConfig {
  std::string name;
  std::vector<std::string> statuses;
  std::vector<Condition> when;
  std::string template_name;
  std::vector<std::string> channels;
  std::string fallback_channel;  // empty: none
  // How long after the event its messages are still worth sending (an "out
  // for delivery" SMS after delivery is worse than none); 0: no limit. For
  // a delayed rule: after it is due.
  std::chrono::milliseconds ttl{0};

  // ---- time (issue 16) ----
  // A delayed rule sends `after` the anchor (negative: before it): the
  // event's occurred_at, or the RFC 3339 time at `from` (a dotted path,
  // "delivery.window_end"; an event without it does not fire the rule),
  // then at the first `at` (minutes after local midnight, the recipient's
  // zone) from there. Its messages are rendered when due.
  std::chrono::milliseconds after{0};
  std::string from{};
  std::optional<int> at_minute;
  // The order reaching one of these statuses (rules.hpp: reached_any)
  // cancels its messages still scheduled; checked again when they are due.
  std::vector<std::string> unless{};
  SupersedePolicy supersede = SupersedePolicy::NewerStatus;  // default: never when delayed
  enum class Purpose { Transactional, Marketing };
  Purpose purpose = Purpose::Transactional;  // marketing: only with customer.consent.KIND
  bool urgent = false;  // bypasses quiet hours and frequency caps
  std::string to{};     // a fixed recipient (ops) instead of the customer
  // A transactional rule whose messages go to an address that opted out
  // all the same (a parcel locker's pickup code); never a marketing rule.
  bool ignore_opt_out = false;
  bool delayed() const { return after.count() != 0 || at_minute.has_value() || !from.empty(); }
};

// Statuses in their forward order, plus terminal branches (cancelled,
// returned) that may follow any status and end the order's story.
struct StatusOrder {
  std::vector<std::string> order{"placed",          "paid",           "packed",
                                 "shipped",         "out_for_delivery", "delivery_failed",
                                 "ready_for_pickup", "delivered",      "picked_up"};
  // A later terminal status may follow an earlier one (returned -> refunded).
  std::vector<std::string> terminal{"cancelled", "returned", "refunded"};
  // Side statuses: news on a track of its own (an invoice paid after the
  // parcel arrived). Never stale, they leave the order's status as it is;
  // they fire rules and cancel what names them in `unless`.
  std::vector<std::string> side{"invoice_paid"};
  bool known(const std::string& status) const;
  bool is_side(const std::string& status) const;
  // -1 for unknown (and side statuses); terminal statuses rank above every
  // ordered one.
  int rank(const std::string& status) const;
  bool is_terminal(const std::string& status) const;
};

// The default schedule spreads attempts over the whole max_age, as mail
// servers do: pauses of 10 s, 20 s, 40 s … doubling to an hour, then hourly,
// each between half and all of its step; the last attempt when max_age runs
// out. About 33 to 57 attempts in a day.
struct RetryPolicy {
  int max_attempts = 0;  // 0: no limit, max_age decides
  std::chrono::milliseconds initial_backoff{10000};
  std::chrono::milliseconds max_backoff{3600000};
  std::chrono::milliseconds max_age{86400000};  // a message older than this is dead
};

// Bounds on what untrusted input may cost (limits: in the config). Each is
// checked before the input is parsed or kept, and going over one is a clear
// per-item failure (a rejected event, a 413/431, a failed message), never a
// crash or a stall of other work.
struct Limits {
  std::size_t max_event_bytes = 64 * 1024;         // one event's JSON text
  int max_json_depth = 32;                         // nested objects and arrays in an event
  std::size_t max_json_values = 10000;             // values and keys in one event
  std::size_t max_string_bytes = 16 * 1024;        // one string or key in an event
  std::size_t max_events_per_request = 1000;       // a JSON array of events (HTTP, emit)
  std::size_t max_request_head_bytes = 16 * 1024;  // an HTTP request line and headers
  std::size_t max_response_bytes = 1024 * 1024;    // a provider's answer kept and read
  std::size_t max_message_bytes = 256 * 1024;      // one rendered SMS, subject or e-mail body
  std::size_t max_template_bytes = 256 * 1024;     // one template file
};

// What to do when a file holding secrets (the config with inline secrets, a
// `*_file`) can be read by its group or others (secrets: in the config).
enum class OnReadableSecrets { Warn, Refuse };

// A place a secret comes from that file permissions must protect: the config
// itself when it holds a secret written inline (not ${ENV} or *_file), or a
// `*_file` the loader read. `key` names the setting, for the warning.
struct SecretFile {
  std::string path;
  std::string key;            // "gateway 'sms' password", "http.events token_file"
  bool inline_value = false;  // the config itself, holding the value
};

struct SecretsPolicy {
  OnReadableSecrets on_readable = OnReadableSecrets::Warn;
  std::vector<SecretFile> files;  // filled by the loader
};

// Facts about the shop that templates may use as {{shop.name}} etc.
struct ShopInfo {
  std::map<std::string, std::string> fields;  // name, url, support_email, phone...
};

// The HTTP listener (docs/http-api.md): event intake, support API and page,
// health and metrics. Only there when the config has an `http:` section.
struct HttpUser {
  std::string name;
  std::string password_hash;  // crypt(3): $y$ (yescrypt), $6$ or $5$
};

struct HttpConfig {
  std::string listen_host = "127.0.0.1";  // an IP address, v4 or v6
  int listen_port = 8425;                 // 0: the kernel picks one (logged)
  std::size_t max_body_bytes = 1024 * 1024;  // POST /v1/events
  // Clients whose /livez, /readyz and /metrics need no password (a
  // monitoring host); empty: everyone signs in. Never a request that came
  // through a proxy (Forwarded, X-Forwarded-For, X-Real-IP) or names a Host
  // other than an IP literal, localhost or one of `hosts`.
  std::vector<AddressRange> health_from;
  std::vector<std::string> hosts;  // names tackd answers to, besides IPs and localhost
  int max_connections = 256;  // at the limit, the oldest idle one is closed, or new ones wait
  int max_connections_per_client = 32;  // per client address (an IPv6 /64); above it, refused
  std::chrono::milliseconds request_timeout{30000};  // one whole request, head and body
  std::chrono::milliseconds header_timeout{10000};   // a head: from accept, or its first byte
  std::chrono::milliseconds idle_timeout{5000};      // keep-alive, between two requests
  std::size_t min_body_rate = 1024;  // bytes/s a body must keep up, header_timeout behind at most
  std::string events_token;        // Bearer token for POST /v1/events; empty: none
  std::string events_hmac_secret;  // X-Tack-Signature key; empty: none
  std::vector<HttpUser> users;     // HTTP Basic for the support page and API
  // How providers and customers reach this listener from outside
  // ("https://tack.shop.se", no trailing slash): the base of the receipt
  // callback URLs sent with each message and of opt-out links. "": none.
  std::string public_url;
  // Signs opt-out links (optout.hpp); at least 16 characters; required
  // with public_url when a rule is marketing. "": no links.
  std::string optout_secret;
};

// ---- retention (issue 6) ---------------------------------------------
// How long the delivery log keeps personal data (recipients, texts, event
// payloads, providers' answers) of messages in a final state, and what
// happens after that. daemon/retention.hpp runs it.
struct RetentionPolicy {
  enum class Action { Anonymise, Delete, Off };
  std::chrono::milliseconds keep{std::chrono::hours(24 * 120)};
  Action action = Action::Anonymise;
  std::chrono::milliseconds interval{std::chrono::minutes(10)};  // between passes
  int batch = 500;  // rows per write batch; the writer is free between batches
};
std::string to_string(RetentionPolicy::Action action);  // "anonymise", "delete", "off"
// ---- end retention -----------------------------------------------------

// quiet_hours: when messages may go out, in the recipient's local time. A
// channel with quiet_hours on holds a message outside the window until it
// opens (never drops it), retries too; an urgent rule's go at once.
struct QuietHours {
  // 08:00-21:00: what Swedish, Polish and British customers expect (and
  // Poland's rules on commercial contact assume).
  DailyWindow allowed;
  std::map<std::string, DailyWindow> countries;  // by ISO 3166 alpha-2, overriding `allowed`
  const DailyWindow& window_for(const std::string& country) const;
};

struct Config {
  std::string path;  // the config file itself
  std::string store_path = "tack.db";
  // PRAGMA synchronous: FULL (an acknowledged event survives a power cut) or
  // NORMAL (it survives a crash of tackd; the last commits may be lost with
  // the machine's power).
  bool store_synchronous_full = true;
  std::string template_dir = "templates";
  std::string default_locale = "en";
  std::string default_region = "SE";
  std::string default_timezone = "Europe/Stockholm";
  // locale.supported: the locales the shop writes to its customers in; each
  // template must have its own text for each. Empty: not declared, and the
  // locales the template folder has between its templates are taken.
  std::vector<std::string> supported_locales;
  // data: the fields of the event's free-form `data` object that templates
  // may name, as dotted paths ("total", "items.name": each item's name).
  // nullopt: not declared, and any data.* is accepted unchecked.
  std::optional<std::vector<std::string>> data_fields;
  std::string log_level = "info";
  StatusOrder statuses;
  std::vector<SourceConfig> sources;
  std::vector<GatewayConfig> gateways;
  std::map<std::string, ChannelConfig> channels;
  std::vector<RuleConfig> rules;
  RetryPolicy retry;
  Limits limits;
  SecretsPolicy secrets;
  ShopInfo shop;
  std::optional<HttpConfig> http;  // no `http:` section: no listener
  RetentionPolicy retention;
  QuietHours quiet_hours;
  // opt_out.keywords: the SMS replies that opt out, per locale.
  OptOutKeywords opt_out_keywords = default_opt_out_keywords();

  const GatewayConfig* gateway(const std::string& name) const;
  const ChannelConfig* channel(const std::string& name) const;
};

struct ConfigLoad {
  std::optional<Config> config;  // set when errors is empty
  ConfigErrors errors;
};

// Loads and validates the config at `path`. A rule's template must exist as
// template_dir/NAME.yaml; a channel's gateways, a rule's channels and a
// plugin's type must be defined. Template *contents* are checked by render
// (TemplateSet::load, then check_templates against this config).
ConfigLoad load_config(const std::string& path);
ConfigLoad load_config_text(const std::string& text, const std::string& path_for_errors);

// ---- the store's part alone (issue 12) -----------------------------------
// What the commands that only read or change the delivery log or an outbox
// need (tackd log, log export, retry, cancel, hold, release, forget, prune,
// outbox init): the store's path, the sqlite_outbox sources, the locale's
// region (to read a national number), the retention policy and the
// gateways' names. load_store_config reads only the store, locale,
// retention and sources sections (their ${ENV} substituted, their errors
// reported as load_config would) and the gateways' `name`s, so it never
// needs a gateway secret (${ENV} or *_file) nor a template, and a mistake
// in any other section does not stop it. `tackd run` and `check` load the
// whole config as before.
struct StoreConfig {
  std::string path;  // the config file itself
  std::string store_path;
  std::string default_region;
  std::string default_timezone = "Europe/Stockholm";  // locale.timezone: `tackd log`'s times
  RetentionPolicy retention;
  std::vector<SourceConfig> sources;
  std::vector<std::string> gateway_names;  // as written; not validated further
};

struct StoreConfigLoad {
  std::optional<StoreConfig> config;  // set when errors is empty
  ConfigErrors errors;
};

StoreConfigLoad load_store_config(const std::string& path);
StoreConfigLoad load_store_config_text(const std::string& text, const std::string& path_for_errors);

}  // namespace tack
