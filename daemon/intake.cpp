#include "intake.hpp"

#include <algorithm>
#include <future>

#include "digest.hpp"
#include "event.hpp"
#include "phone.hpp"
#include "rules.hpp"

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
};

Recipient recipient_for(const Event& event, ChannelKind kind, const Config& config) {
  if (kind == ChannelKind::Email) {
    auto email = event.email();
    if (email.empty()) return {"", "no e-mail address in the event"};
    if (!plausible_email(email)) return {email, "invalid e-mail address"};
    return {email, ""};
  }
  auto raw = event.phone();
  if (raw.empty()) return {"", "no phone number in the event"};
  const std::string country = event.country(), locale = event.locale();
  auto phone = normalize_customer_phone(raw, {country, locale, config.default_region});
  if (!phone.ok) return {raw, "invalid phone number: " + phone.error};
  if (phone.is_fixed_line) return {phone.e164, "phone number is a fixed line and cannot take SMS"};
  return {phone.e164, ""};
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

std::string idempotency_key(const std::string& event_id, const std::string& rule,
                            const std::string& channel) {
  std::string material = event_id;
  material.push_back('\0');
  material += rule;
  material.push_back('\0');
  material += channel;
  return "tack-" + sha256_hex(material).substr(0, 32);
}

EventRecord plan_event(std::string_view text, const Snapshot& snapshot,
                       const std::string& source) {
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
  record.payload = std::string(text);

  auto rules = matching_rules(config.rules, event.status, event.doc);
  if (!rules.empty() && event.phone().empty() && event.email().empty()) {
    record.event_id.clear();
    record.claimed_event_id = event.event_id;
    record.reject_reason = "no recipient: the customer has neither phone nor email";
    return record;
  }
  const auto context = snapshot.render_context();
  const std::string locale = event.locale().empty() ? config.default_locale : event.locale();

  // One message of `rule` on `channel` to `recipient`, rendered.
  auto make_message = [&](const RuleConfig& rule, const ChannelConfig& channel,
                          const Recipient& recipient) {
    NewMessage m;
    m.rule = rule.name;
    m.channel = channel.name;
    m.kind = channel.kind;
    m.template_name = rule.template_name;
    m.locale = locale;
    m.recipient = recipient.address;
    m.gateway = channel.gateways.empty() ? std::string() : channel.gateways.front();
    m.idempotency_key = idempotency_key(event.event_id, rule.name, channel.name);
    if (rule.ttl.count() > 0) m.expires_at_ms = event.occurred_at_ms + rule.ttl.count();
    auto rendered = snapshot.templates
                        ? snapshot.templates->render(rule.template_name, channel.kind, event.doc,
                                                     locale, context)
                        : RenderResult{std::nullopt, "no templates loaded"};
    if (!recipient.problem.empty()) {
      // Rendered all the same: support may correct the order's address
      // (StoreTx::correct_contact), and then this text goes there.
      m.state = MessageState::Failed;
      m.last_error = recipient.problem;
      m.recipient_refused = rendered.message.has_value();
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
    } else {
      m.locale = rendered.message->locale;
      m.subject = std::move(rendered.message->subject);
      m.text = std::move(rendered.message->text);
      m.html = std::move(rendered.message->html);
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
    const ChannelConfig* fallback =
        rule->fallback_channel.empty() ? nullptr : config.channel(rule->fallback_channel);
    for (const auto& channel_name : rule->channels) {
      const ChannelConfig* channel = config.channel(channel_name);
      if (!channel) continue;  // the config loader rejects this; stay safe on reload
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
      const bool queued = m.state == MessageState::Queued;
      record.messages.push_back(std::move(m));
      // The fallback also stands by for a permanent failure on the way
      // (a rejected number, a provider that gave up): rendered now, sent
      // only if this message fails.
      if (!queued || fell_back || !fallback || fallback == channel) continue;
      auto other = recipient_for(event, fallback->kind, config);
      if (!other.problem.empty()) continue;
      auto standby = make_message(*rule, *fallback, other);
      if (standby.state != MessageState::Queued || planned(standby.idempotency_key)) continue;
      // A rule that also sends on the fallback channel needs no standby.
      if (std::find(rule->channels.begin(), rule->channels.end(), fallback->name) !=
          rule->channels.end()) {
        continue;
      }
      standby.state = MessageState::Standby;
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
  for (const auto& doc : documents) records->push_back(plan_event(doc, *snap, source));
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
