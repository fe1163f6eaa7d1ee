#include "delivery_text.hpp"

#include <date/tz.h>

#include <algorithm>
#include <chrono>
#include <utility>

namespace tack {

namespace {

// A state's name as a person reads it: the stored name ("retry_wait"), the
// one vocabulary of the metrics, the API and the page, with spaces.
std::string state_words(MessageState state) {
  std::string words(to_string(state));
  std::replace(words.begin(), words.end(), '_', ' ');
  return words;
}

// "SMS" / "e-mail", and their plurals.
std::string kind_words(const std::string& kind, long count) {
  if (kind == "sms") return "SMS";
  if (kind == "email") return count == 1 ? "e-mail" : "e-mails";
  return kind + (count == 1 ? "" : "s");
}

int kind_rank(const std::string& kind) {
  if (kind == "sms") return 0;
  if (kind == "email") return 1;
  return 2;
}

std::string indent(const std::string& text, const std::string& prefix) {
  std::string out = prefix;
  for (std::size_t i = 0; i < text.size(); ++i) {
    out.push_back(text[i]);
    if (text[i] == '\n' && i + 1 < text.size()) out += prefix;
  }
  return out;
}

// The channel once when it is named after its kind ("sms"), both when not
// ("sms-backup (sms)").
std::string channel_words(const MessageView& m) {
  return m.channel == m.kind ? m.channel : m.channel + " (" + m.kind + ")";
}

// The provider's id on the message when no attempt shows it already.
bool provider_id_only_on_message(const MessageView& m) {
  if (m.provider_id.empty()) return false;
  return std::none_of(m.attempt_log.begin(), m.attempt_log.end(),
                      [&](const AttemptView& a) { return a.provider_id == m.provider_id; });
}

// What a receipt says, as a person reads it.
std::string receipt_words(const ReceiptView& r, const std::string& kind) {
  switch (r.kind) {
    case ReceiptKind::Progress: return "on its way (" + r.status + ")";
    case ReceiptKind::Delivered:
      return kind == "email" ? "delivered to the mail server" : "delivered to the phone";
    case ReceiptKind::Undelivered: return "not delivered";
    case ReceiptKind::Bounced: return "bounced";
  }
  return r.status;
}

// "accepted by sms-46elks 10:02:11 → delivered to the phone 10:02:14": the
// send the provider took, then each of its receipts.
std::string receipt_timeline(const MessageView& m, const date::time_zone* zone) {
  if (m.receipts.empty()) return {};
  std::string out = "  delivery: ";
  const auto accepted = std::find_if(m.attempt_log.rbegin(), m.attempt_log.rend(),
                                     [](const AttemptView& a) { return a.outcome == "sent"; });
  if (accepted != m.attempt_log.rend()) {
    out += "accepted by " + accepted->gateway + " " +
           local_time(accepted->started_at_ms + accepted->duration_ms, zone) + " → ";
  }
  for (std::size_t i = 0; i < m.receipts.size(); ++i) {
    const auto& r = m.receipts[i];
    if (i > 0) out += " → ";
    out += receipt_words(r, m.kind) + " " + local_time(r.at_ms, zone);
    if (r.kind != ReceiptKind::Progress && r.kind != ReceiptKind::Delivered) {
      std::string why = r.status;
      if (!r.reason.empty()) why += (why.empty() ? "" : ": ") + r.reason;
      if (!why.empty()) out += " (" + why + ")";
    }
  }
  return out + "\n";
}

void sort_messages(std::vector<MessageView>& messages, bool oldest_first) {
  std::stable_sort(messages.begin(), messages.end(),
                   [&](const MessageView& a, const MessageView& b) {
                     return oldest_first ? a.id < b.id : a.id > b.id;
                   });
}

}  // namespace

std::string local_time(std::int64_t unix_ms, const date::time_zone* zone) {
  if (unix_ms <= 0) return "-";
  using namespace std::chrono;
  const auto at = date::floor<seconds>(sys_time<milliseconds>(milliseconds(unix_ms)));
  if (!zone) return date::format("%F %T UTC", at);
  return date::format("%F %T %Z", date::make_zoned(zone, at));
}

std::string delivery_summary(const std::string& subject, const std::vector<MessageView>& messages,
                             const DeliveryTextOptions& options) {
  std::string out = subject + ": " + std::to_string(messages.size()) +
                    (messages.size() == 1 ? " message" : " messages");
  // Counted by kind (SMS first), then by state in the lifecycle's order.
  std::map<std::pair<int, std::string>, std::map<int, long>> counts;
  for (const auto& m : messages) {
    ++counts[{kind_rank(m.kind), m.kind}][static_cast<int>(m.state)];
  }
  std::vector<std::string> parts;
  for (const auto& [kind, states] : counts) {
    for (const auto& [state, count] : states) {
      parts.push_back(std::to_string(count) + " " + kind_words(kind.second, count) + " " +
                      state_words(static_cast<MessageState>(state)));
    }
  }
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : ": ") + parts[i];
  // Waiting: every message not yet at its end (held and standby ones too:
  // they may still go out); the next attempt, when one has a time.
  long pending = 0;
  std::optional<std::int64_t> next;
  for (const auto& m : messages) {
    if (!is_pending(m.state)) continue;
    ++pending;
    if (is_waiting(m.state) && m.next_attempt_at_ms > 0) {
      next = next ? std::min(*next, m.next_attempt_at_ms) : m.next_attempt_at_ms;
    }
  }
  if (pending == 0) {
    out += "; nothing waiting";
  } else {
    out += "; " + std::to_string(pending) + " waiting";
    if (next) out += ", next attempt " + local_time(*next, options.zone);
  }
  return out + "\n";
}

std::string message_text(const MessageView& m, const std::vector<AuditEntry>& audit,
                         const DeliveryTextOptions& options) {
  const auto* zone = options.zone;
  std::string out = "message " + std::to_string(m.id) + "  " + channel_words(m) + " to " +
                    m.recipient + "  state: " + state_words(m.state) + "\n";
  out += "  order " + m.order_id + ", rule " + m.rule + ", template " + m.template_name + " (" +
         m.locale + "), created " + local_time(m.created_at_ms, zone) + "\n";
  if (m.fallback_for) {
    out += "  fallback for message " + std::to_string(m.fallback_for);
    if (m.attempt_log.empty() && is_pending(m.state) && !is_waiting(m.state)) {
      out += ": sent only if that one fails";
    }
    out += "\n";
  }
  if (provider_id_only_on_message(m)) out += "  provider id: " + m.provider_id + "\n";
  const bool refused = m.refused_by_tack();
  if (!m.last_error.empty() && !refused) out += "  last error: " + m.last_error + "\n";
  if (!m.note.empty()) out += "  why: " + m.note + "\n";
  if (is_scheduled(m.state) && m.next_attempt_at_ms > 0) {
    out += "  due: " + local_time(m.next_attempt_at_ms, zone) +
           (m.text.empty() ? " (written then, with that day's templates)" : "") + "\n";
  } else if (is_waiting(m.state) && m.next_attempt_at_ms > 0) {
    out += std::string(m.attempt_log.empty() ? "  first attempt: " : "  next attempt: ") +
           local_time(m.next_attempt_at_ms, zone) + "\n";
  }
  if (!m.subject.empty()) out += "  subject: " + m.subject + "\n";
  if (!m.text.empty() || !is_scheduled(m.state)) out += "  text:\n" + indent(m.text, "    | ") + "\n";
  if (m.attempt_log.empty()) {
    if (refused) {
      out += "  never sent: tack refused it before any provider saw it: " + m.last_error + "\n";
    } else if (is_waiting(m.state)) {
      out += "  not tried yet\n";
    } else if (is_final(m.state)) {
      out += "  never sent: " + state_words(m.state) + "\n";
    } else {
      out += "  no attempt while " + state_words(m.state) + "\n";
    }
  }
  for (const auto& a : m.attempt_log) {
    out += "  attempt " + std::to_string(a.number) + "  " + local_time(a.started_at_ms, zone) +
           "  via " + a.gateway + "  " + a.outcome + "  " + std::to_string(a.duration_ms) + " ms";
    if (!a.provider_id.empty()) out += "  provider id " + a.provider_id;
    if (!a.detail.empty()) out += "\n    gateway said: " + a.detail;
    out += "\n";
  }
  out += receipt_timeline(m, zone);
  for (const auto& a : audit) {
    out += "  " + a.action + " by " + a.actor + "  " + local_time(a.at_ms, zone);
    if (!a.detail.empty()) out += "  (" + a.detail + ")";
    out += "\n";
  }
  return out;
}

std::string order_text(const OrderTimeline& t, const DeliveryTextOptions& options) {
  std::string out = delivery_summary("order " + t.order_id, t.messages, options);
  if (t.status) out += "status: " + *t.status + "\n";
  auto events = t.events;
  if (!options.oldest_first) std::reverse(events.begin(), events.end());
  if (events.empty()) out += "no events received for this order\n";
  if (t.events_omitted > 0) {
    out += "(" + std::to_string(t.events_omitted) + " older events left out)\n";
  }
  for (const auto& e : events) {
    out += "event " + e.event_id + "  " + (e.status.empty() ? "?" : e.status) + "  occurred " +
           local_time(e.occurred_at_ms, options.zone) + "  received " +
           local_time(e.received_at_ms, options.zone) + "  " + e.verdict;
    if (!e.reason.empty()) out += ": " + e.reason;
    if (e.duplicates > 0) {
      out += "  (received " + std::to_string(e.duplicates) + " more time" +
             (e.duplicates == 1 ? "" : "s") + ")";
    }
    out += "\n";
  }
  // What staff did to the order itself (a note, a corrected address), each
  // line of its text indented under who did it and when.
  for (const auto& a : t.audit) {
    if (a.target != "order " + t.order_id) continue;
    out += a.action + " by " + a.actor + "  " + local_time(a.at_ms, options.zone) + "\n";
    if (!a.detail.empty()) out += indent(a.detail, "  ") + "\n";
  }
  std::map<std::int64_t, std::vector<AuditEntry>> audit;
  for (const auto& a : t.audit) {
    constexpr std::string_view kPrefix = "message ";
    if (a.target.rfind(kPrefix, 0) != 0) continue;
    try {
      audit[std::stoll(a.target.substr(kPrefix.size()))].push_back(a);
    } catch (const std::exception&) {
      // Not a message's action: shown with none.
    }
  }
  auto messages = t.messages;
  sort_messages(messages, options.oldest_first);
  for (const auto& m : messages) {
    auto found = audit.find(m.id);
    out += "\n" + message_text(m, found == audit.end() ? std::vector<AuditEntry>{} : found->second,
                               options);
  }
  return out;
}

std::string messages_text(const std::string& subject, std::vector<MessageView> messages,
                          const std::map<std::int64_t, std::vector<AuditEntry>>& audit,
                          const DeliveryTextOptions& options) {
  if (messages.empty()) return subject + ": no messages found\n";
  std::string out = delivery_summary(subject, messages, options);
  sort_messages(messages, options.oldest_first);
  for (const auto& m : messages) {
    auto found = audit.find(m.id);
    out += "\n" + message_text(m, found == audit.end() ? std::vector<AuditEntry>{} : found->second,
                               options);
  }
  return out;
}

}  // namespace tack
