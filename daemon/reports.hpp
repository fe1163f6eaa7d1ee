// reports: the daemon's side of what providers tell tack after a send
// (gateways/reports.hpp). A delivery receipt is recorded in the store
// (StoreTx::record_receipt: the message's timeline, its state, its
// standby), logged without the recipient, and counted on /metrics
// (tack_receipts_total{gateway, result}); a receipt whose code says the
// recipient opted out suppresses them (the store does it in the same unit)
// and is counted on tack_optouts_total{via="receipt"}. A reply that is an
// opt-out keyword (optout.hpp, the config's opt_out.keywords) puts the
// sender on the SMS suppression list (StoreTx::suppress, source "reply
// STOP via GATEWAY"); any other reply is logged and counted.
// Refused requests (unsigned, forged, malformed) are logged at a bounded
// rate and counted, never their body.
//
// Runs on the event loop, like the listener's routes that call it; the
// store's answer is awaited, so a provider is told 200 only once what it
// reported is on disk.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "gateways/reports.hpp"
#include "optout.hpp"

namespace tack {

class Metrics;
class Store;

class StoreReports final : public ProviderReports {
 public:
  StoreReports(Store& store, Metrics* metrics, std::function<std::int64_t()> now_ms);

  asio::awaitable<std::optional<ReceiptVerdict>> receipt(Receipt receipt) override;
  asio::awaitable<std::optional<InboundVerdict>> inbound(InboundSms sms) override;
  void refused(const std::string& gateway, const std::string& what, const std::string& client,
               const std::string& reason) override;
  // Where the running config's opt-out keywords come from (a reload may
  // change them); until set, default_opt_out_keywords().
  void set_keywords(std::function<OptOutKeywords()> keywords);

 private:
  void count(const std::string& gateway, const std::string& result);

  Store& store_;
  Metrics* metrics_;
  std::function<std::int64_t()> now_ms_;
  std::function<OptOutKeywords()> keywords_;
  // Refusals logged so far this minute: a flood of forged receipts must
  // not flood the journal (the counter still counts every one).
  std::int64_t refusal_minute_ = 0;
  int refusals_logged_ = 0;
};

}  // namespace tack
