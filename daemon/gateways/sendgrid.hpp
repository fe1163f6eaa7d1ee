// gateways/sendgrid: e-mail through Twilio SendGrid's v3 Mail Send API, and
// its Event Webhook as delivery receipts. Type name `sendgrid`.
//
// The API: POST {url}/v3/mail/send (url default https://api.sendgrid.com),
// `Authorization: Bearer <api_key>`, a JSON body: personalizations[0].to =
// the recipient, from = the configured mailbox ({email, name}), subject,
// content = text/plain then text/html (the html only when the message has
// one; SendGrid wants the plain part first), the message's idempotency key
// as the custom header X-Tack-Idempotency-Key and as the custom arg
// tack_idempotency_key (custom args come back in every event).
//
// The answer: 202 Accepted is queued (SendGrid says no more than that); the
// provider id is the X-Message-Id header. Every other answer is read as the
// generic HTTP gateway reads it (classify_provider_answer): 400/413 with
// {"errors":[{"message","field"}]} rejected with that text, 401/403
// retried with the gateway's health Refused (tack's key or account), 429
// retried after X-RateLimit-Reset (a Unix time) or Retry-After, 5xx and no
// answer retried, the request sent but unanswered unknown.
//
// Receipts (routes(), when tackd listens and `verification_key` is set):
// the Event Webhook posts a JSON array of events to receipt_path(name). It
// is verified with the Signed Event Webhook: an ECDSA P-256 / SHA-256
// signature (base64 DER, header X-Twilio-Email-Event-Webhook-Signature)
// over the timestamp (header X-Twilio-Email-Event-Webhook-Timestamp, Unix
// seconds) followed by the raw body, under the verification key the
// dashboard shows (base64 DER public key). No or malformed headers: 401; a
// signature that does not verify: 403; a timestamp further than
// `signature_max_age` from now: 401 (a replayed post). Each event's
// sg_message_id starts with the X-Message-Id of the send, followed by a
// dot and SendGrid's suffix: the part before the first dot is the provider
// id. Events: processed and deferred -> Progress (deferred with SendGrid's
// response), delivered -> Delivered, bounce (type bounce or blocked) and
// dropped (SendGrid will not send it: a suppressed or invalid address) ->
// Bounced with the reason; engagement events (open, click, spamreport,
// unsubscribe, group_unsubscribe, group_resubscribe) and names SendGrid may
// add later are not receipts and are skipped. An event without an
// sg_message_id is skipped; a body that is not an array of objects is 400.
//
// Checked against SendGrid's documentation (via the search tool): the
// Mail Send request shape and 202 + X-Message-Id; the Event Webhook's event
// names and fields (sg_message_id, timestamp, reason, response, type); the
// Signed Event Webhook's headers, the signed content timestamp + payload,
// and the key as base64 DER (SendGrid's published test vector verifies in
// tests/digest_test.cpp). SendGrid documents no timestamp window.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "curl.hpp"
#include "gateways/gateway.hpp"
#include "gateways/provider.hpp"
#include "gateways/reports.hpp"
#include "mime.hpp"

namespace tack {

struct SendgridOptions {
  std::string name;
  ProviderSettings provider;
  std::string api_key;
  Mailbox from;
  std::string verification_key;  // the DER public key, decoded; "" = no receipts
  std::chrono::seconds signature_max_age{600};
};

ProviderBuilt build_sendgrid_request(const SendgridOptions& options,
                                     const OutboundMessage& message);
Outcome classify_sendgrid_answer(const TransferResult& result,
                                 std::chrono::system_clock::time_point now);

Verification verify_sendgrid_signature(const ServerRequest& request, const std::string& key_der,
                                       std::chrono::seconds max_age, std::int64_t now_s);
ParsedReports parse_sendgrid_events(const std::string& body);

class SendgridGateway final : public Gateway {
 public:
  SendgridGateway(SendgridOptions options, CurlMulti& curl, ProviderReports* reports);
  asio::awaitable<Outcome> send(const OutboundMessage& message) override;
  bool supports(ChannelKind kind) const override { return kind == ChannelKind::Email; }
  std::vector<Route> routes() override;
  std::chrono::milliseconds receipt_wait() const override;

 private:
  SendgridOptions options_;
  CurlMulti& curl_;
  ProviderReports* reports_;
};

GatewayKind sendgrid_gateway_kind();

}  // namespace tack
