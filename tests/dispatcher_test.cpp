#include <catch2/catch.hpp>

#include <future>
#include <map>

#include "dispatcher.hpp"
#include "support/store.hpp"
#include "support/temp_dir.hpp"

using namespace tack;
using namespace std::chrono_literals;

namespace {
ClaimedMessage claimed(int attempts_before, int gateway_index = 0, std::int64_t created = 0) {
  ClaimedMessage c;
  c.message.id = 1;
  c.message.attempts = attempts_before;
  c.gateway = gateway_index == 0 ? "primary" : "backup";
  c.gateway_index = gateway_index;
  c.round_started_at_ms = created;
  return c;
}
const std::vector<std::string> kGateways = {"primary", "backup"};
}  // namespace

TEST_CASE("a sent outcome makes the message sent", "[dispatcher]") {
  RetryPolicy p;
  auto d = decide_next(claimed(0), Outcome::sent("id-1"), kGateways, p, 1000, 0.5);
  CHECK(d.state == MessageState::Sent);
}

TEST_CASE("a rejection moves to the channel's next gateway, then fails", "[dispatcher]") {
  RetryPolicy p;
  auto d = decide_next(claimed(0, 0), Outcome::rejected("HTTP 400"), kGateways, p, 1000, 0.5);
  CHECK(d.state == MessageState::Queued);
  CHECK(d.gateway == "backup");
  CHECK(d.gateway_index == 1);
  CHECK(d.next_attempt_at_ms == 1000);
  auto last = decide_next(claimed(1, 1), Outcome::rejected("550 5.1.1 unknown user"), kGateways,
                          p, 1000, 0.5);
  CHECK(last.state == MessageState::Failed);
  CHECK(last.last_error == "550 5.1.1 unknown user");
}

TEST_CASE("a rejection because the recipient opted out suppresses, on no other gateway",
          "[dispatcher]") {
  RetryPolicy p;
  Outcome opted = Outcome::rejected("HTTP 400: Attempt to send to unsubscribed recipient");
  opted.opted_out = "21610";
  auto d = decide_next(claimed(0, 0), opted, kGateways, p, 1000, 0.5);
  CHECK(d.state == MessageState::Suppressed);
  CHECK(d.gateway == "primary");  // the backup never gets it
  CHECK(d.last_error.find("opted out") != std::string::npos);
  CHECK(d.last_error.find("21610") != std::string::npos);
}

TEST_CASE("transient failures back off exponentially with equal jitter, capped", "[dispatcher]") {
  RetryPolicy p;
  p.initial_backoff = 1000ms;
  p.max_backoff = 60000ms;
  p.max_attempts = 100;
  p.max_age = std::chrono::hours(1000);
  // attempts_before counts earlier attempts; this attempt is attempts_before + 1.
  // The delay is between half and all of the step: 1 s, 2 s, 4 s … 60 s.
  CHECK(decide_next(claimed(0), Outcome::retry("503"), kGateways, p, 0, 0.999).next_attempt_at_ms ==
        999);
  CHECK(decide_next(claimed(0), Outcome::retry("503"), kGateways, p, 0, 0.0).next_attempt_at_ms ==
        500);
  CHECK(decide_next(claimed(1), Outcome::retry("503"), kGateways, p, 0, 0.5).next_attempt_at_ms ==
        1500);
  CHECK(decide_next(claimed(3), Outcome::retry("503"), kGateways, p, 0, 0.5).next_attempt_at_ms ==
        6000);
  CHECK(decide_next(claimed(20), Outcome::retry("503"), kGateways, p, 0, 0.5).next_attempt_at_ms ==
        45000);
  CHECK(decide_next(claimed(20), Outcome::retry("503"), kGateways, p, 0, 0.0).next_attempt_at_ms ==
        30000);
  auto d = decide_next(claimed(2), Outcome::unknown("timeout after send"), kGateways, p, 0, 0.5);
  CHECK(d.state == MessageState::RetryWait);
  CHECK(d.gateway == "primary");
}

TEST_CASE("the default schedule keeps trying through a whole day's outage", "[dispatcher]") {
  // The README's promise: tack retries until it gets through, within
  // retry.max_age (24 h). An outage of hours must not kill a message in
  // minutes, whatever the jitter draws.
  const RetryPolicy p;
  CHECK(p.max_age == std::chrono::hours(24));
  for (double random01 : {0.0, 0.5, 0.999}) {
    INFO("random01 " << random01);
    std::int64_t now = 0;
    int attempts = 0;
    Decision d;
    std::vector<std::int64_t> times;
    for (;;) {
      d = decide_next(claimed(attempts), Outcome::retry("HTTP 503"), kGateways, p, now, random01);
      ++attempts;
      if (d.state != MessageState::RetryWait) break;
      REQUIRE(d.next_attempt_at_ms > now);
      now = d.next_attempt_at_ms;
      times.push_back(now);
      REQUIRE(attempts < 1000);
    }
    CHECK(d.state == MessageState::Dead);
    CHECK_THAT(d.last_error, Catch::Contains("max_age"));
    // The last attempt is made at the end of the day, not minutes in.
    CHECK(now >= std::chrono::milliseconds(24h).count());
    // Neither a hammering nor a handful: between one attempt an hour and
    // a few a minute at the start.
    CHECK(attempts >= 24);
    CHECK(attempts <= 80);
    // The first retry is quick (a blip), the pauses reach an hour.
    CHECK(times.front() <= 10000);
    std::int64_t longest = 0;
    for (std::size_t i = 1; i < times.size(); ++i) longest = std::max(longest, times[i] - times[i - 1]);
    CHECK(longest >= std::chrono::milliseconds(30min).count());
    CHECK(longest <= std::chrono::milliseconds(1h).count());
  }
}

TEST_CASE("the last retry within max_age is made at max_age, not skipped", "[dispatcher]") {
  RetryPolicy p;
  p.initial_backoff = 1000ms;
  p.max_backoff = 10000ms;
  p.max_age = 60000ms;
  // 55 s in, a 10 s pause would pass max_age: the attempt comes at 60 s.
  auto d = decide_next(claimed(10), Outcome::retry("503"), kGateways, p, 55000, 0.999);
  CHECK(d.state == MessageState::RetryWait);
  CHECK(d.next_attempt_at_ms == 60000);
  auto last = decide_next(claimed(11), Outcome::retry("503"), kGateways, p, 60000, 0.999);
  CHECK(last.state == MessageState::Dead);
}

TEST_CASE("Retry-After is honoured and clamped to max_backoff", "[dispatcher]") {
  RetryPolicy p;
  p.max_backoff = 60000ms;
  auto d = decide_next(claimed(0), Outcome::retry("429", 7000ms), kGateways, p, 100, 0.0);
  CHECK(d.next_attempt_at_ms == 7100);
  auto clamped = decide_next(claimed(0), Outcome::retry("429", 3600000ms), kGateways, p, 0, 0.0);
  CHECK(clamped.next_attempt_at_ms == 60000);
}

TEST_CASE("a message gives up into dead after max_attempts or max_age", "[dispatcher]") {
  RetryPolicy p;
  p.max_attempts = 3;
  p.max_age = 10000ms;
  auto d = decide_next(claimed(2), Outcome::retry("503"), kGateways, p, 0, 0.5);
  CHECK(d.state == MessageState::Dead);
  CHECK_THAT(d.last_error, Catch::Contains("gave up after 3 attempts"));
  auto old = decide_next(claimed(0, 0, 0), Outcome::retry("503"), kGateways, p, 20000, 0.5);
  CHECK(old.state == MessageState::Dead);
  CHECK_THAT(old.last_error, Catch::Contains("max_age"));
}

TEST_CASE("a retry that would land after the message's ttl expires it instead", "[dispatcher]") {
  RetryPolicy p;
  p.initial_backoff = 1000ms;
  auto c = claimed(0);
  c.expires_at_ms = 500;
  auto d = decide_next(c, Outcome::retry("503"), kGateways, p, 0, 0.9);
  CHECK(d.state == MessageState::Expired);
  CHECK_THAT(d.last_error, Catch::Contains("503"));
  c.expires_at_ms = 5000;
  CHECK(decide_next(c, Outcome::retry("503"), kGateways, p, 0, 0.9).state == MessageState::RetryWait);
}

TEST_CASE("attempts answered together are recorded together, and one that fails holds back no "
          "other",
          "[dispatcher]") {
  testing::TempDir dir;
  // The io_context outlives the store, whose threads post their answers to
  // it (TSan saw a post race the io_context's destruction).
  asio::io_context io;
  auto opened = testing::open_test_store(dir.file("tack.db"));
  Store& store = *opened;
  // Two real messages, claimed (sending), and one id the store has never seen.
  std::vector<std::int64_t> ids;
  {
    EventRecord record;
    record.event_id = "e1";
    record.order_id = "o1";
    record.status = "shipped";
    record.source = "test";
    record.payload = "{}";
    for (const char* key : {"k1", "k2"}) {
      NewMessage m;
      m.rule = "r";
      m.channel = std::string("sms-") + key;  // two channels: both claimable at once
      m.template_name = "t";
      m.locale = "sv-SE";
      m.recipient = "+46701234567";
      m.text = "Hej";
      m.idempotency_key = key;
      m.gateway = "g";
      record.messages.push_back(m);
    }
    std::promise<std::string> committed;
    store.submit(
        [&](StoreTx& tx) {
          tx.apply_event(record, 1000);
          for (const auto& c : tx.claim_due(testing::kTestLease, "g", 10, 1000)) {
            ids.push_back(c.message.id);
          }
        },
        [&](const std::string& e) { committed.set_value(e); });
    REQUIRE(committed.get_future().get() == "");
    REQUIRE(ids.size() == 2);
  }
  ids.push_back(999999);

  AttemptRecorder recorder(io, store);
  auto guard = asio::make_work_guard(io);
  std::map<std::int64_t, std::string> errors;
  for (auto id : ids) {
    AttemptRecord attempt;
    attempt.message_id = id;
    attempt.gateway = "g";
    attempt.started_at_ms = 1000;
    attempt.outcome = "sent";
    attempt.next_state = MessageState::Sent;
    attempt.next_gateway = "g";
    asio::co_spawn(
        io,
        [&, id, attempt]() -> asio::awaitable<void> {
          errors[id] = co_await recorder.record(attempt, 1001);
          if (errors.size() == 3) guard.reset();
        },
        asio::detached);
  }
  io.run_for(std::chrono::seconds(10));
  REQUIRE(errors.size() == 3);
  CHECK(errors[ids[0]].empty());
  CHECK(errors[ids[1]].empty());
  CHECK_THAT(errors[999999], Catch::Contains("FOREIGN KEY"));
  MessageQuery q;
  q.order_id = "o1";
  for (const auto& m : store.query<std::vector<MessageView>>(
           [&](StoreReader& r) { return r.find_messages(q); })) {
    CHECK(m.state == MessageState::Sent);
    CHECK(m.attempt_log.size() == 1);
  }
}

// ---- the log line of an attempt (issue 15, item 9) -----------------------

namespace {
OutboundMessage logged_message(ChannelKind kind) {
  OutboundMessage m;
  m.id = 12;
  m.order_id = "1042";
  m.channel = kind == ChannelKind::Email ? "email" : "sms";
  m.kind = kind;
  return m;
}
Decision next_state(MessageState state, std::string gateway = "sms",
                    std::int64_t next_attempt_at_ms = 0) {
  Decision d;
  d.state = state;
  d.gateway = std::move(gateway);
  d.next_attempt_at_ms = next_attempt_at_ms;
  return d;
}
}  // namespace

TEST_CASE("an attempt's log line is a sentence at the level it deserves", "[dispatcher]") {
  const auto sms = logged_message(ChannelKind::Sms);
  auto line = attempt_log_line(sms, "+46*****4567", "sms", Outcome::sent("msg-1"), "",
                               next_state(MessageState::Sent), 1000);
  CHECK(line.level == log::Level::Info);
  CHECK(line.text == "message 12 (sms to +46*****4567, order 1042, via sms): sent; the "
                     "provider's id is msg-1");

  line = attempt_log_line(sms, "+46*****4567", "sms", Outcome::rejected("HTTP 400"),
                          "HTTP 400: invalid destination", next_state(MessageState::Failed), 1000);
  CHECK(line.level == log::Level::Warning);
  CHECK(line.text == "message 12 (sms to +46*****4567, order 1042, via sms): the provider "
                     "refused it: HTTP 400: invalid destination; failed for good");

  const auto mail = logged_message(ChannelKind::Email);
  // An e-mail's id is the Message-ID tack made, shaped like an address.
  line = attempt_log_line(mail, "a***@example.se", "mail",
                          Outcome::sent("<0a1b.tack@exempelbutiken.se>"), "250 OK",
                          next_state(MessageState::Sent, "mail"), 1000);
  CHECK(line.level == log::Level::Info);
  CHECK(line.text == "message 12 (email to a***@example.se, order 1042, via mail): sent");
  line = attempt_log_line(mail, "a***@example.se", "mail", Outcome::retry("451 greylisted"),
                          "451 greylisted", next_state(MessageState::RetryWait, "mail", 31'400),
                          1000);
  CHECK(line.level == log::Level::Warning);
  CHECK(line.text == "message 12 (email to a***@example.se, order 1042, via mail): the mail "
                     "server could not take it now: 451 greylisted; next attempt in 30 s");

  line = attempt_log_line(sms, "+46*****4567", "sms", Outcome::rejected("HTTP 400"), "HTTP 400",
                          next_state(MessageState::Queued, "sms-backup", 1000), 1000);
  CHECK(line.text == "message 12 (sms to +46*****4567, order 1042, via sms): the provider "
                     "refused it: HTTP 400; trying gateway sms-backup next");

  line = attempt_log_line(sms, "+46*****4567", "sms", Outcome::unknown("timeout"), "timeout",
                          next_state(MessageState::Dead), 1000);
  CHECK(line.level == log::Level::Warning);
  CHECK(line.text == "message 12 (sms to +46*****4567, order 1042, via sms): no clear answer "
                     "from the provider (it may have gone out): timeout; dead for good");

  line = attempt_log_line(sms, "+46*****4567", "sms",
                          Outcome::retry("HTTP 401").with(Outcome::Health::Refused), "HTTP 401",
                          next_state(MessageState::Queued), 1000);
  CHECK(line.level == log::Level::Warning);
  CHECK(line.text == "message 12 (sms to +46*****4567, order 1042, via sms): the provider "
                     "refused tack's credentials: HTTP 401; it waits while gateway sms is held");
  // No state machine arrows in any of them.
  CHECK(line.text.find("->") == std::string::npos);
}
