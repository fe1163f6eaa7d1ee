#include "gateways/mailgun.hpp"

#include <algorithm>

#include "digest.hpp"
#include "text.hpp"

namespace tack {

namespace {

constexpr const char* kUsUrl = "https://api.mailgun.net";
constexpr const char* kEuUrl = "https://api.eu.mailgun.net";
constexpr std::size_t kMaxToken = 256;

const nlohmann::json& member(const nlohmann::json& object, const char* name) {
  static const nlohmann::json kNull;
  if (!object.is_object()) return kNull;
  const auto found = object.find(name);
  return found == object.end() ? kNull : *found;
}

std::string mailbox_text(const Mailbox& mailbox) {
  if (mailbox.display_name.empty()) return mailbox.address;
  std::string quoted = "\"";
  for (char c : mailbox.display_name) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\" <" + mailbox.address + ">";
}

void add_field(std::string& body, std::string_view name, std::string_view value) {
  if (!body.empty()) body += '&';
  body += form_encode(name) + "=" + form_encode(value);
}

struct Signature {
  std::string timestamp;
  std::string token;
  std::string signature;
};

std::optional<Signature> signature_of(const nlohmann::json& doc) {
  const nlohmann::json& object = member(doc, "signature");
  Signature out{json_text(object, "timestamp"), json_text(object, "token"),
                json_text(object, "signature")};
  if (out.timestamp.empty() || out.token.empty() || out.signature.empty()) return std::nullopt;
  return out;
}

}  // namespace

std::string mailgun_region_url(const std::string& region) {
  if (region == "us") return kUsUrl;
  if (region == "eu") return kEuUrl;
  return {};
}

ProviderBuilt build_mailgun_request(const MailgunOptions& options, const OutboundMessage& message) {
  ProviderBuilt built;
  const auto to = email_recipient(message.recipient, built.error);
  if (!to) return built;
  HttpRequest request =
      provider_request(options.provider, "POST",
                       options.provider.url + "/v3/" + url_encode(options.domain) + "/messages");
  request.username = "api";
  request.password = options.api_key;
  std::string body;
  add_field(body, "from", mailbox_text(options.from));
  add_field(body, "to", to->address);
  add_field(body, "subject", message.subject);
  add_field(body, "text", message.text);
  if (!message.html.empty()) add_field(body, "html", message.html);
  if (!message.idempotency_key.empty()) {
    if (message.idempotency_key.find_first_of("\r\n") != std::string::npos) {
      built.error = "idempotency key contains a line break";
      return built;
    }
    add_field(body, "h:X-Tack-Idempotency-Key", message.idempotency_key);
    add_field(body, "v:tack-idempotency-key", message.idempotency_key);
  }
  // A marketing e-mail's one-click unsubscribe (RFC 8058).
  const auto unsubscribe = unsubscribe_headers(message.unsubscribe_url);
  if (!unsubscribe) {
    built.error = "unsubscribe URL is not a short http(s) URL of printable ASCII";
    return built;
  }
  for (const auto& [name, value] : *unsubscribe) add_field(body, "h:" + name, value);
  request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  request.body = std::move(body);
  built.request = std::move(request);
  return built;
}

Outcome classify_mailgun_answer(const TransferResult& result,
                                std::chrono::system_clock::time_point now) {
  return classify_provider_answer(
      result,
      [](const TransferResult& answer) {
        std::string id;
        if (const auto doc = answer_json(answer)) id = json_text(*doc, "id");
        id = trim(id);
        if (id.size() >= 2 && id.front() == '<' && id.back() == '>') {
          id = id.substr(1, id.size() - 2);
        }
        return Outcome::sent(replace_invalid_utf8(id), "HTTP " + std::to_string(answer.status));
      },
      now);
}

void MailgunTokens::expire(std::int64_t now_s, std::chrono::seconds window) {
  while (!order_.empty() &&
         (order_.front().first < now_s - window.count() || order_.size() > capacity_)) {
    tokens_.erase(order_.front().second);
    order_.pop_front();
  }
}

bool MailgunTokens::seen(const std::string& token, std::int64_t now_s,
                         std::chrono::seconds window) {
  expire(now_s, window);
  return tokens_.count(token) > 0;
}

void MailgunTokens::remember(const std::string& token, std::int64_t timestamp_s) {
  if (!tokens_.insert(token).second) return;
  order_.emplace_back(timestamp_s, token);
  if (order_.size() > capacity_) {
    tokens_.erase(order_.front().second);
    order_.pop_front();
  }
}

std::optional<std::pair<std::string, std::int64_t>> mailgun_token(const std::string& body) {
  const auto doc = webhook_json(body);
  if (!doc) return std::nullopt;
  const auto signature = signature_of(*doc);
  if (!signature) return std::nullopt;
  const auto timestamp = unix_seconds(signature->timestamp);
  if (!timestamp) return std::nullopt;
  return std::pair{signature->token, *timestamp};
}

Verification verify_mailgun_signature(const std::string& body, const std::string& signing_key,
                                      std::chrono::seconds max_age, std::int64_t now_s,
                                      MailgunTokens* tokens) {
  const auto doc = webhook_json(body);
  if (!doc) return Verification::missing("the body is not JSON, so it carries no signature");
  const auto signature = signature_of(*doc);
  if (!signature) return Verification::missing("no signature object (timestamp, token, signature)");
  const auto timestamp = unix_seconds(signature->timestamp);
  if (!timestamp || signature->timestamp.find('.') != std::string::npos) {
    return Verification::missing("the signature's timestamp is not Unix seconds");
  }
  if (signature->token.size() > kMaxToken) return Verification::missing("the token is too long");
  const std::string expected =
      hmac_sha256_hex(signing_key, signature->timestamp + signature->token);
  if (!constant_time_equal(lowercase(signature->signature), expected)) {
    return Verification::forged("the signature does not verify");
  }
  if (std::string why = check_signature_age(*timestamp, now_s, max_age); !why.empty()) {
    return Verification::missing(why);
  }
  if (tokens && tokens->seen(signature->token, now_s, max_age)) {
    return Verification::missing("replayed: this token was taken already");
  }
  return Verification::ok();
}

ParsedReports parse_mailgun_event(const std::string& body) {
  ParsedReports out;
  const auto doc = webhook_json(body);
  if (!doc || !doc->is_object()) {
    out.error = "the body is not a JSON object";
    return out;
  }
  const nlohmann::json& data = member(*doc, "event-data");
  if (!data.is_object()) {
    out.error = "no event-data object";
    return out;
  }
  const std::string event = json_text(data, "event");
  const nlohmann::json& headers = member(member(data, "message"), "headers");
  std::string id = trim(json_text(headers, "message-id"));
  if (id.size() >= 2 && id.front() == '<' && id.back() == '>') id = id.substr(1, id.size() - 2);
  if (id.empty()) return out;  // nothing to match it to (a test post, say)

  Receipt receipt;
  receipt.provider_id = replace_invalid_utf8(id);
  receipt.status = event;
  const nlohmann::json& status = member(data, "delivery-status");
  std::string why = json_text(status, "message");
  if (why.empty()) why = json_text(status, "description");
  if (const std::string code = json_text(status, "code"); !code.empty() && !why.empty()) {
    why = code + " " + why;
  }
  if (why.empty()) why = json_text(data, "reason");
  if (event == "delivered") {
    receipt.kind = ReceiptKind::Delivered;
  } else if (event == "failed") {
    const std::string severity = json_text(data, "severity");
    receipt.kind = severity == "permanent" ? ReceiptKind::Bounced : ReceiptKind::Progress;
    if (!severity.empty()) receipt.status = "failed (" + severity + ")";
    receipt.reason = why;
  } else if (event == "accepted") {
    receipt.kind = ReceiptKind::Progress;
  } else if (event == "rejected") {
    receipt.kind = ReceiptKind::Bounced;
    receipt.reason = why.empty() ? json_text(member(data, "reject"), "reason") : why;
  } else {
    return out;  // engagement events, and names Mailgun adds later
  }
  const std::string at = json_text(data, "timestamp");
  if (const auto seconds = unix_seconds(at)) {
    receipt.at_ms = *seconds * 1000;
    if (const auto dot = at.find('.'); dot != std::string::npos) {
      std::string millis = at.substr(dot + 1, 3);
      millis.resize(3, '0');
      receipt.at_ms += std::stoi(millis);
    }
  }
  receipt.status = replace_invalid_utf8(receipt.status.substr(0, 100));
  if (receipt.reason.size() > 1000) receipt.reason = receipt.reason.substr(0, 1000) + "...";
  receipt.reason = replace_invalid_utf8(receipt.reason);
  out.receipts.push_back(std::move(receipt));
  return out;
}

MailgunGateway::MailgunGateway(MailgunOptions options, CurlMulti& curl, ProviderReports* reports)
    : options_(std::move(options)),
      curl_(curl),
      reports_(reports),
      tokens_(std::make_shared<MailgunTokens>()) {}

asio::awaitable<Outcome> MailgunGateway::send(const OutboundMessage& message) {
  if (!supports(message.kind)) {
    co_return Outcome::rejected("gateway \"" + options_.name + "\" carries e-mail only");
  }
  ProviderBuilt built = build_mailgun_request(options_, message);
  if (!built.request) co_return Outcome::rejected("cannot build the request: " + built.error);
  const TransferResult result = co_await curl_.perform(std::move(*built.request));
  co_return classify_mailgun_answer(result, std::chrono::system_clock::now());
}

std::vector<Route> MailgunGateway::routes() {
  if (options_.signing_key.empty()) return {};
  ReportRoute spec;
  spec.verify = [key = options_.signing_key, max_age = options_.signature_max_age,
                 tokens = tokens_](const ServerRequest& request) {
    return verify_mailgun_signature(request.body(), key, max_age, unix_now_s(), tokens.get());
  };
  spec.parse = [](const ServerRequest& request) { return parse_mailgun_event(request.body()); };
  // Mailgun retries every answer but 200 and 406 for 8 hours, and its
  // webhooks are per domain: mail the shop sends another way through it
  // would come back all day.
  spec.unknown_status = beast_http::status::not_acceptable;
  std::vector<Route> out = report_routes(options_.name, reports_, std::move(spec));
  if (out.empty()) return {};
  Route& route = out.front();
  // A token is taken once its post is answered for good (200, or 406 for an
  // id tack never sent); after a 503 Mailgun's retry must still get in.
  route.handle = [inner = std::move(route.handle),
                  tokens = tokens_](RouteRequest call) -> asio::awaitable<ServerResponse> {
    const ServerRequest& request = call.request;
    // Named first: no temporary inside a co_await (GCC 12).
    auto pending = inner(std::move(call));
    ServerResponse response = co_await std::move(pending);
    const auto status = response.result();
    if (status == beast_http::status::ok || status == beast_http::status::not_acceptable) {
      if (const auto token = mailgun_token(request.body())) {
        tokens->remember(token->first, token->second);
      }
    }
    co_return response;
  };
  return out;
}

std::chrono::milliseconds MailgunGateway::receipt_wait() const {
  return receipt_wait_if(reports_ != nullptr && !options_.signing_key.empty(), options_.provider);
}

// ---- the kind: its config keys and its factory -----------------------------

namespace {

std::unique_ptr<Gateway> create(const GatewayConfig& config, GatewayContext& context) {
  const GatewaySettings settings(config);
  MailgunOptions options;
  options.name = config.name;
  const std::string region_url = mailgun_region_url(settings.string("region", "us"));
  if (region_url.empty()) settings.fail("region", "must be us or eu");
  options.provider = read_provider_settings(settings, region_url);
  options.api_key = read_credential(settings, "api_key");
  options.domain = settings.required("domain");
  const bool domain_ok =
      options.domain.size() <= 253 &&
      std::all_of(options.domain.begin(), options.domain.end(), [](unsigned char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '-';
      });
  if (!domain_ok) settings.fail("domain", "must be a domain name, like mg.example.se");
  settings.required("from");
  options.from = settings.mailbox("from");
  options.signing_key = settings.string("webhook_signing_key");
  options.signature_max_age = read_signature_max_age(settings);
  return std::make_unique<MailgunGateway>(std::move(options), context.curl, context.reports);
}

}  // namespace

GatewayKind mailgun_gateway_kind() {
  std::vector<ConfigKey> keys = {
      {"api_key", KeyType::String, true, true, "the API key (Basic auth as user api)"},
      {"domain", KeyType::String, true, false, "the sending domain, like mg.example.se"},
      {"region", KeyType::String, false, false,
       "us (api.mailgun.net, the default) or eu (api.eu.mailgun.net)"},
      {"from", KeyType::String, true, false, "sender, like \"Shop <shop@mg.example.se>\""},
      {"webhook_signing_key", KeyType::String, false, true,
       "the HTTP webhook signing key; set: receipts are taken"},
      signature_max_age_key(),
  };
  for (auto& key : provider_keys("https://api.mailgun.net, or api.eu.mailgun.net for region eu")) {
    keys.push_back(std::move(key));
  }
  return {"mailgun", "e-mail through Mailgun's Messages API (US or EU region), with its webhooks",
          std::move(keys), &create};
}

}  // namespace tack
