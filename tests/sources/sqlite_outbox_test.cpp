#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "intake.hpp"
#include "sources/sqlite_outbox.hpp"
#include "support/store.hpp"
#include "support/temp_dir.hpp"

using namespace tack;
using namespace std::chrono_literals;

namespace {

std::string event_json(const std::string& id, const std::string& order = "1") {
  return R"({"event_id":")" + id + R"(","order_id":")" + order +
         R"(","status":"placed","occurred_at":"2026-11-22T10:15:00Z"})";
}

// Polls until pred holds or two seconds pass; the outbox polls every 20 ms.
template <class Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 200; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

}  // namespace

TEST_CASE("outbox rows reach the store and are marked consumed after commit", "[outbox]") {
  testing::TempDir dir;
  OutboxSettings settings;
  settings.path = dir.file("outbox.db");
  settings.poll_interval = 20ms;
  init_outbox(settings);
  append_to_outbox(settings, {event_json("e1"), event_json("e2", "2"), "garbage"});
  CHECK(pending_in_outbox(settings) == 3);

  auto opened = testing::open_test_store(dir.file("tack.db"));
  Store& store = *opened;
  auto snapshot = std::make_shared<Snapshot>();
  Intake intake(store, snapshot, [] { return std::int64_t{1000}; });
  SqliteOutbox outbox("outbox", settings, intake);
  outbox.start();
  CHECK(eventually([&] { return pending_in_outbox(settings) == 0; }));
  outbox.stop();

  auto events = [&store](const std::string& order) {
    return store.query<std::vector<EventView>>([&](StoreReader& r) { return r.find_events(order); });
  };
  CHECK(events("1").size() == 1);
  CHECK(events("2").size() == 1);
  auto rejected =
      store.query<std::vector<EventView>>([](StoreReader& r) { return r.rejected_events(10); });
  REQUIRE(rejected.size() == 1);
  CHECK_THAT(rejected[0].reason, Catch::Contains("not JSON"));
}

TEST_CASE("outbox rows stay pending while the store cannot commit", "[outbox]") {
  testing::TempDir dir;
  OutboxSettings settings;
  settings.path = dir.file("outbox.db");
  settings.poll_interval = 20ms;
  init_outbox(settings);
  append_to_outbox(settings, {event_json("e1")});

  auto opened = testing::open_test_store(dir.file("tack.db"));
  Store& store = *opened;
  store.close();  // every submit now fails: nothing may be acknowledged
  auto snapshot = std::make_shared<Snapshot>();
  Intake intake(store, snapshot, [] { return std::int64_t{1000}; });
  SqliteOutbox outbox("outbox", settings, intake);
  outbox.start();
  std::this_thread::sleep_for(200ms);
  outbox.stop();
  CHECK(pending_in_outbox(settings) == 1);
}

TEST_CASE("a table name that is not a plain identifier is refused", "[outbox]") {
  testing::TempDir dir;
  OutboxSettings settings;
  settings.path = dir.file("outbox.db");
  settings.table = "outbox; DROP TABLE x";
  CHECK_THROWS(init_outbox(settings));
}
