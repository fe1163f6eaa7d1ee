#include "delivery_text.hpp"

#include <date/tz.h>

#include <catch2/catch.hpp>

using namespace tack;

namespace {

// 2026-11-22T10:15:30Z: 11:15:30 in Stockholm (CET).
constexpr std::int64_t kNovember = 1795342530000;
// 2026-07-01T10:00:00Z: 12:00:00 in Stockholm (CEST).
constexpr std::int64_t kJuly = 1782900000000;

MessageView message(std::int64_t id, const std::string& kind, MessageState state) {
  MessageView m;
  m.id = id;
  m.order_id = "1001";
  m.rule = "placed";
  m.channel = kind;
  m.kind = kind;
  m.template_name = "placed";
  m.locale = "sv-SE";
  m.recipient = kind == "sms" ? "+46701234567" : "anna@example.se";
  m.text = "Hej Anna!";
  m.state = state;
  m.created_at_ms = kNovember;
  return m;
}

AttemptView attempt(const std::string& outcome, const std::string& provider_id = "") {
  AttemptView a;
  a.number = 1;
  a.gateway = "sms";
  a.started_at_ms = kNovember;
  a.duration_ms = 42;
  a.outcome = outcome;
  a.provider_id = provider_id;
  return a;
}

DeliveryTextOptions stockholm() {
  DeliveryTextOptions options;
  options.zone = date::locate_zone("Europe/Stockholm");
  return options;
}

}  // namespace

TEST_CASE("times are the shop's wall clock with the zone's abbreviation", "[delivery_text]") {
  const auto* zone = date::locate_zone("Europe/Stockholm");
  CHECK(local_time(kNovember, zone) == "2026-11-22 11:15:30 CET");
  CHECK(local_time(kJuly, zone) == "2026-07-01 12:00:00 CEST");
  CHECK(local_time(kNovember, date::locate_zone("Europe/Warsaw")) == "2026-11-22 11:15:30 CET");
  CHECK(local_time(kNovember, nullptr) == "2026-11-22 10:15:30 UTC");
  CHECK(local_time(0, zone) == "-");
}

TEST_CASE("the summary counts messages by kind and state, and what waits", "[delivery_text]") {
  auto sms = message(1, "sms", MessageState::Sent);
  auto mail = message(2, "email", MessageState::Failed);
  CHECK(delivery_summary("order 1001", {mail, sms}, stockholm()) ==
        "order 1001: 2 messages: 1 SMS sent, 1 e-mail failed; nothing waiting\n");
  auto retry = message(3, "sms", MessageState::RetryWait);
  retry.next_attempt_at_ms = kNovember + 60'000;
  auto held = message(4, "email", MessageState::Held);
  auto mail2 = message(5, "email", MessageState::Failed);
  CHECK(delivery_summary("order 1001", {sms, mail, retry, held, mail2}, stockholm()) ==
        "order 1001: 5 messages: 1 SMS retry wait, 1 SMS sent, 1 e-mail held, 2 e-mails failed; "
        "2 waiting, next attempt 2026-11-22 11:16:30 CET\n");
  CHECK(delivery_summary("order 1001", {message(6, "email", MessageState::Sent)}, stockholm()) ==
        "order 1001: 1 message: 1 e-mail sent; nothing waiting\n");
}

TEST_CASE("not tried yet only for a message an attempt will come to", "[delivery_text]") {
  const auto options = stockholm();
  // Queued, scheduled, waiting to retry: an attempt will come.
  for (auto state : {MessageState::Queued, MessageState::Scheduled}) {
    auto m = message(1, "sms", state);
    m.next_attempt_at_ms = kNovember;
    const auto text = message_text(m, {}, options);
    CHECK_THAT(text, Catch::Contains("not tried yet"));
    // A scheduled message waits for its time: it is due then.
    CHECK_THAT(text, Catch::Contains(state == MessageState::Scheduled
                                         ? "due: 2026-11-22 11:15:30 CET"
                                         : "first attempt: 2026-11-22 11:15:30 CET"));
  }
  // A follow-up not written yet says so, with why it waits.
  auto follow_up = message(4, "email", MessageState::Scheduled);
  follow_up.text.clear();
  follow_up.next_attempt_at_ms = kNovember;
  follow_up.note = "3d after delivered, at 10:00, unless returned";
  const auto scheduled = message_text(follow_up, {}, options);
  CHECK_THAT(scheduled, Catch::Contains("why: 3d after delivered, at 10:00, unless returned"));
  CHECK_THAT(scheduled, Catch::Contains("due: 2026-11-22 11:15:30 CET (written then, with that "
                                        "day's templates)"));
  CHECK_THAT(scheduled, !Catch::Contains("text:"));
  // Refused by tack itself: no provider ever saw it, none will.
  auto refused = message(2, "sms", MessageState::Failed);
  refused.last_error = "phone number is a fixed line and cannot take SMS";
  auto text = message_text(refused, {}, options);
  CHECK_THAT(text, !Catch::Contains("not tried yet"));
  CHECK_THAT(text, Catch::Contains("never sent: tack refused it before any provider saw it: "
                                   "phone number is a fixed line"));
  // A standby fallback: only if its primary fails.
  auto standby = message(3, "email", MessageState::Standby);
  standby.fallback_for = 2;
  text = message_text(standby, {}, options);
  CHECK_THAT(text, !Catch::Contains("not tried yet"));
  CHECK_THAT(text, Catch::Contains("fallback for message 2: sent only if that one fails"));
  CHECK_THAT(text, Catch::Contains("no attempt while standby"));
  // Not needed, cancelled, held: none is coming (or not until released).
  CHECK_THAT(message_text(message(4, "email", MessageState::NotNeeded), {}, options),
             Catch::Contains("never sent: not needed"));
  CHECK_THAT(message_text(message(5, "sms", MessageState::Cancelled), {}, options),
             Catch::Contains("never sent: cancelled"));
  CHECK_THAT(message_text(message(6, "sms", MessageState::Held), {}, options),
             !Catch::Contains("not tried yet"));
}

TEST_CASE("a message names its channel and provider id once", "[delivery_text]") {
  auto m = message(7, "sms", MessageState::Sent);
  m.provider_id = "msg-1";
  m.gateway = "sms";
  m.attempt_log = {attempt("sent", "msg-1")};
  auto text = message_text(m, {}, stockholm());
  CHECK_THAT(text, Catch::StartsWith("message 7  sms to +46701234567  state: sent\n"));
  CHECK_THAT(text, !Catch::Contains("sms (sms)"));
  CHECK(text.find("msg-1") == text.rfind("msg-1"));
  CHECK_THAT(text, Catch::Contains("attempt 1  2026-11-22 11:15:30 CET  via sms  sent  42 ms  "
                                   "provider id msg-1"));
  // A channel named otherwise shows its kind; an id only on the message shows there.
  m.channel = "sms-nordic";
  m.attempt_log = {attempt("sent")};
  text = message_text(m, {}, stockholm());
  CHECK_THAT(text, Catch::StartsWith("message 7  sms-nordic (sms) to +46701234567"));
  CHECK_THAT(text, Catch::Contains("provider id: msg-1"));
}

TEST_CASE("an order lists the newest message first unless asked", "[delivery_text]") {
  OrderTimeline t;
  t.order_id = "1001";
  t.messages = {message(1, "sms", MessageState::Sent), message(2, "email", MessageState::Sent)};
  AuditEntry note;
  note.at_ms = kNovember;
  note.actor = "cli:anna";
  note.action = "retry";
  note.target = "message 1";
  t.audit = {note};
  auto options = stockholm();
  auto text = order_text(t, options);
  CHECK_THAT(text, Catch::StartsWith("order 1001: 2 messages: 1 SMS sent, 1 e-mail sent; "
                                     "nothing waiting\n"));
  CHECK(text.find("message 2 ") < text.find("message 1 "));
  CHECK_THAT(text, Catch::Contains("retry by cli:anna  2026-11-22 11:15:30 CET"));
  options.oldest_first = true;
  text = order_text(t, options);
  CHECK(text.find("message 1 ") < text.find("message 2 "));
}

TEST_CASE("a message shows its receipt timeline after the attempt the provider took",
          "[delivery_text][receipts]") {
  auto m = message(7, "sms", MessageState::Delivered);
  m.attempt_log = {attempt("sent", "msg-1")};
  ReceiptView progress;
  progress.gateway = "sms";
  progress.kind = ReceiptKind::Progress;
  progress.status = "sent";
  progress.at_ms = kNovember + 1000;
  ReceiptView delivered = progress;
  delivered.kind = ReceiptKind::Delivered;
  delivered.status = "delivered";
  delivered.at_ms = kNovember + 3000;
  m.receipts = {progress, delivered};
  auto text = message_text(m, {}, stockholm());
  CHECK_THAT(text, Catch::Contains("  delivery: accepted by sms 2026-11-22 11:15:30 CET → on its "
                                   "way (sent) 2026-11-22 11:15:31 CET → delivered to the phone "
                                   "2026-11-22 11:15:33 CET\n"));
  // Not delivered: the provider's word and reason; an e-mail bounces.
  ReceiptView failed = progress;
  failed.kind = ReceiptKind::Undelivered;
  failed.status = "failed";
  failed.reason = "absent subscriber";
  m.receipts = {failed};
  m.state = MessageState::Undelivered;
  CHECK_THAT(message_text(m, {}, stockholm()),
             Catch::Contains("not delivered 2026-11-22 11:15:31 CET (failed: absent subscriber)"));
  auto mail = message(8, "email", MessageState::Delivered);
  mail.attempt_log = {attempt("sent")};
  delivered.gateway = "mail";
  mail.receipts = {delivered};
  CHECK_THAT(message_text(mail, {}, stockholm()), Catch::Contains("delivered to the mail server"));
  // No receipt: no delivery line.
  m.receipts.clear();
  CHECK_THAT(message_text(m, {}, stockholm()), !Catch::Contains("delivery:"));
}
