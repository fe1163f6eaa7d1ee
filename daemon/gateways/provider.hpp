// gateways/provider: what the named providers' gateways (twilio, vonage,
// 46elks, smsapi, sinch, sendgrid, mailgun, postmark) share. Each of them is
// one file pair in this folder: its key table and factory, the request it
// builds, how it reads the answer, and its receipt (and reply) routes; this
// file holds the parts that would otherwise be written eight times, so that
// every provider answers, checks and refuses alike
// (tests/gateways/providers_test.cpp asserts it across all eight).
//
// - Settings every provider takes (provider_keys(), read_provider_settings):
//   `url` (the API's base URL; a test's fake server, or a region), the
//   timeouts, verify_tls, ca_file, and `receipt_wait`: how long a rule's
//   fallback waits for this provider's "undelivered" before the primary's
//   sent stands (default 15m; 0s: do not wait). Receipts are taken whenever
//   tackd listens (http:); the callback URL goes with each message only
//   when http.public_url is set.
// - The factories' checks: read_credential (API keys, tokens, passwords:
//   one line without control characters, as they go into headers),
//   read_receipt_token (the password of a callback URL: at least 16
//   characters), read_sender_id (check_sender_id: an SMS sender as networks
//   carry it, an alphanumeric ID of 1 to 11 GSM 03.38 basic characters or a
//   number of up to 15 digits).
// - classify_provider_answer(): transport failures and non-2xx answers are
//   classified as for the generic HTTP gateway (classify_http_result:
//   retry, rejected, unknown, Retry-After, health); a 2xx answer is read by
//   the provider's own function, since some answer 200 with an error inside
//   (Vonage status 1 "throttled", SMSAPI's error codes).
// - answer_json() and webhook_json(): bodies parsed with bounds (the
//   provider's answer and callbacks are untrusted input too); json_text().
// - Receipts: receipt_wait_if (a fallback waits only for receipts that can
//   come), report_routes (a gateway's receipt route and its reply route),
//   inbound_reply (a reply's fields checked the same way for every SMS
//   provider), e164_from_provider.
// - E-mail: email_recipient, and the window a signed webhook's timestamp
//   must fall in (signature_max_age).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "curl.hpp"
#include "gateways/reports.hpp"
#include "gateways/settings.hpp"
#include "message.hpp"
#include "mime.hpp"

namespace tack {

struct ProviderSettings {
  std::string url;  // the API's base URL, no trailing slash
  Timeouts timeouts{std::chrono::seconds(10), std::chrono::seconds(30), 1,
                    std::chrono::seconds(20)};
  bool verify_tls = true;
  std::string ca_file;
  std::chrono::milliseconds receipt_wait{std::chrono::minutes(15)};
};

// The keys above, for a kind's key table; `default_url` is said in the help.
std::vector<ConfigKey> provider_keys(const std::string& default_url);
// Throws (GatewaySettings::fail) on a bad value.
ProviderSettings read_provider_settings(const GatewaySettings& settings,
                                        const std::string& default_url);
// An HttpRequest with the settings' timeouts and TLS options.
HttpRequest provider_request(const ProviderSettings& settings, std::string method,
                             std::string url);

using AnswerReader = std::function<Outcome(const TransferResult& result)>;
Outcome classify_provider_answer(const TransferResult& result, const AnswerReader& on_success,
                                 std::chrono::system_clock::time_point now);

// nullopt when the body is not JSON (or too deep or large).
std::optional<nlohmann::json> answer_json(const TransferResult& result);
// The start of the answer for a support person: "HTTP 200: {...}", at most
// 500 bytes of body, valid UTF-8.
std::string answer_detail(const TransferResult& result);

// "" when `sender` is one networks carry, else why not.
std::string check_sender_id(const std::string& sender);

// ---- the factories' checks (each throws GatewaySettings::fail) -------------

// A required credential (API key, token, password): no control characters.
std::string read_credential(const GatewaySettings& settings, const std::string& key);
// `receipt_token`, the password a provider sends back with its callbacks:
// "" when not set, else at least 16 characters without control characters.
std::string read_receipt_token(const GatewaySettings& settings);
// `from` as an SMS sender (check_sender_id); "" when not set and optional.
std::string read_sender_id(const GatewaySettings& settings, bool required);

// ---- receipts and replies ---------------------------------------------------

// How long a rule's fallback waits for this gateway's receipts: the
// settings' receipt_wait when receipts can come (tackd listens, the routes
// can verify them, and the provider knows where to send them), else 0.
std::chrono::milliseconds receipt_wait_if(bool receipts_can_come, const ProviderSettings& settings);

// The receipt route and, when given, the reply route of the gateway named
// `gateway`; each spec needs only its provider's parts (verify, parse,
// method, max_body, the answer's body). None when `reports` is null (where
// nothing listens).
std::vector<Route> report_routes(const std::string& gateway, ProviderReports* reports,
                                 ReportRoute receipts,
                                 std::optional<ReportRoute> replies = std::nullopt);

// What a provider calls a reply's fields, for the errors that name them.
struct InboundFieldNames {
  std::string_view from, to, text, id;
};
// A reply as a provider's parser read it, checked: `from` and `to` usable,
// the text no longer than any SMS, the id (optional) an id. The reply, or
// the error naming the provider's field.
ParsedReports inbound_reply(InboundSms sms, const InboundFieldNames& names);

// A number as providers send it ("46701234567") in E.164 ("+46701234567").
std::string e164_from_provider(std::string number);

// ---- JSON bodies --------------------------------------------------------------

// A callback's body parsed with bounds (depth 32, 100 000 values); nullopt
// when it is not JSON or exceeds them.
std::optional<nlohmann::json> webhook_json(std::string_view body);
// The member `name` of `object` as text: a string, or a number as written;
// "" when absent, of another type, or `object` is not an object.
std::string json_text(const nlohmann::json& object, const char* name);

// ---- e-mail providers -----------------------------------------------------------

// The request a gateway's send() makes, or why none can be made.
struct ProviderBuilt {
  std::optional<HttpRequest> request;
  std::string error;
};

// The message's recipient as a plain address, or nullopt with `error` set.
std::optional<Mailbox> email_recipient(const std::string& recipient, std::string& error);

// Unix seconds in `text` ("1733392934", or with a fraction); nullopt when
// it is not such a number.
std::optional<std::int64_t> unix_seconds(std::string_view text);

// "" when `timestamp_s` lies within `max_age` of `now_s` either way, else
// why not (a replay, or a clock far off).
std::string check_signature_age(std::int64_t timestamp_s, std::int64_t now_s,
                                std::chrono::seconds max_age);

// The key for the signed-webhook window, said once for the kinds that sign.
inline ConfigKey signature_max_age_key() {
  return {"signature_max_age", KeyType::Duration, false, false,
          "a signed receipt whose timestamp is further than this from now is refused as a "
          "replay (default 10m)"};
}
std::chrono::seconds read_signature_max_age(const GatewaySettings& settings);

std::int64_t unix_now_s();

inline ConfigKey receipt_wait_key() {
  return {"receipt_wait", KeyType::Duration, false, false,
          "how long a rule's fallback waits for an undelivered receipt (default 15m; 0s: not "
          "at all)"};
}

}  // namespace tack
