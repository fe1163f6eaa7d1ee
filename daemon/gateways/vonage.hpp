// gateways/vonage: the `vonage` kind, SMS through the Vonage (Nexmo) SMS API.
//
// The API (developer.vonage.com/en/api/sms, checked 2026-12-05): POST
// {url}/sms/json, default url https://rest.nexmo.com, a form body (UTF-8) of
// `api_key`, `api_secret` (the credentials ride in the body), `from` (an
// alphanumeric sender ID or a number, checked with check_sender_id at
// load; sent without a leading +), `to` (E.164 without the +), `text`,
// `type=unicode` when the text is not GSM-7 (else Vonage would mangle å or
// ł), `client-ref` (the message's idempotency key, at most 100 characters,
// for the shop's own reports) and `callback` (the receipt URL) when
// http.public_url and receipt_token are set.
//
// The answer: HTTP 200 whatever happened, with {"message-count", "messages":
// [{"status", "message-id", "error-text", ...}]}, one entry per part of a
// long SMS (developer.vonage.com/messaging/sms/guides/troubleshooting-sms,
// /api-errors/sms). Each part's `status` decides, the first that is not
// "0" deciding for the message: 0 sent (the first part's message-id is the
// provider id); 1 Throttled, 5 Internal Error, 10 Too Many Existing Binds
// retry (1 with health Answering: the platform answered, we are just too
// fast); 4 Invalid Credentials, 8 Partner Account Barred, 9 Partner Quota
// Violation (no credit), 11 Account not enabled for HTTP, 14 Invalid
// Signature, 32 Signature And API Secret Disallowed retry with health
// Refused (the account: the dispatcher holds the gateway); every other code
// (2 Missing Parameters, 3 Invalid Parameters, 6 Invalid Message, 7 Number
// Barred, 12 Message Too Long, 15 Invalid Sender Address, 22, 23, 29, 33,
// ...) rejected with Vonage's error-text. A 200 that is not this JSON is
// unknown (Vonage answers 200 to errors too, so it may or may not have the
// message). Non-2xx and transport failures: classify_provider_answer, as
// for the generic HTTP gateway.
//
// Receipts (developer.vonage.com/messaging/sms/guides/delivery-receipts):
// the `callback` URL gets the DLR as a form or JSON POST with messageId,
// status (delivered, expired, failed, rejected, accepted, buffered, unknown;
// SMPP words such as DELIVRD or UNDELIV are read too), err-code, msisdn,
// scts, message-timestamp ("2020-01-01 12:00:00" UTC). delivered ->
// Delivered; expired, failed, rejected -> Undelivered with "err-code N" as
// the reason; others -> Progress. err-code 9 on a failed or rejected
// receipt means the recipient opted out of this sender
// (developer.vonage.com/en/opt-out-assist/guides/messaging-opted-out-numbers):
// opted_out. A long SMS gets one DLR per part; the parts after the first
// (concat-part > 1) carry ids tack never recorded, so they are acknowledged
// and not recorded: the first part's receipt stands for the message.
// Reports are checked one of two ways. With signature_secret (Vonage signs
// webhooks once its support turns signing on, developer.vonage.com/en/
// getting-started/concepts/signing-messages): each carries `sig`, the hex
// HMAC-SHA256 keyed with the signature secret of every other parameter
// sorted by name as "&name=value" (with & and = in values as _), and
// `timestamp` (Unix seconds); a report without them is 401, a wrong sig 403,
// and one whose timestamp is more than 5 minutes from now 403 (a replay).
// Without it: Basic credentials in the callback URL
// (https://tack:RECEIPT_TOKEN@public-host/v1/receipts/NAME): none 401,
// wrong 403.
//
// Replies (developer.vonage.com/messaging/sms/guides/inbound-sms): the
// account's inbound webhook, set by the shop to
// https://tack:RECEIPT_TOKEN@public-host/v1/inbound/NAME, gets msisdn (the
// customer), to (the shop's number), text, messageId, as a form or JSON
// POST.
//
// With neither key the routes refuse every request (401) and the gateway
// expects no receipts (receipt_wait 0).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "gateways/gateway.hpp"
#include "gateways/provider.hpp"
#include "gateways/reports.hpp"

namespace tack {

struct VonageSettings {
  std::string name;
  ProviderSettings provider;
  std::string api_key;
  std::string api_secret;
  std::string from;
  std::string receipt_token;     // Basic credentials in the callback URL
  std::string signature_secret;  // set: reports must be signed (sig, timestamp)
};

class VonageGateway final : public Gateway {
 public:
  VonageGateway(VonageSettings settings, CurlMulti& curl, ProviderReports* reports,
                std::string public_url);

  asio::awaitable<Outcome> send(const OutboundMessage& message) override;
  bool supports(ChannelKind kind) const override { return kind == ChannelKind::Sms; }
  std::vector<Route> routes() override;
  std::chrono::milliseconds receipt_wait() const override;

  HttpRequest build_request(const OutboundMessage& message) const;
  Verification verify(const ServerRequest& request) const;

 private:
  VonageSettings settings_;
  CurlMulti& curl_;
  ProviderReports* reports_;
  std::string public_url_;
};

Outcome read_vonage_answer(const TransferResult& result);
// Vonage's signature (hex HMAC-SHA256, upper case) of a report's fields;
// `sig` among them is left out.
std::string vonage_signature(const std::map<std::string, std::string>& fields,
                             std::string_view secret);
// Is this signed report Vonage's, and fresh (`now_s`: Unix seconds)?
Verification verify_vonage_signature(const std::map<std::string, std::string>& fields,
                                     std::string_view secret, std::int64_t now_s);
// A DLR's body; `content_type` tells a form from JSON.
ParsedReports parse_vonage_receipt(std::string_view body, std::string_view content_type);
ParsedReports parse_vonage_inbound(std::string_view body, std::string_view content_type);

GatewayKind vonage_gateway_kind();

}  // namespace tack
