#include "intake.hpp"

#include <algorithm>
#include <future>

#include "digest.hpp"
#include "event.hpp"
#include "local_time.hpp"
#include "optout.hpp"
#include "phone.hpp"
#include "quiet_hours.hpp"
#include "rules.hpp"
#include "sms_cost.hpp"

namespace tack {

namespace {

constexpr std::size_t kRejectedPayloadCap = 4096;

}  // namespace

bool plausible_email(const std::string& address) {
  auto at = address.find('@');
  if (at == std::string::npos || at == 0 || at + 1 >= address.size()) return false;
  if (address.find('@', at + 1) != std::string::npos) return false;
  if (address.size() > 254) return false;
  for (unsigned char c : address) {
    if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';') return false;
  }
  return address.find('.', at) != std::string::npos;
}

namespace {

struct Recipient {
  std::string address;
  std::string problem;  // why this channel cannot reach the customer
  std::string region;   // a phone number's own country
};

// A rule's fixed recipient (`to`: the shop's own people).
Recipient fixed_recipient(const std::string& to, ChannelKind kind, const Config& config) {
  if (kind == ChannelKind::Email) {
    if (!plausible_email(to)) return {to, "invalid e-mail address in the rule's to", ""};
    return {to, "", ""};
  }
  auto phone = normalize_phone(to, config.default_region);
  if (!phone.ok) return {to, "invalid phone number in the rule's to: " + phone.error, ""};
  return {phone.e164, "", phone.region};
}

Recipient recipient_for(const Event& event, ChannelKind kind, const Config& config) {
  if (kind == ChannelKind::Email) {
    auto email = event.email();
    if (email.empty()) return {"", "no e-mail address in the event", ""};
    if (!plausible_email(email)) return {email, "invalid e-mail address", ""};
    return {email, "", ""};
  }
  auto raw = event.phone();
  if (raw.empty()) return {"", "no phone number in the event", ""};
  const std::string country = event.country(), locale = event.locale();
  auto phone = normalize_customer_phone(raw, {country, locale, config.default_region});
  if (!phone.ok) return {raw, "invalid phone number: " + phone.error, ""};
  if (phone.is_fixed_line) {
    return {phone.e164, "phone number is a fixed line and cannot take SMS", phone.region};
  }
  return {phone.e164, "", phone.region};
}

// Where the recipient is: the event's customer.country, else the phone
// number's own country, else the region of the customer's locale, else the
// shop's region.
std::string recipient_country(const Event& event, const Recipient& recipient,
                              const Config& config) {
  if (auto country = event.country(); !country.empty()) return country;
  if (!recipient.region.empty()) return recipient.region;
  if (auto region = locale_region(event.locale()); !region.empty()) return region;
  return config.default_region;
}

// The recipient's time zone: the event's customer.timezone, else the zone
// of their country when it has one, else the shop's locale.timezone.
std::string recipient_timezone(const Event& event, const std::string& country,
                               const Config& config) {
  if (auto zone = event.timezone(); !zone.empty() && valid_timezone(zone)) return zone;
  if (auto zone = country_timezone(country)) return *zone;
  return config.default_timezone;
}


// customer.consent.sms (or .email) is true: the customer agreed to
// marketing on that channel.
bool has_marketing_consent(const Event& event, ChannelKind kind) {
  auto value = field_text(event.doc, "customer.consent." + to_string(kind));
  return value && *value == "true";
}

}  // namespace

RenderContext Snapshot::render_context() const {
  RenderContext context;
  context.max_output_bytes = config.limits.max_message_bytes;
  context.default_locale = config.default_locale;
  context.default_timezone = config.default_timezone;
  context.shop = config.shop.fields;
  return context;
}

std::string Snapshot::optout_url(ChannelKind kind, const std::string& address,
                                 const std::string& locale, std::int64_t now_ms) const {
  if (!config.http || address.empty()) return {};
  return opt_out_url(config.http->public_url, config.http->optout_secret,
                     {kind, address, locale, now_ms / 1000});
}

std::string idempotency_key(const std::string& event_id, const std::string& rule,
                            const std::string& channel) {
  std::string material = event_id;
  material.push_back('\0');
  material += rule;
  material.push_back('\0');
  material += channel;
  return "tack-" + sha256_hex(material).substr(0, 32);
}

EventRecord plan_event(std::string_view text, const Snapshot& snapshot, const std::string& source,
                       std::int64_t now_ms) {
  const Config& config = snapshot.config;
  EventRecord record;
  record.source = source;
  auto parsed = parse_event(text, config.statuses, config.limits);
  if (!parsed.event) {
    record.claimed_event_id = parsed.event_id;
    record.order_id = parsed.order_id;
    record.reject_reason = parsed.reason;
    record.payload = std::string(text.substr(0, kRejectedPayloadCap));
    return record;
  }
  const Event& event = *parsed.event;
  record.event_id = event.event_id;
  record.order_id = event.order_id;
  record.status = event.status;
  record.occurred_at_ms = event.occurred_at_ms;
  record.rank = config.statuses.rank(event.status);
  record.terminal = config.statuses.is_terminal(event.status);
  record.side = config.statuses.is_side(event.status);
  record.payload = std::string(text);

  auto rules = matching_rules(config.rules, event.status, event.doc);
  if (!rules.empty() && event.phone().empty() && event.email().empty()) {
    record.event_id.clear();
    record.claimed_event_id = event.event_id;
    record.reject_reason = "no recipient: the customer has neither phone nor email";
    return record;
  }
  auto context = snapshot.render_context();
  context.now_ms = now_ms;
  const std::string customer_locale =
      event.locale().empty() ? config.default_locale : event.locale();

  // The order's messages of rules whose `unless` this status reaches, still
  // waiting for their time, are no longer wanted.
  record.cancels_rules = rules_cancelled_by(config.rules, config.statuses, event.status);
  if (!record.cancels_rules.empty()) {
    record.cancel_note = "cancelled: order " + event.status + " (event " + event.event_id + ")";
  }

  // One message of `rule` on `channel` to `recipient`: rendered now, held
  // by quiet hours, scheduled for its time (rendered then), or skipped.
  auto make_message = [&](const RuleConfig& rule, const ChannelConfig& channel,
                          const Recipient& recipient) {
    const std::string locale = rule.to.empty() ? customer_locale : config.default_locale;
    const std::string country =
        rule.to.empty() ? recipient_country(event, recipient, config) : config.default_region;
    const std::string timezone =
        rule.to.empty() ? recipient_timezone(event, country, config) : config.default_timezone;
    NewMessage m;
    m.rule = rule.name;
    m.channel = channel.name;
    m.kind = channel.kind;
    m.template_name = rule.template_name;
    m.locale = locale;
    m.recipient = recipient.address;
    m.gateway = channel.gateways.empty() ? std::string() : channel.gateways.front();
    m.idempotency_key = idempotency_key(event.event_id, rule.name, channel.name);
    // News on a side track (an invoice paid) overtakes no status update.
    m.supersede = record.side ? SupersedePolicy::Never : rule.supersede;
    m.timezone = timezone;
    m.country = country;
    m.urgent = rule.urgent;
    m.ignore_opt_out = rule.ignore_opt_out && rule.purpose != RuleConfig::Purpose::Marketing;
    // The customer's own link to opt out of this channel ({{optout_url}});
    // a marketing e-mail carries it as List-Unsubscribe too (RFC 8058).
    auto message_context = context;
    if (rule.to.empty() && recipient.problem.empty()) {
      message_context.optout_url = snapshot.optout_url(channel.kind, recipient.address, locale, now_ms);
      if (rule.purpose == RuleConfig::Purpose::Marketing && channel.kind == ChannelKind::Email) {
        m.unsubscribe_url = message_context.optout_url;
      }
    }
    if (!rule.urgent && channel.cap_max > 0) {
      m.cap = {channel.cap_max, channel.cap_per.count(), channel.cap_text};
    }
    if (rule.ttl.count() > 0) m.expires_at_ms = event.occurred_at_ms + rule.ttl.count();
    if (recipient.problem.empty() && rule.purpose == RuleConfig::Purpose::Marketing &&
        !has_marketing_consent(event, channel.kind)) {
      m.state = MessageState::Skipped;
      m.note = "skipped: no marketing consent for " + to_string(channel.kind);
      return m;
    }
    if (rule.delayed() && recipient.problem.empty()) {
      // Rendered when due, with that day's templates (the scheduler).
      const auto due = due_at(rule, event.doc, event.occurred_at_ms, timezone);
      m.state = MessageState::Scheduled;
      m.render_when_due = true;
      m.once_per_order = true;
      m.due_at_ms = due.value_or(now_ms);
      m.note = describe_timing(rule, event.status);
      if (rule.ttl.count() > 0) m.expires_at_ms = m.due_at_ms + rule.ttl.count();
      return m;
    }
    auto rendered = snapshot.templates
                        ? snapshot.templates->render(rule.template_name, channel.kind, event.doc,
                                                     locale, message_context)
                        : RenderResult{std::nullopt, "no templates loaded"};
    // An SMS is stored as it will travel (transliterated where the channel
    // says), and one over the channel's segment budget is refused.
    std::string over_budget;
    if (rendered.message && channel.kind == ChannelKind::Sms) {
      SmsFit fit = fit_sms(std::move(rendered.message->text), rendered.message->locale, config,
                           channel);
      rendered.message->text = std::move(fit.text);
      over_budget = std::move(fit.refusal);
    }
    if (!recipient.problem.empty()) {
      // Rendered all the same: support may correct the order's address
      // (StoreTx::correct_contact), and then this text goes there, unless
      // it is over the segment budget too.
      m.state = MessageState::Failed;
      m.last_error = over_budget.empty() ? recipient.problem
                                         : recipient.problem + "; " + over_budget;
      m.recipient_refused = rendered.message.has_value() && over_budget.empty();
      if (rendered.message) {
        m.locale = rendered.message->locale;
        m.subject = std::move(rendered.message->subject);
        m.text = std::move(rendered.message->text);
        m.html = std::move(rendered.message->html);
      }
      return m;
    }
    if (!rendered.message) {
      m.state = MessageState::Failed;
      m.last_error = "template " + rule.template_name + ": " + rendered.error;
      return m;
    }
    m.locale = rendered.message->locale;
    m.subject = std::move(rendered.message->subject);
    m.text = std::move(rendered.message->text);
    m.html = std::move(rendered.message->html);
    if (!over_budget.empty()) {
      // Kept with its text, so support sees what was refused.
      m.state = MessageState::Failed;
      m.last_error = std::move(over_budget);
      return m;
    }
    if (auto held = quiet_hours_hold(channel, rule.urgent, config.quiet_hours.window_for(country),
                                     timezone, now_ms)) {
      m.state = MessageState::Scheduled;
      m.due_at_ms = held->until_ms;
      m.note = std::move(held->note);
    }
    return m;
  };
  auto planned = [&record](const std::string& key) {
    for (const auto& other : record.messages) {
      if (other.idempotency_key == key) return true;
    }
    return false;
  };

  for (const RuleConfig* rule : rules) {
    // A promise watch whose awaited status this event already is.
    if (!rule->unless.empty() && reached_any(config.statuses, rule->unless, event.status)) continue;
    // A delayed rule counting from a time the event does not carry.
    if (!rule->from.empty() && !due_at(*rule, event.doc, event.occurred_at_ms, "UTC")) continue;
    const ChannelConfig* fallback =
        rule->fallback_channel.empty() ? nullptr : config.channel(rule->fallback_channel);
    for (const auto& channel_name : rule->channels) {
      const ChannelConfig* channel = config.channel(channel_name);
      if (!channel) continue;  // the config loader rejects this; stay safe on reload
      if (!rule->to.empty()) {
        auto m = make_message(*rule, *channel, fixed_recipient(rule->to, channel->kind, config));
        if (!planned(m.idempotency_key)) record.messages.push_back(std::move(m));
        continue;
      }
      auto recipient = recipient_for(event, channel->kind, config);
      // A channel that cannot reach this customer hands over to the rule's
      // fallback channel (SMS to a landline -> e-mail), if there is one.
      bool fell_back = false;
      if (!recipient.problem.empty() && fallback && fallback != channel) {
        auto other = recipient_for(event, fallback->kind, config);
        if (other.problem.empty()) {
          channel = fallback;
          recipient = other;
          fell_back = true;
        }
      }
      auto m = make_message(*rule, *channel, recipient);
      if (planned(m.idempotency_key)) continue;
      // A standby needs its text now: not for a message rendered only when due.
      const bool queued = m.state == MessageState::Queued ||
                          (m.state == MessageState::Scheduled && !m.render_when_due);
      record.messages.push_back(std::move(m));
      // The fallback also stands by for a permanent failure on the way
      // (a rejected number, a provider that gave up): rendered now, sent
      // only if this message fails.
      if (!queued || fell_back || !fallback || fallback == channel) continue;
      auto other = recipient_for(event, fallback->kind, config);
      if (!other.problem.empty()) continue;
      auto standby = make_message(*rule, *fallback, other);
      const bool ready = standby.state == MessageState::Queued ||
                         (standby.state == MessageState::Scheduled && !standby.render_when_due);
      if (!ready || planned(standby.idempotency_key)) continue;
      // A rule that also sends on the fallback channel needs no standby.
      if (std::find(rule->channels.begin(), rule->channels.end(), fallback->name) !=
          rule->channels.end()) {
        continue;
      }
      standby.state = MessageState::Standby;
      standby.due_at_ms = 0;
      standby.note.clear();
      standby.standby_for = static_cast<int>(record.messages.size()) - 1;
      record.messages.push_back(std::move(standby));
    }
  }
  return record;
}

Intake::Intake(Store& store, std::shared_ptr<const Snapshot> snapshot, Now now)
    : store_(store), snapshot_(std::move(snapshot)), now_(std::move(now)) {}

void Intake::set_snapshot(std::shared_ptr<const Snapshot> snapshot) {
  std::lock_guard lock(mutex_);
  snapshot_ = std::move(snapshot);
}

std::shared_ptr<const Snapshot> Intake::snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

void Intake::submit(std::vector<std::string> documents, const std::string& source,
                    std::function<void(IntakeBatch)> done) {
  auto snap = snapshot();
  auto records = std::make_shared<std::vector<EventRecord>>();
  records->reserve(documents.size());
  const auto now = now_();
  for (const auto& doc : documents) records->push_back(plan_event(doc, *snap, source, now));
  commit(std::move(records), source, std::move(done));
}

void Intake::record_refused(const std::string& source, std::string reason,
                            std::function<void(IntakeBatch)> done) {
  auto records = std::make_shared<std::vector<EventRecord>>(1);
  records->front().source = source;
  records->front().reject_reason = std::move(reason);
  commit(std::move(records), source, std::move(done));
}

void Intake::commit(std::shared_ptr<std::vector<EventRecord>> records, const std::string& source,
                    std::function<void(IntakeBatch)> done) {
  auto results = std::make_shared<std::vector<EventResult>>();
  store_.submit(
      [records, results, now = now_](StoreTx& tx) {
        auto at = now();
        results->clear();
        for (const auto& r : *records) results->push_back(tx.apply_event(r, at));
      },
      [results, done = std::move(done), source, this](const std::string& error) {
        IntakeBatch batch;
        batch.error = error;
        if (error.empty()) batch.results = std::move(*results);
        if (metrics_) {
          for (const auto& r : batch.results) metrics_->event(source, to_string(r.verdict));
        }
        int created = 0;
        for (const auto& r : batch.results) created += r.messages_created;
        if (created > 0 && on_new_messages_) on_new_messages_();
        done(std::move(batch));
      });
}

IntakeBatch Intake::submit_and_wait(std::vector<std::string> documents, const std::string& source) {
  std::promise<IntakeBatch> promise;
  auto future = promise.get_future();
  submit(std::move(documents), source,
         [&promise](IntakeBatch batch) { promise.set_value(std::move(batch)); });
  return future.get();
}

}  // namespace tack
