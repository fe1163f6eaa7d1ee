// The scheduler's side of the queue: scheduled messages claimed under a
// lease when due, and settled as the scheduler decided (store.hpp).
#include "store/sqlite/ops.hpp"

namespace tack::sqlite {

std::vector<DueScheduled> claim_scheduled(Db& db, const Lease& lease, int limit,
                                          std::int64_t now_ms) {
  std::vector<DueScheduled> out;
  if (limit <= 0) return out;
  // Past their ttl: expired, never sent late.
  expire_overdue(db, now_ms);
  static const std::string sql =
      "SELECT m.id, m.event_id, m.order_id, m.rule, m.channel, m.kind, m.template, m.locale, "
      "m.recipient, m.timezone, m.rendered, m.urgent, m.next_attempt_at, e.payload, "
      "o.last_status, o.last_rank, o.terminal, m.country "
      "FROM messages m INDEXED BY messages_scheduled "
      "LEFT JOIN events e ON e.event_id = m.event_id "
      "LEFT JOIN orders o ON o.order_id = m.order_id "
      "WHERE " + sql_state_is(is_scheduled, "m.state") + " AND m.next_attempt_at <= ?1 "
      "AND (m.lease_until IS NULL OR m.lease_until < ?1) "
      "ORDER BY m.next_attempt_at, m.id LIMIT ?2";
  auto select = db.prepare(sql);
  select.bind(1, now_ms).bind(2, limit);
  while (select.step()) {
    DueScheduled d;
    d.id = select.int64(0);
    d.event_id = select.text(1);
    d.order_id = select.text(2);
    d.rule = select.text(3);
    d.channel = select.text(4);
    d.kind = select.text(5) == "email" ? ChannelKind::Email : ChannelKind::Sms;
    d.template_name = select.text(6);
    d.locale = select.text(7);
    d.recipient = select.text(8);
    d.timezone = select.text(9);
    d.rendered = select.int64(10) != 0;
    d.urgent = select.int64(11) != 0;
    d.due_at_ms = select.int64(12);
    d.event_payload = select.is_null(13) ? std::string() : select.text(13);
    if (!select.is_null(14)) {
      d.order_status = select.text(14);
      d.order_rank = static_cast<int>(select.int64(15));
      d.order_terminal = select.int64(16) != 0;
    }
    d.country = select.text(17);
    out.push_back(std::move(d));
  }
  auto history = db.prepare(
      "SELECT DISTINCT status FROM events WHERE order_id = ?1 AND verdict = 'accepted'");
  for (auto& d : out) {
    history.bind(1, d.order_id);
    while (history.step()) d.order_statuses.push_back(history.text(0));
    history.reset();
  }
  auto lease_row = db.prepare("UPDATE messages SET owner = ?2, lease_until = ?3 WHERE id = ?1");
  for (const auto& d : out) {
    lease_row.bind(1, d.id).bind(2, lease.owner).bind(3, now_ms + lease.duration_ms).run();
  }
  return out;
}

int settle_scheduled(Db& db, const std::vector<ScheduledOutcome>& outcomes,
                     const std::string& owner, std::int64_t now_ms) {
  int queued = 0;
  static const std::string mine_sql =
      "SELECT recipient, channel, urgent FROM messages WHERE id = ?1 AND " +
      sql_state_is(is_scheduled) + " AND owner = ?2";
  auto mine = db.prepare(mine_sql);
  // Texts rendered now replace the empty ones; a held message keeps its own.
  auto queue = db.prepare(
      "UPDATE messages SET state = 'queued', next_attempt_at = ?2, round_started_at = ?2, "
      "updated_at = ?2, owner = NULL, lease_until = NULL, "
      "note = CASE WHEN ?3 = '' THEN note ELSE ?3 END, "
      "locale = CASE WHEN rendered THEN locale ELSE ?4 END, "
      "subject = CASE WHEN rendered THEN subject ELSE ?5 END, "
      "body = CASE WHEN rendered THEN body ELSE ?6 END, "
      "html = CASE WHEN rendered THEN html ELSE ?7 END, rendered = 1 WHERE id = ?1");
  auto hold = db.prepare(
      "UPDATE messages SET next_attempt_at = ?2, updated_at = ?3, owner = NULL, "
      "lease_until = NULL, note = ?4, "
      "locale = CASE WHEN rendered THEN locale ELSE ?5 END, "
      "subject = CASE WHEN rendered THEN subject ELSE ?6 END, "
      "body = CASE WHEN rendered THEN body ELSE ?7 END, "
      "html = CASE WHEN rendered THEN html ELSE ?8 END, rendered = 1 WHERE id = ?1");
  auto end = db.prepare(
      "UPDATE messages SET state = ?2, updated_at = ?3, owner = NULL, lease_until = NULL, "
      "note = ?4, last_error = ?5 WHERE id = ?1");
  for (const auto& o : outcomes) {
    mine.bind(1, o.id).bind(2, owner);
    if (!mine.step()) {  // cancelled or sent now by an operator meanwhile, or not ours
      mine.reset();
      continue;
    }
    const std::string recipient = mine.text(0), channel = mine.text(1);
    const bool urgent = mine.int64(2) != 0;
    mine.reset();
    MessageState next = o.next;
    std::string note = o.note;
    if (next == MessageState::Queued && !urgent &&
        over_frequency_cap(db, recipient, channel, o.cap, now_ms)) {
      next = MessageState::Skipped;
      note = "skipped: frequency cap " + o.cap.text + " on " + channel;
    }
    switch (next) {
      case MessageState::Queued:
        queue.bind(1, o.id).bind(2, now_ms).bind(3, note).bind(4, o.locale).bind(5, o.subject);
        queue.bind(6, o.text).bind(7, o.html).run();
        ++queued;
        break;
      case MessageState::Scheduled:
        hold.bind(1, o.id).bind(2, o.due_at_ms).bind(3, now_ms).bind(4, note).bind(5, o.locale);
        hold.bind(6, o.subject).bind(7, o.text).bind(8, o.html).run();
        break;
      default:
        end.bind(1, o.id).bind(2, to_string(next)).bind(3, now_ms).bind(4, note);
        end.bind(5, o.last_error).run();
        settle_standby(db, o.id, next, o.last_error.empty() ? note : o.last_error, now_ms);
        break;
    }
  }
  return queued;
}

std::optional<std::int64_t> next_scheduled_at(Db& db) {
  static const std::string sql =
      "SELECT MIN(next_attempt_at) FROM messages INDEXED BY messages_scheduled WHERE " +
      sql_state_is(is_scheduled);
  auto s = db.prepare(sql);
  if (s.step() && !s.is_null(0)) return s.int64(0);
  return std::nullopt;
}

}  // namespace tack::sqlite
