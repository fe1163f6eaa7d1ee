// sms_provider_support: what the SMS providers' unit tests share (46elks,
// twilio, vonage): a ProviderReports that records what the routes hand it,
// requests to the routes, canned curl answers and settings. Header-only
// (tests/CMakeLists.txt compiles only *_test.cpp).
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../support/coro.hpp"
#include "curl.hpp"
#include "digest.hpp"
#include "gateways/gateway.hpp"
#include "gateways/reports.hpp"
#include "text.hpp"

namespace tack::testing::sms1 {

class RecordingReports final : public ProviderReports {
 public:
  asio::awaitable<std::optional<ReceiptVerdict>> receipt(Receipt receipt) override {
    receipts.push_back(receipt);
    if (store_down) co_return std::nullopt;
    const auto it = known.find(receipt.provider_id);
    co_return it == known.end() ? ReceiptVerdict::Unknown : it->second;
  }
  asio::awaitable<std::optional<InboundVerdict>> inbound(InboundSms sms) override {
    replies.push_back(sms);
    co_return InboundVerdict::Noted;
  }
  void refused(const std::string&, const std::string& what, const std::string&,
               const std::string& reason) override {
    refusals.push_back(what + ": " + reason);
  }

  std::map<std::string, ReceiptVerdict> known;  // provider id -> verdict; others Unknown
  bool store_down = false;
  std::vector<Receipt> receipts;
  std::vector<InboundSms> replies;
  std::vector<std::string> refusals;
};

inline std::string basic_header(const std::string& user, const std::string& password) {
  // base64 of user:password by hand: tests must not trust the code under test.
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::string in = user + ":" + password;
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    unsigned n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += i + 1 < in.size() ? table[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? table[n & 63] : '=';
  }
  return "Basic " + out;
}

inline ServerRequest post(const std::string& target, const std::string& body,
                          const std::map<std::string, std::string>& headers = {}) {
  ServerRequest request{beast_http::verb::post, target, 11};
  request.set(beast_http::field::host, "127.0.0.1:8425");
  request.set(beast_http::field::content_type, "application/x-www-form-urlencoded");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.prepare_payload();
  return request;
}

// Answers `request` with the route of `routes` on its path.
inline ServerResponse call(std::vector<Route>& routes, const ServerRequest& request) {
  const std::string target(request.target());
  const std::string path = target.substr(0, target.find('?'));
  for (auto& route : routes) {
    if (route.path != path) continue;
    asio::io_context io;
    asio::thread_pool worker(1);
    const std::string client = "192.0.2.7";
    RouteRequest call{request, client, false, std::nullopt, false, worker};
    auto response = run_task(io, route.handle(call));
    worker.join();
    REQUIRE(response);
    return *response;
  }
  FAIL("no route for " << path);
  return {};
}

// A curl answer as a provider would give it.
inline TransferResult answer(long status, std::string body,
                             std::vector<std::pair<std::string, std::string>> headers = {}) {
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

inline GatewayConfig provider_config(const std::string& name, const std::string& type,
                                     const std::map<std::string, std::string>& values) {
  GatewayConfig config;
  config.name = name;
  config.type = type;
  for (const auto& [key, value] : values) config.settings.set_text(key, value);
  return config;
}

inline std::string header_value(const HttpRequest& request, const std::string& name) {
  for (const auto& [key, value] : request.headers) {
    if (lowercase(key) == lowercase(name)) return value;
  }
  return {};
}

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

}  // namespace tack::testing::sms1
