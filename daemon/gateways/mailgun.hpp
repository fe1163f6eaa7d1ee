// gateways/mailgun: e-mail through Mailgun's Messages API, and its webhooks
// as delivery receipts. Type name `mailgun`.
//
// The API: POST {url}/v3/{domain}/messages, where url follows `region` (us:
// https://api.mailgun.net, eu: https://api.eu.mailgun.net) unless `url` is
// given; Basic auth `api:<api_key>`; a form body (multipart is not needed):
// from (the configured mailbox), to, subject, text, html (only when the
// message has one) and h:X-Tack-Idempotency-Key (a custom header) plus
// v:tack-idempotency-key (a variable that comes back in webhooks) with the
// message's idempotency key.
//
// The answer: 200 {"id":"<...@domain>","message":"Queued. Thank you."}; the
// provider id is that id without its angle brackets, as the webhooks carry
// it (event-data.message.headers.message-id). Every other answer as the
// generic HTTP gateway reads it (classify_provider_answer): 400 {"message"}
// rejected with the text, 401/403 retried with the gateway's health Refused,
// 429 retried after Retry-After, 5xx and no answer retried, sent but
// unanswered unknown. A 200 without an id is sent, with no provider id.
//
// Receipts (routes(), when tackd listens and `webhook_signing_key` is set):
// Mailgun posts one JSON event per request to receipt_path(name):
// {"signature":{"timestamp","token","signature"},"event-data":{...}}. The
// signature is HMAC-SHA256 over timestamp followed by token, keyed with the
// webhook signing key, as lowercase hex: none or malformed -> 401, wrong
// -> 403, a timestamp further than `signature_max_age` from now -> 401, and
// a token already taken within that window -> 401 (a replay; a token is
// remembered only once its post was answered 200 or 406, so Mailgun's own
// retry of a post tack answered 503 still goes through). An id tack never
// sent is answered 406, which Mailgun does not retry (it retries anything
// else but 200 for 8 hours). Events: delivered
// -> Delivered; failed with severity permanent -> Bounced, with temporary
// (Mailgun tries again) -> Progress, both with the reason (delivery-status
// code and message or description, else `reason`); accepted -> Progress;
// rejected (Mailgun refused to send it) -> Bounced; opened, clicked,
// unsubscribed, complained and names Mailgun adds later are skipped. The
// time is event-data.timestamp (Unix seconds with a fraction).
//
// Checked against Mailgun's documentation (via the search tool): the
// sending endpoint, regions and Basic api:key auth, the answer's id and
// message; the webhook payload's signature object, its HMAC over
// timestamp + token, its 50-character token and the advice to refuse
// reused tokens and old timestamps; event names and severity.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "curl.hpp"
#include "gateways/gateway.hpp"
#include "gateways/provider.hpp"
#include "gateways/reports.hpp"
#include "mime.hpp"

namespace tack {

struct MailgunOptions {
  std::string name;
  ProviderSettings provider;
  std::string api_key;
  std::string domain;
  Mailbox from;
  std::string signing_key;  // "" = no receipts
  std::chrono::seconds signature_max_age{600};
};

// The API's base URL for a region ("us" or "eu"); "" for any other.
std::string mailgun_region_url(const std::string& region);

ProviderBuilt build_mailgun_request(const MailgunOptions& options, const OutboundMessage& message);
Outcome classify_mailgun_answer(const TransferResult& result,
                                std::chrono::system_clock::time_point now);

// The tokens of webhook posts taken, each kept as long as its timestamp
// lies in the window (a token older than that is refused as stale anyway).
// Bounded: past `capacity` the oldest are forgotten.
class MailgunTokens {
 public:
  explicit MailgunTokens(std::size_t capacity = 100000) : capacity_(capacity) {}
  bool seen(const std::string& token, std::int64_t now_s, std::chrono::seconds window);
  void remember(const std::string& token, std::int64_t timestamp_s);

 private:
  void expire(std::int64_t now_s, std::chrono::seconds window);
  std::size_t capacity_;
  std::set<std::string> tokens_;
  std::deque<std::pair<std::int64_t, std::string>> order_;  // by arrival
};

// The signature object's token, when the body has one (for remembering).
std::optional<std::pair<std::string, std::int64_t>> mailgun_token(const std::string& body);
Verification verify_mailgun_signature(const std::string& body, const std::string& signing_key,
                                      std::chrono::seconds max_age, std::int64_t now_s,
                                      MailgunTokens* tokens);
ParsedReports parse_mailgun_event(const std::string& body);

class MailgunGateway final : public Gateway {
 public:
  MailgunGateway(MailgunOptions options, CurlMulti& curl, ProviderReports* reports);
  asio::awaitable<Outcome> send(const OutboundMessage& message) override;
  bool supports(ChannelKind kind) const override { return kind == ChannelKind::Email; }
  std::vector<Route> routes() override;
  std::chrono::milliseconds receipt_wait() const override;

 private:
  MailgunOptions options_;
  CurlMulti& curl_;
  ProviderReports* reports_;
  std::shared_ptr<MailgunTokens> tokens_;
};

GatewayKind mailgun_gateway_kind();

}  // namespace tack
