// gateways/twilio: the `twilio` kind, SMS through Twilio Programmable
// Messaging.
//
// The API (twilio.com/docs/messaging/api/message-resource, checked
// 2026-12-05): POST {url}/Accounts/{account_sid}/Messages.json, default url
// https://api.twilio.com/2010-04-01, HTTP Basic account_sid:auth_token, a
// form body (UTF-8) of `To` (E.164), `From` (a Twilio number or an
// alphanumeric sender ID; checked with check_sender_id at load) or
// `MessagingServiceSid`, `Body`, and `StatusCallback` (the receipt URL) when
// http.public_url is set. Twilio takes no idempotency key on this API.
//
// The answer: 201 with the Message as JSON; its `sid` ("SM" + 32 hex) is
// the provider id. A 2xx whose `status` is "failed" is rejected with its
// error_code and error_message. Errors come as 4xx/5xx with a JSON body
// {code, message, more_info, status} and are classified as for the generic
// HTTP gateway (classify_provider_answer): 400 rejected with Twilio's code
// and words (21211 invalid To, ...; 21610, the recipient replied STOP, also
// suppresses them: Outcome::opted_out), 401
// (20003) retry with health Refused, 429 (20429: "never processed, always
// safe to retry", twilio.com/docs/api/errors/20429) and 5xx retry.
//
// Receipts (twilio.com/docs/messaging/guides/outbound-message-status-in-
// status-callbacks): a form POST to StatusCallback on each status change
// with MessageSid, MessageStatus, ErrorCode and more. Signed
// (twilio.com/docs/usage/webhooks/webhooks-security): X-Twilio-Signature =
// base64 HMAC-SHA1, keyed with the auth token, of the full URL Twilio
// called followed by every POST parameter sorted by name, as name then
// value. tackd checks it against http.public_url plus the request target;
// no header 401, a wrong one 403, and without public_url nothing can be
// checked (401). Twilio puts no time in the signature, so a replayed
// receipt cannot be told from Twilio's own retry: it is a repeat.
// delivered, read -> Delivered; undelivered, failed, canceled ->
// Undelivered (with ErrorCode as the reason); accepted, scheduled, queued,
// sending, sent and any other -> Progress. ErrorCode 21610 (the recipient
// opted out by replying STOP) sets opted_out. RawDlrDoneDate (YYMMDDhhmm,
// UTC) is the receipt's time when present.
//
// Replies (twilio.com/docs/messaging/guides/webhook-request): the
// number's "A message comes in" webhook, set by the shop to
// {public_url}/v1/inbound/NAME, gets a form signed the same way with From,
// To, Body, MessageSid; the answer is an empty TwiML <Response/>, so Twilio
// sends nothing back.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateways/gateway.hpp"
#include "gateways/provider.hpp"
#include "gateways/reports.hpp"

namespace tack {

struct TwilioSettings {
  std::string name;  // the gateway's name: its routes' paths
  ProviderSettings provider;
  std::string account_sid;
  std::string auth_token;
  std::string from;                   // or
  std::string messaging_service_sid;  // exactly one of the two
};

class TwilioGateway final : public Gateway {
 public:
  TwilioGateway(TwilioSettings settings, CurlMulti& curl, ProviderReports* reports,
                std::string public_url);

  asio::awaitable<Outcome> send(const OutboundMessage& message) override;
  bool supports(ChannelKind kind) const override { return kind == ChannelKind::Sms; }
  std::vector<Route> routes() override;
  std::chrono::milliseconds receipt_wait() const override;

  HttpRequest build_request(const OutboundMessage& message) const;
  Verification verify(const ServerRequest& request) const;

 private:
  TwilioSettings settings_;
  CurlMulti& curl_;
  ProviderReports* reports_;
  std::string public_url_;
};

// X-Twilio-Signature for a form POST to `url` with these parameters.
std::string twilio_signature(std::string_view auth_token, std::string_view url,
                             std::vector<std::pair<std::string, std::string>> params);
// A form body's parameters in order, repeats kept; nullopt when malformed.
std::optional<std::vector<std::pair<std::string, std::string>>> form_pairs(std::string_view body);

Outcome read_twilio_answer(const TransferResult& result);
// Any answer of POST Messages.json: classify_provider_answer with
// read_twilio_answer, and a 400 with code 21610 (the recipient opted out
// with Twilio) rejected with Outcome::opted_out.
Outcome classify_twilio_answer(const TransferResult& result,
                               std::chrono::system_clock::time_point now);
ParsedReports parse_twilio_receipt(std::string_view body);
ParsedReports parse_twilio_inbound(std::string_view body);

GatewayKind twilio_gateway_kind();

}  // namespace tack
