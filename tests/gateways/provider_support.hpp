// provider_support: what the named providers' unit tests share (46elks,
// twilio, vonage, smsapi, sinch, sendgrid, mailgun, postmark and
// providers_test): a ProviderReports that records what the routes hand it,
// requests to the routes and their answers, canned curl answers, messages
// in Swedish and Polish, and gateways built through the registry from YAML.
// Header-only (tests/CMakeLists.txt compiles only *_test.cpp).
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../support/coro.hpp"
#include "config.hpp"
#include "curl.hpp"
#include "gateways/gateway.hpp"
#include "gateways/reports.hpp"
#include "message.hpp"
#include "plugin_settings.hpp"
#include "text.hpp"

namespace tack::testing {

// Records every report. A receipt's verdict: `known`'s for its provider
// id, else `verdict` (nullopt: the store could not write).
class RecordingReports final : public ProviderReports {
 public:
  asio::awaitable<std::optional<ReceiptVerdict>> receipt(Receipt receipt) override {
    receipts.push_back(receipt);
    if (store_down) co_return std::nullopt;
    const auto it = known.find(receipt.provider_id);
    co_return it == known.end() ? verdict : it->second;
  }
  asio::awaitable<std::optional<InboundVerdict>> inbound(InboundSms sms) override {
    replies.push_back(sms);
    co_return InboundVerdict::Noted;
  }
  void refused(const std::string&, const std::string& what, const std::string&,
               const std::string& reason) override {
    refusals.push_back(what + ": " + reason);
  }

  std::map<std::string, ReceiptVerdict> known;
  std::optional<ReceiptVerdict> verdict = ReceiptVerdict::Unknown;
  bool store_down = false;
  std::vector<Receipt> receipts;
  std::vector<InboundSms> replies;
  std::vector<std::string> refusals;
};

// Standard base64 with padding, written out here: tests must not trust
// the code under test for what they compare with.
inline std::string base64(std::string_view data) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < data.size(); i += 3) {
    unsigned n = static_cast<unsigned char>(data[i]) << 16;
    if (i + 1 < data.size()) n |= static_cast<unsigned char>(data[i + 1]) << 8;
    if (i + 2 < data.size()) n |= static_cast<unsigned char>(data[i + 2]);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += i + 1 < data.size() ? alphabet[(n >> 6) & 63] : '=';
    out += i + 2 < data.size() ? alphabet[n & 63] : '=';
  }
  return out;
}

inline std::string basic_header(const std::string& user, const std::string& password) {
  return "Basic " + base64(user + ":" + password);
}

using Headers = std::vector<std::pair<std::string, std::string>>;

// A provider's POST to tackd, a form unless `content_type` says otherwise.
inline ServerRequest post(const std::string& target, const std::string& body,
                          const Headers& headers = {},
                          const std::string& content_type = "application/x-www-form-urlencoded") {
  ServerRequest request{beast_http::verb::post, target, 11};
  request.set(beast_http::field::host, "127.0.0.1:8425");
  request.set(beast_http::field::content_type, content_type);
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.prepare_payload();
  return request;
}

inline ServerRequest webhook_request(const std::string& target, const std::string& body,
                                     const Headers& headers = {}) {
  return post(target, body, headers, "application/json");
}

// Answers `request` with `route`, as tackd's listener would.
inline ServerResponse call(Route& route, const ServerRequest& request) {
  asio::io_context io;
  asio::thread_pool worker(1);
  const std::string client = "192.0.2.7";
  RouteRequest call{request, client, false, std::nullopt, false, worker};
  auto response = run_task(io, route.handle(call));
  worker.join();
  REQUIRE(response);
  return std::move(*response);
}

// Answers `request` with the route of `routes` on its path.
inline ServerResponse call(std::vector<Route>& routes, const ServerRequest& request) {
  const std::string target(request.target());
  const std::string path = target.substr(0, target.find('?'));
  for (auto& route : routes) {
    if (route.path == path) return call(route, request);
  }
  FAIL("no route for " << path);
  return {};
}

// A curl answer as a provider would give it.
inline TransferResult answer(long status, std::string body, Headers headers = {}) {
  TransferResult result;
  result.status = status;
  result.body = std::move(body);
  result.headers = std::move(headers);
  result.request_sent = true;
  result.requests = 1;
  return result;
}

inline TransferResult no_connection() {
  TransferResult result;
  result.curl_code = 7;  // CURLE_COULDNT_CONNECT
  result.curl_error = "Failed to connect";
  return result;
}

inline std::string header_value(const HttpRequest& request, const std::string& name) {
  for (const auto& [key, value] : request.headers) {
    if (lowercase(key) == lowercase(name)) return value;
  }
  return {};
}

inline GatewayConfig provider_config(const std::string& name, const std::string& type,
                                     const std::map<std::string, std::string>& values) {
  GatewayConfig config;
  config.name = name;
  config.type = type;
  for (const auto& [key, value] : values) config.settings.set_text(key, value);
  return config;
}

inline GatewayConfig gateway_config(const std::string& name, const std::string& type,
                                    const std::string& yaml) {
  GatewayConfig config;
  config.name = name;
  config.type = type;
  config.settings = plugin_settings_from_yaml(yaml);
  return config;
}

// Gateways built as tackd builds them: through the registry, with a
// context whose reports are `reports` (or none, as in the CLI).
struct GatewayHarness {
  asio::io_context io;
  CurlMulti curl{io};
  RecordingReports reports;

  std::unique_ptr<Gateway> gateway(const std::string& type, const std::string& yaml,
                                   bool listening = true,
                                   std::string public_url = "https://shop.example") {
    GatewayContext context{io, curl, "/tmp", listening ? &reports : nullptr, std::move(public_url)};
    const GatewayKind* kind = find_gateway_kind(type);
    REQUIRE(kind != nullptr);
    return kind->create(gateway_config(type, type, yaml), context);
  }
};

inline OutboundMessage swedish_sms() {
  OutboundMessage m;
  m.id = 42;
  m.event_id = "shop-7f3a9c";
  m.order_id = "1042";
  m.channel = "sms";
  m.kind = ChannelKind::Sms;
  m.template_name = "shipped";
  m.locale = "sv-SE";
  m.recipient = "+46701234567";
  m.text = "Hej Åsa! Paketet från Łódź & co är skickat 100%";
  m.idempotency_key = "shop-7f3a9c:shipped:sms";
  return m;
}

inline OutboundMessage email_message() {
  OutboundMessage m;
  m.id = 9;
  m.event_id = "shop-7f3a9c";
  m.order_id = "1042";
  m.channel = "email";
  m.kind = ChannelKind::Email;
  m.template_name = "shipped";
  m.locale = "pl-PL";
  m.recipient = "anna@example.se";
  m.subject = "Zamówienie 1042 wysłane – på väg";
  m.text = "Cześć Anna!\nZamówienie jest w drodze: łódź & \"å\".\n";
  m.html = "<p>Cześć <b>Anna</b>! łódź &amp; å</p>";
  m.idempotency_key = "tack-shop-7f3a9c-shipped-email";
  return m;
}

}  // namespace tack::testing
