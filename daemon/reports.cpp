#include "reports.hpp"

#include "log.hpp"
#include "metrics.hpp"
#include "phone.hpp"
#include "store/store.hpp"

namespace tack {

namespace {
constexpr int kRefusalsLoggedPerMinute = 20;
}  // namespace

StoreReports::StoreReports(Store& store, Metrics* metrics, std::function<std::int64_t()> now_ms)
    : store_(store), metrics_(metrics), now_ms_(std::move(now_ms)) {}

void StoreReports::count(const std::string& gateway, const std::string& result) {
  if (metrics_) metrics_->report(gateway, result);
}

asio::awaitable<std::optional<ReceiptVerdict>> StoreReports::receipt(Receipt receipt) {
  const std::int64_t now = now_ms_();
  auto executor = co_await asio::this_coro::executor;
  std::string error;
  std::function<ReceiptResult(StoreTx&)> work = [receipt, now](StoreTx& tx) {
    return tx.record_receipt(receipt, now);
  };
  auto result = co_await store_.call<ReceiptResult>(executor, std::move(work), &error);
  if (!result) {
    log::error("receipt from {} for provider id {}: not recorded: {}", receipt.gateway,
               receipt.provider_id, error);
    count(receipt.gateway, "failed");
    co_return std::nullopt;
  }
  count(receipt.gateway, to_string(result->verdict));
  switch (result->verdict) {
    case ReceiptVerdict::Applied:
      log::info("message {}: {} reports {} ({}{}{}){}", result->message_id, receipt.gateway,
                to_string(receipt.kind), receipt.status, receipt.reason.empty() ? "" : ": ",
                receipt.reason, result->moved ? "; now " + std::string(to_string(result->state)) : "");
      break;
    case ReceiptVerdict::Repeated:
      log::debug("message {}: {} repeated a receipt ({})", result->message_id, receipt.gateway,
                 receipt.status);
      break;
    case ReceiptVerdict::Parked:
      log::info("{} reports {} for provider id {} before its send's answer was recorded; kept "
                "until it is", receipt.gateway, to_string(receipt.kind), receipt.provider_id);
      break;
    case ReceiptVerdict::Unknown:
      log::warning("{} reports {} for provider id {}, which no message sent through it has; "
                   "refused (404)", receipt.gateway, to_string(receipt.kind), receipt.provider_id);
      break;
  }
  co_return result->verdict;
}

asio::awaitable<std::optional<InboundVerdict>> StoreReports::inbound(InboundSms sms) {
  count(sms.gateway, "applied");
  log::info("{}: a reply from {} ({} characters)", sms.gateway,
            mask_phone(sms.from), sms.text.size());
  co_return InboundVerdict::Noted;
}

void StoreReports::refused(const std::string& gateway, const std::string& what,
                           const std::string& client, const std::string& reason) {
  count(gateway, "refused");
  const std::int64_t minute = now_ms_() / 60000;
  if (minute != refusal_minute_) {
    if (refusals_logged_ > kRefusalsLoggedPerMinute) {
      log::warning("{}: {} more refused reports in the last minute (not logged each)", gateway,
                   refusals_logged_ - kRefusalsLoggedPerMinute);
    }
    refusal_minute_ = minute;
    refusals_logged_ = 0;
  }
  if (++refusals_logged_ <= kRefusalsLoggedPerMinute) {
    log::warning("{}: refused a {} from {}: {}", gateway, what, client, reason);
  }
}

}  // namespace tack
