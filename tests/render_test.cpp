#include "render.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <set>
#include <fstream>
#include <limits>
#include <thread>

#include "event.hpp"
#include "sms.hpp"
#include "support/temp_dir.hpp"

namespace tack {
namespace {

using tack::testing::TempDir;

const std::string kTemplateDir = std::string(TACK_SOURCE_DIR) + "/templates";

nlohmann::json sample_event() {
  return nlohmann::json::parse(R"({
    "event_id": "shop-7f3a9c",
    "order_id": "1042",
    "status": "shipped",
    "occurred_at": "2026-11-22T10:15:00Z",
    "customer": {
      "name": "Anna Svensson",
      "phone": "+46701234567",
      "email": "anna@example.se",
      "locale": "sv-SE",
      "timezone": "Europe/Stockholm"
    },
    "delivery": {
      "carrier": "PostNord",
      "tracking_url": "https://tracking.example/XYZ",
      "window_start": "2026-11-24T11:00:00Z",
      "window_end": "2026-11-24T13:00:00Z"
    },
    "data": {
      "total": "1499.00",
      "currency": "SEK",
      "items": [{"name": "Ullfilt", "quantity": 2}]
    }
  })");
}

nlohmann::json minimal_event() {
  return nlohmann::json::parse(R"({
    "event_id": "shop-1", "order_id": "1042", "status": "placed",
    "occurred_at": "2026-11-22T10:15:00Z"
  })");
}

RenderContext sample_context() {
  RenderContext context;
  context.default_locale = "en";
  context.default_timezone = "Europe/Stockholm";
  context.shop = {{"name", "Nordic Wool"},
                  {"support_email", "hej@nordicwool.example"},
                  {"url", "https://nordicwool.example"},
                  {"phone", "08-123 456 78"}};
  return context;
}

std::shared_ptr<const TemplateSet> bundled() {
  static const std::shared_ptr<const TemplateSet> set = [] {
    ConfigErrors errors;
    auto loaded = TemplateSet::load(kTemplateDir, errors);
    INFO(errors.to_string());
    REQUIRE(errors.empty());
    return loaded;
  }();
  return set;
}

void write_file(const TempDir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir.file(name), std::ios::binary) << text;
}

struct Loaded {
  std::shared_ptr<const TemplateSet> set;
  ConfigErrors errors;
};

Loaded load(const TempDir& dir) {
  Loaded loaded;
  loaded.set = TemplateSet::load(dir.path().string(), loaded.errors);
  return loaded;
}

bool has_error(const ConfigErrors& errors, const std::string& file, int line, int column,
               const std::string& fragment) {
  for (const auto& error : errors.items) {
    if (error.file == file && error.line == line && error.column == column &&
        error.message.find(fragment) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// The column (1-based) of `needle` in `line`, for positions in a test's file.
int column_of(const std::string& line, const std::string& needle) {
  auto at = line.find(needle);
  REQUIRE(at != std::string::npos);
  return static_cast<int>(at) + 1;
}

bool has_problem(const std::vector<ConfigError>& items, const std::string& file, int line,
                 int column, const std::string& fragment) {
  ConfigErrors errors;
  errors.items = items;
  return has_error(errors, file, line, column, fragment);
}

// A config as TemplateSet::check reads it: English by default, a shop with
// name, e-mail, URL and phone, and the data fields of the sample event.
Config check_config() {
  Config config;
  config.path = "/etc/tack/tack.yaml";
  config.default_locale = "en";
  config.shop.fields = sample_context().shop;
  config.data_fields =
      std::vector<std::string>{"total", "currency", "items.name", "items.quantity"};
  return config;
}

struct Checked {
  ConfigErrors errors;
  std::vector<ConfigError> warnings;
  std::string text() const {
    std::string out = errors.to_string();
    for (const auto& w : warnings) out += "warning: " + w.to_string() + "\n";
    return out;
  }
};

Checked check(const Loaded& loaded, const Config& config) {
  Checked checked;
  loaded.set->check(config, checked.errors, checked.warnings);
  return checked;
}

}  // namespace

TEST_CASE("the bundled templates load without errors", "[render]") {
  auto set = bundled();
  CHECK(set->names() ==
        std::vector<std::string>{"delivered", "delivery_failed", "follow_up", "follow_up_offer",
                                 "invoice", "invoice_reminder", "late_delivery", "not_shipped",
                                 "not_shipped_ops", "out_for_delivery", "packed",
                                 "pickup_reminder", "placed", "ready_for_pickup", "refund_done",
                                 "return_received", "shipped", "welcome"});
  // Every template has e-mail; the news that cannot wait has SMS too; each
  // in all three languages.
  const std::set<std::string> with_sms = {
      "delivered",     "delivery_failed", "late_delivery",    "not_shipped", "out_for_delivery",
      "packed",        "pickup_reminder", "placed",           "ready_for_pickup", "shipped"};
  for (const auto& name : set->names()) {
    INFO(name);
    const std::vector<std::string> all = {"en", "pl", "sv"};
    CHECK(set->locales(name, ChannelKind::Sms) ==
          (with_sms.count(name) ? all : std::vector<std::string>{}));
    CHECK(set->locales(name, ChannelKind::Email) == all);
  }
  CHECK_FALSE(set->has("partials"));
  CHECK(set->has("shipped"));
}

TEST_CASE("every bundled template renders in sv, en and pl by SMS and e-mail", "[render]") {
  struct Expected {
    std::string name;
    std::string locale;
    std::vector<std::string> sms;
    std::vector<std::string> email;
  };
  const std::vector<Expected> table = {
      {"placed",
       "sv",
       {"Tack för din beställning, Anna!", "1042"},
       {"Ullfilt, 2 st", "1499.00 SEK"}},
      {"placed", "en", {"Thank you for your order, Anna!", "1042"}, {"Ullfilt", "1499.00 SEK"}},
      {"placed", "pl", {"Dziękujemy za zamówienie nr 1042"}, {"Ullfilt, 2 szt.", "1499.00 SEK"}},
      {"packed", "sv", {"Hej Anna!", "1042 packad"}, {"packad", "transportören"}},
      {"packed", "en", {"Order 1042 is packed"}, {"is packed"}},
      {"packed", "pl", {"1042 jest już spakowane"}, {"spakowane"}},
      {"shipped",
       "sv",
       {"PostNord", "https://tracking.example/XYZ"},
       {"PostNord", "https://tracking.example/XYZ",
        "Beräknad leverans: tisdag 24 november mellan 12 och 14"}},
      {"shipped",
       "en",
       {"with PostNord", "https://tracking.example/XYZ",
        "Tuesday, November 24, between 12:00 PM and 2:00 PM"},
       {"PostNord", "https://tracking.example/XYZ",
        "Expected delivery: Tuesday, November 24, between 12:00 PM and 2:00 PM"}},
      {"shipped",
       "pl",
       {"(PostNord)", "https://tracking.example/XYZ", "wtorek, 24 listopada, między 12:00 a 14:00"},
       {"przewoźnikowi PostNord", "https://tracking.example/XYZ",
        "wtorek, 24 listopada, między 12:00 a 14:00"}},
      {"out_for_delivery",
       "sv",
       {"tisdag 24 november mellan 12 och 14"},
       {"tisdag 24 november mellan 12 och 14"}},
      {"out_for_delivery",
       "en",
       {"Expected: Tuesday, November 24, between 12:00 PM and 2:00 PM"},
       {"Expected: Tuesday, November 24, between 12:00 PM and 2:00 PM"}},
      {"out_for_delivery",
       "pl",
       {"wtorek, 24 listopada, między 12:00 a 14:00"},
       {"wtorek, 24 listopada, między 12:00 a 14:00"}},
      {"delivered", "sv", {"levererad", "hej@nordicwool.example"}, {"14 dagars ångerrätt"}},
      {"delivered", "en", {"delivered", "hej@nordicwool.example"}, {"within 14 days"}},
      {"delivered", "pl", {"doręczone", "hej@nordicwool.example"}, {"14 dni"}},
  };
  const std::map<std::string, std::string> signature = {
      {"sv", "Vänliga hälsningar\nNordic Wool"},
      {"en", "Kind regards,\nNordic Wool"},
      {"pl", "Pozdrawiamy serdecznie\nZespół Nordic Wool"}};

  auto set = bundled();
  const auto event = sample_event();
  const auto context = sample_context();
  for (const auto& expected : table) {
    INFO(expected.name << " " << expected.locale);

    RenderResult sms =
        set->render(expected.name, ChannelKind::Sms, event, expected.locale, context);
    INFO(sms.error);
    REQUIRE(sms.message);
    CHECK(sms.error.empty());
    CHECK(sms.message->kind == ChannelKind::Sms);
    CHECK(sms.message->locale == expected.locale);
    CHECK(sms.message->subject.empty());
    CHECK(sms.message->html.empty());
    for (const auto& bit : expected.sms) CHECK_THAT(sms.message->text, Catch::Contains(bit));
    CHECK_THAT(sms.message->text, !Catch::Contains("{{"));

    RenderResult email =
        set->render(expected.name, ChannelKind::Email, event, expected.locale, context);
    INFO(email.error);
    REQUIRE(email.message);
    const RenderedMessage& message = *email.message;
    CHECK(message.kind == ChannelKind::Email);
    CHECK(message.locale == expected.locale);
    CHECK_THAT(message.subject, Catch::Contains("1042"));
    for (const auto& bit : expected.email) {
      CHECK_THAT(message.text, Catch::Contains(bit));
      CHECK_THAT(message.html, Catch::Contains(bit));
    }
    CHECK_THAT(message.text, Catch::Contains(signature.at(expected.locale)));
    CHECK_THAT(message.text, Catch::Contains("hej@nordicwool.example"));
    CHECK_THAT(message.html, Catch::StartsWith("<!DOCTYPE html>"));
    CHECK_THAT(message.html, Catch::Contains("<html lang=\"" + expected.locale + "\">"));
    CHECK_THAT(message.html, Catch::Contains("mailto:hej@nordicwool.example"));
    CHECK_THAT(message.html, Catch::EndsWith("</html>\n"));
    for (const std::string* part : {&message.subject, &message.text, &message.html}) {
      CHECK_THAT(*part, !Catch::Contains("{{"));
    }
  }
}

TEST_CASE("bundled SMS texts fit two GSM-7 parts in sv and en and three UCS-2 parts in pl",
          "[render]") {
  auto set = bundled();
  for (const auto& name : set->names()) {
    if (set->locales(name, ChannelKind::Sms).empty()) continue;  // e-mail only
    for (const std::string locale : {"sv", "en", "pl"}) {
      RenderResult result =
          set->render(name, ChannelKind::Sms, sample_event(), locale, sample_context());
      REQUIRE(result.message);
      SmsInfo info = analyze_sms(result.message->text);
      INFO(name << " " << locale << ": " << result.message->text);
      if (locale == "pl") {
        CHECK(info.encoding == SmsEncoding::Ucs2);
        CHECK(info.segments <= 3);
      } else {
        CHECK(info.encoding == SmsEncoding::Gsm7);
        CHECK(info.segments <= 2);
      }
    }
  }
}

TEST_CASE("bundled templates render cleanly for an event with only the required fields",
          "[render]") {
  auto set = bundled();
  RenderContext context;
  context.shop = {{"name", "Nordic Wool"}};
  for (const auto& name : set->names()) {
    for (const std::string locale : {"sv", "en", "pl"}) {
      for (ChannelKind kind : {ChannelKind::Sms, ChannelKind::Email}) {
        if (set->locales(name, kind).empty()) continue;
        RenderResult result = set->render(name, kind, minimal_event(), locale, context);
        INFO(name << " " << locale << " " << result.error);
        REQUIRE(result.message);
        for (const std::string* part :
             {&result.message->subject, &result.message->text, &result.message->html}) {
          INFO(*part);
          for (const char* blemish : {"  ", " ,", " .", " !", "()", ": .", "{{"}) {
            CHECK_THAT(*part, !Catch::Contains(blemish));
          }
        }
        // Blank lines do not show in HTML, but a plain-text body keeps them.
        CHECK_THAT(result.message->text, !Catch::Contains("\n\n\n"));
      }
    }
  }
}

TEST_CASE("a regional locale falls back to its language", "[render]") {
  RenderResult result =
      bundled()->render("shipped", ChannelKind::Sms, sample_event(), "sv-SE", sample_context());
  REQUIRE(result.message);
  CHECK(result.message->locale == "sv");
  CHECK_THAT(result.message->text, Catch::StartsWith("Nu är din order 1042 skickad"));
}

TEST_CASE("POSIX-style and oddly cased locales are understood", "[render]") {
  for (const char* locale : {"sv_SE", "sv_SE.UTF-8", "SV-se"}) {
    RenderResult result =
        bundled()->render("shipped", ChannelKind::Sms, sample_event(), locale, sample_context());
    INFO(locale);
    REQUIRE(result.message);
    CHECK(result.message->locale == "sv");
  }
}

TEST_CASE("a locale without texts falls back to the default locale", "[render]") {
  auto context = sample_context();
  RenderResult french =
      bundled()->render("shipped", ChannelKind::Email, sample_event(), "fr-FR", context);
  REQUIRE(french.message);
  CHECK(french.message->locale == "en");
  CHECK_THAT(french.message->subject, Catch::StartsWith("Your order"));

  RenderResult unreadable =
      bundled()->render("shipped", ChannelKind::Sms, sample_event(), "!!", context);
  REQUIRE(unreadable.message);
  CHECK(unreadable.message->locale == "en");

  context.default_locale = "sv-SE";
  RenderResult swedish_default =
      bundled()->render("shipped", ChannelKind::Sms, sample_event(), "fr", context);
  REQUIRE(swedish_default.message);
  CHECK(swedish_default.message->locale == "sv");
}

TEST_CASE("the fallback locale also decides the language of dates", "[render]") {
  RenderResult result = bundled()->render("out_for_delivery", ChannelKind::Sms, sample_event(),
                                          "fr", sample_context());
  REQUIRE(result.message);
  CHECK_THAT(result.message->text,
             Catch::Contains("Tuesday, November 24, between 12:00 PM and 2:00 PM"));
}

TEST_CASE("a template without text for the locale or the default is an error", "[render]") {
  TempDir dir;
  write_file(dir, "hello.yaml", "sms:\n  sv: \"Hej!\"\n");
  Loaded loaded = load(dir);
  REQUIRE(loaded.errors.empty());
  RenderResult result =
      loaded.set->render("hello", ChannelKind::Sms, sample_event(), "de-DE", sample_context());
  CHECK_FALSE(result.message);
  CHECK_THAT(result.error, Catch::Contains("template hello has no sms text for locale de-DE"));

  RenderResult email =
      loaded.set->render("hello", ChannelKind::Email, sample_event(), "sv", sample_context());
  CHECK_FALSE(email.message);
  CHECK_THAT(email.error, Catch::Contains("has no email text"));
}

TEST_CASE("an unknown template is an error, not an exception", "[render]") {
  RenderResult result =
      bundled()->render("nope", ChannelKind::Sms, sample_event(), "sv", sample_context());
  CHECK_FALSE(result.message);
  CHECK(result.error == "no template nope");
}

TEST_CASE("HTML escapes hostile event data while SMS and plain text keep it", "[render]") {
  auto event = sample_event();
  event["customer"]["name"] = "<script>alert('x')</script> Svensson";
  event["delivery"]["carrier"] = "Post&<b>Nord</b>";
  event["order_id"] = "10<i>42</i>";

  RenderResult sms = bundled()->render("shipped", ChannelKind::Sms, event, "en", sample_context());
  REQUIRE(sms.message);
  CHECK_THAT(sms.message->text, Catch::Contains("with Post&<b>Nord</b>"));

  RenderResult email =
      bundled()->render("placed", ChannelKind::Email, event, "en", sample_context());
  REQUIRE(email.message);
  CHECK_THAT(email.message->text, Catch::Contains("Hi <script>alert('x')</script>,"));
  CHECK_THAT(email.message->subject, Catch::Contains("10<i>42</i>"));
  const std::string& html = email.message->html;
  CHECK_THAT(html, Catch::Contains("Hi &lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;,"));
  CHECK_THAT(html, !Catch::Contains("<script>"));
  CHECK_THAT(html, !Catch::Contains("<i>42"));
  // The footer partial escapes too.
  CHECK_THAT(html, Catch::Contains("mention order number 10&lt;i&gt;42&lt;/i&gt;."));
}

TEST_CASE("event data that looks like Mustache is printed, not expanded", "[render]") {
  auto event = sample_event();
  event["customer"]["name"] = "{{shop.support_email}}";
  event["signature"] = "{{customer.phone}}";  // must not replace the partial
  RenderResult result =
      bundled()->render("placed", ChannelKind::Email, event, "en", sample_context());
  REQUIRE(result.message);
  CHECK_THAT(result.message->text, Catch::StartsWith("Hi {{shop.support_email}},"));
  CHECK_THAT(result.message->text, Catch::Contains("Kind regards,\nNordic Wool"));
  CHECK_THAT(result.message->text, !Catch::Contains("+46701234567"));
}

TEST_CASE("a subject that renders a line break is refused as header injection", "[render]") {
  for (const char* order_id : {"1042\r\nBcc: victim@example.com", "1042\nX: y", "1042\rX"}) {
    auto event = sample_event();
    event["order_id"] = order_id;
    RenderResult result =
        bundled()->render("shipped", ChannelKind::Email, event, "en", sample_context());
    CHECK_FALSE(result.message);
    CHECK_THAT(result.error, Catch::Contains("header injection"));
  }
}

TEST_CASE("subject and SMS body are trimmed, a body rendering empty is an error", "[render]") {
  TempDir dir;
  write_file(dir, "t.yaml",
             "sms:\n  en: \"  \\n Hi {{order_id}}  \\n\"\n  sv: \"{{missing}}\"\n"
             "email:\n  en:\n    subject: \"  Order {{order_id}}\\t \"\n    text: \"x\"\n");
  Loaded loaded = load(dir);
  REQUIRE(loaded.errors.empty());
  RenderResult sms = loaded.set->render("t", ChannelKind::Sms, sample_event(), "en", {});
  REQUIRE(sms.message);
  CHECK(sms.message->text == "Hi 1042");
  RenderResult email = loaded.set->render("t", ChannelKind::Email, sample_event(), "en", {});
  REQUIRE(email.message);
  CHECK(email.message->subject == "Order 1042");
  CHECK(email.message->html.empty());

  RenderResult empty = loaded.set->render("t", ChannelKind::Sms, sample_event(), "sv", {});
  CHECK_FALSE(empty.message);
  CHECK_THAT(empty.error, Catch::Contains("renders empty"));
}

TEST_CASE("output above limits.max_message_bytes is an error", "[render]") {
  TempDir dir;
  write_file(dir, "big.yaml", "sms:\n  en: \"{{#data.items}}{{.}}{{/data.items}}\"\n");
  Loaded loaded = load(dir);
  REQUIRE(loaded.errors.empty());
  auto event = sample_event();
  event["data"]["items"] = nlohmann::json::array();
  for (int i = 0; i < 64; ++i) event["data"]["items"].push_back(std::string(4096, 'x'));
  const RenderContext defaults;
  RenderResult fits = loaded.set->render("big", ChannelKind::Sms, event, "en", {});
  REQUIRE(fits.message);
  CHECK(fits.message->text.size() == defaults.max_output_bytes);

  event["data"]["items"].push_back("one more");
  RenderResult over = loaded.set->render("big", ChannelKind::Sms, event, "en", {});
  CHECK_FALSE(over.message);
  CHECK_THAT(over.error, Catch::Contains("over 262144 bytes (limits.max_message_bytes)"));

  // A smaller configured limit fails a smaller message, with the same reason.
  RenderContext small;
  small.max_output_bytes = 5000;
  event["data"]["items"] = nlohmann::json::array({std::string(4096, 'x')});
  RenderResult under = loaded.set->render("big", ChannelKind::Sms, event, "en", small);
  REQUIRE(under.message);
  event["data"]["items"].push_back(std::string(1000, 'y'));
  RenderResult refused = loaded.set->render("big", ChannelKind::Sms, event, "en", small);
  CHECK_FALSE(refused.message);
  CHECK_THAT(refused.error, Catch::Contains("over 5000 bytes"));
}

TEST_CASE("a template file above limits.max_template_bytes is refused before parsing", "[render]") {
  TempDir dir;
  write_file(dir, "fine.yaml", "sms:\n  en: \"Hi\"\n");
  write_file(dir, "huge.yaml", "sms:\n  en: \"" + std::string(3000, 'x') + "\"\n");
  ConfigErrors errors;
  auto set = TemplateSet::load(dir.path().string(), errors, 2048);
  REQUIRE(errors.items.size() == 1);
  CHECK_THAT(errors.items[0].file, Catch::EndsWith("huge.yaml"));
  CHECK_THAT(errors.items[0].message,
             Catch::Contains("larger than 2048 bytes (limits.max_template_bytes)"));
  CHECK(set->has("fine"));
  CHECK_FALSE(set->has("huge"));
}

TEST_CASE("malformed template YAML is reported with file, line and column", "[render]") {
  TempDir dir;
  write_file(dir, "broken.yaml", "sms:\n  en: \"Hi {{order_id}}\"\n sv: \"Hej\"\n");
  write_file(dir, "fine.yaml", "sms:\n  en: \"Hi\"\n");
  Loaded loaded = load(dir);
  INFO(loaded.errors.to_string());
  REQUIRE(loaded.errors.items.size() == 1);
  CHECK(has_error(loaded.errors, dir.file("broken.yaml"), 3, 2, "end of map not found"));
  // The rest of the folder still loads.
  CHECK(loaded.set->has("fine"));
  CHECK_FALSE(loaded.set->has("broken"));
}

TEST_CASE("a Mustache error is reported at its line and column in the file", "[render]") {
  TempDir dir;
  write_file(dir, "bad.yaml",
             "sms:\n"
             "  en: \"Hi {{#customer}}{{name}}\"\n"  // unclosed section: line 2
             "  sv: \"Hej {{customer.name\"\n"       // unclosed tag: line 3, column 12
             "email:\n"
             "  en:\n"
             "    subject: \"Order {{order_id}}\"\n"
             "    text: |\n"
             "      Hello,\n"
             "      your order {{/order_id}} is here.\n"  // line 9, column 18
             "  sv:\n"
             "    subject: \"Order {{> nosuch}}\"\n"  // line 11, column 21
             "    text: \"x\"\n");
  Loaded loaded = load(dir);
  INFO(loaded.errors.to_string());
  const std::string file = dir.file("bad.yaml");
  CHECK(has_error(loaded.errors, file, 2, 11, "Unclosed section \"customer\""));
  CHECK(has_error(loaded.errors, file, 3, 12, "Unclosed tag"));
  CHECK(has_error(loaded.errors, file, 9, 18, "Unopened section \"order_id\""));
  CHECK(has_error(loaded.errors, file, 11, 21, "partial \"nosuch\" is not in partials.yaml"));
  CHECK(loaded.errors.items.size() == 4);
  CHECK_FALSE(loaded.set->has("bad"));
}

TEST_CASE("unknown keys, wrong types and missing fields are reported", "[render]") {
  TempDir dir;
  write_file(dir, "t.yaml",
             "sms:\n"
             "  en: [not, text]\n"  // 2:7
             "  en_GB!: \"x\"\n"    // 3:3 not a locale
             "emial: {}\n"          // 4:1
             "email:\n"
             "  en:\n"  // 6:3 no text
             "    subject: \"S\"\n"
             "    htm: \"<p>\"\n"     // 8:5
             "  sv: \"just text\"\n"  // 9:7
             "  pl:\n"
             "    subject: |\n"  // 11:14 two lines
             "      one\n"
             "      two\n"
             "    text: \"t\"\n"
             "    html: \"<p>\"\n"
             "    html_file: pl.html\n"  // 16:16 both html and html_file
             "sms:\n");                  // 17:1 duplicate
  Loaded loaded = load(dir);
  INFO(loaded.errors.to_string());
  const std::string file = dir.file("t.yaml");
  CHECK(has_error(loaded.errors, file, 2, 7, "sms.en must be text"));
  CHECK(has_error(loaded.errors, file, 3, 3, "is not a locale"));
  CHECK(has_error(loaded.errors, file, 4, 1, "unknown key \"emial\""));
  CHECK(has_error(loaded.errors, file, 6, 3, "email.en has no text"));
  CHECK(has_error(loaded.errors, file, 8, 5, "unknown key \"htm\""));
  CHECK(has_error(loaded.errors, file, 9, 7, "email.sv must be a map"));
  CHECK(has_error(loaded.errors, file, 11, 14, "must be one line"));
  CHECK(has_error(loaded.errors, file, 16, 16, "not both"));
  CHECK(has_error(loaded.errors, file, 17, 1, "duplicate key \"sms\""));
}

TEST_CASE("an empty template file or a folder that is not there is an error", "[render]") {
  TempDir dir;
  write_file(dir, "empty.yaml", "# nothing yet\n");
  Loaded loaded = load(dir);
  REQUIRE(loaded.errors.items.size() == 1);
  CHECK_THAT(loaded.errors.items[0].message, Catch::Contains("template empty is empty"));

  ConfigErrors errors;
  auto set = TemplateSet::load(dir.file("missing"), errors);
  REQUIRE(errors.items.size() == 1);
  CHECK_THAT(errors.items[0].message, Catch::Contains("cannot read the template folder"));
  CHECK(set->names().empty());
}

TEST_CASE("html_file is read beside the template and checked as Mustache", "[render]") {
  TempDir dir;
  write_file(dir, "t.yaml",
             "email:\n"
             "  en:\n"
             "    subject: \"S\"\n"
             "    text: \"T\"\n"
             "    html_file: t.en.html\n"
             "  sv:\n"
             "    subject: \"S\"\n"
             "    text: \"T\"\n"
             "    html_file: missing.html\n");  // 9:16
  write_file(dir, "t.en.html", "<p>Hi {{customer.first_name}} &amp; {{delivery.carrier}}</p>\n");
  write_file(dir, "u.yaml", "email:\n  en:\n    subject: S\n    text: T\n    html_file: u.html\n");
  write_file(dir, "u.html", "<p>\n  {{#x}}\n</p>\n");
  Loaded loaded = load(dir);
  INFO(loaded.errors.to_string());
  CHECK(has_error(loaded.errors, dir.file("t.yaml"), 9, 16, "cannot read"));
  CHECK(has_error(loaded.errors, dir.file("u.html"), 2, 3, "Unclosed section \"x\""));
  CHECK(loaded.errors.items.size() == 2);

  auto event = sample_event();
  event["delivery"]["carrier"] = "A&B";
  RenderResult result = loaded.set->render("t", ChannelKind::Email, event, "en", {});
  REQUIRE(result.message);
  CHECK(result.message->html == "<p>Hi Anna &amp; A&amp;B</p>\n");
}

TEST_CASE("partials follow the template's locale and may include each other", "[render]") {
  TempDir dir;
  write_file(dir, "partials.yaml",
             "sig:\n  en: \"Regards, {{> name}}\"\n  sv: \"Hälsningar, {{> name}}\"\n"
             "name:\n  en: \"{{shop.name}}\"\n");
  write_file(dir, "t.yaml", "sms:\n  en: \"Hi. {{> sig}}\"\n  sv: \"Hej. {{> sig}}\"\n");
  Loaded loaded = load(dir);
  REQUIRE(loaded.errors.empty());
  auto context = sample_context();
  RenderResult sv = loaded.set->render("t", ChannelKind::Sms, sample_event(), "sv-FI", context);
  REQUIRE(sv.message);
  CHECK(sv.message->text == "Hej. Hälsningar, Nordic Wool");
  RenderResult en = loaded.set->render("t", ChannelKind::Sms, sample_event(), "en", context);
  REQUIRE(en.message);
  CHECK(en.message->text == "Hi. Regards, Nordic Wool");
}

TEST_CASE("a partial that includes itself is refused at load", "[render]") {
  TempDir dir;
  write_file(dir, "partials.yaml",
             "a:\n  en: \"{{> b}}\"\n"
             "b:\n  en: \"{{> a}}\"\n"
             "c:\n  en: \"{{> c}}\"\n");
  write_file(dir, "t.yaml", "sms:\n  en: \"{{> a}}\"\n");
  Loaded loaded = load(dir);
  INFO(loaded.errors.to_string());
  const std::string file = dir.file("partials.yaml");
  CHECK(has_error(loaded.errors, file, 1, 1, "partial a includes itself: a -> b -> a"));
  CHECK(has_error(loaded.errors, file, 5, 1, "partial c includes itself: c -> c"));
  CHECK(loaded.errors.items.size() == 2);
  RenderResult result = loaded.set->render("t", ChannelKind::Sms, sample_event(), "en", {});
  CHECK_FALSE(result.message);
}

TEST_CASE("a partial hidden behind changed delimiters still cannot recurse forever", "[render]") {
  TempDir dir;
  write_file(dir, "partials.yaml", "loop:\n  en: \"x{{=<% %>=}}<%> loop%>\"\n");
  write_file(dir, "t.yaml", "sms:\n  en: \"{{> loop}}\"\n");
  Loaded loaded = load(dir);
  REQUIRE(loaded.errors.empty());
  RenderResult result = loaded.set->render("t", ChannelKind::Sms, sample_event(), "en", {});
  CHECK_FALSE(result.message);
  CHECK_THAT(result.error, Catch::Contains("partial expansions"));
}

TEST_CASE("a template parsed once renders each event's own data, and a failure stays a failure",
          "[render]") {
  // Parsed templates are kept per thread (render.cpp): nothing of one render
  // may leak into the next.
  TempDir dir;
  write_file(dir, "partials.yaml", "loop:\n  en: \"x{{=<% %>=}}<%> loop%>\"\n");
  write_file(dir, "t.yaml", "sms:\n  en: \"Hi {{customer.name}}, order {{order_id}}\"\n");
  write_file(dir, "bad.yaml", "sms:\n  en: \"{{> loop}}\"\n");
  Loaded loaded = load(dir);
  REQUIRE(loaded.errors.empty());
  for (int i = 0; i < 3; ++i) {
    auto event = sample_event();
    event["order_id"] = "o-" + std::to_string(i);
    event["customer"]["name"] = i == 1 ? "" : "Customer " + std::to_string(i);
    RenderResult result = loaded.set->render("t", ChannelKind::Sms, event, "en", {});
    REQUIRE(result.message);
    CHECK(result.message->text == (i == 1 ? "Hi , order o-1"
                                          : "Hi Customer " + std::to_string(i) + ", order o-" +
                                                std::to_string(i)));
    RenderResult bad = loaded.set->render("bad", ChannelKind::Sms, event, "en", {});
    CHECK_FALSE(bad.message);
    CHECK_THAT(bad.error, Catch::Contains("partial expansions"));
  }
}

TEST_CASE("template_data adds first name, delivery window and date, shop and locale", "[render]") {
  auto event = sample_event();
  event["shop"] = {{"name", "Spoofed"}};
  auto data = template_data(event, "sv", sample_context());
  CHECK(data["customer"]["first_name"] == "Anna");
  CHECK(data["customer"]["name"] == "Anna Svensson");
  CHECK(data["delivery"]["window"] == "tisdag 24 november mellan 12 och 14");
  CHECK(data["delivery"]["date"] == "tisdag 24 november");
  CHECK(data["shop"] == nlohmann::json{{"name", "Nordic Wool"},
                                       {"phone", "08-123 456 78"},
                                       {"support_email", "hej@nordicwool.example"},
                                       {"url", "https://nordicwool.example"}});
  CHECK(data["locale"] == "sv");
  CHECK(data["order_id"] == "1042");
  CHECK(data["data"]["items"][0]["quantity"] == 2);
}

TEST_CASE("a first name the shop sends is kept", "[render]") {
  auto event = sample_event();
  event["customer"]["name"] = "  Mary Ann Smith";
  CHECK(template_data(event, "en", {})["customer"]["first_name"] == "Mary");
  event["customer"]["first_name"] = "Mary Ann";
  CHECK(template_data(event, "en", {})["customer"]["first_name"] == "Mary Ann");
}

TEST_CASE("an unknown customer time zone falls back to the default time zone", "[render]") {
  auto event = sample_event();
  event["customer"]["timezone"] = "Mars/Olympus_Mons";
  RenderContext context;
  context.default_timezone = "Europe/Stockholm";
  CHECK(template_data(event, "en", context)["delivery"]["window"] ==
        "Tuesday, November 24, between 12:00 PM and 2:00 PM");
  context.default_timezone = "America/New_York";
  CHECK(template_data(event, "en", context)["delivery"]["window"] ==
        "Tuesday, November 24, between 6:00 AM and 8:00 AM");
  event["customer"].erase("timezone");
  CHECK(template_data(event, "en", context)["delivery"]["window"] ==
        "Tuesday, November 24, between 6:00 AM and 8:00 AM");
}

// Delivery windows, with the exact words a native reader expects:
// sv (Språkrådet: "mellan 12 och 14", "kl." before a time that follows a
// date), pl (a weekday after "między" takes the instrumental: "między
// sobotą ... a niedzielą"), en-GB and en (CLDR's own date and time forms).
// Each is checked for a window within one day, one across midnight, one
// days ahead and the night the clocks go back, when a local time happens
// twice and only the zone tells the two apart.
namespace {
std::string window(const char* start, const char* end, const char* locale, const char* zone) {
  return format_delivery_window(start, end, locale, zone);
}
}  // namespace

TEST_CASE("a delivery window in Swedish", "[render][window]") {
  const char* zone = "Europe/Stockholm";
  CHECK(window("2026-11-24T11:00:00Z", "2026-11-24T13:00:00Z", "sv-SE", zone) ==
        "tisdag 24 november mellan 12 och 14");
  CHECK(window("2026-11-24T11:30:00Z", "2026-11-24T13:00:00Z", "sv", zone) ==
        "tisdag 24 november mellan 12:30 och 14:00");
  CHECK(window("2026-12-05T21:00:00Z", "2026-12-06T00:00:00Z", "sv", zone) ==
        "mellan lördag 5 december kl. 22:00 och söndag 6 december kl. 01:00");
  CHECK(window("2026-12-05T21:30:00Z", "2026-12-06T00:00:00Z", "sv", zone) ==
        "mellan lördag 5 december kl. 22:30 och söndag 6 december kl. 01:00");
  CHECK(window("2027-01-04T07:00:00Z", "2027-01-04T09:00:00Z", "sv", zone) ==
        "måndag 4 januari mellan 8 och 10");
  CHECK(window("2026-06-02T10:00:00Z", "2026-06-02T12:00:00Z", "sv", zone) ==
        "tisdag 2 juni mellan 12 och 14");
  // 25 October 2026, 02:30 summer time and 02:30 winter time, an hour apart.
  CHECK(window("2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "sv", zone) ==
        "mellan söndag 25 oktober kl. 02:30 CEST och söndag 25 oktober kl. 02:30 CET");
  CHECK(window("2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z", "sv", zone) ==
        "mellan söndag 25 oktober kl. 02:00 CEST och söndag 25 oktober kl. 03:00 CET");
  // Across the change, but neither end is a time that happens twice.
  CHECK(window("2026-10-24T23:00:00Z", "2026-10-25T03:00:00Z", "sv", zone) ==
        "söndag 25 oktober mellan 1 och 4");
}

TEST_CASE("a delivery window in Polish", "[render][window]") {
  const char* zone = "Europe/Warsaw";
  CHECK(window("2026-11-24T11:00:00Z", "2026-11-24T13:00:00Z", "pl-PL", zone) ==
        "wtorek, 24 listopada, między 12:00 a 14:00");
  CHECK(window("2026-11-24T07:15:00Z", "2026-11-24T09:45:00Z", "pl", zone) ==
        "wtorek, 24 listopada, między 8:15 a 10:45");
  CHECK(window("2026-12-05T21:00:00Z", "2026-12-06T00:00:00Z", "pl", zone) ==
        "między sobotą 5 grudnia 22:00 a niedzielą 6 grudnia 01:00");
  // Every weekday in the instrumental.
  CHECK(window("2026-11-29T22:00:00Z", "2026-11-30T06:00:00Z", "pl", zone) ==
        "między niedzielą 29 listopada 23:00 a poniedziałkiem 30 listopada 07:00");
  CHECK(window("2026-12-01T22:00:00Z", "2026-12-02T06:00:00Z", "pl", zone) ==
        "między wtorkiem 1 grudnia 23:00 a środą 2 grudnia 07:00");
  CHECK(window("2026-12-03T22:00:00Z", "2026-12-04T06:00:00Z", "pl", zone) ==
        "między czwartkiem 3 grudnia 23:00 a piątkiem 4 grudnia 07:00");
  CHECK(window("2027-01-04T07:00:00Z", "2027-01-04T09:00:00Z", "pl", zone) ==
        "poniedziałek, 4 stycznia, między 8:00 a 10:00");
  CHECK(window("2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "pl", zone) ==
        "między niedzielą 25 października 02:30 CEST a niedzielą 25 października 02:30 CET");
}

TEST_CASE("a delivery window in British and American English", "[render][window]") {
  const char* zone = "Europe/London";
  CHECK(window("2026-11-24T12:00:00Z", "2026-11-24T14:00:00Z", "en-GB", zone) ==
        "Tuesday, 24 November, between 12:00 and 14:00");
  CHECK(window("2026-12-05T22:00:00Z", "2026-12-06T01:00:00Z", "en-GB", zone) ==
        "between Saturday, 5 December at 22:00 and Sunday, 6 December at 01:00");
  CHECK(window("2027-01-04T08:00:00Z", "2027-01-04T10:00:00Z", "en-GB", zone) ==
        "Monday, 4 January, between 08:00 and 10:00");
  // 25 October 2026 in London: 01:30 BST, then 01:30 GMT.
  CHECK(window("2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "en-GB", zone) ==
        "between Sunday, 25 October at 01:30 BST and Sunday, 25 October at 01:30 GMT");
  CHECK(window("2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "en-GB", "Europe/Stockholm") ==
        "between Sunday, 25 October at 02:30 CEST and Sunday, 25 October at 02:30 CET");
  // Plain "en" is CLDR's American English.
  CHECK(window("2026-11-24T11:00:00Z", "2026-11-24T13:00:00Z", "en", "Europe/Stockholm") ==
        "Tuesday, November 24, between 12:00 PM and 2:00 PM");
  CHECK(window("2026-12-05T21:00:00Z", "2026-12-06T00:00:00Z", "en", "Europe/Stockholm") ==
        "between Saturday, December 5 at 10:00 PM and Sunday, December 6 at 1:00 AM");
}

TEST_CASE("a window given with UTC offsets is shown in the customer's zone", "[render][window]") {
  CHECK(window("2026-11-24T12:00:00+01:00", "2026-11-24T14:00:00+01:00", "sv",
               "Europe/Stockholm") == "tisdag 24 november mellan 12 och 14");
  CHECK(window("2026-11-24T12:00:00+01:00", "2026-11-24T14:00:00+01:00", "sv", "Europe/London") ==
        "tisdag 24 november mellan 11 och 13");
}

TEST_CASE("other locales get ICU's own interval format", "[render][window]") {
  CHECK(window("2026-11-24T11:00:00Z", "2026-11-24T13:00:00Z", "de", "Europe/Berlin") ==
        "Dienstag, 24. November, 12:00–14:00 Uhr");
  // ICU's own pattern names the zone once; on the night a time happens
  // twice both ends carry theirs.
  std::string night = window("2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "de", "Europe/Berlin");
  CHECK_THAT(night, Catch::Contains("02:30 MESZ"));
  CHECK_THAT(night, Catch::Contains("02:30 MEZ"));
}

TEST_CASE("a window that does not parse, is empty or runs backwards has no words",
          "[render][window]") {
  const char* zone = "Europe/Stockholm";
  CHECK(window("tomorrow", "2026-11-24T13:00:00Z", "sv", zone).empty());
  CHECK(window("2026-11-24T13:00:00Z", "", "sv", zone).empty());
  CHECK(window("2026-11-24T13:00:00Z", "2026-11-24T11:00:00Z", "sv", zone).empty());
  CHECK(window("2026-11-24T13:00:00Z", "2026-11-24T13:00:00Z", "sv", zone).empty());
  auto event = sample_event();
  event["delivery"]["window_start"] = "soon";
  auto data = template_data(event, "sv", {});
  CHECK_FALSE(data["delivery"].contains("window"));
  CHECK_FALSE(data["delivery"].contains("date"));
}

TEST_CASE("dates and windows follow the customer's regional locale", "[render][window]") {
  // The template is the "en" one; the date is written as in the UK.
  auto event = sample_event();
  event["customer"]["timezone"] = "Europe/London";
  RenderResult result =
      bundled()->render("out_for_delivery", ChannelKind::Sms, event, "en-GB", sample_context());
  REQUIRE(result.message);
  CHECK(result.message->locale == "en");
  CHECK(result.message->text ==
        "Your order 1042 is out for delivery. Expected: Tuesday, 24 November, between 11:00 and "
        "13:00. Follow it: https://tracking.example/XYZ - Nordic Wool");
}

TEST_CASE("the bundled SMS carry the window's hours, across midnight too", "[render][window]") {
  auto event = sample_event();
  event["delivery"]["window_start"] = "2026-12-05T21:00:00Z";
  event["delivery"]["window_end"] = "2026-12-06T00:00:00Z";
  auto text = [&](const char* name, const char* locale) {
    RenderResult result =
        bundled()->render(name, ChannelKind::Sms, event, locale, sample_context());
    INFO(result.error);
    REQUIRE(result.message);
    return result.message->text;
  };
  CHECK(text("shipped", "sv") ==
        "Nu är din order 1042 skickad med PostNord! Beräknad leverans: mellan lördag 5 december "
        "kl. 22:00 och söndag 6 december kl. 01:00. Följ paketet: https://tracking.example/XYZ "
        "/Nordic Wool");
  CHECK(text("out_for_delivery", "sv") ==
        "Hej Anna! Din order 1042 körs ut till dig. Beräknad leverans: mellan lördag 5 december "
        "kl. 22:00 och söndag 6 december kl. 01:00. Följ leveransen: https://tracking.example/XYZ "
        "/Nordic Wool");
  CHECK(text("shipped", "pl") ==
        "Nordic Wool: Zamówienie nr 1042 jest już w drodze (PostNord). Planowana dostawa: między "
        "sobotą 5 grudnia 22:00 a niedzielą 6 grudnia 01:00. Śledź przesyłkę: "
        "https://tracking.example/XYZ");
  CHECK(text("out_for_delivery", "en-GB") ==
        "Your order 1042 is out for delivery. Expected: between Saturday, 5 December at 22:00 and "
        "Sunday, 6 December at 01:00. Follow it: https://tracking.example/XYZ - Nordic Wool");
  // The window days ahead of the event is named with its day, never "today".
  event["delivery"]["window_start"] = "2026-11-27T11:00:00Z";
  event["delivery"]["window_end"] = "2026-11-27T13:00:00Z";
  CHECK(text("out_for_delivery", "en-GB") ==
        "Your order 1042 is out for delivery. Expected: Friday, 27 November, between 12:00 and "
        "14:00. Follow it: https://tracking.example/XYZ - Nordic Wool");
  CHECK(text("shipped", "en") ==
        "Your order 1042 is on its way with PostNord! Expected delivery: Friday, November 27, "
        "between 12:00 PM and 2:00 PM. Track it here: https://tracking.example/XYZ - Nordic Wool");
}

TEST_CASE("the bundled e-mails carry the window's hours", "[render][window]") {
  for (const auto& [locale, phrase] : std::vector<std::pair<std::string, std::string>>{
           {"sv", "tisdag 24 november mellan 12 och 14"},
           {"pl", "wtorek, 24 listopada, między 12:00 a 14:00"},
           {"en-GB", "Tuesday, 24 November, between 12:00 and 14:00"}}) {
    for (const char* name : {"shipped", "out_for_delivery"}) {
      RenderResult result =
          bundled()->render(name, ChannelKind::Email, sample_event(), locale, sample_context());
      INFO(name << " " << locale << " " << result.error);
      REQUIRE(result.message);
      CHECK_THAT(result.message->text, Catch::Contains(phrase));
      CHECK_THAT(result.message->html, Catch::Contains(phrase));
    }
  }
}

TEST_CASE("null, empty and missing values skip their sections", "[render]") {
  TempDir dir;
  write_file(dir, "t.yaml",
             "sms:\n  en: \"[{{#delivery.tracking_url}}url{{/delivery.tracking_url}}"
             "{{#data.gift}}gift{{/data.gift}}{{#data.vip}}vip{{/data.vip}}"
             "{{#data.none}}none{{/data.none}}{{data.count}}/{{data.price}}]\"\n");
  Loaded loaded = load(dir);
  REQUIRE(loaded.errors.empty());
  auto event = sample_event();
  event["delivery"]["tracking_url"] = "";
  event["data"]["gift"] = nullptr;
  event["data"]["vip"] = true;
  event["data"]["count"] = 3;
  event["data"]["price"] = 9.5;
  RenderResult result = loaded.set->render("t", ChannelKind::Sms, event, "en", {});
  REQUIRE(result.message);
  CHECK(result.message->text == "[vip3/9.5]");
}

TEST_CASE("one template set renders from several threads at once", "[render]") {
  auto set = bundled();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const char* locales[] = {"sv", "en", "pl", "sv-SE"};
      for (int i = 0; i < 25; ++i) {
        RenderResult result = set->render("out_for_delivery", ChannelKind::Email, sample_event(),
                                          locales[(t + i) % 4], sample_context());
        if (!result.message) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failures == 0);
}

// ---------------------------------------------------------------- check

TEST_CASE("the bundled templates pass the check, strict or with data undeclared",
          "[render][check]") {
  Loaded loaded{bundled(), {}};
  Config config = check_config();
  config.default_locale = "sv-SE";
  // Every data field and optional shop key the bundled journey uses (the
  // example config declares the same).
  config.data_fields = std::vector<std::string>{
      "total",         "currency",     "items.name",        "items.quantity",
      "items.price",   "vat",          "payment",           "invoice_number",
      "invoice_due",   "payment_reference", "invoice_url",  "discount_code",
      "refund_amount"};
  for (const auto& [key, value] : std::map<std::string, std::string>{
           {"returns_url", "https://nordicwool.example/returns"},
           {"dispatch_days", "1-2"},
           {"delivery_days", "2-4"},
           {"bank_account", "bankgiro 123-4567"},
           {"returns_days", "30"},
           {"unsubscribe_url", "https://nordicwool.example/unsubscribe"}}) {
    config.shop.fields[key] = value;
  }
  Checked strict = check(loaded, config);
  INFO(strict.text());
  CHECK(strict.errors.empty());
  CHECK(strict.warnings.empty());

  // Without data: and without the optional shop key: said, not refused.
  config.data_fields.reset();
  config.shop.fields.erase("returns_url");
  config.default_locale = "en";
  Checked loose = check(loaded, config);
  INFO(loose.text());
  CHECK(loose.errors.empty());
  CHECK(loose.text().find("data: is not declared, so the templates' data.currency, "
                          "data.discount_code, data.invoice_due") != std::string::npos);
  CHECK(loose.text().find("the config's shop: block has no returns_url, so this section is never "
                          "shown") != std::string::npos);
}

TEST_CASE("a name no event has is an error at its line and column, with a hint",
          "[render][check]") {
  TempDir dir;
  const std::string sms = "  en: \"Hi {{customer.frist_name}}!\"";
  const std::string section = "      {{#delivery.windw}}on {{delivery.window}}{{/delivery.windw}}";
  const std::string last =
      "      {{shop.nme}} {{data.totl}} {{status}} {{locale}} {{delivery.date}}";
  write_file(dir, "packed.yaml",
             "sms:\n" + sms + "\n" +
                 "email:\n"
                 "  en:\n"
                 "    subject: \"Order {{order_id}}\"\n"
                 "    text: |\n"
                 "      Hello {{customer.first_name}},\n" +
                 section + "\n" + last + "\n");
  Loaded loaded = load(dir);
  REQUIRE(loaded.errors.empty());
  Checked checked = check(loaded, check_config());
  INFO(checked.text());
  const std::string file = dir.file("packed.yaml");
  CHECK(has_error(checked.errors, file, 2, column_of(sms, "{{customer"),
                  "template packed, sms.en: {{customer.frist_name}}: no event has "
                  "customer.frist_name (did you mean customer.first_name?)"));
  CHECK(has_error(checked.errors, file, 8, 7,
                  "template packed, email.en.text: {{#delivery.windw}}: no event has "
                  "delivery.windw (did you mean delivery.window?)"));
  CHECK(has_error(checked.errors, file, 9, 7,
                  "{{shop.nme}}: the config's shop: block has no nme (did you mean shop.name?)"));
  CHECK(has_error(checked.errors, file, 9, column_of(last, "{{data.totl"),
                  "{{data.totl}}: data.totl is not declared in the config's data: list (did you "
                  "mean data.total?)"));
  CHECK(checked.errors.items.size() == 4);
  CHECK(checked.warnings.empty());
}

TEST_CASE("a name in a section is looked up in the section's value, then outwards",
          "[render][check]") {
  TempDir dir;
  const std::vector<std::string> lines{
      "sms:",
      "  en: |",
      "    {{#data.items}}{{name}} x{{quantity}}{{#quantity}}{{.}}{{/quantity}}{{/data.items}}",
      "    {{#customer}}{{first_name}} {{order_id}}{{/customer}}",
      "    {{.}}",
      "    {{^data.items}}{{name}}{{/data.items}}",
      "    {{#data.items}}{{nmae}}{{/data.items}}",
  };
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  write_file(dir, "placed.yaml", text);
  Loaded loaded = load(dir);
  REQUIRE(loaded.errors.empty());
  Checked checked = check(loaded, check_config());
  INFO(checked.text());
  const std::string file = dir.file("placed.yaml");
  CHECK(has_error(checked.errors, file, 5, 5, "{{.}}: {{.}} outside a section"));
  // An inverted section shows when there is no value: nothing to look into.
  CHECK(has_error(checked.errors, file, 6, column_of(lines[5], "{{name"),
                  "{{name}}: no event has name"));
  CHECK(has_error(checked.errors, file, 7, column_of(lines[6], "{{nmae"),
                  "{{nmae}}: no field nmae in data.items, and no event has nmae (did you mean "
                  "name?)"));
  CHECK(checked.errors.items.size() == 3);
}

TEST_CASE("an unset shop key is an error as a value and a warning as a section",
          "[render][check]") {
  TempDir dir;
  const std::string sms =
      "  en: \"{{#shop.returns_url}}{{shop.returns_url}}{{/shop.returns_url}}"
      "{{^shop.fax}}no fax{{/shop.fax}} {{shop.returns_url}}\"";
  write_file(dir, "delivered.yaml", "sms:\n" + sms + "\n");
  Loaded loaded = load(dir);
  REQUIRE(loaded.errors.empty());
  Checked checked = check(loaded, check_config());
  INFO(checked.text());
  const std::string file = dir.file("delivered.yaml");
  CHECK(has_problem(checked.warnings, file, 2, column_of(sms, "{{#shop"),
                    "the config's shop: block has no returns_url, so this section is never shown"));
  CHECK(has_problem(checked.warnings, file, 2, column_of(sms, "{{^shop"),
                    "the config's shop: block has no fax, so this section is always shown"));
  CHECK(has_error(checked.errors, file, 2, column_of(sms, " {{shop.returns_url") + 1,
                  "{{shop.returns_url}}: the config's shop: block has no returns_url"));
  CHECK(checked.errors.items.size() == 1);
  CHECK(checked.warnings.size() == 2);
}

TEST_CASE("data.* is unchecked, with one warning, until the config declares data:",
          "[render][check]") {
  TempDir dir;
  write_file(dir, "placed.yaml",
             "sms:\n  en: \"{{data.note}} {{#data.lines}}{{sku}}{{order_id}}{{/data.lines}}\"\n");
  Loaded loaded = load(dir);
  REQUIRE(loaded.errors.empty());
  Config config = check_config();
  config.data_fields.reset();
  Checked loose = check(loaded, config);
  INFO(loose.text());
  CHECK(loose.errors.empty());
  REQUIRE(loose.warnings.size() == 1);
  CHECK(loose.warnings[0].file == "/etc/tack/tack.yaml");
  // order_id is the event's own, even inside a section that is not checked.
  CHECK(loose.warnings[0].message.find("data.lines, data.lines.sku, data.note are not checked") !=
        std::string::npos);

  config.data_fields = std::vector<std::string>{"note", "lines.sku"};
  Checked strict = check(loaded, config);
  INFO(strict.text());
  CHECK(strict.errors.empty());
  CHECK(strict.warnings.empty());
  config.data_fields = std::vector<std::string>{};
  CHECK(check(loaded, config).errors.items.size() == 3);  // note, lines, sku
}

TEST_CASE("every template needs text for the default locale and for the shop's locales",
          "[render][check]") {
  TempDir dir;
  write_file(dir, "a.yaml",
             "sms:\n  en: \"Order {{order_id}}\"\n  sv: \"Order {{order_id}}\"\n"
             "email:\n  en:\n    subject: \"Order {{order_id}}\"\n    text: \"Hi\"\n");
  write_file(dir, "b.yaml", "sms:\n  sv-SE: \"Order {{order_id}}\"\n");
  Loaded loaded = load(dir);
  REQUIRE(loaded.errors.empty());
  Config config = check_config();
  config.default_locale = "sv-SE";
  Checked checked = check(loaded, config);
  INFO(checked.text());
  // a's e-mail has English only: a customer in Swedish, or in German, gets nothing.
  CHECK(has_error(checked.errors, dir.file("a.yaml"), 4, 1,
                  "template a: email has no text for the default locale sv-SE (locale.default)"));
  // Not declared: the shop's locales are those its templates have (en, sv, sv-SE);
  // b has no English.
  CHECK(has_error(checked.errors, dir.file("b.yaml"), 1, 1,
                  "template b: sms has no text for en (other templates have it; "
                  "locale.supported lists the shop's locales)"));
  // A customer in plain sv gets b's sv-SE text by the default locale: fine.
  CHECK(checked.errors.items.size() == 2);

  config.supported_locales = {"sv-SE", "pl"};
  checked = check(loaded, config);
  INFO(checked.text());
  CHECK(has_error(checked.errors, dir.file("a.yaml"), 1, 1,
                  "template a: sms has no text for pl (locale.supported)"));
  CHECK(has_error(checked.errors, dir.file("a.yaml"), 4, 1,
                  "template a: email has no text for pl (locale.supported)"));
  CHECK(has_error(checked.errors, dir.file("b.yaml"), 1, 1,
                  "template b: sms has no text for pl (locale.supported)"));
  CHECK(checked.errors.items.size() == 4);  // and a's e-mail for sv-SE, as above
}

TEST_CASE("partials are checked where they are included, in the including text's locale",
          "[render][check]") {
  TempDir dir;
  const std::string partial = "  en: \"{{shop.name}}: {{name}}\"";
  write_file(dir, "partials.yaml", "sig:\n" + partial + "\n");
  const std::string sv = "  sv: \"Hej {{> sig}}\"";
  write_file(dir, "t.yaml",
             "sms:\n  en: \"{{#data.items}}{{> sig}}{{/data.items}} {{> sig}}\"\n" + sv + "\n");
  Loaded loaded = load(dir);
  REQUIRE(loaded.errors.empty());
  Config config = check_config();
  config.default_locale = "sv";
  Checked checked = check(loaded, config);
  INFO(checked.text());
  // In the list, name is the item's; outside it, no event has it.
  CHECK(has_error(checked.errors, dir.file("partials.yaml"), 2, column_of(partial, "{{name"),
                  "partial sig.en: {{name}}: no event has name"));
  CHECK(has_error(checked.errors, dir.file("t.yaml"), 3, column_of(sv, "{{>"),
                  "template t, sms.sv: {{> sig}}: partial sig has no text for sv or the default "
                  "locale sv"));
  CHECK(checked.errors.items.size() == 2);
}

TEST_CASE("a rule sending a template on a channel kind it has no text for is an error",
          "[render][check]") {
  TempDir dir;
  write_file(dir, "t.yaml", "sms:\n  en: \"Order {{order_id}}\"\n");
  Loaded loaded = load(dir);
  REQUIRE(loaded.errors.empty());
  Config config = check_config();
  config.channels["sms"] = ChannelConfig{"sms", ChannelKind::Sms, {"g"}};
  config.channels["mail"] = ChannelConfig{"mail", ChannelKind::Email, {"g"}};
  RuleConfig rule;
  rule.name = "r";
  rule.template_name = "t";
  rule.channels = {"sms"};
  rule.fallback_channel = "mail";
  config.rules.push_back(rule);
  Checked checked = check(loaded, config);
  INFO(checked.text());
  REQUIRE(checked.errors.items.size() == 1);
  CHECK(checked.errors.items[0].to_string() ==
        dir.file("t.yaml") + ": template t has no email, but rule r sends it on channel mail");
}

// delivery.day and delivery.when: the window's day said relative to the
// moment of rendering (RenderContext::now_ms), in the customer's zone and
// language, through ICU: today and tomorrow from ICU's relative day names,
// two to six days ahead the weekday, further (or past, or with no now) the
// absolute forms delivery.date and delivery.window.
namespace {
nlohmann::json relative(const char* start, const char* end, const char* locale, const char* zone,
                        const char* now) {
  auto event = sample_event();
  event["customer"]["timezone"] = zone;
  event["delivery"]["window_start"] = start;
  event["delivery"]["window_end"] = end;
  RenderContext context = sample_context();
  if (now) {
    auto now_ms = parse_rfc3339_ms(now);
    REQUIRE(now_ms);
    context.now_ms = *now_ms;
  }
  return template_data(event, locale, context)["delivery"];
}
}  // namespace

TEST_CASE("a delivery day relative to now in Swedish", "[render][relative]") {
  const char* zone = "Europe/Stockholm";
  // Tuesday 24 November 2026, 12 to 14 in Stockholm.
  const char* start = "2026-11-24T11:00:00Z";
  const char* end = "2026-11-24T13:00:00Z";
  auto tomorrow = relative(start, end, "sv", zone, "2026-11-23T09:00:00Z");
  CHECK(tomorrow["day"] == "i morgon");
  CHECK(tomorrow["when"] == "i morgon mellan 12 och 14");
  auto today = relative(start, end, "sv-SE", zone, "2026-11-24T06:00:00Z");
  CHECK(today["day"] == "i dag");
  CHECK(today["when"] == "i dag mellan 12 och 14");
  // Days are the customer's: 23:59 on Monday is the day before, midnight
  // (23:00Z) the same day.
  CHECK(relative(start, end, "sv", zone, "2026-11-23T22:59:59Z")["day"] == "i morgon");
  CHECK(relative(start, end, "sv", zone, "2026-11-23T23:00:00Z")["day"] == "i dag");
  auto friday = relative(start, end, "sv", zone, "2026-11-20T09:00:00Z");
  CHECK(friday["day"] == "på tisdag");
  CHECK(friday["when"] == "på tisdag mellan 12 och 14");
  auto half_hours = relative("2026-11-24T11:30:00Z", end, "sv", zone, "2026-11-18T09:00:00Z");
  CHECK(half_hours["when"] == "på tisdag mellan 12:30 och 14:00");
  // A week ahead, and a window already past, are named by their date.
  for (const char* now : {"2026-11-17T09:00:00Z", "2026-11-25T09:00:00Z"}) {
    auto far = relative(start, end, "sv", zone, now);
    CHECK(far["day"] == "tisdag 24 november");
    CHECK(far["when"] == "tisdag 24 november mellan 12 och 14");
  }
}

TEST_CASE("a delivery day relative to now in Polish", "[render][relative]") {
  const char* zone = "Europe/Warsaw";
  auto tomorrow =
      relative("2026-11-24T11:00:00Z", "2026-11-24T13:00:00Z", "pl", zone, "2026-11-23T09:00:00Z");
  CHECK(tomorrow["day"] == "jutro");
  CHECK(tomorrow["when"] == "jutro między 12:00 a 14:00");
  CHECK(relative("2026-11-24T11:00:00Z", "2026-11-24T13:00:00Z", "pl-PL", zone,
                 "2026-11-24T05:00:00Z")["day"] == "dzisiaj");
  auto friday =
      relative("2026-11-27T11:00:00Z", "2026-11-27T13:00:00Z", "pl", zone, "2026-11-24T09:00:00Z");
  CHECK(friday["day"] == "w piątek");
  CHECK(friday["when"] == "w piątek między 12:00 a 14:00");
  // After "w" the weekday takes the accusative, and "w" becomes "we" before
  // "wtorek".
  const std::pair<const char*, const char*> days[] = {
      {"2026-11-29T11:00:00Z", "w niedzielę"}, {"2026-11-30T11:00:00Z", "w poniedziałek"},
      {"2026-12-01T11:00:00Z", "we wtorek"},   {"2026-12-02T11:00:00Z", "w środę"},
      {"2026-11-28T11:00:00Z", "w sobotę"}};
  for (const auto& [start, day] : days) {
    std::string end = std::string(start).replace(11, 2, "13");
    CHECK(relative(start, end.c_str(), "pl", zone, "2026-11-26T09:00:00Z")["day"] == day);
  }
  CHECK(relative("2026-12-03T11:00:00Z", "2026-12-03T13:00:00Z", "pl", zone,
                 "2026-11-30T09:00:00Z")["day"] == "w czwartek");
  // A week ahead is the date again.
  CHECK(relative("2026-12-03T11:00:00Z", "2026-12-03T13:00:00Z", "pl", zone,
                 "2026-11-26T09:00:00Z")["day"] == "czwartek, 3 grudnia");
}

TEST_CASE("a delivery day relative to now in British and American English", "[render][relative]") {
  auto tomorrow = relative("2026-11-24T12:00:00Z", "2026-11-24T14:00:00Z", "en-GB", "Europe/London",
                           "2026-11-23T09:00:00Z");
  CHECK(tomorrow["day"] == "tomorrow");
  CHECK(tomorrow["when"] == "tomorrow between 12:00 and 14:00");
  CHECK(relative("2026-11-24T12:00:00Z", "2026-11-24T14:00:00Z", "en-GB", "Europe/London",
                 "2026-11-24T00:00:00Z")["when"] == "today between 12:00 and 14:00");
  auto friday = relative("2026-11-27T12:00:00Z", "2026-11-27T14:00:00Z", "en-GB", "Europe/London",
                         "2026-11-24T09:00:00Z");
  CHECK(friday["day"] == "on Friday");
  CHECK(friday["when"] == "on Friday between 12:00 and 14:00");
  auto us = relative("2026-11-27T11:00:00Z", "2026-11-27T13:00:00Z", "en", "Europe/Stockholm",
                     "2026-11-26T09:00:00Z");
  CHECK(us["day"] == "tomorrow");
  CHECK(us["when"] == "tomorrow between 12:00 PM and 2:00 PM");
  CHECK(relative("2026-11-27T11:00:00Z", "2026-11-27T13:00:00Z", "en", "Europe/Stockholm",
                 "2026-11-23T09:00:00Z")["when"] == "on Friday between 12:00 PM and 2:00 PM");
}

TEST_CASE("a relative delivery day on the days the clocks change", "[render][relative]") {
  // Sunday 29 March 2026 (CEST from 03:00), 12 to 14 local is 10:00Z-12:00Z.
  const char* zone = "Europe/Stockholm";
  CHECK(relative("2026-03-29T10:00:00Z", "2026-03-29T12:00:00Z", "sv", zone,
                 "2026-03-28T12:00:00Z")["when"] == "i morgon mellan 12 och 14");
  // 00:30 CET on the Sunday is already that day.
  CHECK(relative("2026-03-29T10:00:00Z", "2026-03-29T12:00:00Z", "pl", "Europe/Warsaw",
                 "2026-03-28T23:30:00Z")["when"] == "dzisiaj między 12:00 a 14:00");
  // Sunday 25 October 2026 (CET from 03:00 CEST), 12 to 14 is 11:00Z-13:00Z.
  CHECK(relative("2026-10-25T11:00:00Z", "2026-10-25T13:00:00Z", "sv", zone,
                 "2026-10-24T22:30:00Z")["when"] == "i dag mellan 12 och 14");
  // From Saturday in summer time to Monday in winter time: two days.
  CHECK(relative("2026-10-26T11:00:00Z", "2026-10-26T13:00:00Z", "sv", zone,
                 "2026-10-23T22:30:00Z")["when"] == "på måndag mellan 12 och 14");
  // A window in the hour that happens twice keeps its zones: the hours alone
  // would not tell the two 02:30s apart.
  auto twice =
      relative("2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "sv", zone, "2026-10-24T12:00:00Z");
  CHECK(twice["day"] == "i morgon");
  CHECK(twice["when"] ==
        "mellan söndag 25 oktober kl. 02:30 CEST och söndag 25 oktober kl. 02:30 CET");
}

TEST_CASE("a window across days is said whole, with its relative day", "[render][relative]") {
  auto night = relative("2026-12-05T21:00:00Z", "2026-12-06T00:00:00Z", "sv", "Europe/Stockholm",
                        "2026-12-04T12:00:00Z");
  CHECK(night["day"] == "i morgon");
  CHECK(night["when"] == "mellan lördag 5 december kl. 22:00 och söndag 6 december kl. 01:00");
}

TEST_CASE("without a now, delivery.day and delivery.when are the absolute date and window",
          "[render][relative]") {
  auto data =
      relative("2026-11-24T11:00:00Z", "2026-11-24T13:00:00Z", "sv", "Europe/Stockholm", nullptr);
  CHECK(data["day"] == "tisdag 24 november");
  CHECK(data["when"] == "tisdag 24 november mellan 12 och 14");
  CHECK(data["day"] == data["date"]);
  CHECK(data["when"] == data["window"]);
  // No window, or one that does not parse: no day either.
  auto event = sample_event();
  event["delivery"]["window_start"] = "soon";
  RenderContext context = sample_context();
  context.now_ms = *parse_rfc3339_ms("2026-11-23T09:00:00Z");
  auto none = template_data(event, "sv", context)["delivery"];
  CHECK_FALSE(none.contains("day"));
  CHECK_FALSE(none.contains("when"));
  // A start alone still has its day; without an end there are no hours.
  event["delivery"]["window_start"] = "2026-11-24T11:00:00Z";
  event["delivery"].erase("window_end");
  auto start_only = template_data(event, "sv", context)["delivery"];
  CHECK(start_only["day"] == "i morgon");
  CHECK_FALSE(start_only.contains("when"));
}

TEST_CASE("other languages get ICU's relative day and its weekday name", "[render][relative]") {
  const char* zone = "Europe/Berlin";
  auto tomorrow =
      relative("2026-11-24T11:00:00Z", "2026-11-24T13:00:00Z", "de", zone, "2026-11-23T09:00:00Z");
  CHECK(tomorrow["day"] == "morgen");
  CHECK_THAT(tomorrow["when"].get<std::string>(),
             Catch::StartsWith("morgen ") && Catch::Contains("12:00") && Catch::Contains("14:00"));
  CHECK(relative("2026-11-24T11:00:00Z", "2026-11-24T13:00:00Z", "de", zone,
                 "2026-11-20T09:00:00Z")["day"] == "Dienstag");
}

TEST_CASE("absurd now values fall back to the absolute forms without throwing",
          "[render][relative]") {
  auto event = sample_event();
  for (std::int64_t now : {std::numeric_limits<std::int64_t>::min(), std::int64_t{-1},
                           std::numeric_limits<std::int64_t>::max()}) {
    RenderContext context = sample_context();
    context.now_ms = now;
    nlohmann::json data;
    CHECK_NOTHROW(data = template_data(event, "sv", context));
    CHECK(data["delivery"]["day"] == "tisdag 24 november");
    CHECK(data["delivery"]["when"] == "tisdag 24 november mellan 12 och 14");
  }
}

TEST_CASE("templates may use delivery.day and delivery.when, rendered with the context's now",
          "[render][relative][check]") {
  TempDir dir;
  write_file(
      dir, "late.yaml",
      "sms:\n"
      "  sv: \"Leverans {{delivery.when}} ({{#delivery.day}}{{delivery.day}}{{/delivery.day}})\"\n"
      "  en: \"Delivery {{delivery.when}}\"\n");
  Loaded loaded = load(dir);
  REQUIRE(loaded.errors.empty());
  Config config = check_config();
  config.default_locale = "sv";
  Checked checked = check(loaded, config);
  INFO(checked.text());
  CHECK(checked.errors.empty());
  RenderContext context = sample_context();
  context.now_ms = *parse_rfc3339_ms("2026-11-23T09:00:00Z");
  RenderResult result = loaded.set->render("late", ChannelKind::Sms, sample_event(), "sv", context);
  INFO(result.error);
  REQUIRE(result.message);
  CHECK(result.message->text == "Leverans i morgon mellan 12 och 14 (i morgon)");
  // The same event rendered later says it differently: nothing is cached.
  context.now_ms = *parse_rfc3339_ms("2026-11-24T09:00:00Z");
  result = loaded.set->render("late", ChannelKind::Sms, sample_event(), "en-GB", context);
  REQUIRE(result.message);
  CHECK(result.message->text == "Delivery today between 12:00 and 14:00");
}


TEST_CASE("a locker's deadline is said as people say it, in the customer's zone and language",
          "[render][time]") {
  nlohmann::json event = {{"order_id", "1042"},
                          {"customer", {{"timezone", "Europe/Stockholm"}}},
                          {"delivery", {{"pickup_deadline", "2026-11-28T08:15:00Z"}}}};
  RenderContext context;
  auto sv = template_data(event, "sv", context);
  CHECK(sv["delivery"]["pickup_by"] == "lördag 28 november kl. 09:15");
  auto pl = template_data(event, "pl", context);
  CHECK_THAT(pl["delivery"]["pickup_by"].get<std::string>(), Catch::Contains("28 listopada"));
  CHECK_THAT(pl["delivery"]["pickup_by"].get<std::string>(), Catch::Contains("09:15"));
  event["delivery"]["pickup_deadline"] = "soon";
  CHECK_FALSE(template_data(event, "sv", context)["delivery"].contains("pickup_by"));
}

}  // namespace tack
