// The scheduler's decision for a due scheduled message (scheduler.hpp),
// with an injected clock: values in, values out.
#include "scheduler.hpp"
#include "sms.hpp"
#include "transliterate.hpp"

#include <catch2/catch.hpp>

using namespace tack;

namespace {

// 2026-12-05 12:00 and 03:00 in Stockholm.
constexpr std::int64_t kNoon = 1796468400000;
constexpr std::int64_t kThreeAm = 1796436000000;
constexpr std::int64_t kEightAm = 1796454000000;

std::shared_ptr<Snapshot> snapshot(const std::string& extra_channel_keys = "") {
  std::string text = std::string(R"(
store: { path: /tmp/unused.db }
templates: { dir: )") + TACK_SOURCE_DIR + R"(/templates }
locale: { default: en, region: SE, timezone: Europe/Stockholm }
shop: { name: Exempelbutiken, url: "https://shop.example", support_email: "hej@shop.example" }
gateways:
  - { name: out, type: file, path: /tmp/unused.jsonl }
channels:
  sms: { kind: sms, gateways: [out])" + extra_channel_keys + R"( }
  email: { kind: email, gateways: [out] }
rules:
  - { name: follow_up, on: delivered, after: 3d, unless: [returned], template: delivered, channels: [email, sms] }
  - { name: watch, on: paid, after: 48h, unless: [shipped, cancelled], template: shipped, channels: [sms], urgent: true }
)";
  auto loaded = load_config_text(text, "/tmp/scheduler-test.yaml");
  INFO(loaded.errors.to_string());
  REQUIRE(loaded.config);
  auto snap = std::make_shared<Snapshot>();
  snap->config = *loaded.config;
  ConfigErrors errors;
  snap->templates = TemplateSet::load(snap->config.template_dir, errors);
  REQUIRE(errors.empty());
  return snap;
}

DueScheduled due(const std::string& rule = "follow_up", const std::string& channel = "email") {
  DueScheduled d;
  d.id = 7;
  d.event_id = "e-delivered";
  d.order_id = "1042";
  d.rule = rule;
  d.channel = channel;
  d.kind = channel == "email" ? ChannelKind::Email : ChannelKind::Sms;
  d.template_name = "delivered";
  d.locale = "sv-SE";
  d.recipient = channel == "email" ? "anna@example.se" : "+46701234567";
  d.timezone = "Europe/Stockholm";
  d.country = "SE";
  d.event_payload = R"({"event_id":"e-delivered","order_id":"1042","status":"delivered",
    "occurred_at":"2026-12-01T10:00:00Z","customer":{"name":"Anna Svensson","locale":"sv-SE"}})";
  d.order_status = "delivered";
  d.order_rank = 7;
  return d;
}

}  // namespace

TEST_CASE("a due follow-up is rendered then, in the customer's language, and queued",
          "[scheduler]") {
  auto snap = snapshot();
  auto out = decide_scheduled(due(), *snap, kNoon);
  CHECK(out.next == MessageState::Queued);
  CHECK(out.id == 7);
  CHECK(out.locale == "sv");
  CHECK_FALSE(out.subject.empty());
  CHECK(out.text.find("1042") != std::string::npos);
  CHECK(out.cap.max == 0);
}

TEST_CASE("a watch whose awaited status came is cancelled with the reason", "[scheduler]") {
  auto snap = snapshot();
  auto d = due("watch", "sms");
  d.order_status = "delivered";  // shipped and more
  auto out = decide_scheduled(d, *snap, kNoon);
  CHECK(out.next == MessageState::Cancelled);
  CHECK(out.note == "cancelled: order delivered");
  d.order_status = "paid";  // the promise was not kept: it goes
  CHECK(decide_scheduled(d, *snap, kNoon).next == MessageState::Queued);
}

TEST_CASE("a rule gone from the config cancels; an erased event cancels; a broken template "
          "fails with the reason",
          "[scheduler]") {
  auto snap = snapshot();
  auto gone = due("removed_rule");
  CHECK(decide_scheduled(gone, *snap, kNoon).note ==
        "cancelled: rule removed_rule is no longer in the config");
  auto erased = due();
  erased.event_payload = kErased;
  CHECK(decide_scheduled(erased, *snap, kNoon).note == "cancelled: its event was erased");
  auto garbled = due();
  garbled.event_payload = "{not json";
  auto failed = decide_scheduled(garbled, *snap, kNoon);
  CHECK(failed.next == MessageState::Failed);
  CHECK(failed.last_error == "its event e-delivered could not be read again");
  auto no_channel = due("follow_up", "fax");
  CHECK(decide_scheduled(no_channel, *snap, kNoon).next == MessageState::Failed);
}

TEST_CASE("a due SMS at night is held until quiet hours end; an urgent one and e-mail go",
          "[scheduler]") {
  auto snap = snapshot();
  auto out = decide_scheduled(due("follow_up", "sms"), *snap, kThreeAm);
  CHECK(out.next == MessageState::Scheduled);
  CHECK(out.due_at_ms == kEightAm);
  CHECK(out.note == "held: quiet hours until 08:00 Europe/Stockholm");
  CHECK_FALSE(out.text.empty());  // rendered when due, held as it is
  CHECK(decide_scheduled(due("follow_up", "email"), *snap, kThreeAm).next == MessageState::Queued);
  auto urgent = due("watch", "sms");
  urgent.order_status = "paid";
  urgent.urgent = true;
  CHECK(decide_scheduled(urgent, *snap, kThreeAm).next == MessageState::Queued);
}

TEST_CASE("a rendered held message is queued as it is; the channel's cap travels with it",
          "[scheduler]") {
  auto snap = snapshot(", frequency_cap: { max: 2, per: 1d }");
  auto d = due("follow_up", "sms");
  d.rendered = true;
  auto out = decide_scheduled(d, *snap, kNoon);
  CHECK(out.next == MessageState::Queued);
  CHECK(out.text.empty());  // the store keeps the text it has
  CHECK(out.cap.max == 2);
  CHECK(out.cap.window_ms == 86400000);
  CHECK(out.cap.text == "2 per 1d");
  d.urgent = true;
  CHECK(decide_scheduled(d, *snap, kNoon).cap.max == 0);
}

TEST_CASE("an SMS rendered when due is transliterated, and refused over the budget",
          "[scheduler][sms_cost]") {
  auto d = due("follow_up", "sms");
  d.locale = "pl-PL";
  auto plain = decide_scheduled(d, *snapshot(), kNoon);
  REQUIRE(plain.next == MessageState::Queued);
  REQUIRE(analyze_sms(plain.text).encoding == SmsEncoding::Ucs2);

  auto out = decide_scheduled(d, *snapshot(", transliterate: [pl]"), kNoon);
  CHECK(out.next == MessageState::Queued);
  CHECK(out.locale == "pl");
  CHECK(out.text == transliterate_to_gsm7(plain.text));
  CHECK(analyze_sms(out.text).encoding == SmsEncoding::Gsm7);

  auto refused = decide_scheduled(d, *snapshot(", max_segments: 1"), kNoon);
  const SmsInfo info = analyze_sms(plain.text);
  REQUIRE(info.segments > 1);
  CHECK(refused.next == MessageState::Failed);
  CHECK(refused.last_error == "SMS needs " + std::to_string(info.segments) +
                                  " segments (UCS-2, " + std::to_string(info.characters) +
                                  " characters); channel sms allows 1");
  CHECK(refused.note == "failed when due: " + refused.last_error);
}
