#include "store/sqlite/ops.hpp"

#include "digest.hpp"

#include <nlohmann/json.hpp>

namespace tack::sqlite {

const char* const kMessageColumns =
    "id, event_id, order_id, rule, channel, kind, template, locale, recipient, subject, body, "
    "html, state, gateway, idempotency_key, provider_id, last_error, attempts, created_at, "
    "updated_at, next_attempt_at, fallback_for, copy_of, note, timezone";

const char* const kEventColumns =
    "event_id, claimed_event_id, order_id, status, occurred_at, received_at, source, verdict, "
    "reason, duplicates, payload";

std::string event_tombstone(const std::string& event_id) { return sha256_bytes(event_id); }

bool over_frequency_cap(Db& db, const std::string& recipient, const std::string& channel,
                        const FrequencyCap& cap, std::int64_t now_ms) {
  if (cap.max <= 0 || cap.window_ms <= 0) return false;
  static const std::string sql =
      "SELECT COUNT(*) FROM messages WHERE recipient = ?1 COLLATE NOCASE AND channel = ?2 AND "
      "updated_at > ?3 AND state IN " + sql_state_list(reaches_customer);
  auto count = db.prepare(sql);
  count.bind(1, recipient).bind(2, channel).bind(3, now_ms - cap.window_ms);
  return count.step() && count.int64(0) >= cap.max;
}

MessageState state_column(Stmt& s, int column) {
  const auto name = s.text(column);
  auto state = parse_state(name);
  // Written by a newer tackd, or by hand: say so rather than guess.
  if (!state) throw SqliteError(0, "the store holds a message in an unknown state '" + name + "'");
  return *state;
}

MessageView read_message_row(Stmt& s) {
  MessageView m;
  m.id = s.int64(0);
  m.event_id = s.text(1);
  m.order_id = s.text(2);
  m.rule = s.text(3);
  m.channel = s.text(4);
  m.kind = s.text(5);
  m.template_name = s.text(6);
  m.locale = s.text(7);
  m.recipient = s.text(8);
  m.subject = s.text(9);
  m.text = s.text(10);
  m.html = s.text(11);
  m.state = state_column(s, 12);
  m.gateway = s.text(13);
  m.idempotency_key = s.text(14);
  m.provider_id = s.text(15);
  m.last_error = s.text(16);
  m.attempts = static_cast<int>(s.int64(17));
  m.created_at_ms = s.int64(18);
  m.updated_at_ms = s.int64(19);
  m.next_attempt_at_ms = s.int64(20);
  m.fallback_for = s.is_null(21) ? 0 : s.int64(21);
  m.copy_of = s.is_null(22) ? 0 : s.int64(22);
  m.note = s.text(23);
  m.timezone = s.text(24);
  return m;
}

void load_attempt_logs(Db& db, std::vector<MessageView>& messages) {
  auto attempts = db.prepare(
      "SELECT number, gateway, started_at, duration_ms, outcome, detail, provider_id "
      "FROM attempts WHERE message_id = ?1 ORDER BY id");
  for (auto& m : messages) {
    attempts.bind(1, m.id);
    while (attempts.step()) {
      AttemptView a;
      a.number = static_cast<int>(attempts.int64(0));
      a.gateway = attempts.text(1);
      a.started_at_ms = attempts.int64(2);
      a.duration_ms = attempts.int64(3);
      a.outcome = attempts.text(4);
      a.detail = attempts.text(5);
      a.provider_id = attempts.text(6);
      m.attempt_log.push_back(std::move(a));
    }
    attempts.reset();
  }
  load_receipts(db, messages);
}

std::vector<EventView> read_events(Stmt& s) {
  std::vector<EventView> out;
  while (s.step()) {
    EventView e;
    e.event_id = s.is_null(0) ? s.text(1) : s.text(0);
    e.order_id = s.text(2);
    e.status = s.text(3);
    e.occurred_at_ms = s.int64(4);
    e.received_at_ms = s.int64(5);
    e.source = s.text(6);
    e.verdict = s.text(7);
    e.reason = s.text(8);
    e.duplicates = static_cast<int>(s.int64(9));
    if (!s.is_null(10)) {
      // Not JSON (a rejected event's bytes, an erased payload): no name.
      const auto payload = nlohmann::json::parse(s.text(10), nullptr, false);
      auto text_at = [&payload](const char* object, const char* field) {
        if (!payload.is_object()) return std::string();
        const auto outer = payload.find(object);
        if (outer == payload.end() || !outer->is_object()) return std::string();
        const auto inner = outer->find(field);
        return inner != outer->end() && inner->is_string() ? inner->get<std::string>()
                                                            : std::string();
      };
      e.customer_name = text_at("customer", "name");
      e.tracking_url = text_at("delivery", "tracking_url");
    }
    out.push_back(std::move(e));
  }
  return out;
}

void audit(Db& db, const std::string& actor, const std::string& action, const std::string& target,
           const std::string& detail, std::int64_t now_ms) {
  db.prepare("INSERT INTO audit (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)")
      .bind(1, now_ms)
      .bind(2, actor)
      .bind(3, action)
      .bind(4, target)
      .bind(5, detail)
      .run();
}

void settle_standby(Db& db, std::int64_t primary_id, MessageState primary, const std::string& why,
                    std::int64_t now_ms, std::int64_t receipt_wait_ms) {
  const auto fate = standby_fate(primary, receipt_wait_ms > 0);
  switch (fate.action) {
    case StandbyFate::Action::Wait:
      if (primary == MessageState::Sent && receipt_wait_ms > 0) {
        // expire_overdue settles it as not needed once the wait is over.
        db.prepare(
              "UPDATE messages SET next_attempt_at = ?2, updated_at = ?3, note = 'waits for the "
              "delivery receipt of message ' || ?1 WHERE fallback_for = ?1 AND state = "
              "'standby'")
            .bind(1, primary_id)
            .bind(2, now_ms + receipt_wait_ms)
            .bind(3, now_ms)
            .run();
      }
      return;
    case StandbyFate::Action::Release: {
      // Unless newer news for this order already went out on that channel:
      // then the fallback would arrive out of date (per-order order).
      static const std::string sql =
          "UPDATE messages SET updated_at = ?2, next_attempt_at = ?2, round_started_at = ?2, "
          "state = CASE WHEN EXISTS (SELECT 1 FROM messages n WHERE n.order_id = "
          "messages.order_id AND n.channel = messages.channel AND n.id > messages.id AND " +
          sql_state_is(carries_news, "n.state") + ") THEN '" +
          std::string(to_string(MessageState::Superseded)) + "' ELSE '" +
          std::string(to_string(MessageState::Queued)) +
          "' END, last_error = 'fallback for message ' || ?1 || ', which ' || ?3 || ': ' || ?4 "
          // It no longer waits for a receipt (settle_standby's Wait note).
          ", note = '' WHERE fallback_for = ?1 AND state = 'standby'";
      db.prepare(sql)
          .bind(1, primary_id)
          .bind(2, now_ms)
          .bind(3, primary == MessageState::Failed        ? "failed"
                   : primary == MessageState::Dead        ? "gave up"
                   : primary == MessageState::Undelivered ? "was not delivered"
                   : primary == MessageState::Bounced     ? "bounced"
                   : primary == MessageState::Suppressed  ? "is opted out"
                                                          : "ran out of time")
          .bind(4, why)
          .run();
      return;
    }
    case StandbyFate::Action::Follow: {
      const std::string reason =
          fate.to_state == MessageState::NotNeeded
              ? "not needed: message " + std::to_string(primary_id) + " was " +
                    std::string(to_string(primary))
              : "primary message " + std::to_string(primary_id) + " is " +
                    std::string(to_string(primary));
      db.prepare(
            "UPDATE messages SET state = ?2, updated_at = ?3, last_error = ?4, note = '' "
            "WHERE fallback_for = ?1 AND state = 'standby'")
          .bind(1, primary_id)
          .bind(2, to_string(fate.to_state))
          .bind(3, now_ms)
          .bind(4, reason)
          .run();
      return;
    }
  }
}

}  // namespace tack::sqlite
