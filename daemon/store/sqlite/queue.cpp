// The work queue: claims under a lease, attempts, recovery, expiry. Per-order
// claim serialisation comes from SQLite's single writer: a claim's check of
// earlier siblings and its move to `sending` run in one unit, and no other
// unit runs in between.
#include <array>

#include "store/sqlite/ops.hpp"

namespace tack::sqlite {

namespace {

ChannelKind kind_from_string(const std::string& s) {
  return s == "email" ? ChannelKind::Email : ChannelKind::Sms;
}

// Moves up to `limit` due messages waiting for `gateway` (of `channel`, if
// given) to `sending` under `lease`, to be sent through `via` (at index
// `via_index` of the channel) when that is not empty.
std::vector<ClaimedMessage> claim(Db& db, const Lease& lease, const std::string& gateway,
                                  const std::string& channel, const std::string& via,
                                  int via_index, int limit, std::int64_t now_ms) {
  std::vector<ClaimedMessage> out;
  if (limit <= 0) return out;
  static const std::string sql =
      "SELECT id, event_id, order_id, rule, channel, kind, template, locale, recipient, subject, "
      "body, html, idempotency_key, attempts, gateway_index, round_started_at, expires_at, "
      "timezone, urgent, country, unsubscribe_url FROM messages m "
      "WHERE m.gateway = ?1 AND " + sql_state_is(is_claimable, "m.state") + " "
      "AND m.next_attempt_at <= ?2 "
      "AND (?4 = '' OR m.channel = ?4) "
      // A message whose earlier attempt may have reached the first
      // provider stays with it: only its idempotency key can dedup there.
      "AND (?5 = '' OR NOT EXISTS (SELECT 1 FROM attempts a WHERE a.message_id = m.id "
      "  AND a.outcome IN ('unknown', 'interrupted'))) "
      // A held gateway sends nothing. Its messages wait, except that those
      // of a gateway tackd held itself (credentials refused) may go to the
      // channel's next gateway.
      "AND NOT EXISTS (SELECT 1 FROM gateway_holds h WHERE h.gateway = ?5 "
      "  OR (h.gateway = ?1 AND (?5 = '' OR h.actor <> ?6))) "
      // Per-order order: nothing overtakes an earlier message of its order
      // and channel that is still on its way.
      "AND NOT EXISTS (SELECT 1 FROM messages p WHERE p.order_id = m.order_id "
      "  AND p.channel = m.channel AND p.id < m.id "
      "  AND p.state IN " + sql_state_list(blocks_later_sibling) + ") "
      "ORDER BY m.next_attempt_at, m.id LIMIT ?3";
  auto select = db.prepare(sql);
  select.bind(1, gateway).bind(2, now_ms).bind(3, limit).bind(4, channel).bind(5, via);
  select.bind(6, kRefusedHoldActor);
  while (select.step()) {
    ClaimedMessage c;
    auto& m = c.message;
    m.id = select.int64(0);
    m.event_id = select.text(1);
    m.order_id = select.text(2);
    m.rule = select.text(3);
    m.channel = select.text(4);
    m.kind = kind_from_string(select.text(5));
    m.template_name = select.text(6);
    m.locale = select.text(7);
    m.recipient = select.text(8);
    m.subject = select.text(9);
    m.text = select.text(10);
    m.html = select.text(11);
    m.idempotency_key = select.text(12);
    m.attempts = static_cast<int>(select.int64(13));
    c.gateway = via.empty() ? gateway : via;
    c.gateway_index = via.empty() ? static_cast<int>(select.int64(14)) : via_index;
    c.round_started_at_ms = select.int64(15);
    c.expires_at_ms = select.int64(16);
    c.timezone = select.text(17);
    c.urgent = select.int64(18) != 0;
    c.country = select.text(19);
    m.unsubscribe_url = select.text(20);
    out.push_back(std::move(c));
  }
  auto mark = db.prepare(
      "UPDATE messages SET state = 'sending', attempts = attempts + 1, updated_at = ?2, "
      "gateway = ?3, gateway_index = ?4, owner = ?5, lease_until = ?6 WHERE id = ?1");
  for (const auto& c : out) {
    mark.bind(1, c.message.id).bind(2, now_ms).bind(3, c.gateway).bind(4, c.gateway_index);
    mark.bind(5, lease.owner).bind(6, now_ms + lease.duration_ms).run();
  }
  return out;
}

// The UPDATE that supersedes message ?1, sent back to wait in `next`, when
// a newer message of its order and channel waits too (lifecycle:
// superseded_on_retry); empty when nothing in `next` is ever superseded.
const std::string& superseded_on_retry_sql(MessageState next) {
  static const auto table = [] {
    std::array<std::string, kAllStates.size()> t;
    for (auto state : kAllStates) {
      std::string terms;
      for (auto older : kAllSupersedePolicies) {
        for (auto newer : kAllSupersedePolicies) {
          auto states = sql_state_is(
              [&](MessageState n) { return superseded_on_retry(older, state, newer, n); },
              "n.state");
          if (states == "(0)") continue;
          terms += (terms.empty() ? "" : " OR ") + std::string("(messages.supersede = ") +
                   std::to_string(static_cast<int>(older)) + " AND n.supersede = " +
                   std::to_string(static_cast<int>(newer)) + " AND " + states + ")";
        }
      }
      if (terms.empty()) continue;
      t[static_cast<std::size_t>(state)] =
          "UPDATE messages SET state = 'superseded', last_error = 'superseded by a newer "
          "message for this order' WHERE id = ?1 AND EXISTS (SELECT 1 FROM messages n WHERE "
          "n.order_id = messages.order_id AND n.channel = messages.channel AND n.id > "
          "messages.id AND (" + terms + "))";
    }
    return t;
  }();
  return table[static_cast<std::size_t>(next)];
}

}  // namespace

void expire_overdue(Db& db, std::int64_t now_ms) {
  // INDEXED BY: without statistics SQLite prefers messages_state here, which
  // walks every waiting message on each claim (quadratic in a full queue).
  static const std::string sql =
      "UPDATE messages INDEXED BY messages_expiry SET state = 'expired', updated_at = ?1, "
      "last_error = 'expired unsent: its rule''s ttl ran out' || CASE WHEN last_error = '' THEN "
      "'' ELSE ' (last error: ' || last_error || ')' END WHERE " + sql_state_is(expires) +
      " AND expires_at > 0 AND expires_at <= ?1";
  db.prepare(sql).bind(1, now_ms).run();
  // A standby that waited for its primary's delivery receipt in vain: Sent
  // stands (lifecycle: receipt_wait_over).
  static const std::string waited =
      "UPDATE messages SET state = 'not_needed', updated_at = ?1, note = '', last_error = "
      "'not needed: message ' || fallback_for || ' was sent, and no receipt said otherwise "
      "in time' WHERE state = 'standby' AND next_attempt_at > 0 AND next_attempt_at <= ?1 AND "
      "EXISTS (SELECT 1 FROM messages p WHERE p.id = messages.fallback_for AND " +
      sql_state_is(receipt_wait_over, "p.state") + ")";
  db.prepare(waited).bind(1, now_ms).run();
}

std::vector<ClaimedMessage> claim_due(Db& db, const Lease& lease, const std::string& gateway,
                                      int limit, std::int64_t now_ms) {
  // Messages whose time has passed are expired, never sent late.
  expire_overdue(db, now_ms);
  return claim(db, lease, gateway, "", "", 0, limit, now_ms);
}

std::vector<ClaimedMessage> claim_rerouted(Db& db, const Lease& lease, const std::string& channel,
                                           const std::string& from_gateway,
                                           const std::string& to_gateway, int to_index, int limit,
                                           std::int64_t now_ms) {
  expire_overdue(db, now_ms);
  return claim(db, lease, from_gateway, channel, to_gateway, to_index, limit, now_ms);
}

void unclaim(Db& db, const std::vector<std::int64_t>& ids) {
  auto back = db.prepare(
      "UPDATE messages SET state = 'queued', attempts = attempts - 1, owner = NULL, "
      "lease_until = NULL WHERE id = ?1 AND state = 'sending'");
  for (auto id : ids) back.bind(1, id).run();
}

void defer_claimed(Db& db, std::int64_t id, std::int64_t until_ms, const std::string& note,
                   std::int64_t now_ms) {
  db.prepare(
        "UPDATE messages SET state = 'scheduled', attempts = attempts - 1, owner = NULL, "
        "lease_until = NULL, next_attempt_at = ?2, note = ?3, updated_at = ?4 "
        "WHERE id = ?1 AND state = 'sending'")
      .bind(1, id)
      .bind(2, until_ms)
      .bind(3, note)
      .bind(4, now_ms)
      .run();
}

std::optional<std::int64_t> next_due_at(Db& db) {
  static const std::string sql =
      "SELECT MIN(next_attempt_at) FROM messages INDEXED BY messages_next WHERE " +
      sql_state_is(is_claimable);
  auto s = db.prepare(sql);
  if (s.step() && !s.is_null(0)) return s.int64(0);
  return std::nullopt;
}

void record_attempt(Db& db, const AttemptRecord& a, std::int64_t now_ms) {
  for (const std::string& detail : a.unanswered) {
    db.prepare(
          "INSERT INTO attempts (message_id, number, gateway, started_at, duration_ms, outcome, "
          "detail) VALUES (?1, (SELECT COUNT(*) + 1 FROM attempts WHERE message_id = ?1), ?2, ?3, "
          "0, 'unknown', ?4)")
        .bind(1, a.message_id)
        .bind(2, a.gateway)
        .bind(3, a.started_at_ms)
        .bind(4, detail)
        .run();
  }
  db.prepare(
        "INSERT INTO attempts (message_id, number, gateway, started_at, duration_ms, outcome, "
        "detail, provider_id) VALUES (?1, (SELECT COUNT(*) + 1 FROM attempts WHERE message_id = ?1), "
        "?2, ?3, ?4, ?5, ?6, ?7)")
      .bind(1, a.message_id)
      .bind(2, a.gateway)
      .bind(3, a.started_at_ms)
      .bind(4, a.duration_ms)
      .bind(5, a.outcome)
      .bind(6, a.detail)
      .bind(7, a.provider_id)
      .run();
  db.prepare(
        "UPDATE messages SET state = ?2, next_attempt_at = ?3, gateway = ?4, gateway_index = ?5, "
        "last_error = ?6, provider_id = CASE WHEN ?7 = '' THEN provider_id ELSE ?7 END, "
        "updated_at = ?8, owner = NULL, lease_until = NULL, "
        // Why it was sent stays ("3d after delivered", "sent now by ..."); a
        // quiet-hours hold is over once it is tried.
        "note = CASE WHEN ?9 <> '' THEN ?9 WHEN note LIKE 'held: %' THEN '' ELSE note END "
        "WHERE id = ?1")
      .bind(1, a.message_id)
      .bind(2, to_string(a.next_state))
      .bind(3, a.next_attempt_at_ms)
      .bind(4, a.next_gateway)
      .bind(5, a.next_gateway_index)
      .bind(6, a.last_error)
      .bind(7, a.provider_id)
      .bind(8, now_ms)
      .bind(9, a.note)
      .run();
  settle_standby(db, a.message_id, a.next_state, a.last_error, now_ms,
                 a.next_state == MessageState::Sent ? a.receipt_wait_ms : 0);
  // The provider refused it because the recipient opted out with it.
  if (!a.opt_out_source.empty()) {
    suppress_message_recipient(db, a.message_id, a.opt_out_source, kAnswerOptOutActor, now_ms);
  }
  // A receipt that overtook this answer.
  if (a.next_state == MessageState::Sent) {
    apply_parked_receipts(db, a.message_id, a.gateway, a.provider_id, now_ms);
  }
  // A status update that has to wait for a retry while a newer one for the
  // same order and channel is waiting would hold the newer one back and then
  // arrive out of date: it is superseded instead (DESIGN.md, per-order order).
  if (const auto& sql = superseded_on_retry_sql(a.next_state); !sql.empty()) {
    db.prepare(sql).bind(1, a.message_id).run();
    if (db.changes() > 0) settle_standby(db, a.message_id, MessageState::Superseded, "", now_ms);
  }
}

int recover_interrupted(Db& db, const std::string& owner, std::int64_t now_ms) {
  // Its own (it restarted: nothing of it is still on its way), an owner's
  // whose lease ran out, and rows claimed before claims had owners.
  const char* mine =
      "state = 'sending' AND (owner IS NULL OR owner = ?1 OR lease_until IS NULL OR "
      "lease_until < ?2)";
  db.prepare(std::string(
                 "INSERT INTO attempts (message_id, number, gateway, started_at, duration_ms, "
                 "outcome, detail) SELECT id, (SELECT COUNT(*) + 1 FROM attempts a WHERE "
                 "a.message_id = m.id), gateway, updated_at, 0, 'unknown', "
                 "'tackd stopped while this attempt was in flight; the provider may have it. "
                 "Retried with the same idempotency key.' FROM messages m WHERE ") +
             mine)
      .bind(1, owner)
      .bind(2, now_ms)
      .run();
  db.prepare(std::string("UPDATE messages SET state = 'queued', next_attempt_at = ?2, "
                         "updated_at = ?2, owner = NULL, lease_until = NULL WHERE ") +
             mine)
      .bind(1, owner)
      .bind(2, now_ms)
      .run();
  return db.changes();
}

QueueCounts queue_counts(Db& db) {
  QueueCounts c;
  // Only these states: each is a range of messages_state, never the
  // (large) sent history.
  static const std::string sql = "SELECT state, COUNT(*) FROM messages WHERE " +
                                 sql_state_is(is_counted) + " GROUP BY state";
  auto s = db.prepare(sql);
  while (s.step()) c[state_column(s, 0)] = s.int64(1);
  return c;
}

QueueFigures queue_figures(Db& db, std::int64_t now_ms) {
  QueueFigures f;
  static_cast<QueueCounts&>(f) = queue_counts(db);
  static const std::string sql =
      "SELECT MIN(next_attempt_at) FROM messages INDEXED BY messages_next WHERE " +
      sql_state_is(is_claimable) + " AND next_attempt_at <= ?1";
  auto due = db.prepare(sql);
  due.bind(1, now_ms);
  if (due.step() && !due.is_null(0)) f.oldest_due_at_ms = due.int64(0);
  return f;
}

}  // namespace tack::sqlite
