// Intake: an event and the messages it planned, in one unit.
#include <array>
#include <optional>

#include "store/sqlite/ops.hpp"

namespace tack::sqlite {

namespace {

// The older messages of an order and channel that a new message of
// `policy` arriving in `state` supersedes (lifecycle: superseded_on_arrival),
// as a WHERE term over messages' supersede and state columns; empty when
// it supersedes nothing.
const std::string& superseded_by(SupersedePolicy policy, MessageState state) {
  using Table = std::array<std::array<std::string, kAllStates.size()>,
                           kAllSupersedePolicies.size()>;
  static const Table table = [] {
    Table t;
    for (auto newer : kAllSupersedePolicies) {
      for (auto newer_state : kAllStates) {
        std::string terms;
        for (auto older : kAllSupersedePolicies) {
          auto states = sql_state_is([&](MessageState s) {
            return superseded_on_arrival(newer, newer_state, older, s);
          });
          if (states == "(0)") continue;
          if (!terms.empty()) terms += " OR ";
          terms += "(supersede = " + std::to_string(static_cast<int>(older)) + " AND " + states + ")";
        }
        t[static_cast<std::size_t>(newer)][static_cast<std::size_t>(newer_state)] =
            terms.empty() ? "" : "(" + terms + ")";
      }
    }
    return t;
  }();
  return table[static_cast<std::size_t>(policy)][static_cast<std::size_t>(state)];
}

}  // namespace

EventResult apply_event(Db& db, const EventRecord& r, std::int64_t now_ms) {
  EventResult result;
  result.event_id = r.event_id.empty() ? r.claimed_event_id : r.event_id;
  // The same statement looks for the id's tombstone (an event retention
  // deleted), so a deleted event's id stays taken without a window between
  // a look and the insert.
  auto insert = db.prepare(
      "INSERT INTO events (event_id, claimed_event_id, order_id, status, occurred_at, "
      "received_at, source, verdict, reason, payload) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
      "?10 WHERE NOT EXISTS (SELECT 1 FROM event_tombstones WHERE id_hash = ?11) "
      "ON CONFLICT(event_id) DO NOTHING");
  auto bind_common = [&](const char* verdict, const std::string& reason) {
    if (r.event_id.empty()) {
      insert.bind_null(1).bind_null(11);
    } else {
      insert.bind(1, r.event_id).bind_blob(11, event_tombstone(r.event_id));
    }
    insert.bind(2, r.claimed_event_id).bind(3, r.order_id).bind(4, r.status);
    insert.bind(5, r.occurred_at_ms).bind(6, now_ms).bind(7, r.source);
    insert.bind(8, verdict).bind(9, reason).bind(10, r.payload);
  };

  if (!r.reject_reason.empty()) {
    bind_common("rejected", r.reject_reason);  // no event id: never a conflict
    insert.run();
    result.verdict = EventVerdict::Rejected;
    result.reason = r.reject_reason;
    return result;
  }

  // Dedup: the insert of the event row decides. Whoever inserts it first
  // (another unit, another tackd) owns the event; everyone after counts a
  // duplicate, also after retention deleted it (its tombstone: no row to
  // count on). No select-then-insert window.
  bind_common("accepted", "");
  insert.run();
  if (db.changes() == 0) {
    db.prepare("UPDATE events SET duplicates = duplicates + 1 WHERE event_id = ?1")
        .bind(1, r.event_id)
        .run();
    result.verdict = EventVerdict::Duplicate;
    return result;
  }

  // Status order: a transition backwards (or anything after a terminal
  // status) tells the customer nothing new.
  auto order = db.prepare("SELECT last_status, last_rank, terminal FROM orders WHERE order_id = ?1");
  order.bind(1, r.order_id);
  if (!r.side && order.step()) {
    std::string last_status = order.text(0);
    auto last_rank = order.int64(1);
    bool last_terminal = order.int64(2) != 0;
    // After a terminal status only a later terminal one is news (returned,
    // then refunded).
    bool stale = last_terminal ? !(r.terminal && r.rank > last_rank)
                               : (!r.terminal && r.rank < last_rank);
    if (stale) {
      result.verdict = EventVerdict::Stale;
      result.reason = "order " + r.order_id + " is already " + last_status;
      db.prepare("UPDATE events SET verdict = 'stale', reason = ?2 WHERE event_id = ?1")
          .bind(1, r.event_id)
          .bind(2, result.reason)
          .run();
      return result;
    }
  }

  // A side status (an invoice paid) is news of its own: the order's status
  // in its forward order stays as it is.
  if (!r.side) {
    db.prepare(
          "INSERT INTO orders (order_id, last_status, last_rank, terminal, last_event_id, "
          "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(order_id) DO UPDATE SET "
          "last_status = excluded.last_status, last_rank = excluded.last_rank, terminal = "
          "excluded.terminal, last_event_id = excluded.last_event_id, updated_at = "
          "excluded.updated_at")
        .bind(1, r.order_id)
        .bind(2, r.status)
        .bind(3, r.rank)
        .bind(4, r.terminal ? 1 : 0)
        .bind(5, r.event_id)
        .bind(6, now_ms)
        .run();
  }

  // The order reached a status the rules' `unless` names: their messages
  // still waiting for their time are no longer wanted (a follow-up after a
  // return, a "not shipped" watch once it shipped).
  if (!r.cancels_rules.empty()) {
    static const std::string cancel_sql =
        "UPDATE messages SET state = 'cancelled', updated_at = ?3, note = ?4 WHERE order_id = ?1 "
        "AND rule = ?2 AND " + sql_state_is(is_scheduled);
    auto cancel = db.prepare(cancel_sql);
    for (const auto& rule : r.cancels_rules) {
      cancel.bind(1, r.order_id).bind(2, rule).bind(3, now_ms).bind(4, r.cancel_note).run();
    }
  }

  // Their standby fallbacks carry the same out-of-date news.
  auto supersede_standby = db.prepare(
      "UPDATE messages SET state = 'superseded', updated_at = ?2, last_error = ?3 "
      "WHERE state = 'standby' AND order_id = ?1 AND fallback_for IN (SELECT id FROM messages "
      "WHERE order_id = ?1 AND state = 'superseded')");
  auto add = db.prepare(
      "INSERT INTO messages (event_id, order_id, rule, channel, kind, template, locale, "
      "recipient, subject, body, html, state, gateway, idempotency_key, last_error, created_at, "
      "updated_at, next_attempt_at, round_started_at, expires_at, fallback_for, supersede, "
      "rendered, note, timezone, urgent, cap_max, cap_window, cap_text, country, ignore_opt_out, "
      "unsubscribe_url) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16, ?20, "
      "?16, ?17, ?18, ?19, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)");
  const std::string superseded_why = "superseded by " + r.status + " (event " + r.event_id + ")";
  // Support corrected the order's address: its later messages go there.
  std::optional<OrderContact> corrected;
  if (!r.messages.empty()) corrected = order_contact(db, r.order_id);
  std::vector<std::int64_t> ids(r.messages.size(), 0);  // 0: not inserted
  std::vector<MessageState> states(r.messages.size(), MessageState::Queued);  // as inserted
  for (std::size_t i = 0; i < r.messages.size(); ++i) {
    std::optional<NewMessage> readdressed;  // a copy only when the address changes
    if (corrected) {
      const auto& given = r.messages[i];
      const std::string& to = given.kind == ChannelKind::Sms ? corrected->phone : corrected->email;
      if (!to.empty()) {
        readdressed = given;
        readdressed->recipient = to;
        if (given.state == MessageState::Failed && given.recipient_refused) {
          readdressed->state = MessageState::Queued;
          readdressed->last_error.clear();
        }
      }
    }
    const NewMessage& given = readdressed ? *readdressed : r.messages[i];
    // A message queued now over its channel's frequency cap is skipped.
    std::optional<NewMessage> skipped;
    if (given.state == MessageState::Queued && !given.urgent &&
        over_frequency_cap(db, given.recipient, given.channel, given.cap, now_ms)) {
      skipped = given;
      skipped->state = MessageState::Skipped;
      skipped->note = "skipped: frequency cap " + given.cap.text + " on " + given.channel;
    }
    // The customer opted out of this kind: recorded, never sent. A failed
    // or skipped message stays as it is (it was not going out anyway).
    std::optional<NewMessage> suppressed;
    {
      const NewMessage& before = skipped ? *skipped : given;
      if (!before.ignore_opt_out && is_pending(before.state)) {
        if (auto note = suppression_note(db, before.kind, before.recipient)) {
          suppressed = before;
          suppressed->state = MessageState::Suppressed;
          suppressed->note = std::move(*note);
        }
      }
    }
    // A standby whose primary was suppressed carries the news on its own
    // channel now (lifecycle: standby_fate), unless suppressed itself.
    std::optional<NewMessage> released;
    {
      const NewMessage& before = suppressed ? *suppressed : skipped ? *skipped : given;
      if (before.state == MessageState::Standby && before.standby_for >= 0 &&
          static_cast<std::size_t>(before.standby_for) < i &&
          states[static_cast<std::size_t>(before.standby_for)] == MessageState::Suppressed) {
        released = before;
        released->state = MessageState::Queued;
        released->last_error = "fallback for a message whose recipient is opted out";
      }
    }
    const NewMessage& m = released     ? *released
                          : suppressed ? *suppressed
                          : skipped    ? *skipped
                                       : given;
    states[i] = m.state;
    if (m.once_per_order) {
      static const char* const kHasOne =
          "SELECT 1 FROM messages WHERE order_id = ?1 AND channel = ?2 AND rule = ?3 LIMIT 1";
      auto has_one = db.prepare(kHasOne);
      has_one.bind(1, r.order_id).bind(2, m.channel).bind(3, m.rule);
      if (has_one.step()) continue;
    }
    std::int64_t primary = 0;
    if (m.standby_for >= 0) {
      // A standby exists only beside its primary.
      const auto of = static_cast<std::size_t>(m.standby_for);
      primary = of < i ? ids[of] : 0;
      if (primary == 0) continue;
    }
    // A status update still waiting for a retry is overtaken by this newer
    // one: recorded as superseded, never sent (DESIGN.md, per-order order).
    if (const auto& which = superseded_by(m.supersede, m.state); !which.empty()) {
      db.prepare("UPDATE messages SET state = 'superseded', updated_at = ?3, last_error = ?4 "
                 "WHERE order_id = ?1 AND channel = ?2 AND " + which)
          .bind(1, r.order_id)
          .bind(2, m.channel)
          .bind(3, now_ms)
          .bind(4, superseded_why)
          .run();
      if (db.changes() > 0) {
        supersede_standby.bind(1, r.order_id).bind(2, now_ms).bind(3, superseded_why).run();
      }
    }
    add.bind(1, r.event_id).bind(2, r.order_id).bind(3, m.rule).bind(4, m.channel);
    add.bind(5, to_string(m.kind)).bind(6, m.template_name).bind(7, m.locale);
    add.bind(8, m.recipient).bind(9, m.subject).bind(10, m.text).bind(11, m.html);
    add.bind(12, to_string(m.state)).bind(13, m.gateway).bind(14, m.idempotency_key);
    add.bind(15, m.last_error).bind(16, now_ms).bind(17, m.expires_at_ms);
    if (primary) {
      add.bind(18, primary);
    } else {
      add.bind_null(18);
    }
    add.bind(19, static_cast<int>(m.supersede));
    add.bind(20, m.state == MessageState::Scheduled && m.due_at_ms > 0 ? m.due_at_ms : now_ms);
    add.bind(21, m.render_when_due ? 0 : 1).bind(22, m.note).bind(23, m.timezone);
    add.bind(24, m.urgent ? 1 : 0).bind(25, m.cap.max).bind(26, m.cap.window_ms);
    add.bind(27, m.cap.text).bind(28, m.country);
    add.bind(29, m.ignore_opt_out ? 1 : 0).bind(30, m.unsubscribe_url);
    add.run();
    if (db.changes() > 0) {
      ids[i] = db.last_insert_rowid();
      ++result.messages_created;
    }
  }
  result.verdict = EventVerdict::Accepted;
  return result;
}

}  // namespace tack::sqlite
