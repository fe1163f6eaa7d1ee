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

std::optional<nlohmann::json> body_json(const std::string& body) {
  Limits bounds;
  bounds.max_json_depth = 16;
  bounds.max_json_values = 4096;
  bounds.max_string_bytes = body.size();
  std::string reason;
  return parse_json_bounded(body, bounds, reason);
}

std::string string_field(const nlohmann::json& doc, const char* name) {
  auto it = doc.find(name);
  if (it == doc.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

ReceiptKind receipt_kind(const std::string& status) {
  const std::string word = lowercase(status);
  if (word == "delivered") return ReceiptKind::Delivered;
  if (word == "failed" || word == "expired" || word == "rejected" || word == "aborted" ||
      word == "cancelled" || word == "deleted") {
    return ReceiptKind::Undelivered;
  }
  return ReceiptKind::Progress;
}

std::string e164(std::string number) {
  number = trim(number);
  if (!number.empty() && number[0] != '+' &&
      std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    number.insert(number.begin(), '+');
  }
  return number;
}

Outcome read_success(const TransferResult& result) {
  const std::string detail = answer_detail(result);
  const auto doc = answer_json(result);
  if (doc && doc->is_object()) {
    const std::string id = string_field(*doc, "id");
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
  const auto doc = body_json(request.body());
  if (!doc || !doc->is_object()) {
    out.error = "the body is not a JSON object";
    return out;
  }
  const std::string type = string_field(*doc, "type");
  if (type.empty()) {
    out.error = "a delivery report needs a type";
    return out;
  }
  // A batch summary (delivery_report summary/full), MMS or anything newer:
  // not what tack asked for; taken so Sinch stops, and ignored.
  if (type != "recipient_delivery_report_sms") return out;
  Receipt receipt;
  receipt.provider_id = string_field(*doc, "batch_id");
  receipt.status = string_field(*doc, "status");
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
  std::string when = string_field(*doc, "operator_status_at");
  if (when.empty()) when = string_field(*doc, "at");
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
  ParsedReports out;
  const auto doc = body_json(request.body());
  if (!doc || !doc->is_object()) {
    out.error = "the body is not a JSON object";
    return out;
  }
  const std::string type = string_field(*doc, "type");
  if (type != "mo_text") return out;  // binary and MMS replies carry no keyword
  InboundSms sms;
  sms.from = e164(string_field(*doc, "from"));
  sms.to = e164(string_field(*doc, "to"));
  sms.text = string_field(*doc, "body");
  sms.provider_id = string_field(*doc, "id");
  if (sms.from.empty()) {
    out.error = "a reply needs from";
    return out;
  }
  if (const std::string when = string_field(*doc, "received_at"); !when.empty()) {
    const auto at = parse_provider_time(when);
    if (!at) {
      out.error = "received_at is not RFC 3339";
      return out;
    }
    sms.at_ms = *at;
  }
  out.replies.push_back(std::move(sms));
  return out;
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
  return reports_ ? options_.provider.receipt_wait : std::chrono::milliseconds(0);
}

Verification SinchGateway::verify(const ServerRequest& request) const {
  if (options_.receipt_token.empty()) {
    return Verification::missing("gateway " + options_.name + " has no receipt_token");
  }
  return verify_basic(request, kReceiptUser, options_.receipt_token);
}

std::vector<Route> SinchGateway::routes() {
  if (!reports_) return {};
  ReportRoute receipts;
  receipts.gateway = options_.name;
  receipts.what = "receipt";
  receipts.path = receipt_path(options_.name);
  receipts.max_body = 64 * 1024;
  receipts.verify = [this](const ServerRequest& request) { return this->verify(request); };
  receipts.parse = &parse_sinch_receipts;
  ReportRoute replies = receipts;
  replies.what = "inbound";
  replies.path = inbound_path(options_.name);
  replies.parse = &parse_sinch_inbound;
  return {report_route(std::move(receipts), *reports_),
          report_route(std::move(replies), *reports_)};
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
  options.token = settings.required("token");
  if (options.token.find_first_of("\r\n") != std::string::npos) {
    settings.fail("token", "contains a line break");
  }
  options.from = settings.string("from");
  if (settings.has("from")) {
    if (const std::string problem = check_sender_id(options.from); !problem.empty()) {
      settings.fail("from", "\"" + options.from + "\" " + problem);
    }
  }
  options.receipt_token = settings.string("receipt_token");
  if (options.receipt_token.find_first_of("\r\n") != std::string::npos) {
    settings.fail("receipt_token", "contains a line break");
  }
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
       "password of the callback_url Sinch posts delivery reports to (user tack)"},
  };
  for (auto& key : provider_keys("https://us.sms.api.sinch.com")) keys.push_back(std::move(key));
  return {"sinch", "Sinch SMS REST API (batches) with delivery reports", std::move(keys), &create};
}

}  // namespace tack
