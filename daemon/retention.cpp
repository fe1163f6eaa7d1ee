#include "retention.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "log.hpp"
#include "phone.hpp"
#include "text.hpp"

namespace tack {

namespace {

bool is_email(const std::string& text) {
  return text.find('@') != std::string::npos;
}

// Between two batches the writer takes whatever intake and the dispatcher
// queued meanwhile; this pause only lets their work reach the queue first.
constexpr auto kBetweenBatches = std::chrono::milliseconds(20);

}  // namespace

Retention::Retention(asio::io_context& io, Store& store, RetentionPolicy policy,
                     std::function<std::int64_t()> clock)
    : io_(io), store_(store), policy_(policy), clock_(std::move(clock)), timer_(io) {}

void Retention::start() {
  asio::co_spawn(io_, run(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::error("retention stopped: {}", ex.what());
    }
  });
}

void Retention::stop() {
  asio::post(io_, [this] {
    stopping_ = true;
    timer_.cancel();
  });
}

void Retention::set_policy(const RetentionPolicy& p) {
  asio::post(io_, [this, p] { policy_ = p; });
}

asio::awaitable<void> Retention::run() {
  while (!stopping_) {
    if (policy_.action != RetentionPolicy::Action::Off) co_await pass();
    if (stopping_) break;
    timer_.expires_after(policy_.interval);
    error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> Retention::pass() {
  auto executor = co_await asio::this_coro::executor;
  const bool remove = policy_.action == RetentionPolicy::Action::Delete;
  const std::string action = to_string(policy_.action);
  const int limit = policy_.batch;
  const auto keep = policy_.keep;
  PruneCounts pass_total;
  int batches = 0;
  for (;;) {
    const std::int64_t now = clock_();
    const std::int64_t cutoff = now - keep.count();
    std::function<PruneCounts(StoreTx&)> work = [cutoff, remove, limit, now](StoreTx& tx) {
      return tx.prune_batch(cutoff, remove, limit, now);
    };
    std::string error;
    auto counts = co_await store_.call<PruneCounts>(executor, std::move(work), &error);
    if (!counts) {
      // The store says why and when it recovers; the next pass tries again.
      log::warning("retention: batch failed, trying again in the next pass: {}", error);
      break;
    }
    ++batches;
    pass_total.messages += counts->messages;
    pass_total.attempts += counts->attempts;
    pass_total.events += counts->events;
    pass_total.receipts += counts->receipts;
    if (metrics_) {
      metrics_->retention_pruned("messages", action, counts->messages);
      metrics_->retention_pruned("attempts", action, counts->attempts);
      metrics_->retention_pruned("events", action, counts->events);
      metrics_->retention_pruned("receipts", "delete", counts->receipts);
    }
    if (!counts->more || stopping_) break;
    timer_.expires_after(kBetweenBatches);
    error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) break;
  }
  ++passes_;
  total_.messages += pass_total.messages;
  total_.attempts += pass_total.attempts;
  total_.events += pass_total.events;
  total_.receipts += pass_total.receipts;
  if (pass_total.messages + pass_total.events + pass_total.receipts > 0) {
    log::info(
        "retention: {} {} message(s) ({} attempt(s)) and {} event(s) older than {} h in {} "
        "batch(es); deleted {} receipt(s) no send claimed",
        remove ? "deleted" : "anonymised", pass_total.messages, pass_total.attempts,
        pass_total.events, std::chrono::duration_cast<std::chrono::hours>(keep).count(), batches,
        pass_total.receipts);
  }
}

std::optional<std::string> forget_recipient_key(const std::string& raw,
                                                const std::string& default_region,
                                                std::string& error) {
  if (is_email(raw)) {
    const auto at = raw.find('@');
    const bool plausible =
        raw.find('@', at + 1) == std::string::npos && at > 0 && at + 1 < raw.size() &&
        std::none_of(raw.begin(), raw.end(),
                     [](unsigned char c) { return std::isspace(c) || std::iscntrl(c); });
    if (!plausible) {
      error = "not an e-mail address";
      return std::nullopt;
    }
    return raw;
  }
  auto phone = normalize_phone(raw, default_region);
  if (!phone.ok) {
    error = "not a phone number: " + phone.error;
    return std::nullopt;
  }
  return phone.e164;
}

bool payload_names(const std::string& payload, const std::string& recipient,
                   const std::string& default_region) {
  const std::string needle = lowercase(recipient);
  if (lowercase(payload).find(needle) != std::string::npos) return true;
  auto doc = nlohmann::json::parse(payload, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return false;
  auto customer = doc.find("customer");
  if (customer == doc.end() || !customer->is_object()) return false;
  if (is_email(recipient)) {
    auto email = customer->find("email");
    return email != customer->end() && email->is_string() &&
           lowercase(email->get<std::string>()) == needle;
  }
  auto phone = customer->find("phone");
  if (phone == customer->end() || !phone->is_string()) return false;
  auto normalised = normalize_phone(phone->get<std::string>(), default_region);
  return normalised.ok && normalised.e164 == recipient;
}

std::vector<std::int64_t> events_naming(StoreReader& store, const std::string& recipient,
                                        const std::string& default_region) {
  std::vector<std::int64_t> ids;
  for (const auto& [id, payload] : store.events_of_orders(store.orders_of_recipient(recipient))) {
    if (payload_names(payload, recipient, default_region)) ids.push_back(id);
  }
  // Events that made no message to them (rejected, stale, no rule fired)
  // are found by their text: the address, or the number's last 7 digits
  // however the shop wrote it; payload_names then decides.
  std::string digits;
  if (!is_email(recipient) && recipient.size() > 7) digits = recipient.substr(recipient.size() - 7);
  store.scan_event_payloads(lowercase(recipient), digits,
                      [&](std::int64_t id, const std::string& payload) {
                        if (payload_names(payload, recipient, default_region)) ids.push_back(id);
                      });
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace tack
