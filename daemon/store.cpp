#include "store.hpp"

#include <pthread.h>

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "log.hpp"

namespace tack {

namespace {

// Versioned migrations: index i brings the schema from version i to i+1.
// Never edit a released step; append a new one.
const std::array<const char*, 5> kMigrations = {
    R"sql(
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  event_id TEXT UNIQUE,              -- NULL for rejected events
  claimed_event_id TEXT,             -- what a rejected event called itself
  order_id TEXT,
  status TEXT,
  occurred_at INTEGER,
  received_at INTEGER NOT NULL,
  source TEXT NOT NULL,
  verdict TEXT NOT NULL,             -- accepted | stale | rejected
  reason TEXT,
  duplicates INTEGER NOT NULL DEFAULT 0,
  payload TEXT
);
CREATE INDEX events_order ON events(order_id, id);
CREATE INDEX events_rejected ON events(received_at) WHERE verdict = 'rejected';

CREATE TABLE orders (
  order_id TEXT PRIMARY KEY,
  last_status TEXT NOT NULL,
  last_rank INTEGER NOT NULL,
  terminal INTEGER NOT NULL,
  last_event_id TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE messages (
  id INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL,
  order_id TEXT NOT NULL,
  rule TEXT NOT NULL,
  channel TEXT NOT NULL,
  kind TEXT NOT NULL,
  template TEXT NOT NULL,
  locale TEXT NOT NULL,
  recipient TEXT NOT NULL,
  subject TEXT NOT NULL DEFAULT '',
  body TEXT NOT NULL,
  html TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL,
  gateway TEXT NOT NULL,
  gateway_index INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  idempotency_key TEXT NOT NULL UNIQUE,
  provider_id TEXT NOT NULL DEFAULT '',
  last_error TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  round_started_at INTEGER NOT NULL,  -- attempts and max_age count from here
  expires_at INTEGER NOT NULL DEFAULT 0  -- 0: never; else not sent after this
);
CREATE INDEX messages_expiry ON messages(expires_at)
  WHERE state IN ('queued', 'retry_wait') AND expires_at > 0;
CREATE INDEX messages_due ON messages(gateway, next_attempt_at, id)
  WHERE state IN ('queued', 'retry_wait');
CREATE INDEX messages_next ON messages(next_attempt_at)
  WHERE state IN ('queued', 'retry_wait');
CREATE INDEX messages_order ON messages(order_id, channel, id);
CREATE INDEX messages_recipient ON messages(recipient, id);
CREATE INDEX messages_state ON messages(state);

CREATE TABLE attempts (
  id INTEGER PRIMARY KEY,
  message_id INTEGER NOT NULL REFERENCES messages(id),
  number INTEGER NOT NULL,
  gateway TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  outcome TEXT NOT NULL,             -- sent | retry | rejected | unknown | interrupted
  detail TEXT NOT NULL DEFAULT '',
  provider_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX attempts_message ON attempts(message_id, id);

CREATE TABLE gateway_holds (
  gateway TEXT PRIMARY KEY,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE audit (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT ''
);
)sql",
    // v2: a rule's fallback channel. The fallback message is rendered at
    // intake and waits in 'standby' until its primary fails.
    R"sql(
ALTER TABLE messages ADD COLUMN fallback_for INTEGER REFERENCES messages(id);
CREATE INDEX messages_fallback ON messages(fallback_for) WHERE fallback_for IS NOT NULL;
DROP INDEX messages_expiry;
CREATE INDEX messages_expiry ON messages(expires_at)
  WHERE state IN ('queued', 'retry_wait', 'standby') AND expires_at > 0;
)sql",
    // v3: the support API's searches by time and an order's audit trail.
    R"sql(
CREATE INDEX messages_created ON messages(created_at, id);
CREATE INDEX audit_target ON audit(target, id);
)sql",
    // v4: retention and erasure (issue 6). erased_at marks a row whose
    // personal data was replaced by '[erased]'; the partial indexes hold
    // only rows retention may still have to visit, oldest first, so a pass
    // never scans the table. Support searches by e-mail ignore letter case
    // (addresses are stored as the shop sent them).
    R"sql(
ALTER TABLE messages ADD COLUMN erased_at INTEGER;
ALTER TABLE events ADD COLUMN erased_at INTEGER;
CREATE INDEX messages_retention ON messages(updated_at) WHERE erased_at IS NULL AND state IN
  ('sent', 'delivered', 'failed', 'dead', 'cancelled', 'suppressed', 'superseded', 'expired',
   'not_needed');
CREATE INDEX events_retention ON events(received_at) WHERE erased_at IS NULL;
DROP INDEX messages_recipient;
CREATE INDEX messages_recipient ON messages(recipient COLLATE NOCASE, id);
)sql",
    // v5: the messages table is rebuilt (SQLite's documented way to change
    // a constraint; migrations run with foreign keys off) for two costs
    // the benchmark found (bench/README.md):
    // - idempotency_key is no longer UNIQUE. It is derived from event,
    //   rule and channel, and an event is taken once (events.event_id), so
    //   the index only guarded what cannot happen; its keys are hashes, so
    //   every message dirtied a random page of it: half of all pages the
    //   store wrote.
    // - messages_state leaves out sent, delivered and not_needed, the bulk
    //   of the log that no query looks up by state.
    // - The partial indexes on state say it with OR, not IN. SQLite
    //   evaluates an IN list by building a temporary b-tree, once per
    //   partial index on every write that changes a message: half of the
    //   writer thread's CPU. Queries name the same OR terms so the planner
    //   matches them (store_test checks both).
    R"sql(
CREATE TABLE messages_v5 (
  id INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL,
  order_id TEXT NOT NULL,
  rule TEXT NOT NULL,
  channel TEXT NOT NULL,
  kind TEXT NOT NULL,
  template TEXT NOT NULL,
  locale TEXT NOT NULL,
  recipient TEXT NOT NULL,
  subject TEXT NOT NULL DEFAULT '',
  body TEXT NOT NULL,
  html TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL,
  gateway TEXT NOT NULL,
  gateway_index INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  idempotency_key TEXT NOT NULL,
  provider_id TEXT NOT NULL DEFAULT '',
  last_error TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  round_started_at INTEGER NOT NULL,  -- attempts and max_age count from here
  expires_at INTEGER NOT NULL DEFAULT 0,  -- 0: never; else not sent after this
  fallback_for INTEGER REFERENCES messages(id),  -- a rule's fallback: its primary
  erased_at INTEGER                   -- personal data replaced by '[erased]'
);
INSERT INTO messages_v5 (id, event_id, order_id, rule, channel, kind, template, locale,
  recipient, subject, body, html, state, gateway, gateway_index, attempts, idempotency_key,
  provider_id, last_error, created_at, updated_at, next_attempt_at, round_started_at,
  expires_at, fallback_for, erased_at)
SELECT id, event_id, order_id, rule, channel, kind, template, locale, recipient, subject, body,
  html, state, gateway, gateway_index, attempts, idempotency_key, provider_id, last_error,
  created_at, updated_at, next_attempt_at, round_started_at, expires_at, fallback_for, erased_at
FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v5 RENAME TO messages;
CREATE INDEX messages_due ON messages(gateway, next_attempt_at, id)
  WHERE (state = 'queued' OR state = 'retry_wait');
CREATE INDEX messages_next ON messages(next_attempt_at)
  WHERE (state = 'queued' OR state = 'retry_wait');
CREATE INDEX messages_expiry ON messages(expires_at)
  WHERE (state = 'queued' OR state = 'retry_wait' OR state = 'standby') AND expires_at > 0;
CREATE INDEX messages_order ON messages(order_id, channel, id);
CREATE INDEX messages_recipient ON messages(recipient COLLATE NOCASE, id);
CREATE INDEX messages_state ON messages(state) WHERE
  (state = 'queued' OR state = 'retry_wait' OR state = 'sending' OR state = 'held' OR
   state = 'scheduled' OR state = 'dead' OR state = 'standby' OR state = 'failed' OR
   state = 'expired' OR state = 'cancelled' OR state = 'superseded' OR state = 'suppressed');
CREATE INDEX messages_fallback ON messages(fallback_for) WHERE fallback_for IS NOT NULL;
CREATE INDEX messages_created ON messages(created_at, id);
CREATE INDEX messages_retention ON messages(updated_at) WHERE erased_at IS NULL AND
  (state = 'sent' OR state = 'delivered' OR state = 'failed' OR state = 'dead' OR
   state = 'cancelled' OR state = 'suppressed' OR state = 'superseded' OR state = 'expired' OR
   state = 'not_needed');
)sql",
};

void migrate(Db& db) {
  int version = schema_version(db);
  if (version > static_cast<int>(kMigrations.size())) {
    throw SqliteError(0, db.path() + " has schema version " + std::to_string(version) +
                             ", newer than this tackd understands (" +
                             std::to_string(kMigrations.size()) + ")");
  }
  for (int v = version; v < static_cast<int>(kMigrations.size()); ++v) {
    Transaction tx(db);
    db.exec(kMigrations[static_cast<std::size_t>(v)]);
    if (db.prepare("PRAGMA foreign_key_check").step()) {
      throw SqliteError(0, db.path() + ": upgrading the schema to version " +
                               std::to_string(v + 1) + " would break a foreign key");
    }
    db.exec("PRAGMA user_version = " + std::to_string(v + 1));
    tx.commit();
  }
}

const char* kMessageColumns =
    "id, event_id, order_id, rule, channel, kind, template, locale, recipient, subject, body, "
    "html, state, gateway, idempotency_key, provider_id, last_error, attempts, created_at, "
    "updated_at, next_attempt_at, fallback_for";

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
  m.state = s.text(12);
  m.gateway = s.text(13);
  m.idempotency_key = s.text(14);
  m.provider_id = s.text(15);
  m.last_error = s.text(16);
  m.attempts = static_cast<int>(s.int64(17));
  m.created_at_ms = s.int64(18);
  m.updated_at_ms = s.int64(19);
  m.next_attempt_at_ms = s.int64(20);
  m.fallback_for = s.is_null(21) ? 0 : s.int64(21);
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
}

ChannelKind kind_from_string(const std::string& s) {
  return s == "email" ? ChannelKind::Email : ChannelKind::Sms;
}

}  // namespace

int schema_version(Db& db) {
  auto s = db.prepare("PRAGMA user_version");
  return s.step() ? static_cast<int>(s.int64(0)) : 0;
}

std::unique_ptr<Db> open_store(const std::string& path, bool synchronous_full) {
  auto db = std::make_unique<Db>(path);
  db->exec("PRAGMA journal_mode = WAL");
  db->exec(synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  // Text that retention, a forget request or any update leaves behind is
  // zeroed, free pages too, so erased personal data is not left in the file.
  db->exec("PRAGMA secure_delete = ON");
  // Migrations run with foreign keys off (a table rebuild drops the old
  // table while others still refer to it), then check what they kept.
  migrate(*db);
  db->exec("PRAGMA foreign_keys = ON");
  return db;
}

std::unique_ptr<Db> open_store_readonly(const std::string& path) {
  auto db = std::make_unique<Db>(path, Db::Mode::ReadOnly);
  require_current_schema(*db);
  return db;
}

void require_current_schema(Db& db) {
  const int version = schema_version(db);
  const int current = static_cast<int>(kMigrations.size());
  if (version == 0) throw SqliteError(0, db.path() + " is not a tack store (no schema)");
  if (version < current) {
    throw SqliteError(0, db.path() + " has schema version " + std::to_string(version) +
                             "; start (or restart) tackd once to upgrade it to " +
                             std::to_string(current));
  }
}

std::string to_string(EventVerdict verdict) {
  switch (verdict) {
    case EventVerdict::Accepted: return "accepted";
    case EventVerdict::Duplicate: return "duplicate";
    case EventVerdict::Stale: return "stale";
    case EventVerdict::Rejected: return "rejected";
  }
  return "rejected";
}

namespace {

// A primary message reached `primary_state`: its standby fallback (if any)
// goes out (the primary failed or gave up), or is not needed (sent), or
// shares the primary's end (expired, superseded, cancelled).
void settle_standby(Db& db, std::int64_t primary_id, const std::string& primary_state,
                    const std::string& why, std::int64_t now_ms) {
  // An attempt that ends in `expired` means the primary's next retry would
  // come too late; its fallback may still be in time (expire_overdue ends
  // it when it is not).
  if (primary_state == state::kFailed || primary_state == state::kDead ||
      primary_state == state::kExpired) {
    // Unless newer news for this order already went out on that channel:
    // then the fallback would arrive out of date (per-order order).
    db.prepare(
          "UPDATE messages SET updated_at = ?2, next_attempt_at = ?2, round_started_at = ?2, "
          "state = CASE WHEN EXISTS (SELECT 1 FROM messages n WHERE n.order_id = "
          "messages.order_id AND n.channel = messages.channel AND n.id > messages.id AND "
          "n.state NOT IN ('standby', 'not_needed', 'failed', 'cancelled', 'superseded', "
          "'expired', 'dead')) THEN 'superseded' ELSE 'queued' END, "
          "last_error = 'fallback for message ' || ?1 || ', which ' || ?3 || ': ' || ?4 "
          "WHERE fallback_for = ?1 AND state = 'standby'")
        .bind(1, primary_id)
        .bind(2, now_ms)
        .bind(3, primary_state == state::kFailed   ? "failed"
                 : primary_state == state::kDead   ? "gave up"
                                                   : "ran out of time")
        .bind(4, why)
        .run();
    return;
  }
  std::string to = primary_state;
  std::string reason = "primary message " + std::to_string(primary_id) + " is " + primary_state;
  if (primary_state == state::kSent || primary_state == state::kDelivered) {
    to = state::kNotNeeded;
    reason = "not needed: message " + std::to_string(primary_id) + " was sent";
  } else if (primary_state != state::kExpired && primary_state != state::kSuperseded &&
             primary_state != state::kCancelled) {
    return;  // still on its way (retrying, held): the standby keeps waiting
  }
  db.prepare(
        "UPDATE messages SET state = ?2, updated_at = ?3, last_error = ?4 "
        "WHERE fallback_for = ?1 AND state = 'standby'")
      .bind(1, primary_id)
      .bind(2, to)
      .bind(3, now_ms)
      .bind(4, reason)
      .run();
}

}  // namespace

EventResult apply_event(Db& db, const EventRecord& r, std::int64_t now_ms) {
  EventResult result;
  result.event_id = r.event_id.empty() ? r.claimed_event_id : r.event_id;
  auto insert = db.prepare(
      "INSERT INTO events (event_id, claimed_event_id, order_id, status, occurred_at, "
      "received_at, source, verdict, reason, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
      "?10) ON CONFLICT(event_id) DO UPDATE SET duplicates = duplicates + 1");

  auto bind_common = [&](const char* verdict, const std::string& reason) {
    if (r.event_id.empty()) {
      insert.bind_null(1);
    } else {
      insert.bind(1, r.event_id);
    }
    insert.bind(2, r.claimed_event_id).bind(3, r.order_id).bind(4, r.status);
    insert.bind(5, r.occurred_at_ms).bind(6, now_ms).bind(7, r.source);
    insert.bind(8, verdict).bind(9, reason).bind(10, r.payload);
  };

  if (!r.reject_reason.empty()) {
    bind_common("rejected", r.reject_reason);
    insert.run();
    result.verdict = EventVerdict::Rejected;
    result.reason = r.reject_reason;
    return result;
  }

  // Dedup first: an event_id seen before creates nothing new.
  {
    auto seen = db.prepare("SELECT 1 FROM events WHERE event_id = ?1");
    seen.bind(1, r.event_id);
    if (seen.step()) {
      db.prepare("UPDATE events SET duplicates = duplicates + 1 WHERE event_id = ?1")
          .bind(1, r.event_id)
          .run();
      result.verdict = EventVerdict::Duplicate;
      return result;
    }
  }

  // Status order: a transition backwards (or anything after a terminal
  // status) tells the customer nothing new.
  auto order = db.prepare("SELECT last_status, last_rank, terminal FROM orders WHERE order_id = ?1");
  order.bind(1, r.order_id);
  if (order.step()) {
    std::string last_status = order.text(0);
    auto last_rank = order.int64(1);
    bool last_terminal = order.int64(2) != 0;
    bool stale = last_terminal || (!r.terminal && r.rank < last_rank);
    if (stale) {
      result.verdict = EventVerdict::Stale;
      result.reason = "order " + r.order_id + " is already " + last_status;
      bind_common("stale", result.reason);
      insert.run();
      return result;
    }
  }

  bind_common("accepted", "");
  insert.run();
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

  auto supersede = db.prepare(
      "UPDATE messages SET state = 'superseded', updated_at = ?3, last_error = ?4 "
      "WHERE order_id = ?1 AND channel = ?2 AND (state = 'retry_wait' OR state = 'scheduled')");
  // Their standby fallbacks carry the same out-of-date news.
  auto supersede_standby = db.prepare(
      "UPDATE messages SET state = 'superseded', updated_at = ?2, last_error = ?3 "
      "WHERE state = 'standby' AND order_id = ?1 AND fallback_for IN (SELECT id FROM messages "
      "WHERE order_id = ?1 AND state = 'superseded')");
  auto add = db.prepare(
      "INSERT INTO messages (event_id, order_id, rule, channel, kind, template, locale, "
      "recipient, subject, body, html, state, gateway, idempotency_key, last_error, created_at, "
      "updated_at, next_attempt_at, round_started_at, expires_at, fallback_for) VALUES (?1, ?2, "
      "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16, ?16, ?16, ?17, ?18)");
  std::vector<std::int64_t> ids(r.messages.size(), 0);  // 0: not inserted
  for (std::size_t i = 0; i < r.messages.size(); ++i) {
    const auto& m = r.messages[i];
    std::int64_t primary = 0;
    if (m.standby_for >= 0) {
      // A standby exists only beside its primary.
      primary = static_cast<std::size_t>(m.standby_for) < i ? ids[static_cast<std::size_t>(m.standby_for)] : 0;
      if (primary == 0) continue;
    }
    // A status update still waiting for a retry is overtaken by this newer
    // one: recorded as superseded, never sent (DESIGN.md, per-order order).
    if (m.state == state::kQueued) {
      supersede.bind(1, r.order_id)
          .bind(2, m.channel)
          .bind(3, now_ms)
          .bind(4, "superseded by " + r.status + " (event " + r.event_id + ")")
          .run();
      if (db.changes() > 0) {
        supersede_standby.bind(1, r.order_id)
            .bind(2, now_ms)
            .bind(3, "superseded by " + r.status + " (event " + r.event_id + ")")
            .run();
      }
    }
    add.bind(1, r.event_id).bind(2, r.order_id).bind(3, m.rule).bind(4, m.channel);
    add.bind(5, to_string(m.kind)).bind(6, m.template_name).bind(7, m.locale);
    add.bind(8, m.recipient).bind(9, m.subject).bind(10, m.text).bind(11, m.html);
    add.bind(12, m.state).bind(13, m.gateway).bind(14, m.idempotency_key);
    add.bind(15, m.last_error).bind(16, now_ms).bind(17, m.expires_at_ms);
    if (primary) {
      add.bind(18, primary);
    } else {
      add.bind_null(18);
    }
    add.run();
    if (db.changes() > 0) {
      ids[i] = db.last_insert_rowid();
      ++result.messages_created;
    }
  }
  result.verdict = EventVerdict::Accepted;
  return result;
}

namespace {

// Moves up to `limit` due messages waiting for `gateway` (of `channel`, if
// given) to `sending`, to be sent through `via` (at index `via_index` of
// the channel) when that is not empty.
std::vector<ClaimedMessage> claim(Db& db, const std::string& gateway, const std::string& channel,
                                  const std::string& via, int via_index, int limit,
                                  std::int64_t now_ms) {
  std::vector<ClaimedMessage> out;
  if (limit <= 0) return out;
  auto select = db.prepare(
      "SELECT id, event_id, order_id, rule, channel, kind, template, locale, recipient, subject, "
      "body, html, idempotency_key, attempts, gateway_index, round_started_at, expires_at "
      "FROM messages m "
      "WHERE m.gateway = ?1 AND (m.state = 'queued' OR m.state = 'retry_wait') "
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
      "AND NOT EXISTS (SELECT 1 FROM messages p WHERE p.order_id = m.order_id "
      "  AND p.channel = m.channel AND p.id < m.id "
      "  AND p.state IN ('queued', 'retry_wait', 'sending', 'scheduled')) "
      "ORDER BY m.next_attempt_at, m.id LIMIT ?3");
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
    out.push_back(std::move(c));
  }
  auto mark = db.prepare(
      "UPDATE messages SET state = 'sending', attempts = attempts + 1, updated_at = ?2, "
      "gateway = ?3, gateway_index = ?4 WHERE id = ?1");
  for (const auto& c : out) {
    mark.bind(1, c.message.id).bind(2, now_ms).bind(3, c.gateway).bind(4, c.gateway_index).run();
  }
  return out;
}

}  // namespace

void expire_overdue(Db& db, std::int64_t now_ms) {
  // INDEXED BY: without statistics SQLite prefers messages_state here, which
  // walks every waiting message on each claim (quadratic in a full queue).
  db.prepare(
        "UPDATE messages INDEXED BY messages_expiry SET state = 'expired', updated_at = ?1, last_error = 'expired unsent: "
        "its rule''s ttl ran out' || CASE WHEN last_error = '' THEN '' ELSE ' (last error: ' || "
        "last_error || ')' END WHERE (state = 'queued' OR state = 'retry_wait' OR state = 'standby') "
        "AND expires_at > 0 AND expires_at <= ?1")
      .bind(1, now_ms)
      .run();
}

std::vector<ClaimedMessage> claim_due(Db& db, const std::string& gateway, int limit,
                                      std::int64_t now_ms) {
  // Messages whose time has passed are expired, never sent late.
  expire_overdue(db, now_ms);
  return claim(db, gateway, "", "", 0, limit, now_ms);
}

void unclaim(Db& db, const std::vector<std::int64_t>& ids) {
  auto back = db.prepare(
      "UPDATE messages SET state = 'queued', attempts = attempts - 1 "
      "WHERE id = ?1 AND state = 'sending'");
  for (auto id : ids) back.bind(1, id).run();
}

std::vector<ClaimedMessage> claim_rerouted(Db& db, const std::string& channel,
                                           const std::string& from_gateway,
                                           const std::string& to_gateway, int to_index, int limit,
                                           std::int64_t now_ms) {
  expire_overdue(db, now_ms);
  return claim(db, from_gateway, channel, to_gateway, to_index, limit, now_ms);
}

std::optional<std::int64_t> next_due_at(Db& db) {
  auto s = db.prepare(
      "SELECT MIN(next_attempt_at) FROM messages INDEXED BY messages_next "
      "WHERE (state = 'queued' OR state = 'retry_wait')");
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
        "updated_at = ?8 WHERE id = ?1")
      .bind(1, a.message_id)
      .bind(2, a.next_state)
      .bind(3, a.next_attempt_at_ms)
      .bind(4, a.next_gateway)
      .bind(5, a.next_gateway_index)
      .bind(6, a.last_error)
      .bind(7, a.provider_id)
      .bind(8, now_ms)
      .run();
  settle_standby(db, a.message_id, a.next_state, a.last_error, now_ms);
  // A status update that has to wait for a retry while a newer one for the
  // same order and channel is pending would hold the newer one back and then
  // arrive out of date: it is superseded instead (DESIGN.md, per-order order).
  if (a.next_state == state::kRetryWait || a.next_state == state::kQueued) {
    db.prepare(
          "UPDATE messages SET state = 'superseded', last_error = 'superseded by a newer "
          "message for this order' WHERE id = ?1 AND EXISTS (SELECT 1 FROM messages n "
          "WHERE n.order_id = messages.order_id AND n.channel = messages.channel "
          "AND n.id > messages.id AND (n.state = 'queued' OR n.state = 'retry_wait' OR "
          "n.state = 'scheduled'))")
        .bind(1, a.message_id)
        .run();
    if (db.changes() > 0) settle_standby(db, a.message_id, state::kSuperseded, "", now_ms);
  }
}

int recover_interrupted(Db& db, std::int64_t now_ms) {
  db.prepare(
        "INSERT INTO attempts (message_id, number, gateway, started_at, duration_ms, outcome, "
        "detail) SELECT id, (SELECT COUNT(*) + 1 FROM attempts a WHERE a.message_id = m.id), "
        "gateway, updated_at, 0, 'unknown', "
        "'tackd stopped while this attempt was in flight; the provider may have it. Retried with "
        "the same idempotency key.' FROM messages m WHERE state = 'sending'")
      .run();
  auto s = db.prepare(
      "UPDATE messages SET state = 'queued', next_attempt_at = ?1, updated_at = ?1 "
      "WHERE state = 'sending'");
  s.bind(1, now_ms).run();
  return db.changes();
}

namespace {

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

// Moves one message between states if it is in one of `from`; says why not.
OperatorResult move_message(Db& db, std::int64_t id, const std::vector<std::string>& from,
                            const std::string& to, const std::string& action,
                            const std::string& actor, std::int64_t now_ms) {
  OperatorResult result;
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
  const std::string state = current.text(0);
  if (std::find(from.begin(), from.end(), state) == from.end()) {
    result.error = "message " + std::to_string(id) + " is " + state + "; " + action +
                   " works on a message that is ";
    for (std::size_t i = 0; i < from.size(); ++i) result.error += (i ? ", " : "") + from[i];
    return result;
  }
  // A retry starts a new round: attempts and max_age count afresh.
  db.prepare(
        "UPDATE messages SET state = ?2, updated_at = ?3, "
        "next_attempt_at = CASE WHEN ?2 = 'queued' THEN ?3 ELSE next_attempt_at END, "
        "attempts = CASE WHEN ?4 THEN 0 ELSE attempts END, "
        "round_started_at = CASE WHEN ?4 THEN ?3 ELSE round_started_at END, "
        "last_error = CASE WHEN ?2 = 'cancelled' THEN 'cancelled by ' || ?5 ELSE last_error END "
        "WHERE id = ?1")
      .bind(1, id)
      .bind(2, to)
      .bind(3, now_ms)
      .bind(4, action == "retry" ? 1 : 0)
      .bind(5, actor)
      .run();
  audit(db, actor, action, "message " + std::to_string(id), state + " -> " + to, now_ms);
  if (to == state::kCancelled) settle_standby(db, id, to, "", now_ms);
  result.changed = 1;
  return result;
}

}  // namespace

bool MessageView::refused_by_tack() const {
  return state == state::kFailed && attempt_log.empty();
}

std::vector<std::string> MessageView::actions() const {
  std::vector<std::string> out;
  auto in = [this](std::initializer_list<const char*> states) {
    for (const char* s : states) {
      if (state == s) return true;
    }
    return false;
  };
  if (recipient == kErased) return out;  // nothing left to send
  if (in({state::kFailed, state::kDead, state::kRetryWait, state::kHeld}) && !refused_by_tack()) {
    out.push_back("retry");
  }
  if (in({state::kQueued, state::kRetryWait, state::kScheduled, state::kHeld})) {
    out.push_back("cancel");
  }
  if (in({state::kQueued, state::kRetryWait, state::kScheduled})) out.push_back("hold");
  if (in({state::kHeld})) out.push_back("release");
  return out;
}

OperatorResult operator_retry(Db& db, std::int64_t id, const std::string& actor,
                              std::int64_t now_ms) {
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
  auto fallback = db.prepare(
      "SELECT id, channel, state FROM messages WHERE fallback_for = ?1 AND state IN ('queued', "
      "'retry_wait', 'sending', 'sent', 'delivered', 'held')");
  fallback.bind(1, id);
  if (fallback.step()) {
    OperatorResult result;
    result.error = "message " + std::to_string(id) + " fell back to message " +
                   std::to_string(fallback.int64(0)) + " on " + fallback.text(1) + ", which is " +
                   fallback.text(2) + "; retrying would tell the customer twice";
    return result;
  }
  return move_message(db, id, {state::kFailed, state::kDead, state::kRetryWait, state::kHeld},
                      state::kQueued, "retry", actor, now_ms);
}

OperatorResult operator_cancel(Db& db, std::int64_t id, const std::string& actor,
                               std::int64_t now_ms) {
  return move_message(db, id,
                      {state::kQueued, state::kRetryWait, state::kScheduled, state::kHeld},
                      state::kCancelled, "cancel", actor, now_ms);
}

OperatorResult operator_hold(Db& db, std::int64_t id, const std::string& actor,
                             std::int64_t now_ms) {
  return move_message(db, id, {state::kQueued, state::kRetryWait, state::kScheduled},
                      state::kHeld, "hold", actor, now_ms);
}

OperatorResult operator_release(Db& db, std::int64_t id, const std::string& actor,
                                std::int64_t now_ms) {
  return move_message(db, id, {state::kHeld}, state::kQueued, "release", actor, now_ms);
}

namespace {
// Retries every message of `sql` (one id column; ?1 since, ?2 gateway or NULL).
OperatorResult retry_each(Db& db, const char* sql, std::int64_t since_ms,
                          const std::optional<std::string>& gateway, const std::string& actor,
                          std::int64_t now_ms) {
  auto select = db.prepare(sql);
  select.bind(1, since_ms).bind(2, gateway);
  std::vector<std::int64_t> ids;
  while (select.step()) ids.push_back(select.int64(0));
  OperatorResult total;
  for (auto id : ids) total.changed += operator_retry(db, id, actor, now_ms).changed;
  return total;
}
}  // namespace

OperatorResult operator_retry_dead(Db& db, std::int64_t since_ms,
                                   const std::optional<std::string>& gateway,
                                   const std::string& actor, std::int64_t now_ms) {
  return retry_each(
      db,
      "SELECT id FROM messages WHERE state = 'dead' AND erased_at IS NULL AND updated_at >= ?1 "
      "AND (?2 IS NULL OR gateway = ?2) ORDER BY id",
      since_ms, gateway, actor, now_ms);
}

OperatorResult operator_retry_failed(Db& db, std::int64_t since_ms,
                                     const std::optional<std::string>& gateway,
                                     const std::string& actor, std::int64_t now_ms) {
  // Only messages a gateway answered: one tack refused at intake has no
  // attempt, and sending it as it is can only fail.
  return retry_each(
      db,
      "SELECT id FROM messages m WHERE state = 'failed' AND erased_at IS NULL "
      "AND updated_at >= ?1 AND (?2 IS NULL OR gateway = ?2) "
      "AND EXISTS (SELECT 1 FROM attempts a WHERE a.message_id = m.id) ORDER BY id",
      since_ms, gateway, actor, now_ms);
}

OperatorResult operator_hold_gateway(Db& db, const std::string& gateway, bool hold,
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

QueueCounts queue_counts(Db& db) {
  QueueCounts c;
  // Only these states: each is a range of messages_state, never the
  // (large) sent history.
  auto s = db.prepare(
      "SELECT state, COUNT(*) FROM messages WHERE (state = 'queued' OR state = 'retry_wait' OR "
      "state = 'sending' OR state = 'held' OR state = 'scheduled' OR state = 'dead') "
      "GROUP BY state");
  while (s.step()) {
    const auto state = s.text(0);
    const auto n = s.int64(1);
    if (state == state::kQueued) c.queued = n;
    else if (state == state::kRetryWait) c.retry_wait = n;
    else if (state == state::kSending) c.sending = n;
    else if (state == state::kHeld) c.held = n;
    else if (state == state::kScheduled) c.scheduled = n;
    else if (state == state::kDead) c.dead = n;
  }
  return c;
}

namespace {
// " AND (recipient = ?n COLLATE NOCASE OR …)": each term can use the
// messages_recipient index.
std::string recipients_condition(const std::vector<std::string>& recipients, int& index) {
  if (recipients.empty()) return {};
  std::string sql = " AND (";
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    if (i > 0) sql += " OR ";
    sql += "recipient = ?" + std::to_string(++index) + " COLLATE NOCASE";
  }
  return sql + ")";
}
}  // namespace

std::vector<MessageView> find_messages(Db& db, const MessageQuery& q) {
  std::string sql = std::string("SELECT ") + kMessageColumns + " FROM messages WHERE 1=1";
  int index = 0;
  if (q.order_id) sql += " AND order_id = ?" + std::to_string(++index);
  sql += recipients_condition(q.recipients, index);
  if (q.message_id) sql += " AND id = ?" + std::to_string(++index);
  // The newest `limit` messages, shown oldest first: support asks about the
  // latest contact far more often than the first.
  sql = "SELECT * FROM (" + sql + " ORDER BY id DESC LIMIT ?" + std::to_string(++index) +
        ") ORDER BY id";
  auto s = db.prepare(sql);
  index = 0;
  if (q.order_id) s.bind(++index, *q.order_id);
  for (const auto& r : q.recipients) s.bind(++index, r);
  if (q.message_id) s.bind(++index, *q.message_id);
  s.bind(++index, q.limit);
  std::vector<MessageView> out;
  while (s.step()) out.push_back(read_message_row(s));
  load_attempt_logs(db, out);
  return out;
}

namespace {
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
    out.push_back(std::move(e));
  }
  return out;
}
const char* kEventColumns =
    "event_id, claimed_event_id, order_id, status, occurred_at, received_at, source, verdict, "
    "reason, duplicates";
}  // namespace

std::vector<EventView> find_events(Db& db, const std::string& order_id) {
  auto s = db.prepare(std::string("SELECT ") + kEventColumns +
                      " FROM events WHERE order_id = ?1 ORDER BY id");
  s.bind(1, order_id);
  return read_events(s);
}

std::vector<EventView> rejected_events(Db& db, int limit) {
  auto s = db.prepare(std::string("SELECT ") + kEventColumns +
                      " FROM events WHERE verdict = 'rejected' ORDER BY received_at DESC, id DESC "
                      "LIMIT ?1");
  s.bind(1, limit);
  return read_events(s);
}

// ---- retention and erasure ----------------------------------------------

namespace {

// Keep in step with the state list of the messages_retention index (v5).
#define TACK_FINAL_STATES                                                                   \
  "('sent', 'delivered', 'failed', 'dead', 'cancelled', 'suppressed', 'superseded', 'expired', " \
  "'not_needed')"
// The same, as the index's WHERE says it (the planner matches terms).
#define TACK_IS_FINAL                                                                       \
  "(state = 'sent' OR state = 'delivered' OR state = 'failed' OR state = 'dead' OR "       \
  "state = 'cancelled' OR state = 'suppressed' OR state = 'superseded' OR state = 'expired' OR " \
  "state = 'not_needed')"

// Recipient, texts and the last error of one message; its attempts'
// provider answers. Returns how many attempts changed.
int erase_message(Db& db, std::int64_t id, std::int64_t now_ms) {
  db.prepare("UPDATE attempts SET detail = ?2 WHERE message_id = ?1 AND detail != ''")
      .bind(1, id)
      .bind(2, kErased)
      .run();
  const int attempts = db.changes();
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
const char* kPrunableMessages =
    "FROM messages INDEXED BY messages_retention WHERE erased_at IS NULL AND " TACK_IS_FINAL
    " AND updated_at < ?1";
// An order with a message still pending keeps its events.
const char* kPrunableEvents =
    "FROM events e INDEXED BY events_retention WHERE erased_at IS NULL AND received_at < ?1 AND "
    "NOT EXISTS (SELECT 1 FROM messages m WHERE m.order_id = e.order_id AND m.state NOT IN "
    TACK_FINAL_STATES ")";

}  // namespace

PruneCounts prune_batch(Db& db, std::int64_t cutoff_ms, bool remove, int limit,
                        std::int64_t now_ms) {
  PruneCounts counts;
  std::vector<std::int64_t> ids;
  {
    auto s = db.prepare(std::string("SELECT id ") + kPrunableMessages +
                        " ORDER BY updated_at LIMIT ?2");
    s.bind(1, cutoff_ms).bind(2, limit);
    while (s.step()) ids.push_back(s.int64(0));
  }
  for (auto id : ids) {
    if (remove) {
      db.prepare("DELETE FROM attempts WHERE message_id = ?1").bind(1, id).run();
      counts.attempts += db.changes();
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
  ids.clear();
  {
    auto s = db.prepare(std::string("SELECT id ") + kPrunableEvents +
                        " ORDER BY received_at LIMIT ?2");
    s.bind(1, cutoff_ms).bind(2, limit);
    while (s.step()) ids.push_back(s.int64(0));
  }
  for (auto id : ids) {
    if (remove) {
      db.prepare("DELETE FROM events WHERE id = ?1").bind(1, id).run();
    } else {
      erase_event(db, id, now_ms);
    }
    ++counts.events;
  }
  counts.more = messages_full || static_cast<int>(ids.size()) == limit;
  return counts;
}

PruneCounts prune_preview(Db& db, std::int64_t cutoff_ms) {
  PruneCounts counts;
  auto messages = db.prepare(std::string("SELECT COUNT(*) ") + kPrunableMessages);
  messages.bind(1, cutoff_ms);
  if (messages.step()) counts.messages = messages.int64(0);
  auto attempts = db.prepare(
      std::string("SELECT COUNT(*) FROM attempts WHERE message_id IN (SELECT id ") +
      kPrunableMessages + ")");
  attempts.bind(1, cutoff_ms);
  if (attempts.step()) counts.attempts = attempts.int64(0);
  auto events = db.prepare(std::string("SELECT COUNT(*) ") + kPrunableEvents);
  events.bind(1, cutoff_ms);
  if (events.step()) counts.events = events.int64(0);
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
    std::string state, event_id;
  };
  std::vector<Found> found;
  {
    auto s = db.prepare(
        "SELECT id, state, event_id FROM messages WHERE recipient = ?1 COLLATE NOCASE "
        "AND erased_at IS NULL ORDER BY id");
    s.bind(1, recipient);
    while (s.step()) found.push_back({s.int64(0), s.text(1), s.text(2)});
  }
  std::vector<std::int64_t> events = event_ids;
  auto event_row = db.prepare("SELECT id FROM events WHERE event_id = ?1");
  for (const auto& m : found) {
    if (m.state == state::kSending) {
      // The gateway has it right now; its outcome is about to be recorded.
      result.in_flight.push_back(m.id);
      continue;
    }
    if (m.state == state::kQueued || m.state == state::kRetryWait ||
        m.state == state::kScheduled || m.state == state::kHeld || m.state == state::kStandby) {
      db.prepare(
            "UPDATE messages SET state = 'cancelled', updated_at = ?2, last_error = "
            "'cancelled: the recipient asked to be forgotten' WHERE id = ?1")
          .bind(1, m.id)
          .bind(2, now_ms)
          .run();
      audit(db, actor, "cancel", "message " + std::to_string(m.id),
            m.state + " -> cancelled (forget request)", now_ms);
      settle_standby(db, m.id, state::kCancelled, "", now_ms);
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

void for_each_message(Db& db, std::int64_t since_ms, std::int64_t until_ms,
                      const std::function<void(const MessageView&)>& each) {
  auto s = db.prepare(std::string("SELECT ") + kMessageColumns +
                      " FROM messages WHERE created_at >= ?1 AND created_at < ?2 "
                      "ORDER BY created_at, id");
  s.bind(1, since_ms).bind(2, until_ms);
  std::vector<MessageView> one(1);
  while (s.step()) {
    one[0] = read_message_row(s);
    load_attempt_logs(db, one);
    each(one[0]);
  }
}

// ---- Store --------------------------------------------------------------

namespace {
std::string describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return *ex.what() ? ex.what() : "unnamed error";
  } catch (...) {
    return "unknown exception";
  }
}
}  // namespace

Store::Store(std::unique_ptr<Db> db, std::size_t max_batch)
    : db_(std::move(db)), max_batch_(max_batch), thread_([this] { run(); }) {}

Store::~Store() { close(); }

void Store::submit(Work work, Done done) {
  {
    std::lock_guard lock(mutex_);
    if (!closing_) {
      queue_.push_back(Job{std::move(work), std::move(done)});
      work = nullptr;
    }
  }
  if (work) {
    // Late work after close: refuse it rather than lose it silently.
    if (done) done("store is closed");
    return;
  }
  wake_.notify_one();
}

void Store::close() {
  {
    std::lock_guard lock(mutex_);
    if (closing_ && !thread_.joinable()) return;
    closing_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

bool Store::healthy() const {
  std::lock_guard lock(mutex_);
  return healthy_;
}

std::string Store::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

void Store::note_health(const std::string& batch_error, bool wrote) {
  const auto now = std::chrono::steady_clock::now();
  bool was_healthy;
  {
    std::lock_guard lock(mutex_);
    was_healthy = healthy_;
    // A batch that wrote nothing commits even on a full disk: only a write
    // proves the store works again.
    if (batch_error.empty() && !wrote && !healthy_) return;
    healthy_ = batch_error.empty();
    if (!batch_error.empty()) last_error_ = batch_error;
  }
  if (batch_error.empty()) {
    if (!was_healthy) {
      const auto seconds =
          std::chrono::duration_cast<std::chrono::seconds>(now - failing_since_).count();
      log::warning("store: writing again after {} s of failures; intake and sending resume",
                   seconds);
    }
    return;
  }
  // Loud at the first failure and once a minute while it lasts, not once
  // per batch: a full disk must not also fill the journal.
  if (was_healthy) {
    failing_since_ = now;
    last_alarm_ = now;
    log::error("store: {} -- tackd accepts no events and sends nothing until the store can "
               "write again (disk full? I/O error? locked by another process?)",
               batch_error);
  } else if (now - last_alarm_ >= std::chrono::minutes(1)) {
    last_alarm_ = now;
    log::error("store: still cannot write after {} s: {}",
               std::chrono::duration_cast<std::chrono::seconds>(now - failing_since_).count(),
               batch_error);
  }
}

void Store::run() {
  // Named for `top -H` and perf (at most 15 characters).
  pthread_setname_np(pthread_self(), "tack-store");
  std::vector<Job> batch;
  std::vector<std::string> errors;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty() && closing_) return;
      while (!queue_.empty() && batch.size() < max_batch_) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    errors.assign(batch.size(), std::string());
    std::string batch_error;
    const auto changes_before = db_->total_changes();
    try {
      Transaction tx(*db_);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        db_->prepare("SAVEPOINT job").run();
        try {
          batch[i].work(*db_);
          db_->prepare("RELEASE job").run();
        } catch (const SqliteError& e) {
          // Disk full, I/O error, locked: the store is failing, not this
          // unit. Fail the whole batch so nobody is told "committed".
          if (e.transient()) throw;
          errors[i] = std::string("unit of work failed: ") + e.what();
          db_->prepare("ROLLBACK TO job").run();
          db_->prepare("RELEASE job").run();
        } catch (...) {
          // Never empty: an empty error means committed to the caller.
          errors[i] = std::string("unit of work failed: ") + describe(std::current_exception());
          db_->prepare("ROLLBACK TO job").run();
          db_->prepare("RELEASE job").run();
        }
      }
      tx.commit();
    } catch (...) {
      batch_error = "store cannot write: " + describe(std::current_exception());
    }
    note_health(batch_error, db_->total_changes() != changes_before);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!batch[i].done) continue;
      try {
        batch[i].done(batch_error.empty() ? errors[i] : batch_error);
      } catch (...) {
        // A caller's callback must not take the writer thread down with it.
      }
    }
    batch.clear();
  }
}


// ---- support API queries ------------------------------------------------

namespace {

// An order's messages are few; this bounds a pathological one.
constexpr int kTimelineMessages = 1000;

}  // namespace

MessagePage search_messages(Db& db, const MessageSearch& q) {
  std::string sql = std::string("SELECT ") + kMessageColumns + " FROM messages WHERE 1=1";
  int index = 0;
  auto add = [&](const char* condition) {
    sql += std::string(" AND ") + condition + std::to_string(++index);
  };
  if (q.order_id) add("order_id = ?");
  sql += recipients_condition(q.recipients, index);
  if (q.state) add("state = ?");
  if (q.since_ms) add("created_at >= ?");
  if (q.until_ms) add("created_at < ?");
  if (q.before_id) add("id < ?");
  // One more than asked tells whether another page follows.
  sql += " ORDER BY id DESC LIMIT ?" + std::to_string(++index);
  auto s = db.prepare(sql);
  index = 0;
  if (q.order_id) s.bind(++index, *q.order_id);
  for (const auto& r : q.recipients) s.bind(++index, r);
  if (q.state) s.bind(++index, *q.state);
  if (q.since_ms) s.bind(++index, *q.since_ms);
  if (q.until_ms) s.bind(++index, *q.until_ms);
  if (q.before_id) s.bind(++index, *q.before_id);
  const int limit = std::max(1, q.limit);
  s.bind(++index, limit + 1);
  MessagePage page;
  while (s.step()) page.messages.push_back(read_message_row(s));
  if (page.messages.size() > static_cast<std::size_t>(limit)) {
    page.messages.resize(static_cast<std::size_t>(limit));
    page.more = true;
  }
  load_attempt_logs(db, page.messages);
  return page;
}

std::optional<OrderTimeline> order_timeline(Db& db, const std::string& order_id) {
  OrderTimeline t;
  t.order_id = order_id;
  t.events = find_events(db, order_id);
  auto messages = db.prepare(std::string("SELECT ") + kMessageColumns +
                             " FROM messages WHERE order_id = ?1 ORDER BY id LIMIT ?2");
  messages.bind(1, order_id).bind(2, kTimelineMessages);
  while (messages.step()) t.messages.push_back(read_message_row(messages));
  if (t.events.empty() && t.messages.empty()) return std::nullopt;
  load_attempt_logs(db, t.messages);

  auto status = db.prepare("SELECT last_status FROM orders WHERE order_id = ?1");
  status.bind(1, order_id);
  if (status.step()) t.status = status.text(0);

  auto audit = db.prepare(
      "SELECT at, actor, action, target, detail FROM audit WHERE target IN "
      "(SELECT 'message ' || id FROM messages WHERE order_id = ?1) ORDER BY id");
  audit.bind(1, order_id);
  while (audit.step()) {
    t.audit.push_back({audit.int64(0), audit.text(1), audit.text(2), audit.text(3), audit.text(4)});
  }

  auto next = db.prepare(
      "SELECT id, next_attempt_at FROM messages WHERE order_id = ?1 "
      "AND state IN ('queued', 'retry_wait', 'scheduled') ORDER BY next_attempt_at, id LIMIT 1");
  next.bind(1, order_id);
  if (next.step()) t.next_contact = std::make_pair(next.int64(0), next.int64(1));
  return t;
}

QueueFigures queue_figures(Db& db, std::int64_t now_ms) {
  QueueFigures f;
  static_cast<QueueCounts&>(f) = queue_counts(db);
  auto due = db.prepare(
      "SELECT MIN(next_attempt_at) FROM messages INDEXED BY messages_next "
      "WHERE (state = 'queued' OR state = 'retry_wait') AND next_attempt_at <= ?1");
  due.bind(1, now_ms);
  if (due.step() && !due.is_null(0)) f.oldest_due_at_ms = due.int64(0);
  return f;
}

}  // namespace tack
