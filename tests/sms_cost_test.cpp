// Tests for daemon/sms_cost.cpp: a channel's segment budget, its
// transliteration, and the bundled Polish templates transliterated.
#include "sms_cost.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <sstream>

#include "cli.hpp"
#include "render.hpp"

using namespace tack;

namespace {

Config loaded(const std::string& text) {
  auto load = load_config_text(text, "/etc/tack/tack.yaml");
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  return *load.config;
}

const std::string kTemplates = "templates:\n  dir: " TACK_SOURCE_DIR "/templates\n";

std::string ucs2_text(int characters) {
  std::string out;
  for (int i = 0; i < characters; ++i) out += i % 2 ? "ż" : "a";
  return out;
}

}  // namespace

TEST_CASE("a text over the channel's max_segments is refused with the reason", "[sms_cost]") {
  Config config = loaded(R"(store: { path: tack.db }
gateways:
  - { name: out, type: file, path: /tmp/unused.jsonl }
channels:
  sms: { kind: sms, gateways: [out] }
)" + kTemplates);
  const ChannelConfig& sms = *config.channel("sms");
  auto fits = fit_sms(ucs2_text(201), "pl", config, sms);
  CHECK(fits.refusal.empty());
  CHECK(fits.info.segments == 3);
  auto over = fit_sms(ucs2_text(202), "pl", config, sms);
  CHECK(over.refusal == "SMS needs 4 segments (UCS-2, 202 characters); channel sms allows 3");
  CHECK(over.text == ucs2_text(202));
  CHECK_FALSE(over.transliterated);
}

TEST_CASE("the budget is the smallest of the channel's and its gateways' max_segments",
          "[sms_cost]") {
  Config config = loaded(R"(store: { path: tack.db }
gateways:
  - { name: first, type: file, path: /tmp/unused.jsonl, max_segments: 4 }
  - { name: backup, type: file, path: /tmp/unused2.jsonl, max_segments: 2 }
  - { name: mail, type: file, path: /tmp/unused3.jsonl }
channels:
  sms: { kind: sms, gateways: [first, backup], max_segments: 3 }
  roomy: { kind: sms, gateways: [first, mail], max_segments: 6 }
  plain: { kind: sms, gateways: [mail] }
)" + kTemplates);
  auto budget = sms_budget(config, *config.channel("sms"));
  CHECK(budget.max_segments == 2);
  CHECK(budget.set_by == "gateway backup");
  budget = sms_budget(config, *config.channel("roomy"));
  CHECK(budget.max_segments == 4);
  CHECK(budget.set_by == "gateway first");
  budget = sms_budget(config, *config.channel("plain"));
  CHECK(budget.max_segments == 3);
  CHECK(budget.set_by == "channel plain");
  auto over = fit_sms(std::string(307, 'a'), "sv", config, *config.channel("sms"));
  CHECK(over.refusal == "SMS needs 3 segments (GSM-7, 307 characters); gateway backup allows 2");
}

TEST_CASE("a channel transliterates the languages it lists, and only those", "[sms_cost]") {
  Config config = loaded(R"(store: { path: tack.db }
gateways:
  - { name: out, type: file, path: /tmp/unused.jsonl }
channels:
  sms: { kind: sms, gateways: [out], transliterate: [pl], max_segments: 1 }
)" + kTemplates);
  const ChannelConfig& sms = *config.channel("sms");
  CHECK(transliterates(sms, "pl"));
  CHECK(transliterates(sms, "pl-PL"));
  CHECK(transliterates(sms, "PL_pl"));
  CHECK_FALSE(transliterates(sms, "sv"));
  CHECK_FALSE(transliterates(sms, "plx"));
  CHECK_FALSE(transliterates(sms, ""));

  auto polish = fit_sms("Paczka już w drodze – dziękujemy!", "pl-PL", config, sms);
  CHECK(polish.transliterated);
  CHECK(polish.text == "Paczka juz w drodze - dziekujemy!");
  CHECK(polish.info.encoding == SmsEncoding::Gsm7);
  CHECK(polish.refusal.empty());
  // Another language on the same channel is left alone.
  auto czech = fit_sms("Děkujeme", "cs", config, sms);
  CHECK_FALSE(czech.transliterated);
  CHECK(czech.text == "Děkujeme");
  // Still over the budget transliterated: refused, and said so.
  auto long_one = fit_sms(std::string(150, 'a') + "żółw 😀", "pl", config, sms);
  CHECK(long_one.text == std::string(150, 'a') + "zolw 😀");
  CHECK(long_one.refusal ==
        "SMS needs 3 segments (UCS-2, 156 characters) even transliterated; channel sms allows 1");
}

TEST_CASE("transliterate is a list of known languages on sms channels", "[sms_cost][config]") {
  const std::string head = "store: { path: tack.db }\ngateways:\n"
                           "  - { name: out, type: file, path: /tmp/unused.jsonl }\n"
                           "channels:\n";
  struct Bad {
    std::string channel;
    std::string error;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"  sms: { kind: sms, gateways: [out], transliterate: [xq] }\n",
            "/etc/tack/tack.yaml:5:54: channel 'sms' transliterate expects languages such as pl "
            "or cs (the language of the SMS text, without a region), found 'xq'"},
           {"  sms: { kind: sms, gateways: [out], transliterate: [sv, pl-PL] }\n",
            "/etc/tack/tack.yaml:5:58: channel 'sms' transliterate expects languages"},
           {"  sms: { kind: sms, gateways: [out], transliterate: pl }\n",
            "/etc/tack/tack.yaml:5:53: channel 'sms' transliterate expects a list, found"},
           {"  sms: { kind: sms, gateways: [out], transliterate: { pl: yes } }\n",
            "/etc/tack/tack.yaml:5:53: channel 'sms' transliterate expects a list"},
           {"  sms: { kind: sms, gateways: [out], transliterate: [pl, pl] }\n",
            "/etc/tack/tack.yaml:5:58: channel 'sms' transliterate: 'pl' is listed twice"},
           {"  sms: { kind: sms, gateways: [out], transliterate: [[pl]] }\n",
            "/etc/tack/tack.yaml:5:54: channel 'sms' transliterate expects a list of text values"},
           {"  mail: { kind: email, gateways: [out], transliterate: [pl] }\n",
            "/etc/tack/tack.yaml:5:56: channel 'mail' transliterate is for sms channels only"},
       }) {
    INFO(bad.channel);
    auto load = load_config_text(head + bad.channel + kTemplates, "/etc/tack/tack.yaml");
    CHECK_FALSE(load.config);
    CHECK_THAT(load.errors.to_string(), Catch::StartsWith(bad.error));
  }
  // A hostile value: a long one is refused, not echoed in full.
  auto load = load_config_text(head + "  sms: { kind: sms, gateways: [out], transliterate: [" +
                                   std::string(5000, 'p') + "] }\n" + kTemplates,
                               "/etc/tack/tack.yaml");
  CHECK_FALSE(load.config);
  CHECK_THAT(load.errors.to_string(), Catch::Contains("transliterate expects languages"));
  for (const char* bad : {"0", "256", "many"}) {
    INFO(bad);
    auto gateway = load_config_text(
        "store: { path: tack.db }\ngateways:\n"
        "  - { name: out, type: file, path: /tmp/unused.jsonl, max_segments: " +
            std::string(bad) + " }\n" + kTemplates,
        "/etc/tack/tack.yaml");
    CHECK_FALSE(gateway.config);
    CHECK_THAT(gateway.errors.to_string(),
               Catch::StartsWith("/etc/tack/tack.yaml:3:69: gateway 'out' max_segments"));
  }
}

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Rendered {
  std::string template_name;
  std::string event;
  std::string text;
};

// Every bundled template with Polish SMS text, rendered in Polish with each
// bundled example event and with `tackd check`'s sample event, for `shop`.
std::vector<Rendered> polish_renderings(const std::map<std::string, std::string>& shop) {
  ConfigErrors errors;
  auto templates = TemplateSet::load(TACK_SOURCE_DIR "/templates", errors);
  INFO(errors.to_string());
  REQUIRE(errors.empty());
  RenderContext context;
  context.default_locale = "pl";
  context.shop = shop;
  context.now_ms = 1796468400000;  // 2026-12-05 12:00 in Stockholm
  std::vector<std::pair<std::string, nlohmann::json>> events = {
      {"sample", nlohmann::json::parse(sample_event_json("pl-PL"))}};
  for (const char* name : {"delivered", "delivered_consent", "delivery_failed", "paid",
                           "picked_up", "placed_invoice_first_order", "ready_for_pickup",
                           "refunded", "returned", "shipped"}) {
    auto event = nlohmann::json::parse(
        read_text(std::string(TACK_SOURCE_DIR "/examples/") + name + ".json"));
    event["customer"]["locale"] = "pl-PL";
    events.emplace_back(name, std::move(event));
  }
  std::vector<Rendered> out;
  for (const auto& name : templates->names()) {
    const auto locales = templates->locales(name, ChannelKind::Sms);
    if (std::find(locales.begin(), locales.end(), "pl") == locales.end()) continue;
    for (const auto& [event_name, event] : events) {
      auto result = templates->render(name, ChannelKind::Sms, event, "pl-PL", context);
      INFO(name << " with " << event_name << ": " << result.error);
      REQUIRE(result.message);
      REQUIRE(result.message->locale == "pl");
      out.push_back({name, event_name, result.message->text});
    }
  }
  return out;
}

}  // namespace

TEST_CASE("every bundled Polish SMS template, transliterated, is GSM-7 and no longer",
          "[sms_cost][templates]") {
  auto load = load_config(TACK_SOURCE_DIR "/config/tack.example.yaml");
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  const Config& config = *load.config;
  const ChannelConfig& sms = *config.channel("sms");
  REQUIRE(transliterates(sms, "pl"));  // the example's one line
  auto renderings = polish_renderings(config.shop.fields);
  std::set<std::string> templates;
  for (const auto& r : renderings) {
    templates.insert(r.template_name);
    const SmsInfo before = analyze_sms(r.text);
    const SmsFit fit = fit_sms(r.text, "pl", config, sms);
    INFO(r.template_name << " with " << r.event << ": " << r.text << " -> " << fit.text);
    CHECK(before.encoding == SmsEncoding::Ucs2);  // every one has a Polish letter
    CHECK(fit.info.encoding == SmsEncoding::Gsm7);
    CHECK(fit.info.characters == before.characters);
    CHECK(fit.info.segments <= before.segments);
    CHECK(fit.refusal.empty());
  }
  // The templates with Polish SMS text today; a new one is tested too.
  CHECK(templates.size() >= 10);
  CHECK(templates.count("delivered"));
  CHECK(templates.count("shipped"));
}

TEST_CASE("the Polish delivered SMS of a Polish shop goes from 3 UCS-2 segments to 1 GSM-7",
          "[sms_cost][templates]") {
  const std::map<std::string, std::string> shop = {
      {"name", "Przykładowy Sklep Internetowy"},
      {"support_email", "obsluga.klienta@przykladowysklep.pl"}};
  Config config = loaded(R"(store: { path: tack.db }
gateways:
  - { name: out, type: file, path: /tmp/unused.jsonl }
channels:
  sms: { kind: sms, gateways: [out], max_segments: 2 }
  sms-pl: { kind: sms, gateways: [out], max_segments: 2, transliterate: [pl] }
)" + kTemplates);
  bool seen = false;
  for (const auto& r : polish_renderings(shop)) {
    if (r.template_name != "delivered" || r.event != "delivered") continue;
    seen = true;
    INFO(r.text);
    const SmsInfo before = analyze_sms(r.text);
    CHECK(before.encoding == SmsEncoding::Ucs2);
    CHECK(before.segments == 3);
    const SmsFit refused = fit_sms(r.text, "pl", config, *config.channel("sms"));
    CHECK_THAT(refused.refusal, Catch::StartsWith("SMS needs 3 segments (UCS-2, ") &&
                                    Catch::EndsWith("; channel sms allows 2"));
    const SmsFit fit = fit_sms(r.text, "pl", config, *config.channel("sms-pl"));
    CHECK(fit.refusal.empty());
    CHECK(fit.info.encoding == SmsEncoding::Gsm7);
    CHECK(fit.info.segments == 1);
    CHECK_THAT(fit.text, Catch::Contains("Zamowienie nr 1042 zostalo doreczone"));
    CHECK_THAT(fit.text, Catch::Contains("Przykladowy Sklep Internetowy"));
  }
  CHECK(seen);
}
