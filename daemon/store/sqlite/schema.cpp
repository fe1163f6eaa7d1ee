#include <array>
#include <filesystem>

#include "log.hpp"
#include "store/lifecycle.hpp"
#include "store/sqlite/ops.hpp"

namespace tack::sqlite {

namespace {

// Versioned migrations: index i brings the schema from version i to i+1.
// Never edit a released step; append a new one.
const std::array<const char*, 11> kMigrations = {
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
    //   matches them (tests/store/sqlite_test.cpp checks both).
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
    // v6: the store contract (issue 13). A claim names its owner and how
    // long its lease lasts, so several tackd can share one store and a
    // restarted one takes back only its own sends; a message says whether a
    // newer one may supersede it (lifecycle.hpp: SupersedePolicy, stored as
    // its enum value). The partial indexes on state are not written here:
    // sync_state_indexes() builds them from the lifecycle on every start.
    R"sql(
ALTER TABLE messages ADD COLUMN owner TEXT;
ALTER TABLE messages ADD COLUMN lease_until INTEGER;
ALTER TABLE messages ADD COLUMN supersede INTEGER NOT NULL DEFAULT 0;
)sql",
    // v7: event-id tombstones (issue 14). When retention deletes an event
    // row, the SHA-256 of its event_id (32 bytes, no personal data) stays
    // here for good, and the event insert consults it: an event sent again
    // (a replayed request, a shop re-sending its history) is a duplicate,
    // not news. Events deleted before this version left none.
    R"sql(
CREATE TABLE event_tombstones (
  id_hash BLOB PRIMARY KEY            -- SHA-256 of a deleted event's event_id
) WITHOUT ROWID;
)sql",
    // v8: what support does (issue 15). A message support sent again (or
    // copied to a corrected address) names its original; the order keeps
    // the address support corrected, and intake addresses the order's later
    // messages to it. copy_of has no REFERENCES: retention may delete an
    // original before its copy.
    R"sql(
ALTER TABLE messages ADD COLUMN copy_of INTEGER;
CREATE INDEX messages_copy_of ON messages(copy_of) WHERE copy_of IS NOT NULL;
CREATE TABLE order_contacts (
  order_id TEXT PRIMARY KEY,
  phone TEXT NOT NULL DEFAULT '',     -- E.164 for SMS; '' not corrected
  email TEXT NOT NULL DEFAULT '',     -- for e-mail; '' not corrected
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
    // v9: time (issue 16). A scheduled message waits for next_attempt_at;
    // rendered = 0 means its texts are empty and the scheduler renders it
    // when it is due. note says why it waits, or why it was cancelled or
    // skipped; timezone and country are the recipient's (quiet hours on every attempt);
    // urgent bypasses quiet hours and caps; cap_* is its channel's
    // frequency cap, checked when it is queued. The scheduler's partial
    // index (messages_scheduled) is built by sync_state_indexes().
    R"sql(
ALTER TABLE messages ADD COLUMN rendered INTEGER NOT NULL DEFAULT 1;
ALTER TABLE messages ADD COLUMN note TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN timezone TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN country TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN urgent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN cap_max INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN cap_window INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN cap_text TEXT NOT NULL DEFAULT '';
)sql",
    // v10: delivery receipts (issue 17). What providers report after a
    // send, on each message's timeline; message_id is NULL while a receipt
    // is parked (it came before the send's answer was recorded). The unique
    // key makes a provider's retry of the same receipt a repeat. Receipts
    // are matched by the provider id an attempt recorded.
    R"sql(
CREATE TABLE receipts (
  id INTEGER PRIMARY KEY,
  gateway TEXT NOT NULL,
  provider_id TEXT NOT NULL,
  message_id INTEGER REFERENCES messages(id),
  kind TEXT NOT NULL,                 -- progress, delivered, undelivered, bounced
  status TEXT NOT NULL,               -- the provider's word
  reason TEXT NOT NULL DEFAULT '',
  at INTEGER NOT NULL,                -- the provider's time; 0 when it gave none
  received_at INTEGER NOT NULL,
  opted_out INTEGER NOT NULL DEFAULT 0,
  UNIQUE (gateway, provider_id, kind, status, at)
);
CREATE INDEX receipts_message ON receipts(message_id, at) WHERE message_id IS NOT NULL;
CREATE INDEX receipts_parked ON receipts(received_at) WHERE message_id IS NULL;
CREATE INDEX attempts_provider ON attempts(provider_id, gateway) WHERE provider_id <> '';
)sql",
    // v11: opt-out (issue 17). The suppression list, one row per channel
    // kind and address (E.164, e-mail in lower case), with why and since
    // when. A message of a rule that ignores opt-out says so itself
    // (ignore_opt_out), so that a later opt-out leaves it alone; a marketing
    // e-mail keeps its one-click unsubscribe URL for every retry.
    R"sql(
CREATE TABLE suppressions (
  kind TEXT NOT NULL,                 -- sms | email
  address TEXT NOT NULL,
  source TEXT NOT NULL,               -- "reply STOP via 46elks", "link", "operator NAME"
  actor TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (kind, address)
) WITHOUT ROWID;
ALTER TABLE messages ADD COLUMN ignore_opt_out INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN unsubscribe_url TEXT NOT NULL DEFAULT '';
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

// Rebuilds each partial index on state whose WHERE is not what the
// lifecycle says now (a state was added, or a store from before v6): the
// queries generate the same terms, and SQLite uses a partial index only when
// the query's terms match its own.
void sync_state_indexes(Db& db, bool quiet) {
  Transaction tx(db);
  auto current = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1");
  for (const auto& [name, sql] : state_indexes()) {
    current.bind(1, name);
    const bool same = current.step() && current.text(0) == sql;
    current.reset();
    if (same) continue;
    if (!quiet) log::info("store: building index {} for the message states of this version", name);
    db.exec("DROP INDEX IF EXISTS " + name);
    db.exec(sql);
  }
  tx.commit();
}

}  // namespace

std::vector<std::pair<std::string, std::string>> state_indexes() {
  return {
      {"messages_due", "CREATE INDEX messages_due ON messages(gateway, next_attempt_at, id) WHERE " +
                           sql_state_is(is_claimable)},
      {"messages_next",
       "CREATE INDEX messages_next ON messages(next_attempt_at) WHERE " + sql_state_is(is_claimable)},
      {"messages_expiry", "CREATE INDEX messages_expiry ON messages(expires_at) WHERE " +
                              sql_state_is(expires) + " AND expires_at > 0"},
      {"messages_state",
       "CREATE INDEX messages_state ON messages(state) WHERE " + sql_state_is(is_looked_up_by_state)},
      {"messages_scheduled", "CREATE INDEX messages_scheduled ON messages(next_attempt_at, id) WHERE " +
                                 sql_state_is(is_scheduled)},
      {"messages_retention",
       "CREATE INDEX messages_retention ON messages(updated_at) WHERE erased_at IS NULL AND " +
           sql_state_is(is_final)},
  };
}

int schema_version(Db& db) {
  auto s = db.prepare("PRAGMA user_version");
  return s.step() ? static_cast<int>(s.int64(0)) : 0;
}

int current_schema_version() { return static_cast<int>(kMigrations.size()); }

std::unique_ptr<Db> open_owner(const std::string& path, bool synchronous_full) {
  auto db = std::make_unique<Db>(path);
  db->exec("PRAGMA journal_mode = WAL");
  db->exec(synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  // Text that retention, a forget request or any update leaves behind is
  // zeroed, free pages too, so erased personal data is not left in the file.
  db->exec("PRAGMA secure_delete = ON");
  // Migrations run with foreign keys off (a table rebuild drops the old
  // table while others still refer to it), then check what they kept.
  const bool fresh = schema_version(*db) == 0;
  migrate(*db);
  sync_state_indexes(*db, fresh);
  db->exec("PRAGMA foreign_keys = ON");
  return db;
}

std::unique_ptr<Db> open_beside(const std::string& path) {
  // Never creates one: the CLI works on the store tackd made.
  if (!std::filesystem::exists(path)) throw SqliteError(0, "no store at " + path);
  auto db = std::make_unique<Db>(path);
  require_current_schema(*db);
  db->exec("PRAGMA secure_delete = ON");
  db->exec("PRAGMA foreign_keys = ON");
  return db;
}

std::unique_ptr<Db> open_readonly(const std::string& path) {
  auto db = std::make_unique<Db>(path, Db::Mode::ReadOnly);
  require_current_schema(*db);
  return db;
}

void require_current_schema(Db& db) {
  const int version = schema_version(db);
  const int current = current_schema_version();
  if (version == 0) throw SqliteError(0, db.path() + " is not a tack store (no schema)");
  if (version < current) {
    throw SqliteError(0, db.path() + " has schema version " + std::to_string(version) +
                             "; start (or restart) tackd once to upgrade it to " +
                             std::to_string(current));
  }
  if (version > current) {
    throw SqliteError(0, db.path() + " has schema version " + std::to_string(version) +
                             ", newer than this tackd understands (" + std::to_string(current) +
                             ")");
  }
}

}  // namespace tack::sqlite
