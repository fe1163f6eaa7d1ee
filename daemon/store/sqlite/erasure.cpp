// Retention and erasure: personal data replaced by kErased (or rows
// deleted), in batches an index bounds; a forget request for one person.
#include <algorithm>

#include <fmt/format.h>

#include "store/sqlite/ops.hpp"

namespace tack::sqlite {

namespace {

// Recipient, texts and the last error of one message; its attempts'
// provider answers. Returns how many attempts changed.
int erase_message(Db& db, std::int64_t id, std::int64_t now_ms) {
  db.prepare("UPDATE attempts SET detail = ?2 WHERE message_id = ?1 AND detail != ''")
      .bind(1, id)
      .bind(2, kErased)
      .run();
  const int attempts = db.changes();
  // A provider's reason may quote the address ("550 5.1.1 <anna@...>").
  db.prepare("UPDATE receipts SET reason = ?2 WHERE message_id = ?1 AND reason != ''")
      .bind(1, id)
      .bind(2, kErased)
      .run();
  db.prepare(
        "UPDATE messages SET recipient = ?2, subject = CASE WHEN subject = '' THEN '' ELSE ?2 "
        "END, body = ?2, html = '', last_error = CASE WHEN last_error = '' THEN '' ELSE ?2 END, "
        "erased_at = ?3 WHERE id = ?1")
      .bind(1, id)
      .bind(2, kErased)
      .bind(3, now_ms)
      .run();
  return attempts;
}

// A rejected event's reason may quote what it rejected.
bool erase_event(Db& db, std::int64_t id, std::int64_t now_ms) {
  db.prepare(
        "UPDATE events SET payload = CASE WHEN payload IS NULL THEN NULL ELSE ?2 END, "
        "reason = CASE WHEN verdict = 'rejected' AND reason != '' THEN ?2 ELSE reason END, "
        "erased_at = ?3 WHERE id = ?1 AND erased_at IS NULL")
      .bind(1, id)
      .bind(2, kErased)
      .bind(3, now_ms)
      .run();
  return db.changes() > 0;
}

// INDEXED BY: without ANALYZE statistics SQLite prefers messages_state,
// which walks every final message ever sent; and if a change ever made the
// partial index unusable, preparing this fails loudly instead of scanning.
// The final states as messages_retention's WHERE says them (state_indexes).
const std::string kPrunableMessages =
    "FROM messages INDEXED BY messages_retention WHERE erased_at IS NULL AND " +
    sql_state_is(is_final) + " AND updated_at < ?1";
// An order with a message still pending keeps its events.
const std::string kPrunableEvents =
    "FROM events e INDEXED BY events_retention WHERE erased_at IS NULL AND received_at < ?1 AND "
    "NOT EXISTS (SELECT 1 FROM messages m WHERE m.order_id = e.order_id AND m.state NOT IN " +
    sql_state_list(is_final) + ")";

}  // namespace

PruneCounts prune_batch(Db& db, std::int64_t cutoff_ms, bool remove, int limit,
                        std::int64_t now_ms) {
  PruneCounts counts;
  std::vector<std::int64_t> ids;
  {
    auto s = db.prepare("SELECT id " + kPrunableMessages +
                        " ORDER BY updated_at LIMIT ?2");
    s.bind(1, cutoff_ms).bind(2, limit);
    while (s.step()) ids.push_back(s.int64(0));
  }
  for (auto id : ids) {
    if (remove) {
      db.prepare("DELETE FROM attempts WHERE message_id = ?1").bind(1, id).run();
      counts.attempts += db.changes();
      db.prepare("DELETE FROM receipts WHERE message_id = ?1").bind(1, id).run();
      // Its fallback stays, without the link.
      db.prepare("UPDATE messages SET fallback_for = NULL WHERE fallback_for = ?1")
          .bind(1, id)
          .run();
      db.prepare("DELETE FROM messages WHERE id = ?1").bind(1, id).run();
    } else {
      counts.attempts += erase_message(db, id, now_ms);
    }
    ++counts.messages;
  }
  const bool messages_full = static_cast<int>(ids.size()) == limit;
  // A receipt parked for a send whose answer then named another id waits
  // for nothing; its reason may quote an address.
  db.prepare("DELETE FROM receipts WHERE id IN (SELECT id FROM receipts INDEXED BY "
             "receipts_parked WHERE message_id IS NULL AND received_at < ?1 LIMIT ?2)")
      .bind(1, cutoff_ms)
      .bind(2, limit)
      .run();
  counts.receipts = db.changes();
  std::vector<std::pair<std::int64_t, std::optional<std::string>>> events;
  {
    auto s = db.prepare("SELECT id, event_id " + kPrunableEvents +
                        " ORDER BY received_at LIMIT ?2");
    s.bind(1, cutoff_ms).bind(2, limit);
    while (s.step()) events.emplace_back(s.int64(0), s.optional_text(1));
  }
  for (const auto& [id, event_id] : events) {
    if (remove) {
      // Its id stays taken (events.cpp): sent again, the event is a
      // duplicate, not news for the customer a second time.
      if (event_id) {
        db.prepare("INSERT INTO event_tombstones (id_hash) VALUES (?1) ON CONFLICT DO NOTHING")
            .bind_blob(1, event_tombstone(*event_id))
            .run();
      }
      db.prepare("DELETE FROM events WHERE id = ?1").bind(1, id).run();
    } else {
      erase_event(db, id, now_ms);
    }
    ++counts.events;
  }
  // An address support corrected is personal data too: it goes once it is
  // older than the cutoff and its order has nothing pending. Few orders
  // have one, so the scan is of a small table.
  db.prepare("DELETE FROM order_contacts WHERE order_id IN (SELECT order_id FROM order_contacts "
             "c WHERE updated_at < ?1 AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.order_id "
             "= c.order_id AND m.state NOT IN " + sql_state_list(is_final) + ") LIMIT ?2)")
      .bind(1, cutoff_ms)
      .bind(2, limit)
      .run();
  counts.more = messages_full || counts.receipts == limit ||
                static_cast<int>(events.size()) == limit || db.changes() == limit;
  return counts;
}

PruneCounts prune_preview(Db& db, std::int64_t cutoff_ms) {
  PruneCounts counts;
  auto messages = db.prepare("SELECT COUNT(*) " + kPrunableMessages);
  messages.bind(1, cutoff_ms);
  if (messages.step()) counts.messages = messages.int64(0);
  auto attempts = db.prepare(
      std::string("SELECT COUNT(*) FROM attempts WHERE message_id IN (SELECT id ") +
      kPrunableMessages + ")");
  attempts.bind(1, cutoff_ms);
  if (attempts.step()) counts.attempts = attempts.int64(0);
  auto events = db.prepare("SELECT COUNT(*) " + kPrunableEvents);
  events.bind(1, cutoff_ms);
  if (events.step()) counts.events = events.int64(0);
  auto receipts = db.prepare(
      "SELECT COUNT(*) FROM receipts INDEXED BY receipts_parked WHERE message_id IS NULL AND "
      "received_at < ?1");
  receipts.bind(1, cutoff_ms);
  if (receipts.step()) counts.receipts = receipts.int64(0);
  return counts;
}

std::vector<std::string> orders_of_recipient(Db& db, const std::string& recipient) {
  std::vector<std::string> out;
  auto s = db.prepare(
      "SELECT DISTINCT order_id FROM messages WHERE recipient = ?1 COLLATE NOCASE");
  s.bind(1, recipient);
  while (s.step()) out.push_back(s.text(0));
  return out;
}

std::vector<std::pair<std::int64_t, std::string>> events_of_orders(
    Db& db, const std::vector<std::string>& order_ids) {
  std::vector<std::pair<std::int64_t, std::string>> out;
  auto s = db.prepare(
      "SELECT id, payload FROM events WHERE order_id = ?1 AND erased_at IS NULL "
      "AND payload IS NOT NULL ORDER BY id");
  for (const auto& order : order_ids) {
    s.bind(1, order);
    while (s.step()) out.emplace_back(s.int64(0), s.text(1));
    s.reset();
  }
  return out;
}

void scan_event_payloads(Db& db, const std::string& needle, const std::string& digits,
                         const std::function<void(std::int64_t, const std::string&)>& each) {
  auto s = db.prepare(
      "SELECT id, payload FROM events WHERE erased_at IS NULL AND payload IS NOT NULL AND "
      "(instr(lower(payload), ?1) > 0 OR (?2 != '' AND instr(replace(replace(replace(replace("
      "replace(payload, ' ', ''), '-', ''), '.', ''), '(', ''), ')', ''), ?2) > 0)) ORDER BY id");
  s.bind(1, needle).bind(2, digits);
  while (s.step()) each(s.int64(0), s.text(1));
}

ForgetResult forget_recipient(Db& db, const std::string& recipient,
                              const std::vector<std::int64_t>& event_ids, const std::string& actor,
                              std::int64_t now_ms) {
  ForgetResult result;
  struct Found {
    std::int64_t id;
    MessageState state;
    std::string event_id;
  };
  std::vector<Found> found;
  {
    auto s = db.prepare(
        "SELECT id, state, event_id FROM messages WHERE recipient = ?1 COLLATE NOCASE "
        "AND erased_at IS NULL ORDER BY id");
    s.bind(1, recipient);
    while (s.step()) found.push_back({s.int64(0), state_column(s, 1), s.text(2)});
  }
  std::vector<std::int64_t> events = event_ids;
  auto event_row = db.prepare("SELECT id FROM events WHERE event_id = ?1");
  for (const auto& m : found) {
    if (m.state == MessageState::Sending) {
      // The gateway has it right now; its outcome is about to be recorded.
      result.in_flight.push_back(m.id);
      continue;
    }
    if (cancelled_by_forget(m.state)) {
      db.prepare(
            "UPDATE messages SET state = 'cancelled', updated_at = ?2, last_error = "
            "'cancelled: the recipient asked to be forgotten' WHERE id = ?1")
          .bind(1, m.id)
          .bind(2, now_ms)
          .run();
      audit(db, actor, "cancel", "message " + std::to_string(m.id),
            std::string(to_string(m.state)) + " -> cancelled (forget request)", now_ms);
      settle_standby(db, m.id, MessageState::Cancelled, "", now_ms);
      ++result.cancelled;
    }
    result.attempts += erase_message(db, m.id, now_ms);
    ++result.messages;
    event_row.bind(1, m.event_id);
    if (event_row.step()) events.push_back(event_row.int64(0));
    event_row.reset();
  }
  std::sort(events.begin(), events.end());
  events.erase(std::unique(events.begin(), events.end()), events.end());
  for (auto id : events) {
    if (erase_event(db, id, now_ms)) ++result.events;
  }
  // The address support corrected to (or from): the order forgets it,
  // and the audit lines that named it keep the fact, not the address.
  db.prepare("UPDATE order_contacts SET phone = CASE WHEN phone = ?1 THEN '' ELSE phone END, "
             "email = CASE WHEN email = ?1 COLLATE NOCASE THEN '' ELSE email END "
             "WHERE phone = ?1 OR email = ?1 COLLATE NOCASE")
      .bind(1, recipient)
      .run();
  db.exec("DELETE FROM order_contacts WHERE phone = '' AND email = ''");
  db.prepare("UPDATE audit SET detail = ?2 WHERE (action = 'contact' OR action = 'resend') AND "
             "instr(lower(detail), lower(?1)) > 0")
      .bind(1, recipient)
      .bind(2, kErased)
      .run();
  std::string detail = fmt::format(
      "erased {} message(s) with {} attempt answer(s) and {} event(s) of one recipient; "
      "cancelled {} pending",
      result.messages, result.attempts, result.events, result.cancelled);
  if (!result.in_flight.empty()) {
    detail += fmt::format("; {} being sent were left for a second request", result.in_flight.size());
  }
  audit(db, actor, "forget", "store", detail, now_ms);
  return result;
}

}  // namespace tack::sqlite
