// Operator verbs and gateway holds, each with its audit entry.
#include <algorithm>

#include "store/sqlite/ops.hpp"

namespace tack::sqlite {

namespace {

// Moves one message by `verb` if the lifecycle lets it; says why not.
OperatorResult move_message(Db& db, OperatorVerb verb, std::int64_t id, const std::string& actor,
                            std::int64_t now_ms) {
  OperatorResult result;
  const std::string action(to_string(verb));
  auto current = db.prepare("SELECT state, erased_at IS NOT NULL FROM messages WHERE id = ?1");
  current.bind(1, id);
  if (!current.step()) {
    result.error = "no message " + std::to_string(id);
    return result;
  }
  // Its recipient and text are gone (retention or a forget request).
  if (current.int64(1) != 0) {
    result.error = "message " + std::to_string(id) + " was erased; there is nothing left to " +
                   action;
    return result;
  }
  const MessageState state = state_column(current, 0);
  if (!verb_applies(verb, state)) {
    result.error = "message " + std::to_string(id) + " is " + std::string(to_string(state)) +
                   "; " + action + " works on a message that is ";
    const auto from = verb_sources(verb);
    for (std::size_t i = 0; i < from.size(); ++i) {
      result.error += (i ? ", " : "") + std::string(to_string(from[i]));
    }
    return result;
  }
  const MessageState to = verb_target(verb);
  if (verb == OperatorVerb::SendNow) {
    // Due now: the scheduler renders and queues it at its next look.
    db.prepare("UPDATE messages SET next_attempt_at = ?2, updated_at = ?2, owner = NULL, "
               "lease_until = NULL, note = 'sent now by ' || ?3 WHERE id = ?1")
        .bind(1, id)
        .bind(2, now_ms)
        .bind(3, actor)
        .run();
    audit(db, actor, action, "message " + std::to_string(id), "scheduled -> due now", now_ms);
    result.changed = 1;
    return result;
  }
  const bool fresh_round = verb == OperatorVerb::Retry;
  // A retry starts a new round: attempts and max_age count afresh.
  db.prepare(
        "UPDATE messages SET state = ?2, updated_at = ?3, "
        "next_attempt_at = CASE WHEN ?2 = 'queued' THEN ?3 ELSE next_attempt_at END, "
        "attempts = CASE WHEN ?4 THEN 0 ELSE attempts END, "
        "round_started_at = CASE WHEN ?4 THEN ?3 ELSE round_started_at END, "
        "last_error = CASE WHEN ?2 = 'cancelled' THEN 'cancelled by ' || ?5 ELSE last_error END "
        "WHERE id = ?1")
      .bind(1, id)
      .bind(2, to_string(to))
      .bind(3, now_ms)
      .bind(4, fresh_round ? 1 : 0)
      .bind(5, actor)
      .run();
  audit(db, actor, action, "message " + std::to_string(id),
        std::string(to_string(state)) + " -> " + std::string(to_string(to)), now_ms);
  settle_standby(db, id, to, "", now_ms);
  result.changed = 1;
  return result;
}

OperatorResult retry(Db& db, std::int64_t id, const std::string& actor, std::int64_t now_ms) {
  // Refused by tack itself before any provider saw it: a retry would send
  // the raw number or an empty text, and lose the reason.
  auto refused = db.prepare(
      "SELECT last_error FROM messages WHERE id = ?1 AND state = 'failed' AND NOT EXISTS "
      "(SELECT 1 FROM attempts WHERE message_id = ?1)");
  refused.bind(1, id);
  if (refused.step()) {
    OperatorResult result;
    result.error = "message " + std::to_string(id) + " was refused by tack before any provider saw "
                   "it (" + refused.text(0) + "); a retry would fail the same way: correct the "
                   "customer's details at the shop, and the order's next event reaches them";
    return result;
  }
  // The customer already has (or is about to get) this news on the
  // fallback channel: sending the primary again would tell them twice.
  static const std::string fallback_sql =
      "SELECT id, channel, state FROM messages WHERE fallback_for = ?1 AND state IN " +
      sql_state_list(reaches_customer);
  auto fallback = db.prepare(fallback_sql);
  fallback.bind(1, id);
  if (fallback.step()) {
    OperatorResult result;
    result.error = "message " + std::to_string(id) + " fell back to message " +
                   std::to_string(fallback.int64(0)) + " on " + fallback.text(1) + ", which is " +
                   fallback.text(2) + "; retrying would tell the customer twice";
    return result;
  }
  return move_message(db, OperatorVerb::Retry, id, actor, now_ms);
}

// Retries every message of `sql` (one id column; ?1 since, ?2 gateway or NULL).
OperatorResult retry_each(Db& db, const char* sql, std::int64_t since_ms,
                          const std::optional<std::string>& gateway, const std::string& actor,
                          std::int64_t now_ms) {
  auto select = db.prepare(sql);
  select.bind(1, since_ms).bind(2, gateway);
  std::vector<std::int64_t> ids;
  while (select.step()) ids.push_back(select.int64(0));
  OperatorResult total;
  for (auto id : ids) total.changed += retry(db, id, actor, now_ms).changed;
  return total;
}

}  // namespace

OperatorResult operator_verb(Db& db, OperatorVerb verb, std::int64_t id, const std::string& actor,
                             std::int64_t now_ms) {
  if (verb == OperatorVerb::Retry) return retry(db, id, actor, now_ms);
  return move_message(db, verb, id, actor, now_ms);
}

OperatorResult retry_dead(Db& db, std::int64_t since_ms, const std::optional<std::string>& gateway,
                          const std::string& actor, std::int64_t now_ms) {
  return retry_each(
      db,
      "SELECT id FROM messages WHERE state = 'dead' AND erased_at IS NULL AND updated_at >= ?1 "
      "AND (?2 IS NULL OR gateway = ?2) ORDER BY id",
      since_ms, gateway, actor, now_ms);
}

OperatorResult retry_failed(Db& db, std::int64_t since_ms,
                            const std::optional<std::string>& gateway, const std::string& actor,
                            std::int64_t now_ms) {
  // Only messages a gateway answered: one tack refused at intake has no
  // attempt, and sending it as it is can only fail.
  return retry_each(
      db,
      "SELECT id FROM messages m WHERE state = 'failed' AND erased_at IS NULL "
      "AND updated_at >= ?1 AND (?2 IS NULL OR gateway = ?2) "
      "AND EXISTS (SELECT 1 FROM attempts a WHERE a.message_id = m.id) ORDER BY id",
      since_ms, gateway, actor, now_ms);
}

OperatorResult hold_gateway(Db& db, const std::string& gateway, bool hold,
                                     const std::string& actor, std::int64_t now_ms) {
  OperatorResult result;
  if (hold) {
    db.prepare("INSERT INTO gateway_holds (gateway, at, actor) VALUES (?1, ?2, ?3) "
               "ON CONFLICT(gateway) DO NOTHING")
        .bind(1, gateway)
        .bind(2, now_ms)
        .bind(3, actor)
        .run();
  } else {
    db.prepare("DELETE FROM gateway_holds WHERE gateway = ?1").bind(1, gateway).run();
  }
  result.changed = db.changes();
  if (result.changed == 0) {
    result.error = "gateway " + gateway + (hold ? " is already held" : " is not held");
    return result;
  }
  audit(db, actor, hold ? "hold" : "release", "gateway " + gateway, "", now_ms);
  return result;
}

std::vector<std::string> held_gateways(Db& db) {
  std::vector<std::string> out;
  auto s = db.prepare("SELECT gateway FROM gateway_holds ORDER BY gateway");
  while (s.step()) out.push_back(s.text(0));
  return out;
}

std::vector<GatewayHold> gateway_holds(Db& db) {
  std::vector<GatewayHold> out;
  auto s = db.prepare("SELECT gateway, actor, at FROM gateway_holds ORDER BY gateway");
  while (s.step()) out.push_back({s.text(0), s.text(1), s.int64(2)});
  return out;
}

bool hold_refused_gateway(Db& db, const std::string& gateway, const std::string& answer,
                          std::int64_t now_ms) {
  db.prepare("INSERT INTO gateway_holds (gateway, at, actor) VALUES (?1, ?2, ?3) "
             "ON CONFLICT(gateway) DO NOTHING")
      .bind(1, gateway)
      .bind(2, now_ms)
      .bind(3, kRefusedHoldActor)
      .run();
  if (db.changes() == 0) return false;
  audit(db, kRefusedHoldActor, "hold", "gateway " + gateway, answer, now_ms);
  return true;
}

std::vector<std::string> release_refused_holds(Db& db, const std::optional<std::string>& gateway,
                                               const std::string& why, std::int64_t now_ms) {
  std::vector<std::string> released;
  auto s = db.prepare(
      "SELECT gateway FROM gateway_holds WHERE actor = ?1 AND (?2 IS NULL OR gateway = ?2)");
  s.bind(1, kRefusedHoldActor).bind(2, gateway);
  while (s.step()) released.push_back(s.text(0));
  auto remove = db.prepare("DELETE FROM gateway_holds WHERE gateway = ?1 AND actor = ?2");
  for (const auto& g : released) {
    remove.bind(1, g).bind(2, kRefusedHoldActor).run();
    audit(db, "tackd", "release", "gateway " + g, why, now_ms);
  }
  return released;
}

std::vector<AuditEntry> audit_for(Db& db, const std::string& target) {
  std::vector<AuditEntry> out;
  auto s = db.prepare(
      "SELECT at, actor, action, target, detail FROM audit WHERE target = ?1 ORDER BY id");
  s.bind(1, target);
  while (s.step()) {
    out.push_back({s.int64(0), s.text(1), s.text(2), s.text(3), s.text(4)});
  }
  return out;
}

}  // namespace tack::sqlite
