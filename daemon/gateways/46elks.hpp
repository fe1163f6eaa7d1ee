// gateways/46elks: the `46elks` kind, SMS through 46elks (Sweden).
//
// The API (46elks.com/docs/send-sms, checked 2026-12-05): POST
// {url}/sms, default url https://api.46elks.com/a1, HTTP Basic with the API
// username and password, a form body (UTF-8, x-www-form-urlencoded) of
// `from` (a text sender ID or an E.164 number; checked with
// check_sender_id at load), `to` (E.164) and `message`, plus `whendelivered`
// (the receipt URL) when http.public_url and receipt_token are set. 46elks
// takes no idempotency key.
//
// The answer: a 2xx carries the SMS as JSON, its `id` ("s70df...") is the
// provider id and `status` is "created". 46elks reports errors with a 4xx
// and a short text (400: a bad parameter; 401: credentials; 403: "Not
// enough credits"); those, 5xx and transport failures are classified as
// for the generic HTTP gateway (classify_provider_answer): 400 rejected,
// 401/403 retry with health Refused (the account, not the message: the
// dispatcher holds the gateway), 5xx and 429 retry. A 2xx whose body says
// status "failed" is rejected; a 2xx without an id is sent, with no id to
// match receipts by (the detail says so).
//
// Receipts (46elks.se/docs/sms-delivery-reports): 46elks POSTs a form
// (`id`, `status` = sent | delivered | failed, `delivered` = UTC time, only
// with delivered) to the whendelivered URL and retries for at least 6 hours
// unless answered 200-204. It cannot sign them; the docs name Basic
// credentials in the URL, so the URL sent is
// https://tack:RECEIPT_TOKEN@public-host/v1/receipts/NAME and the route
// checks them (verify_basic): none 401, wrong 403. sent -> Progress,
// delivered -> Delivered (at the `delivered` time), failed -> Undelivered;
// any other status is kept on the timeline as Progress. 46elks has no
// opt-out code in receipts.
//
// Replies (46elks.se/docs/receive-sms): the number's `sms_url`, set by the
// shop to https://tack:RECEIPT_TOKEN@public-host/v1/inbound/NAME, gets a
// form (`id`, `from`, `to`, `message`, `direction`, `created`). The answer's
// body would go back to the customer as an SMS, so it is empty.
//
// Without receipt_token the routes refuse every request (401); without it
// or http.public_url no whendelivered URL goes out and the gateway expects
// no receipts (receipt_wait 0).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "gateways/gateway.hpp"
#include "gateways/provider.hpp"
#include "gateways/reports.hpp"

namespace tack {

struct ElksSettings {
  std::string name;  // the gateway's name: its routes' paths
  ProviderSettings provider;
  std::string username;
  std::string password;
  std::string from;
  std::string receipt_token;  // "" : receipts refused
};

class ElksGateway final : public Gateway {
 public:
  ElksGateway(ElksSettings settings, CurlMulti& curl, ProviderReports* reports,
              std::string public_url);

  asio::awaitable<Outcome> send(const OutboundMessage& message) override;
  bool supports(ChannelKind kind) const override { return kind == ChannelKind::Sms; }
  std::vector<Route> routes() override;
  std::chrono::milliseconds receipt_wait() const override;

  // The request send() makes for a message.
  HttpRequest build_request(const OutboundMessage& message) const;
  // Is the request the provider's (Basic credentials tack:receipt_token)?
  Verification verify(const ServerRequest& request) const;

 private:
  ElksSettings settings_;
  CurlMulti& curl_;
  ProviderReports* reports_;
  std::string public_url_;
};

// A 2xx answer of POST /sms.
Outcome read_elks_answer(const TransferResult& result);
// A whendelivered callback's body; `error` set when malformed.
ParsedReports parse_elks_receipt(std::string_view body);
// An sms_url callback's body.
ParsedReports parse_elks_inbound(std::string_view body);

GatewayKind elks_gateway_kind();

}  // namespace tack
