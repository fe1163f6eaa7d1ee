// The store contract (store/store.hpp), each promise stated once and checked
// against every implementation in implementations.hpp. Only the contract
// is used here: open_store, run/query, submit/submit_read and the records.
// What only SQLite can be asked (its schema, its query plans, a failing
// disk) is in sqlite_test.cpp.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <limits>
#include <set>
#include <thread>
#include <type_traits>

#include "phone.hpp"
#include "store/implementations.hpp"
#include "store/store.hpp"
#include "support/coro.hpp"
#include "support/temp_dir.hpp"
#include "support/store.hpp"

using namespace tack;
using testing::event;
using testing::sms;
using Access = StoreOptions::Access;

namespace {

const Lease kLease{"test-node", 600000};

// One store of one implementation, private to a test.
class Subject {
 public:
  explicit Subject(const testing::StoreImplementation& impl)
      : location_(impl.location(dir_)), store_(open(Access::Owner)) {}
  ~Subject() {
    if (store_) store_->close();
  }
  Subject(const Subject&) = delete;
  Subject& operator=(const Subject&) = delete;

  std::unique_ptr<Store> open(Access access) const {
    StoreOptions options;
    options.location = location_;
    options.access = access;
    return open_store(options);
  }
  Store& store() { return *store_; }
  const std::string& location() const { return location_; }
  // Closes the store and opens it again, as a restarted tackd does.
  void reopen() {
    store_->close();
    store_.reset();
    store_ = open(Access::Owner);
  }

  // One unit of work on the writer, waited for. Its result, or StoreError.
  template <class F>
  auto tx(F&& fn) {
    using R = std::invoke_result_t<F&, StoreTx&>;
    if constexpr (std::is_void_v<R>) {
      store_->run<bool>([&fn](StoreTx& t) {
        fn(t);
        return true;
      });
    } else {
      return store_->run<R>([&fn](StoreTx& t) { return fn(t); });
    }
  }
  // One query on a reader, waited for.
  template <class F>
  auto read(F&& fn) {
    using R = std::invoke_result_t<F&, StoreReader&>;
    return store_->query<R>([&fn](StoreReader& r) { return fn(r); });
  }

  // ---- shorthands ----
  EventResult apply(const EventRecord& record, std::int64_t now) {
    return tx([&](StoreTx& t) { return t.apply_event(record, now); });
  }
  std::vector<ClaimedMessage> claim(const std::string& gateway, int limit, std::int64_t now,
                                    const Lease& lease = kLease) {
    return tx([&](StoreTx& t) { return t.claim_due(lease, gateway, limit, now); });
  }
  std::vector<ClaimedMessage> reroute(const std::string& channel, const std::string& from,
                                      const std::string& to, int to_index, int limit,
                                      std::int64_t now) {
    return tx([&](StoreTx& t) {
      return t.claim_rerouted(kLease, channel, from, to, to_index, limit, now);
    });
  }
  void attempt(const AttemptRecord& a, std::int64_t now) {
    tx([&](StoreTx& t) { t.record_attempt(a, now); });
  }
  int recover(const std::string& owner, std::int64_t now) {
    return tx([&](StoreTx& t) { return t.recover_interrupted(owner, now); });
  }
  OperatorResult verb(OperatorVerb v, std::int64_t id, const std::string& actor, std::int64_t now) {
    return tx([&](StoreTx& t) { return t.operator_verb(v, id, actor, now); });
  }
  OperatorResult hold_gateway(const std::string& gateway, bool hold, std::int64_t now) {
    return tx([&](StoreTx& t) { return t.hold_gateway(gateway, hold, "cli:ops", now); });
  }
  std::vector<MessageView> find(const MessageQuery& q) {
    return read([&](StoreReader& r) { return r.find_messages(q); });
  }
  std::vector<MessageView> messages(const std::string& order) {
    MessageQuery q;
    q.order_id = order;
    return find(q);
  }
  MessageView message(std::int64_t id) {
    MessageQuery q;
    q.message_id = id;
    auto found = find(q);
    if (found.size() != 1) FAIL("no message " << id);
    return found[0];
  }
  MessageView message(const std::string& order, const std::string& key) {
    for (auto& m : messages(order)) {
      if (m.idempotency_key == key) return m;
    }
    FAIL("no message " << key << " in order " << order);
    return {};
  }
  MessageState state_of(const std::string& order, const std::string& key) {
    return message(order, key).state;
  }
  std::vector<EventView> events(const std::string& order) {
    return read([&](StoreReader& r) { return r.find_events(order); });
  }
  std::vector<AuditEntry> audit(const std::string& target) {
    return read([&](StoreReader& r) { return r.audit_for(target); });
  }
  QueueCounts counts() {
    return read([](StoreReader& r) { return r.queue_counts(); });
  }

 private:
  testing::TempDir dir_;
  std::string location_;
  std::unique_ptr<Store> store_;
};

// Each implementation in turn (a Catch generator: the test case runs once
// per implementation, and a failure names it).
#define STORE_IMPLEMENTATION(impl)                                                     \
  const auto& impl = testing::store_implementations()[static_cast<std::size_t>(        \
      GENERATE(range(0, static_cast<int>(testing::store_implementations().size()))))]; \
  INFO("store implementation: " << impl.name)

#define STORE_UNDER_TEST(s)       \
  STORE_IMPLEMENTATION(s##_impl); \
  Subject s(s##_impl)

// A message no newer status update overtakes (a follow-up, a promise watch).
NewMessage never_superseded(const std::string& key) {
  auto m = sms(key);
  m.supersede = SupersedePolicy::Never;
  return m;
}

// An SMS primary and its e-mail standby, as intake plans them.
std::vector<NewMessage> with_standby(const std::string& key) {
  auto standby = sms(key + "-email", "email");
  standby.kind = ChannelKind::Email;
  standby.recipient = "anna@example.se";
  standby.gateway = "mail";
  standby.state = MessageState::Standby;
  standby.standby_for = 0;
  return {sms(key), standby};
}

AttemptRecord attempt_for(const ClaimedMessage& c, const std::string& outcome,
                          MessageState next_state) {
  AttemptRecord a;
  a.message_id = c.message.id;
  a.gateway = c.gateway;
  a.outcome = outcome;
  a.detail = outcome == "rejected" ? "HTTP 400: invalid number" : "";
  a.next_state = next_state;
  a.next_gateway = c.gateway;
  a.last_error = a.detail;
  return a;
}

AttemptRecord retry_later(const ClaimedMessage& c, std::int64_t next_attempt_at) {
  auto a = attempt_for(c, "retry", MessageState::RetryWait);
  a.next_attempt_at_ms = next_attempt_at;
  return a;
}

// Sends message `id` (claimed at `at`) to `state`, with a provider answer.
void finish(Subject& s, std::int64_t id, MessageState state, std::int64_t at,
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
  s.attempt(a, at);
}

bool has(const std::vector<OperatorVerb>& verbs, OperatorVerb verb) {
  return std::find(verbs.begin(), verbs.end(), verb) != verbs.end();
}

// Submits `work` and waits for its answer: empty, or why it failed.
std::string submit_and_wait(Store& store, Store::Work work) {
  std::promise<std::string> answer;
  auto result = answer.get_future();
  store.submit(std::move(work), [&answer](const std::string& error) { answer.set_value(error); });
  return result.get();
}

// Every text the contract shows of personal data: each message's fields
// and attempt answers, the payloads and reasons of their orders' events,
// rejected events' reasons and the audit trail.
std::string visible_text(Subject& s) {
  return s.read([](StoreReader& r) {
    std::string out;
    std::set<std::string> orders;
    std::vector<std::int64_t> ids;
    r.for_each_message(std::numeric_limits<std::int64_t>::min(),
                       std::numeric_limits<std::int64_t>::max(), [&](const MessageView& m) {
                         out += m.recipient + "\n" + m.subject + "\n" + m.text + "\n" + m.html +
                                "\n" + m.last_error + "\n";
                         for (const auto& a : m.attempt_log) out += a.detail + "\n";
                         orders.insert(m.order_id);
                         ids.push_back(m.id);
                       });
    const std::vector<std::string> order_ids(orders.begin(), orders.end());
    for (const auto& [id, payload] : r.events_of_orders(order_ids)) out += payload + "\n";
    for (const auto& order : order_ids) {
      for (const auto& e : r.find_events(order)) out += e.reason + "\n";
    }
    for (const auto& e : r.rejected_events(1000)) out += e.reason + "\n";
    for (auto id : ids) {
      for (const auto& a : r.audit_for("message " + std::to_string(id))) out += a.detail + "\n";
    }
    for (const auto& a : r.audit_for("store")) out += a.detail + "\n";
    return out;
  });
}

}  // namespace

// ---- durability ----------------------------------------------------------

TEST_CASE("what a store committed is there when it is opened again", "[store][durability]") {
  STORE_UNDER_TEST(s);
  CHECK(s.apply(event("e1", "1", "placed", 0, {sms("k1")}), 1).verdict == EventVerdict::Accepted);
  s.reopen();
  CHECK(s.events("1").size() == 1);
  REQUIRE(s.messages("1").size() == 1);
  CHECK(s.messages("1")[0].state == MessageState::Queued);
  // The event id is still taken.
  CHECK(s.apply(event("e1", "1", "placed", 0, {sms("k1")}), 2).verdict == EventVerdict::Duplicate);
  CHECK(s.messages("1").size() == 1);
}

// ---- intake --------------------------------------------------------------

TEST_CASE("an accepted event records its messages once, a duplicate creates nothing",
          "[store][intake]") {
  STORE_UNDER_TEST(s);
  auto r = s.apply(event("e1", "1042", "shipped", 3, {sms("k1")}), 1000);
  CHECK(r.verdict == EventVerdict::Accepted);
  CHECK(r.event_id == "e1");
  CHECK(r.messages_created == 1);
  auto dup = s.apply(event("e1", "1042", "shipped", 3, {sms("k1")}), 2000);
  CHECK(dup.verdict == EventVerdict::Duplicate);
  CHECK(dup.messages_created == 0);
  auto messages = s.messages("1042");
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].state == MessageState::Queued);
  CHECK(messages[0].event_id == "e1");
  CHECK(messages[0].recipient == "+46701234567");
  CHECK(messages[0].created_at_ms == 1000);
  CHECK(messages[0].attempts == 0);
  auto events = s.events("1042");
  REQUIRE(events.size() == 1);
  CHECK(events[0].duplicates == 1);
  CHECK(events[0].verdict == "accepted");
}

TEST_CASE("an event applied by two threads at once creates its messages once",
          "[store][intake][concurrency]") {
  STORE_UNDER_TEST(s);
  constexpr int kEvents = 100;
  std::atomic<int> accepted{0}, duplicates{0}, created{0}, failed{0};
  std::promise<void> go;
  auto start = go.get_future().share();
  auto apply_all = [&](Store& store) {
    start.wait();
    for (int i = 0; i < kEvents; ++i) {
      const auto id = std::to_string(i);
      try {
        auto r = store.run<EventResult>([&](StoreTx& t) {
          return t.apply_event(event("e" + id, "O" + id, "placed", 0, {sms("k" + id)}), 1);
        });
        if (r.verdict == EventVerdict::Accepted) ++accepted;
        if (r.verdict == EventVerdict::Duplicate) ++duplicates;
        created += r.messages_created;
      } catch (...) {
        ++failed;
      }
    }
  };
  std::thread a(apply_all, std::ref(s.store()));
  std::thread b(apply_all, std::ref(s.store()));
  go.set_value();
  a.join();
  b.join();
  CHECK(failed == 0);
  CHECK(accepted == kEvents);
  CHECK(duplicates == kEvents);
  CHECK(created == kEvents);
  CHECK(s.counts()[MessageState::Queued] == kEvents);
  for (int i = 0; i < kEvents; i += 7) {
    const auto id = std::to_string(i);
    INFO("event e" << id);
    CHECK(s.messages("O" + id).size() == 1);
    REQUIRE(s.events("O" + id).size() == 1);
    CHECK(s.events("O" + id)[0].duplicates == 1);
  }
}

TEST_CASE(
    "an event applied through two stores on one location at once creates its messages "
    "once",
    "[store][intake][concurrency]") {
  // Two tackd sharing a store (or tackd and the CLI beside it).
  STORE_UNDER_TEST(s);
  auto beside = s.open(Access::Beside);
  constexpr int kEvents = 50;
  std::atomic<int> accepted{0}, duplicates{0}, created{0}, failed{0};
  std::promise<void> go;
  auto start = go.get_future().share();
  auto apply_all = [&](Store& store) {
    start.wait();
    for (int i = 0; i < kEvents; ++i) {
      const auto id = std::to_string(i);
      try {
        auto r = store.run<EventResult>([&](StoreTx& t) {
          return t.apply_event(event("e" + id, "O" + id, "placed", 0, {sms("k" + id)}), 1);
        });
        if (r.verdict == EventVerdict::Accepted) ++accepted;
        if (r.verdict == EventVerdict::Duplicate) ++duplicates;
        created += r.messages_created;
      } catch (...) {
        ++failed;
      }
    }
  };
  std::thread a(apply_all, std::ref(s.store()));
  std::thread b(apply_all, std::ref(*beside));
  go.set_value();
  a.join();
  b.join();
  beside->close();
  CHECK(failed == 0);
  CHECK(accepted == kEvents);
  CHECK(duplicates == kEvents);
  CHECK(created == kEvents);
  CHECK(s.counts()[MessageState::Queued] == kEvents);
}

TEST_CASE("a transition backwards is recorded as stale and sends nothing", "[store][intake]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "delivered", 5, {sms("k1")}), 1);
  auto stale = s.apply(event("e2", "1", "shipped", 3, {sms("k2")}), 2);
  CHECK(stale.verdict == EventVerdict::Stale);
  CHECK(stale.messages_created == 0);
  CHECK_THAT(stale.reason, Catch::Contains("already delivered"));
  CHECK(s.messages("1").size() == 1);
  // A terminal branch may follow any status; nothing follows it.
  CHECK(s.apply(event("e3", "1", "returned", 100, {}, true), 3).verdict == EventVerdict::Accepted);
  CHECK(s.apply(event("e4", "1", "delivered", 5, {sms("k4")}), 4).verdict == EventVerdict::Stale);
  auto events = s.events("1");
  REQUIRE(events.size() == 4);
  CHECK(events[0].verdict == "accepted");
  CHECK(events[1].verdict == "stale");
  CHECK(events[3].verdict == "stale");
  CHECK(s.messages("1").size() == 1);
}

TEST_CASE("a rejected event is recorded with its reason and does not block its id",
          "[store][intake]") {
  STORE_UNDER_TEST(s);
  EventRecord bad;
  bad.claimed_event_id = "e1";
  bad.order_id = "1";
  bad.source = "test";
  bad.reject_reason = "missing occurred_at";
  auto r = s.apply(bad, 1);
  CHECK(r.verdict == EventVerdict::Rejected);
  CHECK(r.event_id == "e1");
  CHECK(r.reason == "missing occurred_at");
  auto rejected = s.read([](StoreReader& reader) { return reader.rejected_events(10); });
  REQUIRE(rejected.size() == 1);
  CHECK(rejected[0].reason == "missing occurred_at");
  CHECK(rejected[0].event_id == "e1");
  CHECK(rejected[0].verdict == "rejected");
  // The shop fixes the event and sends it again with the same id.
  CHECK(s.apply(event("e1", "1", "placed", 0, {sms("k1")}), 2).verdict == EventVerdict::Accepted);
  CHECK(s.messages("1").size() == 1);
}

TEST_CASE("the order timeline names the customer and the parcel from each event's payload",
          "[store][support]") {
  STORE_UNDER_TEST(s);
  auto with_payload = [](const std::string& id, int rank, std::string payload) {
    auto e = event(id, "1", "s" + std::to_string(rank), rank);
    e.payload = std::move(payload);
    return e;
  };
  s.apply(with_payload("e1", 1, R"({"customer":{"name":"Anna Svensson"},)"
                                R"("delivery":{"tracking_url":"https://t.example/A"}})"), 1);
  // Hostile or odd payloads give empty fields, never an error.
  s.apply(with_payload("e2", 2, "not json {"), 2);
  s.apply(with_payload("e3", 3, R"({"customer":"Anna","delivery":[1]})"), 3);
  s.apply(with_payload("e4", 4, R"({"customer":{"name":42},"delivery":{"tracking_url":null}})"), 4);
  s.apply(with_payload("e5", 5, R"([{"customer":{"name":"x"}}])"), 5);
  s.apply(with_payload("e6", 6, R"({"customer":{"name":"<b>Örjan</b>"}})"), 6);
  EventRecord bad;
  bad.claimed_event_id = "e7";
  bad.order_id = "1";
  bad.source = "test";
  bad.reject_reason = "not JSON";
  bad.payload = std::string("\xff\xfe{\"customer\":", 14);
  s.apply(bad, 7);
  auto order = s.read([](StoreReader& r) { return r.order_timeline("1"); });
  REQUIRE(order.has_value());
  REQUIRE(order->events.size() == 7);
  CHECK(order->events[0].customer_name == "Anna Svensson");
  CHECK(order->events[0].tracking_url == "https://t.example/A");
  for (int i = 1; i < 5; ++i) {
    CHECK(order->events[i].customer_name.empty());
    CHECK(order->events[i].tracking_url.empty());
  }
  CHECK(order->events[5].customer_name == "<b>Örjan</b>");  // as text; the page shows it as text
  CHECK(order->events[6].customer_name.empty());
}

// ---- the queue -------------------------------------------------------------

TEST_CASE("claim_due keeps per-order order, across owners, and the in-flight limit",
          "[store][queue]") {
  STORE_UNDER_TEST(s);
  s.apply(event("a1", "A", "placed", 0, {sms("a1")}), 1);
  s.apply(event("a2", "A", "paid", 1, {sms("a2")}), 2);
  s.apply(event("b1", "B", "placed", 0, {sms("b1")}), 3);
  s.apply(event("c1", "C", "placed", 0, {sms("c1")}), 4);
  // At most `limit`, oldest first; A's second waits for A's first.
  auto first = s.claim("gw", 2, 100, Lease{"node-a", 600000});
  REQUIRE(first.size() == 2);
  CHECK(first[0].message.idempotency_key == "a1");
  CHECK(first[1].message.idempotency_key == "b1");
  CHECK(first[0].gateway == "gw");
  CHECK(first[0].message.attempts == 0);
  CHECK(first[0].round_started_at_ms == 1);
  CHECK(s.message(first[0].message.id).state == MessageState::Sending);
  CHECK(s.message(first[0].message.id).attempts == 1);
  // Another owner does not overtake A's first either.
  auto other = s.claim("gw", 10, 100, Lease{"node-b", 600000});
  REQUIRE(other.size() == 1);
  CHECK(other[0].message.idempotency_key == "c1");
  CHECK(s.claim("gw", 10, 100).empty());
  CHECK(s.claim("gw", 0, 100).empty());

  AttemptRecord done = attempt_for(first[0], "sent", MessageState::Sent);
  s.attempt(done, 200);
  auto second = s.claim("gw", 10, 300, Lease{"node-b", 600000});
  REQUIRE(second.size() == 1);
  CHECK(second[0].message.idempotency_key == "a2");
  CHECK(second[0].message.attempts == 0);
  CHECK(s.claim("other-gateway", 10, 300).empty());
}

TEST_CASE("a message is not claimed before its next attempt is due", "[store][queue]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "placed", 0, {sms("k1")}), 1);
  auto claimed = s.claim("gw", 10, 10);
  REQUIRE(claimed.size() == 1);
  s.attempt(retry_later(claimed[0], 5000), 20);
  CHECK(s.message(claimed[0].message.id).state == MessageState::RetryWait);
  CHECK(s.message(claimed[0].message.id).next_attempt_at_ms == 5000);
  CHECK(s.claim("gw", 10, 4999).empty());
  auto again = s.claim("gw", 10, 5000);
  REQUIRE(again.size() == 1);
  CHECK(again[0].message.attempts == 1);
}

TEST_CASE("unclaim hands claimed messages back unsent, attempts as before", "[store][queue]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "placed", 0, {sms("k1")}), 1);
  s.apply(event("e2", "2", "placed", 0, {sms("k2")}), 2);
  auto claimed = s.claim("gw", 10, 10);
  REQUIRE(claimed.size() == 2);
  s.tx([&](StoreTx& t) { t.unclaim({claimed[1].message.id}); });
  auto back = s.message(claimed[1].message.id);
  CHECK(back.state == MessageState::Queued);
  CHECK(back.attempts == 0);
  CHECK(back.attempt_log.empty());
  // Only a message still `sending` is touched.
  CHECK(s.message(claimed[0].message.id).state == MessageState::Sending);
  s.attempt(attempt_for(claimed[0], "sent", MessageState::Sent), 20);
  s.tx([&](StoreTx& t) { t.unclaim({claimed[0].message.id}); });
  CHECK(s.message(claimed[0].message.id).state == MessageState::Sent);
  // Claimed again, it is the message's first attempt.
  auto again = s.claim("gw", 10, 30);
  REQUIRE(again.size() == 1);
  CHECK(again[0].message.id == claimed[1].message.id);
  CHECK(again[0].message.attempts == 0);
  // An unclaimed message is no one's: no owner recovers it as interrupted.
  s.tx([&](StoreTx& t) { t.unclaim({again[0].message.id}); });
  CHECK(s.recover(kLease.owner, 40) == 0);
}

TEST_CASE("messages left sending by a crash are requeued with an unknown attempt",
          "[store][queue]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "placed", 0, {sms("k1")}), 1);
  auto claimed = s.claim("gw", 10, 10);
  REQUIRE(claimed.size() == 1);
  // The same owner restarts: nothing of it can still be on its way.
  CHECK(s.recover(kLease.owner, 20) == 1);
  auto m = s.message(claimed[0].message.id);
  CHECK(m.state == MessageState::Queued);
  REQUIRE(m.attempt_log.size() == 1);
  CHECK(m.attempt_log[0].outcome == "unknown");
  CHECK(m.attempt_log[0].gateway == "gw");
  auto again = s.claim("gw", 10, 30);
  REQUIRE(again.size() == 1);
  CHECK(again[0].message.idempotency_key == "k1");  // the provider can dedup it
  CHECK(s.recover(kLease.owner, 40) == 1);
  CHECK(s.recover(kLease.owner, 50) == 0);
}

TEST_CASE("recover_interrupted takes back its own sends and lapsed leases, never a live owner's",
          "[store][queue][lease]") {
  STORE_UNDER_TEST(s);
  const std::int64_t now = 1'000'000;
  s.apply(event("e1", "1", "placed", 0, {sms("k1")}), 1);
  s.apply(event("e2", "2", "placed", 0, {sms("k2")}), 2);
  s.apply(event("e3", "3", "placed", 0, {sms("k3")}), 3);
  auto b = s.claim("gw", 1, now, Lease{"node-b", 600000});
  auto a = s.claim("gw", 1, now, Lease{"node-a", 600000});
  auto c = s.claim("gw", 1, now, Lease{"node-c", 500});
  REQUIRE(b.size() == 1);
  REQUIRE(a.size() == 1);
  REQUIRE(c.size() == 1);

  // node-a restarts: its own send and node-c's lapsed one come back; node-b
  // is alive and its gateway may have the message right now.
  CHECK(s.recover("node-a", now + 1000) == 2);
  CHECK(s.message(a[0].message.id).state == MessageState::Queued);
  CHECK(s.message(c[0].message.id).state == MessageState::Queued);
  auto live = s.message(b[0].message.id);
  CHECK(live.state == MessageState::Sending);
  CHECK(live.attempt_log.empty());
  CHECK(s.recover("node-a", now + 600000 - 1) == 0);
  CHECK(s.message(b[0].message.id).state == MessageState::Sending);

  // node-b's lease ran out: it is taken to be gone.
  CHECK(s.recover("node-a", now + 600001) == 1);
  auto taken = s.message(b[0].message.id);
  CHECK(taken.state == MessageState::Queued);
  REQUIRE(taken.attempt_log.size() == 1);
  CHECK(taken.attempt_log[0].outcome == "unknown");
}

TEST_CASE("an attempt recorded by the owner ends its lease", "[store][queue][lease]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "placed", 0, {sms("k1")}), 1);
  auto claimed = s.claim("gw", 10, 10, Lease{"node-b", 100});
  REQUIRE(claimed.size() == 1);
  s.attempt(retry_later(claimed[0], 50), 20);
  // Long after the lease: the message waits for its retry, nobody recovers it.
  CHECK(s.recover("node-a", 10'000) == 0);
  auto m = s.message(claimed[0].message.id);
  CHECK(m.state == MessageState::RetryWait);
  CHECK(m.attempt_log.size() == 1);
}

TEST_CASE("a message past its expiry is expired, not claimed", "[store][queue][expiry]") {
  STORE_UNDER_TEST(s);
  auto late = sms("late");
  late.expires_at_ms = 100;
  auto fresh = sms("fresh");
  fresh.expires_at_ms = 10000;
  s.apply(event("a", "A", "out_for_delivery", 4, {late}), 1);
  s.apply(event("b", "B", "out_for_delivery", 4, {fresh}), 1);
  auto claimed = s.claim("gw", 10, 200);
  REQUIRE(claimed.size() == 1);
  CHECK(claimed[0].message.idempotency_key == "fresh");
  CHECK(claimed[0].expires_at_ms == 10000);
  auto expired = s.messages("A");
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].state == MessageState::Expired);
  CHECK_THAT(expired[0].last_error, Catch::Contains("ttl"));
}

TEST_CASE("expire_overdue ends waiting messages past their ttl, never one without",
          "[store][queue][expiry]") {
  STORE_UNDER_TEST(s);
  auto late = sms("late");
  late.expires_at_ms = 100;
  s.apply(event("a", "A", "out_for_delivery", 4, {late}), 1);
  s.apply(event("b", "B", "out_for_delivery", 4, {sms("never")}), 1);
  s.tx([](StoreTx& t) { t.expire_overdue(99); });
  CHECK(s.state_of("A", "late") == MessageState::Queued);
  s.tx([](StoreTx& t) { t.expire_overdue(1'000'000'000); });
  CHECK(s.state_of("A", "late") == MessageState::Expired);
  CHECK(s.state_of("B", "never") == MessageState::Queued);
}

TEST_CASE("rerouted claims send a gateway's messages through the channel's next one",
          "[store][queue][reroute]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "A", "placed", 0, {sms("a")}), 1);
  s.apply(event("e2", "B", "placed", 0, {sms("b", "other")}), 1);
  auto moved = s.reroute("sms", "gw", "backup", 1, 10, 100);
  REQUIRE(moved.size() == 1);  // only the channel asked for
  CHECK(moved[0].message.idempotency_key == "a");
  CHECK(moved[0].gateway == "backup");
  CHECK(moved[0].gateway_index == 1);
  auto view = s.messages("A");
  REQUIRE(view.size() == 1);
  CHECK(view[0].gateway == "backup");
  CHECK(view[0].state == MessageState::Sending);
  // Never onto a gateway the operator holds.
  CHECK(s.hold_gateway("backup", true, 150).changed == 1);
  CHECK(s.reroute("other", "gw", "backup", 1, 10, 200).empty());
}

TEST_CASE("a message that may already be at its provider is not rerouted",
          "[store][queue][reroute]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "A", "placed", 0, {sms("a")}), 1);
  auto first = s.claim("gw", 10, 100);
  REQUIRE(first.size() == 1);
  auto unknown = attempt_for(first[0], "unknown", MessageState::RetryWait);
  unknown.next_attempt_at_ms = 150;
  s.attempt(unknown, 120);
  CHECK(s.reroute("sms", "gw", "backup", 1, 10, 200).empty());
  auto again = s.claim("gw", 10, 200);
  REQUIRE(again.size() == 1);
  CHECK(again[0].gateway == "gw");
}

TEST_CASE("requests that went out unanswered before the answer are unknown attempts first",
          "[store][queue]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "A", "placed", 0, {sms("a")}), 1);
  auto claimed = s.claim("gw", 10, 100);
  REQUIRE(claimed.size() == 1);
  auto sent = attempt_for(claimed[0], "sent", MessageState::Sent);
  sent.started_at_ms = 110;
  sent.detail = "HTTP 200";
  sent.provider_id = "p-1";
  sent.unanswered = {"no answer: sent again; the provider may have it twice"};
  s.attempt(sent, 120);
  auto m = s.message(claimed[0].message.id);
  CHECK(m.state == MessageState::Sent);
  CHECK(m.provider_id == "p-1");
  REQUIRE(m.attempt_log.size() == 2);
  CHECK(m.attempt_log[0].number == 1);
  CHECK(m.attempt_log[0].outcome == "unknown");
  CHECK(m.attempt_log[0].detail == "no answer: sent again; the provider may have it twice");
  CHECK(m.attempt_log[0].started_at_ms == 110);
  CHECK(m.attempt_log[0].provider_id.empty());
  CHECK(m.attempt_log[1].number == 2);
  CHECK(m.attempt_log[1].outcome == "sent");
  CHECK(m.attempt_log[1].provider_id == "p-1");
}

TEST_CASE("queue counts, figures and the next due time follow the queue", "[store][queue]") {
  STORE_UNDER_TEST(s);
  auto figures = [&](std::int64_t now) {
    return s.read([now](StoreReader& r) { return r.queue_figures(now); });
  };
  auto next_due = [&] { return s.read([](StoreReader& r) { return r.next_due_at(); }); };
  CHECK_FALSE(next_due().has_value());
  CHECK_FALSE(figures(1000).oldest_due_at_ms.has_value());
  CHECK(s.counts()[MessageState::Queued] == 0);

  s.apply(event("a", "A", "placed", 0, {sms("a")}), 100);
  s.apply(event("b", "B", "placed", 0, {sms("b")}), 200);
  s.apply(event("c", "C", "placed", 0, {sms("c")}), 300);
  CHECK(next_due() == 100);
  CHECK(s.counts()[MessageState::Queued] == 3);
  CHECK(figures(150).oldest_due_at_ms == 100);
  CHECK(figures(150)[MessageState::Queued] == 3);
  CHECK_FALSE(figures(50).oldest_due_at_ms.has_value());

  auto a = s.claim("gw", 1, 400);
  REQUIRE(a.size() == 1);
  CHECK(s.counts()[MessageState::Sending] == 1);
  CHECK(s.counts()[MessageState::Queued] == 2);
  CHECK(next_due() == 200);
  s.attempt(retry_later(a[0], 5000), 410);
  CHECK(s.counts()[MessageState::RetryWait] == 1);
  CHECK(s.counts()[MessageState::Sending] == 0);
  const auto b = s.message("B", "b").id;
  const auto c = s.message("C", "c").id;
  CHECK(s.verb(OperatorVerb::Hold, b, "ops", 420).changed == 1);
  CHECK(s.counts()[MessageState::Held] == 1);
  CHECK(s.counts()[MessageState::Queued] == 1);
  CHECK(next_due() == 300);
  CHECK(s.verb(OperatorVerb::Cancel, c, "ops", 430).changed == 1);
  CHECK(next_due() == 5000);
  CHECK(figures(1000)[MessageState::Queued] == 0);
  CHECK_FALSE(figures(1000).oldest_due_at_ms.has_value());
  CHECK(figures(6000).oldest_due_at_ms == 5000);
  auto again = s.claim("gw", 1, 6000);
  REQUIRE(again.size() == 1);
  s.attempt(attempt_for(again[0], "retry", MessageState::Dead), 6010);
  auto counts = s.counts();
  CHECK(counts[MessageState::Dead] == 1);
  CHECK(counts[MessageState::Held] == 1);
  for (auto state : kAllStates) {
    // Cancelled and sent ones are not counted: 0 for every state but these.
    if (state == MessageState::Dead || state == MessageState::Held) continue;
    INFO(state);
    CHECK(counts[state] == 0);
  }
  CHECK_FALSE(next_due().has_value());
}

// ---- superseding -----------------------------------------------------------

TEST_CASE("a newer status supersedes an older one still waiting to retry", "[store][supersede]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "shipped", 3, {sms("k1")}), 1);
  auto claimed = s.claim("gw", 10, 10);
  REQUIRE(claimed.size() == 1);
  s.attempt(retry_later(claimed[0], 100000), 20);
  s.apply(event("e2", "1", "delivered", 5, {sms("k2")}), 30);
  auto messages = s.messages("1");
  REQUIRE(messages.size() == 2);
  CHECK(messages[0].state == MessageState::Superseded);
  CHECK_THAT(messages[0].last_error, Catch::Contains("delivered"));
  CHECK(messages[1].state == MessageState::Queued);
  auto next = s.claim("gw", 10, 40);
  REQUIRE(next.size() == 1);
  CHECK(next[0].message.idempotency_key == "k2");
}

TEST_CASE("a queued or in-flight message is not superseded on arrival of a newer one",
          "[store][supersede]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "shipped", 3, {sms("k1")}), 1);
  s.apply(event("e2", "1", "delivered", 5, {sms("k2")}), 2);
  CHECK(s.state_of("1", "k1") == MessageState::Queued);  // about to go: left to go
  s.apply(event("f1", "2", "shipped", 3, {sms("f1")}), 3);
  REQUIRE(s.claim("gw", 10, 4).size() == 2);  // k1 and f1; k2 waits behind k1
  s.apply(event("f2", "2", "delivered", 5, {sms("f2")}), 5);
  CHECK(s.state_of("2", "f1") == MessageState::Sending);
  // And on another channel nothing is overtaken.
  s.apply(event("g1", "3", "shipped", 3, {sms("g1")}), 6);
  auto g = s.claim("gw", 10, 7);
  REQUIRE(g.size() == 1);
  s.attempt(retry_later(g[0], 100000), 8);
  s.apply(event("g2", "3", "delivered", 5, {sms("g2", "email")}), 9);
  CHECK(s.state_of("3", "g1") == MessageState::RetryWait);
}

TEST_CASE("a message sent back to wait behind a newer one is superseded", "[store][supersede]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "shipped", 3, {sms("k1")}), 1);
  auto claimed = s.claim("gw", 10, 10);
  REQUIRE(claimed.size() == 1);
  // "delivered" arrives while "shipped" is in flight, then "shipped" fails.
  s.apply(event("e2", "1", "delivered", 5, {sms("k2")}), 20);
  s.attempt(retry_later(claimed[0], 100000), 30);
  auto messages = s.messages("1");
  REQUIRE(messages.size() == 2);
  CHECK(messages[0].state == MessageState::Superseded);
  auto next = s.claim("gw", 10, 40);
  REQUIRE(next.size() == 1);
  CHECK(next[0].message.idempotency_key == "k2");
}

TEST_CASE("a message of policy Never is not superseded by a newer status update",
          "[store][supersede]") {
  STORE_UNDER_TEST(s);
  // Waiting for a retry when the newer one arrives.
  s.apply(event("e1", "1", "shipped", 3, {never_superseded("k1")}), 1);
  auto first = s.claim("gw", 10, 10);
  REQUIRE(first.size() == 1);
  s.attempt(retry_later(first[0], 100), 20);
  s.apply(event("e2", "1", "delivered", 5, {sms("k2")}), 30);
  CHECK(s.state_of("1", "k1") == MessageState::RetryWait);
  CHECK(s.state_of("1", "k2") == MessageState::Queued);
  // It still goes first; the newer one follows it.
  CHECK(s.claim("gw", 10, 40).empty());
  auto retried = s.claim("gw", 10, 100);
  REQUIRE(retried.size() == 1);
  CHECK(retried[0].message.idempotency_key == "k1");

  // In flight when the newer one arrives, then sent back to wait.
  s.apply(event("f1", "2", "shipped", 3, {never_superseded("f1")}), 200);
  auto in_flight = s.claim("gw", 1, 210);
  REQUIRE(in_flight.size() == 1);
  REQUIRE(in_flight[0].message.idempotency_key == "f1");
  s.apply(event("f2", "2", "delivered", 5, {sms("f2")}), 220);
  s.attempt(retry_later(in_flight[0], 1000), 230);
  CHECK(s.state_of("2", "f1") == MessageState::RetryWait);
  CHECK(s.state_of("2", "f2") == MessageState::Queued);
}

TEST_CASE("a newer message of policy Never supersedes nothing on arrival", "[store][supersede]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "shipped", 3, {sms("k1")}), 1);
  auto first = s.claim("gw", 10, 10);
  REQUIRE(first.size() == 1);
  s.attempt(retry_later(first[0], 100), 20);
  s.apply(event("e2", "1", "delivered", 5, {never_superseded("k2")}), 30);
  CHECK(s.state_of("1", "k1") == MessageState::RetryWait);
  CHECK(s.state_of("1", "k2") == MessageState::Queued);
}

TEST_CASE(
    "a newer message of policy Never supersedes nothing when an older one is sent back "
    "to wait",
    "[store][supersede]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "shipped", 3, {sms("k1")}), 1);
  auto in_flight = s.claim("gw", 10, 10);
  REQUIRE(in_flight.size() == 1);
  s.apply(event("e2", "1", "delivered", 5, {never_superseded("k2")}), 20);
  s.attempt(retry_later(in_flight[0], 100), 30);
  CHECK(s.state_of("1", "k1") == MessageState::RetryWait);
  CHECK(s.state_of("1", "k2") == MessageState::Queued);
}

// ---- the writer and the readers ----------------------------------------------

TEST_CASE("the writer commits many callers' work", "[store][writer]") {
  STORE_UNDER_TEST(s);
  constexpr int kThreads = 8, kEach = 200;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto id = std::to_string(t) + "-" + std::to_string(i);
        auto error = submit_and_wait(s.store(), [id](StoreTx& tx) {
          tx.apply_event(event(id, id, "placed", 0, {sms(id)}), 1);
        });
        if (error.empty()) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == kThreads * kEach);
  CHECK(s.store().healthy());
  s.reopen();
  CHECK(s.counts()[MessageState::Queued] == kThreads * kEach);
}

TEST_CASE("units run in the order submitted", "[store][writer]") {
  STORE_UNDER_TEST(s);
  std::vector<std::future<std::string>> answers;
  std::vector<std::shared_ptr<std::promise<std::string>>> promises;
  for (int i = 0; i < 20; ++i) {
    auto answer = std::make_shared<std::promise<std::string>>();
    answers.push_back(answer->get_future());
    promises.push_back(answer);
    // Each a newer status of one order: only in order are none stale.
    s.store().submit(
        [i](StoreTx& t) {
          auto r =
              t.apply_event(event("e" + std::to_string(i), "1", "s" + std::to_string(i), i), i);
          if (r.verdict != EventVerdict::Accepted) throw std::runtime_error(to_string(r.verdict));
        },
        [answer](const std::string& error) { answer->set_value(error); });
  }
  for (auto& a : answers) CHECK(a.get().empty());
  auto order = s.read([](StoreReader& r) { return r.order_timeline("1"); });
  REQUIRE(order.has_value());
  CHECK(order->status == "s19");
}

TEST_CASE("a unit of work that throws is rolled back alone", "[store][writer]") {
  STORE_UNDER_TEST(s);
  std::promise<std::string> a, b, c;
  s.store().submit(
      [](StoreTx& t) { t.apply_event(event("good", "1", "placed", 0, {sms("g")}), 1); },
      [&](const std::string& e) { a.set_value(e); });
  s.store().submit(
      [](StoreTx& t) {
        t.apply_event(event("bad", "2", "placed", 0, {sms("b")}), 1);
        throw std::runtime_error("boom");
      },
      [&](const std::string& e) { b.set_value(e); });
  s.store().submit(
      [](StoreTx& t) { t.apply_event(event("after", "3", "placed", 0, {sms("a")}), 1); },
      [&](const std::string& e) { c.set_value(e); });
  CHECK(a.get_future().get().empty());
  CHECK_THAT(b.get_future().get(), Catch::Contains("boom"));
  CHECK(c.get_future().get().empty());
  CHECK(s.events("1").size() == 1);
  CHECK(s.events("2").empty());
  CHECK(s.messages("2").empty());
  CHECK(s.events("3").size() == 1);
  CHECK(s.store().healthy());
  // The event id of the undone unit is free.
  CHECK(s.apply(event("bad", "2", "placed", 0, {sms("b")}), 2).verdict == EventVerdict::Accepted);
  // run() reports the same as a StoreError.
  CHECK_THROWS_AS(s.tx([](StoreTx&) -> int { throw std::runtime_error("boom"); }), StoreError);
}

TEST_CASE("reads see committed units and are not queued behind the writer",
          "[store][writer][reads]") {
  STORE_UNDER_TEST(s);
  s.apply(event("c", "committed", "placed", 0, {sms("c")}), 1);

  // A unit that writes, then blocks the writer until released.
  struct Shared {
    std::promise<void> entered, release;
    std::promise<std::string> unit_done, read_done;
    std::size_t committed_seen = 99, pending_seen = 99;
  };
  auto shared = std::make_shared<Shared>();
  auto released = shared->release.get_future().share();
  s.store().submit(
      [shared, released](StoreTx& t) {
        t.apply_event(event("p", "pending", "placed", 0, {sms("p")}), 2);
        shared->entered.set_value();
        released.wait();
      },
      [shared](const std::string& e) { shared->unit_done.set_value(e); });
  auto entered = shared->entered.get_future();
  REQUIRE(entered.wait_for(std::chrono::seconds(30)) == std::future_status::ready);

  // A write queued behind it waits; a read does not.
  auto queued = std::make_shared<std::promise<std::string>>();
  auto queued_done = queued->get_future();
  s.store().submit([](StoreTx& t) { t.apply_event(event("q", "queued", "placed", 0, {}), 3); },
                   [queued](const std::string& e) { queued->set_value(e); });
  s.store().submit_read(
      [shared](StoreReader& r) {
        shared->committed_seen = r.find_events("committed").size();
        shared->pending_seen = r.find_events("pending").size();
      },
      [shared](const std::string& e) { shared->read_done.set_value(e); });
  auto read_done = shared->read_done.get_future();
  const auto read_status = read_done.wait_for(std::chrono::seconds(30));
  const auto queued_status = queued_done.wait_for(std::chrono::milliseconds(0));
  shared->release.set_value();  // whatever happened, let the writer go
  REQUIRE(read_status == std::future_status::ready);
  CHECK(read_done.get().empty());
  CHECK(queued_status == std::future_status::timeout);
  CHECK(shared->committed_seen == 1);
  CHECK(shared->pending_seen == 0);  // never part of a unit

  CHECK(shared->unit_done.get_future().get().empty());
  CHECK(queued_done.get().empty());
  CHECK(s.events("pending").size() == 1);
  CHECK(s.events("queued").size() == 1);
}

TEST_CASE("a read that throws fails alone", "[store][reads]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "placed", 0, {sms("k1")}), 1);
  CHECK_THROWS_AS(s.read([](StoreReader&) -> int { throw std::runtime_error("bad query"); }),
                  StoreError);
  CHECK(s.events("1").size() == 1);
}

TEST_CASE("call and read resume a coroutine on its executor with the result or the error",
          "[store][writer][reads][coroutine]") {
  // Before the store: a store thread's post to it may still be returning
  // when the coroutine has finished, so the loop must outlive the store.
  asio::io_context io;
  STORE_UNDER_TEST(s);
  struct Seen {
    std::optional<int> created, failed;
    std::optional<std::size_t> found;
    std::optional<bool> read_failed;
    std::string error, read_error;
    bool on_loop = true;
  };
  const auto loop = std::this_thread::get_id();
  Store& store = s.store();
  auto task = [&]() -> asio::awaitable<Seen> {
    Seen seen;
    auto executor = co_await asio::this_coro::executor;
    seen.created = co_await store.call<int>(executor, [](StoreTx& t) {
      return t.apply_event(event("e1", "1", "placed", 0, {sms("k1")}), 1).messages_created;
    });
    seen.on_loop = seen.on_loop && std::this_thread::get_id() == loop;
    seen.found = co_await store.read<std::size_t>(
        executor, [](StoreReader& r) { return r.find_events("1").size(); });
    seen.on_loop = seen.on_loop && std::this_thread::get_id() == loop;
    seen.failed = co_await store.call<int>(
        executor, [](StoreTx&) -> int { throw std::runtime_error("boom"); }, &seen.error);
    seen.on_loop = seen.on_loop && std::this_thread::get_id() == loop;
    seen.read_failed = co_await store.read<bool>(
        executor, [](StoreReader&) -> bool { throw std::runtime_error("bad query"); },
        &seen.read_error);
    seen.on_loop = seen.on_loop && std::this_thread::get_id() == loop;
    co_return seen;
  };
  auto seen = testing::run_task(io, task());
  REQUIRE(seen.has_value());
  CHECK(seen->created == 1);
  CHECK(seen->found == 1);
  CHECK_FALSE(seen->failed.has_value());
  CHECK_THAT(seen->error, Catch::Contains("boom"));
  CHECK_FALSE(seen->read_failed.has_value());
  CHECK_THAT(seen->read_error, Catch::Contains("bad query"));
  CHECK(seen->on_loop);
}

TEST_CASE("a closed store refuses work and says so", "[store][writer]") {
  STORE_UNDER_TEST(s);
  s.store().close();
  std::promise<std::string> write, read;
  s.store().submit([](StoreTx&) {}, [&](const std::string& e) { write.set_value(e); });
  s.store().submit_read([](StoreReader&) {}, [&](const std::string& e) { read.set_value(e); });
  CHECK_FALSE(write.get_future().get().empty());
  CHECK_FALSE(read.get_future().get().empty());
}

// ---- opening -------------------------------------------------------------------

TEST_CASE("a store opened read-only answers queries and refuses work", "[store][open]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "placed", 0, {sms("k1")}), 1);
  auto readonly = s.open(Access::ReadOnly);
  MessageQuery q;
  q.order_id = "1";
  CHECK(readonly->query<std::size_t>([&](StoreReader& r) { return r.find_messages(q).size(); }) ==
        1);
  // It sees what the owner commits later, too.
  s.apply(event("e2", "2", "placed", 0, {sms("k2")}), 2);
  CHECK(readonly->query<std::size_t>([](StoreReader& r) { return r.find_events("2").size(); }) ==
        1);

  auto ran = std::make_shared<std::atomic<bool>>(false);
  std::promise<std::string> refused;
  readonly->submit(
      [ran](StoreTx& t) {
        *ran = true;
        t.apply_event(event("e3", "3", "placed", 0, {sms("k3")}), 3);
      },
      [&](const std::string& e) { refused.set_value(e); });
  CHECK_FALSE(refused.get_future().get().empty());
  CHECK_FALSE(*ran);
  CHECK_THROWS_AS(readonly->run<int>([](StoreTx& t) {
    t.apply_event(event("e3", "3", "placed", 0, {sms("k3")}), 3);
    return 0;
  }),
                  StoreError);
  readonly->close();
  CHECK(s.events("3").empty());
}

TEST_CASE("a store of an older schema is upgraded by its owner only", "[store][open]") {
  STORE_IMPLEMENTATION(impl);
  testing::TempDir dir;
  const auto location = impl.location(dir);
  impl.make_older_schema(location);
  auto open = [&](Access access) {
    StoreOptions options;
    options.location = location;
    options.access = access;
    return open_store(options);
  };
  // The CLI beside tackd never upgrades: it says to start tackd.
  try {
    open(Access::Beside);
    FAIL("a store of an older schema opened beside tackd");
  } catch (const StoreError& e) {
    CHECK_THAT(e.what(), Catch::Contains("start") && Catch::Contains("tackd"));
  }
  // ... and left it as it was.
  CHECK_THROWS_AS(open(Access::ReadOnly), StoreError);
  CHECK_THROWS_AS(open(Access::Beside), StoreError);

  open(Access::Owner)->close();
  auto beside = open(Access::Beside);
  CHECK(beside->run<int>([](StoreTx& t) {
    return t.apply_event(event("new", "new", "placed", 0, {sms("new")}), 1).messages_created;
  }) == 1);
  beside->close();
  auto readonly = open(Access::ReadOnly);
  CHECK(readonly->query<std::size_t>([](StoreReader& r) { return r.find_events("new").size(); }) ==
        1);
}

TEST_CASE("a store that is not there is not opened beside tackd or read-only", "[store][open]") {
  STORE_IMPLEMENTATION(impl);
  testing::TempDir dir;
  StoreOptions options;
  options.location = impl.location(dir);
  options.access = Access::ReadOnly;
  CHECK_THROWS_AS(open_store(options), StoreError);
  options.access = Access::Beside;
  CHECK_THROWS_AS(open_store(options), StoreError);
  // The owner creates it.
  options.access = Access::Owner;
  auto store = open_store(options);
  CHECK(store->healthy());
  CHECK(store->query<std::int64_t>(
            [](StoreReader& r) { return r.queue_counts()[MessageState::Queued]; }) == 0);
}

// ---- operator verbs -------------------------------------------------------------

TEST_CASE("an operator retry requeues a dead message with a fresh round and an audit entry",
          "[store][operator]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "placed", 0, {sms("k1")}), 1);
  auto claimed = s.claim("gw", 10, 10);
  REQUIRE(claimed.size() == 1);
  s.attempt(attempt_for(claimed[0], "retry", MessageState::Dead), 20);
  const auto id = claimed[0].message.id;
  CHECK(s.message(id).actions() == std::vector<OperatorVerb>{OperatorVerb::Retry});
  // Cancel and hold do not apply to a dead message; retry does.
  CHECK_THAT(s.verb(OperatorVerb::Cancel, id, "cli:anna", 30).error, Catch::Contains("is dead"));
  CHECK(s.verb(OperatorVerb::Hold, id, "cli:anna", 30).changed == 0);
  auto r = s.verb(OperatorVerb::Retry, id, "cli:anna", 40);
  CHECK(r.changed == 1);
  CHECK(r.error.empty());
  auto again = s.claim("gw", 10, 50);
  REQUIRE(again.size() == 1);
  CHECK(again[0].message.attempts == 0);
  CHECK(again[0].round_started_at_ms == 40);
  auto audit = s.audit("message " + std::to_string(id));
  REQUIRE(audit.size() == 1);
  CHECK(audit[0].actor == "cli:anna");
  CHECK(audit[0].action == "retry");
  CHECK(audit[0].detail == "dead -> queued");
  CHECK(audit[0].at_ms == 40);
  CHECK_THAT(s.verb(OperatorVerb::Retry, 999, "cli:anna", 60).error,
             Catch::Contains("no message 999"));
  // Being sent right now: not touched, and the answer says so.
  auto busy = s.verb(OperatorVerb::Cancel, id, "cli:anna", 70);
  CHECK(busy.changed == 0);
  CHECK_THAT(busy.error, Catch::Contains("sending"));
}

TEST_CASE("each operator verb moves a message only from its sources, to its target",
          "[store][operator]") {
  STORE_UNDER_TEST(s);
  // A message in each state an operator meets: queued, retry_wait, held.
  s.apply(event("q", "Q", "placed", 0, {sms("q")}), 1);
  s.apply(event("r", "R", "placed", 0, {sms("r")}), 1);
  auto r = s.claim("gw", 1, 2);
  REQUIRE(r.size() == 1);
  REQUIRE(r[0].message.order_id == "Q");  // the older one first
  s.attempt(retry_later(r[0], 100000), 3);
  const auto retrying = r[0].message.id;
  const auto queued = s.message("R", "r").id;
  CHECK(s.message(retrying).state == MessageState::RetryWait);

  CHECK(s.verb(OperatorVerb::Release, queued, "ops", 4).changed == 0);
  CHECK(s.verb(OperatorVerb::Hold, queued, "ops", 5).changed == 1);
  CHECK(s.message(queued).state == MessageState::Held);
  CHECK(s.message(queued).actions() == std::vector<OperatorVerb>{OperatorVerb::Retry,
                                                                 OperatorVerb::Cancel,
                                                                 OperatorVerb::Release});
  CHECK(s.verb(OperatorVerb::Hold, queued, "ops", 6).changed == 0);
  CHECK(s.verb(OperatorVerb::Release, queued, "ops", 7).changed == 1);
  CHECK(s.message(queued).state == MessageState::Queued);
  CHECK(s.message(queued).next_attempt_at_ms == 7);

  CHECK(s.verb(OperatorVerb::Retry, retrying, "ops", 8).changed == 1);  // now, not at 100000
  CHECK(s.message(retrying).state == MessageState::Queued);
  CHECK(s.message(retrying).next_attempt_at_ms == 8);
  CHECK(s.verb(OperatorVerb::Cancel, retrying, "ops", 9).changed == 1);
  CHECK(s.message(retrying).state == MessageState::Cancelled);
  CHECK(s.message(retrying).actions().empty());
  for (auto verb : kAllVerbs) {
    INFO(to_string(verb));
    CHECK(s.verb(verb, retrying, "ops", 10).changed == 0);
  }
  auto audit = s.audit("message " + std::to_string(queued));
  REQUIRE(audit.size() == 2);
  CHECK(audit[0].action == "hold");
  CHECK(audit[0].detail == "queued -> held");
  CHECK(audit[1].action == "release");
  CHECK(audit[1].detail == "held -> queued");
  CHECK(s.audit("message " + std::to_string(retrying)).size() == 2);
}

TEST_CASE("held messages and held gateways are not claimed until released", "[store][operator]") {
  STORE_UNDER_TEST(s);
  s.apply(event("a", "A", "placed", 0, {sms("a")}), 1);
  s.apply(event("b", "B", "placed", 0, {sms("b")}), 1);
  auto messages = s.messages("A");
  REQUIRE(messages.size() == 1);
  CHECK(s.verb(OperatorVerb::Hold, messages[0].id, "cli:ops", 2).changed == 1);
  auto claimed = s.claim("gw", 10, 3);
  REQUIRE(claimed.size() == 1);
  CHECK(claimed[0].message.idempotency_key == "b");
  CHECK(s.verb(OperatorVerb::Release, messages[0].id, "cli:ops", 4).changed == 1);
  CHECK(s.hold_gateway("gw", true, 5).changed == 1);
  CHECK(s.read([](StoreReader& r) { return r.held_gateways(); }) == std::vector<std::string>{"gw"});
  auto holds = s.read([](StoreReader& r) { return r.gateway_holds(); });
  REQUIRE(holds.size() == 1);
  CHECK(holds[0].gateway == "gw");
  CHECK(holds[0].actor == "cli:ops");
  CHECK(holds[0].at_ms == 5);
  CHECK(s.claim("gw", 10, 6).empty());
  CHECK_FALSE(s.hold_gateway("gw", true, 7).error.empty());
  CHECK(s.hold_gateway("gw", false, 8).changed == 1);
  CHECK_FALSE(s.hold_gateway("gw", false, 8).error.empty());
  CHECK(s.read([](StoreReader& r) { return r.held_gateways(); }).empty());
  CHECK(s.claim("gw", 10, 9).size() == 1);
  CHECK(s.audit("gateway gw").size() == 2);
}

TEST_CASE(
    "tackd's own gateway hold lets its messages move on and ends on release; an "
    "operator's stays",
    "[store][operator]") {
  STORE_UNDER_TEST(s);
  s.apply(event("a", "A", "placed", 0, {sms("a")}), 1);
  CHECK(s.tx([](StoreTx& t) { return t.hold_refused_gateway("gw", "HTTP 401", 10); }));
  CHECK_FALSE(s.tx([](StoreTx& t) { return t.hold_refused_gateway("gw", "HTTP 401", 11); }));
  auto holds = s.read([](StoreReader& r) { return r.gateway_holds(); });
  REQUIRE(holds.size() == 1);
  CHECK(holds[0].actor == kRefusedHoldActor);
  CHECK(s.claim("gw", 10, 20).empty());
  auto moved = s.reroute("sms", "gw", "backup", 1, 10, 20);
  REQUIRE(moved.size() == 1);
  CHECK(moved[0].gateway == "backup");

  auto released = s.tx([](StoreTx& t) {
    return t.release_refused_holds(std::nullopt, "the gateway's settings changed", 30);
  });
  CHECK(released == std::vector<std::string>{"gw"});
  CHECK(s.read([](StoreReader& r) { return r.held_gateways(); }).empty());
  auto audit = s.audit("gateway gw");
  REQUIRE(audit.size() == 2);
  CHECK(audit[0].actor == kRefusedHoldActor);
  CHECK(audit[0].action == "hold");
  CHECK(audit[0].detail == "HTTP 401");
  CHECK(audit[1].action == "release");
  CHECK(audit[1].detail == "the gateway's settings changed");

  // An operator's hold: nothing moves on, and tackd does not end it.
  s.apply(event("b", "B", "placed", 0, {sms("b")}), 40);
  CHECK(s.hold_gateway("gw", true, 41).changed == 1);
  CHECK_FALSE(s.tx([](StoreTx& t) { return t.hold_refused_gateway("gw", "HTTP 403", 42); }));
  CHECK(s.reroute("sms", "gw", "backup", 1, 10, 43).empty());
  CHECK(s.tx([](StoreTx& t) {
           return t.release_refused_holds(std::nullopt, "restart", 44);
         }).empty());
  CHECK(s.tx([](StoreTx& t) {
           return t.release_refused_holds(std::string("gw"), "restart", 44);
         }).empty());
  CHECK(s.read([](StoreReader& r) { return r.held_gateways(); }) == std::vector<std::string>{"gw"});
}

TEST_CASE("a cancelled message is never sent", "[store][operator]") {
  STORE_UNDER_TEST(s);
  s.apply(event("a", "A", "placed", 0, {sms("a")}), 1);
  auto id = s.messages("A")[0].id;
  CHECK(s.verb(OperatorVerb::Cancel, id, "cli:ops", 2).changed == 1);
  CHECK(s.claim("gw", 10, 3).empty());
  auto m = s.message(id);
  CHECK(m.state == MessageState::Cancelled);
  CHECK(m.last_error == "cancelled by cli:ops");
}

TEST_CASE("retry_dead and retry_failed retry what died or a gateway refused since a time",
          "[store][operator]") {
  STORE_UNDER_TEST(s);
  auto on = [](const std::string& key, const std::string& gateway) {
    auto m = sms(key);
    m.gateway = gateway;
    return m;
  };
  s.apply(event("a", "A", "placed", 0, {on("a", "gw")}), 1);
  s.apply(event("b", "B", "placed", 0, {on("b", "gw2")}), 1);
  s.apply(event("c", "C", "placed", 0, {on("c", "gw")}), 1);
  auto refused = on("d", "gw");
  refused.state = MessageState::Failed;
  refused.last_error = "invalid phone number";
  s.apply(event("d", "D", "placed", 0, {refused}), 1);
  auto gw = s.claim("gw", 10, 10);
  auto gw2 = s.claim("gw2", 10, 10);
  REQUIRE(gw.size() == 2);
  REQUIRE(gw2.size() == 1);
  s.attempt(attempt_for(gw[0], "retry", MessageState::Dead), 100);
  s.attempt(attempt_for(gw2[0], "retry", MessageState::Dead), 100);
  s.attempt(attempt_for(gw[1], "rejected", MessageState::Failed), 100);

  auto retry_dead = [&](std::int64_t since, std::optional<std::string> gateway) {
    return s.tx([&](StoreTx& t) { return t.retry_dead(since, gateway, "cli:ops", 200); });
  };
  CHECK(retry_dead(150, std::nullopt).changed == 0);  // nothing died since
  CHECK(retry_dead(50, std::string("gw")).changed == 1);
  CHECK(s.state_of("A", "a") == MessageState::Queued);
  CHECK(s.state_of("B", "b") == MessageState::Dead);
  CHECK(retry_dead(50, std::nullopt).changed == 1);
  CHECK(s.state_of("B", "b") == MessageState::Queued);

  // A gateway's refusal is retried; tack's own refusal at intake is not.
  auto failed = s.tx([](StoreTx& t) { return t.retry_failed(50, std::nullopt, "cli:ops", 300); });
  CHECK(failed.changed == 1);
  CHECK(s.state_of("C", "c") == MessageState::Queued);
  CHECK(s.state_of("D", "d") == MessageState::Failed);
  CHECK(s.audit("message " + std::to_string(gw[0].message.id)).size() == 1);
  CHECK(s.audit("message " + std::to_string(s.message("D", "d").id)).empty());
}

TEST_CASE("a message tack refused at intake cannot be retried, and keeps its reason",
          "[store][operator]") {
  STORE_UNDER_TEST(s);
  auto refused = sms("k1");
  refused.recipient = "08-123 456 78";
  refused.text.clear();
  refused.state = MessageState::Failed;
  refused.last_error = "phone number is a fixed line and cannot take SMS";
  s.apply(event("e1", "1", "placed", 0, {refused}), 1);
  auto before = s.messages("1");
  REQUIRE(before.size() == 1);
  const auto id = before[0].id;
  CHECK(before[0].state == MessageState::Failed);
  CHECK(before[0].refused_by_tack());
  CHECK_FALSE(has(before[0].actions(), OperatorVerb::Retry));
  // Never claimed.
  CHECK(s.claim("gw", 10, 10).empty());

  auto result = s.verb(OperatorVerb::Retry, id, "cli:anna", 50);
  CHECK(result.changed == 0);
  CHECK_THAT(result.error, Catch::Contains("refused by tack"));
  CHECK_THAT(result.error, Catch::Contains("fixed line"));
  auto after = s.messages("1");
  CHECK(after[0].state == MessageState::Failed);
  CHECK(after[0].last_error == "phone number is a fixed line and cannot take SMS");
  CHECK(after[0].attempts == 0);
}

TEST_CASE("a message a provider refused can still be retried", "[store][operator]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "placed", 0, {sms("k1")}), 1);
  auto claimed = s.claim("gw", 10, 100);
  REQUIRE(claimed.size() == 1);
  AttemptRecord attempt;
  attempt.message_id = claimed[0].message.id;
  attempt.gateway = "gw";
  attempt.outcome = "rejected";
  attempt.detail = "400 bad number";
  attempt.next_state = MessageState::Failed;
  attempt.last_error = "400 bad number";
  s.attempt(attempt, 20);
  auto failed = s.messages("1");
  REQUIRE(failed[0].state == MessageState::Failed);
  CHECK_FALSE(failed[0].refused_by_tack());
  CHECK(has(failed[0].actions(), OperatorVerb::Retry));
  CHECK(s.verb(OperatorVerb::Retry, failed[0].id, "cli:anna", 50).changed == 1);
}

// ---- fallbacks (standby) ----------------------------------------------------------

TEST_CASE("a standby fallback is sent when its primary fails, never before", "[store][fallback]") {
  STORE_UNDER_TEST(s);
  auto r = s.apply(event("e1", "1042", "shipped", 3, with_standby("k")), 1);
  CHECK(r.messages_created == 2);
  CHECK(s.state_of("1042", "k-email") == MessageState::Standby);
  CHECK(s.claim("mail", 10, 100).empty());
  auto primary = s.claim("gw", 10, 100);
  REQUIRE(primary.size() == 1);
  s.attempt(attempt_for(primary[0], "rejected", MessageState::Failed), 200);
  auto fallback = s.claim("mail", 10, 300);
  REQUIRE(fallback.size() == 1);
  CHECK(fallback[0].message.idempotency_key == "k-email");
  CHECK(fallback[0].round_started_at_ms == 200);
  auto view = s.message(fallback[0].message.id);
  CHECK(view.fallback_for == primary[0].message.id);
  CHECK_THAT(view.last_error,
             Catch::Contains("fallback for message") && Catch::Contains("invalid number"));
}

TEST_CASE("a standby whose primary is missing from the record is not created",
          "[store][fallback]") {
  STORE_UNDER_TEST(s);
  auto messages = with_standby("k");
  messages[1].standby_for = 5;  // no such message
  auto r = s.apply(event("e1", "A", "shipped", 3, messages), 1);
  CHECK(r.messages_created == 1);
  REQUIRE(s.messages("A").size() == 1);
  CHECK(s.messages("A")[0].idempotency_key == "k");
}

TEST_CASE("a standby is not needed when its primary is sent, and dies with it otherwise",
          "[store][fallback]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "A", "shipped", 3, with_standby("a")), 1);
  s.apply(event("e2", "B", "shipped", 3, with_standby("b")), 1);
  auto claimed = s.claim("gw", 10, 100);
  REQUIRE(claimed.size() == 2);
  s.attempt(attempt_for(claimed[0], "sent", MessageState::Sent), 200);
  CHECK(s.state_of("A", "a-email") == MessageState::NotNeeded);
  // Gave up after retries: the customer still has to hear, so the fallback goes.
  s.attempt(attempt_for(claimed[1], "retry", MessageState::Dead), 200);
  CHECK(s.state_of("B", "b-email") == MessageState::Queued);
  // Still retrying, or held: the standby waits.
  s.apply(event("e3", "C", "shipped", 3, with_standby("c")), 1);
  s.apply(event("e4", "D", "shipped", 3, with_standby("d")), 1);
  auto c = s.claim("gw", 1, 300);
  REQUIRE(c.size() == 1);
  s.attempt(retry_later(c[0], 100000), 310);
  CHECK(s.state_of("C", "c-email") == MessageState::Standby);
  CHECK(s.verb(OperatorVerb::Hold, s.message("C", "c").id, "ops", 320).changed == 1);
  CHECK(s.state_of("C", "c-email") == MessageState::Standby);
  CHECK(s.verb(OperatorVerb::Cancel, s.message("C", "c").id, "ops", 330).changed == 1);
  CHECK(s.state_of("C", "c-email") == MessageState::Cancelled);
  CHECK(s.verb(OperatorVerb::Cancel, s.message("D", "d").id, "ops", 340).changed == 1);
  CHECK(s.state_of("D", "d-email") == MessageState::Cancelled);
}

TEST_CASE("a standby whose news is out of date is superseded, not sent", "[store][fallback]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "A", "shipped", 3, with_standby("old")), 1);
  auto old = s.claim("gw", 10, 100);
  REQUIRE(old.size() == 1);
  // Meanwhile "delivered" went out by e-mail.
  auto newer = sms("new-email", "email");
  newer.gateway = "mail";
  s.apply(event("e2", "A", "delivered", 5, {newer}), 150);
  s.attempt(attempt_for(old[0], "rejected", MessageState::Failed), 200);
  CHECK(s.state_of("A", "old-email") == MessageState::Superseded);
  auto mail = s.claim("mail", 10, 300);
  REQUIRE(mail.size() == 1);
  CHECK(mail[0].message.idempotency_key == "new-email");
}

TEST_CASE("a standby is superseded with its primary by a newer status", "[store][fallback]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "A", "shipped", 3, with_standby("old")), 1);
  auto old = s.claim("gw", 10, 100);
  REQUIRE(old.size() == 1);
  s.attempt(retry_later(old[0], 100000), 110);
  s.apply(event("e2", "A", "delivered", 5, {sms("new")}), 150);
  CHECK(s.state_of("A", "old") == MessageState::Superseded);
  CHECK(s.state_of("A", "old-email") == MessageState::Superseded);
  CHECK(s.claim("mail", 10, 200).empty());
}

TEST_CASE("a standby expires with its rule's ttl", "[store][fallback]") {
  STORE_UNDER_TEST(s);
  auto messages = with_standby("k");
  for (auto& m : messages) m.expires_at_ms = 1000;
  s.apply(event("e1", "A", "out_for_delivery", 4, messages), 1);
  CHECK(s.claim("gw", 10, 2000).empty());
  CHECK(s.state_of("A", "k") == MessageState::Expired);
  CHECK(s.state_of("A", "k-email") == MessageState::Expired);
}

TEST_CASE("retrying a primary whose fallback went out is refused", "[store][fallback]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "A", "shipped", 3, with_standby("k")), 1);
  auto primary = s.claim("gw", 10, 100);
  REQUIRE(primary.size() == 1);
  s.attempt(attempt_for(primary[0], "rejected", MessageState::Failed), 200);
  CHECK(s.state_of("A", "k-email") == MessageState::Queued);
  auto retry = s.verb(OperatorVerb::Retry, primary[0].message.id, "ops", 300);
  CHECK(retry.changed == 0);
  CHECK_THAT(retry.error, Catch::Contains("tell the customer twice"));
  CHECK(s.state_of("A", "k") == MessageState::Failed);
}

TEST_CASE("a primary out of time hands over to its fallback while that is in time",
          "[store][fallback]") {
  STORE_UNDER_TEST(s);
  auto messages = with_standby("k");
  for (auto& m : messages) m.expires_at_ms = 10'000;
  s.apply(event("e1", "A", "out_for_delivery", 4, messages), 1);
  auto primary = s.claim("gw", 10, 100);
  REQUIRE(primary.size() == 1);
  s.attempt(attempt_for(primary[0], "retry", MessageState::Expired), 200);
  auto fallback = s.claim("mail", 10, 300);
  REQUIRE(fallback.size() == 1);
  CHECK(fallback[0].message.idempotency_key == "k-email");
}

// ---- support ---------------------------------------------------------------------

TEST_CASE("support finds an e-mail address in any letter case", "[store][support]") {
  STORE_UNDER_TEST(s);
  auto m = sms("k1");
  m.recipient = "Anna.Svensson@Example.se";
  s.apply(event("e1", "1", "placed", 0, {m}), 1);
  MessageQuery q;
  q.recipients = {"anna.svensson@example.se"};
  CHECK(s.find(q).size() == 1);
  MessageSearch search;
  search.recipients = {"ANNA.SVENSSON@EXAMPLE.SE"};
  CHECK(s.read([&](StoreReader& r) { return r.search_messages(search); }).messages.size() == 1);
  CHECK(s.read([](StoreReader& r) { return r.orders_of_recipient("anna.svensson@EXAMPLE.se"); }) ==
        std::vector<std::string>{"1"});
}

TEST_CASE("support finds a Polish customer's SMS by the national number typed in a Swedish shop",
          "[store][support][region]") {
  STORE_UNDER_TEST(s);
  auto polish = sms("k1");
  polish.recipient = "+48701234568";
  auto refused = sms("k2");
  refused.recipient = "701 234 568";  // refused at intake: stored as it came
  refused.state = MessageState::Failed;
  s.apply(event("e1", "1", "placed", 0, {polish, refused}), 1);
  MessageQuery q;
  q.recipients = phone_search_forms("701 234 568", "SE");
  CHECK(s.find(q).size() == 2);
  auto search = [&](const std::string& typed) {
    MessageSearch m;
    m.recipients = phone_search_forms(typed, "SE");
    return s.read([&](StoreReader& r) { return r.search_messages(m); }).messages.size();
  };
  CHECK(search("701-234-568") == 1);
  CHECK(search("+48 701 234 568") == 1);
}

TEST_CASE("a search pages newest first and filters by state and time", "[store][support]") {
  STORE_UNDER_TEST(s);
  for (int i = 1; i <= 5; ++i) {
    const auto id = std::to_string(i);
    s.apply(event("e" + id, "P" + id, "placed", 0, {sms("k" + id)}), i * 100);
  }
  auto page = [&](MessageSearch q) {
    return s.read([&](StoreReader& r) { return r.search_messages(q); });
  };
  auto keys = [](const MessagePage& p) {
    std::vector<std::string> out;
    for (const auto& m : p.messages) out.push_back(m.idempotency_key);
    return out;
  };
  MessageSearch q;
  q.limit = 2;
  auto first = page(q);
  CHECK(keys(first) == std::vector<std::string>{"k5", "k4"});
  CHECK(first.more);
  q.before_id = first.messages.back().id;
  auto second = page(q);
  CHECK(keys(second) == std::vector<std::string>{"k3", "k2"});
  CHECK(second.more);
  q.before_id = second.messages.back().id;
  auto last = page(q);
  CHECK(keys(last) == std::vector<std::string>{"k1"});
  CHECK_FALSE(last.more);

  CHECK(s.verb(OperatorVerb::Hold, s.message("P2", "k2").id, "ops", 600).changed == 1);
  MessageSearch held;
  held.state = MessageState::Held;
  CHECK(keys(page(held)) == std::vector<std::string>{"k2"});
  MessageSearch window;
  window.since_ms = 200;
  window.until_ms = 400;
  CHECK(keys(page(window)) == std::vector<std::string>{"k3", "k2"});
  MessageSearch order;
  order.order_id = "P4";
  CHECK(keys(page(order)) == std::vector<std::string>{"k4"});
}

TEST_CASE("find_messages gives the newest messages of a query, oldest first", "[store][support]") {
  STORE_UNDER_TEST(s);
  for (int i = 1; i <= 4; ++i) {
    const auto id = std::to_string(i);
    s.apply(event("e" + id, "1", "s" + id, i, {sms("k" + id, "c" + id)}), i);
  }
  MessageQuery q;
  q.order_id = "1";
  q.limit = 2;
  auto found = s.find(q);
  REQUIRE(found.size() == 2);
  CHECK(found[0].idempotency_key == "k3");
  CHECK(found[1].idempotency_key == "k4");
}

TEST_CASE("an order's timeline has its events, messages, audit and next contact",
          "[store][support]") {
  STORE_UNDER_TEST(s);
  CHECK_FALSE(s.read([](StoreReader& r) { return r.order_timeline("1"); }).has_value());
  s.apply(event("e1", "1", "placed", 0, {sms("k1")}), 100);
  s.apply(event("e2", "1", "shipped", 3, {sms("k2", "email")}), 150);
  CHECK(s.apply(event("e0", "1", "placed", 0), 160).verdict == EventVerdict::Stale);
  auto claimed = s.claim("gw", 1, 200);
  REQUIRE(claimed.size() == 1);
  REQUIRE(claimed[0].message.idempotency_key == "k1");
  s.attempt(retry_later(claimed[0], 5000), 210);
  CHECK(s.verb(OperatorVerb::Hold, claimed[0].message.id, "ops", 300).changed == 1);

  auto t = s.read([](StoreReader& r) { return r.order_timeline("1"); });
  REQUIRE(t.has_value());
  CHECK(t->order_id == "1");
  CHECK(t->status == "shipped");
  REQUIRE(t->events.size() == 3);
  CHECK(t->events[0].event_id == "e1");
  CHECK(t->events[2].verdict == "stale");
  REQUIRE(t->messages.size() == 2);
  CHECK(t->messages[0].idempotency_key == "k1");
  CHECK(t->messages[0].state == MessageState::Held);
  CHECK(t->messages[0].attempt_log.size() == 1);
  REQUIRE(t->audit.size() == 1);
  CHECK(t->audit[0].action == "hold");
  REQUIRE(t->next_contact.has_value());
  CHECK(t->next_contact->first == t->messages[1].id);
  CHECK(t->next_contact->second == 150);
}

TEST_CASE("a huge order's timeline shows its newest events and counts the older ones",
          "[store][support]") {
  STORE_UNDER_TEST(s);
  const int total = kTimelineEvents + 25;
  for (int i = 0; i < total; ++i) {
    s.apply(event("e" + std::to_string(i), "1", "placed", 0), 100 + i);
  }
  auto t = s.read([](StoreReader& r) { return r.order_timeline("1"); });
  REQUIRE(t.has_value());
  REQUIRE(t->events.size() == static_cast<std::size_t>(kTimelineEvents));
  CHECK(t->events_omitted == 25);
  CHECK(t->events.front().event_id == "e25");
  CHECK(t->events.back().event_id == "e" + std::to_string(total - 1));
  // A small order leaves nothing out.
  s.apply(event("x1", "2", "placed", 0), 100);
  CHECK(s.read([](StoreReader& r) { return r.order_timeline("2"); })->events_omitted == 0);
}

TEST_CASE("a huge order's timeline shows its newest audit lines and counts the older ones",
          "[store][support]") {
  STORE_UNDER_TEST(s);
  s.apply(event("a", "1", "placed", 0, {sms("a")}), 100);
  const auto id = s.message("1", "a").id;
  const int total = kTimelineAudit + 10;
  for (int i = 0; i < total; ++i) {
    const auto verb = i % 2 == 0 ? OperatorVerb::Hold : OperatorVerb::Release;
    REQUIRE(s.verb(verb, id, "ops", 1000 + i).changed == 1);
  }
  auto t = s.read([](StoreReader& r) { return r.order_timeline("1"); });
  REQUIRE(t.has_value());
  REQUIRE(t->audit.size() == static_cast<std::size_t>(kTimelineAudit));
  CHECK(t->audit_omitted == 10);
  CHECK(t->audit.front().at_ms == 1010);  // oldest first, the newest kept
  CHECK(t->audit.back().at_ms == 1000 + total - 1);
  s.apply(event("b", "2", "placed", 0, {sms("b")}), 100);
  const auto other = s.message("2", "b").id;
  s.verb(OperatorVerb::Hold, other, "ops", 5000);
  auto small = s.read([](StoreReader& r) { return r.order_timeline("2"); });
  CHECK(small->audit.size() == 1);
  CHECK(small->audit_omitted == 0);
}

// ---- retention and erasure -------------------------------------------------------

TEST_CASE("retention anonymises final messages past the cutoff and never a pending one",
          "[store][retention]") {
  STORE_UNDER_TEST(s);
  auto old_event = event("e1", "1", "shipped", 3, {sms("k1"), sms("k2", "sms2")});
  old_event.payload = R"({"customer":{"phone":"+46701234567","name":"Anna"}})";
  s.apply(old_event, 100);
  s.apply(event("e2", "2", "shipped", 3, {sms("k3")}), 100);
  auto claimed = s.claim("gw", 10, 100);
  REQUIRE(claimed.size() == 3);
  finish(s, claimed[0].message.id, MessageState::Sent, 200);
  finish(s, claimed[1].message.id, MessageState::Failed, 200);
  // Order 2's message is waiting for a retry: pending, and keeps its event.
  s.attempt(retry_later(claimed[2], 999999), 200);

  auto preview = [&](std::int64_t cutoff) {
    return s.read([cutoff](StoreReader& r) { return r.prune_preview(cutoff); });
  };
  auto prune = [&](int limit) {
    return s.tx([limit](StoreTx& t) { return t.prune_batch(1000, false, limit, 5000); });
  };
  CHECK(preview(150).messages == 0);  // not old enough yet
  CHECK(preview(1000).messages == 2);
  CHECK(preview(1000).attempts == 2);
  CHECK(preview(1000).events == 1);
  auto first = prune(1);
  CHECK(first.messages == 1);
  CHECK(first.more);
  auto second = prune(1);
  CHECK(second.messages == 1);
  auto third = prune(1);
  CHECK(third.messages == 0);
  CHECK(third.events == 0);
  CHECK_FALSE(third.more);
  CHECK(preview(1000).messages == 0);

  auto one = s.messages("1");
  REQUIRE(one.size() == 2);
  for (const auto& m : one) {
    CHECK(m.recipient == kErased);
    CHECK(m.text == kErased);
    // States and times stay.
    CHECK((m.state == MessageState::Sent || m.state == MessageState::Failed));
    CHECK(m.created_at_ms == 100);
    REQUIRE(m.attempt_log.size() == 1);
    CHECK(m.attempt_log[0].detail == kErased);
    CHECK(m.attempt_log[0].outcome != "");
    CHECK(m.attempt_log[0].provider_id == "p-" + std::to_string(m.id));
    CHECK(m.actions().empty());
  }
  CHECK(one[1].last_error == kErased);
  auto pending = s.messages("2");
  REQUIRE(pending.size() == 1);
  CHECK(pending[0].state == MessageState::RetryWait);
  CHECK(pending[0].recipient == "+46701234567");
  CHECK(s.events("1")[0].status == "shipped");
  const auto text = visible_text(s);
  CHECK(text.find("Anna") == std::string::npos);
  // An erased message is never sent again.
  CHECK_THAT(s.verb(OperatorVerb::Retry, one[1].id, "cli:anna", 6000).error,
             Catch::Contains("was erased"));
}

TEST_CASE("retention with delete removes final messages, their attempts and old events",
          "[store][retention]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "packed", 2, {sms("k1")}), 100);
  auto claimed = s.claim("gw", 10, 100);
  REQUIRE(claimed.size() == 1);
  finish(s, claimed[0].message.id, MessageState::Failed, 200);
  auto fallback = sms("k1f", "email");
  fallback.state = MessageState::Standby;
  fallback.standby_for = 0;
  s.apply(event("e2", "2", "packed", 2, {sms("k2"), fallback}), 100);
  auto claimed2 = s.claim("gw", 10, 100);
  REQUIRE(claimed2.size() == 1);
  finish(s, claimed2[0].message.id, MessageState::Sent, 200);  // its fallback: not_needed
  CHECK(s.state_of("2", "k1f") == MessageState::NotNeeded);
  auto counts = s.tx([](StoreTx& t) { return t.prune_batch(1000, true, 500, 5000); });
  CHECK(counts.messages == 3);
  CHECK(counts.attempts == 2);
  CHECK(counts.events == 2);
  CHECK_FALSE(counts.more);
  CHECK(s.messages("1").empty());
  CHECK(s.messages("2").empty());
  CHECK(s.events("1").empty());
  CHECK(s.events("2").empty());
}

TEST_CASE("an event deleted by retention stays taken: sent again, it is a duplicate",
          "[store][retention][intake]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "shipped", 3, {sms("k1")}), 100);
  auto claimed = s.claim("gw", 10, 100);
  REQUIRE(claimed.size() == 1);
  finish(s, claimed[0].message.id, MessageState::Sent, 200);
  auto counts = s.tx([](StoreTx& t) { return t.prune_batch(1000, true, 500, 5000); });
  REQUIRE(counts.events == 1);
  REQUIRE(s.events("1").empty());
  REQUIRE(s.messages("1").empty());

  // The shop (or someone replaying its request) sends it again.
  auto again = s.apply(event("e1", "1", "shipped", 3, {sms("k1")}), 6000);
  CHECK(again.verdict == EventVerdict::Duplicate);
  CHECK(again.messages_created == 0);
  CHECK(s.messages("1").empty());
  CHECK(s.claim("gw", 10, 6000).empty());
  // What stays is no event: the log shows nothing of it.
  CHECK(s.events("1").empty());
  // Also once the store is opened again.
  s.reopen();
  CHECK(s.apply(event("e1", "1", "shipped", 3, {sms("k1")}), 7000).verdict ==
        EventVerdict::Duplicate);
  CHECK(s.messages("1").empty());
  // Only that id: the order's next event is news.
  auto next = s.apply(event("e2", "1", "delivered", 5, {sms("k2")}), 8000);
  CHECK(next.verdict == EventVerdict::Accepted);
  CHECK(next.messages_created == 1);
  // And a rejected event (no id) is recorded as ever.
  auto bad = event("", "1", "shipped", 3);
  bad.claimed_event_id = "e1";
  bad.reject_reason = "missing occurred_at";
  CHECK(s.apply(bad, 9000).verdict == EventVerdict::Rejected);
}

TEST_CASE("an event erased by a forget request or anonymised by retention stays taken",
          "[store][retention][intake]") {
  STORE_UNDER_TEST(s);
  auto anna = event("e1", "1", "shipped", 3, {sms("k1")});
  anna.payload = R"({"customer":{"phone":"+46701234567","name":"Anna"}})";
  s.apply(anna, 100);
  s.apply(event("e2", "2", "shipped", 3, {sms("k2")}), 100);
  auto claimed = s.claim("gw", 10, 100);
  REQUIRE(claimed.size() == 2);
  finish(s, claimed[0].message.id, MessageState::Sent, 200);
  finish(s, claimed[1].message.id, MessageState::Sent, 200);
  s.tx([](StoreTx& t) { return t.forget_recipient("+46701234567", {}, "cli:support", 300); });
  // Order 2 is anonymised by retention (its message went to Anna's number
  // too, so the forget request took it first; prune what is left).
  s.tx([](StoreTx& t) { return t.prune_batch(1000, false, 500, 5000); });
  for (const char* id : {"e1", "e2"}) {
    INFO(id);
    const std::string order = id == std::string("e1") ? "1" : "2";
    auto again = s.apply(event(id, order, "shipped", 3, {sms(std::string("again-") + id)}), 6000);
    CHECK(again.verdict == EventVerdict::Duplicate);
    CHECK(again.messages_created == 0);
    CHECK(s.messages(order).size() == 1);
  }
  CHECK(s.claim("gw", 10, 6000).empty());
}

TEST_CASE(
    "forget erases one recipient everywhere, cancels their pending messages and keeps "
    "others' data",
    "[store][retention]") {
  STORE_UNDER_TEST(s);
  auto anna = event("e1", "1", "shipped", 3, {sms("k1")});
  anna.payload = R"({"customer":{"phone":"070-123 45 67","name":"Anna Svensson"}})";
  s.apply(anna, 100);
  auto bo_msg = sms("k2");
  bo_msg.recipient = "+46709999999";
  auto bo = event("e2", "2", "shipped", 3, {bo_msg});
  bo.payload = R"({"customer":{"phone":"+46709999999","name":"Bo Ek"}})";
  s.apply(bo, 100);
  auto claimed = s.claim("gw", 10, 100);
  REQUIRE(claimed.size() == 2);
  finish(s, claimed[0].message.id, MessageState::Sent, 200);
  finish(s, claimed[1].message.id, MessageState::Sent, 200, "+46709999999");
  // A newer message to Anna is still waiting.
  auto later = event("e3", "1", "delivered", 5, {sms("k3")});
  later.payload = R"({"customer":{"phone":"+46701234567","name":"Anna Svensson"}})";
  s.apply(later, 300);

  // What support finds before: her orders, and her events by name or digits.
  CHECK(s.read([](StoreReader& r) { return r.orders_of_recipient("+46701234567"); }) ==
        std::vector<std::string>{"1"});
  auto scan = [&](const std::string& needle, const std::string& digits) {
    return s.read([&](StoreReader& r) {
      std::vector<std::int64_t> ids;
      r.scan_event_payloads(needle, digits,
                            [&](std::int64_t id, const std::string&) { ids.push_back(id); });
      return ids;
    });
  };
  CHECK(scan("anna svensson", "").size() == 2);
  CHECK(scan("nobody", "0701234567").size() == 1);  // "070-123 45 67"
  CHECK(s.read([](StoreReader& r) { return r.events_of_orders({"1", "2"}); }).size() == 3);

  auto r =
      s.tx([](StoreTx& t) { return t.forget_recipient("+46701234567", {}, "cli:support", 400); });
  CHECK(r.messages == 2);
  CHECK(r.cancelled == 1);
  CHECK(r.attempts == 1);
  CHECK(r.events == 2);
  CHECK(r.in_flight.empty());
  const auto text = visible_text(s);
  INFO(text);
  CHECK(text.find("Anna") == std::string::npos);
  CHECK(text.find("+46701234567") == std::string::npos);
  CHECK(text.find("Bo Ek") != std::string::npos);
  CHECK(text.find("+46709999999") != std::string::npos);
  CHECK(scan("anna svensson", "").empty());
  CHECK(scan("nobody", "0701234567").empty());
  CHECK(scan("bo ek", "").size() == 1);
  auto mine = s.messages("1");
  REQUIRE(mine.size() == 2);
  CHECK(mine[1].state == MessageState::Cancelled);
  CHECK(s.claim("gw", 10, 500).empty());
  auto audit = s.audit("store");
  REQUIRE(audit.size() == 1);
  CHECK(audit[0].action == "forget");
  CHECK(audit[0].actor == "cli:support");
  CHECK_THAT(audit[0].detail, Catch::Contains("erased 2 message(s)"));
  CHECK_THAT(s.audit("message " + std::to_string(mine[1].id))[0].detail,
             Catch::Contains("forget request"));
  // A second request finds nothing more.
  CHECK(s.tx([](StoreTx& t) {
           return t.forget_recipient("+46701234567", {}, "cli:support", 500);
         }).messages == 0);
}

TEST_CASE("forget erases the events it is given, and cancels a standby with its primary",
          "[store][retention]") {
  STORE_UNDER_TEST(s);
  auto rejected = EventRecord{};
  rejected.claimed_event_id = "bad";
  rejected.order_id = "9";
  rejected.source = "test";
  rejected.payload = R"({"name":"Anna Svensson"})";
  rejected.reject_reason = "missing occurred_at in {\"name\":\"Anna Svensson\"}";
  s.apply(rejected, 50);
  s.apply(event("e1", "1", "shipped", 3, with_standby("k")), 100);
  std::vector<std::int64_t> ids;
  s.read([&](StoreReader& r) {
    r.scan_event_payloads("anna svensson", "",
                          [&](std::int64_t id, const std::string&) { ids.push_back(id); });
    return 0;
  });
  REQUIRE(ids.size() == 1);
  auto r =
      s.tx([&](StoreTx& t) { return t.forget_recipient("+46701234567", ids, "cli:support", 400); });
  CHECK(r.messages == 1);
  CHECK(r.cancelled == 1);
  CHECK(r.events == 2);
  CHECK(s.state_of("1", "k") == MessageState::Cancelled);
  CHECK(s.state_of("1", "k-email") == MessageState::Cancelled);  // followed its primary
  const auto text = visible_text(s);
  CHECK(text.find("Anna") == std::string::npos);
}

TEST_CASE("forget leaves a message being sent and says so", "[store][retention]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "shipped", 3, {sms("k1")}), 100);
  auto claimed = s.claim("gw", 10, 100);
  REQUIRE(claimed.size() == 1);
  auto r =
      s.tx([](StoreTx& t) { return t.forget_recipient("+46701234567", {}, "cli:support", 400); });
  CHECK(r.messages == 0);
  REQUIRE(r.in_flight.size() == 1);
  CHECK(r.in_flight[0] == claimed[0].message.id);
  CHECK(s.messages("1")[0].recipient == "+46701234567");
  CHECK_THAT(s.audit("store")[0].detail, Catch::Contains("left for a second request"));
}

TEST_CASE("for_each_message streams a time range oldest first with attempts",
          "[store][retention]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "placed", 0, {sms("k1")}), 100);
  s.apply(event("e2", "2", "placed", 0, {sms("k2")}), 200);
  s.apply(event("e3", "3", "placed", 0, {sms("k3")}), 300);
  s.apply(event("e4", "4", "placed", 0, {sms("k4")}), 250);
  auto claimed = s.claim("gw", 10, 400);
  REQUIRE(claimed.size() == 4);
  finish(s, claimed[1].message.id, MessageState::Sent, 400);
  auto streamed = s.read([](StoreReader& r) {
    std::vector<std::pair<std::string, std::size_t>> out;
    r.for_each_message(150, 300, [&](const MessageView& m) {
      out.emplace_back(m.order_id, m.attempt_log.size());
    });
    return out;
  });
  using Seen = std::vector<std::pair<std::string, std::size_t>>;
  CHECK(streamed == Seen{{"2", 1}, {"4", 0}});
}

// ---- support actions (issue 15) -------------------------------------------

namespace {

const FirstGateways kHeads{{"sms", "gw"}, {"email", "mail"}};

ResendResult resend(Subject& s, std::int64_t id, std::int64_t now,
                    const FirstGateways& heads = kHeads) {
  return s.tx([&](StoreTx& t) { return t.resend_message(id, "never arrived", "http:anna", heads, now); });
}

ContactResult correct(Subject& s, const std::string& order, OrderContact contact,
                      std::int64_t now) {
  ContactCorrection c;
  c.order_id = order;
  c.contact = std::move(contact);
  c.reason = "customer called";
  c.actor = "http:anna";
  c.first_gateways = kHeads;
  return s.tx([&](StoreTx& t) { return t.correct_contact(c, now); });
}

// Claims the order's next message on `gateway` and records `state`.
std::int64_t send_next(Subject& s, const std::string& gateway, MessageState state,
                       std::int64_t now) {
  auto claimed = s.claim(gateway, 1, now);
  if (claimed.size() != 1) FAIL("nothing to claim on " << gateway);
  finish(s, claimed[0].message.id, state, now);
  return claimed[0].message.id;
}

std::vector<AuditEntry> order_audit(Subject& s, const std::string& order) {
  auto t = s.read([&](StoreReader& r) { return r.order_timeline(order); });
  if (!t) FAIL("no timeline for order " << order);
  return t->audit;
}

}  // namespace

TEST_CASE("a sent message is resent as a new queued message with a new key, audited on both",
          "[store][support_actions]") {
  STORE_UNDER_TEST(s);
  auto m = sms("k1");
  m.subject = "Skickad";
  m.expires_at_ms = 500;  // the copy is asked for now: it does not expire
  s.apply(event("e1", "1", "shipped", 3, {m}), 1);
  // Its original went out through the channel's second gateway.
  auto claimed = s.reroute("sms", "gw", "gw2", 1, 10, 10);
  REQUIRE(claimed.size() == 1);
  const auto id = claimed[0].message.id;
  s.attempt(attempt_for(claimed[0], "sent", MessageState::Sent), 20);

  auto r = resend(s, id, 1000);
  CHECK(r.found);
  CHECK(r.error.empty());
  REQUIRE(r.copy_id.has_value());
  const auto copy = s.message(*r.copy_id);
  const auto original = s.message(id);
  CHECK(original.state == MessageState::Sent);  // untouched
  CHECK(copy.state == MessageState::Queued);
  CHECK(copy.copy_of == id);
  CHECK(original.copy_of == 0);
  CHECK(copy.order_id == "1");
  CHECK(copy.event_id == "e1");
  CHECK(copy.channel == "sms");
  CHECK(copy.recipient == original.recipient);
  CHECK(copy.text == original.text);
  CHECK(copy.subject == "Skickad");
  CHECK(copy.idempotency_key != original.idempotency_key);
  CHECK(copy.idempotency_key == copy_idempotency_key("k1", copy.id));
  CHECK(copy.gateway == "gw");  // the head of the chain again
  CHECK(copy.attempts == 0);
  CHECK(copy.attempt_log.empty());
  CHECK(copy.created_at_ms == 1000);
  CHECK(copy.fallback_for == 0);
  auto on_original = s.audit("message " + std::to_string(id));
  REQUIRE(on_original.size() == 1);
  CHECK(on_original[0].actor == "http:anna");
  CHECK(on_original[0].action == "resend");
  CHECK(on_original[0].detail ==
        "resent as message " + std::to_string(copy.id) + " by http:anna: never arrived");
  auto on_copy = s.audit("message " + std::to_string(copy.id));
  REQUIRE(on_copy.size() == 1);
  CHECK(on_copy[0].detail ==
        "resend of message " + std::to_string(id) + " by http:anna: never arrived");
  // It is due now and is claimed like any other, past its original's ttl.
  auto again = s.claim("gw", 10, 2000);
  REQUIRE(again.size() == 1);
  CHECK(again[0].message.id == copy.id);
  CHECK(again[0].expires_at_ms == 0);
  // A second resend of the same original is a third message, with its own key.
  auto second = resend(s, id, 3000);
  REQUIRE(second.copy_id.has_value());
  CHECK(s.message(*second.copy_id).idempotency_key != copy.idempotency_key);
  // A channel the config no longer names keeps the gateway last used.
  auto third = resend(s, id, 3100, {});
  REQUIRE(third.copy_id.has_value());
  CHECK(s.message(*third.copy_id).gateway == "gw2");
}

TEST_CASE("only a message a provider accepted is resent; the answer says why not",
          "[store][support_actions]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "shipped", 3, {sms("k1")}), 1);
  s.apply(event("e2", "2", "shipped", 3, {sms("k2")}), 1);
  const auto queued = s.messages("1")[0].id;
  auto r = resend(s, queued, 10);
  CHECK(r.found);
  CHECK_FALSE(r.copy_id.has_value());
  CHECK_THAT(r.error, Catch::Contains("is queued") && Catch::Contains("sent, delivered"));
  const auto failed = send_next(s, "gw", MessageState::Failed, 20);
  auto f = resend(s, failed, 30);
  CHECK_THAT(f.error, Catch::Contains("is failed") && Catch::Contains("retry it instead"));
  auto unknown = resend(s, 999, 40);
  CHECK_FALSE(unknown.found);
  CHECK_FALSE(unknown.copy_id.has_value());
  CHECK(s.messages("1").size() == 1);
  CHECK(s.messages("2").size() == 1);
  CHECK(s.audit("message " + std::to_string(queued)).empty());
}

TEST_CASE("a corrected phone readdresses what waits and copies what failed, audited",
          "[store][support_actions]") {
  STORE_UNDER_TEST(s);
  auto mail = sms("m1", "email");
  mail.kind = ChannelKind::Email;
  mail.recipient = "anna@example.se";
  mail.gateway = "mail";
  // k1 is refused by the provider, k2 dies retrying, k3 waits, k4 is held,
  // k5 is being sent, k6 went out.
  s.apply(event("e1", "1", "placed", 0, {sms("k1"), mail}), 1);
  const auto refused = send_next(s, "gw", MessageState::Failed, 10);
  s.apply(event("e2", "1", "packed", 1, {sms("k2")}), 11);
  auto claimed = s.claim("gw", 1, 20);
  REQUIRE(claimed.size() == 1);
  s.attempt(attempt_for(claimed[0], "retry", MessageState::Dead), 21);
  const auto dead = claimed[0].message.id;
  s.apply(event("e3", "1", "shipped", 3, {sms("k6")}), 22);
  const auto sent = send_next(s, "gw", MessageState::Sent, 23);
  s.apply(event("e4", "1", "out", 4, {sms("k5")}), 24);
  auto sending = s.claim("gw", 1, 25);
  REQUIRE(sending.size() == 1);
  s.apply(event("e5", "1", "near", 5, {never_superseded("k3"), never_superseded("k4")}), 26);
  const auto waiting = s.message("1", "k3").id;
  const auto held = s.message("1", "k4").id;
  REQUIRE(s.verb(OperatorVerb::Hold, held, "ops", 27).changed == 1);
  s.apply(event("x1", "2", "placed", 0, {sms("other")}), 28);  // another order's

  auto r = correct(s, "1", {"+46709999999", ""}, 100);
  CHECK(r.found);
  CHECK(r.updated == std::vector<std::int64_t>{waiting, held});
  REQUIRE(r.resent.size() == 2);
  CHECK(s.message(waiting).recipient == "+46709999999");
  CHECK(s.message(held).recipient == "+46709999999");
  CHECK(s.message(held).state == MessageState::Held);
  CHECK(s.message(sending[0].message.id).recipient == "+46701234567");  // a gateway has it
  CHECK(s.message(sent).recipient == "+46701234567");
  CHECK(s.message(refused).state == MessageState::Failed);
  CHECK(s.message("1", "m1").recipient == "anna@example.se");  // only the phone was corrected
  CHECK(s.message("2", "other").recipient == "+46701234567");
  for (std::size_t i = 0; i < r.resent.size(); ++i) {
    const auto copy = s.message(r.resent[i]);
    CHECK(copy.copy_of == (i == 0 ? refused : dead));
    CHECK(copy.state == MessageState::Queued);
    CHECK(copy.recipient == "+46709999999");
    CHECK(copy.idempotency_key == copy_idempotency_key(i == 0 ? "k1" : "k2", copy.id));
    auto a = s.audit("message " + std::to_string(copy.id));
    REQUIRE(a.size() == 1);
    CHECK(a[0].action == "resend");
  }
  auto on_order = s.audit("order 1");
  REQUIRE(on_order.size() == 1);
  CHECK(on_order[0].action == "contact");
  CHECK(on_order[0].actor == "http:anna");
  CHECK(on_order[0].detail ==
        "phone corrected from +46701234567 to +46709999999 by http:anna: customer called");
  auto on_waiting = s.audit("message " + std::to_string(waiting));
  REQUIRE(on_waiting.size() == 1);
  CHECK(on_waiting[0].detail ==
        "recipient corrected from +46701234567 to +46709999999 by http:anna: customer called");
  // The order's timeline shows the correction and what it did.
  auto t = s.read([](StoreReader& rd) { return rd.order_timeline("1"); });
  REQUIRE(t.has_value());
  REQUIRE(t->corrected_contact.has_value());
  CHECK(t->corrected_contact->phone == "+46709999999");
  CHECK(t->corrected_contact->email.empty());
  CHECK(std::any_of(t->audit.begin(), t->audit.end(),
                    [](const AuditEntry& a) { return a.target == "order 1"; }));

  // A second correction copies nothing twice: the copies wait, and follow.
  auto again = correct(s, "1", {"+46708888888", ""}, 200);
  CHECK(again.resent.empty());
  CHECK(std::find(again.updated.begin(), again.updated.end(), r.resent[0]) != again.updated.end());
  CHECK(s.message(r.resent[0]).recipient == "+46708888888");
  auto later = s.audit("order 1");
  REQUIRE(later.size() == 2);
  CHECK_THAT(later[1].detail, Catch::StartsWith("phone corrected from +46709999999 to +46708888888"));

  CHECK_FALSE(correct(s, "no-such-order", {"+46709999999", ""}, 300).found);
  CHECK(s.audit("order no-such-order").empty());
}

TEST_CASE("a corrected e-mail reaches the e-mails; a failure whose fallback went out is not copied",
          "[store][support_actions]") {
  STORE_UNDER_TEST(s);
  // The SMS fails and its e-mail standby goes out: the customer has the news.
  s.apply(event("e1", "1", "shipped", 3, with_standby("k1")), 1);
  const auto primary = send_next(s, "gw", MessageState::Failed, 10);
  const auto standby = send_next(s, "mail", MessageState::Sent, 20);
  auto phone = correct(s, "1", {"+46709999999", ""}, 30);
  CHECK(phone.resent.empty());
  CHECK(s.message(primary).state == MessageState::Failed);
  // An e-mail refused by its provider is copied to the corrected address.
  auto mail = sms("m2", "email");
  mail.kind = ChannelKind::Email;
  mail.recipient = "anna@exmaple.se";
  mail.gateway = "mail";
  s.apply(event("e2", "1", "delivered", 5, {mail}), 40);
  const auto bounced = send_next(s, "mail", MessageState::Failed, 50);
  auto r = correct(s, "1", {"", "anna@example.se"}, 60);
  REQUIRE(r.resent.size() == 1);
  CHECK(s.message(r.resent[0]).recipient == "anna@example.se");
  CHECK(s.message(r.resent[0]).copy_of == bounced);
  CHECK(s.message(r.resent[0]).gateway == "mail");
  CHECK(s.message(standby).state == MessageState::Sent);  // went out: left as it was
  CHECK(std::find(r.updated.begin(), r.updated.end(), standby) == r.updated.end());
  auto a = s.audit("order 1");
  REQUIRE(a.size() == 2);
  CHECK_THAT(a[1].detail, Catch::StartsWith("e-mail corrected from anna@exmaple.se to anna@example.se"));
}

TEST_CASE("an order's later events address their messages to the corrected contact",
          "[store][support_actions]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "placed", 0, {sms("k1")}), 1);
  REQUIRE(correct(s, "1", {"+46709999999", ""}, 10).found);
  auto mail = sms("m2", "email");
  mail.kind = ChannelKind::Email;
  mail.recipient = "anna@example.se";
  // Refused at intake for its number, its text rendered all the same.
  auto refused = sms("k3");
  refused.recipient = "12";
  refused.state = MessageState::Failed;
  refused.last_error = "invalid phone number: too short";
  refused.recipient_refused = true;
  // Refused for its template: no corrected number makes that sendable.
  auto broken = sms("k4", "sms2");
  broken.state = MessageState::Failed;
  broken.text = "";
  broken.last_error = "template shipped: missing";
  s.apply(event("e2", "1", "shipped", 3, {sms("k2"), mail, refused, broken}), 20);
  CHECK(s.message("1", "k2").recipient == "+46709999999");
  CHECK(s.message("1", "m2").recipient == "anna@example.se");  // no e-mail correction
  CHECK(s.message("1", "k3").recipient == "+46709999999");
  CHECK(s.message("1", "k3").state == MessageState::Queued);
  CHECK(s.message("1", "k3").last_error.empty());
  CHECK(s.message("1", "k4").state == MessageState::Failed);
  // Another order's events are not touched.
  s.apply(event("x1", "2", "shipped", 3, {sms("o1")}), 30);
  CHECK(s.message("2", "o1").recipient == "+46701234567");
  // The correction survives a restart.
  s.reopen();
  s.apply(event("e3", "1", "delivered", 5, {sms("k5")}), 40);
  CHECK(s.message("1", "k5").recipient == "+46709999999");
}

TEST_CASE("a note on an order is kept in the audit and shown in its timeline",
          "[store][support_actions]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "placed", 0, {sms("k1")}), 1);
  auto note = s.tx([](StoreTx& t) {
    return t.add_order_note("1", "Kunden ringde.\nSkickar igen i morgon.", "http:anna", 50);
  });
  REQUIRE(note.has_value());
  CHECK(note->target == "order 1");
  CHECK(note->action == "note");
  CHECK(note->actor == "http:anna");
  CHECK(note->at_ms == 50);
  auto audit = order_audit(s, "1");
  REQUIRE(audit.size() == 1);
  CHECK(audit[0].detail == "Kunden ringde.\nSkickar igen i morgon.");
  CHECK(audit[0].action == "note");
  CHECK_FALSE(s.tx([](StoreTx& t) { return t.add_order_note("2", "x", "http:anna", 60); })
                  .has_value());
  CHECK(s.audit("order 2").empty());
}

TEST_CASE("a forget request forgets a corrected address and the audit lines naming it",
          "[store][support_actions][retention]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "placed", 0, {sms("k1")}), 1);
  send_next(s, "gw", MessageState::Failed, 5);
  auto r = correct(s, "1", {"+46709999999", ""}, 10);
  REQUIRE(r.resent.size() == 1);
  send_next(s, "gw", MessageState::Sent, 20);
  s.tx([](StoreTx& t) { return t.forget_recipient("+46709999999", {}, "cli:dpo", 30); });
  auto t = s.read([](StoreReader& rd) { return rd.order_timeline("1"); });
  REQUIRE(t.has_value());
  CHECK_FALSE(t->corrected_contact.has_value());
  for (const auto& a : t->audit) CHECK(a.detail.find("+46709999999") == std::string::npos);
  // Later events no longer go to the forgotten number.
  s.apply(event("e2", "1", "shipped", 3, {sms("k2")}), 40);
  CHECK(s.message("1", "k2").recipient == "+46701234567");
}

TEST_CASE("retention removes a corrected address once its order has nothing pending",
          "[store][support_actions][retention]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "placed", 0, {sms("k1")}), 1);
  s.apply(event("e2", "2", "placed", 0, {sms("k2")}), 1);
  send_next(s, "gw", MessageState::Sent, 5);  // order 1's; order 2's still waits
  REQUIRE(correct(s, "1", {"+46709999999", ""}, 10).found);
  REQUIRE(correct(s, "2", {"+46709999999", ""}, 10).found);
  auto contact = [&](const std::string& order) {
    return s.read([&](StoreReader& r) { return r.order_timeline(order); })->corrected_contact;
  };
  // Younger than the cutoff: kept.
  s.tx([](StoreTx& t) { return t.prune_batch(5, false, 100, 1000); });
  CHECK(contact("1").has_value());
  s.tx([](StoreTx& t) { return t.prune_batch(500, false, 100, 1000); });
  CHECK_FALSE(contact("1").has_value());
  REQUIRE(contact("2").has_value());  // a message of the order still waits
  CHECK(contact("2")->phone == "+46709999999");
}

// ---- the scheduler (issue 16) ------------------------------------------------

namespace {

// A follow-up of rule "follow_up", due at `due`, rendered only then.
NewMessage follow_up(const std::string& key, std::int64_t due) {
  auto m = never_superseded(key);
  m.rule = "follow_up";
  m.text.clear();
  m.state = MessageState::Scheduled;
  m.render_when_due = true;
  m.due_at_ms = due;
  m.note = "3d after delivered, unless returned";
  m.timezone = "Europe/Stockholm";
  m.country = "SE";
  return m;
}

std::vector<DueScheduled> claim_scheduled(Subject& s, std::int64_t now, const Lease& lease = kLease,
                                          int limit = 100) {
  return s.tx([&](StoreTx& t) { return t.claim_scheduled(lease, limit, now); });
}

int settle(Subject& s, const std::vector<ScheduledOutcome>& outcomes, std::int64_t now,
           const std::string& owner = kLease.owner) {
  return s.tx([&](StoreTx& t) { return t.settle_scheduled(outcomes, owner, now); });
}

ScheduledOutcome queue_with_text(std::int64_t id, const std::string& text) {
  ScheduledOutcome o;
  o.id = id;
  o.next = MessageState::Queued;
  o.locale = "sv";
  o.text = text;
  return o;
}

}  // namespace

TEST_CASE("a scheduled message waits for its time, is claimed once under a lease, and is queued "
          "with the text rendered then",
          "[store][scheduler]") {
  STORE_UNDER_TEST(s);
  auto record = event("e-delivered", "1042", "delivered", 5, {follow_up("fu", 5000)});
  record.payload = R"({"event_id":"e-delivered"})";
  REQUIRE(s.apply(record, 1000).messages_created == 1);
  auto m = s.message("1042", "fu");
  CHECK(m.state == MessageState::Scheduled);
  CHECK(m.next_attempt_at_ms == 5000);
  CHECK(m.text.empty());
  CHECK(m.note == "3d after delivered, unless returned");
  CHECK(m.timezone == "Europe/Stockholm");
  CHECK(s.read([](StoreReader& r) { return r.next_scheduled_at(); }) == std::optional<std::int64_t>(5000));
  // Not a send: the dispatcher never claims it.
  CHECK(s.claim("gw", 10, 10000).empty());

  CHECK(claim_scheduled(s, 4999).empty());
  auto due = claim_scheduled(s, 5000);
  REQUIRE(due.size() == 1);
  CHECK(due[0].rule == "follow_up");
  CHECK_FALSE(due[0].rendered);
  CHECK(due[0].event_payload == R"({"event_id":"e-delivered"})");
  CHECK(due[0].order_status == "delivered");
  CHECK(due[0].country == "SE");
  // Leased: another owner (another tackd) does not take it while the lease lasts...
  CHECK(claim_scheduled(s, 6000, Lease{"other-node", 60000}).empty());

  CHECK(settle(s, {queue_with_text(due[0].id, "Hej! Allt bra med paketet?")}, 6000) == 1);
  m = s.message("1042", "fu");
  CHECK(m.state == MessageState::Queued);
  CHECK(m.text == "Hej! Allt bra med paketet?");
  CHECK(m.note == "3d after delivered, unless returned");  // why it was sent stays
  auto claimed = s.claim("gw", 10, 6000);
  REQUIRE(claimed.size() == 1);
  CHECK(claimed[0].message.text == "Hej! Allt bra med paketet?");
  CHECK(claimed[0].timezone == "Europe/Stockholm");
}

TEST_CASE("a lease on a scheduled message runs out: another owner takes it; the first one's "
          "late settle changes nothing",
          "[store][scheduler]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "delivered", 5, {follow_up("fu", 100)}), 0);
  auto first = claim_scheduled(s, 100, Lease{"node-a", 1000});
  REQUIRE(first.size() == 1);
  CHECK(claim_scheduled(s, 1099, Lease{"node-b", 1000}).empty());
  auto second = claim_scheduled(s, 1101, Lease{"node-b", 1000});
  REQUIRE(second.size() == 1);
  CHECK(settle(s, {queue_with_text(first[0].id, "from a")}, 1200, "node-a") == 0);
  CHECK(s.message("1", "fu").state == MessageState::Scheduled);
  CHECK(settle(s, {queue_with_text(second[0].id, "from b")}, 1200, "node-b") == 1);
  CHECK(s.message("1", "fu").text == "from b");
}

TEST_CASE("a later event cancels the order's scheduled messages of the rules it names, visibly, "
          "and nothing else",
          "[store][scheduler]") {
  STORE_UNDER_TEST(s);
  auto other_rule = follow_up("review", 9000);
  other_rule.rule = "review";
  s.apply(event("e1", "1042", "delivered", 5, {follow_up("fu", 9000), other_rule}), 0);
  s.apply(event("e1b", "7", "delivered", 5, {follow_up("fu-7", 9000)}), 0);
  auto returned = event("e2", "1042", "returned", 8, {sms("ret")}, true);
  returned.cancels_rules = {"follow_up"};
  returned.cancel_note = "cancelled: order returned (event e2)";
  s.apply(returned, 100);
  auto fu = s.message("1042", "fu");
  CHECK(fu.state == MessageState::Cancelled);
  CHECK(fu.note == "cancelled: order returned (event e2)");
  CHECK(s.state_of("1042", "review") == MessageState::Scheduled);  // not its rule
  CHECK(s.state_of("7", "fu-7") == MessageState::Scheduled);       // not its order
  // The scheduled follow-up held back nothing: the return's news went at once.
  CHECK(s.claim("gw", 10, 100).size() == 1);
}

TEST_CASE("a held status update is superseded by a newer one; a scheduled follow-up is not and "
          "blocks no later message",
          "[store][scheduler]") {
  STORE_UNDER_TEST(s);
  auto packed = sms("packed");
  packed.state = MessageState::Scheduled;  // held by quiet hours, rendered
  packed.due_at_ms = 8000;
  packed.note = "held: quiet hours until 08:00 Europe/Stockholm";
  s.apply(event("e1", "1", "packed", 2, {packed, follow_up("fu", 9000)}), 0);
  auto shipped = sms("shipped");
  shipped.state = MessageState::Scheduled;
  shipped.due_at_ms = 8000;
  s.apply(event("e2", "1", "shipped", 3, {shipped}), 10);
  CHECK(s.state_of("1", "packed") == MessageState::Superseded);
  CHECK(s.state_of("1", "fu") == MessageState::Scheduled);
  CHECK(s.state_of("1", "shipped") == MessageState::Scheduled);
}

TEST_CASE("the scheduler's outcomes: held again until quiet hours end, cancelled, skipped, failed",
          "[store][scheduler]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "delivered", 5,
                {follow_up("a", 10), follow_up("b", 10), follow_up("c", 10), follow_up("d", 10)}),
          0);
  auto due = claim_scheduled(s, 10);
  REQUIRE(due.size() == 4);
  std::vector<ScheduledOutcome> outcomes(4);
  for (std::size_t i = 0; i < 4; ++i) outcomes[i].id = due[i].id;
  outcomes[0].next = MessageState::Scheduled;
  outcomes[0].due_at_ms = 50000;
  outcomes[0].text = "rendered at its time";
  outcomes[0].note = "held: quiet hours until 08:00 Europe/Stockholm";
  outcomes[1].next = MessageState::Cancelled;
  outcomes[1].note = "cancelled: order returned";
  outcomes[2].next = MessageState::Skipped;
  outcomes[2].note = "skipped: frequency cap 1 per 24h on sms";
  outcomes[3].next = MessageState::Failed;
  outcomes[3].note = "failed when due: template follow_up: no text for sms";
  outcomes[3].last_error = "template follow_up: no text for sms";
  CHECK(settle(s, outcomes, 20) == 0);
  auto a = s.message(due[0].id);
  CHECK(a.state == MessageState::Scheduled);
  CHECK(a.next_attempt_at_ms == 50000);
  CHECK(a.text == "rendered at its time");
  CHECK(a.note == "held: quiet hours until 08:00 Europe/Stockholm");
  // Held, it is rendered: when the window opens it goes as it is.
  auto again = claim_scheduled(s, 50000);
  REQUIRE(again.size() == 1);
  CHECK(again[0].rendered);
  CHECK(s.message(due[1].id).state == MessageState::Cancelled);
  CHECK(s.message(due[2].id).state == MessageState::Skipped);
  CHECK(s.message(due[2].id).note == "skipped: frequency cap 1 per 24h on sms");
  CHECK(s.message(due[3].id).state == MessageState::Failed);
  CHECK(s.message(due[3].id).last_error == "template follow_up: no text for sms");
}

TEST_CASE("a frequency cap skips a message queued over it, at intake and when a scheduled one "
          "comes due; an urgent one goes",
          "[store][scheduler]") {
  STORE_UNDER_TEST(s);
  const FrequencyCap cap{2, 86400000, "2 per 24h"};
  auto capped = [&](const std::string& key) {
    auto m = sms(key);
    m.cap = cap;
    return m;
  };
  s.apply(event("e1", "1", "placed", 0, {capped("m1")}), 1000);
  s.apply(event("e2", "1", "paid", 1, {capped("m2")}), 2000);
  s.apply(event("e3", "1", "packed", 2, {capped("m3")}), 3000);
  auto m3 = s.message("1", "m3");
  CHECK(m3.state == MessageState::Skipped);
  CHECK(m3.note == "skipped: frequency cap 2 per 24h on sms");
  auto urgent = capped("m4");
  urgent.urgent = true;
  s.apply(event("e4", "1", "shipped", 3, {urgent}), 4000);
  CHECK(s.state_of("1", "m4") == MessageState::Queued);
  // Another recipient has a cap of its own.
  auto other = capped("m5");
  other.recipient = "+46709999999";
  s.apply(event("e5", "2", "placed", 0, {other}), 4000);
  CHECK(s.state_of("2", "m5") == MessageState::Queued);
  // A day later the window has room again: a scheduled one due then goes.
  s.apply(event("e6", "1", "delivered", 5, {follow_up("fu", 90000000)}), 5000);
  auto due = claim_scheduled(s, 90000000);
  REQUIRE(due.size() == 1);
  auto o = queue_with_text(due[0].id, "hej");
  o.cap = cap;
  CHECK(settle(s, {o}, 90000000) == 1);
  // Within the window, it would have been skipped.
  s.apply(event("e7", "1", "returned", 8, {follow_up("fu2", 90000001)}, true), 90000000);
  auto due2 = claim_scheduled(s, 90000001);
  REQUIRE(due2.size() == 1);
  auto o2 = queue_with_text(due2[0].id, "hej");
  o2.cap = FrequencyCap{1, 86400000, "1 per 24h"};
  CHECK(settle(s, {o2}, 90000001) == 0);
  CHECK(s.message(due2[0].id).state == MessageState::Skipped);
}

TEST_CASE("send-now makes a scheduled message due at once; cancel ends it; hold does not apply",
          "[store][scheduler]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "delivered", 5, {follow_up("fu", 999999), follow_up("fu2", 999999)}), 0);
  const auto id = s.message("1", "fu").id;
  CHECK(s.verb(OperatorVerb::Hold, id, "cli:ops", 10).changed == 0);
  auto result = s.verb(OperatorVerb::SendNow, id, "http:anna", 20);
  CHECK(result.changed == 1);
  auto m = s.message(id);
  CHECK(m.state == MessageState::Scheduled);
  CHECK(m.next_attempt_at_ms == 20);
  CHECK(m.note == "sent now by http:anna");
  CHECK(has(m.actions(), OperatorVerb::Cancel));
  auto due = claim_scheduled(s, 21);
  REQUIRE(due.size() == 1);
  CHECK(due[0].id == id);
  CHECK(s.audit("message " + std::to_string(id)).back().action == "send-now");
  const auto id2 = s.message("1", "fu2").id;
  CHECK(s.verb(OperatorVerb::Cancel, id2, "cli:ops", 30).changed == 1);
  CHECK(s.message(id2).state == MessageState::Cancelled);
  CHECK(s.verb(OperatorVerb::SendNow, id2, "cli:ops", 40).changed == 0);
}

TEST_CASE("a scheduled message past its ttl expires instead of going late", "[store][scheduler]") {
  STORE_UNDER_TEST(s);
  auto m = follow_up("fu", 1000);
  m.expires_at_ms = 2000;
  s.apply(event("e1", "1", "delivered", 5, {m, follow_up("fu2", 1000)}), 0);
  auto due = claim_scheduled(s, 5000);  // tackd was down from 900 to 5000
  REQUIRE(due.size() == 1);             // the one without a ttl goes late
  CHECK(s.state_of("1", "fu") == MessageState::Expired);
}

TEST_CASE("a claimed message deferred for quiet hours waits scheduled, attempts as before",
          "[store][scheduler]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "shipped", 3, {sms("m")}), 0);
  auto claimed = s.claim("gw", 10, 0);
  REQUIRE(claimed.size() == 1);
  s.tx([&](StoreTx& t) {
    t.defer_claimed(claimed[0].message.id, 7000, "held: quiet hours until 08:00 Europe/Stockholm", 10);
  });
  auto m = s.message("1", "m");
  CHECK(m.state == MessageState::Scheduled);
  CHECK(m.attempts == 0);
  CHECK(m.next_attempt_at_ms == 7000);
  CHECK(m.note == "held: quiet hours until 08:00 Europe/Stockholm");
  CHECK(claim_scheduled(s, 7000).size() == 1);
}

TEST_CASE("after a terminal status only a later terminal one is news", "[store][intake]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "delivered", 7), 0);
  CHECK(s.apply(event("e2", "1", "returned", 10, {}, true), 1).verdict == EventVerdict::Accepted);
  CHECK(s.apply(event("e3", "1", "refunded", 11, {}, true), 2).verdict == EventVerdict::Accepted);
  CHECK(s.apply(event("e4", "1", "returned", 10, {}, true), 3).verdict == EventVerdict::Stale);
  CHECK(s.apply(event("e5", "1", "shipped", 3), 4).verdict == EventVerdict::Stale);
}

TEST_CASE("why a message was sent stays once it is sent; a quiet-hours hold does not",
          "[store][scheduler]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "delivered", 5, {follow_up("fu", 10)}), 0);
  auto due = claim_scheduled(s, 10);
  REQUIRE(due.size() == 1);
  settle(s, {queue_with_text(due[0].id, "hej")}, 10);
  auto claimed = s.claim("gw", 10, 10);
  REQUIRE(claimed.size() == 1);
  auto retry = retry_later(claimed[0], 5000);
  retry.note = "held: quiet hours until 08:00 Europe/Stockholm";
  s.attempt(retry, 20);
  CHECK(s.message(due[0].id).note == "held: quiet hours until 08:00 Europe/Stockholm");
  claimed = s.claim("gw", 10, 5000);
  REQUIRE(claimed.size() == 1);
  finish(s, claimed[0].message.id, MessageState::Sent, 5000);
  CHECK(s.message(due[0].id).note.empty());  // the hold is over

  s.apply(event("e2", "2", "delivered", 5, {follow_up("fu2", 10)}), 0);
  due = claim_scheduled(s, 6000);
  REQUIRE(due.size() == 1);
  settle(s, {queue_with_text(due[0].id, "hej")}, 6000);
  claimed = s.claim("gw", 10, 6000);
  REQUIRE(claimed.size() == 1);
  finish(s, claimed[0].message.id, MessageState::Sent, 6000);
  CHECK(s.message(due[0].id).note == "3d after delivered, unless returned");
}

// ---- delivery receipts (issue 17) --------------------------------------------

namespace {

Receipt receipt_for(const std::string& provider_id, ReceiptKind kind, std::int64_t at,
                    const std::string& status = "st", const std::string& gateway = "gw") {
  Receipt r;
  r.gateway = gateway;
  r.provider_id = provider_id;
  r.kind = kind;
  r.status = status;
  r.at_ms = at;
  return r;
}

ReceiptResult take_receipt(Subject& s, const Receipt& r, std::int64_t now) {
  return s.tx([&](StoreTx& t) { return t.record_receipt(r, now); });
}

AttemptRecord sent_with_id(const ClaimedMessage& c, const std::string& provider_id,
                           std::int64_t receipt_wait_ms = 0) {
  auto a = attempt_for(c, "sent", MessageState::Sent);
  a.provider_id = provider_id;
  a.receipt_wait_ms = receipt_wait_ms;
  return a;
}

}  // namespace

TEST_CASE("a delivery receipt moves a sent message to delivered, on its timeline, once",
          "[store][receipts]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "A", "shipped", 3, {sms("k")}), 1);
  auto claimed = s.claim("gw", 10, 100);
  REQUIRE(claimed.size() == 1);
  s.attempt(sent_with_id(claimed[0], "SM1"), 200);
  auto progress = take_receipt(s, receipt_for("SM1", ReceiptKind::Progress, 250, "sent"), 260);
  CHECK(progress.verdict == ReceiptVerdict::Applied);
  CHECK_FALSE(progress.moved);
  CHECK(s.state_of("A", "k") == MessageState::Sent);
  auto delivered =
      take_receipt(s, receipt_for("SM1", ReceiptKind::Delivered, 300, "delivered"), 310);
  CHECK(delivered.verdict == ReceiptVerdict::Applied);
  CHECK(delivered.moved);
  CHECK(delivered.message_id == claimed[0].message.id);
  CHECK(delivered.recipient == "+46701234567");
  CHECK(delivered.channel_kind == "sms");
  CHECK(s.state_of("A", "k") == MessageState::Delivered);
  // Providers retry a receipt for hours: the same one again changes nothing.
  auto again = take_receipt(s, receipt_for("SM1", ReceiptKind::Delivered, 300, "delivered"), 400);
  CHECK(again.verdict == ReceiptVerdict::Repeated);
  const auto view = s.message("A", "k");
  REQUIRE(view.receipts.size() == 2);
  CHECK(view.receipts[0].kind == ReceiptKind::Progress);
  CHECK(view.receipts[0].status == "sent");
  CHECK(view.receipts[0].at_ms == 250);
  CHECK(view.receipts[1].kind == ReceiptKind::Delivered);
  CHECK(view.receipts[1].received_at_ms == 310);
  CHECK(view.receipts[1].gateway == "gw");
  // A later "undelivered" never undoes the delivery.
  auto late = take_receipt(s, receipt_for("SM1", ReceiptKind::Undelivered, 500, "failed"), 510);
  CHECK(late.verdict == ReceiptVerdict::Applied);
  CHECK_FALSE(late.moved);
  CHECK(s.state_of("A", "k") == MessageState::Delivered);
}

TEST_CASE("a receipt for an id no send of that gateway got is unknown and kept nowhere",
          "[store][receipts]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "A", "shipped", 3, {sms("k")}), 1);
  auto claimed = s.claim("gw", 10, 100);
  s.attempt(sent_with_id(claimed[0], "SM1"), 200);
  CHECK(take_receipt(s, receipt_for("SM-other", ReceiptKind::Delivered, 300), 300).verdict ==
        ReceiptVerdict::Unknown);
  // The same id through another gateway is another provider's id.
  CHECK(take_receipt(s, receipt_for("SM1", ReceiptKind::Delivered, 300, "st", "other"), 300)
            .verdict == ReceiptVerdict::Unknown);
  CHECK(s.state_of("A", "k") == MessageState::Sent);
  CHECK(s.message("A", "k").receipts.empty());
}

TEST_CASE("a receipt that overtakes its send's answer is parked and applied with it",
          "[store][receipts]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "A", "shipped", 3, {sms("k")}), 1);
  auto claimed = s.claim("gw", 10, 100);
  REQUIRE(claimed.size() == 1);
  auto parked = take_receipt(s, receipt_for("SM9", ReceiptKind::Delivered, 150, "delivered"), 160);
  CHECK(parked.verdict == ReceiptVerdict::Parked);
  CHECK(s.state_of("A", "k") == MessageState::Sending);
  s.attempt(sent_with_id(claimed[0], "SM9"), 200);
  CHECK(s.state_of("A", "k") == MessageState::Delivered);
  const auto view = s.message("A", "k");
  REQUIRE(view.receipts.size() == 1);
  CHECK(view.receipts[0].at_ms == 150);
  // Once applied it is the message's: a repeat is a repeat.
  CHECK(take_receipt(s, receipt_for("SM9", ReceiptKind::Delivered, 150, "delivered"), 300)
            .verdict == ReceiptVerdict::Repeated);
}

TEST_CASE("forget and retention erase what a receipt's reason quotes of the recipient",
          "[store][receipts][retention]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "A", "shipped", 3, {sms("k")}), 1);
  s.apply(event("e2", "B", "shipped", 3, {sms("k")}), 1);
  auto claimed = s.claim("gw", 10, 100);
  REQUIRE(claimed.size() == 2);
  s.attempt(sent_with_id(claimed[0], "SM1"), 200);
  s.attempt(sent_with_id(claimed[1], "SM2"), 200);
  for (const char* id : {"SM1", "SM2"}) {
    auto r = receipt_for(id, ReceiptKind::Undelivered, 250, "failed");
    r.reason = "absent subscriber +46701234567";
    CHECK(take_receipt(s, r, 260).verdict == ReceiptVerdict::Applied);
  }
  // Forgotten: the reason goes with the address; the provider's word stays.
  s.tx([](StoreTx& t) {
    std::vector<std::int64_t> none;
    return t.forget_recipient("+46701234567", none, "cli:support", 300);
  });
  for (const char* order : {"A", "B"}) {
    const auto view = s.message(order, "k");
    REQUIRE(view.receipts.size() == 1);
    CHECK(view.receipts[0].reason == kErased);
    CHECK(view.receipts[0].status == "failed");
  }
}

TEST_CASE("retention anonymises receipt reasons and removes parked receipts nothing claimed",
          "[store][receipts][retention]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "A", "shipped", 3, {sms("k")}), 1);
  auto claimed = s.claim("gw", 10, 100);
  REQUIRE(claimed.size() == 1);
  // A receipt parked while the send awaited its answer, which then named
  // another id: it waits for an id that never comes.
  auto stray = receipt_for("SM-stray", ReceiptKind::Delivered, 150, "delivered");
  stray.reason = "to +46701234567";
  CHECK(take_receipt(s, stray, 160).verdict == ReceiptVerdict::Parked);
  s.attempt(sent_with_id(claimed[0], "SM1"), 200);
  auto r = receipt_for("SM1", ReceiptKind::Undelivered, 250, "failed");
  r.reason = "absent subscriber +46701234567";
  take_receipt(s, r, 260);
  auto counts = s.tx([](StoreTx& t) { return t.prune_batch(1000, false, 500, 5000); });
  CHECK(counts.messages == 1);
  CHECK(counts.receipts == 1);
  CHECK(s.message("A", "k").receipts[0].reason == kErased);
  // The stray one is gone: a send answered with its id later gets nothing.
  s.apply(event("e2", "B", "shipped", 3, {sms("k")}), 6000);
  auto later = s.claim("gw", 10, 6000);
  REQUIRE(later.size() == 1);
  s.attempt(sent_with_id(later[0], "SM-stray"), 6100);
  CHECK(s.state_of("B", "k") == MessageState::Sent);
  CHECK(s.message("B", "k").receipts.empty());
}

TEST_CASE("an undelivered SMS releases its fallback, which waited for the receipt",
          "[store][receipts][fallback]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "A", "shipped", 3, with_standby("a")), 1);
  auto claimed = s.claim("gw", 10, 100);
  REQUIRE(claimed.size() == 1);
  s.attempt(sent_with_id(claimed[0], "SMa", 60000), 200);
  // Sent is not yet news that it arrived: the standby waits.
  CHECK(s.state_of("A", "a-email") == MessageState::Standby);
  CHECK_THAT(s.message("A", "a-email").note, Catch::Contains("delivery receipt"));
  auto r = take_receipt(s, receipt_for("SMa", ReceiptKind::Undelivered, 300, "undelivered"), 310);
  CHECK(r.moved);
  CHECK(s.state_of("A", "a") == MessageState::Undelivered);
  CHECK_THAT(s.message("A", "a").last_error, Catch::Contains("undelivered"));
  CHECK(s.state_of("A", "a-email") == MessageState::Queued);
  CHECK_THAT(s.message("A", "a-email").last_error, Catch::Contains("was not delivered"));
  // It waits for nothing now.
  CHECK(s.message("A", "a-email").note.empty());
  auto mail = s.claim("mail", 10, 400);
  REQUIRE(mail.size() == 1);
  CHECK(mail[0].message.idempotency_key == "a-email");
}

TEST_CASE("a fallback waiting for a receipt is not needed once delivered, or once the wait is over",
          "[store][receipts][fallback]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "A", "shipped", 3, with_standby("a")), 1);
  s.apply(event("e2", "B", "shipped", 3, with_standby("b")), 1);
  auto claimed = s.claim("gw", 10, 100);
  REQUIRE(claimed.size() == 2);
  s.attempt(sent_with_id(claimed[0], "SMa", 60000), 200);
  s.attempt(sent_with_id(claimed[1], "SMb", 60000), 200);
  take_receipt(s, receipt_for("SMa", ReceiptKind::Delivered, 300, "delivered"), 300);
  CHECK(s.state_of("A", "a-email") == MessageState::NotNeeded);
  CHECK(s.message("A", "a-email").note.empty());
  // No receipt for B: before the wait ends the standby waits, after it Sent stands.
  s.tx([](StoreTx& t) { t.expire_overdue(60000); });
  CHECK(s.state_of("B", "b-email") == MessageState::Standby);
  s.tx([](StoreTx& t) { t.expire_overdue(60200); });
  CHECK(s.state_of("B", "b-email") == MessageState::NotNeeded);
  CHECK(s.state_of("B", "b") == MessageState::Sent);
  // A late undelivered now finds no standby to release.
  take_receipt(s, receipt_for("SMb", ReceiptKind::Undelivered, 70000, "undelivered"), 70000);
  CHECK(s.state_of("B", "b") == MessageState::Undelivered);
  CHECK(s.state_of("B", "b-email") == MessageState::NotNeeded);
}

TEST_CASE("a receipt without the provider's time is a repeat when it comes again later",
          "[store][receipts]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "A", "shipped", 3, {sms("k")}), 1);
  auto claimed = s.claim("gw", 10, 100);
  s.attempt(sent_with_id(claimed[0], "SM1"), 200);
  // 46elks' "sent" and "failed" carry no time; its retry comes minutes later.
  auto first = take_receipt(s, receipt_for("SM1", ReceiptKind::Progress, 0, "sent"), 300);
  CHECK(first.verdict == ReceiptVerdict::Applied);
  auto retried = take_receipt(s, receipt_for("SM1", ReceiptKind::Progress, 0, "sent"), 90000);
  CHECK(retried.verdict == ReceiptVerdict::Repeated);
  const auto view = s.message("A", "k");
  REQUIRE(view.receipts.size() == 1);
  // Shown at the time tack got it.
  CHECK(view.receipts[0].at_ms == 300);
  CHECK(view.receipts[0].received_at_ms == 300);
}

// ---- opt-out (issue 17) -----------------------------------------------------

namespace {

NewMessage email_to(const std::string& key, const std::string& address) {
  auto m = sms(key, "email");
  m.kind = ChannelKind::Email;
  m.recipient = address;
  m.gateway = "mail";
  return m;
}

SuppressResult suppress(Subject& s, ChannelKind kind, const std::string& address,
                        const std::string& source, std::int64_t now) {
  return s.tx([&](StoreTx& t) { return t.suppress(kind, address, source, "cli:ops", now); });
}

std::vector<Suppression> suppression_list(Subject& s, SuppressionFilter filter = {}) {
  return s.read([&](StoreReader& r) { return r.suppressions(filter); });
}

}  // namespace

TEST_CASE("an opt-out suppresses the address's pending messages of that kind only",
          "[store][optout]") {
  STORE_UNDER_TEST(s);
  auto ignoring = sms("tx-ignore");
  ignoring.rule = "otp";
  ignoring.ignore_opt_out = true;
  s.apply(event("e1", "1", "shipped", 3,
                {sms("sms1"), email_to("mail1", "anna@example.se"), ignoring}),
          0);
  s.apply(event("e2", "2", "delivered", 5, {follow_up("fu", 100000)}), 0);
  auto other = sms("other");
  other.recipient = "+46709999999";
  s.apply(event("e3", "3", "shipped", 3, {other}), 0);

  auto result = suppress(s, ChannelKind::Sms, "+46701234567", "reply STOP via 46elks", 1000);
  CHECK(result.added);
  CHECK(result.suppressed.size() == 2);
  const auto suppressed = s.message("1", "sms1");
  CHECK(suppressed.state == MessageState::Suppressed);
  CHECK(suppressed.note.find("opted out of sms") != std::string::npos);
  CHECK(suppressed.note.find("reply STOP via 46elks") != std::string::npos);
  CHECK(s.state_of("2", "fu") == MessageState::Suppressed);
  CHECK(s.state_of("1", "mail1") == MessageState::Queued);      // another kind
  CHECK(s.state_of("1", "tx-ignore") == MessageState::Queued);  // its rule ignores opt-out
  CHECK(s.state_of("3", "other") == MessageState::Queued);      // another address
  CHECK(s.claim("gw", 10, 2000).size() == 2);  // tx-ignore and other; never a suppressed one

  auto audit = s.audit("optout sms +46701234567");
  REQUIRE(audit.size() == 1);
  CHECK(audit[0].actor == "cli:ops");
  CHECK(audit[0].detail.find("reply STOP via 46elks") != std::string::npos);
  CHECK(s.audit("message " + std::to_string(suppressed.id)).size() == 1);
}

TEST_CASE("a message being sent is left to its gateway by an opt-out", "[store][optout]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "shipped", 3, {sms("k")}), 0);
  REQUIRE(s.claim("gw", 10, 1).size() == 1);
  CHECK(suppress(s, ChannelKind::Sms, "+46701234567", "link", 2).suppressed.empty());
  CHECK(s.state_of("1", "k") == MessageState::Sending);
}

TEST_CASE("a new message to a suppressed address is created suppressed with since when and why",
          "[store][optout]") {
  STORE_UNDER_TEST(s);
  suppress(s, ChannelKind::Email, "Anna@Example.SE", "link", 1764930131000);  // 2025-12-05 10:22
  auto ignoring = email_to("mail-ignore", "anna@example.se");
  ignoring.ignore_opt_out = true;
  s.apply(event("e1", "1", "shipped", 3,
                {email_to("mail1", "ANNA@example.se"), ignoring, sms("sms1")}),
          2000);
  const auto m = s.message("1", "mail1");
  CHECK(m.state == MessageState::Suppressed);
  CHECK(m.note == "suppressed: opted out of email since 2025-12-05 10:22 UTC (link)");
  CHECK(m.attempt_log.empty());
  CHECK(s.state_of("1", "mail-ignore") == MessageState::Queued);
  CHECK(s.state_of("1", "sms1") == MessageState::Queued);  // SMS unaffected
  CHECK(s.claim("mail", 10, 3000).size() == 1);

  // A message refused at intake stays failed: it says why it never went.
  auto refused = sms("refused");
  refused.kind = ChannelKind::Email;
  refused.recipient = "anna@example.se";
  refused.state = MessageState::Failed;
  refused.last_error = "template did not render";
  s.apply(event("e2", "2", "shipped", 3, {refused}), 4000);
  CHECK(s.state_of("2", "refused") == MessageState::Failed);
}

TEST_CASE("the fallback of a suppressed primary carries the news on its own channel",
          "[store][optout]") {
  STORE_UNDER_TEST(s);
  suppress(s, ChannelKind::Sms, "+46701234567", "link", 1);
  s.apply(event("e1", "1", "shipped", 3, with_standby("k")), 2);
  CHECK(s.state_of("1", "k") == MessageState::Suppressed);
  CHECK(s.state_of("1", "k-email") == MessageState::Queued);

  // A standby waiting when its primary is suppressed is released too.
  auto pair = with_standby("p");
  pair[0].recipient = "+46708888888";
  s.apply(event("e3", "3", "shipped", 3, pair), 4);
  CHECK(s.state_of("3", "p-email") == MessageState::Standby);
  suppress(s, ChannelKind::Sms, "+46708888888", "receipt 21610 via twilio", 5);
  CHECK(s.state_of("3", "p") == MessageState::Suppressed);
  CHECK(s.state_of("3", "p-email") == MessageState::Queued);

  // Opted out on both kinds: the fallback is suppressed too, never sent.
  suppress(s, ChannelKind::Email, "anna@example.se", "link", 6);
  s.apply(event("e4", "4", "shipped", 3, with_standby("q")), 7);
  CHECK(s.state_of("4", "q") == MessageState::Suppressed);
  CHECK(s.state_of("4", "q-email") == MessageState::Suppressed);
}

TEST_CASE("an address is listed once; unsuppress takes it off and later messages go",
          "[store][optout]") {
  STORE_UNDER_TEST(s);
  CHECK(suppress(s, ChannelKind::Sms, "+46701234567", "reply STOP via 46elks", 10).added);
  CHECK_FALSE(suppress(s, ChannelKind::Sms, "+46701234567", "link", 20).added);
  suppress(s, ChannelKind::Email, "anna@example.se", "operator ops", 30);

  auto all = suppression_list(s);
  REQUIRE(all.size() == 2);
  CHECK(all[0].kind == ChannelKind::Email);  // newest first
  CHECK(all[1].source == "reply STOP via 46elks");  // the first reason stays
  CHECK(all[1].created_at_ms == 10);
  SuppressionFilter sms_only;
  sms_only.kind = ChannelKind::Sms;
  CHECK(suppression_list(s, sms_only).size() == 1);
  SuppressionFilter by_address;
  by_address.address = "ANNA@example.se";
  CHECK(suppression_list(s, by_address).size() == 1);

  CHECK(s.tx([](StoreTx& t) { return t.unsuppress(ChannelKind::Sms, "+46701234567", "cli:ops", 40); }));
  CHECK_FALSE(
      s.tx([](StoreTx& t) { return t.unsuppress(ChannelKind::Sms, "+46701234567", "cli:ops", 41); }));
  CHECK(s.audit("optout sms +46701234567").size() == 2);
  s.apply(event("e1", "1", "shipped", 3, {sms("k")}), 50);
  CHECK(s.state_of("1", "k") == MessageState::Queued);
}

TEST_CASE("a marketing e-mail's unsubscribe URL reaches its gateway on every attempt",
          "[store][optout]") {
  STORE_UNDER_TEST(s);
  auto m = email_to("mail1", "anna@example.se");
  m.unsubscribe_url = "https://shop.example/v1/optout/abc";
  s.apply(event("e1", "1", "shipped", 3, {m}), 0);
  auto claimed = s.claim("mail", 10, 1);
  REQUIRE(claimed.size() == 1);
  CHECK(claimed[0].message.unsubscribe_url == "https://shop.example/v1/optout/abc");
  s.attempt(retry_later(claimed[0], 5), 2);
  claimed = s.claim("mail", 10, 5);
  REQUIRE(claimed.size() == 1);
  CHECK(claimed[0].message.unsubscribe_url == "https://shop.example/v1/optout/abc");
}

TEST_CASE("a receipt's opt-out code suppresses the recipient on the message's kind",
          "[store][optout][receipts]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "shipped", 3, {sms("k"), email_to("mail", "anna@example.se")}), 0);
  auto claimed = s.claim("gw", 10, 1);
  REQUIRE(claimed.size() == 1);
  finish(s, claimed[0].message.id, MessageState::Sent, 1);
  s.apply(event("e2", "1", "delivered", 7, {never_superseded("later")}), 2);

  Receipt r;
  r.gateway = "gw";
  r.provider_id = "p-" + std::to_string(claimed[0].message.id);
  r.kind = ReceiptKind::Undelivered;
  r.status = "failed";
  r.reason = "21610";
  r.opted_out = true;
  auto result = s.tx([&](StoreTx& t) { return t.record_receipt(r, 3); });
  CHECK(result.verdict == ReceiptVerdict::Applied);
  auto list = suppression_list(s);
  REQUIRE(list.size() == 1);
  CHECK(list[0].kind == ChannelKind::Sms);
  CHECK(list[0].address == "+46701234567");
  CHECK(list[0].source == "receipt 21610 via gw");
  CHECK(list[0].actor == kReceiptOptOutActor);
  CHECK(s.state_of("1", "later") == MessageState::Suppressed);  // waiting: stopped
  CHECK(s.state_of("1", "mail") == MessageState::Queued);       // e-mail unaffected

  // A receipt without the code suppresses nothing.
  s.apply(event("e3", "2", "shipped", 3, {email_to("m2", "bob@example.se")}), 4);
  auto mail = s.claim("mail", 10, 5);
  REQUIRE(mail.size() == 2);
  for (const auto& c : mail) finish(s, c.message.id, MessageState::Sent, 5);
  Receipt bounce;
  bounce.gateway = "gw";
  bounce.provider_id = "p-" + std::to_string(mail[0].message.id);
  bounce.kind = ReceiptKind::Bounced;
  bounce.status = "bounce";
  s.tx([&](StoreTx& t) { return t.record_receipt(bounce, 6); });
  CHECK(suppression_list(s).size() == 1);
}

TEST_CASE("a send refused because the recipient opted out suppresses them with the same write",
          "[store][optout]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "shipped", 3, {sms("k"), email_to("mail", "anna@example.se")}), 0);
  s.apply(event("e2", "2", "shipped", 3, {sms("k")}), 0);
  auto claimed = s.claim("gw", 1, 1);
  REQUIRE(claimed.size() == 1);
  AttemptRecord a;
  a.message_id = claimed[0].message.id;
  a.gateway = "gw";
  a.started_at_ms = 1;
  a.outcome = "rejected";
  a.detail = "HTTP 400: {\"code\": 21610}";
  a.next_state = MessageState::Suppressed;
  a.last_error = "suppressed: gw says the recipient opted out (21610)";
  a.opt_out_source = "answer 21610 via gw";
  s.attempt(a, 2);
  CHECK(s.state_of("1", "k") == MessageState::Suppressed);
  auto list = suppression_list(s);
  REQUIRE(list.size() == 1);
  CHECK(list[0].kind == ChannelKind::Sms);
  CHECK(list[0].address == "+46701234567");
  CHECK(list[0].source == "answer 21610 via gw");
  CHECK(list[0].actor == kAnswerOptOutActor);
  // The other order's SMS to the number waits no more; the e-mail goes.
  CHECK(s.state_of("2", "k") == MessageState::Suppressed);
  CHECK(s.state_of("1", "mail") == MessageState::Queued);
  // An attempt without an opt-out adds nothing.
  auto mail = s.claim("mail", 10, 3);
  REQUIRE(mail.size() == 1);
  finish(s, mail[0].message.id, MessageState::Failed, 4, "anna@example.se");
  CHECK(suppression_list(s).size() == 1);
}

TEST_CASE("a message to an address that opted out since is not resent; the answer says why",
          "[store][optout][support_actions]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "shipped", 3, {sms("k")}), 0);
  const auto id = send_next(s, "gw", MessageState::Sent, 1);
  suppress(s, ChannelKind::Sms, "+46701234567", "reply STOP via gw", 2);
  auto r = resend(s, id, 3);
  CHECK(r.found);
  CHECK_FALSE(r.copy_id.has_value());
  CHECK_THAT(r.error, Catch::Contains("opted out of sms") &&
                          Catch::Contains("reply STOP via gw") &&
                          Catch::Contains("tackd optout remove"));
  CHECK(s.messages("1").size() == 1);
  // Off the list, it is resent.
  s.tx([&](StoreTx& t) { return t.unsuppress(ChannelKind::Sms, "+46701234567", "http:anna", 4); });
  CHECK(resend(s, id, 5).copy_id.has_value());
}

TEST_CASE("a parked receipt's opt-out code suppresses once the send's answer is recorded",
          "[store][optout][receipts]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "1", "shipped", 3, {sms("k")}), 0);
  auto claimed = s.claim("gw", 10, 1);
  REQUIRE(claimed.size() == 1);
  Receipt r;
  r.gateway = "gw";
  r.provider_id = "p-" + std::to_string(claimed[0].message.id);
  r.kind = ReceiptKind::Undelivered;
  r.status = "failed";
  r.reason = "9";
  r.opted_out = true;
  CHECK(s.tx([&](StoreTx& t) { return t.record_receipt(r, 2); }).verdict == ReceiptVerdict::Parked);
  CHECK(suppression_list(s).empty());
  finish(s, claimed[0].message.id, MessageState::Sent, 3);
  auto list = suppression_list(s);
  REQUIRE(list.size() == 1);
  CHECK(list[0].source == "receipt 9 via gw");
}

TEST_CASE("the receipt timeline shows the steps on the way before the outcome",
          "[store][receipts]") {
  STORE_UNDER_TEST(s);
  s.apply(event("e1", "A", "shipped", 3, {sms("k")}), 1);
  auto claimed = s.claim("gw", 10, 100);
  s.attempt(sent_with_id(claimed[0], "SM1"), 200);
  // The provider's clock says delivered at 1500; its "sent" carried no
  // time and came at 1600 by tackd's.
  take_receipt(s, receipt_for("SM1", ReceiptKind::Delivered, 1500, "delivered"), 1700);
  take_receipt(s, receipt_for("SM1", ReceiptKind::Progress, 0, "sent"), 1600);
  const auto view = s.message("A", "k");
  REQUIRE(view.receipts.size() == 2);
  CHECK(view.receipts[0].status == "sent");
  CHECK(view.receipts[1].status == "delivered");
}
