// secret_filter: keeps a gateway's own credentials out of what it reports.
//
// A provider may echo the API key it was sent, libcurl may name the URL it
// failed on, an SMTP server may quote the AUTH line: whatever a gateway
// puts in Outcome::detail reaches the daemon's log, the delivery log and
// the support API. gateway_secrets() collects the credentials a gateway's
// settings hold (every key its kind marks secret, the values of
// credential-like headers such as Authorization or X-Api-Key, the password
// in a URL's user:pass@ and the values of credential-like query parameters
// such as ?api_key=); SecretFilter wraps a gateway and replaces each of
// them by "***" in every outcome's detail and provider id.
//
// The registry wraps every gateway it builds, so a new kind is covered by
// declaring its secret keys.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateways/gateway.hpp"

namespace tack {

std::vector<std::string> gateway_secrets(const GatewayConfig& config,
                                         const std::vector<ConfigKey>& keys);

// `text` with every occurrence of each secret replaced by "***", and the
// password of any URL's user:password@ too. Secrets shorter than 4 bytes
// are left alone: they would garble the text and guard nothing.
std::string hide_secrets(std::string_view text, const std::vector<std::string>& secrets);

class SecretFilter : public Gateway {
 public:
  SecretFilter(std::unique_ptr<Gateway> inner, std::vector<std::string> secrets);
  asio::awaitable<Outcome> send(const OutboundMessage& message) override;
  bool supports(ChannelKind kind) const override;
  // The provider's reports reach the gateway itself: they carry no secret
  // of tack's back out.
  std::vector<Route> routes() override { return inner_->routes(); }
  std::chrono::milliseconds receipt_wait() const override { return inner_->receipt_wait(); }

 private:
  std::unique_ptr<Gateway> inner_;
  std::vector<std::string> secrets_;
};

}  // namespace tack
