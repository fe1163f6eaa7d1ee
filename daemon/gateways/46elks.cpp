#include "gateways/46elks.hpp"

#include <algorithm>

#include "gateways/report_fields.hpp"
#include "gateways/settings.hpp"
#include "text.hpp"

namespace tack {

namespace {

constexpr const char* kDefaultUrl = "https://api.46elks.com/a1";
constexpr const char* kReceiptUser = "tack";
constexpr std::uint64_t kMaxBody = 64 * 1024;

}  // namespace

ElksGateway::ElksGateway(ElksSettings settings, CurlMulti& curl, ProviderReports* reports,
                         std::string public_url)
    : settings_(std::move(settings)),
      curl_(curl),
      reports_(reports),
      public_url_(std::move(public_url)) {}

HttpRequest ElksGateway::build_request(const OutboundMessage& message) const {
  HttpRequest request =
      provider_request(settings_.provider, "POST", settings_.provider.url + "/sms");
  request.username = settings_.username;
  request.password = settings_.password;
  std::string body = "from=" + form_encode(settings_.from) +
                     "&to=" + form_encode(message.recipient) +
                     "&message=" + form_encode(message.text);
  if (!settings_.receipt_token.empty()) {
    const std::string url = callback_url(public_url_, receipt_path(settings_.name), kReceiptUser,
                                         settings_.receipt_token);
    if (!url.empty()) body += "&whendelivered=" + form_encode(url);
  }
  request.body = std::move(body);
  request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  return request;
}

asio::awaitable<Outcome> ElksGateway::send(const OutboundMessage& message) {
  if (message.kind != ChannelKind::Sms) {
    co_return Outcome::rejected("46elks carries SMS only, not " + to_string(message.kind));
  }
  HttpRequest request = build_request(message);
  const TransferResult result = co_await curl_.perform(std::move(request));
  co_return classify_provider_answer(result, &read_elks_answer, std::chrono::system_clock::now());
}

Verification ElksGateway::verify(const ServerRequest& request) const {
  if (settings_.receipt_token.empty()) {
    return Verification::missing("gateway " + settings_.name +
                                 " has no receipt_token: it takes no reports");
  }
  return verify_basic(request, kReceiptUser, settings_.receipt_token);
}

std::vector<Route> ElksGateway::routes() {
  ReportRoute receipts;
  receipts.max_body = kMaxBody;
  receipts.verify = [this](const ServerRequest& request) { return verify(request); };
  receipts.parse = [](const ServerRequest& request) { return parse_elks_receipt(request.body()); };
  // 46elks ignores a receipt answer's body, and sends a reply answer's
  // body to the customer as an SMS: both are empty.
  receipts.ok_body = "";
  receipts.ok_content_type = "text/plain; charset=utf-8";
  ReportRoute replies = receipts;
  replies.parse = [](const ServerRequest& request) { return parse_elks_inbound(request.body()); };
  return report_routes(settings_.name, reports_, std::move(receipts), std::move(replies));
}

std::chrono::milliseconds ElksGateway::receipt_wait() const {
  // 46elks reports only to each message's whendelivered URL, which needs
  // both the public URL and the token.
  return receipt_wait_if(
      reports_ != nullptr && !settings_.receipt_token.empty() && !public_url_.empty(),
      settings_.provider);
}

Outcome read_elks_answer(const TransferResult& result) {
  const std::string detail = answer_detail(result);
  const auto doc = answer_json(result);
  if (!doc || !doc->is_object()) {
    return Outcome::sent("", detail +
                                 " (not the JSON 46elks answers with: no id to match "
                                 "delivery receipts by)");
  }
  const auto status = doc->find("status");
  if (status != doc->end() && status->is_string() && status->get<std::string>() == "failed") {
    return Outcome::rejected(detail);
  }
  const auto id = doc->find("id");
  if (id == doc->end() || !id->is_string() ||
      !is_report_word(id->get<std::string>(), kMaxProviderIdBytes)) {
    return Outcome::sent("", detail + " (no id to match delivery receipts by)");
  }
  return Outcome::sent(id->get<std::string>(), detail);
}

ParsedReports parse_elks_receipt(std::string_view body) {
  ParsedReports out;
  const auto fields = parse_form(body);
  if (!fields) return ParsedReports::malformed(kNotAForm);
  Receipt receipt;
  receipt.provider_id = report_field(*fields, "id");
  if (!is_report_word(receipt.provider_id, kMaxProviderIdBytes)) {
    out.error = "no usable id";
    return out;
  }
  receipt.status = report_field(*fields, "status");
  if (!is_report_word(receipt.status, kMaxReportWordBytes)) {
    out.error = "no usable status";
    return out;
  }
  if (receipt.status == "delivered") {
    receipt.kind = ReceiptKind::Delivered;
  } else if (receipt.status == "failed") {
    receipt.kind = ReceiptKind::Undelivered;
  } else {
    receipt.kind = ReceiptKind::Progress;  // "sent", or a status 46elks adds later
  }
  if (const std::string when = report_field(*fields, "delivered"); !when.empty()) {
    const auto at = parse_provider_time(when);
    if (!at) {
      out.error = "delivered is not a time";
      return out;
    }
    receipt.at_ms = *at;
  }
  out.receipts.push_back(std::move(receipt));
  return out;
}

ParsedReports parse_elks_inbound(std::string_view body) {
  const auto fields = parse_form(body);
  if (!fields) return ParsedReports::malformed(kNotAForm);
  InboundSms sms;
  sms.from = report_field(*fields, "from");
  sms.to = report_field(*fields, "to");
  sms.text = report_field(*fields, "message");
  sms.provider_id = report_field(*fields, "id");
  if (const std::string when = report_field(*fields, "created"); !when.empty()) {
    sms.at_ms = parse_provider_time(when).value_or(0);
  }
  return inbound_reply(std::move(sms), {"from", "to", "message", "id"});
}

// ---- the kind: its config keys and its factory -----------------------------

namespace {

std::unique_ptr<Gateway> create(const GatewayConfig& config, GatewayContext& context) {
  const GatewaySettings settings(config);
  ElksSettings out;
  out.name = config.name;
  out.provider = read_provider_settings(settings, kDefaultUrl);
  out.username = read_credential(settings, "username");
  out.password = read_credential(settings, "password");
  out.from = read_sender_id(settings, true);
  out.receipt_token = read_receipt_token(settings);
  return std::make_unique<ElksGateway>(std::move(out), context.curl, context.reports,
                                       context.public_url);
}

}  // namespace

GatewayKind elks_gateway_kind() {
  std::vector<ConfigKey> keys = {
      {"username", KeyType::String, true, false, "API username (u...)"},
      {"password", KeyType::String, true, true, "API password"},
      {"from", KeyType::String, true, false,
       "sender: a text ID (up to 11 characters) or an E.164 number"},
      {"receipt_token", KeyType::String, false, true,
       "secret 46elks sends back as Basic credentials with receipts and replies (at least 16 "
       "characters); without it none are taken"},
  };
  for (auto& key : provider_keys(kDefaultUrl)) keys.push_back(std::move(key));
  return {"46elks", "SMS through 46elks (Sweden), with delivery receipts and replies",
          std::move(keys), &create};
}

}  // namespace tack
