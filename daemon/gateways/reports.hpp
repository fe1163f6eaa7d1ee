// gateways/reports: what providers tell tack after a send, and the routes
// they tell it on.
//
// A provider reports on tackd's listener: delivery receipts at
// receipt_path(gateway name), SMS the customer sent back (STOP) at
// inbound_path(name). The URL a provider calls is the shop's public base URL
// (http.public_url, GatewayContext::public_url) plus that path; a gateway
// whose provider takes a callback URL per message sends it with each one.
//
// report_route() builds such a route from a gateway's two provider-specific
// parts: verify (the provider's signature, or the credentials in the URL)
// and parse (its body into Receipts and InboundSms). Everything else is
// shared and answered the same way for every provider:
// - unsigned, forged or stale: 401 (403 when credentials were given but
//   wrong), counted, logged, the body never parsed;
// - malformed: 400, counted;
// - a receipt taken, a repeat or one that came before the send's answer
//   was recorded (parked): 200, so the provider stops retrying;
// - an id tack never sent through this gateway: 404 (or the provider's
//   "do not retry", ReportRoute::unknown_status), counted;
// - the store cannot write: 503, and the provider retries later.
// A batch (SendGrid posts many events at once) is answered 200 when every
// receipt in it was taken or unknown (an unknown one is counted), 503 when
// the store failed on any.
//
// ProviderReports is what the routes hand their reports to: the daemon's
// implementation (daemon/reports.hpp) records them in the store, applies
// opt-outs and counts them on /metrics. Tests hand in their own.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "asio.hpp"
#include "http/route.hpp"
#include "message.hpp"

namespace tack {

// An SMS the customer sent to the shop's number (a reply: STOP).
struct InboundSms {
  std::string gateway;
  std::string from;  // the customer's number, E.164
  std::string to;    // the shop's number or sender
  std::string text;
  std::string provider_id;
  std::int64_t at_ms = 0;
};

// What tack did with a reply.
enum class InboundVerdict : std::uint8_t {
  OptedOut,  // an opt-out keyword: the number gets no more SMS
  Noted,     // anything else: logged, nothing changes
};

class ProviderReports {
 public:
  virtual ~ProviderReports() = default;
  // nullopt: the store could not record it (the provider should retry).
  virtual asio::awaitable<std::optional<ReceiptVerdict>> receipt(Receipt receipt) = 0;
  virtual asio::awaitable<std::optional<InboundVerdict>> inbound(InboundSms sms) = 0;
  // A request refused before its reports were read: unsigned, forged,
  // malformed. `what` is "receipt" or "inbound"; never the body.
  virtual void refused(const std::string& gateway, const std::string& what,
                       const std::string& client, const std::string& reason) = 0;
};

std::string receipt_path(const std::string& gateway);  // "/v1/receipts/NAME"
std::string inbound_path(const std::string& gateway);  // "/v1/inbound/NAME"

// What a provider's request carried.
struct ParsedReports {
  std::vector<Receipt> receipts;
  std::vector<InboundSms> replies;
  std::string error;  // set: the body is malformed (400)
  static ParsedReports malformed(std::string why) {
    ParsedReports out;
    out.error = std::move(why);
    return out;
  }
};

// Why a request is not the provider's: empty when it is. `bad_credentials`
// tells 403 (wrong) from 401 (none given).
struct Verification {
  std::string refusal;
  bool bad_credentials = false;
  static Verification ok() { return {}; }
  static Verification missing(std::string why) { return {std::move(why), false}; }
  static Verification forged(std::string why) { return {std::move(why), true}; }
};

struct ReportRoute {
  std::string gateway;  // its name
  std::string what;     // "receipt" or "inbound"
  std::string path;     // receipt_path(gateway) or inbound_path(gateway)
  beast_http::verb method = beast_http::verb::post;
  std::uint64_t max_body = 256 * 1024;
  std::function<Verification(const ServerRequest&)> verify;
  std::function<ParsedReports(const ServerRequest&)> parse;
  // The body of a 200 answer and its type (some providers want "OK").
  std::string ok_body = "{\"ok\":true}";
  std::string ok_content_type = "application/json";
  // The answer to a report of an id tack never sent (counted unknown):
  // 404, or what makes this provider stop retrying it (Mailgun: 406).
  beast_http::status unknown_status = beast_http::status::not_found;
};

// `reports` must outlive the route (the daemon's outlives the listener).
Route report_route(ReportRoute spec, ProviderReports& reports);

// ---- shared by the providers' parsers and verifiers ----------------------

// application/x-www-form-urlencoded into name -> value (the last of a
// repeated name wins; `+` is a space). nullopt when malformed: a bad
// %-escape, a value that is not UTF-8, more than 200 fields.
std::optional<std::map<std::string, std::string>> parse_form(std::string_view body);
// The request target's query string, the same way.
std::optional<std::map<std::string, std::string>> parse_query(std::string_view target);
// Basic credentials of a request ("user", "password"), or nullopt.
std::optional<std::pair<std::string, std::string>> basic_credentials(const ServerRequest& request);
// A receipt URL that carries Basic credentials for providers that cannot
// sign (46elks, Postmark): https://tack:TOKEN@host/path. `public_url` has no
// trailing slash. Empty when public_url is empty.
std::string callback_url(const std::string& public_url, const std::string& path,
                         const std::string& user = {}, const std::string& password = {});
// Verifies Basic credentials against the configured ones in constant time.
Verification verify_basic(const ServerRequest& request, const std::string& user,
                          const std::string& password);
// RFC 3339 / ISO 8601 ("2026-12-05T10:02:14Z", "2026-12-05 10:02:14",
// fractions and offsets) to Unix milliseconds; nullopt when unreadable.
std::optional<std::int64_t> parse_provider_time(std::string_view text);

}  // namespace tack
