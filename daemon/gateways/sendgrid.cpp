#include "gateways/sendgrid.hpp"

#include <stdexcept>

#include "digest.hpp"
#include "text.hpp"

namespace tack {

namespace {

constexpr const char* kDefaultUrl = "https://api.sendgrid.com";
constexpr const char* kSignatureHeader = "X-Twilio-Email-Event-Webhook-Signature";
constexpr const char* kTimestampHeader = "X-Twilio-Email-Event-Webhook-Timestamp";
constexpr std::size_t kMaxEvents = 10000;

nlohmann::json address_json(const Mailbox& mailbox) {
  nlohmann::json out = {{"email", mailbox.address}};
  if (!mailbox.display_name.empty()) out["name"] = mailbox.display_name;
  return out;
}

std::string_view header_value(const ServerRequest& request, const char* name) {
  const auto value = request[name];
  return {value.data(), value.size()};
}

}  // namespace

ProviderBuilt build_sendgrid_request(const SendgridOptions& options,
                                     const OutboundMessage& message) {
  ProviderBuilt built;
  const auto to = email_recipient(message.recipient, built.error);
  if (!to) return built;
  nlohmann::json body;
  nlohmann::json personalization = nlohmann::json::object();
  personalization["to"] = nlohmann::json::array();
  personalization["to"].push_back(address_json(*to));
  body["personalizations"] = nlohmann::json::array();
  body["personalizations"].push_back(std::move(personalization));
  body["from"] = address_json(options.from);
  body["subject"] = message.subject;
  auto part = [](const char* type, const std::string& value) {
    nlohmann::json out = nlohmann::json::object();
    out["type"] = type;
    out["value"] = value;
    return out;
  };
  // Plain text first: SendGrid wants the parts in that order.
  body["content"] = nlohmann::json::array();
  body["content"].push_back(part("text/plain", message.text));
  if (!message.html.empty()) body["content"].push_back(part("text/html", message.html));
  if (!message.idempotency_key.empty()) {
    if (message.idempotency_key.find_first_of("\r\n") != std::string::npos) {
      built.error = "idempotency key contains a line break";
      return built;
    }
    body["headers"]["X-Tack-Idempotency-Key"] = message.idempotency_key;
    body["custom_args"]["tack_idempotency_key"] = message.idempotency_key;
  }
  // A marketing e-mail's one-click unsubscribe (RFC 8058).
  const auto unsubscribe = unsubscribe_headers(message.unsubscribe_url);
  if (!unsubscribe) {
    built.error = "unsubscribe URL is not a short http(s) URL of printable ASCII";
    return built;
  }
  for (const auto& [name, value] : *unsubscribe) body["headers"][name] = value;
  HttpRequest request =
      provider_request(options.provider, "POST", options.provider.url + "/v3/mail/send");
  request.bearer_token = options.api_key;
  request.headers.emplace_back("Content-Type", "application/json");
  // Invalid UTF-8 is replaced, not thrown on: the data path never throws.
  request.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  built.request = std::move(request);
  return built;
}

Outcome classify_sendgrid_answer(const TransferResult& result,
                                 std::chrono::system_clock::time_point now) {
  return classify_provider_answer(
      result,
      [](const TransferResult& answer) {
        return Outcome::sent(replace_invalid_utf8(answer.header("x-message-id")),
                             "HTTP " + std::to_string(answer.status));
      },
      now);
}

Verification verify_sendgrid_signature(const ServerRequest& request, const std::string& key_der,
                                       std::chrono::seconds max_age, std::int64_t now_s) {
  const std::string signature_text = trim(header_value(request, kSignatureHeader));
  const std::string timestamp_text = trim(header_value(request, kTimestampHeader));
  if (signature_text.empty() || timestamp_text.empty()) {
    return Verification::missing("no signed event webhook headers");
  }
  const auto timestamp = unix_seconds(timestamp_text);
  if (!timestamp || timestamp_text.find('.') != std::string::npos) {
    return Verification::missing("the signature's timestamp is not Unix seconds");
  }
  const auto signature = base64_decode(signature_text);
  if (!signature) return Verification::forged("the signature is not base64");
  if (!ecdsa_p256_sha256_verify(key_der, timestamp_text + request.body(), *signature)) {
    return Verification::forged("the signature does not verify");
  }
  // Checked after the signature, so a forger learns nothing from the answer.
  if (std::string why = check_signature_age(*timestamp, now_s, max_age); !why.empty()) {
    return Verification::missing(why);
  }
  return Verification::ok();
}

ParsedReports parse_sendgrid_events(const std::string& body) {
  ParsedReports out;
  const auto doc = webhook_json(body);
  if (!doc) {
    out.error = "the body is not JSON (or too deep or large)";
    return out;
  }
  if (!doc->is_array()) {
    out.error = "the body is not a JSON array of events";
    return out;
  }
  if (doc->size() > kMaxEvents) {
    out.error = "more than " + std::to_string(kMaxEvents) + " events in one post";
    return out;
  }
  for (const auto& event : *doc) {
    if (!event.is_object()) {
      out.receipts.clear();
      out.error = "an event is not a JSON object";
      return out;
    }
    const std::string name = json_text(event, "event");
    const std::string sg_id = json_text(event, "sg_message_id");
    const std::string provider_id = sg_id.substr(0, sg_id.find('.'));
    if (provider_id.empty()) continue;
    Receipt receipt;
    receipt.provider_id = provider_id;
    receipt.status = name;
    if (name == "processed") {
      receipt.kind = ReceiptKind::Progress;
    } else if (name == "deferred") {
      receipt.kind = ReceiptKind::Progress;
      receipt.reason = json_text(event, "response");
    } else if (name == "delivered") {
      receipt.kind = ReceiptKind::Delivered;
    } else if (name == "bounce" || name == "dropped") {
      receipt.kind = ReceiptKind::Bounced;
      receipt.reason = json_text(event, "reason");
      const std::string status = json_text(event, "status");
      if (!status.empty() && receipt.reason.find(status) == std::string::npos) {
        receipt.reason = status + (receipt.reason.empty() ? "" : " " + receipt.reason);
      }
      // A bounce says whether the address bounced or the message was blocked.
      if (const std::string type = json_text(event, "type"); name == "bounce" && !type.empty()) {
        receipt.status = type;
      }
    } else {
      continue;  // engagement events, and names SendGrid adds later
    }
    if (const auto at = unix_seconds(json_text(event, "timestamp"))) {
      receipt.at_ms = *at * 1000;
    }
    receipt.status = replace_invalid_utf8(receipt.status);
    if (receipt.reason.size() > 1000) receipt.reason = receipt.reason.substr(0, 1000) + "...";
    receipt.reason = replace_invalid_utf8(receipt.reason);
    out.receipts.push_back(std::move(receipt));
  }
  return out;
}

SendgridGateway::SendgridGateway(SendgridOptions options, CurlMulti& curl, ProviderReports* reports)
    : options_(std::move(options)), curl_(curl), reports_(reports) {}

asio::awaitable<Outcome> SendgridGateway::send(const OutboundMessage& message) {
  if (!supports(message.kind)) {
    co_return Outcome::rejected("gateway \"" + options_.name + "\" carries e-mail only");
  }
  ProviderBuilt built = build_sendgrid_request(options_, message);
  if (!built.request) co_return Outcome::rejected("cannot build the request: " + built.error);
  const TransferResult result = co_await curl_.perform(std::move(*built.request));
  co_return classify_sendgrid_answer(result, std::chrono::system_clock::now());
}

std::vector<Route> SendgridGateway::routes() {
  if (options_.verification_key.empty()) return {};
  ReportRoute receipts;
  // SendGrid batches events: a post may hold many.
  receipts.max_body = 4 * 1024 * 1024;
  receipts.verify = [key = options_.verification_key,
                     max_age = options_.signature_max_age](const ServerRequest& request) {
    return verify_sendgrid_signature(request, key, max_age, unix_now_s());
  };
  receipts.parse = [](const ServerRequest& request) {
    return parse_sendgrid_events(request.body());
  };
  return report_routes(options_.name, reports_, std::move(receipts));
}

std::chrono::milliseconds SendgridGateway::receipt_wait() const {
  return receipt_wait_if(reports_ != nullptr && !options_.verification_key.empty(),
                         options_.provider);
}

// ---- the kind: its config keys and its factory -----------------------------

namespace {

std::unique_ptr<Gateway> create(const GatewayConfig& config, GatewayContext& context) {
  const GatewaySettings settings(config);
  SendgridOptions options;
  options.name = config.name;
  options.provider = read_provider_settings(settings, kDefaultUrl);
  options.api_key = read_credential(settings, "api_key");
  settings.required("from");
  options.from = settings.mailbox("from");
  if (settings.has("verification_key")) {
    const auto der = base64_decode(trim(settings.string("verification_key")));
    if (!der) settings.fail("verification_key", "is not base64 (paste the key SendGrid shows)");
    if (std::string why = check_p256_public_key(*der); !why.empty()) {
      settings.fail("verification_key", why);
    }
    options.verification_key = *der;
  }
  options.signature_max_age = read_signature_max_age(settings);
  return std::make_unique<SendgridGateway>(std::move(options), context.curl, context.reports);
}

}  // namespace

GatewayKind sendgrid_gateway_kind() {
  std::vector<ConfigKey> keys = {
      {"api_key", KeyType::String, true, true, "the API key, sent as Authorization: Bearer"},
      {"from", KeyType::String, true, false, "sender, like \"Shop <shop@example.se>\""},
      {"verification_key", KeyType::String, false, false,
       "the Signed Event Webhook's verification key (base64); set: receipts are taken"},
      signature_max_age_key(),
  };
  for (auto& key : provider_keys(kDefaultUrl)) keys.push_back(std::move(key));
  return {"sendgrid", "e-mail through SendGrid's v3 Mail Send API, with its event webhook",
          std::move(keys), &create};
}

}  // namespace tack
