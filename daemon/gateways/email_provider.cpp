#include "gateways/email_provider.hpp"

#include "config.hpp"
#include "event.hpp"

namespace tack {

std::optional<Mailbox> email_recipient(const std::string& recipient, std::string& error) {
  MailboxParse parse = parse_mailbox(recipient);
  if (!parse.mailbox) {
    error = "bad recipient: " + parse.error;
    return std::nullopt;
  }
  return parse.mailbox;
}

std::optional<nlohmann::json> webhook_json(std::string_view body) {
  Limits bounds;
  bounds.max_json_depth = 32;
  bounds.max_json_values = 100000;
  bounds.max_string_bytes = body.size();
  std::string ignored;
  return parse_json_bounded(body, bounds, ignored);
}

std::optional<std::int64_t> unix_seconds(std::string_view text) {
  const auto dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  if (whole.empty() || whole.size() > 12) return std::nullopt;
  for (char c : whole) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  if (dot != std::string_view::npos) {
    const std::string_view fraction = text.substr(dot + 1);
    if (fraction.empty() || fraction.size() > 9) return std::nullopt;
    for (char c : fraction) {
      if (c < '0' || c > '9') return std::nullopt;
    }
  }
  return std::stoll(std::string(whole));
}

std::string check_signature_age(std::int64_t timestamp_s, std::int64_t now_s,
                                std::chrono::seconds max_age) {
  const std::int64_t age = now_s - timestamp_s;
  if (age > max_age.count()) {
    return "stale signature: signed " + std::to_string(age) + " s ago (a replay?)";
  }
  if (-age > max_age.count()) return "signature timestamp " + std::to_string(-age) + " s ahead";
  return {};
}

std::chrono::seconds read_signature_max_age(const GatewaySettings& settings) {
  const auto value = settings.duration("signature_max_age", std::chrono::minutes(10));
  if (value < std::chrono::seconds(10) || value > std::chrono::hours(72)) {
    settings.fail("signature_max_age", "must be between 10s and 72h");
  }
  return std::chrono::duration_cast<std::chrono::seconds>(value);
}

std::int64_t unix_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace tack
