// Delivery receipts: what providers report after a send, matched to the
// message by the provider id its attempt recorded, on the message's
// timeline, moving its state as the lifecycle says (receipt_moves).
#include <fmt/format.h>

#include "store/sqlite/ops.hpp"

namespace tack::sqlite {

namespace {

std::string why_moved(const Receipt& r, MessageState to) {
  std::string why = fmt::format("{} reported it {}", r.gateway, to_string(to));
  if (!r.status.empty()) why += " (" + r.status + ")";
  if (!r.reason.empty()) why += ": " + r.reason;
  return why;
}

}  // namespace

bool apply_receipt_to(Db& db, std::int64_t message_id, const Receipt& receipt,
                      std::int64_t now_ms, MessageState& state) {
  auto current = db.prepare("SELECT state FROM messages WHERE id = ?1");
  current.bind(1, message_id);
  if (!current.step()) return false;
  state = state_column(current, 0);
  const auto to = receipt_moves(state, receipt.kind);
  if (!to) return false;
  const std::string why = why_moved(receipt, *to);
  db.prepare(
        "UPDATE messages SET state = ?2, updated_at = ?3, "
        "last_error = CASE WHEN ?2 = 'delivered' THEN '' ELSE ?4 END WHERE id = ?1")
      .bind(1, message_id)
      .bind(2, to_string(*to))
      .bind(3, now_ms)
      .bind(4, why)
      .run();
  state = *to;
  settle_standby(db, message_id, *to, why, now_ms);
  return true;
}

ReceiptResult record_receipt(Db& db, const Receipt& r, std::int64_t now_ms) {
  ReceiptResult result;
  std::optional<std::int64_t> message_id;
  {
    auto find = db.prepare(
        "SELECT message_id FROM attempts WHERE provider_id = ?2 AND gateway = ?1 AND "
        "provider_id <> '' ORDER BY id DESC LIMIT 1");
    find.bind(1, r.gateway).bind(2, r.provider_id);
    if (find.step()) message_id = find.int64(0);
  }
  // The provider's time, or 0 when it gave none: part of the unique key, so
  // a provider's retry of a receipt without a time is a repeat too.
  const std::int64_t at = r.at_ms > 0 ? r.at_ms : 0;
  auto insert = db.prepare(
      "INSERT OR IGNORE INTO receipts (gateway, provider_id, message_id, kind, status, reason, "
      "at, received_at, opted_out) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  insert.bind(1, r.gateway).bind(2, r.provider_id);
  if (message_id) {
    insert.bind(3, *message_id);
  } else {
    insert.bind_null(3);
  }
  insert.bind(4, to_string(r.kind)).bind(5, r.status).bind(6, r.reason).bind(7, at);
  insert.bind(8, now_ms).bind(9, r.opted_out ? 1 : 0);

  if (!message_id) {
    // The answer to the send that got this id may still be on its way to
    // the writer: a receipt can overtake it. Kept while the gateway has a
    // send in flight; record_attempt applies it once it records the id.
    auto in_flight = db.prepare(
        "SELECT 1 FROM messages WHERE state = 'sending' AND gateway = ?1 LIMIT 1");
    in_flight.bind(1, r.gateway);
    if (!in_flight.step()) return result;  // Unknown
    insert.run();
    result.verdict = ReceiptVerdict::Parked;
    return result;
  }
  insert.run();
  const bool fresh = db.changes() > 0;
  result.message_id = *message_id;
  {
    auto row = db.prepare("SELECT state, kind, recipient FROM messages WHERE id = ?1");
    row.bind(1, *message_id);
    if (row.step()) {
      result.state = state_column(row, 0);
      result.channel_kind = row.text(1);
      result.recipient = row.text(2);
    }
  }
  if (!fresh) {
    result.verdict = ReceiptVerdict::Repeated;
    return result;
  }
  result.verdict = ReceiptVerdict::Applied;
  result.moved = apply_receipt_to(db, *message_id, r, now_ms, result.state);
  if (r.opted_out) {
    suppress_message_recipient(db, *message_id, receipt_opt_out_source(r), kReceiptOptOutActor,
                               now_ms);
  }
  return result;
}

void apply_parked_receipts(Db& db, std::int64_t message_id, const std::string& gateway,
                           const std::string& provider_id, std::int64_t now_ms) {
  if (provider_id.empty()) return;
  std::vector<Receipt> parked;
  {
    auto s = db.prepare(
        "SELECT kind, status, reason, at, opted_out FROM receipts WHERE message_id IS NULL AND "
        "gateway = ?1 AND provider_id = ?2 ORDER BY CASE WHEN at > 0 THEN at ELSE received_at "
        "END, id");
    s.bind(1, gateway).bind(2, provider_id);
    while (s.step()) {
      Receipt r;
      r.gateway = gateway;
      r.provider_id = provider_id;
      r.kind = parse_receipt_kind(s.text(0)).value_or(ReceiptKind::Progress);
      r.status = s.text(1);
      r.reason = s.text(2);
      r.at_ms = s.int64(3);
      r.opted_out = s.int64(4) != 0;
      parked.push_back(std::move(r));
    }
  }
  if (parked.empty()) return;
  db.prepare(
        "UPDATE receipts SET message_id = ?3 WHERE message_id IS NULL AND gateway = ?1 AND "
        "provider_id = ?2")
      .bind(1, gateway)
      .bind(2, provider_id)
      .bind(3, message_id)
      .run();
  MessageState state = MessageState::Sent;
  for (const auto& r : parked) {
    apply_receipt_to(db, message_id, r, now_ms, state);
    if (r.opted_out) {
      suppress_message_recipient(db, message_id, receipt_opt_out_source(r), kReceiptOptOutActor,
                                 now_ms);
    }
  }
}

void load_receipts(Db& db, std::vector<MessageView>& messages) {
  auto s = db.prepare(
      // Steps on the way before outcomes, each by its time: a provider's
      // clock and tackd's (for a receipt without a time) need not agree to
      // the second, and "delivered" never reads as coming before "sent".
      "SELECT gateway, kind, status, reason, CASE WHEN at > 0 THEN at ELSE received_at END AS "
      "shown, received_at FROM receipts WHERE message_id = ?1 "
      "ORDER BY kind <> 'progress', shown, id");
  for (auto& m : messages) {
    s.bind(1, m.id);
    while (s.step()) {
      ReceiptView r;
      r.gateway = s.text(0);
      r.kind = parse_receipt_kind(s.text(1)).value_or(ReceiptKind::Progress);
      r.status = s.text(2);
      r.reason = s.text(3);
      r.at_ms = s.int64(4);
      r.received_at_ms = s.int64(5);
      m.receipts.push_back(std::move(r));
    }
    s.reset();
  }
}

}  // namespace tack::sqlite
