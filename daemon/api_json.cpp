#include "api_json.hpp"

#include <date/date.h>

#include <chrono>
#include <string>

namespace tack {

nlohmann::json time_json(std::int64_t unix_ms) {
  if (unix_ms <= 0) return nullptr;
  using namespace std::chrono;
  return date::format("%FT%TZ", sys_time<milliseconds>(milliseconds(unix_ms)));
}

nlohmann::json verb_names(const std::vector<OperatorVerb>& verbs) {
  auto out = nlohmann::json::array();
  for (auto v : verbs) out.push_back(std::string(to_string(v)));
  return out;
}

nlohmann::json message_json(const MessageView& m, bool with_html) {
  nlohmann::json attempts = nlohmann::json::array();
  for (const auto& a : m.attempt_log) {
    attempts.push_back({{"number", a.number},
                        {"gateway", a.gateway},
                        {"started_at", time_json(a.started_at_ms)},
                        {"duration_ms", a.duration_ms},
                        {"outcome", a.outcome},
                        {"detail", a.detail},
                        {"provider_id", a.provider_id}});
  }
  nlohmann::json receipts = nlohmann::json::array();
  for (const auto& r : m.receipts) {
    receipts.push_back({{"gateway", r.gateway},
                        {"kind", to_string(r.kind)},
                        {"status", r.status},
                        {"reason", r.reason},
                        {"at", time_json(r.at_ms)},
                        {"received_at", time_json(r.received_at_ms)}});
  }
  nlohmann::json out = {
      {"id", m.id},
      {"order_id", m.order_id},
      {"event_id", m.event_id},
      {"rule", m.rule},
      {"channel", m.channel},
      {"kind", m.kind},
      {"template", m.template_name},
      {"locale", m.locale},
      {"to", m.recipient},
      {"subject", m.subject},
      {"text", m.text},
      {"state", to_string(m.state)},
      {"gateway", m.gateway},
      {"attempts", m.attempts},
      {"idempotency_key", m.idempotency_key},
      {"provider_id", m.provider_id},
      {"last_error", m.last_error},
      // Why it waits, or why it was cancelled or skipped ("held: quiet hours
      // until 08:00 Europe/Stockholm", "3d after delivered, unless returned").
      {"note", m.note},
      {"timezone", m.timezone},
      {"fallback_for", m.fallback_for ? nlohmann::json(m.fallback_for) : nlohmann::json()},
      // Support sent it again (a resend, a corrected address): the original.
      {"resent_from", m.copy_of ? nlohmann::json(m.copy_of) : nlohmann::json()},
      {"created_at", time_json(m.created_at_ms)},
      {"updated_at", time_json(m.updated_at_ms)},
      {"next_attempt_at", is_waiting(m.state) ? time_json(m.next_attempt_at_ms) : nullptr},
      {"attempt_log", std::move(attempts)},
      // What the provider reported after it took the message, oldest first.
      {"receipts", std::move(receipts)},
      // What an operator can do with it now; a message tack refused
      // itself offers no retry.
      {"actions", verb_names(m.actions())},
      {"refused_by_tack", m.refused_by_tack()},
  };
  if (with_html) out["html"] = m.html;
  return out;
}

nlohmann::json audit_json(const AuditEntry& a) {
  return {{"at", time_json(a.at_ms)},
          {"actor", a.actor},
          {"action", a.action},
          {"target", a.target},
          {"detail", a.detail}};
}

nlohmann::json event_json(const EventView& e) {
  return {{"event_id", e.event_id},
          {"status", e.status},
          {"occurred_at", time_json(e.occurred_at_ms)},
          {"received_at", time_json(e.received_at_ms)},
          {"verdict", e.verdict},
          {"reason", e.reason},
          {"source", e.source},
          {"duplicates", e.duplicates},
          {"customer_name", e.customer_name},
          {"tracking_url", e.tracking_url}};
}

nlohmann::json order_json(const OrderTimeline& t, const std::string& timezone) {
  nlohmann::json events = nlohmann::json::array();
  for (const auto& e : t.events) events.push_back(event_json(e));
  nlohmann::json messages = nlohmann::json::array();
  for (const auto& m : t.messages) messages.push_back(message_json(m, true));
  nlohmann::json audit = nlohmann::json::array();
  for (const auto& a : t.audit) audit.push_back(audit_json(a));
  nlohmann::json next = nullptr;
  if (t.next_contact) {
    next = {{"message_id", t.next_contact->first}, {"due_at", time_json(t.next_contact->second)}};
  }
  nlohmann::json contact = nullptr;
  if (t.corrected_contact) {
    const auto& c = *t.corrected_contact;
    contact = {{"phone", c.phone.empty() ? nlohmann::json() : nlohmann::json(c.phone)},
               {"email", c.email.empty() ? nlohmann::json() : nlohmann::json(c.email)}};
  }
  return {{"order_id", t.order_id},
          {"status", t.status ? nlohmann::json(*t.status) : nullptr},
          {"events", events},
          {"older_events_omitted", t.events_omitted},
          {"messages", messages},
          {"audit", audit},
          {"older_audit_omitted", t.audit_omitted},
          {"next_contact", next},
          {"corrected_contact", contact},
          {"timezone", timezone}};
}

}  // namespace tack
