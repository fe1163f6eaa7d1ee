// Tests for daemon/lint.cpp: each provider mistake `tackd check` warns
// about, at the position of the key that makes it, and nothing for a
// config without them.
#include "lint.hpp"

#include <catch2/catch.hpp>

#include "config.hpp"

using namespace tack;

namespace {

// Last, so that the lines above keep their numbers.
const std::string kTemplates = "templates:\n  dir: " TACK_SOURCE_DIR "/templates\n";

Config loaded(const std::string& gateways, const std::string& channels = "") {
  const std::string text = "store:\n  path: tack.db\ngateways:\n" + gateways +
                           (channels.empty() ? "" : "channels:\n" + channels) + kTemplates;
  auto load = load_config_text(text, "/etc/tack/tack.yaml");
  INFO(load.errors.to_string());
  REQUIRE(load.config);
  return *load.config;
}

std::string all(const std::vector<ConfigError>& warnings) {
  std::string out;
  for (const auto& w : warnings) out += w.to_string() + "\n";
  return out;
}

const std::string kGood = R"(  - name: elks
    type: http
    url: https://api.46elks.com/a1/sms
    form:
      from: Exempel
      to: "{{to}}"
      message: "{{text}}"
    username: u123
    password: secret
)";

}  // namespace

TEST_CASE("a sound provider config has no warnings", "[lint]") {
  auto config = loaded(kGood + R"(  - name: local
    type: http
    url: http://127.0.0.1:8080/send?from=4670123456789
    json: {to: "{{to}}", body: "{{{ text }}}"}
    bearer_token: t0k3n
  - name: mail
    type: smtp
    url: smtp://localhost:25
    from: shop@example.se
    tls: none
    username: tack
    password: secret
)");
  INFO(all(lint_gateways(config)));
  CHECK(lint_gateways(config).empty());
}

TEST_CASE("a gateway that never sends the text is warned about at its body key", "[lint]") {
  auto config = loaded(R"(  - name: elks
    type: http
    url: https://api.46elks.com/a1/sms
    form:
      from: Exempel
      to: "{{to}}"
      message: "{{texts}}"
)");
  auto warnings = lint_gateways(config);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].to_string() ==
        "/etc/tack/tack.yaml:7:5: gateway \"elks\" never sends the message's text: its url, "
        "headers and form do not use {{text}}");
}

TEST_CASE("an e-mail gateway may send {{html}} instead of {{text}}", "[lint]") {
  auto html = loaded(R"(  - name: mailer
    type: http
    url: https://api.example/mail
    kinds: [email]
    json: {to: "{{to}}", subject: "{{subject}}", html: "{{html}}"}
)");
  CHECK(lint_gateways(html).empty());
  auto neither = loaded(R"(  - name: mailer
    type: http
    url: https://api.example/mail
    kinds: [email]
    json: {to: "{{to}}", subject: "{{subject}}"}
)");
  auto warnings = lint_gateways(neither);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].message ==
        "gateway \"mailer\" never sends the message's text: its url, headers and json do not "
        "use {{text}} nor {{html}}");
}

TEST_CASE("{{text}} in a section or a comment is not sending it", "[lint]") {
  auto config = loaded(R"(  - name: elks
    type: http
    url: https://api.46elks.com/a1/sms
    body: "to={{to}}&{{#text}}x{{/text}}{{! text }}"
)");
  CHECK(lint_gateways(config).size() == 1);
}

TEST_CASE("an alphanumeric sender over 11 characters is warned about at its field", "[lint]") {
  auto config = loaded(R"(  - name: elks
    type: http
    url: https://api.46elks.com/a1/sms
    form:
      to: "{{to}}"
      message: "{{text}}"
      from: Exempelbutiken
)");
  auto warnings = lint_gateways(config);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].to_string() ==
        "/etc/tack/tack.yaml:10:7: gateway \"elks\": SMS sender \"Exempelbutiken\" has 14 "
        "characters; an alphanumeric sender has at most 11 (providers cut it or refuse the "
        "message)");
}

TEST_CASE("sender lengths: 11 letters and 15 digits pass, one more does not", "[lint]") {
  auto check = [](const std::string& field, const std::string& value) {
    return lint_gateways(
        loaded("  - name: g\n    type: http\n    url: https://sms.example/\n"
               "    json:\n      text: \"{{text}}\"\n      " +
               field + ": \"" + value + "\"\n"));
  };
  CHECK(check("from", "Exempelbuti").empty());                     // 11
  CHECK(check("originator", "Exempelbutik").size() == 1);          // 12
  CHECK(check("Sender", "Åhléns Ö").empty());                      // 8 characters, 11 bytes
  CHECK(check("src", "+467012345678901").empty());                 // 15 digits
  CHECK(check("sender_id", "4670123456789012").size() == 1);       // 16 digits
  CHECK(check("from", "{{shop_sender_of_some_length}}").empty());  // decided per message
  CHECK(check("to", "Exempelbutiken-AB").empty());                 // not a sender
  auto numeric = check("from", "+46701234567890123");
  REQUIRE(numeric.size() == 1);
  CHECK(numeric[0].message ==
        "gateway \"g\": SMS sender \"+46701234567890123\" has 17 digits; a numeric sender has "
        "at most 15");
}

TEST_CASE("a sender in the url's query is checked too", "[lint]") {
  auto config = loaded(R"(  - name: g
    type: http
    method: GET
    url: https://sms.example/send?to={{to}}&text={{text}}&from=Exempelbutiken
    body: ""
)");
  auto warnings = lint_gateways(config);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].line == 7);
  CHECK(warnings[0].column == 5);
  CHECK_THAT(warnings[0].message, Catch::Contains("\"Exempelbutiken\" has 14 characters"));
}

TEST_CASE("credentials over http:// to another host are warned about at the url", "[lint]") {
  auto config = loaded(R"(  - name: elks
    type: http
    url: http://api.46elks.com/a1/sms
    form:
      from: Exempel
      to: "{{to}}"
      message: "{{text}}"
    username: u123
    password: secret
)");
  auto warnings = lint_gateways(config);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].to_string() ==
        "/etc/tack/tack.yaml:6:5: gateway \"elks\" sends Basic auth (username and password) "
        "unencrypted over http:// to api.46elks.com; use https://");
}

TEST_CASE("any credential counts, and loopback hosts are this machine", "[lint]") {
  auto warn = [](const std::string& url, const std::string& more) {
    return lint_gateways(loaded("  - name: g\n    type: http\n    url: " + url +
                                "\n    json: {text: \"{{text}}\"}\n" + more));
  };
  auto bearer = warn("HTTP://Sms.Example:8080/send", "    bearer_token: t\n");
  REQUIRE(bearer.size() == 1);
  CHECK_THAT(bearer[0].message, Catch::Contains("sends a bearer token unencrypted over http:// "
                                                "to sms.example"));
  auto header = warn("http://sms.example/send", "    headers: {X-Api-Key: k}\n");
  REQUIRE(header.size() == 1);
  CHECK_THAT(header[0].message, Catch::Contains("sends header X-Api-Key unencrypted"));
  auto query = warn("http://sms.example/send?apikey=k", "");
  REQUIRE(query.size() == 1);
  CHECK_THAT(query[0].message, Catch::Contains("url parameter apikey"));
  auto user = warn("http://me:pw@sms.example/send", "");
  REQUIRE(user.size() == 1);
  CHECK_THAT(user[0].message, Catch::Contains("the user in its url"));
  CHECK(warn("https://sms.example/send", "    bearer_token: t\n").empty());
  CHECK(warn("http://sms.example/send", "").empty());  // nothing secret goes
  for (const char* local : {"http://localhost:9/", "http://127.0.0.1:9/", "http://[::1]:9/",
                            "http://relay.localhost/"}) {
    INFO(local);
    CHECK(warn(local, "    username: u\n    password: p\n").empty());
  }
}

TEST_CASE("an SMTP login without TLS to another host is warned about at tls", "[lint]") {
  auto config = loaded(R"(  - name: mail
    type: smtp
    url: smtp://smtp.example.se:587
    from: shop@example.se
    tls: none
    username: tack
    password: secret
)");
  auto warnings = lint_gateways(config);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].to_string() ==
        "/etc/tack/tack.yaml:8:5: gateway \"mail\" sends its SMTP login (username and password) "
        "unencrypted to smtp.example.se (tls: none); use tls: starttls or implicit");
}

TEST_CASE("a secret from a *_file has no position of its own; the warning has the url's",
          "[lint]") {
  Config config;
  config.path = "tack.yaml";
  GatewayConfig g;
  g.name = "g";
  g.type = "http";
  g.settings.set_text("url", "http://sms.example/");
  g.settings.set_position("url", {4, 5});
  g.settings.set_text("body", "{{text}}");
  g.settings.set_text("password", "from a file");
  config.gateways.push_back(g);
  auto warnings = lint_gateways(config);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].line == 4);
  CHECK(warnings[0].column == 5);
}

TEST_CASE("an SMS template over its channel's segment budget is warned about", "[lint]") {
  Config config;
  config.path = "tack.yaml";
  config.channels["sms"] = ChannelConfig{"sms", ChannelKind::Sms, {"g"}, 2};
  config.channels["sms-cheap"] = ChannelConfig{"sms-cheap", ChannelKind::Sms, {"g"}, 1};
  config.channels["email"] = ChannelConfig{"email", ChannelKind::Email, {"g"}, 3};
  RuleConfig shipped;
  shipped.name = "shipped";
  shipped.template_name = "shipped";
  shipped.channels = {"sms", "email"};
  shipped.fallback_channel = "sms-cheap";
  config.rules.push_back(shipped);
  // 2 GSM-7 segments (161..306 septets), and 3 UCS-2 ones (135..201 units).
  const std::string two(200, 'a');
  std::string three;
  for (int i = 0; i < 140; ++i) three += "ż";
  ConfigError where{"templates/shipped.yaml", 3, 1, ""};
  std::vector<SmsSample> samples = {{"shipped", "sv", two, where},
                                    {"shipped", "pl", three, where},
                                    {"other", "pl", three + three, where}};
  auto warnings = lint_sms_segments(config, samples);
  INFO(all(warnings));
  REQUIRE(warnings.size() == 3);
  CHECK(warnings[0].to_string() ==
        "templates/shipped.yaml:3:1: template \"shipped\" (pl) needs 3 SMS segments with the "
        "sample event (UCS-2, 140 characters); channel \"sms\" allows 2 (max_segments); tack "
        "refuses such a message; transliterated (transliterate: [pl] on the channel) it would "
        "need 1 (GSM-7)");
  CHECK_THAT(warnings[1].message, Catch::Contains("(sv) needs 2 SMS segments") &&
                                      Catch::Contains("channel \"sms-cheap\" allows 1"));
  CHECK_THAT(warnings[2].message, Catch::Contains("(pl) needs 3 SMS segments") &&
                                      Catch::Contains("channel \"sms-cheap\" allows 1"));
}

TEST_CASE("the segment budget is checked as the channel sends: transliterated, gateway limits",
          "[lint][sms_cost]") {
  auto config = loaded(kGood + "    max_segments: 2\n",
                       "  sms: {kind: sms, gateways: [elks], transliterate: [pl]}\n"
                       "  sms-raw: {kind: sms, gateways: [elks], max_segments: 1}\n");
  RuleConfig shipped;
  shipped.name = "shipped";
  shipped.template_name = "shipped";
  shipped.channels = {"sms", "sms-raw"};
  config.rules = {shipped};
  std::string polish;  // 140 characters: 3 UCS-2 segments, 1 transliterated
  for (int i = 0; i < 70; ++i) polish += "żo";
  std::string long_polish;  // 340: 6 UCS-2 segments, 3 transliterated
  for (int i = 0; i < 170; ++i) long_polish += "żo";
  ConfigError where{"templates/shipped.yaml", 3, 1, ""};
  auto warnings = lint_sms_segments(config, {{"shipped", "pl", polish, where}});
  INFO(all(warnings));
  // Transliterated on "sms" it fits; "sms-raw" sends it as it is.
  REQUIRE(warnings.size() == 1);
  CHECK_THAT(warnings[0].message,
             Catch::StartsWith("template \"shipped\" (pl) needs 3 SMS segments with the sample "
                               "event (UCS-2, 140 characters); channel \"sms-raw\" allows 1") &&
                 Catch::EndsWith("it would need 1 (GSM-7)"));
  warnings = lint_sms_segments(config, {{"shipped", "pl", long_polish, where}});
  REQUIRE(warnings.size() == 2);
  CHECK(warnings[0].message ==
        "template \"shipped\" (pl) needs 3 SMS segments with the sample event (GSM-7, 340 "
        "characters, transliterated); channel \"sms\" allows 2 (max_segments of gateway elks); "
        "tack refuses such a message");
  CHECK_THAT(warnings[1].message, Catch::Contains("channel \"sms-raw\" allows 1"));
}

TEST_CASE("max_segments is read from an sms channel, defaults to 3, and only there", "[lint]") {
  auto config = loaded(kGood,
                       "  sms: {kind: sms, gateways: [elks], max_segments: 5}\n"
                       "  other: {kind: sms, gateways: [elks]}\n");
  CHECK(config.channel("sms")->max_segments == 5);
  CHECK(config.channel("other")->max_segments == 3);
  for (const char* bad : {"  sms: {kind: sms, gateways: [elks], max_segments: 0}\n",
                          "  sms: {kind: sms, gateways: [elks], max_segments: lots}\n",
                          "  sms: {kind: sms, gateways: [elks], max_segments: 100000}\n",
                          "  mail: {kind: email, gateways: [elks], max_segments: 2}\n"}) {
    INFO(bad);
    auto load = load_config_text(
        "store:\n  path: tack.db\ngateways:\n" + kGood + "channels:\n" + bad + kTemplates,
        "tack.yaml");
    CHECK_FALSE(load.config);
    CHECK_THAT(load.errors.to_string(), Catch::Contains("max_segments"));
  }
}

TEST_CASE("positions survive a reload's comparison: equal settings stay equal", "[lint]") {
  auto a = loaded(kGood);
  auto b = loaded("\n\n" + kGood);  // the same gateway two lines further down
  REQUIRE(a.gateways[0].settings.position("url").line + 2 ==
          b.gateways[0].settings.position("url").line);
  CHECK(a.gateways[0].settings == b.gateways[0].settings);
}
