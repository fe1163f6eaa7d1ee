// Support actions (issue 15): a message sent again, an order's address
// corrected, a note on an order; each with its audit entries.
#include "store/sqlite/ops.hpp"

namespace tack::sqlite {

namespace {

std::string message_target(std::int64_t id) { return "message " + std::to_string(id); }
std::string order_target(const std::string& order_id) { return "order " + order_id; }

// A new queued message repeating `original`, addressed to `recipient` (or
// the original's when empty), at the head of its channel's chain. Its key
// is derived from its own id, so it is written once the id is known.
std::int64_t copy_message(Db& db, std::int64_t original, const std::string& recipient,
                          const FirstGateways& first_gateways, std::int64_t now_ms) {
  std::string channel, key;
  {
    auto s = db.prepare("SELECT channel, idempotency_key FROM messages WHERE id = ?1");
    s.bind(1, original);
    if (!s.step()) throw SqliteError(0, "no message " + std::to_string(original) + " to copy");
    channel = s.text(0);
    key = s.text(1);
  }
  std::optional<std::string> head;
  if (auto it = first_gateways.find(channel); it != first_gateways.end() && !it->second.empty()) {
    head = it->second;
  }
  // A copy never expires: support asked for it now. It has no standby: the
  // fallback, if any, stays with the original.
  db.prepare(
        "INSERT INTO messages (event_id, order_id, rule, channel, kind, template, locale, "
        "recipient, subject, body, html, state, gateway, gateway_index, idempotency_key, "
        "created_at, updated_at, next_attempt_at, round_started_at, expires_at, supersede, "
        "copy_of, ignore_opt_out, unsubscribe_url) SELECT event_id, order_id, rule, channel, "
        "kind, template, locale, "
        "CASE WHEN ?2 = '' THEN recipient ELSE ?2 END, subject, body, html, 'queued', "
        "COALESCE(?3, gateway), CASE WHEN ?3 IS NULL THEN gateway_index ELSE 0 END, ?4, ?5, ?5, "
        "?5, ?5, 0, supersede, id, ignore_opt_out, unsubscribe_url FROM messages WHERE id = ?1")
      .bind(1, original)
      .bind(2, recipient)
      .bind(3, head)
      .bind(4, key + "-copy")  // replaced below, once the copy's id is known
      .bind(5, now_ms)
      .run();
  const std::int64_t copy = db.last_insert_rowid();
  db.prepare("UPDATE messages SET idempotency_key = ?2 WHERE id = ?1")
      .bind(1, copy)
      .bind(2, copy_idempotency_key(key, copy))
      .run();
  return copy;
}

const char* kind_word(ChannelKind kind) { return kind == ChannelKind::Sms ? "phone" : "e-mail"; }

// One kind of address of an order corrected to `to`: remembered, pending
// messages readdressed, failed and dead ones copied. Appends to `result`.
void correct_one(Db& db, const ContactCorrection& c, ChannelKind kind, const std::string& to,
                 std::int64_t now_ms, ContactResult& result) {
  const std::string kind_name(to_string(kind));
  const std::string order = order_target(c.order_id);
  // What it was: the last correction, else the newest message's address.
  std::string from;
  {
    auto last = db.prepare(std::string("SELECT ") + (kind == ChannelKind::Sms ? "phone" : "email") +
                           " FROM order_contacts WHERE order_id = ?1");
    last.bind(1, c.order_id);
    if (last.step()) from = last.text(0);
  }
  if (from.empty()) {
    auto newest = db.prepare(
        "SELECT recipient FROM messages WHERE order_id = ?1 AND kind = ?2 AND recipient != '' "
        "ORDER BY id DESC LIMIT 1");
    newest.bind(1, c.order_id).bind(2, kind_name);
    if (newest.step()) from = newest.text(0);
  }
  db.prepare(std::string("INSERT INTO order_contacts (order_id, ") +
             (kind == ChannelKind::Sms ? "phone" : "email") +
             ", updated_at) VALUES (?1, ?2, ?3) ON CONFLICT(order_id) DO UPDATE SET " +
             (kind == ChannelKind::Sms ? "phone" : "email") +
             " = excluded." + (kind == ChannelKind::Sms ? "phone" : "email") +
             ", updated_at = excluded.updated_at")
      .bind(1, c.order_id)
      .bind(2, to)
      .bind(3, now_ms)
      .run();
  const std::string by = " by " + c.actor + ": " + c.reason;
  audit(db, c.actor, "contact", order,
        std::string(kind_word(kind)) + " corrected from " + (from.empty() ? "(none)" : from) +
            " to " + to + by,
        now_ms);

  // Not gone out yet: it goes to the corrected address instead. One being
  // sent right now is left alone (a gateway has it).
  {
    static const std::string pending_sql =
        "SELECT id, recipient FROM messages WHERE order_id = ?1 AND kind = ?2 AND erased_at IS "
        "NULL AND " + sql_state_is(follows_corrected_contact) + " ORDER BY id";
    auto pending = db.prepare(pending_sql);
    pending.bind(1, c.order_id).bind(2, kind_name);
    std::vector<std::pair<std::int64_t, std::string>> found;
    while (pending.step()) found.emplace_back(pending.int64(0), pending.text(1));
    auto readdress =
        db.prepare("UPDATE messages SET recipient = ?2, updated_at = ?3 WHERE id = ?1");
    for (const auto& [id, old] : found) {
      readdress.bind(1, id).bind(2, to).bind(3, now_ms).run();
      readdress.reset();
      audit(db, c.actor, "contact", message_target(id),
            "recipient corrected from " + (old.empty() ? "(none)" : old) + " to " + to + by,
            now_ms);
      result.updated.push_back(id);
    }
  }

  // Went nowhere for good: a new copy to the corrected address. Not one
  // without a text (a template that did not render), not one copied before
  // (a second correction readdresses that copy instead), not one whose
  // news reached the customer through its fallback.
  {
    static const std::string failed_sql =
        "SELECT id FROM messages m WHERE order_id = ?1 AND kind = ?2 AND erased_at IS NULL AND " +
        sql_state_is(resent_on_corrected_contact) +
        " AND body != '' AND NOT EXISTS (SELECT 1 FROM messages c WHERE c.copy_of = m.id) "
        "AND NOT EXISTS (SELECT 1 FROM messages f WHERE f.fallback_for = m.id AND " +
        sql_state_is(reaches_customer, "f.state") + ") ORDER BY id";
    auto failed = db.prepare(failed_sql);
    failed.bind(1, c.order_id).bind(2, kind_name);
    std::vector<std::int64_t> originals;
    while (failed.step()) originals.push_back(failed.int64(0));
    for (auto id : originals) {
      const auto copy = copy_message(db, id, to, c.first_gateways, now_ms);
      audit(db, c.actor, "resend", message_target(id),
            "resent as message " + std::to_string(copy) + " to " + to + by, now_ms);
      audit(db, c.actor, "resend", message_target(copy),
            "resend of message " + std::to_string(id) + " to " + to + by, now_ms);
      result.resent.push_back(copy);
    }
  }
}

}  // namespace

bool order_known(Db& db, const std::string& order_id) {
  auto s = db.prepare(
      "SELECT EXISTS (SELECT 1 FROM events WHERE order_id = ?1) OR EXISTS (SELECT 1 FROM "
      "messages WHERE order_id = ?1)");
  s.bind(1, order_id);
  return s.step() && s.int64(0) != 0;
}

std::optional<OrderContact> order_contact(Db& db, const std::string& order_id) {
  auto s = db.prepare("SELECT phone, email FROM order_contacts WHERE order_id = ?1");
  s.bind(1, order_id);
  if (!s.step()) return std::nullopt;
  return OrderContact{s.text(0), s.text(1)};
}

ResendResult resend_message(Db& db, std::int64_t id, const std::string& reason,
                            const std::string& actor, const FirstGateways& first_gateways,
                            std::int64_t now_ms) {
  ResendResult result;
  auto current = db.prepare(
      "SELECT state, erased_at IS NOT NULL, kind, recipient FROM messages WHERE id = ?1");
  current.bind(1, id);
  if (!current.step()) {
    result.error = "no message " + std::to_string(id);
    return result;
  }
  result.found = true;
  if (current.int64(1) != 0) {
    result.error = "message " + std::to_string(id) + " was erased; there is nothing left to send";
    return result;
  }
  const MessageState state = state_column(current, 0);
  if (!may_resend(state)) {
    result.error = "message " + std::to_string(id) + " is " + std::string(to_string(state)) +
                   "; resend works on a message a provider accepted (";
    const auto states = states_where(may_resend);
    for (std::size_t i = 0; i < states.size(); ++i) {
      result.error += (i ? ", " : "") + std::string(to_string(states[i]));
    }
    result.error += ")";
    if (verb_applies(OperatorVerb::Retry, state)) result.error += "; retry it instead";
    return result;
  }
  // The customer said no more since: support must take them off the list
  // first, knowingly.
  const ChannelKind kind = current.text(2) == "email" ? ChannelKind::Email : ChannelKind::Sms;
  if (const auto note = suppression_note(db, kind, current.text(3))) {
    result.error = "message " + std::to_string(id) + " is not resent: its recipient is " + *note +
                   "; only if they asked for it again, take them off the list first (tackd "
                   "optout remove)";
    return result;
  }
  const auto copy = copy_message(db, id, "", first_gateways, now_ms);
  const std::string by = " by " + actor + ": " + reason;
  audit(db, actor, "resend", message_target(id),
        "resent as message " + std::to_string(copy) + by, now_ms);
  audit(db, actor, "resend", message_target(copy), "resend of message " + std::to_string(id) + by,
        now_ms);
  result.copy_id = copy;
  return result;
}

ContactResult correct_contact(Db& db, const ContactCorrection& c, std::int64_t now_ms) {
  ContactResult result;
  if (!order_known(db, c.order_id)) return result;
  result.found = true;
  if (!c.contact.phone.empty()) correct_one(db, c, ChannelKind::Sms, c.contact.phone, now_ms, result);
  if (!c.contact.email.empty()) {
    correct_one(db, c, ChannelKind::Email, c.contact.email, now_ms, result);
  }
  return result;
}

std::optional<AuditEntry> add_order_note(Db& db, const std::string& order_id,
                                         const std::string& text, const std::string& actor,
                                         std::int64_t now_ms) {
  if (!order_known(db, order_id)) return std::nullopt;
  AuditEntry entry{now_ms, actor, "note", order_target(order_id), text};
  audit(db, entry.actor, entry.action, entry.target, entry.detail, now_ms);
  return entry;
}

}  // namespace tack::sqlite
