#include "gateways/smsapi.hpp"

#include <algorithm>
#include <charconv>

#include "gateways/report_fields.hpp"
#include "gateways/settings.hpp"
#include "text.hpp"

namespace tack {

namespace {

constexpr std::size_t kMaxReportsPerCall = 100;
constexpr std::size_t kMaxIdx = 255;

std::string_view sv(boost::beast::string_view text) {
  return {text.data(), text.size()};
}

std::optional<long> parse_code(std::string_view raw) {
  const std::string trimmed = trim(raw);
  const std::string_view text = trimmed;
  if (text.empty() || text.size() > 9) return std::nullopt;
  long value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

std::vector<std::string_view> split_commas(std::string_view text) {
  std::vector<std::string_view> parts;
  while (true) {
    const auto comma = text.find(',');
    parts.push_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text = text.substr(comma + 1);
  }
  return parts;
}

Outcome classify_error(long code, const std::string& detail) {
  switch (code) {
    case 101:
    case 102:
    case 103:
    case 105:
      return Outcome::retry(detail).with(Outcome::Health::Refused);
    case 202:
    case 203:
      return Outcome::retry(detail).with(Outcome::Health::Answering);
    case 8:
    case 200:
    case 201:
    case 999:
      return Outcome::retry(detail).with(Outcome::Health::Down);
    default:
      return Outcome::rejected(detail);
  }
}

// The plain-text answer of SMSAPI's legacy endpoint: "OK:<id>:<points>" or
// "ERROR:<code>".
std::optional<Outcome> read_text_answer(const TransferResult& result, const std::string& detail) {
  const std::string body = trim(result.body);
  if (body.starts_with("OK:")) {
    const std::string rest = body.substr(3);
    const std::string id = rest.substr(0, rest.find(':'));
    if (id.empty() || id.size() > 128 || !valid_utf8(id)) return std::nullopt;
    return Outcome::sent(id, detail);
  }
  if (body.starts_with("ERROR:")) {
    if (auto code = parse_code(std::string_view(body).substr(6))) {
      return classify_error(*code, detail);
    }
  }
  return std::nullopt;
}

std::optional<long> json_code(const nlohmann::json& value) {
  if (value.is_number_integer()) return value.get<long>();
  if (value.is_string()) return parse_code(value.get<std::string>());
  return std::nullopt;
}

ReceiptKind receipt_kind(long status) {
  switch (status) {
    case 404:
      return ReceiptKind::Delivered;
    case 402:
    case 405:
    case 406:
    case 407:
    case 412:
      return ReceiptKind::Undelivered;
    default:
      return ReceiptKind::Progress;
  }
}

}  // namespace

HttpRequest smsapi_request(const SmsapiOptions& options, const OutboundMessage& message) {
  HttpRequest request =
      provider_request(options.provider, "POST", options.provider.url + "/sms.do");
  std::string to = message.recipient;
  if (to.starts_with("+")) to.erase(0, 1);
  std::vector<std::pair<std::string, std::string>> fields{
      {"to", to}, {"message", message.text}, {"encoding", "utf-8"}, {"format", "json"}};
  if (!options.from.empty()) fields.emplace_back("from", options.from);
  if (options.normalize) fields.emplace_back("normalize", "1");
  const std::string& key = message.idempotency_key;
  if (!key.empty() && key.size() <= kMaxIdx) {
    fields.emplace_back("idx", key);
    fields.emplace_back("check_idx", "1");
  }
  if (!options.receipt_token.empty()) {
    const std::string notify = callback_url(options.public_url, receipt_path(options.name),
                                            kSmsapiReceiptUser, options.receipt_token);
    if (!notify.empty()) fields.emplace_back("notify_url", notify);
  }
  for (const auto& [name, value] : fields) {
    if (!request.body.empty()) request.body += '&';
    request.body += form_encode(name) + "=" + form_encode(value);
  }
  request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  request.headers.emplace_back("Accept", "application/json");
  request.bearer_token = options.token;
  return request;
}

Outcome read_smsapi_answer(const TransferResult& result) {
  const std::string detail = answer_detail(result);
  const auto doc = answer_json(result);
  if (!doc) {
    if (auto outcome = read_text_answer(result, detail)) return std::move(*outcome);
    return Outcome::unknown("SMSAPI's answer is not one tack can read: " + detail);
  }
  if (doc->is_object()) {
    if (auto error = doc->find("error"); error != doc->end() && !error->is_null()) {
      if (auto code = json_code(*error)) return classify_error(*code, detail);
      return Outcome::rejected(detail);
    }
    if (auto list = doc->find("list"); list != doc->end() && list->is_array() && !list->empty()) {
      const auto& first = (*list)[0];
      if (first.is_object()) {
        if (auto id = first.find("id"); id != first.end()) {
          if (id->is_string() && !id->get<std::string>().empty()) {
            return Outcome::sent(replace_invalid_utf8(id->get<std::string>()), detail);
          }
          if (id->is_number_integer()) return Outcome::sent(id->dump(), detail);
        }
      }
    }
  }
  return Outcome::unknown("SMSAPI's answer is not one tack can read: " + detail);
}

ParsedReports parse_smsapi_receipts(const ServerRequest& request) {
  ParsedReports out;
  const auto query = parse_query(sv(request.target()));
  if (!query) {
    out.error = "the query is not a valid form (a bad %-escape, not UTF-8, too many fields)";
    return out;
  }
  const std::string ids_text = report_field(*query, "MsgId");
  const std::string statuses_text = report_field(*query, "status");
  if (ids_text.empty() || statuses_text.empty()) {
    out.error = "a report needs MsgId and status";
    return out;
  }
  const auto ids = split_commas(ids_text);
  const auto statuses = split_commas(statuses_text);
  const std::string names_text = report_field(*query, "status_name");
  const std::string dates_text = report_field(*query, "donedate");
  const auto names =
      names_text.empty() ? std::vector<std::string_view>() : split_commas(names_text);
  const auto dates =
      dates_text.empty() ? std::vector<std::string_view>() : split_commas(dates_text);
  if (ids.size() > kMaxReportsPerCall) {
    out.error = "more than " + std::to_string(kMaxReportsPerCall) + " reports in one call";
    return out;
  }
  if (statuses.size() != ids.size() || (!names.empty() && names.size() != ids.size()) ||
      (!dates.empty() && dates.size() != ids.size())) {
    out.error = "MsgId, status, status_name and donedate do not list as many reports";
    return out;
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::string id = trim(ids[i]);
    const auto status = parse_code(statuses[i]);
    if (id.empty() || id.size() > 128) {
      out.error = "a MsgId is empty or longer than 128 bytes";
      return out;
    }
    if (!status) {
      out.error = "status \"" + std::string(statuses[i].substr(0, 20)) + "\" is not a number";
      return out;
    }
    Receipt receipt;
    receipt.provider_id = id;
    receipt.kind = receipt_kind(*status);
    const std::string name = names.empty() ? std::string() : trim(names[i]);
    receipt.status = name.empty() ? std::to_string(*status) : name.substr(0, 40);
    receipt.reason = std::to_string(*status);
    if (!dates.empty() && !trim(dates[i]).empty()) {
      const auto at = parse_provider_time(dates[i]);
      if (!at) {
        out.error = "donedate is not a time";
        return out;
      }
      receipt.at_ms = *at;
    }
    out.receipts.push_back(std::move(receipt));
  }
  return out;
}

ParsedReports parse_smsapi_inbound(const ServerRequest& request) {
  const auto form = parse_form(request.body());
  if (!form) {
    return ParsedReports::malformed(
        "the body is not a valid form (a bad %-escape, not UTF-8, too many fields)");
  }
  InboundSms sms;
  sms.from = e164_from_provider(report_field(*form, "sms_from"));
  sms.to = e164_from_provider(report_field(*form, "sms_to"));
  sms.text = report_field(*form, "sms_text");
  sms.provider_id = report_field(*form, "MsgId");
  if (const std::string date = report_field(*form, "sms_date"); !date.empty()) {
    const auto at = parse_provider_time(date);
    if (!at) return ParsedReports::malformed("sms_date is not a time");
    sms.at_ms = *at;
  }
  return inbound_reply(std::move(sms), {"sms_from", "sms_to", "sms_text", "MsgId"});
}

SmsapiGateway::SmsapiGateway(SmsapiOptions options, GatewayContext& context)
    : options_(std::move(options)), curl_(context.curl), reports_(context.reports) {}

asio::awaitable<Outcome> SmsapiGateway::send(const OutboundMessage& message) {
  if (!supports(message.kind)) {
    co_return Outcome::rejected("gateway \"" + options_.name + "\" (smsapi) carries SMS only");
  }
  HttpRequest request = smsapi_request(options_, message);
  const TransferResult result = co_await curl_.perform(std::move(request));
  co_return classify_provider_answer(result, &read_smsapi_answer, std::chrono::system_clock::now());
}

std::chrono::milliseconds SmsapiGateway::receipt_wait() const {
  // SMSAPI also reports to the callback URL its panel names: public_url is
  // not needed, the password the route checks is.
  return receipt_wait_if(reports_ != nullptr && !options_.receipt_token.empty(), options_.provider);
}

Verification SmsapiGateway::verify(const ServerRequest& request) const {
  if (options_.receipt_token.empty()) {
    return Verification::missing("gateway " + options_.name + " has no receipt_token");
  }
  return verify_basic(request, kSmsapiReceiptUser, options_.receipt_token);
}

std::vector<Route> SmsapiGateway::routes() {
  ReportRoute receipts;
  receipts.method = beast_http::verb::get;
  receipts.max_body = 0;
  receipts.verify = [this](const ServerRequest& request) { return this->verify(request); };
  receipts.parse = &parse_smsapi_receipts;
  receipts.ok_body = "OK";
  receipts.ok_content_type = "text/plain; charset=utf-8";
  ReportRoute replies = receipts;
  replies.method = beast_http::verb::post;
  replies.max_body = 16 * 1024;
  replies.parse = &parse_smsapi_inbound;
  return report_routes(options_.name, reports_, std::move(receipts), std::move(replies));
}

// ---- the kind: its config keys and its factory -----------------------------

namespace {

std::unique_ptr<Gateway> create(const GatewayConfig& config, GatewayContext& context) {
  const GatewaySettings settings(config);
  SmsapiOptions options;
  options.name = config.name;
  const std::string region = settings.string("region", "pl");
  std::string default_url;
  if (region == "pl") {
    default_url = kSmsapiPlUrl;
  } else if (region == "com") {
    default_url = kSmsapiComUrl;
  } else {
    settings.fail("region", "\"" + region + "\" is not pl (api.smsapi.pl) or com (api.smsapi.com)");
  }
  if (settings.has("region") && settings.has("url")) {
    settings.fail("url", "give region or url, not both");
  }
  options.provider = read_provider_settings(settings, default_url);
  options.token = read_credential(settings, "token");
  options.from = read_sender_id(settings, false);
  options.normalize = settings.boolean("normalize", false);
  options.receipt_token = read_receipt_token(settings);
  options.public_url = context.public_url;
  return std::make_unique<SmsapiGateway>(std::move(options), context);
}

}  // namespace

GatewayKind smsapi_gateway_kind() {
  std::vector<ConfigKey> keys{
      {"token", KeyType::String, true, true, "SMSAPI OAuth token (Authorization: Bearer)"},
      {"from", KeyType::String, false, false,
       "sender name registered with SMSAPI (default: the account's)"},
      {"region", KeyType::String, false, false,
       "pl (api.smsapi.pl, default) or com (api.smsapi.com)"},
      {"normalize", KeyType::Bool, false, false,
       "let SMSAPI replace special characters (ą -> a) (default false)"},
      {"receipt_token", KeyType::String, false, true,
       "password of the notify_url SMSAPI calls with receipts (user tack; at least 16 "
       "characters)"},
  };
  for (auto& key : provider_keys(kSmsapiPlUrl)) keys.push_back(std::move(key));
  return {"smsapi", "SMSAPI (smsapi.pl / smsapi.com) SMS with delivery receipts", std::move(keys),
          &create};
}

}  // namespace tack
