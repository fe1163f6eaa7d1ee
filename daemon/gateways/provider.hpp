// gateways/provider: what the named providers' gateways (twilio, vonage,
// 46elks, smsapi, sinch, sendgrid, mailgun, postmark) share. Each of them is
// one file pair in this folder: its key table and factory, the request it
// builds, how it reads the answer, and its receipt (and reply) routes; this
// file holds the parts that would otherwise be written eight times.
//
// - Settings every provider takes (provider_keys(), read_provider_settings):
//   `url` (the API's base URL; a test's fake server, or a region), the
//   timeouts, verify_tls, ca_file, and `receipt_wait`: how long a rule's
//   fallback waits for this provider's "undelivered" before the primary's
//   sent stands (default 15m; 0s: do not wait). Receipts are taken whenever
//   tackd listens (http:); the callback URL goes with each message only
//   when http.public_url is set.
// - classify_provider_answer(): transport failures and non-2xx answers are
//   classified as for the generic HTTP gateway (classify_http_result:
//   retry, rejected, unknown, Retry-After, health); a 2xx answer is read by
//   the provider's own function, since some answer 200 with an error inside
//   (Vonage status 1 "throttled", SMSAPI's error codes).
// - answer_json(): the answer's body parsed with bounds (the provider's
//   answer is untrusted input too).
// - check_sender_id(): an SMS sender as networks carry it, checked at
//   config load: an alphanumeric sender ID of 1 to 11 characters from the
//   GSM 03.38 basic set (letters, digits, space and a few signs), or a
//   number of up to 15 digits with an optional leading +.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config.hpp"
#include "curl.hpp"
#include "gateways/settings.hpp"
#include "message.hpp"

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

// The settings' value of `key` when given, else "": for the kinds' checks.
inline ConfigKey receipt_wait_key() {
  return {"receipt_wait", KeyType::Duration, false, false,
          "how long a rule's fallback waits for an undelivered receipt (default 15m; 0s: not "
          "at all)"};
}

}  // namespace tack
