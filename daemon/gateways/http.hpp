// gateways/http: the generic HTTP gateway. One request per message, built
// from Mustache templates in the config (url, headers, and one body form:
// json fields, form fields or a raw body); named SMS and e-mail providers
// are presets of it.
//
// Template variables: to, text, subject, html, idempotency_key, order_id,
// message_id, event_id, locale, channel, template. In `url` a {{var}} is
// percent-encoded ({{to}} -> %2B46...); json and form values are inserted
// as they are and then encoded by the body builder; {{{var}}} is never
// escaped. The message's idempotency key goes out in a header
// (Idempotency-Key by default) so a provider can drop a repeat.
//
// What the answer means (classify_http_result): 2xx sent; 408, 429, 5xx
// retry, honouring Retry-After; 401, 403, 407 retry with the gateway's
// health Refused (tack's credentials or account, not the message: the
// dispatcher holds the gateway); any other status rejected with the body's
// start; no connection or nothing sent -> retry; the request left but no
// answer came (timeout, reset, empty reply) -> unknown, since the provider
// may have acted on it. A request libcurl sent again on a new connection
// after a kept-alive one died unanswered adds an unanswered request to the
// outcome (Outcome::unanswered), whatever the answer to the last one.
// For the circuit breaker only no answer, 408 and 5xx say the provider is
// down; a 429 is the provider answering.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "curl.hpp"
#include "text.hpp"
#include "gateways/gateway.hpp"

namespace tack {

struct HttpGatewayOptions {
  std::string name;  // the gateway's name, for error messages
  std::string url;   // template
  std::string method = "POST";
  std::vector<std::pair<std::string, std::string>> headers;  // name -> value template
  enum class Body { Json, Form, Raw } body = Body::Json;
  std::vector<std::pair<std::string, std::string>> fields;  // json or form: name -> template
  std::string raw_body;                                     // Body::Raw template
  std::string username;                                     // basic auth when set
  std::string password;
  std::string bearer_token;
  std::string idempotency_header = "Idempotency-Key";  // empty: not sent
  std::string message_id_field;  // JSON pointer into the response, e.g. "/sid"
  Timeouts timeouts{std::chrono::seconds(10), std::chrono::seconds(30), 1,
                    std::chrono::seconds(20)};
  bool verify_tls = true;
  std::string ca_file;
  std::vector<ChannelKind> kinds{ChannelKind::Sms};
};

class HttpGateway final : public Gateway {
 public:
  // Throws std::runtime_error when a template does not parse or
  // message_id_field is not a JSON pointer.
  HttpGateway(HttpGatewayOptions options, CurlMulti& curl);
  ~HttpGateway() override;

  asio::awaitable<Outcome> send(const OutboundMessage& message) override;
  bool supports(ChannelKind kind) const override;

  // The request send() makes for a message, or why none can be made (a
  // header value that would hold a line break).
  struct Built {
    std::optional<HttpRequest> request;
    std::string error;
  };
  Built build_request(const OutboundMessage& message);

 private:
  struct Templates;
  HttpGatewayOptions options_;
  CurlMulti& curl_;
  std::unique_ptr<Templates> templates_;
};

Outcome classify_http_result(const TransferResult& result, const std::string& message_id_field,
                             std::chrono::system_clock::time_point now);

// Retry-After as delta-seconds ("7") or an HTTP-date (IMF-fixdate, RFC 850
// or asctime form); a date in the past is 0. nullopt when unreadable.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

// A rate-limit reset header of a 429 answer, for providers that send one
// instead of Retry-After: RateLimit-Reset / X-RateLimit-Reset /
// X-Rate-Limit-Reset as delta seconds or as a Unix time (seconds, as
// SendGrid sends it, or milliseconds), or the `reset=` / `t=` parameter of
// a structured `RateLimit` header. A time in the past is 0.
std::optional<std::chrono::milliseconds> parse_rate_limit_reset(
    std::string_view name, std::string_view value, std::chrono::system_clock::time_point now);

// url_encode and form_encode: text.hpp.

// The "http" kind for the registry: its config keys and factory.
GatewayKind http_gateway_kind();

}  // namespace tack
