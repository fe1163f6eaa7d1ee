// The one explicit list of gateway kinds: each kind's config keys (the
// loader checks settings against them and reports unknown ones) and the
// factory that turns checked settings into the kind's options. Reading the
// settings lives here, beside the key tables, so a key cannot be read
// without being declared.
#include <cctype>
#include <filesystem>
#include <stdexcept>

#include "gateways/file.hpp"
#include "gateways/gateway.hpp"
#include "gateways/http.hpp"
#include "gateways/secret_filter.hpp"
#include "gateways/smtp.hpp"

namespace tack {

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// Settings of one gateway, with errors that name it. The loader has
// already checked key names and types; these checks are the values'.
class Settings {
 public:
  explicit Settings(const GatewayConfig& config) : config_(config) {}

  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw std::runtime_error("gateway \"" + config_.name + "\": " + key + ": " + problem);
  }

  bool has(const std::string& key) const {
    return config_.settings.IsMap() && config_.settings[key] && !config_.settings[key].IsNull();
  }

  std::string string(const std::string& key, const std::string& fallback = {}) const {
    if (!has(key)) return fallback;
    const YAML::Node node = config_.settings[key];
    if (!node.IsScalar()) fail(key, "must be a string");
    return node.as<std::string>();
  }

  std::string required(const std::string& key) const {
    std::string value = string(key);
    if (value.empty()) fail(key, "is required");
    return value;
  }

  bool boolean(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    try {
      return config_.settings[key].as<bool>();
    } catch (const YAML::Exception&) {
      fail(key, "must be true or false");
    }
  }

  std::chrono::milliseconds duration(const std::string& key,
                                     std::chrono::milliseconds fallback) const {
    if (!has(key)) return fallback;
    const auto value = parse_duration(string(key));
    if (!value) fail(key, "is not a duration (like 250ms, 10s, 5m)");
    return *value;
  }

  Pairs map(const std::string& key) const {
    Pairs pairs;
    if (!has(key)) return pairs;
    const YAML::Node node = config_.settings[key];
    if (!node.IsMap()) fail(key, "must be a map of names to strings");
    for (const auto& entry : node) {
      if (!entry.second.IsScalar())
        fail(key + "." + entry.first.as<std::string>(), "must be a string");
      pairs.emplace_back(entry.first.as<std::string>(), entry.second.as<std::string>());
    }
    return pairs;
  }

  std::vector<std::string> list(const std::string& key) const {
    std::vector<std::string> items;
    if (!has(key)) return items;
    const YAML::Node node = config_.settings[key];
    if (!node.IsSequence()) fail(key, "must be a list of strings");
    for (const auto& item : node) items.push_back(item.as<std::string>());
    return items;
  }

  Mailbox mailbox(const std::string& key) const {
    const MailboxParse parse = parse_mailbox(string(key));
    if (!parse.mailbox) fail(key, parse.error);
    return *parse.mailbox;
  }

 private:
  const GatewayConfig& config_;
};

std::unique_ptr<Gateway> create_file(const GatewayConfig& config, GatewayContext& context) {
  const Settings settings(config);
  FileGatewayOptions options;
  std::filesystem::path path = settings.required("path");
  if (path.is_relative() && !context.config_dir.empty()) path = context.config_dir / path;
  options.path = path.string();
  options.fsync = settings.boolean("fsync", false);
  return std::make_unique<FileGateway>(std::move(options));
}

std::unique_ptr<Gateway> create_http(const GatewayConfig& config, GatewayContext& context) {
  const Settings settings(config);
  HttpGatewayOptions options;
  options.name = config.name;
  options.url = settings.required("url");
  options.method = settings.string("method", "POST");
  for (char& c : options.method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  options.headers = settings.map("headers");

  const int bodies = settings.has("json") + settings.has("form") + settings.has("body");
  if (bodies != 1) settings.fail("json/form/body", "give exactly one body form");
  if (settings.has("json")) {
    options.body = HttpGatewayOptions::Body::Json;
    options.fields = settings.map("json");
  } else if (settings.has("form")) {
    options.body = HttpGatewayOptions::Body::Form;
    options.fields = settings.map("form");
  } else {
    options.body = HttpGatewayOptions::Body::Raw;
    options.raw_body = settings.string("body");
  }

  options.username = settings.string("username");
  options.password = settings.string("password");
  options.bearer_token = settings.string("bearer_token");
  if (!options.bearer_token.empty() && !options.username.empty()) {
    settings.fail("bearer_token", "give either bearer_token or username/password, not both");
  }
  options.idempotency_header = settings.string("idempotency_header", "Idempotency-Key");
  options.message_id_field = settings.string("message_id_field");
  options.timeouts.connect = settings.duration("connect_timeout", options.timeouts.connect);
  options.timeouts.total = settings.duration("timeout", options.timeouts.total);
  options.timeouts.low_speed_time =
      settings.duration("low_speed_time", options.timeouts.low_speed_time);
  options.verify_tls = settings.boolean("verify_tls", true);
  options.ca_file = settings.string("ca_file");
  if (settings.has("kinds")) {
    options.kinds.clear();
    for (const auto& kind : settings.list("kinds")) {
      if (kind == "sms") {
        options.kinds.push_back(ChannelKind::Sms);
      } else if (kind == "email") {
        options.kinds.push_back(ChannelKind::Email);
      } else {
        settings.fail("kinds", "\"" + kind + "\" is not sms or email");
      }
    }
  }
  return std::make_unique<HttpGateway>(std::move(options), context.curl);
}

std::unique_ptr<Gateway> create_smtp(const GatewayConfig& config, GatewayContext& context) {
  const Settings settings(config);
  SmtpGatewayOptions options;
  options.name = config.name;
  options.url = settings.required("url");
  const std::string tls = settings.string("tls", "starttls");
  if (tls == "none") {
    options.tls = SmtpRequest::Tls::None;
  } else if (tls == "starttls") {
    options.tls = SmtpRequest::Tls::StartTls;
  } else if (tls == "implicit") {
    options.tls = SmtpRequest::Tls::Implicit;
  } else {
    settings.fail("tls", "must be none, starttls or implicit");
  }
  options.username = settings.string("username");
  options.password = settings.string("password");
  settings.required("from");
  options.from = settings.mailbox("from");
  if (settings.has("reply_to")) options.reply_to = settings.mailbox("reply_to");
  options.timeouts.connect = settings.duration("connect_timeout", options.timeouts.connect);
  options.timeouts.total = settings.duration("timeout", options.timeouts.total);
  options.verify_tls = settings.boolean("verify_tls", true);
  options.ca_file = settings.string("ca_file");
  return std::make_unique<SmtpGateway>(std::move(options), context.curl);
}

using K = KeyType;

const ConfigKey kConnectTimeout{"connect_timeout", K::Duration, false, false,
                                "how long to wait for a connection (default 10s)"};
const ConfigKey kVerifyTls{"verify_tls", K::Bool, false, false,
                           "check the server's certificate (default true)"};
const ConfigKey kCaFile{"ca_file", K::String, false, false, "extra CA bundle (PEM) to trust"};

// Every gateway is built wrapped in a SecretFilter holding its own
// credentials, so none reaches a log line or the support API.
std::vector<GatewayKind> with_secrets_hidden(std::vector<GatewayKind> kinds) {
  for (auto& kind : kinds) {
    kind.create = [create = std::move(kind.create), keys = kind.keys](
                      const GatewayConfig& config,
                      GatewayContext& context) -> std::unique_ptr<Gateway> {
      return std::make_unique<SecretFilter>(create(config, context), gateway_secrets(config, keys));
    };
  }
  return kinds;
}

}  // namespace

const std::vector<GatewayKind>& gateway_kinds() {
  static const std::vector<GatewayKind> kinds = with_secrets_hidden({
      {"file",
       "appends each message to a file as one JSON line (no credentials needed)",
       {
           {"path", K::String, true, false, "file to append to; relative to the config's folder"},
           {"fsync", K::Bool, false, false, "fsync after each message (default false)"},
       },
       &create_file},
      {"http",
       "one HTTP request per message, built from templates (SMS and e-mail APIs)",
       {
           {"url", K::String, true, false, "URL template; {{vars}} are percent-encoded"},
           {"method", K::String, false, false, "HTTP method (default POST)"},
           {"headers", K::StringMap, false, false, "header name -> value template"},
           {"json", K::StringMap, false, false, "body as a JSON object: field -> template"},
           {"form", K::StringMap, false, false, "body as a URL-encoded form: field -> template"},
           {"body", K::String, false, false, "raw body template"},
           {"username", K::String, false, false, "basic auth user"},
           {"password", K::String, false, true, "basic auth password"},
           {"bearer_token", K::String, false, true, "sent as Authorization: Bearer"},
           {"idempotency_header", K::String, false, false,
            "header carrying the idempotency key (default Idempotency-Key; \"\" disables)"},
           {"message_id_field", K::String, false, false,
            "JSON pointer to the provider's id in the response, like /sid"},
           kConnectTimeout,
           {"timeout", K::Duration, false, false, "limit for the whole request (default 30s)"},
           {"low_speed_time", K::Duration, false, false,
            "abort when nothing moves for this long (default 20s)"},
           kVerifyTls,
           kCaFile,
           {"kinds", K::StringList, false, false,
            "channel kinds carried: sms, email (default sms)"},
       },
       &create_http},
      {"smtp",
       "sends e-mail through an SMTP server",
       {
           {"url", K::String, true, false, "smtp://host:port or smtps://host:port"},
           {"tls", K::String, false, false, "none, starttls (default) or implicit"},
           {"username", K::String, false, false, "AUTH user"},
           {"password", K::String, false, true, "AUTH password"},
           {"from", K::String, true, false, "sender, like \"Shop <shop@example.se>\""},
           {"reply_to", K::String, false, false, "Reply-To address"},
           kConnectTimeout,
           {"timeout", K::Duration, false, false, "limit for one message (default 60s)"},
           kVerifyTls,
           kCaFile,
       },
       &create_smtp},
  });
  return kinds;
}

const GatewayKind* find_gateway_kind(const std::string& type) {
  for (const auto& kind : gateway_kinds()) {
    if (kind.type == type) return &kind;
  }
  return nullptr;
}

}  // namespace tack
