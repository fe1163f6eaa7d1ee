#include "config.hpp"
#include "config_yaml.hpp"

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>

#include "gateways/gateway.hpp"
#include "sources/source.hpp"
#include "support/temp_dir.hpp"

using namespace tack;
using tack::testing::TempDir;

namespace {

// A text setting's value, or "(absent)".
std::string text_of(const PluginSettings& settings, const std::string& key) {
  const SettingValue* value = settings.find(key);
  return value ? value->text : std::string("(absent)");
}

const std::string kExample = std::string(TACK_SOURCE_DIR) + "/config/tack.example.yaml";

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A config folder with a templates/ folder holding placed and shipped.
class ConfigDir {
 public:
  ConfigDir() {
    std::filesystem::create_directory(dir_.path() / "templates");
    write_text(dir_.file("templates/placed.yaml"), "sms:\n  en: hi\n");
    write_text(dir_.file("templates/shipped.yaml"), "sms:\n  en: hi\n");
  }
  std::string file(const std::string& name) const { return dir_.file(name); }
  const std::filesystem::path& path() const { return dir_.path(); }
  ConfigLoad load(const std::string& text) const {
    write_text(file("tack.yaml"), text);
    return load_config(file("tack.yaml"));
  }

 private:
  TempDir dir_;
};

// Sets (or unsets) an environment variable for one test.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, std::optional<std::string> value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (value) {
      setenv(name_.c_str(), value->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

bool has_error(const ConfigLoad& load, int line, int column, const std::string& part) {
  for (const auto& e : load.errors.items) {
    if (e.line == line && e.column == column && e.message.find(part) != std::string::npos) {
      return true;
    }
  }
  return false;
}

bool has_error(const ConfigLoad& load, const std::string& part) {
  return load.errors.to_string().find(part) != std::string::npos;
}

const std::string kMinimal = R"(gateways:
  - name: file
    type: file
    path: out.jsonl
channels:
  sms: { kind: sms, gateways: [file] }
rules:
  - name: thanks
    on: placed
    template: placed
    channels: [sms]
)";

}  // namespace

// ------------------------------------------------------------------ example

TEST_CASE("the example config loads with no errors", "[config]") {
  auto load = load_config(kExample);
  INFO(load.errors.to_string());
  REQUIRE(load.errors.empty());
  REQUIRE(load.config);
  const Config& config = *load.config;
  const std::filesystem::path dir = std::filesystem::path(TACK_SOURCE_DIR) / "config";
  CHECK(config.store_path == (dir / "tack.db").lexically_normal().string());
  CHECK(config.template_dir == (dir / "../templates").lexically_normal().string());
  CHECK(config.default_region == "SE");
  CHECK(config.shop.fields.at("name") == "Exempelbutiken");
  REQUIRE(config.sources.size() == 1);
  CHECK(config.sources[0].type == "sqlite_outbox");
  CHECK(text_of(config.sources[0].settings, "path") == "outbox.db");
  const GatewayConfig* file = config.gateway("file");
  REQUIRE(file);
  CHECK(file->max_in_flight == 8);
  CHECK(text_of(file->settings, "path") == "messages.jsonl");
  CHECK_FALSE(file->settings.has("name"));
  CHECK_FALSE(file->settings.has("type"));
  REQUIRE(config.channel("email"));
  CHECK(config.channel("email")->kind == ChannelKind::Email);
  std::vector<std::string> templates;
  for (const auto& rule : config.rules) templates.push_back(rule.template_name);
  // The bundled after-sales journey (issue 16), every step of it.
  CHECK(templates ==
        std::vector<std::string>{"placed", "welcome", "invoice", "invoice_reminder", "not_shipped",
                                 "not_shipped_ops", "not_shipped", "not_shipped_ops", "packed",
                                 "shipped", "late_delivery", "out_for_delivery", "delivery_failed",
                                 "ready_for_pickup", "pickup_reminder", "delivered", "follow_up",
                                 "follow_up_offer", "follow_up", "return_received", "refund_done"});
  CHECK(config.rules[0].channels == std::vector<std::string>{"sms", "email"});
  auto rule = [&](const std::string& name) {
    for (const auto& r : config.rules) {
      if (r.name == name) return r;
    }
    FAIL("no rule " << name);
    return RuleConfig{};
  };
  CHECK(rule("follow_up").after == std::chrono::hours(72));
  CHECK(rule("follow_up").at_minute == 600);
  CHECK(rule("follow_up_offer").purpose == RuleConfig::Purpose::Marketing);
  CHECK(rule("not_shipped").unless == std::vector<std::string>{"shipped", "cancelled"});
  CHECK(rule("not_shipped_ops").to == "ops@exempelbutiken.se");
  CHECK(rule("not_shipped_ops").urgent);
  CHECK(rule("late_delivery").from == "delivery.window_end");
  CHECK(rule("invoice_reminder").after == -std::chrono::hours(72));
  CHECK(rule("invoice_reminder").unless == std::vector<std::string>{"invoice_paid", "cancelled"});
  CHECK(rule("pickup_reminder").after == std::chrono::hours(24));
}

TEST_CASE("the example documents every plugin type and key in the registries", "[config]") {
  const std::string text = read_text(kExample);
  auto documented = [&](const std::string& word) {
    return text.find(word + ":") != std::string::npos;
  };
  for (const auto& kind : source_kinds()) {
    CHECK(text.find("type: " + kind.type) != std::string::npos);
    for (const auto& key : kind.keys) {
      INFO("source " << kind.type << " key " << key.name);
      CHECK(documented(key.name));
    }
  }
  for (const auto& kind : gateway_kinds()) {
    CHECK(text.find("type: " + kind.type) != std::string::npos);
    for (const auto& key : kind.keys) {
      INFO("gateway " << kind.type << " key " << key.name);
      CHECK(documented(key.name));
    }
  }
}

TEST_CASE("the example's commented-out smtp and http gateways are valid", "[config]") {
  // Uncomment the example gateways (lines "  # - " and "  #   "), keep
  // their optional keys ("  #   # key: default") commented.
  std::istringstream in(read_text(kExample));
  std::string line, text;
  bool in_gateways = false;
  while (std::getline(in, line)) {
    if (line.rfind("gateways:", 0) == 0) in_gateways = true;
    if (line.rfind("channels:", 0) == 0) in_gateways = false;
    if (in_gateways && (line.rfind("  # - ", 0) == 0 || line.rfind("  #   ", 0) == 0)) {
      line.erase(2, 2);
    }
    text += line + "\n";
  }
  REQUIRE(text.find("- name: mail") != std::string::npos);
  REQUIRE(text.find("- name: elks") != std::string::npos);
  TempDir credentials;
  write_text(credentials.file("smtp-password"), "smtp secret\n");
  write_text(credentials.file("elks-password"), "elks secret\n");
  for (const char* name : {"smsapi-token", "smsapi-receipts", "sinch-token", "sinch-receipts",
                           "sendgrid-api-key", "mailgun-api-key", "postmark-server-token"}) {
    write_text(credentials.file(name), std::string(name) + " secret\n");
  }
  ScopedEnv dir("CREDENTIALS_DIRECTORY", credentials.path().string());
  ScopedEnv user("ELKS_API_USER", "u123");
  // The named SMS providers' examples (46elks, twilio, vonage).
  ScopedEnv elks_password("ELKS_API_PASSWORD", "elks-password-0123");
  ScopedEnv elks_token("ELKS_RECEIPT_TOKEN", "elks-receipt-token-0123");
  ScopedEnv twilio_sid("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef");
  ScopedEnv twilio_token("TWILIO_AUTH_TOKEN", "twilio-auth-token-0123");
  ScopedEnv vonage_key("VONAGE_API_KEY", "abcd1234");
  ScopedEnv vonage_secret("VONAGE_API_SECRET", "vonage-secret-0123");
  ScopedEnv vonage_token("VONAGE_RECEIPT_TOKEN", "vonage-receipt-token-0123");

  auto load = load_config_text(text, kExample);
  INFO(load.errors.to_string());
  REQUIRE(load.errors.empty());
  const GatewayConfig* elks = load.config->gateway("elks");
  REQUIRE(elks);
  CHECK(elks->max_in_flight == 4);
  CHECK(text_of(elks->settings, "username") == "u123");
  CHECK(text_of(elks->settings, "password") == "elks secret");
  CHECK_FALSE(elks->settings.has("password_file"));
  CHECK(text_of(load.config->gateway("mail")->settings, "password") == "smtp secret");
  CHECK(text_of(load.config->gateway("smsapi")->settings, "token") == "smsapi-token secret");
  CHECK(text_of(load.config->gateway("sinch")->settings, "receipt_token") ==
        "sinch-receipts secret");
}

// ------------------------------------------------------------------ errors

TEST_CASE("every error is reported at once with its line and column", "[config]") {
  ConfigDir dir;
  auto load = dir.load(R"(stor:
  path: x.db
retry:
  max_attempts: ten
  initial_backoff: 5 minutes
log:
  levl: info
sources:
  - name: outbox
    type: sqlite_outbox
    table: outbox
    poll_interval: soon
gateways:
  - name: file
    type: file
    path: messages.jsonl
    fsynk: true
  - name: mail
    type: smtpp
channels:
  sms: { kind: sms, gateways: [file, nosuch] }
rules:
  - name: r1
    on: [placed, shiped]
    template: missing
    channels: [sms, push]
    fallback: emial
)");
  INFO(load.errors.to_string());
  CHECK_FALSE(load.config);
  CHECK(has_error(load, 1, 1, "unknown top-level key 'stor'; did you mean 'store'?"));
  CHECK(has_error(load, 4, 17, "retry.max_attempts expects a whole number, found 'ten'"));
  CHECK(has_error(load, 5, 20, "retry.initial_backoff expects a duration"));
  CHECK(has_error(load, 7, 3, "unknown key 'levl' in log; did you mean 'level'?"));
  CHECK(has_error(load, 9, 5, "source 'outbox': missing required key 'path'"));
  CHECK(has_error(load, 12, 20, "source 'outbox': key 'poll_interval' expects a duration"));
  CHECK(has_error(load, 17, 5, "gateway 'file': unknown key 'fsynk'; did you mean 'fsync'?"));
  CHECK(has_error(load, 19, 11, "gateway 'mail': unknown type 'smtpp'; did you mean 'smtp'?"));
  CHECK(has_error(load, 19, 11, "known types: "));
  CHECK(has_error(load, 21, 38, "channel 'sms': gateway 'nosuch' is not defined"));
  CHECK(has_error(load, 24, 18, "rule 'r1': unknown status 'shiped'; did you mean 'shipped'?"));
  CHECK(has_error(load, 25, 15, "rule 'r1': template 'missing' not found"));
  CHECK(has_error(load, 26, 21, "rule 'r1': channel 'push' is not defined"));
  CHECK(has_error(load, 27, 15, "rule 'r1': channel 'emial' is not defined"));
  CHECK(load.errors.items.size() == 13);
  // Sorted by position, each line "file:line:column: message".
  CHECK(load.errors.to_string().rfind(dir.file("tack.yaml") + ":1:1: unknown top-level key", 0) ==
        0);
}

TEST_CASE("wrong types in every section are reported", "[config]") {
  ConfigDir dir;
  auto load = dir.load(R"(store: tack.db
locale:
  default: 12 34
  region: Sweden
  timezone: Europe/Stockholmm
log: { level: verbose }
shop:
  name: [a, b]
statuses:
  order: placed
limits:
  max_event_bytes: 10
gateways:
  - name: file
    type: file
    path: [a]
    fsync: yes
    max_in_flight: 0
  - just a string
channels:
  sms: { kind: pigeon, gateways: [] }
  email: [file]
rules:
  - name: r1
    on: placed
    template: ../etc/passwd
    channels: sms
    when:
      - { field: customer.tier }
      - { field: customer.tier, equals: gold, in: [a] }
      - { field: customer.tier, exists: maybe }
  - { name: r1, on: placed, template: placed, channels: [sms] }
)");
  INFO(load.errors.to_string());
  CHECK(has_error(load, 1, 8, "store expects a map, found 'tack.db'"));
  CHECK(has_error(load, 3, 12, "locale.default expects a language tag"));
  CHECK(has_error(load, 4, 11, "locale.region expects a two-letter country code"));
  CHECK(has_error(load, 5, 13, "unknown time zone 'Europe/Stockholmm'"));
  CHECK(has_error(load, 6, 15, "log.level expects one of debug, info, warning, error"));
  CHECK(has_error(load, 8, 9, "shop.name expects text, found a list"));
  CHECK(has_error(load, 10, 10, "statuses.order expects a list"));
  CHECK(has_error(load, 12, 20, "limits.max_event_bytes must be between 1024 and"));
  CHECK(has_error(load, 16, 11, "gateway 'file': key 'path' expects text, found a list"));
  CHECK(has_error(load, 17, 12, "gateway 'file': key 'fsync' expects true or false, found 'yes'"));
  CHECK(has_error(load, 18, 20, "gateway 'file' max_in_flight must be between 1 and 10000"));
  CHECK(has_error(load, 19, 5, "gateway #2 expects a map with name and type"));
  CHECK(has_error(load, 21, 16, "channel 'sms' kind expects sms or email, found 'pigeon'"));
  CHECK(has_error(load, 21, 34, "channel 'sms' has no gateways"));
  CHECK(has_error(load, 22, 10, "channel 'email' expects a map, found a list"));
  CHECK(has_error(load, 26, 15, "template name '../etc/passwd' must use letters"));
  CHECK(has_error(load, 27, 15, "rule 'r1' channels expects a list, found 'sms'"));
  CHECK(has_error(load, 29, 9, "missing required key 'field'") == false);
  CHECK(has_error(load, 29, 9, "needs one of equals, not_equals, in, not_in, exists"));
  CHECK(has_error(load, 30, 9, "has more than one test (equals, in)"));
  CHECK(has_error(load, 31, 41, "exists expects true or false, found 'maybe'"));
  CHECK(has_error(load, 32, 13, "rule 'r1' is defined twice"));
}

TEST_CASE("missing required keys are reported at the entry", "[config]") {
  ConfigDir dir;
  auto load = dir.load(R"(gateways:
  - type: file
    path: a
  - name: b
channels:
  sms: {}
rules:
  - name: r
)");
  INFO(load.errors.to_string());
  CHECK(has_error(load, 2, 5, "gateway #1: missing required key 'name'"));
  CHECK(has_error(load, 4, 5, "gateway #2: missing required key 'type'"));
  CHECK(has_error(load, 6, 8, "channel 'sms': missing required key 'kind'"));
  CHECK(has_error(load, 6, 8, "channel 'sms': missing required key 'gateways'"));
  CHECK(has_error(load, 8, 5, "rule 'r': missing required key 'on'"));
  CHECK(has_error(load, 8, 5, "rule 'r': missing required key 'template'"));
  CHECK(has_error(load, 8, 5, "rule 'r': missing required key 'channels'"));
}

TEST_CASE("duplicate names and keys are errors", "[config]") {
  ConfigDir dir;
  auto load = dir.load(R"(log:
  level: info
  level: debug
gateways:
  - { name: g, type: file, path: a }
  - { name: g, type: file, path: b }
  - { name: h, type: file, path: a, path: b }
channels:
  sms: { kind: sms, gateways: [g, g] }
  sms: { kind: sms, gateways: [g] }
rules: []
)");
  INFO(load.errors.to_string());
  CHECK(has_error(load, 3, 3, "log: duplicate key 'level'"));
  CHECK(has_error(load, 6, 13, "gateway 'g' is defined twice"));
  CHECK(has_error(load, 7, 37, "gateway #3: duplicate key 'path'"));
  CHECK(has_error(load, 9, 35, "gateway 'g' is listed twice"));
  CHECK(has_error(load, 10, 3, "channel 'sms' is defined twice"));
}

TEST_CASE("a minimal config gives the documented defaults", "[config]") {
  ConfigDir dir;
  auto load = dir.load(kMinimal);
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  const Config& config = *load.config;
  CHECK(config.path == dir.file("tack.yaml"));
  CHECK(config.store_path == dir.file("tack.db"));
  CHECK(config.template_dir == dir.file("templates"));
  CHECK(config.default_locale == "en");
  CHECK(config.default_region == "SE");
  CHECK(config.default_timezone == "Europe/Stockholm");
  CHECK(config.log_level == "info");
  // The whole of max_age, not a count of attempts, bounds the retries.
  CHECK(config.retry.max_attempts == 0);
  CHECK(config.retry.initial_backoff == std::chrono::seconds(10));
  CHECK(config.retry.max_backoff == std::chrono::hours(1));
  CHECK(config.retry.max_age == std::chrono::hours(24));
  CHECK(config.limits.max_event_bytes == 65536);
  CHECK(config.statuses.order.size() == 9);
  CHECK(config.statuses.side == std::vector<std::string>{"invoice_paid"});
  CHECK(config.sources.empty());
  CHECK(config.rules.size() == 1);
  CHECK(config.rules[0].statuses == std::vector<std::string>{"placed"});
  CHECK(config.rules[0].fallback_channel.empty());
  CHECK(config.gateway("nosuch") == nullptr);
  CHECK(config.channel("nosuch") == nullptr);
}

TEST_CASE("empty sections and lists are allowed", "[config]") {
  ConfigDir dir;
  auto load = dir.load("sources: []\nchannels: {}\nrules: []\nshop:\ngateways:\n#  - name: off\n");
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  CHECK(load.config->gateways.empty());
  CHECK(load.config->rules.empty());
}

TEST_CASE("sections read their values", "[config]") {
  ConfigDir dir;
  auto load = dir.load(R"(store: { path: /var/lib/tack/tack.db }
templates: { dir: templates }
locale: { default: sv-SE, region: se, timezone: Europe/Warsaw }
log: { level: debug }
shop: { name: Butiken, returns_days: 30 }
statuses:
  order: [placed, paid, shipped]
  terminal: [cancelled]
retry: { max_attempts: 3, initial_backoff: 250ms, max_backoff: 2m, max_age: 3d }
limits: { max_event_bytes: 4096 }
gateways:
  - { name: g, type: file, path: a, max_in_flight: 2 }
channels:
  sms: { kind: sms, gateways: [g] }
  email: { kind: email, gateways: [g] }
rules:
  - name: r
    on: [paid, shipped]
    when:
      - { field: customer.tier, equals: gold }
      - { field: data.country, not_equals: "NO" }
      - { field: data.shipping, in: [express, pickup] }
      - { field: data.shipping, not_in: [letter] }
      - { field: delivery.window_start, exists: true }
      - { field: customer.phone, exists: false }
    template: shipped
    channels: [sms]
    fallback: email
)");
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  const Config& c = *load.config;
  CHECK(c.store_path == "/var/lib/tack/tack.db");
  CHECK(c.default_locale == "sv-SE");
  CHECK(c.default_region == "SE");
  CHECK(c.default_timezone == "Europe/Warsaw");
  CHECK(c.log_level == "debug");
  CHECK(c.shop.fields.at("returns_days") == "30");
  CHECK(c.statuses.order == std::vector<std::string>{"placed", "paid", "shipped"});
  CHECK(c.statuses.terminal == std::vector<std::string>{"cancelled"});
  CHECK(c.retry.max_attempts == 3);
  CHECK(c.retry.initial_backoff == std::chrono::milliseconds(250));
  CHECK(c.retry.max_backoff == std::chrono::minutes(2));
  CHECK(c.retry.max_age == std::chrono::hours(72));
  CHECK(c.limits.max_event_bytes == 4096);
  CHECK(c.gateway("g")->max_in_flight == 2);
  const RuleConfig& rule = c.rules.at(0);
  CHECK(rule.statuses == std::vector<std::string>{"paid", "shipped"});
  CHECK(rule.fallback_channel == "email");
  REQUIRE(rule.when.size() == 6);
  CHECK(rule.when[0].field == "customer.tier");
  CHECK(rule.when[0].op == Condition::Op::Equals);
  CHECK(rule.when[0].values == std::vector<std::string>{"gold"});
  CHECK(rule.when[1].op == Condition::Op::NotEquals);
  CHECK(rule.when[2].op == Condition::Op::In);
  CHECK(rule.when[2].values == std::vector<std::string>{"express", "pickup"});
  CHECK(rule.when[3].op == Condition::Op::NotIn);
  CHECK(rule.when[4].op == Condition::Op::Exists);
  CHECK(rule.when[5].op == Condition::Op::Missing);
}

TEST_CASE("data: declares the event's data fields; locale.supported the shop's locales",
          "[config]") {
  ConfigDir dir;
  {
    auto load = dir.load(kMinimal);
    REQUIRE(load.config);
    CHECK_FALSE(load.config->data_fields);  // not declared: data.* is not checked
    CHECK(load.config->supported_locales.empty());
  }
  {
    auto load = dir.load(kMinimal +
                         "data: [total, items.name]\n"
                         "locale: { default: sv-SE, supported: [sv, en, pl-PL] }\n");
    INFO(load.errors.to_string());
    REQUIRE(load.config);
    REQUIRE(load.config->data_fields);
    CHECK(*load.config->data_fields == std::vector<std::string>{"total", "items.name"});
    CHECK(load.config->supported_locales == std::vector<std::string>{"sv", "en", "pl-PL"});
  }
  {
    auto load = dir.load(kMinimal + "data: []\n");
    REQUIRE(load.config);
    REQUIRE(load.config->data_fields);  // declared: events carry no data fields
    CHECK(load.config->data_fields->empty());
  }
}

TEST_CASE("bad data: fields and locale.supported entries are errors at their values", "[config]") {
  ConfigDir dir;
  auto load = dir.load(kMinimal +  // line 12 on
                       "data: [total, items., 2x, total, \"a b\"]\n"
                       "locale:\n"
                       "  supported: [sv, english, sv]\n"
                       "datta: []\n");
  INFO(load.errors.to_string());
  CHECK_FALSE(load.config);
  CHECK(has_error(load, 12, 15, "data: 'items.' is not a field name"));
  CHECK(has_error(load, 12, 23, "data: '2x' is not a field name"));
  CHECK(has_error(load, 12, 27, "data: 'total' is listed twice"));
  CHECK(has_error(load, 12, 34, "data: 'a b' is not a field name"));
  CHECK(has_error(load, 14, 19, "locale.supported expects language tags"));
  CHECK(has_error(load, 14, 28, "locale.supported: 'sv' is listed twice"));
  CHECK(has_error(load, 15, 1, "did you mean 'data'?"));
  CHECK(load.errors.items.size() == 7);
}

TEST_CASE("custom statuses replace the known ones", "[config]") {
  ConfigDir dir;
  auto load = dir.load(R"(statuses:
  order: [placed, shipped]
gateways: [{ name: g, type: file, path: a }]
channels: { sms: { kind: sms, gateways: [g] } }
rules:
  - { name: r, on: [paid, cancelled], template: placed, channels: [sms] }
)");
  INFO(load.errors.to_string());
  CHECK(has_error(load, 6, 21, "unknown status 'paid'"));
  CHECK_FALSE(has_error(load, "'cancelled'"));  // the default terminal ones remain
}

TEST_CASE("a missing template folder is reported once", "[config]") {
  TempDir dir;
  write_text(dir.file("tack.yaml"), "templates:\n  dir: nowhere\n" + kMinimal);
  auto load = load_config(dir.file("tack.yaml"));
  INFO(load.errors.to_string());
  REQUIRE(load.errors.items.size() == 1);
  CHECK(has_error(load, 2, 8, "template folder " + dir.file("nowhere") + " does not exist"));
}

TEST_CASE("retry bounds are checked", "[config]") {
  ConfigDir dir;
  auto load = dir.load(
      "retry: { max_attempts: -1, initial_backoff: 10m, max_backoff: 1m, "
      "max_age: 0s }\n");
  INFO(load.errors.to_string());
  CHECK(has_error(load, 1, 24, "retry.max_attempts must be between 0 and"));
  CHECK(has_error(load, 1, 63, "retry.max_backoff must not be shorter than"));
  CHECK(has_error(load, 1, 76, "retry.max_age must be longer than 0"));
}

// ------------------------------------------------------------------ environment

TEST_CASE("${VAR} is replaced from the environment, with defaults and $$", "[config]") {
  ConfigDir dir;
  ScopedEnv name("TACK_TEST_SHOP", "Exempel ${TACK_TEST_NOT_AGAIN}");
  ScopedEnv empty("TACK_TEST_EMPTY", "");
  ScopedEnv unset("TACK_TEST_UNSET", std::nullopt);
  ScopedEnv out("TACK_TEST_OUT", "out.jsonl");
  auto load = dir.load(R"(shop:
  name: ${TACK_TEST_SHOP}
  greeting: "Hej ${TACK_TEST_UNSET:-du}!"
  empty: "[${TACK_TEST_EMPTY}]"
  fallback: ${TACK_TEST_EMPTY:-used when empty}
  price: $$5 and $ alone
  escaped: $${TACK_TEST_SHOP}
gateways:
  - { name: file, type: file, path: "${TACK_TEST_OUT}" }
)");
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  const auto& shop = load.config->shop.fields;
  CHECK(shop.at("name") == "Exempel ${TACK_TEST_NOT_AGAIN}");  // a value is never expanded again
  CHECK(shop.at("greeting") == "Hej du!");
  CHECK(shop.at("empty") == "[]");
  CHECK(shop.at("fallback") == "used when empty");
  CHECK(shop.at("price") == "$5 and $ alone");
  CHECK(shop.at("escaped") == "${TACK_TEST_SHOP}");
  CHECK(text_of(load.config->gateway("file")->settings, "path") == "out.jsonl");
}

TEST_CASE("an unset variable is an error at its value", "[config]") {
  ConfigDir dir;
  ScopedEnv unset("TACK_TEST_UNSET", std::nullopt);
  auto load = dir.load(R"(shop:
  name: x
  url: https://${TACK_TEST_UNSET}/shop
  bad: ${not a name}
  open: ${TACK_TEST_UNSET
retry: { max_attempts: "${TACK_TEST_UNSET}" }
)");
  INFO(load.errors.to_string());
  CHECK(has_error(load, 3, 8, "environment variable TACK_TEST_UNSET is not set"));
  CHECK(has_error(load, 4, 8, "'${not a name}' is not a valid environment variable reference"));
  CHECK(has_error(load, 5, 9, "unterminated '${'"));
  CHECK(has_error(load, 6, 24, "environment variable TACK_TEST_UNSET is not set"));
  CHECK(load.errors.items.size() == 4);
}

TEST_CASE("aliases are substituted once", "[config]") {
  ConfigDir dir;
  ScopedEnv var("TACK_TEST_SHOP", "x");
  auto load = dir.load(R"(shop:
  a: &price $${TACK_TEST_SHOP}
  b: *price
)");
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  CHECK(load.config->shop.fields.at("a") == "${TACK_TEST_SHOP}");
  CHECK(load.config->shop.fields.at("b") == "${TACK_TEST_SHOP}");
}

// ------------------------------------------------------------------ secrets

namespace {
std::string http_gateway(const std::string& extra) {
  return "gateways:\n"
         "  - name: sms\n"
         "    type: http\n"
         "    url: https://api.example\n" +
         extra;
}
}  // namespace

TEST_CASE("KEY_file reads a secret beside the config", "[config]") {
  ConfigDir dir;
  ScopedEnv credentials("CREDENTIALS_DIRECTORY", std::nullopt);
  write_text(dir.file("password"), "hunter2\n\n");
  std::filesystem::create_directory(dir.path() / "abs");
  write_text(dir.file("abs/token"), "tok\r\n");
  write_text(dir.file("user"), "api-user\n");
  auto load =
      dir.load(http_gateway("    password_file: password\n"
                            "    username_file: user\n"
                            "    ca_file: /etc/ssl/ca.pem\n"
                            "    bearer_token_file: " +
                            dir.file("abs/token") + "\n"));
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  const PluginSettings& settings = load.config->gateway("sms")->settings;
  auto text = [&](const char* key) { return text_of(settings, key); };
  CHECK(text("password") == "hunter2");
  CHECK(text("bearer_token") == "tok");
  // Any text key may come from a file, not only secrets.
  CHECK(text("username") == "api-user");
  CHECK_FALSE(settings.has("password_file"));
  // ca_file is a key of its own, not a secret for "ca".
  CHECK(text("ca_file") == "/etc/ssl/ca.pem");
  CHECK_FALSE(settings.has("ca"));
}

TEST_CASE("a relative KEY_file is read from $CREDENTIALS_DIRECTORY when set", "[config]") {
  ConfigDir dir;
  TempDir credentials;
  write_text(credentials.file("password"), "from-credentials\n");
  write_text(dir.file("password"), "from-config-dir\n");
  ScopedEnv env("CREDENTIALS_DIRECTORY", credentials.path().string());
  auto load = dir.load(http_gateway("    password_file: password\n"));
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  CHECK(text_of(load.config->gateway("sms")->settings, "password") == "from-credentials");
}

TEST_CASE("secret file errors are reported and never show the secret", "[config]") {
  ConfigDir dir;
  ScopedEnv credentials("CREDENTIALS_DIRECTORY", std::nullopt);
  const std::string secret = "s3cr3t-Pa55";
  write_text(dir.file("password"), secret + "\n");
  ScopedEnv env("TACK_TEST_SECRET", secret);
  auto load = dir.load(R"(gateways:
  - name: both
    type: http
    url: https://api.example
    password: )" + secret +
                       R"(
    password_file: password
  - name: missing
    type: http
    url: https://api.example
    password_file: nowhere
    bearer_token_file: [a]
  - name: typo
    type: smtp
    url: smtp://x
    from: a@b
    pasword_file: password
    timeout: ${TACK_TEST_SECRET}
    username: ["${TACK_TEST_SECRET}"]
  - name: folder
    type: smtp
    url: smtp://x
    from: a@b
    password_file: .
)");
  INFO(load.errors.to_string());
  CHECK(has_error(load, 6, 5, "gateway 'both': give either 'password' or 'password_file'"));
  CHECK(has_error(load, 10, 20,
                  "gateway 'missing': cannot read password_file " + dir.file("nowhere") +
                      ": No such file or directory"));
  CHECK(has_error(load, 11, 24, "gateway 'missing': bearer_token_file expects a file path"));
  CHECK(has_error(load, 16, 5, "unknown key 'pasword_file'; did you mean 'password_file'?"));
  CHECK(has_error(load, 17, 14, "key 'timeout' expects a duration"));
  CHECK(has_error(load, 17, 14, "found '${TACK_TEST_SECRET}'"));
  CHECK(has_error(load, 18, 15, "key 'username' expects text, found a list"));
  CHECK(has_error(load, 23, 20, "cannot read password_file"));
  CHECK(load.errors.items.size() == 7);
  CHECK(load.errors.to_string().find(secret) == std::string::npos);
}

// ------------------------------------------------------------------ plugin keys

TEST_CASE("check_plugin_keys checks every key type", "[config]") {
  const std::vector<ConfigKey> keys{
      {"url", KeyType::String, true, false, ""},
      {"count", KeyType::Int, false, false, ""},
      {"on", KeyType::Bool, false, false, ""},
      {"wait", KeyType::Duration, false, false, ""},
      {"headers", KeyType::StringMap, false, false, ""},
      {"kinds", KeyType::StringList, false, false, ""},
      {"token", KeyType::String, false, true, ""},
  };
  auto check = [&](const std::string& yaml) {
    ConfigErrors errors;
    errors.file = "t.yaml";
    check_plugin_keys(YAML::Load(yaml), keys, "gateway 'g'", errors);
    return errors;
  };
  CHECK(check("{url: u, count: -3, on: false, wait: 2h, headers: {A: b}, kinds: [sms, email], "
              "token: t}")
            .empty());
  CHECK(check("{url: u, headers: , kinds: }").empty());

  auto errors = check(R"(count: 1.5
on: yes
wait: 2 hours
headers: {A: {b: c}}
kinds: sms
token: [the-token]
urll: x
)");
  INFO(errors.to_string());
  REQUIRE(errors.items.size() == 8);
  CHECK(errors.items[0].to_string() ==
        "t.yaml:1:8: gateway 'g': key 'count' expects a whole number, found '1.5'");
  CHECK(errors.items[1].to_string() ==
        "t.yaml:2:5: gateway 'g': key 'on' expects true or false, found 'yes'");
  CHECK(errors.items[2].message.find("key 'wait' expects a duration") != std::string::npos);
  CHECK(errors.items[3].to_string() ==
        "t.yaml:4:11: gateway 'g': key 'headers' expects a map of text values, found a map in it");
  CHECK(errors.items[4].to_string() ==
        "t.yaml:5:8: gateway 'g': key 'kinds' expects a list, found 'sms'");
  CHECK(errors.items[5].to_string() ==
        "t.yaml:6:8: gateway 'g': key 'token' expects text, found a list");
  CHECK(errors.items[6].to_string() ==
        "t.yaml:7:1: gateway 'g': unknown key 'urll'; did you mean 'url'?");
  // A missing key has no position of its own: the map's.
  CHECK(errors.items[7].to_string() == "t.yaml:1:1: gateway 'g': missing required key 'url'");

  CHECK(check("[a]").items.at(0).message == "gateway 'g' expects a map of settings, found a list");
  CHECK(check("zzzz: 1\nurl: u").items.at(0).message == "gateway 'g': unknown key 'zzzz'");
}

TEST_CASE("an unknown plugin type lists the known types", "[config]") {
  ConfigDir dir;
  auto load = dir.load("sources:\n  - { name: s, type: kafka }\n");
  INFO(load.errors.to_string());
  REQUIRE(load.errors.items.size() == 1);
  CHECK(load.errors.items[0].line == 2);
  CHECK(load.errors.items[0].column == 22);
  CHECK(has_error(load, "source 's': unknown type 'kafka' (known types: sqlite_outbox"));
}

// ------------------------------------------------------------------ malformed input

TEST_CASE("a YAML syntax error is reported at the parser's position", "[config]") {
  auto load = load_config_text("store:\n  path: [a, b\nlog: {}\n", "bad.yaml");
  REQUIRE(load.errors.items.size() == 1);
  CHECK_FALSE(load.config);
  const ConfigError& e = load.errors.items[0];
  CHECK(e.file == "bad.yaml");
  CHECK(e.line == 3);
  CHECK(e.column == 4);
  CHECK(e.message.rfind("YAML syntax error: ", 0) == 0);

  auto tabs = load_config_text("log:\n\tlevel: info\n", "tabs.yaml");
  REQUIRE(tabs.errors.items.size() == 1);
  CHECK(tabs.errors.items[0].line == 2);
}

TEST_CASE("malformed and hostile configs give errors, not crashes", "[config]") {
  auto single_error = [](const std::string& text, const std::string& part) {
    auto load = load_config_text(text, "x.yaml");
    INFO(load.errors.to_string());
    CHECK_FALSE(load.config);
    REQUIRE(load.errors.items.size() >= 1);
    CHECK(load.errors.to_string().find(part) != std::string::npos);
  };
  single_error("", "x.yaml: the config is empty");
  single_error("# only a comment\n\n", "the config is empty");
  single_error("~\n", "the config is empty");
  single_error("just a string\n", "x.yaml:1:1: the config must be a map of sections");
  single_error("- a\n- b\n", "found a list");
  single_error("log: {}\n---\nlog: {}\n", "x.yaml:2:1: the config must be one YAML document");
  // yaml-cpp 0.7's LoadAll would loop, allocating, on these.
  single_error(",\n", "the config is empty");
  single_error("log: {}\n---\n, so\n", "x.yaml:2:1: the config must be one YAML document");
  single_error(std::string(2 * 1024 * 1024, '#'), "the config is larger than 1048576 bytes");
  single_error(std::string(100000, '['), "YAML syntax error: nested too deeply");
  const char garbage[] = "log: \"a\0b\"\n\x01\x02\xff\xfe";
  single_error(std::string(garbage, sizeof garbage - 1), "x.yaml:");

  // Deep but within the parser's limit: caught by the loader's own bound.
  std::string deep = "shop:\n  k: ";
  for (int i = 0; i < 100; ++i) deep += "{a: ";
  deep += "x" + std::string(100, '}') + "\n";
  single_error(deep, "nests deeper than");

  // Aliases that would expand to 10^9 nodes if walked naively.
  std::string laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    laughs += fmt::format("a{}: &a{} [", i, i);
    for (int j = 0; j < 10; ++j) laughs += fmt::format("{}*a{}", j ? ", " : "", i - 1);
    laughs += "]\n";
  }
  single_error(laughs, "unknown top-level key 'a8'");

  // Random bytes and random edits of a valid config never throw.
  std::mt19937 random(42);
  const std::string base = read_text(kExample);
  for (int round = 0; round < 300; ++round) {
    std::string text;
    if (round % 2) {
      text = base;
      for (int k = 0; k < 5; ++k) text[random() % text.size()] = static_cast<char>(random());
    } else {
      text.resize(random() % 2000);
      for (auto& c : text) c = static_cast<char>(random());
    }
    ConfigLoad load;
    REQUIRE_NOTHROW(load = load_config_text(text, kExample));
    CHECK(load.config.has_value() == load.errors.empty());
  }
}

TEST_CASE("an unreadable config file is one error", "[config]") {
  TempDir dir;
  auto missing = load_config(dir.file("nope.yaml"));
  REQUIRE(missing.errors.items.size() == 1);
  CHECK(missing.errors.items[0].to_string() ==
        dir.file("nope.yaml") + ": cannot read the config: No such file or directory");
  auto folder = load_config(dir.path().string());
  REQUIRE(folder.errors.items.size() == 1);
  CHECK(folder.errors.items[0].message == "cannot read the config: it is a folder");
  write_text(dir.file("big.yaml"), std::string(1024 * 1024 + 1, '#'));
  auto big = load_config(dir.file("big.yaml"));
  REQUIRE(big.errors.items.size() == 1);
  CHECK(big.errors.items[0].message.find("larger than") != std::string::npos);
}

TEST_CASE("document markers around the one document are fine", "[config]") {
  ConfigDir dir;
  auto load = dir.load("%YAML 1.2\n---\n" + kMinimal + "...\n");
  INFO(load.errors.to_string());
  CHECK(load.config);
}

TEST_CASE("values in errors cannot fake extra lines", "[config]") {
  ConfigDir dir;
  auto load = dir.load("log:\n  level: \"info\\nx.yaml:1:1: fake\"\n");
  REQUIRE(load.errors.items.size() == 1);
  CHECK(load.errors.to_string().find('\n') == load.errors.to_string().size() - 1);
  CHECK(has_error(load, 2, 10, "found 'info?x.yaml:1:1: fake'"));
}

TEST_CASE("load_config_text resolves paths against the given file's folder", "[config]") {
  ConfigDir dir;
  auto load = load_config_text(kMinimal, dir.file("elsewhere.yaml"));
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  CHECK(load.config->store_path == dir.file("tack.db"));
  CHECK(load.config->template_dir == dir.file("templates"));
}

// ------------------------------------------------------------------ small values

TEST_CASE("parse_duration accepts units and rejects the rest", "[config]") {
  using std::chrono::milliseconds;
  const std::vector<std::pair<std::string, std::optional<milliseconds>>> table{
      {"250ms", milliseconds(250)},
      {"30s", milliseconds(30000)},
      {"5m", milliseconds(300000)},
      {"2h", milliseconds(7200000)},
      {"3d", milliseconds(259200000)},
      {"45", milliseconds(45000)},
      {"0", milliseconds(0)},
      {"0ms", milliseconds(0)},
      {"007s", milliseconds(7000)},
      {"9223372036854775807ms", milliseconds(9223372036854775807)},
      {"", std::nullopt},
      {"-5s", std::nullopt},
      {"+5s", std::nullopt},
      {"5", milliseconds(5000)},
      {"5 s", std::nullopt},
      {" 5s", std::nullopt},
      {"5S", std::nullopt},
      {"1.5s", std::nullopt},
      {"1h30m", std::nullopt},
      {"s", std::nullopt},
      {"ms", std::nullopt},
      {"5w", std::nullopt},
      {"5sec", std::nullopt},
      {"abc", std::nullopt},
      {"9223372036854775808ms", std::nullopt},
      {"9223372036854776s", std::nullopt},
      {"106751991167301d", std::nullopt},
      {"99999999999999999999999999", std::nullopt},
  };
  for (const auto& [text, expected] : table) {
    INFO("'" << text << "'");
    CHECK(parse_duration(text) == expected);
  }
}

TEST_CASE("StatusOrder ranks ordered statuses, then terminal ones", "[config]") {
  StatusOrder statuses;
  CHECK(statuses.rank("placed") == 0);
  CHECK(statuses.rank("delivered") == 7);
  CHECK(statuses.rank("cancelled") > statuses.rank("delivered"));
  CHECK(statuses.rank("returned") > statuses.rank("delivered"));
  CHECK(statuses.rank("lost") == -1);
  CHECK(statuses.known("shipped"));
  CHECK(statuses.known("returned"));
  CHECK_FALSE(statuses.known("lost"));
  CHECK(statuses.is_terminal("cancelled"));
  CHECK_FALSE(statuses.is_terminal("delivered"));
  CHECK_FALSE(statuses.is_terminal("lost"));
}

TEST_CASE("errors print as file:line:column: message", "[config]") {
  CHECK(ConfigError{"a.yaml", 3, 7, "bad"}.to_string() == "a.yaml:3:7: bad");
  CHECK(ConfigError{"a.yaml", 0, 0, "bad"}.to_string() == "a.yaml: bad");
  ConfigErrors errors;
  errors.file = "b.yaml";
  add_at(errors, YAML::Mark::null_mark(), "no position");
  errors.add("no position either");
  YAML::Node node = YAML::Load("a: 1\nb: 2\n");
  add_at(errors, node["b"].Mark(), "at b");
  errors.add(5, 2, "at a line");
  CHECK(errors.to_string() ==
        "b.yaml: no position\nb.yaml: no position either\nb.yaml:2:4: at b\nb.yaml:5:2: at a "
        "line\n");
  CHECK(to_string(ChannelKind::Sms) == "sms");
  CHECK(to_string(ChannelKind::Email) == "email");
}

// ------------------------------------------------------------------ http

TEST_CASE("no http section means no listener; an empty one takes the defaults", "[config]") {
  ConfigDir dir;
  auto none = dir.load(kMinimal);
  REQUIRE(none.config);
  CHECK_FALSE(none.config->http);
  auto empty = dir.load(kMinimal + "http:\n  # listen: 127.0.0.1:8425\n");
  INFO(empty.errors.to_string());
  REQUIRE(empty.config);
  REQUIRE(empty.config->http);
  const HttpConfig& http = *empty.config->http;
  CHECK(http.listen_host == "127.0.0.1");
  CHECK(http.listen_port == 8425);
  CHECK(http.max_body_bytes == 1048576);
  CHECK(http.health_from.empty());  // health needs a password unless ops say from where
  CHECK(http.hosts.empty());
  CHECK(http.max_connections == 256);
  CHECK(http.request_timeout == std::chrono::seconds(30));
  CHECK(http.events_token.empty());
  CHECK(http.events_hmac_secret.empty());
  CHECK(http.users.empty());
}

TEST_CASE("the http section reads every key, secrets from files too", "[config]") {
  ConfigDir dir;
  TempDir credentials;
  write_text(credentials.file("events-hmac"), "hmac-secret-0123456789\n");
  write_text(credentials.file("olle-hash"), "$6$salt$abcdefghijklmnop\n");
  ScopedEnv env("CREDENTIALS_DIRECTORY", credentials.path().string());
  auto load = dir.load(kMinimal + R"(http:
  listen: "[::1]:0"
  max_body_bytes: 4096
  health_from: [192.0.2.10, "fd00::/8"]
  hosts: [Tack.Example.COM]
  max_connections: 8
  request_timeout: 2s
  events:
    token: tok-0123456789abcdef
    hmac_secret_file: events-hmac
  users:
    - name: anna
      password_hash: "$y$j9T$abcdefghijklmnopqrstu0$V0LvotLQ9devhmW4OOlM/05SxS0PdtDq4OhF7DV40KA"
    - name: olle
      password_hash_file: olle-hash
)");
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  const HttpConfig& http = *load.config->http;
  CHECK(http.listen_host == "::1");
  CHECK(http.listen_port == 0);
  CHECK(http.max_body_bytes == 4096);
  REQUIRE(http.health_from.size() == 2);
  CHECK(http.health_from[0].text == "192.0.2.10");
  CHECK(range_contains(http.health_from[1], "fd00::9"));
  CHECK(http.hosts == std::vector<std::string>{"tack.example.com"});
  CHECK(http.max_connections == 8);
  CHECK(http.request_timeout == std::chrono::seconds(2));
  CHECK(http.events_token == "tok-0123456789abcdef");
  CHECK(http.events_hmac_secret == "hmac-secret-0123456789");
  REQUIRE(http.users.size() == 2);
  CHECK(http.users[0].name == "anna");
  CHECK(http.users[0].password_hash.rfind("$y$j9T$", 0) == 0);
  CHECK(http.users[1].password_hash == "$6$salt$abcdefghijklmnop");
}

TEST_CASE("a SHA-crypt hash with fewer rounds than the default is refused", "[config]") {
  ConfigDir dir;
  auto users = [&](const std::string& hash) {
    return dir.load(kMinimal + "http:\n  users:\n    - name: anna\n      password_hash: \"" +
                    hash + "\"\n");
  };
  auto weak = users("$6$rounds=1000$salt$abcdefghijklmnop");
  REQUIRE_FALSE(weak.config);
  CHECK(has_error(weak, 15, 22, "password_hash uses 1000 rounds of SHA-crypt, fewer than 5000"));
  CHECK_FALSE(users("$5$rounds=4999$salt$abcdefghijklmnop").config);
  CHECK(users("$5$rounds=5000$salt$abcdefghijklmnop").config);
  CHECK(users("$6$rounds=656000$salt$abcdefghijklmnop").config);
  CHECK(users("$6$salt$abcdefghijklmnop").config);  // no rounds=: the default, 5000
  CHECK(users("$y$j9T$abcdefghijklmnopqrstu0$V0LvotLQ9devhmW4OOlM/05SxS0PdtDq4OhF7DV40KA").config);
}

TEST_CASE("http errors name their line and column and never show a secret", "[config]") {
  ConfigDir dir;
  auto load = dir.load(kMinimal + R"(http:
  listen: localhost:80
  max_body_bytes: 10
  open_health: maybe
  request_timeout: forever
  events:
    token: short-secret
    hmac_secret: hmac-0123456789abcdef
    hmac_secret_file: somewhere
  users:
    - name: anna
      password_hash: plaintext-password
    - name: anna
      password_hash: "$6$salt$abcdefghijklmnop"
    - name: "bad:name"
      password_hash: "$6$salt$abcdefghijklmnop"
    - password_hash: "$5$salt$abcdefghijklmnop"
    - name: eve
  lisen: 1
)");
  REQUIRE_FALSE(load.config);
  INFO(load.errors.to_string());
  CHECK(has_error(load, 13, 11, "http.listen expects an IP address and a port"));
  CHECK(has_error(load, 14, 19, "http.max_body_bytes must be between 1024"));
  CHECK(has_error(load, 15, 16, "http.open_health expects true or false"));
  CHECK(has_error(load, 16, 20, "http.request_timeout expects a duration"));
  CHECK(has_error(load, 18, 12, "token is shorter than 16 characters"));
  CHECK(has_error(load, 20, 23, "give either 'hmac_secret' or 'hmac_secret_file', not both"));
  CHECK(has_error(load, 23, 22, "password_hash must be a crypt(3) hash"));
  CHECK(has_error(load, 24, 13, "user 'anna' is defined twice"));
  CHECK(has_error(load, 26, 13, "must use letters, digits"));
  CHECK(has_error(load, 28, 7, "missing required key 'name'"));
  CHECK(has_error(load, 29, 7, "missing required key 'password_hash'"));
  CHECK(has_error(load, 30, 3, "unknown key 'lisen' in http; did you mean 'listen'?"));
  const std::string text = load.errors.to_string();
  CHECK(text.find("short-secret") == std::string::npos);
  CHECK(text.find("plaintext-password") == std::string::npos);
}

TEST_CASE("http.listen takes IPv4, bracketed IPv6 and ports 0 to 65535 only", "[config]") {
  ConfigDir dir;
  for (const char* good : {"0.0.0.0:0", "127.0.0.1:65535", "\"[::]:8425\""}) {
    auto load = dir.load(kMinimal + "http:\n  listen: " + good + "\n");
    INFO(good << "\n" << load.errors.to_string());
    CHECK(load.config);
  }
  for (const char* bad : {"127.0.0.1", "127.0.0.1:65536", "127.0.0.1:-1", "::1:80", "[::1]",
                          "\"[127.0.0.1]:80\"", ":80", "127.0.0.1:80x", "example.com:80"}) {
    auto load = dir.load(kMinimal + "http:\n  listen: " + bad + "\n");
    INFO(bad);
    CHECK(has_error(load, "http.listen expects"));
  }
}

TEST_CASE("http.public_url is an https base URL, or http on this machine", "[config][receipts]") {
  ConfigDir dir;
  auto http = [&](const std::string& url) {
    return dir.load(kMinimal + "http:\n  public_url: " + url + "\n");
  };
  auto good = http("https://tack.example.com/");
  INFO(good.errors.to_string());
  REQUIRE(good.config);
  CHECK(good.config->http->public_url == "https://tack.example.com");
  auto local = http("http://127.0.0.1:8425");
  REQUIRE(local.config);
  CHECK(local.config->http->public_url == "http://127.0.0.1:8425");
  CHECK(dir.load(kMinimal + "http:\n").config->http->public_url.empty());
  for (const char* bad : {"http://tack.example.com", "https://", "tack.example.com",
                          "https://a:b@tack.example.com", "https://tack.example.com/?x=1",
                          "\"https://tack example.com\""}) {
    INFO(bad);
    CHECK(has_error(http(bad), 13, 15, "http.public_url expects"));
  }
}

TEST_CASE("health_from takes addresses and blocks; the older open_health means loopback",
          "[config]") {
  ConfigDir dir;
  auto http = [&](const std::string& lines) { return dir.load(kMinimal + "http:\n" + lines); };
  auto legacy = http("  open_health: true\n");
  REQUIRE(legacy.config);
  const auto& from = legacy.config->http->health_from;
  REQUIRE(from.size() == 2);
  CHECK(range_contains(from[0], "127.0.0.1"));
  CHECK(range_contains(from[1], "::1"));
  auto closed = http("  open_health: false\n");
  REQUIRE(closed.config);
  CHECK(closed.config->http->health_from.empty());

  auto both = http("  open_health: true\n  health_from: [127.0.0.1]\n");
  CHECK(has_error(both, "not both"));
  auto bad = http("  health_from: [127.0.0.1, localhost, 10.0.0.0/33]\n  hosts: [\"a b\"]\n");
  CHECK(has_error(bad, 13, 28, "found 'localhost'"));
  CHECK(has_error(bad, 13, 39, "found '10.0.0.0/33'"));
  CHECK(has_error(bad, 14, 11, "http.hosts expects host names"));
}

TEST_CASE("http reads the slow-client limits: per-client cap, head, idle and body rate",
          "[config]") {
  ConfigDir dir;
  auto defaults = dir.load(kMinimal + "http:\n");
  INFO(defaults.errors.to_string());
  REQUIRE(defaults.config);
  const HttpConfig& http = *defaults.config->http;
  CHECK(http.max_connections_per_client == 32);
  CHECK(http.header_timeout == std::chrono::seconds(10));
  CHECK(http.idle_timeout == std::chrono::seconds(5));
  CHECK(http.min_body_rate == 1024);

  auto set = dir.load(kMinimal + R"(http:
  max_connections_per_client: 4
  header_timeout: 2s
  idle_timeout: 500ms
  min_body_rate: 100
)");
  INFO(set.errors.to_string());
  REQUIRE(set.config);
  CHECK(set.config->http->max_connections_per_client == 4);
  CHECK(set.config->http->header_timeout == std::chrono::seconds(2));
  CHECK(set.config->http->idle_timeout == std::chrono::milliseconds(500));
  CHECK(set.config->http->min_body_rate == 100);

  auto bad = dir.load(kMinimal + R"(http:
  max_connections_per_client: 0
  header_timeout: 10ms
  idle_timeout: 2h
  min_body_rate: fast
)");
  REQUIRE_FALSE(bad.config);
  INFO(bad.errors.to_string());
  CHECK(has_error(bad, "http.max_connections_per_client must be between 1 and 100000"));
  CHECK(has_error(bad, "http.header_timeout must be between 100ms and 1h"));
  CHECK(has_error(bad, "http.idle_timeout must be between 100ms and 1h"));
  CHECK(has_error(bad, "http.min_body_rate expects a whole number"));
}

TEST_CASE("the example documents every http key and its commented keys are valid", "[config]") {
  const std::string text = read_text(kExample);
  for (const char* key :
       {"listen", "max_body_bytes", "health_from", "hosts", "max_connections",
        "max_connections_per_client", "request_timeout", "header_timeout", "idle_timeout",
        "min_body_rate", "events", "token", "token_file", "hmac_secret", "hmac_secret_file",
        "users", "name", "password_hash", "password_hash_file"}) {
    INFO(key);
    CHECK(text.find(std::string(key) + ":") != std::string::npos);
  }
  // Uncomment the http section's keys ("  # key:", "  #   key:",
  // "  #   - key:"), keep the prose and trailing notes as comments.
  std::istringstream in(text);
  std::string line, uncommented;
  bool in_http = false;
  auto key_line = [](const std::string& l) {
    if (l.rfind("  # ", 0) != 0) return false;
    std::size_t i = 4;
    while (i < l.size() && l[i] == ' ') ++i;
    if (l.compare(i, 2, "- ") == 0) i += 2;
    const std::size_t start = i;
    while (i < l.size() && ((l[i] >= 'a' && l[i] <= 'z') || l[i] == '_')) ++i;
    return i > start && i < l.size() && l[i] == ':';
  };
  while (std::getline(in, line)) {
    if (line.rfind("http:", 0) == 0) in_http = true;
    if (in_http && key_line(line)) line.erase(2, 2);
    uncommented += line + "\n";
  }
  REQUIRE(uncommented.find("\n  events:\n    token_file: events-token") != std::string::npos);
  TempDir credentials;
  write_text(credentials.file("events-token"), "0123456789abcdef0123\n");
  write_text(credentials.file("events-hmac"), "fedcba98765432100123\n");
  write_text(credentials.file("optout-secret"), "0123456789abcdef0123456789\n");
  ScopedEnv dir("CREDENTIALS_DIRECTORY", credentials.path().string());
  auto load = load_config_text(uncommented, kExample);
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  const HttpConfig& http = *load.config->http;
  CHECK(http.listen_host == "127.0.0.1");
  CHECK(http.listen_port == 8425);
  CHECK(http.max_body_bytes == 1048576);
  CHECK(http.events_token == "0123456789abcdef0123");
  REQUIRE(http.users.size() == 1);
  CHECK(http.users[0].name == "anna");
}

// ------------------------------------------------------------------ limits

TEST_CASE("every limit is read from limits: and checked against its range", "[config]") {
  ConfigDir dir;
  auto load = dir.load(R"(limits:
  max_event_bytes: 2048
  max_json_depth: 8
  max_json_values: 500
  max_string_bytes: 256
  max_events_per_request: 10
  max_request_head_bytes: 4096
  max_response_bytes: 8192
  max_message_bytes: 1000
  max_template_bytes: 9999
)");
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  const Limits& l = load.config->limits;
  CHECK(l.max_event_bytes == 2048);
  CHECK(l.max_json_depth == 8);
  CHECK(l.max_json_values == 500);
  CHECK(l.max_string_bytes == 256);
  CHECK(l.max_events_per_request == 10);
  CHECK(l.max_request_head_bytes == 4096);
  CHECK(l.max_response_bytes == 8192);
  CHECK(l.max_message_bytes == 1000);
  CHECK(l.max_template_bytes == 9999);

  auto bad = dir.load(R"(limits:
  max_json_depth: 100000
  max_json_values: 0
  max_string_bytes: lots
  max_events_per_request: -1
  max_request_head_bytes: 10
  max_message_bytes: 99999999999
  max_depth: 3
)");
  INFO(bad.errors.to_string());
  CHECK_FALSE(bad.config);
  CHECK(has_error(bad, 2, 19, "limits.max_json_depth must be between 4 and 512"));
  CHECK(has_error(bad, 3, 20, "limits.max_json_values must be between 16 and"));
  CHECK(has_error(bad, 4, 21, "limits.max_string_bytes expects a whole number, found 'lots'"));
  CHECK(has_error(bad, 5, 27, "limits.max_events_per_request must be between 1 and"));
  CHECK(has_error(bad, 6, 27, "limits.max_request_head_bytes must be between 1024 and"));
  CHECK(has_error(bad, 7, 22, "limits.max_message_bytes must be between 160 and"));
  CHECK(has_error(bad, 8, 3, "unknown key 'max_depth' in limits"));
}

TEST_CASE("the defaults of limits: are the documented ones", "[config]") {
  ConfigDir dir;
  auto load = dir.load("store: { path: tack.db }\n");
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  const Limits& l = load.config->limits;
  CHECK(l.max_event_bytes == 65536);
  CHECK(l.max_json_depth == 32);
  CHECK(l.max_json_values == 10000);
  CHECK(l.max_string_bytes == 16384);
  CHECK(l.max_events_per_request == 1000);
  CHECK(l.max_request_head_bytes == 16384);
  CHECK(l.max_response_bytes == 1048576);
  CHECK(l.max_message_bytes == 262144);
  CHECK(l.max_template_bytes == 262144);
  CHECK(load.config->secrets.on_readable == OnReadableSecrets::Warn);
}

// ------------------------------------------------------- secrets: and sources

TEST_CASE("secrets.on_readable is warn or refuse", "[config]") {
  ConfigDir dir;
  auto refuse = dir.load("secrets: { on_readable: refuse }\n");
  INFO(refuse.errors.to_string());
  REQUIRE(refuse.config);
  CHECK(refuse.config->secrets.on_readable == OnReadableSecrets::Refuse);
  auto bad = dir.load("secrets:\n  on_readable: shout\n");
  CHECK_FALSE(bad.config);
  CHECK(has_error(bad, 2, 16, "secrets.on_readable expects warn or refuse, found 'shout'"));
}

TEST_CASE("the loader notes inline secrets and secret files, not ${ENV} ones", "[config]") {
  ConfigDir dir;
  ScopedEnv credentials("CREDENTIALS_DIRECTORY", std::nullopt);
  ScopedEnv token("TACK_TEST_TOKEN", "a-token-from-the-environment");
  write_text(dir.file("hmac"), "an-hmac-secret-from-a-file\n");
  write_text(dir.file("user"), "api-user\n");
  auto load = dir.load(R"(gateways:
  - name: sms
    type: http
    url: https://api.example
    password: inline-password
    username_file: user
    bearer_token: ${TACK_TEST_TOKEN}
http:
  events:
    token: ${TACK_TEST_TOKEN}
    hmac_secret_file: hmac
)");
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  const auto& files = load.config->secrets.files;
  REQUIRE(files.size() == 2);
  CHECK(files[0].path == load.config->path);
  CHECK(files[0].key == "gateway 'sms' password");
  CHECK(files[0].inline_value);
  CHECK(files[1].path == dir.file("hmac"));
  CHECK(files[1].key == "http.events hmac_secret_file");
  CHECK_FALSE(files[1].inline_value);
  // username_file is no secret file: username is not a secret key.
}

// ------------------------------------------------------------------ retention (issue 6)

TEST_CASE("retention defaults to anonymising after 120 days in batches of 500", "[config]") {
  ConfigDir dir;
  auto load = dir.load(kMinimal);
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  const auto& r = load.config->retention;
  CHECK(r.keep == std::chrono::hours(24 * 120));
  CHECK(r.action == RetentionPolicy::Action::Anonymise);
  CHECK(r.interval == std::chrono::minutes(10));
  CHECK(r.batch == 500);
}

TEST_CASE("retention takes short durations for tests and every action", "[config]") {
  ConfigDir dir;
  auto load = dir.load("retention:\n  keep: 2s\n  action: delete\n  interval: 250ms\n"
                       "  batch: 50\n" + kMinimal);
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  CHECK(load.config->retention.keep == std::chrono::seconds(2));
  CHECK(load.config->retention.action == RetentionPolicy::Action::Delete);
  CHECK(load.config->retention.interval == std::chrono::milliseconds(250));
  CHECK(load.config->retention.batch == 50);
  auto us = dir.load("retention:\n  action: anonymize\n" + kMinimal);
  REQUIRE(us.config);
  CHECK(us.config->retention.action == RetentionPolicy::Action::Anonymise);
  auto off = dir.load("retention:\n  action: off\n" + kMinimal);
  REQUIRE(off.config);
  CHECK(off.config->retention.action == RetentionPolicy::Action::Off);
}

TEST_CASE("bad retention values are reported with their position", "[config]") {
  ConfigDir dir;
  auto load = dir.load("retention:\n  keep: forever\n  action: shred\n  batch: 0\n"
                       "  interval: 0s\n  kept: 1d\n" + kMinimal);
  CHECK_FALSE(load.config);
  CHECK(has_error(load, 2, 9, "retention.keep expects a duration"));
  CHECK(has_error(load, 3, 11, "retention.action expects anonymise, delete or off"));
  CHECK(has_error(load, 4, 10, "retention.batch must be between 1 and 10000"));
  CHECK(has_error(load, 5, 13, "retention.interval must be longer than 0"));
  CHECK(has_error(load, 6, 3, "unknown key 'kept' in retention"));
}

// ---- the store's part alone (issue 12) -------------------------------------

namespace {

// The daemon's config as a root shell sees it: the service's ${ENV} and
// credentials are missing, the template folder is gone.
const char* kShellConfig = R"(store:
  path: ${TACK_TEST_STATE_DIR}/tack.db
templates:
  dir: no-such-templates
locale:
  region: pl
retention:
  keep: 30d
  action: delete
sources:
  - name: shop
    type: sqlite_outbox
    path: shop.db
gateways:
  - name: elks
    type: http
    url: https://api.46elks.com/a1/sms
    username: ${TACK_TEST_UNSET_ELKS_USER}
    password_file: elks-password
    form: { to: "{{to}}", message: "{{text}}" }
  - name: mail
    type: smtp
    url: smtp://mail.example:587
    from: shop@example.se
    password: ${TACK_TEST_UNSET_SMTP_PASSWORD}
channels:
  sms: { kind: sms, gateways: [elks] }
rules:
  - { name: shipped, on: shipped, template: shipped, channels: [sms] }
  - { name: broken, on: nope, template: missing, channels: [fax] }
unknown_section: true
)";

}  // namespace

TEST_CASE("the store's part loads without a gateway secret or a sound rest of the config",
          "[config]") {
  ConfigDir dir;
  ScopedEnv state("TACK_TEST_STATE_DIR", dir.path().string());
  ScopedEnv user("TACK_TEST_UNSET_ELKS_USER", std::nullopt);
  ScopedEnv password("TACK_TEST_UNSET_SMTP_PASSWORD", std::nullopt);
  write_text(dir.file("tack.yaml"), kShellConfig);

  // The whole config is refused, naming the secrets it cannot resolve.
  auto whole = load_config(dir.file("tack.yaml"));
  REQUIRE_FALSE(whole.config);
  const auto errors = whole.errors.to_string();
  CHECK(errors.find("environment variable TACK_TEST_UNSET_ELKS_USER is not set") !=
        std::string::npos);
  CHECK(errors.find("cannot read password_file") != std::string::npos);

  auto part = load_store_config(dir.file("tack.yaml"));
  INFO(part.errors.to_string());
  REQUIRE(part.config);
  CHECK(part.config->store_path == (dir.path() / "tack.db").lexically_normal().string());
  CHECK(part.config->default_region == "PL");
  CHECK(part.config->retention.action == RetentionPolicy::Action::Delete);
  CHECK(part.config->retention.keep == std::chrono::hours(24 * 30));
  REQUIRE(part.config->sources.size() == 1);
  CHECK(part.config->sources[0].type == "sqlite_outbox");
  CHECK(part.config->gateway_names == std::vector<std::string>{"elks", "mail"});
}

TEST_CASE("the store's part reports errors in the sections it reads", "[config]") {
  ConfigDir dir;
  ScopedEnv unset("TACK_TEST_UNSET_STORE_DIR", std::nullopt);
  write_text(dir.file("tack.yaml"),
             "store:\n  path: ${TACK_TEST_UNSET_STORE_DIR}/tack.db\nretention:\n  action: "
             "shred\n");
  auto part = load_store_config(dir.file("tack.yaml"));
  CHECK_FALSE(part.config);
  const auto errors = part.errors.to_string();
  CHECK(errors.find(":2:9: environment variable TACK_TEST_UNSET_STORE_DIR is not set") !=
        std::string::npos);
  CHECK(errors.find("retention.action expects anonymise, delete or off") != std::string::npos);
  CHECK(load_store_config(dir.file("missing.yaml")).errors.to_string().find(
            "cannot read the config") != std::string::npos);
}

TEST_CASE("a plugin gets its settings as text, lists and ordered maps, without YAML",
          "[config]") {
  const PluginSettings settings = plugin_settings_from_yaml(
      "url: https://x\nkinds: [sms, email]\nheaders: {Z: 1, A: 2}\nempty:\ncount: 3\n");
  REQUIRE(settings.find("url"));
  CHECK(settings.find("url")->shape == SettingValue::Shape::Text);
  CHECK(settings.find("url")->text == "https://x");
  CHECK(settings.find("count")->text == "3");
  CHECK(settings.find("kinds")->list == std::vector<std::string>{"sms", "email"});
  // The config's order, not sorted: a provider may care about header order.
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  CHECK(settings.find("headers")->map == Pairs{{"Z", "1"}, {"A", "2"}});
  CHECK_FALSE(settings.has("empty"));
  CHECK_FALSE(settings.has("missing"));

  // Equal settings compare equal however they were written; any change shows.
  CHECK(settings == plugin_settings_from_yaml("count: '3'\nheaders:\n  Z: '1'\n  A: '2'\n"
                                              "kinds:\n  - sms\n  - email\nurl: https://x\n"));
  CHECK_FALSE(settings == plugin_settings_from_yaml("url: https://x\nkinds: [sms, email]\n"
                                                    "headers: {A: 2, Z: 1}\ncount: 3\n"));

  CHECK_THROWS_AS(plugin_settings_from_yaml("[1, 2]"), std::runtime_error);
  CHECK_THROWS_AS(plugin_settings_from_yaml("a: {b: [1]}"), std::runtime_error);
  CHECK_THROWS_AS(plugin_settings_from_yaml("a: [b"), std::runtime_error);
}

// ------------------------------------------------------------------ time (issue 16)

namespace {
const std::string kTimeBase = R"(gateways:
  - name: file
    type: file
    path: out.jsonl
channels:
  sms: { kind: sms, gateways: [file] }
  email: { kind: email, gateways: [file] }
)";
}  // namespace

TEST_CASE("delayed rules, promise watches, purpose, urgency and fixed recipients load",
          "[config][time]") {
  ConfigDir dir;
  auto load = dir.load(kTimeBase + R"(
rules:
  - { name: now, on: shipped, template: shipped, channels: [sms] }
  - name: follow_up
    on: delivered
    after: 3d
    at: "10:00"
    unless: [returned, cancelled]
    template: placed
    channels: [email]
    purpose: marketing
    ttl: 2d
  - name: late
    on: shipped
    from: delivery.window_end
    after: 2h
    unless: delivered
    template: shipped
    channels: [sms]
    urgent: true
    supersede: newer_status
  - name: invoice_reminder
    on: placed
    from: data.invoice_due
    before: 3d
    template: placed
    channels: [email]
  - name: ops
    on: paid
    after: 48h
    unless: [shipped]
    template: placed
    channels: [email]
    to: ops@shop.example
)");
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  const auto& rules = load.config->rules;
  REQUIRE(rules.size() == 5);
  CHECK_FALSE(rules[0].delayed());
  CHECK(rules[0].supersede == SupersedePolicy::NewerStatus);
  CHECK(rules[0].purpose == RuleConfig::Purpose::Transactional);
  CHECK(rules[1].delayed());
  CHECK(rules[1].after == std::chrono::hours(72));
  CHECK(rules[1].at_minute == 600);
  CHECK(rules[1].unless == std::vector<std::string>{"returned", "cancelled"});
  CHECK(rules[1].supersede == SupersedePolicy::Never);  // a follow-up is never superseded
  CHECK(rules[1].purpose == RuleConfig::Purpose::Marketing);
  CHECK(rules[2].from == "delivery.window_end");
  CHECK(rules[2].unless == std::vector<std::string>{"delivered"});
  CHECK(rules[2].urgent);
  CHECK(rules[2].supersede == SupersedePolicy::NewerStatus);
  CHECK(rules[3].after == -std::chrono::hours(72));
  CHECK(rules[4].to == "ops@shop.example");
  // Channels: quiet hours on for SMS, off for e-mail, no cap.
  CHECK(load.config->channel("sms")->quiet_hours);
  CHECK_FALSE(load.config->channel("email")->quiet_hours);
  CHECK(load.config->channel("sms")->cap_max == 0);
  // Default allowed hours, and the built-in countries.
  CHECK(load.config->quiet_hours.window_for("SE") == DailyWindow{8 * 60, 21 * 60});
  CHECK(load.config->quiet_hours.window_for("NO") == DailyWindow{8 * 60, 21 * 60});
}

TEST_CASE("quiet hours and frequency caps are configured per channel and country",
          "[config][time]") {
  ConfigDir dir;
  auto load = dir.load(R"(gateways:
  - { name: file, type: file, path: out.jsonl }
channels:
  sms: { kind: sms, gateways: [file], frequency_cap: { max: 3, per: 24h } }
  email: { kind: email, gateways: [file], quiet_hours: true }
  night: { kind: sms, gateways: [file], quiet_hours: false }
quiet_hours:
  allowed: "09:00-20:00"
  countries: { PL: "08:30-20:30", DE: "21:00-07:00" }
rules:
  - { name: r, on: placed, template: placed, channels: [sms] }
)");
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  CHECK(load.config->channel("sms")->cap_max == 3);
  CHECK(load.config->channel("sms")->cap_per == std::chrono::hours(24));
  CHECK(load.config->channel("sms")->cap_text == "3 per 24h");
  CHECK(load.config->channel("email")->quiet_hours);
  CHECK_FALSE(load.config->channel("night")->quiet_hours);
  const auto& quiet = load.config->quiet_hours;
  CHECK(quiet.window_for("FR") == DailyWindow{9 * 60, 20 * 60});
  CHECK(quiet.window_for("PL") == DailyWindow{8 * 60 + 30, 20 * 60 + 30});
  CHECK(quiet.window_for("DE") == DailyWindow{21 * 60, 7 * 60});
  CHECK(quiet.window_for("SE") == DailyWindow{9 * 60, 20 * 60});  // allowed, as written
}

TEST_CASE("bad time keys are errors at their values, all at once", "[config][time]") {
  ConfigDir dir;
  auto load = dir.load(kTimeBase + R"(quiet_hours:
  allowed: "8-21"
  countries: { sweden: "08:00-21:00", PL: [1] }
rules:
  - name: a
    on: delivered
    after: 3d
    before: 1d
    from: "delivery window"
    at: "25:00"
    unless: [retruned]
    supersede: sometimes
    purpose: spam
    urgent: maybe
    template: placed
    channels: [sms]
  - name: b
    on: placed
    before: 3d
    template: placed
    channels: [sms, email]
    to: ops@shop.example
  - name: c
    on: placed
    template: placed
    channels: [email]
    purpose: marketing
    to: ops@shop.example
)" + R"(
)");
  REQUIRE_FALSE(load.config);
  CHECK(has_error(load, "quiet_hours.allowed expects local hours such as \"08:00-21:00\""));
  CHECK(has_error(load, "'sweden' is not a country code"));
  CHECK(has_error(load, "quiet_hours.countries.PL expects local hours"));
  CHECK(has_error(load, "rule 'a': give after or before, not both"));
  CHECK(has_error(load, "rule 'a' from expects a dotted field path"));
  CHECK(has_error(load, "rule 'a' at expects a time of day such as \"10:00\", found '25:00'"));
  CHECK(has_error(load, "rule 'a': unless names unknown status 'retruned'; did you mean 'returned'?"));
  CHECK(has_error(load, "rule 'a' supersede expects newer_status or never"));
  CHECK(has_error(load, "rule 'a' purpose expects transactional or marketing"));
  CHECK(has_error(load, "rule 'a' urgent expects true or false"));
  CHECK(has_error(load, "rule 'b': before needs from"));
  CHECK(has_error(load, "rule 'b': to 'ops@shop.example' is an e-mail address, but channel 'sms' is sms"));
  CHECK(has_error(load, "rule 'c': a rule with a fixed recipient (to) is for the shop's own people"));

  auto caps = dir.load(R"(gateways:
  - { name: file, type: file, path: out.jsonl }
channels:
  a: { kind: sms, gateways: [file], frequency_cap: { max: 0, per: 24h } }
  b: { kind: sms, gateways: [file], frequency_cap: { max: 3 } }
  c: { kind: sms, gateways: [file], frequency_cap: { max: 3, per: soon } }
  d: { kind: sms, gateways: [file], frequency_cap: 3 }
  e: { kind: sms, gateways: [file], quiet_hours: sometimes }
rules:
  - { name: r, on: placed, template: placed, channels: [a] }
)");
  REQUIRE_FALSE(caps.config);
  CHECK(has_error(caps, "channel 'a' frequency_cap.max must be between 1 and 1000000"));
  CHECK(has_error(caps, "channel 'b' frequency_cap needs both max and per"));
  CHECK(has_error(caps, "channel 'c' frequency_cap.per expects a duration"));
  CHECK(has_error(caps, "channel 'd' frequency_cap"));
  CHECK(has_error(caps, "channel 'e' quiet_hours expects true or false"));
}

TEST_CASE("the default statuses know pickups, failed deliveries and refunds", "[config][time]") {
  StatusOrder statuses;
  for (const char* s : {"delivery_failed", "ready_for_pickup", "picked_up", "refunded"}) {
    INFO(s);
    CHECK(statuses.known(s));
  }
  CHECK(statuses.rank("ready_for_pickup") > statuses.rank("shipped"));
  CHECK(statuses.rank("picked_up") > statuses.rank("delivered"));
  CHECK(statuses.is_terminal("refunded"));
  CHECK(statuses.rank("refunded") > statuses.rank("returned"));
}
