#include "lint.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <string_view>
#include <tuple>

#include "sms.hpp"
#include "sms_cost.hpp"
#include "transliterate.hpp"

namespace tack {

namespace {

// Networks carry an alphanumeric sender of up to 11 characters and a
// numeric one of up to 15 digits (GSM 03.40's address field).
constexpr std::size_t kMaxAlphanumericSender = 11;
constexpr std::size_t kMaxNumericSender = 15;

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::size_t code_points(std::string_view utf8) {
  return static_cast<std::size_t>(std::count_if(utf8.begin(), utf8.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// Whether a Mustache text inserts the variable `name` ({{name}},
// {{{name}}}, {{& name}}, spaces allowed); sections and comments do not.
bool inserts(std::string_view text, std::string_view name) {
  for (std::size_t at = text.find("{{"); at != std::string_view::npos;
       at = text.find("{{", at + 2)) {
    const auto end = text.find("}}", at + 2);
    if (end == std::string_view::npos) return false;
    std::string_view tag = text.substr(at + 2, end - at - 2);
    if (!tag.empty() && (tag.front() == '{' || tag.front() == '&')) tag.remove_prefix(1);
    while (!tag.empty() && std::isspace(static_cast<unsigned char>(tag.front()))) {
      tag.remove_prefix(1);
    }
    while (!tag.empty() && std::isspace(static_cast<unsigned char>(tag.back()))) {
      tag.remove_suffix(1);
    }
    if (tag == name) return true;
  }
  return false;
}

bool templated(std::string_view text) {
  return text.find("{{") != std::string_view::npos;
}

struct Url {
  std::string scheme;  // lower case
  std::string host;    // lower case, without brackets
  bool has_user = false;
  std::vector<std::pair<std::string, std::string>> query;  // as written
};

Url parse_url(std::string_view text) {
  Url url;
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) return url;
  url.scheme = lower(text.substr(0, scheme_end));
  std::string_view rest = text.substr(scheme_end + 3);
  const auto authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    url.has_user = true;
    authority.remove_prefix(at + 1);
  }
  if (!authority.empty() && authority.front() == '[') {
    url.host = lower(authority.substr(1, authority.find(']') - 1));
  } else {
    url.host = lower(authority.substr(0, authority.find(':')));
  }
  const auto question = authority_end == std::string_view::npos ? std::string_view::npos
                                                                : rest.find('?', authority_end);
  if (question != std::string_view::npos &&
      rest.substr(authority_end, question - authority_end).find('#') == std::string_view::npos) {
    std::string_view query = rest.substr(question + 1);
    query = query.substr(0, query.find('#'));
    while (!query.empty()) {
      const auto amp = query.find('&');
      const std::string_view pair = query.substr(0, amp);
      const auto eq = pair.find('=');
      url.query.emplace_back(std::string(pair.substr(0, eq)),
                             eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1)));
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  return url;
}

// This machine: a credential to it does not cross a network.
bool is_loopback(const std::string& host) {
  return host == "localhost" || host.ends_with(".localhost") || host.starts_with("127.") ||
         host == "::1" || host == "0:0:0:0:0:0:0:1";
}

bool names_sender(const std::string& field) {
  static const std::set<std::string> kNames = {"from",   "sender",      "originator", "src",
                                               "source", "source_addr", "sender_id",  "senderid"};
  return kNames.count(lower(field)) > 0;
}

bool names_credential(const std::string& field) {
  const std::string name = lower(field);
  for (std::string_view word : {"password", "passwd", "secret", "token", "apikey", "api_key",
                                "api-key", "authorization", "auth"}) {
    if (name.find(word) != std::string::npos) return true;
  }
  return false;
}

class GatewayLint {
 public:
  GatewayLint(const Config& config, const GatewayConfig& gateway, std::vector<ConfigError>& out)
      : config_(config), gateway_(gateway), out_(out) {}

  void http() {
    const auto& s = gateway_.settings;
    const std::string url_text = text("url");
    const Url url = parse_url(url_text);
    std::vector<std::pair<std::string, std::string>> fields;  // json or form
    std::string body_key;
    for (const char* key : {"json", "form", "body"}) {
      if (s.has(key)) body_key = key;
    }
    if (const auto* v = s.find("json"); v) fields = v->map;
    if (const auto* v = s.find("form"); v) fields = v->map;
    std::vector<std::pair<std::string, std::string>> headers;
    if (const auto* v = s.find("headers"); v) headers = v->map;

    // The message text.
    const std::string body_text = text("body");
    std::vector<std::string_view> texts = {url_text, body_text};
    for (const auto& [name, value] : headers) texts.push_back(value);
    for (const auto& [name, value] : fields) texts.push_back(value);
    const bool sms = carries(ChannelKind::Sms);
    auto uses = [&](std::string_view name) {
      return std::any_of(texts.begin(), texts.end(),
                         [&](std::string_view t) { return inserts(t, name); });
    };
    if (!uses("text") && (sms || !uses("html"))) {
      warn(body_key.empty() ? "url" : body_key,
           "gateway \"" + gateway_.name + "\" never sends the message's text: its url, " +
               "headers and " + (body_key.empty() ? "body" : body_key) + " do not use {{text}}" +
               (sms ? "" : " nor {{html}}"));
    }

    // The SMS sender.
    if (sms) {
      for (const auto& [name, value] : fields) {
        if (names_sender(name)) sender(body_key + "." + name, value);
      }
      for (const auto& [name, value] : url.query) {
        if (names_sender(name)) sender("url", value);
      }
    }

    // Credentials in the clear.
    if (url.scheme == "http" && !templated(url.host) && !url.host.empty() &&
        !is_loopback(url.host)) {
      std::vector<std::string> sent;
      if (!text("username").empty() || !text("password").empty()) {
        sent.emplace_back("Basic auth (username and password)");
      }
      if (!text("bearer_token").empty()) sent.emplace_back("a bearer token");
      if (url.has_user) sent.emplace_back("the user in its url");
      for (const auto& [name, value] : headers) {
        if (names_credential(name)) sent.push_back("header " + name);
      }
      for (const auto& [name, value] : url.query) {
        if (names_credential(name)) sent.push_back("url parameter " + name);
      }
      for (const auto& [name, value] : fields) {
        if (names_credential(name)) sent.push_back(body_key + " field " + name);
      }
      if (!sent.empty()) {
        warn("url", "gateway \"" + gateway_.name + "\" sends " + joined(sent) +
                        " unencrypted over http:// to " + url.host + "; use https://");
      }
    }
  }

  void smtp() {
    const Url url = parse_url(text("url"));
    const std::string tls = text("tls");
    if (tls != "none" || url.host.empty() || is_loopback(url.host)) return;
    if (text("username").empty() && text("password").empty()) return;
    warn("tls", "gateway \"" + gateway_.name +
                    "\" sends its SMTP login (username and "
                    "password) unencrypted to " +
                    url.host + " (tls: none); use tls: starttls or implicit");
  }

 private:
  std::string text(const std::string& key) const {
    const SettingValue* value = gateway_.settings.find(key);
    return value && value->shape == SettingValue::Shape::Text ? value->text : "";
  }

  bool carries(ChannelKind kind) const {
    const SettingValue* kinds = gateway_.settings.find("kinds");
    if (!kinds) return kind == ChannelKind::Sms;  // the http gateway's default
    return std::find(kinds->list.begin(), kinds->list.end(), to_string(kind)) != kinds->list.end();
  }

  void sender(const std::string& key, const std::string& value) {
    if (value.empty() || templated(value)) return;
    std::string_view digits = value;
    if (digits.front() == '+') digits.remove_prefix(1);
    const bool numeric = !digits.empty() && std::all_of(digits.begin(), digits.end(), [](char c) {
      return c >= '0' && c <= '9';
    });
    const std::string quoted = "\"" + value + "\"";
    if (numeric && digits.size() > kMaxNumericSender) {
      warn(key, "gateway \"" + gateway_.name + "\": SMS sender " + quoted + " has " +
                    std::to_string(digits.size()) + " digits; a numeric sender has at most " +
                    std::to_string(kMaxNumericSender));
    } else if (!numeric && code_points(value) > kMaxAlphanumericSender) {
      warn(key, "gateway \"" + gateway_.name + "\": SMS sender " + quoted + " has " +
                    std::to_string(code_points(value)) +
                    " characters; an alphanumeric sender has at most " +
                    std::to_string(kMaxAlphanumericSender) +
                    " (providers cut it or refuse the message)");
    }
  }

  static std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out += i + 1 == items.size() ? " and " : ", ";
      out += items[i];
    }
    return out;
  }

  void warn(const std::string& key, std::string message) {
    auto position = gateway_.settings.position(key);
    if (position.line == 0) position = gateway_.settings.position(key.substr(0, key.find('.')));
    if (position.line == 0) position = gateway_.settings.position("url");
    out_.push_back(ConfigError{config_.path, position.line, position.column, std::move(message)});
  }

  const Config& config_;
  const GatewayConfig& gateway_;
  std::vector<ConfigError>& out_;
};

}  // namespace

std::vector<ConfigError> lint_gateways(const Config& config) {
  std::vector<ConfigError> warnings;
  for (const auto& gateway : config.gateways) {
    GatewayLint lint(config, gateway, warnings);
    if (gateway.type == "http") lint.http();
    if (gateway.type == "smtp") lint.smtp();
  }
  return warnings;
}

std::vector<ConfigError> lint_sms_segments(const Config& config,
                                           const std::vector<SmsSample>& samples) {
  std::vector<ConfigError> warnings;
  std::set<std::tuple<std::string, std::string, std::string>> said;  // template, locale, channel
  for (const auto& rule : config.rules) {
    std::vector<std::string> channels = rule.channels;
    if (!rule.fallback_channel.empty()) channels.push_back(rule.fallback_channel);
    for (const auto& name : channels) {
      const ChannelConfig* channel = config.channel(name);
      if (!channel || channel->kind != ChannelKind::Sms) continue;
      const SmsBudget budget = sms_budget(config, *channel);
      for (const auto& sample : samples) {
        if (sample.template_name != rule.template_name) continue;
        // As the channel will send it: transliterated when it says so.
        const SmsFit fit = fit_sms(sample.text, sample.locale, config, *channel);
        if (fit.refusal.empty()) continue;
        if (!said.emplace(sample.template_name, sample.locale, name).second) continue;
        ConfigError warning = sample.where;
        warning.message = "template \"" + sample.template_name + "\" (" + sample.locale +
                          ") needs " + std::to_string(fit.info.segments) +
                          " SMS segments with the sample event (" +
                          to_string(fit.info.encoding) + ", " +
                          std::to_string(fit.info.characters) + " characters" +
                          (fit.transliterated ? ", transliterated" : "") + "); " +
                          "channel \"" + name + "\" allows " +
                          std::to_string(budget.max_segments) + " (max_segments" +
                          (budget.set_by.starts_with("gateway ") ? " of " + budget.set_by : "") +
                          "); tack refuses such a message";
        // What transliteration would do, where the channel does not.
        if (!fit.transliterated) {
          const SmsInfo gsm = analyze_sms(transliterate_to_gsm7(sample.text));
          if (gsm.segments < fit.info.segments) {
            const std::string language = sample.locale.substr(0, sample.locale.find('-'));
            warning.message += "; transliterated (transliterate: [" + language + "] on the " +
                               "channel) it would need " + std::to_string(gsm.segments) + " (" +
                               to_string(gsm.encoding) + ")";
          }
        }
        warnings.push_back(std::move(warning));
      }
    }
  }
  return warnings;
}

std::vector<ConfigError> lint_config(const Config& config, const std::vector<SmsSample>& samples) {
  auto warnings = lint_gateways(config);
  auto segments = lint_sms_segments(config, samples);
  warnings.insert(warnings.end(), segments.begin(), segments.end());
  return warnings;
}

}  // namespace tack
