// gateway: the plugin interface for delivering one message.
//
// A gateway has one job: try to deliver one message and say what happened
// (Outcome: sent with the provider's id, retry later, rejected, unknown).
// It never retries, sleeps or falls back by itself: the dispatcher alone
// decides what happens next. A gateway must not throw on the data path;
// network trouble is an Outcome.
//
// A gateway kind is one file pair in this folder (the gateway, and
// X_gateway_kind(): its type name, its config keys, checked by the config
// loader so unknown keys are reported, and its factory, which reads the
// settings through gateways/settings.hpp) plus one line in registry.cpp.
// A gateway told of deliveries over HTTP (receipts) answers on tackd's
// listener through routes().
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "asio.hpp"
#include "config.hpp"
#include "http/route.hpp"
#include "message.hpp"

namespace tack {

class CurlMulti;
class ProviderReports;

class Gateway {
 public:
  virtual ~Gateway() = default;
  virtual asio::awaitable<Outcome> send(const OutboundMessage& message) = 0;
  // Which channel kinds this gateway can carry.
  virtual bool supports(ChannelKind kind) const = 0;
  // The routes it answers on tackd's HTTP listener (a provider's delivery
  // receipts); none by default. Mounted once, at start, and answered by
  // whichever gateway of this name runs when a request comes
  // (gateways/routes.hpp), so paths follow from the name, never from the
  // settings.
  virtual std::vector<Route> routes() { return {}; }
  // How long after a send this gateway's provider reports delivery, at
  // most: a rule's fallback waits that long for an "undelivered" before
  // the primary's Sent stands (AttemptRecord::receipt_wait_ms). 0: this
  // gateway takes no receipts.
  virtual std::chrono::milliseconds receipt_wait() const { return std::chrono::milliseconds(0); }
};

// What a factory gets to build a gateway.
struct GatewayContext {
  asio::io_context& io;
  CurlMulti& curl;
  std::string config_dir;  // for resolving relative paths
  // Where providers report (gateways/reports.hpp); null where nothing
  // listens (tackd check, the CLI): such a gateway declares no routes.
  ProviderReports* reports{};
  // http.public_url: the base of the callback URLs sent to providers; ""
  // when not configured (receipts then only come if the provider's
  // dashboard names the URL).
  std::string public_url{};
};

struct GatewayKind {
  std::string type;
  std::string summary;
  std::vector<ConfigKey> keys;
  // Builds a gateway from settings that passed check_plugin_keys. Throws
  // std::runtime_error with a clear message on a bad value (control plane).
  std::function<std::unique_ptr<Gateway>(const GatewayConfig&, GatewayContext&)> create;
};

// The one explicit list of gateway kinds (registry.cpp).
const std::vector<GatewayKind>& gateway_kinds();
const GatewayKind* find_gateway_kind(const std::string& type);

}  // namespace tack
