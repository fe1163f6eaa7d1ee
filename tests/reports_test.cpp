// Tests for daemon/reports.cpp's opt-out part: a provider's inbound SMS
// that is an opt-out keyword puts the sender on the suppression list of a
// real SQLite store; any other reply changes nothing.
#include "reports.hpp"

#include <catch2/catch.hpp>

#include "metrics.hpp"
#include "support/coro.hpp"
#include "support/store.hpp"
#include "support/temp_dir.hpp"

using namespace tack;

namespace {

struct Fixture {
  testing::TempDir dir;
  asio::io_context io;  // outlives the store: it takes the store's answers
  std::unique_ptr<Store> store = testing::open_test_store(dir.file("tack.db"));
  Metrics metrics;
  StoreReports reports{*store, &metrics, [] { return std::int64_t{1764930131000}; }};
  ~Fixture() { store->close(); }

  std::optional<InboundVerdict> reply(const std::string& from, const std::string& text) {
    InboundSms sms;
    sms.gateway = "sms-46elks";
    sms.from = from;
    sms.to = "+46766861004";
    sms.text = text;
    auto verdict = testing::run_task(io, reports.inbound(std::move(sms)));
    REQUIRE(verdict);
    return *verdict;
  }
  std::vector<Suppression> list() {
    return store->query<std::vector<Suppression>>(
        [](StoreReader& r) { return r.suppressions({}); });
  }
  MessageView only_message(const std::string& order) {
    auto found = store->query<std::vector<MessageView>>([&](StoreReader& r) {
      MessageQuery q;
      q.order_id = order;
      return r.find_messages(q);
    });
    REQUIRE(found.size() == 1);
    return found[0];
  }
};

}  // namespace

TEST_CASE("an inbound STOP suppresses the sender's SMS and its waiting messages",
          "[reports][optout]") {
  Fixture f;
  f.store->run<EventResult>([](StoreTx& tx) {
    return tx.apply_event(testing::event("e1", "1", "shipped", 3, {testing::sms("k")}), 0);
  });
  CHECK(f.reply("+46701234567", " Stopp! ") == InboundVerdict::OptedOut);
  auto list = f.list();
  REQUIRE(list.size() == 1);
  CHECK(list[0].kind == ChannelKind::Sms);
  CHECK(list[0].address == "+46701234567");
  CHECK(list[0].source == "reply STOPP via sms-46elks");
  CHECK(f.only_message("1").state == MessageState::Suppressed);
  CHECK(f.metrics.render().find("tack_optouts_total{result=\"suppressed\",via=\"reply\"} 1") !=
        std::string::npos);

  // Again: already on the list, counted so.
  CHECK(f.reply("+46701234567", "STOP") == InboundVerdict::OptedOut);
  CHECK(f.list().size() == 1);
  CHECK(f.metrics.render().find("tack_optouts_total{result=\"already\",via=\"reply\"} 1") !=
        std::string::npos);
}

TEST_CASE("a reply that is not a keyword is noted and suppresses nothing", "[reports][optout]") {
  Fixture f;
  CHECK(f.reply("+46701234567", "Tack, stop by tomorrow?") == InboundVerdict::Noted);
  CHECK(f.reply("+46701234567", std::string(5000, 'S')) == InboundVerdict::Noted);
  CHECK(f.reply("+46701234567", "STOP\xff") == InboundVerdict::Noted);
  CHECK(f.reply("", "STOP") == InboundVerdict::Noted);  // no sender to suppress
  CHECK(f.list().empty());
}

TEST_CASE("the configured keywords replace the defaults", "[reports][optout]") {
  Fixture f;
  f.reports.set_keywords([] { return OptOutKeywords{{"sv", {"AVSLUTA"}}}; });
  CHECK(f.reply("+46701234567", "stop") == InboundVerdict::Noted);
  CHECK(f.reply("+46701234567", "avsluta") == InboundVerdict::OptedOut);
  REQUIRE(f.list().size() == 1);
  CHECK(f.list()[0].source == "reply AVSLUTA via sms-46elks");
}
