#include "gateways/provider.hpp"

#include <algorithm>
#include <cctype>

#include "config.hpp"
#include "event.hpp"
#include "gateways/http.hpp"
#include "gateways/report_fields.hpp"
#include "sms.hpp"
#include "text.hpp"

namespace tack {

namespace {

constexpr std::size_t kExcerptBytes = 500;

// The start of a body for a support person to read: at most 500 bytes,
// never cut inside a UTF-8 character, valid UTF-8 whatever the provider
// sent (it is stored and served as JSON).
std::string excerpt(std::string_view body) {
  const auto first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  body = body.substr(first, body.find_last_not_of(" \t\r\n") - first + 1);
  if (body.size() <= kExcerptBytes) return replace_invalid_utf8(body);
  std::size_t cut = kExcerptBytes;
  while (cut > 0 && (static_cast<unsigned char>(body[cut]) & 0xc0) == 0x80) --cut;
  return replace_invalid_utf8(body.substr(0, cut)) + "...";
}

}  // namespace

std::string answer_detail(const TransferResult& result) {
  std::string detail = "HTTP " + std::to_string(result.status);
  if (std::string body = excerpt(result.body); !body.empty()) detail += ": " + body;
  return detail;
}

std::vector<ConfigKey> provider_keys(const std::string& default_url) {
  return {
      {"url", KeyType::String, false, false, "the API's base URL (default " + default_url + ")"},
      connect_timeout_key(),
      {"timeout", KeyType::Duration, false, false, "limit for the whole request (default 30s)"},
      verify_tls_key(),
      ca_file_key(),
      receipt_wait_key(),
  };
}

ProviderSettings read_provider_settings(const GatewaySettings& settings,
                                        const std::string& default_url) {
  ProviderSettings out;
  out.url = settings.string("url", default_url);
  if (!out.url.starts_with("https://") && !out.url.starts_with("http://")) {
    settings.fail("url", "must start with https:// (or http:// for a test server)");
  }
  if (out.url.find_first_of(" \t\r\n?#") != std::string::npos) {
    settings.fail("url", "must be a base URL without spaces, query or fragment");
  }
  while (out.url.ends_with("/")) out.url.pop_back();
  out.timeouts.connect = settings.duration("connect_timeout", out.timeouts.connect);
  out.timeouts.total = settings.duration("timeout", out.timeouts.total);
  out.verify_tls = settings.boolean("verify_tls", true);
  out.ca_file = settings.string("ca_file");
  out.receipt_wait = settings.duration("receipt_wait", out.receipt_wait);
  if (out.receipt_wait > std::chrono::hours(72)) {
    settings.fail("receipt_wait", "must be at most 72h (a fallback that late is no help)");
  }
  return out;
}

HttpRequest provider_request(const ProviderSettings& settings, std::string method,
                             std::string url) {
  HttpRequest request;
  request.method = std::move(method);
  request.url = std::move(url);
  request.timeouts = settings.timeouts;
  request.verify_tls = settings.verify_tls;
  request.ca_file = settings.ca_file;
  return request;
}

Outcome classify_provider_answer(const TransferResult& result, const AnswerReader& on_success,
                                 std::chrono::system_clock::time_point now) {
  if (!result.ok() || result.status < 200 || result.status >= 300) {
    return classify_http_result(result, "", now);
  }
  Outcome outcome = on_success(result);
  for (int i = 1; i < result.requests; ++i) {
    outcome.unanswered.push_back(
        "no answer: the kept-alive connection closed after the request went out, and it was "
        "sent again on a new connection; the provider may have it twice");
  }
  return outcome;
}

std::optional<nlohmann::json> answer_json(const TransferResult& result) {
  Limits bounds;
  bounds.max_json_depth = 64;
  bounds.max_json_values = 1 << 20;
  bounds.max_string_bytes = result.body.size();
  std::string ignored;
  return parse_json_bounded(result.body, bounds, ignored);
}

std::string check_sender_id(const std::string& sender) {
  if (sender.empty()) return "is empty";
  const bool numeric =
      std::all_of(sender.begin() + (sender[0] == '+' ? 1 : 0), sender.end(),
                  [](unsigned char c) { return std::isdigit(c) != 0; }) &&
      sender.size() > (sender[0] == '+' ? 1u : 0u);
  if (numeric) {
    if (sender.size() - (sender[0] == '+' ? 1 : 0) > 15) {
      return "is a number of more than 15 digits (E.164 allows 15)";
    }
    return {};
  }
  if (!valid_utf8(sender)) return "is not UTF-8";
  const SmsInfo info = analyze_sms(sender);
  if (info.characters > 11) {
    return "is an alphanumeric sender ID of " + std::to_string(info.characters) +
           " characters; networks carry at most 11";
  }
  // An extension character (counts twice) or one outside GSM-7 is not
  // carried in a sender ID: networks replace or reject it.
  if (info.encoding != SmsEncoding::Gsm7 || info.units != info.characters) {
    return "has a character outside the GSM 03.38 basic set; use letters A-Z, digits and "
           "spaces";
  }
  return {};
}

// ---- the factories' checks --------------------------------------------------

std::string read_credential(const GatewaySettings& settings, const std::string& key) {
  std::string value = settings.required(key);
  if (has_control_char(value)) settings.fail(key, "contains a control character");
  return value;
}

std::string read_receipt_token(const GatewaySettings& settings) {
  std::string token = settings.string("receipt_token");
  if (has_control_char(token)) settings.fail("receipt_token", "contains a control character");
  if (!token.empty() && token.size() < 16) {
    settings.fail("receipt_token", "is shorter than 16 characters: anyone could guess it");
  }
  return token;
}

std::string read_sender_id(const GatewaySettings& settings, bool required) {
  if (!required && !settings.has("from")) return {};
  std::string from = required ? settings.required("from") : settings.string("from");
  if (const std::string why = check_sender_id(from); !why.empty()) {
    settings.fail("from", "\"" + from + "\" " + why);
  }
  return from;
}

// ---- receipts and replies ---------------------------------------------------

std::chrono::milliseconds receipt_wait_if(bool receipts_can_come,
                                          const ProviderSettings& settings) {
  return receipts_can_come ? settings.receipt_wait : std::chrono::milliseconds(0);
}

std::vector<Route> report_routes(const std::string& gateway, ProviderReports* reports,
                                 ReportRoute receipts, std::optional<ReportRoute> replies) {
  if (reports == nullptr) return {};
  receipts.gateway = gateway;
  receipts.what = "receipt";
  receipts.path = receipt_path(gateway);
  std::vector<Route> out;
  out.push_back(report_route(std::move(receipts), *reports));
  if (replies) {
    replies->gateway = gateway;
    replies->what = "inbound";
    replies->path = inbound_path(gateway);
    out.push_back(report_route(std::move(*replies), *reports));
  }
  return out;
}

ParsedReports inbound_reply(InboundSms sms, const InboundFieldNames& names) {
  ParsedReports out;
  if (!is_report_word(sms.from, kMaxReportWordBytes) ||
      !is_report_word(sms.to, kMaxReportWordBytes)) {
    out.error = "no usable " + std::string(names.from) + " or " + std::string(names.to);
  } else if (sms.text.size() > kMaxReplyTextBytes) {
    out.error = std::string(names.text) + " is longer than any SMS";
  } else if (!sms.provider_id.empty() && !is_report_word(sms.provider_id, kMaxProviderIdBytes)) {
    out.error = std::string(names.id) + " is not an id";
  } else {
    out.replies.push_back(std::move(sms));
  }
  return out;
}

std::string e164_from_provider(std::string number) {
  number = trim(number);
  if (!number.empty() && number[0] != '+' &&
      std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    number.insert(number.begin(), '+');
  }
  return number;
}

// ---- JSON bodies --------------------------------------------------------------

std::string json_text(const nlohmann::json& object, const char* name) {
  if (!object.is_object()) return {};
  const auto found = object.find(name);
  if (found == object.end()) return {};
  if (found->is_string()) return found->get<std::string>();
  if (found->is_number()) return found->dump();
  return {};
}

// ---- e-mail providers -----------------------------------------------------------

std::optional<Mailbox> email_recipient(const std::string& recipient, std::string& error) {
  MailboxParse parse = parse_mailbox(recipient);
  if (!parse.mailbox) {
    error = "bad recipient: " + parse.error;
    return std::nullopt;
  }
  return parse.mailbox;
}

std::optional<nlohmann::json> webhook_json(std::string_view body) {
  Limits bounds;
  bounds.max_json_depth = 32;
  bounds.max_json_values = 100000;
  bounds.max_string_bytes = body.size();
  std::string ignored;
  return parse_json_bounded(body, bounds, ignored);
}

std::optional<std::int64_t> unix_seconds(std::string_view text) {
  const auto dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  if (whole.empty() || whole.size() > 12) return std::nullopt;
  for (char c : whole) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  if (dot != std::string_view::npos) {
    const std::string_view fraction = text.substr(dot + 1);
    if (fraction.empty() || fraction.size() > 9) return std::nullopt;
    for (char c : fraction) {
      if (c < '0' || c > '9') return std::nullopt;
    }
  }
  return std::stoll(std::string(whole));
}

std::string check_signature_age(std::int64_t timestamp_s, std::int64_t now_s,
                                std::chrono::seconds max_age) {
  const std::int64_t age = now_s - timestamp_s;
  if (age > max_age.count()) {
    return "stale signature: signed " + std::to_string(age) + " s ago (a replay?)";
  }
  if (-age > max_age.count()) return "signature timestamp " + std::to_string(-age) + " s ahead";
  return {};
}

std::chrono::seconds read_signature_max_age(const GatewaySettings& settings) {
  const auto value = settings.duration("signature_max_age", std::chrono::minutes(10));
  if (value < std::chrono::seconds(10) || value > std::chrono::hours(72)) {
    settings.fail("signature_max_age", "must be between 10s and 72h");
  }
  return std::chrono::duration_cast<std::chrono::seconds>(value);
}

std::int64_t unix_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace tack
