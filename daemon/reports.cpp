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
    : store_(store),
      metrics_(metrics),
      now_ms_(std::move(now_ms)),
      keywords_([] { return default_opt_out_keywords(); }) {}

void StoreReports::set_keywords(std::function<OptOutKeywords()> keywords) {
  keywords_ = std::move(keywords);
}

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
  if (receipt.opted_out && result->verdict == ReceiptVerdict::Applied) {
    // record_receipt put the recipient on the suppression list.
    if (metrics_) metrics_->opt_out("receipt", "suppressed");
    log::info("message {}: {} reports that the recipient opted out ({}); {} {} suppressed",
              result->message_id, receipt.gateway, receipt_opt_out_source(receipt),
              result->channel_kind,
              result->channel_kind == "sms" ? mask_phone(result->recipient) : mask_email(result->recipient));
  }
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
  const auto keyword = opt_out_keyword(sms.text, keywords_());
  if (!keyword || sms.from.empty()) {
    count(sms.gateway, "applied");
    log::info("{}: a reply from {} ({} characters)", sms.gateway, mask_phone(sms.from),
              sms.text.size());
    co_return InboundVerdict::Noted;
  }
  const std::int64_t now = now_ms_();
  const std::string source = "reply " + *keyword + " via " + sms.gateway;
  const std::string actor = "tackd (reply via " + sms.gateway + ")";
  auto executor = co_await asio::this_coro::executor;
  std::string error;
  std::function<SuppressResult(StoreTx&)> work = [from = sms.from, source, actor,
                                                  now](StoreTx& tx) {
    return tx.suppress(ChannelKind::Sms, from, source, actor, now);
  };
  auto result = co_await store_.call<SuppressResult>(executor, std::move(work), &error);
  if (!result) {
    log::error("{}: an opt-out reply from {}: not recorded: {}", sms.gateway, mask_phone(sms.from),
               error);
    count(sms.gateway, "failed");
    if (metrics_) metrics_->opt_out("reply", "failed");
    co_return std::nullopt;
  }
  count(sms.gateway, "applied");
  if (metrics_) metrics_->opt_out("reply", result->added ? "suppressed" : "already");
  log::info("{}: {} replied {}: {} SMS; {} waiting message(s) suppressed", sms.gateway,
            mask_phone(sms.from), *keyword,
            result->added ? "no more" : "already opted out of", result->suppressed.size());
  co_return InboundVerdict::OptedOut;
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
