// What only the SQLite store can be asked: its file (WAL, pragmas), its
// schema and migrations, its partial indexes and query plans, and how it
// behaves when the disk fails under it. Everything a store promises is in
// contract_test.cpp; these tests call the SQLite operations (store/sqlite/
// ops.hpp) on a Db they opened themselves.
#include <catch2/catch.hpp>
#include <fstream>
#include <future>
#include <set>
#include <sstream>

#include "store/lifecycle.hpp"
#include "store/sqlite/ops.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/faulty_vfs.hpp"
#include "support/temp_dir.hpp"
#include "support/store.hpp"

using namespace tack;
using testing::event;
using testing::sms;

namespace {

MessageQuery by_order(const std::string& order) {
  MessageQuery q;
  q.order_id = order;
  return q;
}

std::string pragma(Db& db, const std::string& name) {
  auto s = db.prepare("PRAGMA " + name);
  return s.step() ? s.text(0) : "";
}

// The text of index `name` as sqlite_master holds it; empty when missing.
std::string index_sql(Db& db, const std::string& name) {
  auto s = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1");
  s.bind(1, name);
  return s.step() ? s.text(0) : "";
}

std::set<std::string> columns(Db& db, const std::string& table) {
  std::set<std::string> out;
  auto s = db.prepare("SELECT name FROM pragma_table_info(?1)");
  s.bind(1, table);
  while (s.step()) out.insert(s.text(0));
  return out;
}

void load_v4_fixture(const std::string& path) {
  std::ifstream in(std::string(TACK_SOURCE_DIR) + "/tests/fixtures/store-v4.sql");
  REQUIRE(in);
  std::stringstream sql;
  sql << in.rdbuf();
  Db old(path);
  old.exec(sql.str());
  REQUIRE(sqlite::schema_version(old) == 4);
}

// The query plan of `sql`, one step a line.
std::string plan(Db& db, const std::string& sql) {
  std::string out;
  auto s = db.prepare("EXPLAIN QUERY PLAN " + sql);
  while (s.step()) out += s.text(3) + "\n";
  return out;
}

// The VDBE program of `sql`, one opcode per line.
std::string opcodes(Db& db, const std::string& sql) {
  std::string out;
  auto s = db.prepare("EXPLAIN " + sql);
  while (s.step()) out += s.text(1) + "\n";
  return out;
}

// Every text column of every table tack's personal data can reach.
std::string all_text(Db& db) {
  std::string out;
  for (const char* sql : {"SELECT recipient || subject || body || html || last_error FROM messages",
                          "SELECT detail FROM attempts",
                          "SELECT coalesce(payload, '') || coalesce(reason, '') FROM events",
                          "SELECT detail || target FROM audit"}) {
    auto s = db.prepare(sql);
    while (s.step()) out += s.text(0) + "\n";
  }
  return out;
}

void finish(Db& db, std::int64_t id, MessageState state, std::int64_t at,
            const std::string& to = "+46701234567") {
  AttemptRecord a;
  a.message_id = id;
  a.gateway = "gw";
  a.started_at_ms = at;
  a.outcome = state == MessageState::Sent ? "sent" : "rejected";
  a.detail = "provider: " + to + " accepted";
  a.provider_id = "p-" + std::to_string(id);
  a.next_state = state;
  a.next_gateway = "gw";
  a.last_error = state == MessageState::Sent ? "" : "invalid " + to;
  sqlite::record_attempt(db, a, at);
}

// The partial indexes on state as schema v5 wrote them (IN lists before
// v5, OR terms in v5's own order): what a store upgraded from v5 holds.
const char* const kV5StateIndexes = R"sql(
CREATE INDEX messages_due ON messages(gateway, next_attempt_at, id)
  WHERE (state = 'queued' OR state = 'retry_wait');
CREATE INDEX messages_next ON messages(next_attempt_at)
  WHERE (state = 'queued' OR state = 'retry_wait');
CREATE INDEX messages_expiry ON messages(expires_at)
  WHERE (state = 'queued' OR state = 'retry_wait' OR state = 'standby') AND expires_at > 0;
CREATE INDEX messages_state ON messages(state) WHERE
  (state = 'queued' OR state = 'retry_wait' OR state = 'sending' OR state = 'held' OR
   state = 'scheduled' OR state = 'dead' OR state = 'standby' OR state = 'failed' OR
   state = 'expired' OR state = 'cancelled' OR state = 'superseded' OR state = 'suppressed');
CREATE INDEX messages_retention ON messages(updated_at) WHERE erased_at IS NULL AND
  (state = 'sent' OR state = 'delivered' OR state = 'failed' OR state = 'dead' OR
   state = 'cancelled' OR state = 'suppressed' OR state = 'superseded' OR state = 'expired' OR
   state = 'not_needed');
)sql";

void check_state_indexes_are_the_lifecycles(Db& db) {
  for (const auto& [name, sql] : sqlite::state_indexes()) {
    INFO(name);
    CHECK(index_sql(db, name) == sql);
  }
}

}  // namespace

// ---- the file ----------------------------------------------------------------

TEST_CASE("a new store gets the current schema in WAL mode", "[store][sqlite]") {
  testing::TempDir dir;
  const auto path = dir.file("tack.db");
  auto db = sqlite::open_owner(path, true);
  CHECK(sqlite::schema_version(*db) == sqlite::current_schema_version());
  CHECK(sqlite::current_schema_version() >= 6);
  CHECK(pragma(*db, "journal_mode") == "wal");
  CHECK(pragma(*db, "synchronous") == "2");  // FULL
  CHECK(pragma(*db, "foreign_keys") == "1");
  CHECK(pragma(*db, "secure_delete") == "1");  // erased text does not linger in free pages
  CHECK(columns(*db, "messages").count("owner") == 1);
  CHECK(columns(*db, "messages").count("lease_until") == 1);
  CHECK(columns(*db, "messages").count("supersede") == 1);
  // Opening again migrates nothing and keeps data.
  sqlite::apply_event(*db, event("e1", "1", "placed", 0), 1);
  db.reset();
  auto again = sqlite::open_owner(path, false);
  CHECK(pragma(*again, "synchronous") == "1");  // NORMAL
  CHECK(sqlite::schema_version(*again) == sqlite::current_schema_version());
  CHECK(sqlite::find_events(*again, "1").size() == 1);
  // Beside and read-only connections see the same store.
  auto beside = sqlite::open_beside(path);
  CHECK(sqlite::find_events(*beside, "1").size() == 1);
  auto readonly = sqlite::open_readonly(path);
  CHECK(sqlite::find_events(*readonly, "1").size() == 1);
  CHECK_THROWS_AS(readonly->exec("DELETE FROM events"), SqliteError);
}

TEST_CASE("a store of a newer schema than this tackd's is refused", "[store][sqlite]") {
  testing::TempDir dir;
  const auto path = dir.file("tack.db");
  {
    auto db = sqlite::open_owner(path, true);
    db->exec("PRAGMA user_version = " + std::to_string(sqlite::current_schema_version() + 1));
  }
  CHECK_THROWS_WITH(sqlite::open_owner(path, true), Catch::Contains("newer than this tackd"));
  CHECK_THROWS_WITH(sqlite::open_beside(path), Catch::Contains("newer than this tackd"));
  CHECK_THROWS_WITH(sqlite::open_readonly(path), Catch::Contains("newer than this tackd"));
  StoreOptions options;
  options.location = path;
  CHECK_THROWS_AS(open_store(options), StoreError);
}

// ---- migrations -------------------------------------------------------------

TEST_CASE("a version 4 store upgrades to the current schema with every row and reference kept",
          "[store][sqlite][migration]") {
  testing::TempDir dir;
  const auto path = dir.file("tack.db");
  load_v4_fixture(path);
  auto db = sqlite::open_owner(path, true);
  CHECK(sqlite::schema_version(*db) == sqlite::current_schema_version());
  const auto messages = sqlite::find_messages(*db, by_order("o-1"));
  REQUIRE(messages.size() == 3);
  CHECK(messages[0].state == MessageState::Sent);
  CHECK(messages[0].idempotency_key == "tack-k1");
  CHECK(messages[0].provider_id == "p-1");
  REQUIRE(messages[0].attempt_log.size() == 1);
  CHECK(messages[0].attempt_log[0].detail == "HTTP 200");
  CHECK(messages[1].state == MessageState::NotNeeded);
  CHECK(messages[1].fallback_for == 1);
  CHECK(messages[1].subject == "Skickad");
  CHECK(messages[2].state == MessageState::Queued);
  CHECK(sqlite::audit_for(*db, "message 3").size() == 1);
  CHECK(sqlite::find_events(*db, "o-1").size() == 1);
  // The queued one is still due work, through the rebuilt partial indexes.
  CHECK(sqlite::next_due_at(*db) == 5000);
  CHECK(sqlite::queue_counts(*db)[MessageState::Queued] == 1);
  auto claimed = sqlite::claim_due(*db, testing::kTestLease, "sms-a", 10, 6000);
  REQUIRE(claimed.size() == 1);
  CHECK(claimed[0].message.id == 3);
  CHECK(claimed[0].expires_at_ms == 9000);
  // Foreign keys hold again after the rebuild.
  CHECK_THROWS_AS(db->prepare("INSERT INTO attempts (message_id, number, gateway, started_at, "
                              "duration_ms, outcome) VALUES (99, 1, 'g', 1, 1, 'sent')")
                      .run(),
                  SqliteError);
  {
    // v5 dropped the UNIQUE index on idempotency_key.
    auto unique =
        db->prepare("SELECT COUNT(*) FROM pragma_index_list('messages') WHERE \"unique\" = 1");
    REQUIRE(unique.step());
    CHECK(unique.int64(0) == 0);
  }
  // v6: claims have owners; messages a supersede policy (status updates).
  CHECK(columns(*db, "messages").count("owner") == 1);
  CHECK(columns(*db, "messages").count("lease_until") == 1);
  {
    auto policy = db->prepare("SELECT DISTINCT supersede FROM messages");
    REQUIRE(policy.step());
    CHECK(policy.int64(0) == static_cast<int>(SupersedePolicy::NewerStatus));
    CHECK_FALSE(policy.step());
  }
  check_state_indexes_are_the_lifecycles(*db);
  // v8: support's copies name their original; an order keeps a corrected
  // address. The messages from before are copies of nothing.
  CHECK(columns(*db, "messages").count("copy_of") == 1);
  CHECK(columns(*db, "order_contacts").count("phone") == 1);
  CHECK(columns(*db, "order_contacts").count("email") == 1);
  for (const auto& m : sqlite::find_messages(*db, by_order("o-1"))) CHECK(m.copy_of == 0);
  CHECK_FALSE(sqlite::order_contact(*db, "o-1").has_value());
  auto resent = sqlite::resend_message(*db, 1, "never arrived", "cli:anna", {}, 9600);
  REQUIRE(resent.copy_id.has_value());
  CHECK(sqlite::find_messages(*db, by_order("o-1")).back().copy_of == 1);
  ContactCorrection fix;
  fix.order_id = "o-1";
  fix.contact.phone = "+46709999999";
  fix.reason = "typo";
  fix.actor = "cli:anna";
  CHECK(sqlite::correct_contact(*db, fix, 9700).found);
  REQUIRE(sqlite::order_contact(*db, "o-1").has_value());
  CHECK(sqlite::order_contact(*db, "o-1")->phone == "+46709999999");
  // v7: an event retention deletes leaves its id's tombstone.
  CHECK(columns(*db, "event_tombstones").count("id_hash") == 1);
  sqlite::apply_event(*db, event("after-v7", "o-9", "shipped", 3, {sms("k9")}), 7000);
  auto claimed9 = sqlite::claim_due(*db, testing::kTestLease, "gw", 10, 7000);
  REQUIRE(claimed9.size() == 1);
  AttemptRecord sent;
  sent.message_id = claimed9[0].message.id;
  sent.gateway = "gw";
  sent.outcome = "sent";
  sent.next_state = MessageState::Sent;
  sent.next_gateway = "gw";
  sqlite::record_attempt(*db, sent, 7100);
  sqlite::prune_batch(*db, 8000, true, 500, 9000);
  CHECK(sqlite::find_events(*db, "o-9").empty());
  CHECK(sqlite::apply_event(*db, event("after-v7", "o-9", "shipped", 3, {sms("k9")}), 9500)
            .verdict == EventVerdict::Duplicate);
}

TEST_CASE(
    "a version 5 store upgrades: claims it left in flight have no owner and any tackd "
    "recovers them",
    "[store][sqlite][migration]") {
  testing::TempDir dir;
  const auto path = dir.file("tack.db");
  std::int64_t in_flight = 0, retrying = 0;
  {
    // A store as version 5 left it: the v6 columns and index texts undone.
    auto db = sqlite::open_owner(path, true);
    sqlite::apply_event(*db, event("e1", "1", "shipped", 3, {sms("k1")}), 1);
    sqlite::apply_event(*db, event("e2", "2", "shipped", 3, {sms("k2")}), 2);
    auto claimed = sqlite::claim_due(*db, testing::kTestLease, "gw", 10, 10);
    REQUIRE(claimed.size() == 2);
    in_flight = claimed[0].message.id;
    retrying = claimed[1].message.id;
    AttemptRecord retry;
    retry.message_id = retrying;
    retry.gateway = "gw";
    retry.outcome = "retry";
    retry.next_state = MessageState::RetryWait;
    retry.next_attempt_at_ms = 100000;
    retry.next_gateway = "gw";
    sqlite::record_attempt(*db, retry, 20);
    for (const auto& [name, sql] : sqlite::state_indexes()) db->exec("DROP INDEX " + name);
    db->exec("ALTER TABLE messages DROP COLUMN owner");
    db->exec("ALTER TABLE messages DROP COLUMN lease_until");
    db->exec("ALTER TABLE messages DROP COLUMN supersede");
    db->exec("DROP TABLE event_tombstones");  // v7
    db->exec("DROP INDEX messages_copy_of");   // v8
    db->exec("ALTER TABLE messages DROP COLUMN copy_of");
    db->exec("DROP TABLE order_contacts");
    for (const char* column :  // v9
         {"rendered", "note", "timezone", "country", "urgent", "cap_max", "cap_window", "cap_text"}) {
      db->exec(std::string("ALTER TABLE messages DROP COLUMN ") + column);
    }
    db->exec("DROP TABLE receipts");  // v10
    db->exec("DROP INDEX attempts_provider");
    db->exec("DROP TABLE suppressions");  // v11
    db->exec("ALTER TABLE messages DROP COLUMN ignore_opt_out");
    db->exec("ALTER TABLE messages DROP COLUMN unsubscribe_url");
    db->exec(kV5StateIndexes);
    db->exec("PRAGMA user_version = 5");
  }
  auto db = sqlite::open_owner(path, true);
  CHECK(sqlite::schema_version(*db) == sqlite::current_schema_version());
  CHECK(columns(*db, "messages").count("owner") == 1);
  CHECK(columns(*db, "messages").count("lease_until") == 1);
  CHECK(columns(*db, "messages").count("supersede") == 1);
  check_state_indexes_are_the_lifecycles(*db);
  // v10: delivery receipts.
  CHECK(columns(*db, "receipts").count("provider_id") == 1);

  // v11: opt-out.
  CHECK(columns(*db, "suppressions").count("address") == 1);
  CHECK(columns(*db, "messages").count("unsubscribe_url") == 1);
  // Claimed before claims had owners: whoever starts takes it back.
  CHECK(sqlite::recover_interrupted(*db, "another-host", 30) == 1);
  auto back = sqlite::find_messages(*db, by_order("1"));
  REQUIRE(back.size() == 1);
  CHECK(back[0].id == in_flight);
  CHECK(back[0].state == MessageState::Queued);
  // Its messages are status updates: a newer one supersedes the waiting one.
  sqlite::apply_event(*db, event("e3", "2", "delivered", 5, {sms("k3")}), 40);
  auto two = sqlite::find_messages(*db, by_order("2"));
  REQUIRE(two.size() == 2);
  CHECK(two[0].id == retrying);
  CHECK(two[0].state == MessageState::Superseded);
}

// ---- partial indexes on state ------------------------------------------------

TEST_CASE("each state index exists in a new store with exactly the lifecycle's SQL",
          "[store][sqlite][indexes]") {
  testing::TempDir dir;
  auto db = sqlite::open_owner(dir.file("tack.db"), true);
  const auto indexes = sqlite::state_indexes();
  std::set<std::string> names;
  for (const auto& [name, sql] : indexes) {
    INFO(name);
    names.insert(name);
    CHECK(index_sql(*db, name) == sql);
    CHECK_THAT(sql, Catch::StartsWith("CREATE INDEX " + name + " ON messages("));
    CHECK_THAT(sql, !Catch::Contains(" IN ("));  // OR terms: no temporary b-tree per write
  }
  CHECK(names == std::set<std::string>{"messages_due", "messages_next", "messages_expiry",
                                       "messages_state", "messages_retention",
                                       "messages_scheduled"});
  // Their WHEREs say what the lifecycle says.
  CHECK_THAT(index_sql(*db, "messages_due"),
             Catch::EndsWith("WHERE " + sql_state_is(is_claimable)));
  CHECK_THAT(index_sql(*db, "messages_next"),
             Catch::EndsWith("WHERE " + sql_state_is(is_claimable)));
  CHECK_THAT(index_sql(*db, "messages_expiry"),
             Catch::EndsWith("WHERE " + sql_state_is(expires) + " AND expires_at > 0"));
  CHECK_THAT(index_sql(*db, "messages_state"),
             Catch::EndsWith("WHERE " + sql_state_is(is_looked_up_by_state)));
  CHECK_THAT(index_sql(*db, "messages_retention"),
             Catch::EndsWith("WHERE erased_at IS NULL AND " + sql_state_is(is_final)));
  // No other index on messages names a state.
  auto others = db->prepare(
      "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages' AND "
      "sql LIKE '%state%'");
  while (others.step()) CHECK(names.count(others.text(0)) == 1);
}

TEST_CASE("a state index whose WHERE differs from the lifecycle's is rebuilt on open",
          "[store][sqlite][indexes]") {
  testing::TempDir dir;
  const auto path = dir.file("tack.db");
  {
    auto db = sqlite::open_owner(path, true);
    sqlite::apply_event(*db, event("a", "A", "placed", 0, {sms("a")}), 1);
    sqlite::apply_event(*db, event("b", "B", "placed", 0, {sms("b")}), 1);
    sqlite::apply_event(*db, event("c", "C", "placed", 0, {sms("c")}), 1);
    auto claimed = sqlite::claim_due(*db, testing::kTestLease, "gw", 1, 10);
    REQUIRE(claimed.size() == 1);
    finish(*db, claimed[0].message.id, MessageState::Failed, 20);
    // As a tackd that knew fewer states would have left them.
    db->exec("DROP INDEX messages_state");
    db->exec(
        "CREATE INDEX messages_state ON messages(state) WHERE "
        "(state = 'queued' OR state = 'retry_wait')");
    db->exec("DROP INDEX messages_due");  // missing altogether
    db->exec("DROP INDEX messages_retention");
    db->exec(
        "CREATE INDEX messages_retention ON messages(updated_at) WHERE erased_at IS NULL "
        "AND state IN ('sent', 'failed')");
  }
  {
    // Beside tackd nothing is rebuilt (the CLI never changes the schema).
    auto beside = sqlite::open_beside(path);
    CHECK(index_sql(*beside, "messages_due").empty());
  }
  auto db = sqlite::open_owner(path, true);
  check_state_indexes_are_the_lifecycles(*db);
  // The rebuilt indexes hold every row they should: a failed message is
  // found through messages_state, queued ones through messages_due.
  {
    auto failed = db->prepare("SELECT COUNT(*) FROM messages INDEXED BY messages_state WHERE " +
                              sql_state_is(is_looked_up_by_state) + " AND state = 'failed'");
    REQUIRE(failed.step());
    CHECK(failed.int64(0) == 1);
  }  // every Stmt goes before its Db
  CHECK(sqlite::claim_due(*db, testing::kTestLease, "gw", 10, 30).size() == 2);
  CHECK(sqlite::prune_preview(*db, 1000).messages == 1);
  // Opening again leaves them as they are.
  db.reset();
  auto again = sqlite::open_owner(path, true);
  check_state_indexes_are_the_lifecycles(*again);
}

TEST_CASE("a message's writes build no temporary b-tree", "[store][sqlite][indexes]") {
  // A partial index whose WHERE holds an IN list makes SQLite build a
  // temporary b-tree for the list on every write that touches the row;
  // with four such indexes that was half the writer thread's time in the
  // benchmark. The lifecycle's SQL says them with OR; this keeps it so.
  testing::TempDir dir;
  auto db = sqlite::open_owner(dir.file("tack.db"), true);
  for (const char* sql : {
           "INSERT INTO messages (event_id, order_id, rule, channel, kind, template, locale, "
           "recipient, body, state, gateway, idempotency_key, created_at, updated_at, "
           "next_attempt_at, round_started_at, expires_at, fallback_for, supersede) VALUES ('e', "
           "'o', 'r', 'sms', 'sms', 't', 'sv', '+46701234567', 'b', 'queued', 'g', 'k', 1, 1, 1, "
           "1, 0, NULL, 0)",
           "UPDATE messages SET state = 'sending', attempts = attempts + 1, updated_at = 2, "
           "gateway = 'g', gateway_index = 0, owner = 'n', lease_until = 3 WHERE id = 1",
           "UPDATE messages SET state = 'sent', next_attempt_at = 3, updated_at = 3, owner = "
           "NULL, lease_until = NULL WHERE id = 1",
           "UPDATE messages SET state = 'queued', attempts = attempts - 1, owner = NULL, "
           "lease_until = NULL WHERE id = 1 AND state = 'sending'",
           "UPDATE messages SET recipient = '[erased]', body = '[erased]', erased_at = 4 "
           "WHERE id = 1",
           "DELETE FROM messages WHERE id = 1",
       }) {
    INFO(sql);
    CHECK_THAT(opcodes(*db, sql), !Catch::Contains("OpenEphemeral"));
  }
}

TEST_CASE("claims, retention and support searches are index-backed", "[store][sqlite][indexes]") {
  testing::TempDir dir;
  auto db = sqlite::open_owner(dir.file("tack.db"), true);
  // Retention's own queries name their index (INDEXED BY): prune_batch and
  // prune_preview would throw if it could not be used; so would the
  // expiry and the next-due queries.
  CHECK(sqlite::prune_preview(*db, 1).messages == 0);
  CHECK(sqlite::prune_batch(*db, 1, false, 10, 2).messages == 0);
  CHECK_FALSE(sqlite::next_due_at(*db).has_value());
  CHECK(sqlite::claim_due(*db, testing::kTestLease, "gw", 10, 1).empty());
  CHECK(sqlite::queue_figures(*db, 1)[MessageState::Queued] == 0);
  // The retention plan walks its index in order, with no sort of the whole set.
  const auto retention_plan =
      plan(*db,
           "SELECT id FROM messages INDEXED BY messages_retention WHERE erased_at IS NULL "
           "AND " +
               sql_state_is(is_final) + " AND updated_at < 1 ORDER BY updated_at LIMIT 5");
  CHECK_THAT(retention_plan, Catch::Contains("messages_retention (updated_at<?)"));
  CHECK_THAT(retention_plan, !Catch::Contains("TEMP B-TREE"));
  // A claim walks messages_due for its gateway, due first.
  const auto claim_plan =
      plan(*db, "SELECT id FROM messages m WHERE m.gateway = 'gw' AND " +
                    sql_state_is(is_claimable, "m.state") +
                    " AND m.next_attempt_at <= 5 ORDER BY m.next_attempt_at, m.id LIMIT 10");
  CHECK_THAT(claim_plan, Catch::Contains("messages_due"));
  CHECK_THAT(claim_plan, !Catch::Contains("TEMP B-TREE"));
  CHECK_THAT(plan(*db,
                  "SELECT id FROM messages WHERE recipient = 'a@b.se' COLLATE NOCASE ORDER BY id "
                  "DESC LIMIT 5"),
             Catch::Contains("messages_recipient"));
  CHECK_THAT(plan(*db, "SELECT id FROM messages WHERE order_id = '1' ORDER BY id DESC LIMIT 5"),
             Catch::Contains("messages_order"));
  // messages_state holds every state support looks up: the queue counts
  // and a search for one of those states use it.
  CHECK_THAT(plan(*db, "SELECT state, COUNT(*) FROM messages WHERE " + sql_state_is(is_counted) +
                           " GROUP BY state"),
             Catch::Contains("messages_state"));
  for (auto state : states_where(is_looked_up_by_state)) {
    INFO(state);
    CHECK_THAT(plan(*db, "SELECT id FROM messages WHERE state = '" + std::string(to_string(state)) +
                             "' AND updated_at >= 5"),
               Catch::Contains("messages_state"));
  }
}

// ---- erasure, in the file ----------------------------------------------------

TEST_CASE("retention and forget leave no personal data in any table", "[store][sqlite]") {
  testing::TempDir dir;
  auto db = sqlite::open_owner(dir.file("tack.db"), true);
  auto anna = event("e1", "1", "shipped", 3, {sms("k1")});
  anna.payload = R"({"customer":{"phone":"070-123 45 67","name":"Anna Svensson"}})";
  sqlite::apply_event(*db, anna, 100);
  auto bo_msg = sms("k2");
  bo_msg.recipient = "+46709999999";
  auto bo = event("e2", "2", "shipped", 3, {bo_msg});
  bo.payload = R"({"customer":{"phone":"+46709999999","name":"Bo Ek"}})";
  sqlite::apply_event(*db, bo, 100);
  auto claimed = sqlite::claim_due(*db, testing::kTestLease, "gw", 10, 100);
  REQUIRE(claimed.size() == 2);
  finish(*db, claimed[0].message.id, MessageState::Failed, 200);
  finish(*db, claimed[1].message.id, MessageState::Sent, 200, "+46709999999");
  auto later = event("e3", "1", "delivered", 5, {sms("k3")});
  later.payload = R"({"customer":{"phone":"+46701234567","name":"Anna Svensson"}})";
  sqlite::apply_event(*db, later, 300);
  EventRecord rejected;
  rejected.claimed_event_id = "e4";
  rejected.order_id = "1";
  rejected.source = "test";
  rejected.payload = R"({"name":"Anna Svensson"})";
  rejected.reject_reason = "bad phone 070-123 45 67 for Anna Svensson";
  sqlite::apply_event(*db, rejected, 300);
  std::vector<std::int64_t> named;
  sqlite::scan_event_payloads(*db, "anna svensson", "",
                              [&](std::int64_t id, const std::string&) { named.push_back(id); });
  CHECK(named.size() == 3);

  auto r = sqlite::forget_recipient(*db, "+46701234567", named, "cli:support", 400);
  CHECK(r.messages == 2);
  const auto text = all_text(*db);
  INFO(text);
  CHECK(text.find("Anna") == std::string::npos);
  CHECK(text.find("+46701234567") == std::string::npos);
  CHECK(text.find("070-123 45 67") == std::string::npos);
  CHECK(text.find("Bo Ek") != std::string::npos);
  CHECK(text.find("+46709999999") != std::string::npos);

  // Retention: Bo's too, once old enough; the rows stay.
  while (sqlite::prune_batch(*db, 1000, false, 1, 5000).more) {
  }
  const auto pruned = all_text(*db);
  INFO(pruned);
  CHECK(pruned.find("Bo Ek") == std::string::npos);
  CHECK(pruned.find("+46709999999") == std::string::npos);
  auto rows = db->prepare("SELECT COUNT(*) FROM messages");
  REQUIRE(rows.step());
  CHECK(rows.int64(0) == 3);
}

// ---- a failing disk ---------------------------------------------------------------

namespace {
// Submits one event to the writer and waits for its answer.
std::string submit_event(Store& store, const std::string& id) {
  std::promise<std::string> answer;
  auto result = answer.get_future();
  store.submit(
      [id](StoreTx& tx) { tx.apply_event(event(id, "F" + id, "placed", 0, {sms(id)}), 1); },
      [&answer](const std::string& error) { answer.set_value(error); });
  return result.get();
}

}  // namespace

TEST_CASE("a failing disk fails the batch, reports unhealthy and recovers when it clears",
          "[store][sqlite][faults]") {
  using Fault = testing::FaultyVfs::Fault;
  auto fault = GENERATE(Fault::DiskFull, Fault::IoError, Fault::SyncError);
  testing::FaultyVfs vfs;
  testing::TempDir dir;
  const auto path = dir.file("tack.db");
  sqlite::SqliteStore store(sqlite::open_owner(path, true), path, 1, 2000);
  REQUIRE(submit_event(store, "before").empty());
  CHECK(store.healthy());

  vfs.inject(fault);
  auto error = submit_event(store, "during");
  CHECK_THAT(error, Catch::Contains("store cannot write"));
  CHECK(vfs.failures() > 0);
  CHECK_FALSE(store.healthy());
  CHECK_THAT(store.last_error(), Catch::Contains("store cannot write"));
  // A second failure while still failing is the same answer, not a crash.
  CHECK_FALSE(submit_event(store, "during-2").empty());
  // Reads of what was committed still work.
  CHECK(store.query<std::size_t>(
            [](StoreReader& r) { return r.find_messages(by_order("Fbefore")).size(); }) == 1);

  vfs.inject(Fault::None);
  // What failed was never committed: a retry of the same work succeeds once.
  CHECK(submit_event(store, "during").empty());
  CHECK(store.healthy());
  store.close();
  auto db = sqlite::open_readonly(path);
  CHECK(sqlite::find_messages(*db, by_order("Fbefore")).size() == 1);
  CHECK(sqlite::find_messages(*db, by_order("Fduring")).size() == 1);
  CHECK(sqlite::find_messages(*db, by_order("Fduring-2")).empty());
}
