#include "gateways/vonage.hpp"

#include <cctype>
#include <map>

#include "digest.hpp"
#include "event.hpp"
#include "gateways/report_fields.hpp"
#include "gateways/settings.hpp"
#include "sms.hpp"
#include "text.hpp"

namespace tack {

namespace {

constexpr const char* kDefaultUrl = "https://rest.nexmo.com";
constexpr const char* kReceiptUser = "tack";
constexpr std::uint64_t kMaxBody = 64 * 1024;
constexpr std::size_t kMaxClientRef = 100;
// err-code 9 on a failed or rejected DLR: the recipient opted out.
constexpr const char* kOptedOutCode = "9";
constexpr const char* kNeitherFormNorJson = "neither a form nor a JSON object (UTF-8)";
// How far a signed report's timestamp may be from now: Vonage's own
// libraries allow 5 minutes.
constexpr std::int64_t kSignatureWindowS = 5 * 60;

using Fields = std::map<std::string, std::string>;

// A callback's fields, from a form or a flat JSON object (Vonage's
// "POST-JSON"); nullopt when neither.
std::optional<Fields> callback_fields(std::string_view body, std::string_view content_type) {
  if (lowercase(content_type).find("json") == std::string::npos) return parse_form(body);
  Limits bounds;
  bounds.max_json_depth = 4;
  bounds.max_json_values = 400;
  bounds.max_string_bytes = kMaxReplyTextBytes * 4;
  std::string ignored;
  const auto doc = parse_json_bounded(body, bounds, ignored);
  if (!doc || !doc->is_object()) return std::nullopt;
  Fields out;
  for (const auto& [name, value] : doc->items()) {
    if (value.is_string()) {
      out[name] = value.get<std::string>();
    } else if (value.is_number() || value.is_boolean()) {
      out[name] = value.dump();
    }
  }
  return out;
}

std::string header(const ServerRequest& request, beast_http::field name) {
  const auto value = request[name];
  return std::string(value.data(), value.size());
}

enum class Verdict { Sent, Retry, Held, Rejected };

Verdict verdict_of(const std::string& status) {
  if (status == "0") return Verdict::Sent;
  if (status == "1" || status == "5" || status == "10") return Verdict::Retry;
  if (status == "4" || status == "8" || status == "9" || status == "11" || status == "14" ||
      status == "32") {
    return Verdict::Held;
  }
  return Verdict::Rejected;
}

}  // namespace

VonageGateway::VonageGateway(VonageSettings settings, CurlMulti& curl, ProviderReports* reports,
                             std::string public_url)
    : settings_(std::move(settings)),
      curl_(curl),
      reports_(reports),
      public_url_(std::move(public_url)) {}

HttpRequest VonageGateway::build_request(const OutboundMessage& message) const {
  HttpRequest request =
      provider_request(settings_.provider, "POST", settings_.provider.url + "/sms/json");
  auto without_plus = [](const std::string& number) {
    return number.starts_with("+") ? number.substr(1) : number;
  };
  std::string body = "api_key=" + form_encode(settings_.api_key) +
                     "&api_secret=" + form_encode(settings_.api_secret) +
                     "&from=" + form_encode(without_plus(settings_.from)) +
                     "&to=" + form_encode(without_plus(message.recipient)) +
                     "&text=" + form_encode(message.text);
  if (analyze_sms(message.text).encoding != SmsEncoding::Gsm7) body += "&type=unicode";
  if (!message.idempotency_key.empty() && message.idempotency_key.size() <= kMaxClientRef) {
    body += "&client-ref=" + form_encode(message.idempotency_key);
  }
  if (!settings_.receipt_token.empty() || !settings_.signature_secret.empty()) {
    const std::string url = settings_.receipt_token.empty()
                                ? callback_url(public_url_, receipt_path(settings_.name))
                                : callback_url(public_url_, receipt_path(settings_.name),
                                               kReceiptUser, settings_.receipt_token);
    if (!url.empty()) body += "&callback=" + form_encode(url);
  }
  request.body = std::move(body);
  request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  return request;
}

asio::awaitable<Outcome> VonageGateway::send(const OutboundMessage& message) {
  if (message.kind != ChannelKind::Sms) {
    co_return Outcome::rejected("vonage carries SMS only, not " + to_string(message.kind));
  }
  HttpRequest request = build_request(message);
  const TransferResult result = co_await curl_.perform(std::move(request));
  co_return classify_provider_answer(result, &read_vonage_answer, std::chrono::system_clock::now());
}

std::string vonage_signature(const std::map<std::string, std::string>& fields,
                             std::string_view secret) {
  std::string data;
  for (const auto& [name, value] : fields) {  // a std::map: sorted by name
    if (name == "sig") continue;
    std::string clean = value;
    for (char& c : clean) {
      if (c == '&' || c == '=') c = '_';
    }
    data += "&" + name + "=" + clean;
  }
  std::string hex = hmac_sha256_hex(secret, data);
  for (char& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return hex;
}

Verification verify_vonage_signature(const std::map<std::string, std::string>& fields,
                                     std::string_view secret, std::int64_t now_s) {
  const std::string sig = report_field(fields, "sig");
  const std::string timestamp = report_field(fields, "timestamp");
  if (sig.empty() || timestamp.empty()) return Verification::missing("no sig or timestamp");
  std::string given = sig;
  for (char& c : given) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (!constant_time_equal(given, vonage_signature(fields, secret))) {
    return Verification::forged("sig does not match");
  }
  if (timestamp.size() > 12 || timestamp.find_first_not_of("0123456789") != std::string::npos) {
    return Verification::forged("timestamp is not Unix seconds");
  }
  const std::int64_t at = std::stoll(timestamp);
  if (at < now_s - kSignatureWindowS || at > now_s + kSignatureWindowS) {
    return Verification::forged("timestamp is more than 5 minutes from now: a replay");
  }
  return Verification::ok();
}

Verification VonageGateway::verify(const ServerRequest& request) const {
  if (!settings_.signature_secret.empty()) {
    const auto fields =
        callback_fields(request.body(), header(request, beast_http::field::content_type));
    if (!fields) {
      return Verification::missing("a body that is neither a form nor JSON is unsigned");
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    return verify_vonage_signature(*fields, settings_.signature_secret, now);
  }
  if (settings_.receipt_token.empty()) {
    return Verification::missing("gateway " + settings_.name +
                                 " has no receipt_token: it takes no reports");
  }
  return verify_basic(request, kReceiptUser, settings_.receipt_token);
}

std::vector<Route> VonageGateway::routes() {
  ReportRoute receipts;
  receipts.max_body = kMaxBody;
  receipts.verify = [this](const ServerRequest& request) { return verify(request); };
  receipts.parse = [](const ServerRequest& request) {
    return parse_vonage_receipt(request.body(), header(request, beast_http::field::content_type));
  };
  ReportRoute replies = receipts;
  replies.parse = [](const ServerRequest& request) {
    return parse_vonage_inbound(request.body(), header(request, beast_http::field::content_type));
  };
  return report_routes(settings_.name, reports_, std::move(receipts), std::move(replies));
}

std::chrono::milliseconds VonageGateway::receipt_wait() const {
  // Vonage also reports to the URL its dashboard names: public_url is not
  // needed, a way to verify the reports is.
  return receipt_wait_if(reports_ != nullptr && (!settings_.receipt_token.empty() ||
                                                 !settings_.signature_secret.empty()),
                         settings_.provider);
}

Outcome read_vonage_answer(const TransferResult& result) {
  const std::string detail = answer_detail(result);
  const auto doc = answer_json(result);
  if (!doc || !doc->is_object() || !doc->contains("messages") || !(*doc)["messages"].is_array() ||
      (*doc)["messages"].empty()) {
    // A 200 that is not Vonage's answer: it may have taken the message.
    return Outcome::unknown(detail +
                            " (not the answer Vonage gives: whether it took the "
                            "message is unknown)");
  }
  const auto& parts = (*doc)["messages"];
  for (const auto& part : parts) {
    if (!part.is_object()) return Outcome::unknown(detail);
    const std::string status = json_text(part, "status");
    const Verdict verdict = verdict_of(status);
    if (verdict == Verdict::Sent) continue;
    const std::string words =
        "Vonage status " + status +
        (part.contains("error-text") ? ": " + json_text(part, "error-text") : std::string()) +
        " (" + detail + ")";
    switch (verdict) {
      case Verdict::Retry:
        // Throttled: Vonage answered; only tack was too fast.
        return status == "1" ? Outcome::retry(words).with(Outcome::Health::Answering)
                             : Outcome::retry(words);
      case Verdict::Held:
        return Outcome::retry(words).with(Outcome::Health::Refused);
      default:
        return Outcome::rejected(words);
    }
  }
  const std::string id = json_text(parts[0], "message-id");
  if (!is_report_word(id, kMaxProviderIdBytes)) {
    return Outcome::sent("", detail + " (no message-id to match delivery receipts by)");
  }
  return Outcome::sent(id, detail);
}

ParsedReports parse_vonage_receipt(std::string_view body, std::string_view content_type) {
  ParsedReports out;
  const auto fields = callback_fields(body, content_type);
  if (!fields) return ParsedReports::malformed(kNeitherFormNorJson);
  Receipt receipt;
  receipt.provider_id = report_field(*fields, "messageId");
  if (!is_report_word(receipt.provider_id, kMaxProviderIdBytes)) {
    out.error = "no usable messageId";
    return out;
  }
  receipt.status = report_field(*fields, "status");
  if (!is_report_word(receipt.status, kMaxReportWordBytes)) {
    out.error = "no usable status";
    return out;
  }
  const std::string part = report_field(*fields, "concat-part");
  if (!part.empty() && part != "1") {
    if (!is_report_word(part, kMaxReportWordBytes)) {
      out.error = "concat-part is not a number";
      return out;
    }
    return out;  // a later part of a long SMS: acknowledged, not recorded
  }
  const std::string word = lowercase(receipt.status);
  if (word == "delivered" || word == "delivrd") {
    receipt.kind = ReceiptKind::Delivered;
  } else if (word == "expired" || word == "failed" || word == "rejected" || word == "undeliv" ||
             word == "rejectd" || word == "deleted") {
    receipt.kind = ReceiptKind::Undelivered;
  } else {
    receipt.kind = ReceiptKind::Progress;  // accepted, buffered, unknown, ...
  }
  const std::string code = report_field(*fields, "err-code");
  if (!code.empty()) {
    if (!is_report_word(code, kMaxReportWordBytes)) {
      out.error = "err-code is not a code";
      return out;
    }
    if (code != "0") receipt.reason = "err-code " + code;
    receipt.opted_out = code == kOptedOutCode && receipt.kind == ReceiptKind::Undelivered;
  }
  if (const std::string when = report_field(*fields, "message-timestamp"); !when.empty()) {
    const auto at = parse_provider_time(when);
    if (!at) {
      out.error = "message-timestamp is not a time";
      return out;
    }
    receipt.at_ms = *at;
  }
  out.receipts.push_back(std::move(receipt));
  return out;
}

ParsedReports parse_vonage_inbound(std::string_view body, std::string_view content_type) {
  const auto fields = callback_fields(body, content_type);
  if (!fields) return ParsedReports::malformed(kNeitherFormNorJson);
  InboundSms sms;
  // Vonage sends numbers without the +; tack keeps E.164.
  sms.from = e164_from_provider(report_field(*fields, "msisdn"));
  sms.to = report_field(*fields, "to");
  sms.text = report_field(*fields, "text");
  sms.provider_id = report_field(*fields, "messageId");
  if (const std::string when = report_field(*fields, "message-timestamp"); !when.empty()) {
    sms.at_ms = parse_provider_time(when).value_or(0);
  }
  return inbound_reply(std::move(sms), {"msisdn", "to", "text", "messageId"});
}

// ---- the kind: its config keys and its factory -----------------------------

namespace {

std::unique_ptr<Gateway> create(const GatewayConfig& config, GatewayContext& context) {
  const GatewaySettings settings(config);
  VonageSettings out;
  out.name = config.name;
  out.provider = read_provider_settings(settings, kDefaultUrl);
  out.api_key = read_credential(settings, "api_key");
  out.api_secret = read_credential(settings, "api_secret");
  out.from = read_sender_id(settings, true);
  out.receipt_token = read_receipt_token(settings);
  out.signature_secret = settings.string("signature_secret");
  return std::make_unique<VonageGateway>(std::move(out), context.curl, context.reports,
                                         context.public_url);
}

}  // namespace

GatewayKind vonage_gateway_kind() {
  std::vector<ConfigKey> keys = {
      {"api_key", KeyType::String, true, false, "API key"},
      {"api_secret", KeyType::String, true, true, "API secret"},
      {"from", KeyType::String, true, false,
       "sender: an alphanumeric sender ID (up to 11 characters) or a number"},
      {"receipt_token", KeyType::String, false, true,
       "secret Vonage sends back as Basic credentials with receipts and replies (at least 16 "
       "characters); without it or signature_secret none are taken"},
      {"signature_secret", KeyType::String, false, true,
       "Vonage's signature secret (HMAC-SHA256): reports must then be signed, within 5 minutes"},
  };
  for (auto& key : provider_keys(kDefaultUrl)) keys.push_back(std::move(key));
  return {"vonage", "SMS through the Vonage SMS API, with delivery receipts and replies",
          std::move(keys), &create};
}

}  // namespace tack
