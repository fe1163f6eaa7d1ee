#include <catch2/catch.hpp>

#include "intake.hpp"
#include "sms.hpp"
#include "transliterate.hpp"

using namespace tack;

namespace {

// The bundled templates with a small config around them.
std::shared_ptr<Snapshot> snapshot(const std::string& rules_yaml) {
  std::string text = std::string(R"(
store: { path: /tmp/unused.db }
templates: { dir: )") + TACK_SOURCE_DIR + R"(/templates }
locale: { default: en, region: SE, timezone: Europe/Stockholm }
shop: { name: Exempelbutiken, url: "https://shop.example", support_email: "hej@shop.example" }
gateways:
  - { name: out, type: file, path: /tmp/unused.jsonl }
channels:
  sms: { kind: sms, gateways: [out] }
  email: { kind: email, gateways: [out] }
rules:
)" + rules_yaml;
  auto loaded = load_config_text(text, "/tmp/intake-test.yaml");
  INFO(loaded.errors.to_string());
  REQUIRE(loaded.config);
  auto snap = std::make_shared<Snapshot>();
  snap->config = *loaded.config;
  ConfigErrors errors;
  snap->templates = TemplateSet::load(snap->config.template_dir, errors);
  INFO(errors.to_string());
  REQUIRE(errors.empty());
  return snap;
}

std::string event(const std::string& status, const std::string& phone,
                  const std::string& email = "anna@example.se",
                  const std::string& locale = "sv-SE") {
  nlohmann::json e = {{"event_id", "e-" + status},
                      {"order_id", "1042"},
                      {"status", status},
                      {"occurred_at", "2026-11-22T10:15:00Z"},
                      {"customer", {{"name", "Anna Svensson"}, {"locale", locale}}},
                      {"delivery",
                       {{"carrier", "PostNord"},
                        {"tracking_url", "https://tracking.example/XYZ"},
                        {"window_start", "2026-11-24T12:00:00+01:00"},
                        {"window_end", "2026-11-24T14:00:00+01:00"}}}};
  if (!phone.empty()) e["customer"]["phone"] = phone;
  if (!email.empty()) e["customer"]["email"] = email;
  return e.dump();
}

// 2026-12-05 12:00 in Stockholm: inside every shop's allowed hours.
constexpr std::int64_t kNoon = 1796468400000;

const char* kShippedBoth = R"(
  - { name: shipped, on: shipped, template: shipped, channels: [sms, email] }
)";

}  // namespace

TEST_CASE("an event becomes one rendered message per rule and channel", "[intake]") {
  auto snap = snapshot(kShippedBoth);
  auto record = plan_event(event("shipped", "070-123 45 67"), *snap, "test", kNoon);
  REQUIRE(record.reject_reason.empty());
  REQUIRE(record.messages.size() == 2);
  const auto& sms = record.messages[0];
  CHECK(sms.kind == ChannelKind::Sms);
  CHECK(sms.recipient == "+46701234567");
  CHECK(sms.state == MessageState::Queued);
  CHECK(sms.locale == "sv");
  CHECK_THAT(sms.text, Catch::Contains("1042"));
  CHECK(sms.gateway == "out");
  const auto& mail = record.messages[1];
  CHECK(mail.recipient == "anna@example.se");
  CHECK_FALSE(mail.subject.empty());
  CHECK_FALSE(mail.html.empty());
  CHECK(sms.idempotency_key != mail.idempotency_key);
  CHECK(record.rank == snap->config.statuses.rank("shipped"));
}

TEST_CASE("idempotency keys are stable for the same event, rule and channel", "[intake]") {
  CHECK(idempotency_key("e1", "r", "sms") == idempotency_key("e1", "r", "sms"));
  CHECK(idempotency_key("e1", "r", "sms") != idempotency_key("e1", "r", "email"));
  CHECK(idempotency_key("e1", "rs", "ms") != idempotency_key("e1", "r", "sms"));
}

TEST_CASE("an invalid phone number makes that message failed, not the event", "[intake]") {
  auto snap = snapshot(kShippedBoth);
  auto record = plan_event(event("shipped", "12"), *snap, "test", kNoon);
  REQUIRE(record.reject_reason.empty());
  REQUIRE(record.messages.size() == 2);
  CHECK(record.messages[0].state == MessageState::Failed);
  CHECK_THAT(record.messages[0].last_error, Catch::Contains("invalid phone number"));
  CHECK(record.messages[1].state == MessageState::Queued);
}

TEST_CASE("a message refused for its address keeps its text, for a corrected address",
          "[intake][support_actions]") {
  auto snap = snapshot(kShippedBoth);
  auto record = plan_event(event("shipped", "12"), *snap, "test", kNoon);
  REQUIRE(record.messages.size() == 2);
  const auto& refused = record.messages[0];
  CHECK(refused.state == MessageState::Failed);
  CHECK(refused.recipient_refused);
  CHECK_THAT(refused.text, Catch::Contains("1042"));
  CHECK_FALSE(record.messages[1].recipient_refused);
  // No phone at all: the same, so a number support adds reaches them.
  auto none = plan_event(event("shipped", ""), *snap, "test", kNoon);
  REQUIRE(none.messages.size() == 2);
  CHECK(none.messages[0].recipient_refused);
  CHECK_THAT(none.messages[0].last_error, Catch::Contains("no phone number"));
}

TEST_CASE("an e-mail address is checked as an event's would be", "[intake][support_actions]") {
  CHECK(plausible_email("anna@example.se"));
  for (const char* bad : {"", "anna", "@example.se", "anna@", "anna@example", "a b@example.se",
                          "a@b@example.se", "<anna@example.se>", "anna@example.se,x@y.se",
                          "anna@exa\nmple.se"}) {
    INFO(bad);
    CHECK_FALSE(plausible_email(bad));
  }
  CHECK_FALSE(plausible_email(std::string(250, 'a') + "@example.se"));
}

TEST_CASE("SMS to a fixed line falls back to the rule's fallback channel", "[intake]") {
  auto snap = snapshot(R"(
  - { name: shipped, on: shipped, template: shipped, channels: [sms], fallback: email }
)");
  auto record = plan_event(event("shipped", "08-123 456 78"), *snap, "test", kNoon);
  REQUIRE(record.messages.size() == 1);
  CHECK(record.messages[0].channel == "email");
  CHECK(record.messages[0].recipient == "anna@example.se");
  CHECK(record.messages[0].state == MessageState::Queued);
}

TEST_CASE("a missing phone without fallback is a failed message with the reason", "[intake]") {
  auto snap = snapshot(R"(
  - { name: shipped, on: shipped, template: shipped, channels: [sms] }
)");
  auto record = plan_event(event("shipped", ""), *snap, "test", kNoon);
  REQUIRE(record.messages.size() == 1);
  CHECK(record.messages[0].state == MessageState::Failed);
  CHECK(record.messages[0].last_error == "no phone number in the event");
}

TEST_CASE("an event with no way to reach the customer is rejected", "[intake]") {
  auto snap = snapshot(kShippedBoth);
  auto record = plan_event(event("shipped", "", ""), *snap, "test", kNoon);
  CHECK_THAT(record.reject_reason, Catch::Contains("no recipient"));
  CHECK(record.claimed_event_id == "e-shipped");
  CHECK(record.event_id.empty());
}

TEST_CASE("an invalid event is planned as a rejection with its reason", "[intake]") {
  auto snap = snapshot(kShippedBoth);
  auto record = plan_event("{\"event_id\": \"x\"", *snap, "test", kNoon);
  CHECK_THAT(record.reject_reason, Catch::Contains("not JSON"));
  CHECK(record.messages.empty());
}

TEST_CASE("a delivery window that ends before it starts is rejected, not sent as today",
          "[intake][window]") {
  auto snap = snapshot(R"(
  - { name: out, on: out_for_delivery, template: out_for_delivery, channels: [sms] }
)");
  auto e = nlohmann::json::parse(event("out_for_delivery", "+46701234567"));
  e["delivery"]["window_start"] = "2026-11-29T12:00:00+01:00";
  e["delivery"]["window_end"] = "2026-11-24T14:00:00+01:00";
  auto record = plan_event(e.dump(), *snap, "test", kNoon);
  CHECK(record.reject_reason ==
        "delivery.window_end 2026-11-24T14:00:00+01:00 is before delivery.window_start "
        "2026-11-29T12:00:00+01:00");
  CHECK(record.messages.empty());
  CHECK(record.claimed_event_id == "e-out_for_delivery");

  // The same window the right way round is named with its day and hours.
  e["delivery"]["window_start"] = "2026-11-29T12:00:00+01:00";
  e["delivery"]["window_end"] = "2026-11-29T14:00:00+01:00";
  record = plan_event(e.dump(), *snap, "test", kNoon);
  CHECK(record.reject_reason.empty());
  REQUIRE(record.messages.size() == 1);
  CHECK_THAT(record.messages[0].text, Catch::Contains("söndag 29 november mellan 12 och 14"));
  CHECK_THAT(record.messages[0].text, !Catch::Contains("i dag"));
}

TEST_CASE("a status without a rule is accepted and sends nothing", "[intake]") {
  auto snap = snapshot(kShippedBoth);
  auto record = plan_event(event("paid", "070-123 45 67"), *snap, "test", kNoon);
  CHECK(record.reject_reason.empty());
  CHECK(record.messages.empty());
}

TEST_CASE("Polish and English customers get their own language", "[intake]") {
  auto snap = snapshot(kShippedBoth);
  auto pl = plan_event(event("shipped", "+48 512 345 678", "jan@example.pl", "pl-PL"), *snap, "t", kNoon);
  REQUIRE(pl.messages.size() == 2);
  CHECK(pl.messages[0].locale == "pl");
  CHECK(pl.messages[0].recipient == "+48512345678");
  auto en = plan_event(event("shipped", "+44 7911 123456", "jo@example.co.uk", "en-GB"), *snap, "t", kNoon);
  REQUIRE(en.messages.size() == 2);
  CHECK(en.messages[0].locale == "en");
}

TEST_CASE("a rule's ttl gives its messages an expiry counted from the event", "[intake]") {
  auto snap = snapshot(R"(
  - { name: shipped, on: shipped, template: shipped, channels: [sms], ttl: 2h }
)");
  auto record = plan_event(event("shipped", "070-123 45 67"), *snap, "test", kNoon);
  REQUIRE(record.messages.size() == 1);
  CHECK(record.messages[0].expires_at_ms == 1795342500000 + 2 * 3600 * 1000);
  auto none = snapshot(kShippedBoth);
  CHECK(plan_event(event("shipped", "070-123 45 67"), *none, "test", kNoon).messages[0].expires_at_ms == 0);
}

TEST_CASE("a rule's fallback channel stands by, rendered, for a permanent failure", "[intake]") {
  auto snap = snapshot(R"(
  - { name: shipped, on: shipped, template: shipped, channels: [sms], fallback: email }
)");
  auto record = plan_event(event("shipped", "+46701234567"), *snap, "test", kNoon);
  REQUIRE(record.messages.size() == 2);
  CHECK(record.messages[0].channel == "sms");
  CHECK(record.messages[0].state == MessageState::Queued);
  CHECK(record.messages[0].standby_for == -1);
  CHECK(record.messages[1].channel == "email");
  CHECK(record.messages[1].state == MessageState::Standby);
  CHECK(record.messages[1].standby_for == 0);
  CHECK(record.messages[1].recipient == "anna@example.se");
  CHECK_FALSE(record.messages[1].subject.empty());
  CHECK(record.messages[1].idempotency_key != record.messages[0].idempotency_key);
}

TEST_CASE("no standby when the rule already sends on its fallback channel", "[intake]") {
  auto snap = snapshot(R"(
  - { name: shipped, on: shipped, template: shipped, channels: [sms, email], fallback: email }
)");
  auto record = plan_event(event("shipped", "+46701234567"), *snap, "test", kNoon);
  REQUIRE(record.messages.size() == 2);
  CHECK(record.messages[0].state == MessageState::Queued);
  CHECK(record.messages[1].state == MessageState::Queued);
}

TEST_CASE("a Polish customer's national number goes to Poland, not to a Swedish stranger",
          "[intake][region]") {
  auto snap = snapshot(kShippedBoth);
  auto record = plan_event(event("shipped", "701 234 568", "jan@example.pl", "pl-PL"), *snap, "t", kNoon);
  REQUIRE(record.messages.size() == 2);
  CHECK(record.messages[0].recipient == "+48701234568");
  CHECK(record.messages[0].state == MessageState::Queued);
}

TEST_CASE("customer.country decides a national number's country", "[intake][region]") {
  auto snap = snapshot(kShippedBoth);
  auto doc = nlohmann::json::parse(event("shipped", "07911 123456", "jo@example.co.uk", "en"));
  doc["customer"]["country"] = "GB";
  auto record = plan_event(doc.dump(), *snap, "t", kNoon);
  REQUIRE(record.reject_reason.empty());
  REQUIRE(record.messages.size() == 2);
  CHECK(record.messages[0].recipient == "+447911123456");
  CHECK(record.messages[0].state == MessageState::Queued);
}

TEST_CASE("an ambiguous national number is not guessed: the rule's fallback takes over",
          "[intake][region]") {
  auto snap = snapshot(R"(
  - { name: shipped, on: shipped, template: shipped, channels: [sms], fallback: email }
)");
  auto record = plan_event(event("shipped", "701 234 568", "jan@example.pl", "pl"), *snap, "t", kNoon);
  REQUIRE(record.messages.size() == 1);
  CHECK(record.messages[0].channel == "email");
  CHECK(record.messages[0].recipient == "jan@example.pl");

  auto sms_only = snapshot(R"(
  - { name: shipped, on: shipped, template: shipped, channels: [sms] }
)");
  auto failed = plan_event(event("shipped", "701 234 568", "", "pl"), *sms_only, "t", kNoon);
  REQUIRE(failed.messages.size() == 1);
  CHECK(failed.messages[0].state == MessageState::Failed);
  CHECK_THAT(failed.messages[0].last_error, Catch::Contains("customer.country"));
  CHECK(failed.messages[0].recipient.find("+46") == std::string::npos);
}

TEST_CASE("customer.country must be a string", "[intake][region]") {
  auto snap = snapshot(kShippedBoth);
  auto doc = nlohmann::json::parse(event("shipped", "070-123 45 67"));
  doc["customer"]["country"] = 46;
  auto record = plan_event(doc.dump(), *snap, "t", kNoon);
  CHECK_THAT(record.reject_reason, Catch::Contains("customer.country must be a string"));
}

// ---- time (issue 16) ----------------------------------------------------------

namespace {
// 2026-12-05 03:00 and 08:00 in Stockholm.
constexpr std::int64_t kThreeAm = 1796436000000;
constexpr std::int64_t kEightAm = 1796454000000;

const NewMessage& only(const EventRecord& record) {
  REQUIRE(record.messages.size() == 1);
  return record.messages.front();
}
}  // namespace

TEST_CASE("a delayed rule's message is scheduled for its time, unrendered, with support's note",
          "[intake][time]") {
  auto snap = snapshot(R"(
  - name: follow_up
    on: delivered
    after: 3d
    at: "10:00"
    unless: [returned, cancelled]
    template: delivered
    channels: [email]
    ttl: 1d
)");
  auto record = plan_event(event("delivered", ""), *snap, "test", kNoon);
  const auto& m = only(record);
  CHECK(m.state == MessageState::Scheduled);
  CHECK(m.render_when_due);
  CHECK(m.text.empty());
  // occurred 2026-11-22 11:15 Stockholm; three days later at 10:00.
  CHECK(m.due_at_ms == 1795597200000);
  CHECK(m.expires_at_ms == 1795597200000 + 86400000);
  CHECK(m.note == "3d after delivered, at 10:00, unless returned or cancelled");
  CHECK(m.supersede == SupersedePolicy::Never);
  CHECK(m.timezone == "Europe/Stockholm");
  CHECK(m.country == "SE");
}

TEST_CASE("a watch counts from an event field; an event without it does not fire the rule",
          "[intake][time]") {
  auto snap = snapshot(R"(
  - name: late
    on: shipped
    from: delivery.window_end
    after: 2h
    unless: [delivered]
    template: shipped
    channels: [sms]
)");
  auto record = plan_event(event("shipped", "0701234567"), *snap, "test", kNoon);
  CHECK(only(record).due_at_ms == 1795532400000);
  CHECK(only(record).note == "2h after delivery.window_end, unless delivered");
  auto doc = nlohmann::json::parse(event("shipped", "0701234567"));
  doc["delivery"].erase("window_end");
  CHECK(plan_event(doc.dump(), *snap, "test", kNoon).messages.empty());
}

TEST_CASE("an event cancels the rules whose unless its status reaches", "[intake][time]") {
  auto snap = snapshot(R"(
  - { name: not_shipped, on: paid, after: 48h, unless: [shipped], template: shipped, channels: [sms] }
  - { name: follow_up, on: delivered, after: 3d, unless: [returned], template: delivered, channels: [email] }
  - { name: shipped, on: shipped, template: shipped, channels: [sms] }
)");
  auto shipped = plan_event(event("shipped", "0701234567"), *snap, "test", kNoon);
  CHECK(shipped.cancels_rules == std::vector<std::string>{"not_shipped"});
  CHECK(shipped.cancel_note == "cancelled: order shipped (event e-shipped)");
  // Straight to delivered: it was shipped too.
  auto delivered = plan_event(event("delivered", "0701234567"), *snap, "test", kNoon);
  CHECK(delivered.cancels_rules == std::vector<std::string>{"not_shipped"});
  auto returned = plan_event(event("returned", "0701234567"), *snap, "test", kNoon);
  CHECK(returned.cancels_rules == std::vector<std::string>{"follow_up"});
  CHECK(plan_event(event("packed", "0701234567"), *snap, "test", kNoon).cancels_rules.empty());
}

TEST_CASE("a marketing message needs the customer's consent for its channel", "[intake][time]") {
  auto snap = snapshot(R"(
  - { name: offer, on: delivered, template: delivered, channels: [email, sms], purpose: marketing }
)");
  auto none = plan_event(event("delivered", "0701234567"), *snap, "test", kNoon);
  REQUIRE(none.messages.size() == 2);
  for (const auto& m : none.messages) {
    CHECK(m.state == MessageState::Skipped);
    CHECK(m.text.empty());
  }
  CHECK(none.messages[0].note == "skipped: no marketing consent for email");
  CHECK(none.messages[1].note == "skipped: no marketing consent for sms");
  auto doc = nlohmann::json::parse(event("delivered", "0701234567"));
  doc["customer"]["consent"] = {{"email", true}, {"sms", false}};
  auto some = plan_event(doc.dump(), *snap, "test", kNoon);
  REQUIRE(some.messages.size() == 2);
  CHECK(some.messages[0].state == MessageState::Queued);
  CHECK(some.messages[1].state == MessageState::Skipped);
}

TEST_CASE("an SMS planned in quiet hours is held until they end, rendered; e-mail and urgent go",
          "[intake][time]") {
  auto snap = snapshot(R"(
  - { name: shipped, on: shipped, template: shipped, channels: [sms, email] }
  - { name: urgent, on: shipped, template: shipped, channels: [sms], urgent: true }
)");
  auto record = plan_event(event("shipped", "0701234567"), *snap, "test", kThreeAm);
  REQUIRE(record.messages.size() == 3);
  const auto& sms = record.messages[0];
  CHECK(sms.state == MessageState::Scheduled);
  CHECK_FALSE(sms.render_when_due);
  CHECK_FALSE(sms.text.empty());
  CHECK(sms.due_at_ms == kEightAm);
  CHECK(sms.note == "held: quiet hours until 08:00 Europe/Stockholm");
  CHECK(record.messages[1].state == MessageState::Queued);  // e-mail keeps no quiet hours
  CHECK(record.messages[2].state == MessageState::Queued);  // urgent
  CHECK(record.messages[2].urgent);
  // At noon it goes at once.
  CHECK(plan_event(event("shipped", "0701234567"), *snap, "test", kNoon).messages[0].state ==
        MessageState::Queued);
}

TEST_CASE("the recipient's time zone: the event's, else their country's, else the shop's",
          "[intake][time]") {
  auto snap = snapshot(R"(
  - { name: shipped, on: shipped, template: shipped, channels: [sms] }
)");
  auto doc = nlohmann::json::parse(event("shipped", "+44 7400 123456", "", "en-GB"));
  CHECK(only(plan_event(doc.dump(), *snap, "test", kNoon)).timezone == "Europe/London");
  CHECK(only(plan_event(doc.dump(), *snap, "test", kNoon)).country == "GB");
  doc["customer"]["timezone"] = "Europe/Warsaw";
  CHECK(only(plan_event(doc.dump(), *snap, "test", kNoon)).timezone == "Europe/Warsaw");
  doc["customer"]["timezone"] = "Mars/Olympus";  // not a zone: the number's country decides
  CHECK(only(plan_event(doc.dump(), *snap, "test", kNoon)).timezone == "Europe/London");
  auto polish = plan_event(event("shipped", "+48 512 345 678", "", "pl-PL"), *snap, "test", kNoon);
  CHECK(only(polish).timezone == "Europe/Warsaw");
}

TEST_CASE("a rule with a fixed recipient writes to the shop's people in the default locale",
          "[intake][time]") {
  auto snap = snapshot(R"(
  - { name: ops, on: paid, after: 48h, unless: [shipped], template: shipped, channels: [email], to: ops@shop.example }
)");
  auto record = plan_event(event("paid", "0701234567", "anna@example.se", "sv-SE"), *snap, "test",
                           kNoon);
  const auto& m = only(record);
  CHECK(m.recipient == "ops@shop.example");
  CHECK(m.locale == "en");
  CHECK(m.state == MessageState::Scheduled);
}

namespace {

// The bundled templates with the given channels and one rule on shipped.
std::shared_ptr<Snapshot> sms_cost_snapshot(const std::string& channels,
                                            const std::string& gateway_keys = "") {
  std::string text = std::string(R"(
store: { path: /tmp/unused.db }
templates: { dir: )") + TACK_SOURCE_DIR + R"(/templates }
locale: { default: en, region: SE, timezone: Europe/Stockholm }
shop: { name: Exempelbutiken, url: "https://shop.example", support_email: "hej@shop.example" }
gateways:
  - { name: out, type: file, path: /tmp/unused.jsonl)" + gateway_keys + R"( }
channels:
)" + channels + R"(
  email: { kind: email, gateways: [out] }
rules:
  - { name: shipped, on: shipped, template: shipped, channels: [sms, email] }
)";
  auto loaded = load_config_text(text, "/tmp/intake-test.yaml");
  INFO(loaded.errors.to_string());
  REQUIRE(loaded.config);
  auto snap = std::make_shared<Snapshot>();
  snap->config = *loaded.config;
  ConfigErrors errors;
  snap->templates = TemplateSet::load(snap->config.template_dir, errors);
  REQUIRE(errors.empty());
  return snap;
}

}  // namespace

TEST_CASE("a Polish SMS on a channel with transliterate: [pl] is stored in GSM-7",
          "[intake][sms_cost]") {
  const std::string polish = event("shipped", "+48 512 345 678", "anna@example.pl", "pl-PL");
  auto plain = sms_cost_snapshot("  sms: { kind: sms, gateways: [out] }");
  auto before = plan_event(polish, *plain, "test", kNoon);
  REQUIRE(before.messages.size() == 2);
  REQUIRE(before.messages[0].state == MessageState::Queued);
  CHECK(before.messages[0].locale == "pl");
  CHECK(analyze_sms(before.messages[0].text).encoding == SmsEncoding::Ucs2);

  auto snap = sms_cost_snapshot("  sms: { kind: sms, gateways: [out], transliterate: [pl] }");
  auto record = plan_event(polish, *snap, "test", kNoon);
  REQUIRE(record.messages.size() == 2);
  const auto& sms = record.messages[0];
  CHECK(sms.state == MessageState::Queued);
  CHECK(sms.text == transliterate_to_gsm7(before.messages[0].text));
  CHECK(analyze_sms(sms.text).encoding == SmsEncoding::Gsm7);
  CHECK(analyze_sms(sms.text).segments < analyze_sms(before.messages[0].text).segments);
  // E-mail is never transliterated; nor is another language's SMS.
  CHECK(record.messages[1].text == before.messages[1].text);
  auto swedish = plan_event(event("shipped", "070-123 45 67"), *snap, "test", kNoon);
  CHECK(swedish.messages[0].text ==
        plan_event(event("shipped", "070-123 45 67"), *plain, "test", kNoon).messages[0].text);
}

TEST_CASE("an SMS over its channel's max_segments is failed with the reason, its text kept",
          "[intake][sms_cost]") {
  const std::string polish = event("shipped", "+48 512 345 678", "anna@example.pl", "pl-PL");
  auto snap = sms_cost_snapshot("  sms: { kind: sms, gateways: [out], max_segments: 1 }");
  auto record = plan_event(polish, *snap, "test", kNoon);
  REQUIRE(record.reject_reason.empty());
  REQUIRE(record.messages.size() == 2);
  const auto& sms = record.messages[0];
  const SmsInfo info = analyze_sms(sms.text);
  REQUIRE(info.segments > 1);
  CHECK(sms.state == MessageState::Failed);
  CHECK(sms.last_error == "SMS needs " + std::to_string(info.segments) + " segments (UCS-2, " +
                              std::to_string(info.characters) + " characters); channel sms allows 1");
  CHECK_FALSE(sms.recipient_refused);
  CHECK_THAT(sms.text, Catch::Contains("1042"));
  CHECK(record.messages[1].state == MessageState::Queued);  // the e-mail goes

  // A gateway's lower limit is the channel's budget.
  auto gateway = sms_cost_snapshot("  sms: { kind: sms, gateways: [out] }", ", max_segments: 1");
  auto by_gateway = plan_event(polish, *gateway, "test", kNoon);
  CHECK(by_gateway.messages[0].state == MessageState::Failed);
  CHECK_THAT(by_gateway.messages[0].last_error, Catch::EndsWith("; gateway out allows 1"));

  // An invalid number too: both reasons, and a corrected number does not send it.
  auto both = plan_event(event("shipped", "12", "anna@example.pl", "pl-PL"), *snap, "test", kNoon);
  CHECK(both.messages[0].state == MessageState::Failed);
  CHECK_THAT(both.messages[0].last_error,
             Catch::StartsWith("invalid phone number") && Catch::Contains("; SMS needs"));
  CHECK_FALSE(both.messages[0].recipient_refused);

  // A budget the UCS-2 text is over and its transliteration fits.
  const SmsInfo gsm = analyze_sms(transliterate_to_gsm7(sms.text));
  REQUIRE(gsm.segments < info.segments);
  const std::string budget = std::to_string(gsm.segments);
  auto raw = sms_cost_snapshot("  sms: { kind: sms, gateways: [out], max_segments: " + budget +
                               " }");
  CHECK(plan_event(polish, *raw, "test", kNoon).messages[0].state == MessageState::Failed);
  auto fits = sms_cost_snapshot("  sms: { kind: sms, gateways: [out], max_segments: " + budget +
                                ", transliterate: [pl] }");
  auto fit = plan_event(polish, *fits, "test", kNoon);
  INFO(fit.messages[0].text);
  CHECK(fit.messages[0].state == MessageState::Queued);
  CHECK(fit.messages[0].last_error.empty());
}
