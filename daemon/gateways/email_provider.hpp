// gateways/email_provider: what the three e-mail providers' gateways
// (sendgrid, mailgun, postmark) share beyond gateways/provider.hpp: the
// result of building a request, the recipient read as a mailbox, a bounded
// JSON parse of a webhook body, and the window a signed webhook's timestamp
// must fall in.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "curl.hpp"
#include "gateways/settings.hpp"
#include "mime.hpp"

namespace tack {

// The request a gateway's send() makes, or why none can be made.
struct ProviderBuilt {
  std::optional<HttpRequest> request;
  std::string error;
};

// The message's recipient as a plain address, or nullopt with `error` set.
std::optional<Mailbox> email_recipient(const std::string& recipient, std::string& error);

// A webhook body parsed with bounds (depth 32, 100 000 values); nullopt
// when it is not JSON or exceeds them.
std::optional<nlohmann::json> webhook_json(std::string_view body);

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

}  // namespace tack
