#include "gateways/twilio.hpp"

#include <algorithm>
#include <ctime>

#include "digest.hpp"
#include "gateways/report_fields.hpp"
#include "gateways/settings.hpp"
#include "text.hpp"

namespace tack {

namespace {

constexpr const char* kDefaultUrl = "https://api.twilio.com/2010-04-01";
constexpr std::uint64_t kMaxBody = 64 * 1024;
// The opt-out code: "Attempt to send to unsubscribed recipient"
// (twilio.com/docs/api/errors/21610).
constexpr const char* kOptedOutCode = "21610";
// TwiML that makes Twilio send nothing back to a reply.
constexpr const char* kEmptyTwiml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

// "AC" or "MG" and 32 hex digits.
bool is_sid(std::string_view sid, std::string_view prefix) {
  return sid.size() == 34 && sid.substr(0, 2) == prefix &&
         std::all_of(sid.begin() + 2, sid.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

// RawDlrDoneDate, YYMMDDhhmm in UTC, to Unix milliseconds.
std::optional<std::int64_t> dlr_done_ms(std::string_view text) {
  if (text.size() != 10 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  auto two = [&](std::size_t at) { return (text[at] - '0') * 10 + (text[at + 1] - '0'); };
  std::tm tm{};
  tm.tm_year = 100 + two(0);
  tm.tm_mon = two(2) - 1;
  tm.tm_mday = two(4);
  tm.tm_hour = two(6);
  tm.tm_min = two(8);
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

}  // namespace

std::optional<std::vector<std::pair<std::string, std::string>>> form_pairs(std::string_view body) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!body.empty()) {
    const auto amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (pair.empty()) continue;
    // One pair at a time through the shared parser: its decoding, its checks.
    auto one = parse_form(pair);
    if (!one || one->size() != 1) return std::nullopt;
    out.emplace_back(std::move(*one->begin()));
    if (out.size() > 200) return std::nullopt;
  }
  return out;
}

std::string twilio_signature(std::string_view auth_token, std::string_view url,
                             std::vector<std::pair<std::string, std::string>> params) {
  std::stable_sort(params.begin(), params.end());
  std::string data(url);
  for (const auto& [name, value] : params) data += name + value;
  return hmac_sha1_base64(auth_token, data);
}

TwilioGateway::TwilioGateway(TwilioSettings settings, CurlMulti& curl, ProviderReports* reports,
                             std::string public_url)
    : settings_(std::move(settings)),
      curl_(curl),
      reports_(reports),
      public_url_(std::move(public_url)) {}

HttpRequest TwilioGateway::build_request(const OutboundMessage& message) const {
  HttpRequest request = provider_request(
      settings_.provider, "POST",
      settings_.provider.url + "/Accounts/" + settings_.account_sid + "/Messages.json");
  request.username = settings_.account_sid;
  request.password = settings_.auth_token;
  std::string body = "To=" + form_encode(message.recipient);
  if (!settings_.messaging_service_sid.empty()) {
    body += "&MessagingServiceSid=" + form_encode(settings_.messaging_service_sid);
  } else {
    body += "&From=" + form_encode(settings_.from);
  }
  body += "&Body=" + form_encode(message.text);
  if (const std::string url = callback_url(public_url_, receipt_path(settings_.name));
      !url.empty()) {
    body += "&StatusCallback=" + form_encode(url);
  }
  request.body = std::move(body);
  request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  return request;
}

asio::awaitable<Outcome> TwilioGateway::send(const OutboundMessage& message) {
  if (message.kind != ChannelKind::Sms) {
    co_return Outcome::rejected("twilio carries SMS only here, not " + to_string(message.kind));
  }
  HttpRequest request = build_request(message);
  const TransferResult result = co_await curl_.perform(std::move(request));
  co_return classify_twilio_answer(result, std::chrono::system_clock::now());
}

Verification TwilioGateway::verify(const ServerRequest& request) const {
  const auto header = request.find("X-Twilio-Signature");
  if (header == request.end() || header->value().empty()) {
    return Verification::missing("no X-Twilio-Signature");
  }
  if (public_url_.empty()) {
    return Verification::missing(
        "http.public_url is not set: Twilio's signature covers the URL "
        "it called, which tackd cannot know without it");
  }
  const auto params = form_pairs(request.body());
  if (!params) return Verification::forged("the body is not a form Twilio signed");
  const std::string url = public_url_ + std::string(request.target());
  const std::string expected = twilio_signature(settings_.auth_token, url, *params);
  const std::string_view given(header->value().data(), header->value().size());
  if (!constant_time_equal(given, expected)) {
    return Verification::forged("X-Twilio-Signature does not match");
  }
  return Verification::ok();
}

std::vector<Route> TwilioGateway::routes() {
  ReportRoute receipts;
  receipts.max_body = kMaxBody;
  receipts.verify = [this](const ServerRequest& request) { return verify(request); };
  receipts.parse = [](const ServerRequest& request) {
    return parse_twilio_receipt(request.body());
  };
  // Twilio reads a reply's answer as TwiML: an empty Response sends
  // nothing back. It ignores a status callback's answer.
  receipts.ok_body = kEmptyTwiml;
  receipts.ok_content_type = "text/xml; charset=utf-8";
  ReportRoute replies = receipts;
  replies.parse = [](const ServerRequest& request) { return parse_twilio_inbound(request.body()); };
  return report_routes(settings_.name, reports_, std::move(receipts), std::move(replies));
}

std::chrono::milliseconds TwilioGateway::receipt_wait() const {
  // Receipts need the callback URL, and the signature needs public_url.
  return receipt_wait_if(reports_ != nullptr && !public_url_.empty(), settings_.provider);
}

Outcome classify_twilio_answer(const TransferResult& result,
                               std::chrono::system_clock::time_point now) {
  Outcome outcome = classify_provider_answer(result, &read_twilio_answer, now);
  // Twilio's 400 with code 21610: the recipient replied STOP to this
  // sender, and Twilio sends them nothing more until they reply START.
  if (outcome.kind == Outcome::Kind::Rejected && result.status == 400) {
    if (const auto doc = answer_json(result);
        doc && doc->is_object() && json_text(*doc, "code") == kOptedOutCode) {
      outcome.opted_out = kOptedOutCode;
    }
  }
  return outcome;
}

Outcome read_twilio_answer(const TransferResult& result) {
  const std::string detail = answer_detail(result);
  const auto doc = answer_json(result);
  if (!doc || !doc->is_object()) {
    return Outcome::sent("", detail +
                                 " (not the Message JSON Twilio answers with: no sid to "
                                 "match delivery receipts by)");
  }
  const auto status = doc->find("status");
  if (status != doc->end() && status->is_string() && status->get<std::string>() == "failed") {
    return Outcome::rejected(detail);
  }
  const auto sid = doc->find("sid");
  if (sid == doc->end() || !sid->is_string() ||
      !is_report_word(sid->get<std::string>(), kMaxProviderIdBytes)) {
    return Outcome::sent("", detail + " (no sid to match delivery receipts by)");
  }
  return Outcome::sent(sid->get<std::string>(), detail);
}

ParsedReports parse_twilio_receipt(std::string_view body) {
  ParsedReports out;
  const auto fields = parse_form(body);
  if (!fields) return ParsedReports::malformed(kNotAForm);
  Receipt receipt;
  receipt.provider_id = report_field(*fields, "MessageSid");
  if (receipt.provider_id.empty()) receipt.provider_id = report_field(*fields, "SmsSid");
  if (!is_report_word(receipt.provider_id, kMaxProviderIdBytes)) {
    out.error = "no usable MessageSid";
    return out;
  }
  receipt.status = report_field(*fields, "MessageStatus");
  if (receipt.status.empty()) receipt.status = report_field(*fields, "SmsStatus");
  if (!is_report_word(receipt.status, kMaxReportWordBytes)) {
    out.error = "no usable MessageStatus";
    return out;
  }
  const std::string& s = receipt.status;
  if (s == "delivered" || s == "read") {
    receipt.kind = ReceiptKind::Delivered;
  } else if (s == "undelivered" || s == "failed" || s == "canceled") {
    receipt.kind = ReceiptKind::Undelivered;
  } else {
    receipt.kind = ReceiptKind::Progress;  // accepted, scheduled, queued, sending, sent, ...
  }
  const std::string code = report_field(*fields, "ErrorCode");
  if (!code.empty()) {
    if (!is_report_word(code, kMaxReportWordBytes)) {
      out.error = "ErrorCode is not a code";
      return out;
    }
    receipt.reason = "Twilio error " + code;
    receipt.opted_out = code == kOptedOutCode;
  }
  if (const std::string done = report_field(*fields, "RawDlrDoneDate"); !done.empty()) {
    receipt.at_ms = dlr_done_ms(done).value_or(0);
  }
  out.receipts.push_back(std::move(receipt));
  return out;
}

ParsedReports parse_twilio_inbound(std::string_view body) {
  const auto fields = parse_form(body);
  if (!fields) return ParsedReports::malformed(kNotAForm);
  InboundSms sms;
  sms.from = report_field(*fields, "From");
  sms.to = report_field(*fields, "To");
  sms.text = report_field(*fields, "Body");
  sms.provider_id = report_field(*fields, "MessageSid");
  return inbound_reply(std::move(sms), {"From", "To", "Body", "MessageSid"});
}

// ---- the kind: its config keys and its factory -----------------------------

namespace {

std::unique_ptr<Gateway> create(const GatewayConfig& config, GatewayContext& context) {
  const GatewaySettings settings(config);
  TwilioSettings out;
  out.name = config.name;
  out.provider = read_provider_settings(settings, kDefaultUrl);
  out.account_sid = settings.required("account_sid");
  if (!is_sid(out.account_sid, "AC")) {
    settings.fail("account_sid", "is not an Account SID (AC and 32 hex digits)");
  }
  out.auth_token = read_credential(settings, "auth_token");
  out.messaging_service_sid = settings.string("messaging_service_sid");
  if (settings.has("from") == !out.messaging_service_sid.empty()) {
    settings.fail("from", "give either from or messaging_service_sid, exactly one");
  }
  out.from = read_sender_id(settings, false);
  if (!out.messaging_service_sid.empty() && !is_sid(out.messaging_service_sid, "MG")) {
    settings.fail("messaging_service_sid", "is not a Messaging Service SID (MG and 32 hex digits)");
  }
  return std::make_unique<TwilioGateway>(std::move(out), context.curl, context.reports,
                                         context.public_url);
}

}  // namespace

GatewayKind twilio_gateway_kind() {
  std::vector<ConfigKey> keys = {
      {"account_sid", KeyType::String, true, false, "Account SID (AC...)"},
      {"auth_token", KeyType::String, true, true,
       "Auth Token: the API password and the key of Twilio's signatures"},
      {"from", KeyType::String, false, false,
       "sender: a Twilio number (E.164) or an alphanumeric sender ID"},
      {"messaging_service_sid", KeyType::String, false, false,
       "Messaging Service SID (MG...), instead of from"},
  };
  for (auto& key : provider_keys(kDefaultUrl)) keys.push_back(std::move(key));
  return {"twilio", "SMS through Twilio, with signed delivery receipts and replies",
          std::move(keys), &create};
}

}  // namespace tack
