// gateways/sinch: the `sinch` gateway kind, the Sinch SMS REST API (XMS).
//
// The API (checked against developers.sinch.com: SMS API reference, tags
// Batches, Delivery reports and Webhooks, and the SDKs' RecipientDeliveryReport
// type): POST {url}/xms/v1/{service_plan_id}/batches with `Authorization:
// Bearer <API token>` and a JSON body {"from", "to": [number], "body",
// "delivery_report": "per_recipient", "callback_url", "client_reference":
// the message's idempotency key}. `url` is https://{region}.sms.api.sinch.com
// for `region` us (default), eu, au, br or ca, or any base URL (a test's
// fake server). Sinch queues batches and sends them at the account's rate.
//
// The answer: 201 (any 2xx) with the batch, whose `id` is the provider id; a
// 2xx without an id is unknown (Sinch may have the batch). 400 (syntax_*
// codes) is rejected; 403 with a JSON `code` is Sinch refusing this batch
// (missing_callback_url, unknown_group, ...) and is rejected too, where the
// generic reading would hold the gateway as if tack's credentials were bad;
// 401 is tack's token (retry, health Refused); 429 and 5xx retry as for
// every provider (classify_provider_answer).
//
// Receipts: with delivery_report per_recipient Sinch POSTs a JSON recipient
// delivery report to the batch's callback_url on each status change:
// {"type": "recipient_delivery_report_sms", "batch_id", "recipient",
// "status", "code", "at", "operator_status_at", "client_reference"}.
// Delivered -> Delivered; Failed, Expired, Rejected, Aborted, Cancelled,
// Deleted -> Undelivered; Queued, Dispatched, Unknown and any other word ->
// Progress. The time is operator_status_at, else at; the reason is the code.
// A report of another type (a batch summary) is taken and ignored. Sinch
// retries a callback on 5xx and 429 for up to ~22 h 45 min, not on other
// 4xx. The SMS REST API does not sign its callbacks (HMAC signing is the
// Conversation API's); its Webhooks page offers Basic authentication "by
// provisioning the callback URL with the appropriate username and
// password", so the callback_url carries user "tack" and the gateway's
// `receipt_token`, checked in constant time; without a receipt_token no
// callback_url is sent and every call is refused.
//
// Replies: the service plan's callback (set in Sinch's dashboard) gets
// {"type": "mo_text", "id", "from", "to", "body", "received_at"} as a JSON
// POST; taken at inbound_path(name) with the same Basic credentials.
#pragma once

#include <chrono>
#include <string>

#include "curl.hpp"
#include "gateways/gateway.hpp"
#include "gateways/provider.hpp"
#include "gateways/reports.hpp"

namespace tack {

struct SinchOptions {
  std::string name;
  std::string service_plan_id;
  std::string token;
  std::string from;           // "": the service plan's default originator
  std::string receipt_token;  // "": no callback_url, receipts refused
  std::string public_url;
  ProviderSettings provider;
};

// The request for one SMS (pure).
HttpRequest sinch_request(const SinchOptions& options, const OutboundMessage& message);
// What any answer says (pure; `now` for Retry-After).
Outcome classify_sinch_answer(const TransferResult& result,
                              std::chrono::system_clock::time_point now);
ParsedReports parse_sinch_receipts(const ServerRequest& request);
ParsedReports parse_sinch_inbound(const ServerRequest& request);

class SinchGateway final : public Gateway {
 public:
  SinchGateway(SinchOptions options, GatewayContext& context);
  asio::awaitable<Outcome> send(const OutboundMessage& message) override;
  bool supports(ChannelKind kind) const override { return kind == ChannelKind::Sms; }
  std::vector<Route> routes() override;
  std::chrono::milliseconds receipt_wait() const override;

 private:
  Verification verify(const ServerRequest& request) const;
  SinchOptions options_;
  CurlMulti& curl_;
  ProviderReports* reports_;
};

GatewayKind sinch_gateway_kind();

}  // namespace tack
