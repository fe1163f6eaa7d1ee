// gateways/postmark: e-mail through Postmark's Email API, and its delivery
// and bounce webhooks as receipts. Type name `postmark`.
//
// The API: POST {url}/email (url default https://api.postmarkapp.com),
// header X-Postmark-Server-Token, Accept and Content-Type
// application/json; body {From (the configured mailbox), To, Subject,
// TextBody, HtmlBody (only when the message has one), MessageStream
// (`message_stream`, default "outbound"), Headers: [{Name:
// X-Tack-Idempotency-Key, Value}], Metadata: {tack_idempotency_key}}.
//
// The answer: 200 {"ErrorCode":0,"Message":"OK","MessageID":"..."}; the
// provider id is MessageID. A 200 or 422 with ErrorCode is classified by
// the code: 10 (bad token), 400/401 (sender signature not found / not
// confirmed), 405 (not allowed to send), 412 (account pending), 413
// (account may not send) are tack's account, not the message: retried
// with the gateway's health Refused; 100 (maintenance) retried as down;
// 429 (rate limit) retried; every other code, 300 (invalid email request)
// and 406 (inactive recipient) among them, rejected with Postmark's
// Message. Other answers as the generic HTTP gateway reads them
// (classify_provider_answer): 401 Refused, 429/5xx retried, no answer
// retried or unknown.
//
// Receipts (routes(), when tackd listens and `receipt_token` is set):
// Postmark signs nothing; its webhooks take HTTP Basic credentials in the
// URL, so the shop enters https://tack:RECEIPT_TOKEN@HOST/v1/receipts/NAME
// as the delivery and bounce webhook (tackd logs nothing of it; `tackd
// check` can't know the host). Checked with verify_basic: none 401, wrong
// 403. A post is one JSON object: RecordType Delivery (MessageID,
// DeliveredAt, Details) -> Delivered; RecordType Bounce (MessageID, Type,
// TypeCode, Description, Details, BouncedAt, Inactive): a hard bounce ->
// Bounced (Type HardBounce, BadEmailAddress, Blocked, DMARCPolicy,
// ManuallyDeactivated, or any bounce that made Postmark deactivate the
// address: Inactive true), any other (Transient, SoftBounce, DnsError,
// AutoResponder...) -> Progress, both with "Description Details". Other
// record types (Open, Click, SpamComplaint, SubscriptionChange) are skipped.
//
// Checked against Postmark's documentation (via the search tool): the
// endpoint, the server token header and the body's field names; the
// answer's ErrorCode/Message/MessageID and the error code table; the
// webhooks' RecordType, fields and bounce types, and that webhooks are
// secured with Basic auth in the URL.
#pragma once

#include <chrono>
#include <string>

#include "curl.hpp"
#include "gateways/gateway.hpp"
#include "gateways/provider.hpp"
#include "gateways/reports.hpp"
#include "mime.hpp"

namespace tack {

struct PostmarkOptions {
  std::string name;
  ProviderSettings provider;
  std::string server_token;
  Mailbox from;
  std::string message_stream = "outbound";
  std::string receipt_token;  // "" = no receipts
};

// The user name Postmark's webhook URL carries with receipt_token.
inline constexpr const char* kPostmarkReceiptUser = "tack";

ProviderBuilt build_postmark_request(const PostmarkOptions& options,
                                     const OutboundMessage& message);
Outcome classify_postmark_answer(const TransferResult& result,
                                 std::chrono::system_clock::time_point now);
ParsedReports parse_postmark_webhook(const std::string& body);

class PostmarkGateway final : public Gateway {
 public:
  PostmarkGateway(PostmarkOptions options, CurlMulti& curl, ProviderReports* reports);
  asio::awaitable<Outcome> send(const OutboundMessage& message) override;
  bool supports(ChannelKind kind) const override { return kind == ChannelKind::Email; }
  std::vector<Route> routes() override;
  std::chrono::milliseconds receipt_wait() const override;

 private:
  PostmarkOptions options_;
  CurlMulti& curl_;
  ProviderReports* reports_;
};

GatewayKind postmark_gateway_kind();

}  // namespace tack
