#include "gateways/postmark.hpp"

#include <set>

#include "text.hpp"

namespace tack {

namespace {

constexpr const char* kDefaultUrl = "https://api.postmarkapp.com";

std::string mailbox_text(const Mailbox& mailbox) {
  if (mailbox.display_name.empty()) return mailbox.address;
  std::string quoted = "\"";
  for (char c : mailbox.display_name) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\" <" + mailbox.address + ">";
}

// Postmark's error codes that are about tack's account or sender, not the
// message: every message would get the same answer.
bool account_error(long code) {
  return code == 10 || code == 400 || code == 401 || code == 405 || code == 412 || code == 413;
}

// The answer's ErrorCode when its body is Postmark's JSON.
std::optional<long> postmark_error_code(const TransferResult& result, std::string& message) {
  const auto doc = answer_json(result);
  if (!doc || !doc->is_object()) return std::nullopt;
  const auto code = doc->find("ErrorCode");
  if (code == doc->end() || !code->is_number_integer()) return std::nullopt;
  message = replace_invalid_utf8(json_text(*doc, "Message"));
  return code->get<long>();
}

Outcome by_postmark_error_code(long code, const std::string& message,
                               const TransferResult& result) {
  const std::string detail = "HTTP " + std::to_string(result.status) + ": Postmark error " +
                             std::to_string(code) +
                             (message.empty() ? std::string() : ": " + message.substr(0, 500));
  if (account_error(code)) return Outcome::retry(detail).with(Outcome::Health::Refused);
  if (code == 100) return Outcome::retry(detail).with(Outcome::Health::Down);
  if (code == 429) return Outcome::retry(detail).with(Outcome::Health::Answering);
  return Outcome::rejected(detail);
}

}  // namespace

ProviderBuilt build_postmark_request(const PostmarkOptions& options,
                                     const OutboundMessage& message) {
  ProviderBuilt built;
  const auto to = email_recipient(message.recipient, built.error);
  if (!to) return built;
  nlohmann::ordered_json body;
  body["From"] = mailbox_text(options.from);
  body["To"] = to->address;
  body["Subject"] = message.subject;
  body["TextBody"] = message.text;
  if (!message.html.empty()) body["HtmlBody"] = message.html;
  body["MessageStream"] = options.message_stream;
  if (!message.idempotency_key.empty()) {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    header["Name"] = "X-Tack-Idempotency-Key";
    header["Value"] = message.idempotency_key;
    body["Headers"] = nlohmann::ordered_json::array();
    body["Headers"].push_back(std::move(header));
    body["Metadata"] = nlohmann::ordered_json::object();
    body["Metadata"]["tack_idempotency_key"] = message.idempotency_key;
  }
  // A marketing e-mail's one-click unsubscribe (RFC 8058).
  const auto unsubscribe = unsubscribe_headers(message.unsubscribe_url);
  if (!unsubscribe) {
    built.error = "unsubscribe URL is not a short http(s) URL of printable ASCII";
    return built;
  }
  for (const auto& [name, value] : *unsubscribe) {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    header["Name"] = name;
    header["Value"] = value;
    if (!body.contains("Headers")) body["Headers"] = nlohmann::ordered_json::array();
    body["Headers"].push_back(std::move(header));
  }
  HttpRequest request = provider_request(options.provider, "POST", options.provider.url + "/email");
  request.headers.emplace_back("Accept", "application/json");
  request.headers.emplace_back("Content-Type", "application/json");
  request.headers.emplace_back("X-Postmark-Server-Token", options.server_token);
  request.body = body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  built.request = std::move(request);
  return built;
}

Outcome classify_postmark_answer(const TransferResult& result,
                                 std::chrono::system_clock::time_point now) {
  // Postmark says what went wrong in ErrorCode, on a 422 as on a 200.
  if (result.ok() && result.status == 422) {
    std::string message;
    if (const auto code = postmark_error_code(result, message); code && *code != 0) {
      return by_postmark_error_code(*code, message, result);
    }
  }
  return classify_provider_answer(
      result,
      [](const TransferResult& answer) {
        std::string message;
        const auto code = postmark_error_code(answer, message);
        if (code && *code != 0) return by_postmark_error_code(*code, message, answer);
        std::string id;
        if (const auto doc = answer_json(answer)) id = json_text(*doc, "MessageID");
        return Outcome::sent(replace_invalid_utf8(id), "HTTP " + std::to_string(answer.status));
      },
      now);
}

ParsedReports parse_postmark_webhook(const std::string& body) {
  ParsedReports out;
  const auto doc = webhook_json(body);
  if (!doc || !doc->is_object()) {
    out.error = "the body is not a JSON object";
    return out;
  }
  const std::string type = json_text(*doc, "RecordType");
  if (type != "Delivery" && type != "Bounce") return out;  // opens, clicks, complaints...
  const std::string id = trim(json_text(*doc, "MessageID"));
  if (id.empty()) {
    out.error = "a " + type + " record without a MessageID";
    return out;
  }
  Receipt receipt;
  receipt.provider_id = replace_invalid_utf8(id.substr(0, 200));
  std::string at;
  if (type == "Delivery") {
    receipt.kind = ReceiptKind::Delivered;
    receipt.status = "Delivery";
    at = json_text(*doc, "DeliveredAt");
  } else {
    static const std::set<std::string> kHard = {"HardBounce", "BadEmailAddress", "Blocked",
                                                "DMARCPolicy", "ManuallyDeactivated"};
    const std::string bounce = json_text(*doc, "Type");
    const auto inactive = doc->find("Inactive");
    const bool deactivated =
        inactive != doc->end() && inactive->is_boolean() && inactive->get<bool>();
    receipt.kind =
        kHard.count(bounce) > 0 || deactivated ? ReceiptKind::Bounced : ReceiptKind::Progress;
    receipt.status = replace_invalid_utf8(bounce.empty() ? "Bounce" : bounce.substr(0, 100));
    std::string reason = json_text(*doc, "Description");
    if (const std::string details = json_text(*doc, "Details"); !details.empty()) {
      reason += (reason.empty() ? "" : " ") + details;
    }
    if (reason.size() > 1000) reason = reason.substr(0, 1000) + "...";
    receipt.reason = replace_invalid_utf8(reason);
    at = json_text(*doc, "BouncedAt");
  }
  if (const auto ms = parse_provider_time(at)) receipt.at_ms = *ms;
  out.receipts.push_back(std::move(receipt));
  return out;
}

PostmarkGateway::PostmarkGateway(PostmarkOptions options, CurlMulti& curl, ProviderReports* reports)
    : options_(std::move(options)), curl_(curl), reports_(reports) {}

asio::awaitable<Outcome> PostmarkGateway::send(const OutboundMessage& message) {
  if (!supports(message.kind)) {
    co_return Outcome::rejected("gateway \"" + options_.name + "\" carries e-mail only");
  }
  ProviderBuilt built = build_postmark_request(options_, message);
  if (!built.request) co_return Outcome::rejected("cannot build the request: " + built.error);
  const TransferResult result = co_await curl_.perform(std::move(*built.request));
  co_return classify_postmark_answer(result, std::chrono::system_clock::now());
}

std::vector<Route> PostmarkGateway::routes() {
  if (options_.receipt_token.empty()) return {};
  ReportRoute receipts;
  receipts.verify = [token = options_.receipt_token](const ServerRequest& request) {
    return verify_basic(request, kPostmarkReceiptUser, token);
  };
  receipts.parse = [](const ServerRequest& request) {
    return parse_postmark_webhook(request.body());
  };
  return report_routes(options_.name, reports_, std::move(receipts));
}

std::chrono::milliseconds PostmarkGateway::receipt_wait() const {
  return receipt_wait_if(reports_ != nullptr && !options_.receipt_token.empty(), options_.provider);
}

// ---- the kind: its config keys and its factory -----------------------------

namespace {

std::unique_ptr<Gateway> create(const GatewayConfig& config, GatewayContext& context) {
  const GatewaySettings settings(config);
  PostmarkOptions options;
  options.name = config.name;
  options.provider = read_provider_settings(settings, kDefaultUrl);
  options.server_token = read_credential(settings, "server_token");
  settings.required("from");
  options.from = settings.mailbox("from");
  options.message_stream = settings.string("message_stream", "outbound");
  if (options.message_stream.empty() || options.message_stream.size() > 100) {
    settings.fail("message_stream", "must be a stream ID, like outbound");
  }
  options.receipt_token = read_receipt_token(settings);
  return std::make_unique<PostmarkGateway>(std::move(options), context.curl, context.reports);
}

}  // namespace

GatewayKind postmark_gateway_kind() {
  std::vector<ConfigKey> keys = {
      {"server_token", KeyType::String, true, true,
       "the server API token, sent as X-Postmark-Server-Token"},
      {"from", KeyType::String, true, false, "sender, like \"Shop <shop@example.se>\""},
      {"message_stream", KeyType::String, false, false,
       "the message stream (default outbound, the transactional one)"},
      {"receipt_token", KeyType::String, false, true,
       "password of the webhook URL https://tack:TOKEN@host/v1/receipts/NAME (at least 16 "
       "characters); set: receipts are taken"},
  };
  for (auto& key : provider_keys(kDefaultUrl)) keys.push_back(std::move(key));
  return {"postmark", "e-mail through Postmark's Email API, with its delivery and bounce webhooks",
          std::move(keys), &create};
}

}  // namespace tack
