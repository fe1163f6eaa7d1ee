// email_support: what the e-mail providers' tests (sendgrid_test,
// mailgun_test, postmark_test) share: a message with Swedish and Polish
// text, a ProviderReports that records what routes hand it, a webhook
// request, a transfer result and a gateway config from YAML. Header-only.
#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "config.hpp"
#include "curl.hpp"
#include "gateways/reports.hpp"
#include "message.hpp"

namespace tack::testing {

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

// Records every report; answers each receipt with `verdict`.
class RecordingReports final : public ProviderReports {
 public:
  asio::awaitable<std::optional<ReceiptVerdict>> receipt(Receipt r) override {
    receipts.push_back(r);
    co_return verdict;
  }
  asio::awaitable<std::optional<InboundVerdict>> inbound(InboundSms sms) override {
    replies.push_back(sms);
    co_return InboundVerdict::Noted;
  }
  void refused(const std::string&, const std::string&, const std::string&,
               const std::string& reason) override {
    refusals.push_back(reason);
  }
  std::vector<Receipt> receipts;
  std::vector<InboundSms> replies;
  std::vector<std::string> refusals;
  std::optional<ReceiptVerdict> verdict = ReceiptVerdict::Applied;
};

inline ServerRequest webhook_request(
    const std::string& path, const std::string& body,
    std::vector<std::pair<std::string, std::string>> headers = {}) {
  ServerRequest request{beast_http::verb::post, path, 11};
  for (const auto& [name, value] : headers) request.set(name, value);
  request.set(beast_http::field::content_type, "application/json");
  request.body() = body;
  request.prepare_payload();
  return request;
}

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

inline GatewayConfig gateway_config(const std::string& name, const std::string& type,
                                    const std::string& yaml) {
  GatewayConfig config;
  config.name = name;
  config.type = type;
  config.settings = plugin_settings_from_yaml(yaml);
  return config;
}

// Standard base64 with padding, for Basic credentials in tests.
inline std::string base64(std::string_view data) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(data[i]) << 16) |
                       (static_cast<unsigned char>(data[i + 1]) << 8) |
                       static_cast<unsigned char>(data[i + 2]);
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (i + 1 == data.size()) {
    const unsigned v = static_cast<unsigned char>(data[i]) << 16;
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == data.size()) {
    const unsigned v = (static_cast<unsigned char>(data[i]) << 16) |
                       (static_cast<unsigned char>(data[i + 1]) << 8);
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

}  // namespace tack::testing
