// Store::on_state_changes (store/store.hpp): every state a message enters,
// whoever moves it, reaches the listener once its commit is durable, and
// nothing a unit undid. What tack_messages_total and
// tack_messages_created_total count (metrics.hpp).
#include <catch2/catch.hpp>
#include <map>
#include <mutex>
#include <stdexcept>
#include <tuple>

#include "store/store.hpp"
#include "support/store.hpp"
#include "support/temp_dir.hpp"

using namespace tack;
using testing::event;
using testing::kTestLease;
using testing::sms;

namespace {

// What the listener heard, summed by (channel, gateway, state, created).
class Heard {
 public:
  using Key = std::tuple<std::string, std::string, MessageState, bool>;
  Store::StateChangeListener listener() {
    return [this](const std::vector<StateChange>& changes) {
      std::lock_guard lock(mutex_);
      for (const auto& c : changes) counts_[{c.channel, c.gateway, c.state, c.created}] += c.count;
    };
  }
  std::int64_t operator()(const std::string& channel, const std::string& gateway,
                          MessageState state, bool created = false) {
    std::lock_guard lock(mutex_);
    auto it = counts_.find({channel, gateway, state, created});
    return it == counts_.end() ? 0 : it->second;
  }
  std::int64_t total() {
    std::lock_guard lock(mutex_);
    std::int64_t sum = 0;
    for (const auto& [key, count] : counts_) sum += count;
    return sum;
  }

 private:
  std::mutex mutex_;
  std::map<Key, std::int64_t> counts_;
};

AttemptRecord attempt(const ClaimedMessage& c, const std::string& outcome, MessageState next) {
  AttemptRecord a;
  a.message_id = c.message.id;
  a.gateway = c.gateway;
  a.outcome = outcome;
  a.next_state = next;
  a.next_gateway = c.gateway;
  return a;
}

}  // namespace

TEST_CASE("the store tells each state a message enters once it is committed",
          "[store][state_changes]") {
  testing::TempDir dir;
  auto store = testing::open_test_store(dir.file("tack.db"));
  Heard heard;
  store->on_state_changes(heard.listener());

  // Created: one queued, one refused by tack at intake, a standby.
  auto refused = sms("refused");
  refused.state = MessageState::Failed;
  refused.last_error = "not a mobile number";
  auto standby = sms("a-email", "email");
  standby.kind = ChannelKind::Email;
  standby.gateway = "mail";
  standby.state = MessageState::Standby;
  standby.standby_for = 0;
  store->run<bool>([&](StoreTx& t) {
    t.apply_event(event("e1", "A", "shipped", 3, {sms("a"), standby}), 1);
    t.apply_event(event("e2", "B", "shipped", 3, {refused}), 1);
    return true;
  });
  CHECK(heard("sms", "gw", MessageState::Queued, true) == 1);
  CHECK(heard("sms", "gw", MessageState::Failed, true) == 1);
  CHECK(heard("email", "mail", MessageState::Standby, true) == 1);

  // Claimed and sent: the standby is not needed.
  auto claimed = store->run<std::vector<ClaimedMessage>>(
      [](StoreTx& t) { return t.claim_due(kTestLease, "gw", 10, 100); });
  REQUIRE(claimed.size() == 1);
  CHECK(heard("sms", "gw", MessageState::Sending) == 1);
  store->run<bool>([&](StoreTx& t) {
    t.record_attempt(attempt(claimed[0], "sent", MessageState::Sent), 200);
    return true;
  });
  CHECK(heard("sms", "gw", MessageState::Sent) == 1);
  CHECK(heard("email", "mail", MessageState::NotNeeded) == 1);

  // Overtaken by newer news while waiting for a retry: superseded.
  store->run<bool>([&](StoreTx& t) {
    t.apply_event(event("e3", "C", "shipped", 3, {sms("c-old")}), 300);
    return true;
  });
  auto c = store->run<std::vector<ClaimedMessage>>(
      [](StoreTx& t) { return t.claim_due(kTestLease, "gw", 10, 300); });
  REQUIRE(c.size() == 1);
  auto wait = attempt(c[0], "retry", MessageState::RetryWait);
  wait.next_attempt_at_ms = 100000;
  store->run<bool>([&](StoreTx& t) {
    t.record_attempt(wait, 310);
    t.apply_event(event("e4", "C", "delivered", 5, {sms("c-new")}), 320);
    return true;
  });
  CHECK(heard("sms", "gw", MessageState::RetryWait) == 1);
  CHECK(heard("sms", "gw", MessageState::Superseded) == 1);

  // An operator's cancel.
  auto id = store->query<std::int64_t>([](StoreReader& r) {
    MessageQuery q;
    q.order_id = "C";
    for (const auto& m : r.find_messages(q)) {
      if (m.idempotency_key == "c-new") return m.id;
    }
    return std::int64_t{0};
  });
  auto cancelled = store->run<OperatorResult>(
      [id](StoreTx& t) { return t.operator_verb(OperatorVerb::Cancel, id, "ops", 400); });
  CHECK(cancelled.changed == 1);
  CHECK(heard("sms", "gw", MessageState::Cancelled) == 1);
  CHECK(heard("sms", "gw", MessageState::Queued, true) == 3);
  store->close();
}

TEST_CASE("a unit undone or rehearsed tells nothing", "[store][state_changes]") {
  testing::TempDir dir;
  auto store = testing::open_test_store(dir.file("tack.db"));
  Heard heard;
  store->on_state_changes(heard.listener());
  CHECK_THROWS_AS(store->run<bool>([](StoreTx& t) -> bool {
    t.apply_event(event("e1", "A", "shipped", 3, {sms("a")}), 1);
    throw std::runtime_error("boom");
  }),
                  StoreError);
  store->rehearse<bool>([](StoreTx& t) {
    t.apply_event(event("e2", "B", "shipped", 3, {sms("b")}), 1);
    return true;
  });
  CHECK(heard.total() == 0);
  // The next unit that commits is told alone.
  store->run<bool>([](StoreTx& t) {
    t.apply_event(event("e3", "C", "shipped", 3, {sms("c")}), 1);
    return true;
  });
  CHECK(heard.total() == 1);
  CHECK(heard("sms", "gw", MessageState::Queued, true) == 1);
  store->close();
}
