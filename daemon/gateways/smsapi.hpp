// gateways/smsapi: the `smsapi` gateway kind, SMSAPI (LINK Mobility Poland),
// both brands: api.smsapi.pl (`region: pl`, the default) and api.smsapi.com
// (`region: com`), or any base URL (`url`, a test's fake server).
//
// The API (checked against SMSAPI's published OpenAPI document panel_com.yml
// for POST /sms.do, its PHP and Python clients, and the docs' introduction
// at smsapi.pl/docs): POST {url}/sms.do, `Authorization: Bearer <token>` (an
// OAuth token from the panel), an x-www-form-urlencoded body: `to` (the
// number without its +), `message` (UTF-8, `encoding=utf-8`), `from` (a
// sender name registered in the panel; the account's default when not
// set), `format=json`, `normalize=1` when the shop asks SMSAPI to replace
// special characters (ą -> a), `notify_url` (the receipt URL, per message),
// and `idx` = the message's idempotency key with `check_idx=1`: the
// OpenAPI document says check_idx "prevents from sending more than one
// message with the same idx in last 24h", so a repeat after an unanswered
// request is dropped by SMSAPI itself.
//
// The answer (read_smsapi_answer): SMSAPI's legacy endpoint answers HTTP 200
// whether it took the message or not; the body tells. {"count":1,"list":
// [{"id":"...","points":...,"status":"QUEUE"}]} is sent, the provider id is
// list[0].id. {"error":N,"message":"..."} is classified by N:
//   101 bad authorization, 102 bad login, 103 no points left, 105 the
//     request came from an address outside the account's IP filter: tack's
//     account, not this message -> retry, health Refused (the dispatcher
//     holds the gateway);
//   202, 203 too many requests at once -> retry, health Answering;
//   8 error in the request "(please report)", 200 submission failed,
//     201 and 999 internal errors -> retry, health Down;
//   any other code (13 no valid number, 14 bad sender name, 11 message too
//     long, ...) -> rejected with SMSAPI's message.
// The plain-text form SMSAPI answers without format=json (`OK:<id>:<pts>`,
// `ERROR:<N>`) is read the same way. A 2xx body that is neither is unknown:
// SMSAPI may have taken the message. Non-2xx answers and transport
// failures are classified as for every provider (classify_provider_answer).
//
// Receipts (SMSAPI's "Raporty Callback"): SMSAPI calls the notify_url with
// GET and the report in the query: MsgId, status (a number), status_name,
// idx, donedate (Unix seconds), to, from, username, points, mcc, mnc; one
// call may carry several reports, each field a comma-separated list in the
// same order. The reply must be the text "OK", else SMSAPI calls again.
// Statuses: 404 DELIVERED -> Delivered; 402 EXPIRED, 405 UNDELIVERED,
// 406 FAILED, 407 REJECTED, 412 STOP -> Undelivered; 401 NOT_FOUND,
// 403 SENT, 408 UNKNOWN, 409 QUEUE, 410 ACCEPTED, 411 RENEWAL and any other
// number -> Progress (timeline only). SMSAPI does not sign its callbacks,
// so the notify_url carries Basic credentials (user "tack", password the
// gateway's `receipt_token`), checked in constant time; without a
// receipt_token no notify_url is sent and every call is refused.
// The statuses, the GET method, the comma-separated lists and the "OK"
// reply are from SMSAPI's callback documentation as its PHP example shows
// it; the search tool's copy of docs.smsapi.com held only the table of
// contents (sections 9 "Raporty Callback", 18 "Lista statusów doręczenia"),
// so they could not be checked line by line there.
//
// Replies (SMSAPI's "Odbiory Wiadomości", configured in the panel, not per
// message): a form POST with sms_from, sms_to, sms_text, sms_date (Unix
// seconds) and MsgId to inbound_path(name), answered "OK"; the same Basic
// credentials go in the URL given to the panel.
#pragma once

#include <chrono>
#include <string>

#include "curl.hpp"
#include "gateways/gateway.hpp"
#include "gateways/provider.hpp"
#include "gateways/reports.hpp"

namespace tack {

struct SmsapiOptions {
  std::string name;
  std::string token;
  std::string from;  // "": the account's default sender name
  bool normalize = false;
  std::string receipt_token;  // "": no notify_url, receipts refused
  std::string public_url;     // http.public_url, "" when not set
  ProviderSettings provider;
};

inline constexpr const char* kSmsapiPlUrl = "https://api.smsapi.pl";
inline constexpr const char* kSmsapiComUrl = "https://api.smsapi.com";
inline constexpr const char* kSmsapiReceiptUser = "tack";

// The request for one SMS (pure).
HttpRequest smsapi_request(const SmsapiOptions& options, const OutboundMessage& message);
// What a 2xx answer says (pure).
Outcome read_smsapi_answer(const TransferResult& result);
// The reports in a receipt callback's query, or why it is malformed.
ParsedReports parse_smsapi_receipts(const ServerRequest& request);
// A reply (form POST), or why it is malformed.
ParsedReports parse_smsapi_inbound(const ServerRequest& request);

class SmsapiGateway final : public Gateway {
 public:
  SmsapiGateway(SmsapiOptions options, GatewayContext& context);
  asio::awaitable<Outcome> send(const OutboundMessage& message) override;
  bool supports(ChannelKind kind) const override { return kind == ChannelKind::Sms; }
  std::vector<Route> routes() override;
  std::chrono::milliseconds receipt_wait() const override;

 private:
  Verification verify(const ServerRequest& request) const;
  SmsapiOptions options_;
  CurlMulti& curl_;
  ProviderReports* reports_;
};

GatewayKind smsapi_gateway_kind();

}  // namespace tack
