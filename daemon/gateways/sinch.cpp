#include "gateways/sinch.hpp"

#include <algorithm>
#include <cctype>

#include "event.hpp"
#include "gateways/http.hpp"
#include "gateways/settings.hpp"
#include "text.hpp"

namespace tack {

namespace {

constexpr const char* kReceiptUser = "tack";

ReceiptKind receipt_kind(const std::string& status) {
  const std::string word = lowercase(status);
  if (word == "delivered") return ReceiptKind::Delivered;
  if (word == "failed" || word == "expired" || word == "rejected" || word == "aborted" ||
      word == "cancelled" || word == "deleted") {
    return ReceiptKind::Undelivered;
  }
  return ReceiptKind::Progress;
}

Outcome read_success(const TransferResult& result) {
  const std::string detail = answer_detail(result);
  const auto doc = answer_json(result);
  if (doc && doc->is_object()) {
    const std::string id = json_text(*doc, "id");
    if (!id.empty() && id.size() <= 128) return Outcome::sent(replace_invalid_utf8(id), detail);
  }
  return Outcome::unknown("Sinch's answer has no batch id: " + detail);
}

}  // namespace

HttpRequest sinch_request(const SinchOptions& options, const OutboundMessage& message) {
  HttpRequest request =
      provider_request(options.provider, "POST",
                       options.provider.url + "/xms/v1/" + options.service_plan_id + "/batches");
  nlohmann::ordered_json body = nlohmann::ordered_json::object();
  if (!options.from.empty()) body["from"] = options.from;
  body["to"] = nlohmann::ordered_json::array({message.recipient});
  body["body"] = message.text;
  if (!options.receipt_token.empty() && !options.public_url.empty()) {
    body["delivery_report"] = "per_recipient";
    body["callback_url"] = callback_url(options.public_url, receipt_path(options.name),
                                        kReceiptUser, options.receipt_token);
  }
  if (!message.idempotency_key.empty()) body["client_reference"] = message.idempotency_key;
  // Replace, not throw, on invalid UTF-8: the data path never throws.
  request.body = body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  request.headers.emplace_back("Content-Type", "application/json");
  request.bearer_token = options.token;
  return request;
}

Outcome classify_sinch_answer(const TransferResult& result,
                              std::chrono::system_clock::time_point now) {
  // Sinch's 403 is about the batch (its `code` says what), not tack's token
  // (that is 401).
  if (result.ok() && result.status == 403) {
    if (const auto doc = answer_json(result); doc && doc->is_object() && doc->contains("code")) {
      return Outcome::rejected(answer_detail(result));
    }
  }
  return classify_provider_answer(result, &read_success, now);
}

ParsedReports parse_sinch_receipts(const ServerRequest& request) {
  ParsedReports out;
  const auto doc = webhook_json(request.body());
  if (!doc || !doc->is_object()) {
    out.error = "the body is not a JSON object";
    return out;
  }
  const std::string type = json_text(*doc, "type");
  if (type.empty()) {
    out.error = "a delivery report needs a type";
    return out;
  }
  // A batch summary (delivery_report summary/full), MMS or anything newer:
  // not what tack asked for; taken so Sinch stops, and ignored.
  if (type != "recipient_delivery_report_sms") return out;
  Receipt receipt;
  receipt.provider_id = json_text(*doc, "batch_id");
  receipt.status = json_text(*doc, "status");
  if (receipt.provider_id.empty() || receipt.provider_id.size() > 128 || receipt.status.empty() ||
      receipt.status.size() > 40) {
    out.error = "a recipient delivery report needs batch_id and status";
    return out;
  }
  receipt.kind = receipt_kind(receipt.status);
  if (auto code = doc->find("code"); code != doc->end()) {
    if (code->is_number_integer()) {
      receipt.reason = code->dump();
    } else if (!code->is_null()) {
      out.error = "code is not a number";
      return out;
    }
  }
  std::string when = json_text(*doc, "operator_status_at");
  if (when.empty()) when = json_text(*doc, "at");
  if (!when.empty()) {
    const auto at = parse_provider_time(when);
    if (!at) {
      out.error = "the report's time is not RFC 3339";
      return out;
    }
    receipt.at_ms = *at;
  }
  out.receipts.push_back(std::move(receipt));
  return out;
}

ParsedReports parse_sinch_inbound(const ServerRequest& request) {
  const auto doc = webhook_json(request.body());
  if (!doc || !doc->is_object()) return ParsedReports::malformed("the body is not a JSON object");
  if (json_text(*doc, "type") != "mo_text") return {};  // binary and MMS replies carry no keyword
  InboundSms sms;
  sms.from = e164_from_provider(json_text(*doc, "from"));
  sms.to = e164_from_provider(json_text(*doc, "to"));
  sms.text = json_text(*doc, "body");
  sms.provider_id = json_text(*doc, "id");
  if (const std::string when = json_text(*doc, "received_at"); !when.empty()) {
    const auto at = parse_provider_time(when);
    if (!at) return ParsedReports::malformed("received_at is not RFC 3339");
    sms.at_ms = *at;
  }
  return inbound_reply(std::move(sms), {"from", "to", "body", "id"});
}

SinchGateway::SinchGateway(SinchOptions options, GatewayContext& context)
    : options_(std::move(options)), curl_(context.curl), reports_(context.reports) {}

asio::awaitable<Outcome> SinchGateway::send(const OutboundMessage& message) {
  if (!supports(message.kind)) {
    co_return Outcome::rejected("gateway \"" + options_.name + "\" (sinch) carries SMS only");
  }
  HttpRequest request = sinch_request(options_, message);
  const TransferResult result = co_await curl_.perform(std::move(request));
  co_return classify_sinch_answer(result, std::chrono::system_clock::now());
}

std::chrono::milliseconds SinchGateway::receipt_wait() const {
  // Sinch reports only when the batch asks for it, with its callback_url.
  return receipt_wait_if(
      reports_ != nullptr && !options_.receipt_token.empty() && !options_.public_url.empty(),
      options_.provider);
}

Verification SinchGateway::verify(const ServerRequest& request) const {
  if (options_.receipt_token.empty()) {
    return Verification::missing("gateway " + options_.name + " has no receipt_token");
  }
  return verify_basic(request, kReceiptUser, options_.receipt_token);
}

std::vector<Route> SinchGateway::routes() {
  ReportRoute receipts;
  receipts.max_body = 64 * 1024;
  receipts.verify = [this](const ServerRequest& request) { return this->verify(request); };
  receipts.parse = &parse_sinch_receipts;
  ReportRoute replies = receipts;
  replies.parse = &parse_sinch_inbound;
  return report_routes(options_.name, reports_, std::move(receipts), std::move(replies));
}

// ---- the kind: its config keys and its factory -----------------------------

namespace {

std::unique_ptr<Gateway> create(const GatewayConfig& config, GatewayContext& context) {
  const GatewaySettings settings(config);
  SinchOptions options;
  options.name = config.name;
  const std::string region = settings.string("region", "us");
  if (region != "us" && region != "eu" && region != "au" && region != "br" && region != "ca") {
    settings.fail("region", "\"" + region + "\" is not one of us, eu, au, br, ca");
  }
  if (settings.has("region") && settings.has("url")) {
    settings.fail("url", "give region or url, not both");
  }
  options.provider = read_provider_settings(settings, "https://" + region + ".sms.api.sinch.com");
  options.service_plan_id = settings.required("service_plan_id");
  if (options.service_plan_id.size() > 64 ||
      !std::all_of(options.service_plan_id.begin(), options.service_plan_id.end(),
                   [](unsigned char c) { return std::isalnum(c) != 0; })) {
    settings.fail("service_plan_id", "must be letters and digits (as Sinch's dashboard shows it)");
  }
  options.token = read_credential(settings, "token");
  options.from = read_sender_id(settings, false);
  options.receipt_token = read_receipt_token(settings);
  options.public_url = context.public_url;
  return std::make_unique<SinchGateway>(std::move(options), context);
}

}  // namespace

GatewayKind sinch_gateway_kind() {
  std::vector<ConfigKey> keys{
      {"service_plan_id", KeyType::String, true, false, "Sinch SMS service plan ID"},
      {"token", KeyType::String, true, true, "Sinch SMS API token (Authorization: Bearer)"},
      {"from", KeyType::String, false, false,
       "sender: a number or an alphanumeric ID (default: the plan's originator)"},
      {"region", KeyType::String, false, false, "us (default), eu, au, br or ca"},
      {"receipt_token", KeyType::String, false, true,
       "password of the callback_url Sinch posts delivery reports to (user tack; at least 16 "
       "characters)"},
  };
  for (auto& key : provider_keys("https://us.sms.api.sinch.com")) keys.push_back(std::move(key));
  return {"sinch", "Sinch SMS REST API (batches) with delivery reports", std::move(keys), &create};
}

}  // namespace tack
