#include "scheduler.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "log.hpp"
#include "quiet_hours.hpp"
#include "rules.hpp"
#include "sms_cost.hpp"

namespace tack {

ScheduledOutcome decide_scheduled(const DueScheduled& due, const Snapshot& snapshot,
                                  std::int64_t now_ms) {
  const Config& config = snapshot.config;
  ScheduledOutcome out;
  out.id = due.id;
  auto end = [&out](MessageState state, std::string note, std::string error = {}) {
    out.next = state;
    out.note = std::move(note);
    out.last_error = std::move(error);
    return out;
  };
  const auto rule = std::find_if(config.rules.begin(), config.rules.end(),
                                 [&](const RuleConfig& r) { return r.name == due.rule; });
  if (rule == config.rules.end()) {
    return end(MessageState::Cancelled,
               "cancelled: rule " + due.rule + " is no longer in the config");
  }
  // The promise was kept after all (the order shipped, was returned): the
  // watch or follow-up is no longer wanted.
  for (const auto& status : due.order_statuses) {
    if (reached_any(config.statuses, rule->unless, status)) {
      return end(MessageState::Cancelled, "cancelled: order " + status);
    }
  }
  if (!due.order_status.empty() && reached_any(config.statuses, rule->unless, due.order_status)) {
    return end(MessageState::Cancelled, "cancelled: order " + due.order_status);
  }
  const ChannelConfig* channel = config.channel(due.channel);
  if (!channel) {
    const std::string why = "channel " + due.channel + " is no longer in the config";
    return end(MessageState::Failed, "failed: " + why, why);
  }
  if (!due.rendered) {
    if (due.event_payload.empty() || due.event_payload == kErased) {
      return end(MessageState::Cancelled, "cancelled: its event was erased");
    }
    auto doc = nlohmann::json::parse(due.event_payload, nullptr, false);
    if (doc.is_discarded()) {
      const std::string why = "its event " + due.event_id + " could not be read again";
      return end(MessageState::Failed, "failed: " + why, why);
    }
    auto context = snapshot.render_context();
    context.now_ms = now_ms;
    if (rule->to.empty()) {
      context.optout_url = snapshot.optout_url(due.kind, due.recipient, due.locale, now_ms);
    }
    auto rendered = snapshot.templates
                        ? snapshot.templates->render(rule->template_name, due.kind, doc,
                                                     due.locale, context)
                        : RenderResult{std::nullopt, "no templates loaded"};
    if (!rendered.message) {
      const std::string why = "template " + rule->template_name + ": " + rendered.error;
      return end(MessageState::Failed, "failed when due: " + why, why);
    }
    out.locale = rendered.message->locale;
    out.subject = std::move(rendered.message->subject);
    out.text = std::move(rendered.message->text);
    out.html = std::move(rendered.message->html);
    if (channel->kind == ChannelKind::Sms) {
      // As intake does: stored as it will travel, refused over the budget.
      SmsFit fit = fit_sms(std::move(out.text), out.locale, config, *channel);
      out.text = std::move(fit.text);
      if (!fit.refusal.empty()) {
        return end(MessageState::Failed, "failed when due: " + fit.refusal, fit.refusal);
      }
    }
  }
  const std::string& timezone = due.timezone.empty() ? config.default_timezone : due.timezone;
  if (auto hold = quiet_hours_hold(*channel, due.urgent, config.quiet_hours.window_for(due.country),
                                   timezone, now_ms)) {
    out.next = MessageState::Scheduled;
    out.due_at_ms = hold->until_ms;
    out.note = std::move(hold->note);
    return out;
  }
  out.next = MessageState::Queued;
  if (!due.urgent && channel->cap_max > 0) {
    out.cap = {channel->cap_max, channel->cap_per.count(), channel->cap_text};
  }
  return out;
}

Scheduler::Scheduler(asio::io_context& io, Store& store, SnapshotFn snapshot, Clock clock,
                     std::string owner)
    : io_(io),
      store_(store),
      snapshot_(std::move(snapshot)),
      clock_(std::move(clock)),
      owner_(std::move(owner)),
      timer_(io) {}

void Scheduler::start() {
  asio::co_spawn(io_, run(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::error("scheduler stopped: {}", ex.what());
    }
  });
}

void Scheduler::stop() {
  asio::post(io_, [this] {
    stopping_ = true;
    timer_.cancel();
  });
}

void Scheduler::wake() {
  asio::post(io_, [this] {
    woken_ = true;
    timer_.cancel();
  });
}

asio::awaitable<void> Scheduler::run() {
  auto executor = co_await asio::this_coro::executor;
  while (!stopping_) {
    woken_ = false;
    const int claimed = co_await round();
    if (stopping_) break;
    if (claimed >= kBatch || woken_) continue;  // more may be due: look again now
    std::function<std::optional<std::int64_t>(StoreReader&)> next_fn = [](StoreReader& r) {
      return r.next_scheduled_at();
    };
    auto next = co_await store_.read<std::optional<std::int64_t>>(executor, std::move(next_fn));
    // Never longer than kMaxSleep, so a step of the wall clock is noticed;
    // a message due but not claimable (another owner's lease) is looked at
    // again a second later.
    auto sleep = kMaxSleep;
    if (next && *next) {
      const auto wait = **next - clock_();
      sleep = std::min(kMaxSleep, std::chrono::milliseconds(std::max<std::int64_t>(
                                      wait > 0 ? wait : 1000, 1)));
    }
    if (woken_ || stopping_) continue;
    timer_.expires_after(sleep);
    error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<int> Scheduler::round() {
  auto executor = co_await asio::this_coro::executor;
  const auto now = clock_();
  // The lease outlasts a batch's rendering many times over; a tackd that
  // dies holding one leaves it to another after a minute.
  const Lease lease{owner_, 60 * 1000};
  std::function<std::vector<DueScheduled>(StoreTx&)> claim = [lease, now](StoreTx& tx) {
    return tx.claim_scheduled(lease, kBatch, now);
  };
  std::string error;
  auto due = co_await store_.call<std::vector<DueScheduled>>(executor, std::move(claim), &error);
  if (!due) {
    log::warning("scheduler: cannot take due messages, trying again: {}", error);
    co_return 0;
  }
  if (due->empty()) co_return 0;
  const auto snapshot = snapshot_();
  const auto decided_at = clock_();
  std::vector<ScheduledOutcome> outcomes;
  outcomes.reserve(due->size());
  for (const auto& d : *due) {
    outcomes.push_back(decide_scheduled(d, *snapshot, decided_at));
    const auto& o = outcomes.back();
    if (o.next != MessageState::Queued) {
      log::info("message {} order {} ({}): {}", d.id, d.order_id, d.rule,
                o.note.empty() ? std::string(to_string(o.next)) : o.note);
    }
  }
  std::function<int(StoreTx&)> settle = [outcomes = std::move(outcomes), owner = owner_,
                                         decided_at](StoreTx& tx) {
    return tx.settle_scheduled(outcomes, owner, decided_at);
  };
  auto queued = co_await store_.call<int>(executor, std::move(settle), &error);
  if (!queued) {
    // Still leased: taken again once the lease runs out.
    log::warning("scheduler: cannot record {} due message(s), trying again: {}", due->size(),
                 error);
  } else if (*queued > 0) {
    queued_ += *queued;
    if (on_queued_) on_queued_();
  }
  co_return static_cast<int>(due->size());
}

}  // namespace tack
