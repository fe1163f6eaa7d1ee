#include "retention.hpp"

#include <catch2/catch.hpp>
#include <chrono>

#include "support/store.hpp"
#include "support/temp_dir.hpp"

using namespace tack;

namespace {

// Order `order`'s one SMS to `to`, sent at `at`.
void sent_message(StoreTx& tx, const std::string& order, const std::string& to, std::int64_t at,
                  const std::string& payload = "{}") {
  EventRecord r;
  r.event_id = "e-" + order;
  r.order_id = order;
  r.status = "shipped";
  r.rank = 3;
  r.source = "test";
  r.payload = payload;
  NewMessage m;
  m.rule = "r";
  m.channel = "sms";
  m.template_name = "shipped";
  m.locale = "sv";
  m.recipient = to;
  m.text = "Hej";
  m.idempotency_key = "k-" + order;
  m.gateway = "gw";
  r.messages.push_back(m);
  tx.apply_event(r, at);
  for (const auto& c : tx.claim_due(testing::kTestLease, "gw", 100, at)) {
    AttemptRecord a;
    a.message_id = c.message.id;
    a.gateway = "gw";
    a.outcome = "sent";
    a.detail = "ok";
    a.next_state = MessageState::Sent;
    a.next_gateway = "gw";
    tx.record_attempt(a, at);
  }
}

}  // namespace

TEST_CASE("a forget request names a person as intake stores them", "[retention]") {
  std::string error;
  CHECK(forget_recipient_key("070-123 45 67", "SE", error) ==
        std::optional<std::string>("+46701234567"));
  CHECK(forget_recipient_key("Anna@Example.se", "SE", error) ==
        std::optional<std::string>("Anna@Example.se"));
  CHECK_FALSE(forget_recipient_key("12", "SE", error));
  CHECK_THAT(error, Catch::Contains("not a phone number"));
  CHECK_FALSE(forget_recipient_key("a@b@c", "SE", error));
  CHECK_FALSE(forget_recipient_key("@example.se", "SE", error));
  CHECK_FALSE(forget_recipient_key("anna @example.se", "SE", error));
  CHECK_THAT(error, Catch::Contains("not an e-mail address"));
}

TEST_CASE("a payload names a person by customer phone in any notation or e-mail in any case",
          "[retention]") {
  const std::string payload =
      R"({"customer":{"phone":"070-123 45 67","email":"Anna@Example.se","name":"Anna"}})";
  CHECK(payload_names(payload, "+46701234567", "SE"));
  CHECK(payload_names(payload, "anna@example.se", "SE"));
  CHECK_FALSE(payload_names(payload, "+46709999999", "SE"));
  CHECK_FALSE(payload_names(payload, "bo@example.se", "SE"));
  CHECK(payload_names(R"({"data":{"note":"call +46709999999"}})", "+46709999999", "SE"));
  CHECK_FALSE(payload_names("not json 7012345", "+46701234567", "SE"));
}

TEST_CASE("events_naming finds a person's events, also ones that made no message to them",
          "[retention]") {
  testing::TempDir dir;
  auto store = testing::open_test_store(dir.file("tack.db"));
  EventRecord bad;
  // A rejected event with Anna's number as the shop wrote it.
  bad.claimed_event_id = "x";
  bad.source = "test";
  bad.payload = R"({"customer":{"phone":"070-123 45 67"}})";
  bad.reject_reason = "missing order_id";
  store->run<bool>([&](StoreTx& tx) {
    sent_message(tx, "1", "+46701234567", 100,
                 R"({"customer":{"phone":"+46701234567","name":"Anna"}})");
    sent_message(tx, "2", "+46709999999", 100,
                 R"({"customer":{"phone":"+46709999999","name":"Bo"}})");
    tx.apply_event(bad, 100);
    return true;
  });
  auto naming = [&](const std::string& who) {
    return store->query<std::vector<std::int64_t>>(
        [&](StoreReader& r) { return events_naming(r, who, "SE"); });
  };
  auto ids = naming("+46701234567");
  CHECK(ids.size() == 2);
  auto bo = naming("+46709999999");
  CHECK(bo.size() == 1);
}

TEST_CASE("tackd's retention pass works in small batches through the writer and counts them",
          "[retention]") {
  testing::TempDir dir;
  const auto day = std::int64_t{24} * 3600 * 1000;
  {
    testing::open_test_store(dir.file("tack.db"))->run<bool>([&](StoreTx& tx) {
      for (int i = 0; i < 7; ++i) sent_message(tx, std::to_string(i), "+46701234567", 1000);
      sent_message(tx, "new", "+46701234567", 5 * day);
      return true;
    });
  }
  asio::io_context io;
  auto opened = testing::open_test_store(dir.file("tack.db"));
  Store& store = *opened;
  Metrics metrics;
  RetentionPolicy policy;
  policy.keep = std::chrono::hours(24);
  policy.batch = 2;
  policy.interval = std::chrono::hours(1);
  Retention retention(io, store, policy, [] { return 5 * day + 1000; });
  retention.set_metrics(&metrics);
  retention.start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (retention.passes() < 1 && std::chrono::steady_clock::now() < deadline) {
    io.run_one_for(std::chrono::milliseconds(100));
  }
  retention.stop();
  io.run_for(std::chrono::milliseconds(100));
  REQUIRE(retention.passes() == 1);
  CHECK(retention.total().messages == 7);
  CHECK(retention.total().events == 7);
  CHECK(retention.total().attempts == 7);
  auto find = [&store](const MessageQuery& q) {
    return store.query<std::vector<MessageView>>(
        [&](StoreReader& r) { return r.find_messages(q); });
  };
  MessageQuery q;
  q.order_id = "new";
  CHECK(find(q)[0].recipient == "+46701234567");
  q.order_id = "3";
  CHECK(find(q)[0].recipient == kErased);
  const auto text = metrics.render();
  CHECK_THAT(text, Catch::Contains(
                       "tack_retention_pruned_total{action=\"anonymise\",table=\"messages\"} 7"));
}

TEST_CASE("retention off leaves everything", "[retention]") {
  testing::TempDir dir;
  {
    testing::open_test_store(dir.file("tack.db"))->run<bool>([&](StoreTx& tx) {
      sent_message(tx, "1", "+46701234567", 1000);
      return true;
    });
  }
  asio::io_context io;
  auto opened = testing::open_test_store(dir.file("tack.db"));
  Store& store = *opened;
  RetentionPolicy policy;
  policy.action = RetentionPolicy::Action::Off;
  policy.interval = std::chrono::milliseconds(10);
  Retention retention(io, store, policy, [] { return std::int64_t{1} << 50; });
  retention.start();
  io.run_for(std::chrono::milliseconds(100));
  retention.stop();
  io.run_for(std::chrono::milliseconds(50));
  CHECK(retention.passes() == 0);
  auto find = [&store](const MessageQuery& q) {
    return store.query<std::vector<MessageView>>(
        [&](StoreReader& r) { return r.find_messages(q); });
  };
  MessageQuery q;
  q.order_id = "1";
  CHECK(find(q)[0].recipient == "+46701234567");
}
