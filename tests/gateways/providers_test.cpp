// What every named provider (daemon/gateways/provider.hpp) must hold alike,
// asserted across all eight through the registry, so that a ninth cannot
// quietly differ: the receipt password's strength, credentials that stay
// one clean line, no wait for receipts that cannot come, and replies
// (STOP) checked the same way whatever the provider calls its fields.
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>

#include "gateways/gateway.hpp"
#include "gateways/sinch.hpp"
#include "gateways/smsapi.hpp"
#include "provider_support.hpp"

using namespace tack;
using namespace std::chrono_literals;

namespace {

const std::string kToken = "r3c3ipt-t0ken-0123456789";
const std::string kPublicUrl = "https://tack.example.se";

// The least each kind needs, with a receipt_token where it takes one.
const std::map<std::string, std::string>& minimal_settings() {
  static const std::map<std::string, std::string> kinds = {
      {"46elks", "username: u0123\npassword: pass0123\nfrom: Butiken\nreceipt_token: " + kToken},
      {"twilio",
       "account_sid: AC0123456789abcdef0123456789abcdef\nauth_token: tok0123\n"
       "from: Butiken\n"},
      {"vonage",
       "api_key: key0123\napi_secret: secret0123\nfrom: Butiken\nreceipt_token: " + kToken},
      {"smsapi", "token: tok0123\nreceipt_token: " + kToken},
      {"sinch", "service_plan_id: abc123\ntoken: tok0123\nreceipt_token: " + kToken},
      {"sendgrid", "api_key: SG.key0123\nfrom: \"Butiken <shop@example.se>\"\n"},
      {"mailgun",
       "api_key: key-0123\ndomain: mg.example.se\nfrom: \"Butiken <shop@mg.example.se>\"\n"},
      {"postmark",
       "server_token: tok0123\nfrom: \"Butiken <shop@example.se>\"\nreceipt_token: " + kToken},
  };
  return kinds;
}

// Each kind's credentials: they go into a header or Basic auth.
const std::map<std::string, std::vector<std::string>>& credential_keys() {
  static const std::map<std::string, std::vector<std::string>> keys = {
      {"46elks", {"username", "password"}},
      {"twilio", {"auth_token"}},
      {"vonage", {"api_key", "api_secret"}},
      {"smsapi", {"token"}},
      {"sinch", {"token"}},
      {"sendgrid", {"api_key"}},
      {"mailgun", {"api_key"}},
      {"postmark", {"server_token"}},
  };
  return keys;
}

struct Harness : testing::GatewayHarness {
  std::unique_ptr<Gateway> gateway(const std::string& type, const std::string& yaml,
                                   bool listening = true, std::string public_url = kPublicUrl) {
    return GatewayHarness::gateway(type, yaml, listening, std::move(public_url));
  }
};

// The minimal settings with `key` set to `value` (a YAML scalar).
std::string with(const std::string& kind, const std::string& key, const std::string& value) {
  std::string out;
  const std::string& base = minimal_settings().at(kind);
  std::size_t start = 0;
  while (start < base.size()) {
    std::size_t end = base.find('\n', start);
    if (end == std::string::npos) end = base.size();
    const std::string line = base.substr(start, end - start);
    if (!line.starts_with(key + ":")) out += line + "\n";
    start = end + 1;
  }
  return out + key + ": " + value + "\n";
}

}  // namespace

TEST_CASE("providers: credentials and callback passwords are secret keys, nothing else is",
          "[providers][config]") {
  // Secret keys are masked in every answer and log line, and may come from
  // KEY_file or ${ENV}.
  const std::map<std::string, std::set<std::string>> secrets = {
      {"46elks", {"password", "receipt_token"}},
      {"twilio", {"auth_token"}},
      {"vonage", {"api_secret", "receipt_token", "signature_secret"}},
      {"smsapi", {"token", "receipt_token"}},
      {"sinch", {"token", "receipt_token"}},
      {"sendgrid", {"api_key"}},
      {"mailgun", {"api_key", "webhook_signing_key"}},
      {"postmark", {"server_token", "receipt_token"}},
  };
  for (const auto& [type, expected] : secrets) {
    INFO(type);
    const GatewayKind* kind = find_gateway_kind(type);
    REQUIRE(kind != nullptr);
    CHECK_FALSE(kind->summary.empty());
    std::set<std::string> found;
    for (const auto& key : kind->keys) {
      if (key.secret) found.insert(key.name);
    }
    CHECK(found == expected);
  }
}

TEST_CASE("providers: every kind loads from its minimal settings", "[providers][config]") {
  Harness h;
  for (const auto& [kind, yaml] : minimal_settings()) {
    INFO(kind);
    CHECK(h.gateway(kind, yaml) != nullptr);
  }
}

TEST_CASE("providers: a receipt_token must be 16 characters or more, without control characters",
          "[providers][config]") {
  Harness h;
  for (const std::string kind : {"46elks", "vonage", "smsapi", "sinch", "postmark"}) {
    INFO(kind);
    CHECK_THROWS_WITH(h.gateway(kind, with(kind, "receipt_token", "s3cret")),
                      Catch::Contains("receipt_token") && Catch::Contains("16 characters"));
    CHECK_THROWS_WITH(h.gateway(kind, with(kind, "receipt_token", "\"0123456789abcdef\\t\"")),
                      Catch::Contains("receipt_token") && Catch::Contains("control character"));
    CHECK_THROWS_WITH(h.gateway(kind, with(kind, "receipt_token", "\"0123456789abcdef\\r\\nX\"")),
                      Catch::Contains("receipt_token") && Catch::Contains("control character"));
  }
}

TEST_CASE("providers: a credential with a control character is refused at load",
          "[providers][config]") {
  Harness h;
  for (const auto& [kind, keys] : credential_keys()) {
    for (const auto& key : keys) {
      INFO(kind << " " << key);
      CHECK_THROWS_WITH(h.gateway(kind, with(kind, key, "\"abc\\r\\nX-Injected: 1\"")),
                        Catch::Contains(key) && Catch::Contains("control character"));
      CHECK_THROWS_WITH(h.gateway(kind, with(kind, key, "\"abc\\u0000def\"")),
                        Catch::Contains(key) && Catch::Contains("control character"));
    }
  }
}

TEST_CASE("providers: a rule's fallback waits for receipts only where they can come",
          "[providers][receipts]") {
  Harness h;
  // Fully set up, every kind waits its default.
  CHECK(h.gateway("46elks", minimal_settings().at("46elks"))->receipt_wait() == 15min);
  CHECK(h.gateway("twilio", minimal_settings().at("twilio"))->receipt_wait() == 15min);
  CHECK(h.gateway("vonage", minimal_settings().at("vonage"))->receipt_wait() == 15min);
  CHECK(h.gateway("smsapi", minimal_settings().at("smsapi"))->receipt_wait() == 15min);
  CHECK(h.gateway("sinch", minimal_settings().at("sinch"))->receipt_wait() == 15min);
  CHECK(h.gateway("postmark", minimal_settings().at("postmark"))->receipt_wait() == 15min);
  // Nothing listens (tackd check, the CLI): no kind waits.
  for (const auto& [kind, yaml] : minimal_settings()) {
    INFO(kind);
    CHECK(h.gateway(kind, yaml, false)->receipt_wait() == 0ms);
  }
  // Without the password its routes check, every report is refused.
  CHECK(h.gateway("smsapi", "token: tok0123\n")->receipt_wait() == 0ms);
  CHECK(h.gateway("sinch", "service_plan_id: abc123\ntoken: tok0123\n")->receipt_wait() == 0ms);
  CHECK(h.gateway("46elks", "username: u\npassword: p\nfrom: Butiken\n")->receipt_wait() == 0ms);
  // Without a public URL, no callback URL goes with the message, and
  // these providers report only to that one.
  for (const std::string kind : {"46elks", "twilio", "sinch"}) {
    INFO(kind);
    CHECK(h.gateway(kind, minimal_settings().at(kind), true, "")->receipt_wait() == 0ms);
  }
  // SMSAPI and Vonage also report to a URL set in their dashboards.
  CHECK(h.gateway("smsapi", minimal_settings().at("smsapi"), true, "")->receipt_wait() == 15min);
  CHECK(h.gateway("vonage", minimal_settings().at("vonage"), true, "")->receipt_wait() == 15min);
}

namespace {

ServerRequest form_post(const std::string& body) {
  return testing::post("/v1/inbound/gw", body);
}

ServerRequest json_post(const std::string& body) {
  return testing::webhook_request("/v1/inbound/gw", body);
}

}  // namespace

TEST_CASE("providers: a reply longer than any SMS, or with an id that is no id, is refused",
          "[providers][receipts]") {
  const std::string huge(17 * 1024, 'a');
  SECTION("smsapi") {
    const std::string start = "sms_to=48500000000&sms_from=48500600700&MsgId=";
    CHECK(parse_smsapi_inbound(form_post(start + "abc&sms_text=STOP")).error.empty());
    CHECK_FALSE(parse_smsapi_inbound(form_post(start + "abc&sms_text=" + huge)).error.empty());
    CHECK_FALSE(parse_smsapi_inbound(form_post(start + "a%0Ab&sms_text=STOP")).error.empty());
    CHECK_FALSE(parse_smsapi_inbound(form_post("sms_to=4850&sms_from=48%0A50&sms_text=STOP"))
                    .error.empty());
  }
  SECTION("sinch") {
    auto mo = [](const std::string& id, const std::string& body) {
      return R"({"type":"mo_text","id":")" + id +
             R"(","from":"46701234567","to":"46700000000","body":")" + body + R"("})";
    };
    CHECK(parse_sinch_inbound(json_post(mo("01FC6", "STOP"))).error.empty());
    CHECK_FALSE(parse_sinch_inbound(json_post(mo("01FC6", huge))).error.empty());
    CHECK_FALSE(parse_sinch_inbound(json_post(mo("01\\nFC6", "STOP"))).error.empty());
    CHECK_FALSE(parse_sinch_inbound(
                    json_post(R"({"type":"mo_text","from":"4670\t1","to":"4670","body":"STOP"})"))
                    .error.empty());
  }
}
