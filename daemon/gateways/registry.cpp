// The one explicit list of gateway kinds. Each kind's config keys (the
// loader checks settings against them and reports unknown ones) and its
// factory live in the kind's own file (X_gateway_kind()); reading the
// settings lives beside the key table there, so a key cannot be read
// without being declared.
#include "gateways/46elks.hpp"
#include "gateways/file.hpp"
#include "gateways/gateway.hpp"
#include "gateways/http.hpp"
#include "gateways/mailgun.hpp"
#include "gateways/postmark.hpp"
#include "gateways/secret_filter.hpp"
#include "gateways/sendgrid.hpp"
#include "gateways/sinch.hpp"
#include "gateways/smsapi.hpp"
#include "gateways/smtp.hpp"
#include "gateways/twilio.hpp"
#include "gateways/vonage.hpp"

namespace tack {

namespace {

// Every gateway is built wrapped in a SecretFilter holding its own
// credentials, so none reaches a log line or the support API.
std::vector<GatewayKind> with_secrets_hidden(std::vector<GatewayKind> kinds) {
  for (auto& kind : kinds) {
    kind.create = [create = std::move(kind.create), keys = kind.keys](
                      const GatewayConfig& config,
                      GatewayContext& context) -> std::unique_ptr<Gateway> {
      return std::make_unique<SecretFilter>(create(config, context), gateway_secrets(config, keys));
    };
  }
  return kinds;
}

}  // namespace

const std::vector<GatewayKind>& gateway_kinds() {
  static const std::vector<GatewayKind> kinds = with_secrets_hidden({
      file_gateway_kind(),
      http_gateway_kind(),
      smtp_gateway_kind(),
      // Named SMS providers.
      elks_gateway_kind(),
      twilio_gateway_kind(),
      vonage_gateway_kind(),
      smsapi_gateway_kind(),
      sinch_gateway_kind(),
      // Named e-mail providers.
      sendgrid_gateway_kind(),
      mailgun_gateway_kind(),
      postmark_gateway_kind(),
  });
  return kinds;
}

const GatewayKind* find_gateway_kind(const std::string& type) {
  for (const auto& kind : gateway_kinds()) {
    if (kind.type == type) return &kind;
  }
  return nullptr;
}

}  // namespace tack
