// Tests for daemon/gateways/mailgun.cpp: the request it builds, how it
// reads Mailgun's answers, and its signed webhooks (signature, stale
// timestamps, replayed tokens). The end-to-end run against a fake Mailgun
// is tests/integration/test_providers_email.py.
#include "gateways/mailgun.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "../support/coro.hpp"
#include "digest.hpp"
#include "gateways/reports.hpp"
#include "provider_support.hpp"

using namespace tack;
using namespace std::chrono_literals;
using tack::testing::answer;
using tack::testing::email_message;
using tack::testing::webhook_request;

namespace {

constexpr const char* kSigningKey = "key-mailgun-signing-test";
constexpr const char* kToken = "e0b5477167110d68991efc6b9f89f0a11066af27834600e123";
// HMAC-SHA256(kSigningKey, "1764930000" + kToken), computed with Python's hmac.
constexpr const char* kSignature =
    "c6f5f0cdc12013db145aa88cdc68eeb27342150d3ba7d7049b8c94c84561f636";
constexpr std::int64_t kNow = 1764930000 + 20;

MailgunOptions options() {
  MailgunOptions o;
  o.name = "mailgun";
  o.provider.url = "http://127.0.0.1:9";
  o.api_key = "key-api-test-1234";
  o.domain = "mg.exempelbutiken.se";
  o.from = {"Exempelbutiken \"Åsa\"", "kundservice@mg.exempelbutiken.se"};
  o.signing_key = kSigningKey;
  return o;
}

std::string event_body(const std::string& event_data, const std::string& signature = kSignature,
                       const std::string& timestamp = "1764930000",
                       const std::string& token = kToken) {
  return R"({"signature":{"timestamp":")" + timestamp + R"(","token":")" + token +
         R"(","signature":")" + signature + R"("},"event-data":)" + event_data + "}";
}

const std::string kDelivered =
    R"({"event":"delivered","timestamp":1764929999.329574,"id":"CPgfbmQMTCKtHW6uIWtuVe",)"
    R"("message":{"headers":{"message-id":"20261205100214.1.ABC@mg.exempelbutiken.se"}},)"
    R"("delivery-status":{"code":250,"message":"OK","description":""}})";

std::map<std::string, std::string> form(const std::string& body) {
  auto parsed = parse_form(body);
  REQUIRE(parsed);
  return *parsed;
}

}  // namespace

TEST_CASE("mailgun: the request is a form to /v3/DOMAIN/messages with Basic api:key", "[mailgun]") {
  const auto built = build_mailgun_request(options(), email_message());
  REQUIRE(built.request);
  const HttpRequest& request = *built.request;
  CHECK(request.method == "POST");
  CHECK(request.url == "http://127.0.0.1:9/v3/mg.exempelbutiken.se/messages");
  CHECK(request.username == "api");
  CHECK(request.password == "key-api-test-1234");
  CHECK(request.bearer_token.empty());
  // Percent-encoded UTF-8: ł is %C5%82, space is +.
  CHECK(request.body.find("%C5%82%C3%B3d%C5%BA") != std::string::npos);
  const auto fields = form(request.body);
  const OutboundMessage m = email_message();
  CHECK(fields.at("from") == "\"Exempelbutiken \\\"Åsa\\\"\" <kundservice@mg.exempelbutiken.se>");
  CHECK(fields.at("to") == "anna@example.se");
  CHECK(fields.at("subject") == m.subject);
  CHECK(fields.at("text") == m.text);
  CHECK(fields.at("html") == m.html);
  CHECK(fields.at("h:X-Tack-Idempotency-Key") == m.idempotency_key);
  CHECK(fields.at("v:tack-idempotency-key") == m.idempotency_key);
  CHECK(fields.size() == 7);

  OutboundMessage plain = email_message();
  plain.html.clear();
  CHECK(form(build_mailgun_request(options(), plain).request->body).count("html") == 0);
  plain.recipient = "nobody";
  CHECK_FALSE(build_mailgun_request(options(), plain).request);
}

TEST_CASE("mailgun: answers are classified; the id loses its angle brackets", "[mailgun]") {
  const auto now = std::chrono::system_clock::from_time_t(1764930000);
  const auto queued = classify_mailgun_answer(
      answer(
          200,
          R"({"id":"<20261205100214.1.ABC@mg.exempelbutiken.se>","message":"Queued. Thank you."})"),
      now);
  CHECK(queued.kind == Outcome::Kind::Sent);
  CHECK(queued.provider_id == "20261205100214.1.ABC@mg.exempelbutiken.se");
  CHECK(classify_mailgun_answer(answer(200, "not json"), now).provider_id.empty());

  const auto bad = classify_mailgun_answer(
      answer(400,
             R"({"message":"to parameter is not a valid address. please check documentation"})"),
      now);
  CHECK(bad.kind == Outcome::Kind::Rejected);
  CHECK(bad.detail.find("not a valid address") != std::string::npos);
  const auto forbidden = classify_mailgun_answer(answer(401, "Forbidden"), now);
  CHECK(forbidden.kind == Outcome::Kind::Retry);
  CHECK(forbidden.health == Outcome::Health::Refused);
  const auto throttled = classify_mailgun_answer(
      answer(429, R"({"message":"Too many requests"})", {{"retry-after", "7"}}), now);
  CHECK(throttled.kind == Outcome::Kind::Retry);
  REQUIRE(throttled.retry_after);
  CHECK(*throttled.retry_after == 7s);
  CHECK(classify_mailgun_answer(answer(500, "oops"), now).health == Outcome::Health::Down);
}

TEST_CASE("mailgun: the signature verifies; forged, unsigned, stale and replayed do not",
          "[mailgun]") {
  MailgunTokens tokens;
  const std::string good = event_body(kDelivered);
  CHECK(verify_mailgun_signature(good, kSigningKey, 600s, kNow, &tokens).refusal.empty());

  const auto forged = verify_mailgun_signature(event_body(kDelivered, std::string(64, 'a')),
                                               kSigningKey, 600s, kNow, &tokens);
  CHECK(forged.bad_credentials);
  CHECK(verify_mailgun_signature(good, "another-key", 600s, kNow, &tokens).bad_credentials);
  // The signed timestamp cannot be moved: the HMAC covers it.
  CHECK(verify_mailgun_signature(event_body(kDelivered, kSignature, "1764930001"), kSigningKey,
                                 600s, kNow, &tokens)
            .bad_credentials);

  for (const std::string& body :
       {std::string(R"({"event-data":{}})"), std::string("not json"),
        std::string(R"({"signature":{"timestamp":"1764930000","token":"t"}})"),
        std::string(R"({"signature":"x"})"), event_body(kDelivered, kSignature, "soon"),
        event_body(kDelivered, kSignature, "1764930000", std::string(300, 't'))}) {
    const auto refused = verify_mailgun_signature(body, kSigningKey, 600s, kNow, &tokens);
    CHECK_FALSE(refused.refusal.empty());
    CHECK_FALSE(refused.bad_credentials);
  }

  const auto stale = verify_mailgun_signature(good, kSigningKey, 600s, kNow + 3600, &tokens);
  CHECK(stale.refusal.find("stale") != std::string::npos);

  // A token taken once is refused within the window.
  tokens.remember(kToken, 1764930000);
  const auto replayed = verify_mailgun_signature(good, kSigningKey, 600s, kNow, &tokens);
  CHECK(replayed.refusal.find("replayed") != std::string::npos);
}

TEST_CASE("mailgun: remembered tokens expire with the window and are bounded", "[mailgun]") {
  MailgunTokens tokens(3);
  tokens.remember("a", 1000);
  tokens.remember("b", 1100);
  CHECK(tokens.seen("a", 1200, 600s));
  CHECK_FALSE(tokens.seen("a", 1601, 600s));  // 1000 is older than 1601 - 600
  CHECK(tokens.seen("b", 1601, 600s));
  tokens.remember("c", 1600);
  tokens.remember("d", 1600);
  tokens.remember("e", 1600);
  CHECK_FALSE(tokens.seen("b", 1601, 600s));  // pushed out by capacity
  CHECK(tokens.seen("e", 1601, 600s));
}

TEST_CASE("mailgun: events become receipts", "[mailgun]") {
  auto one = [](const std::string& data) {
    const auto parsed = parse_mailgun_event(event_body(data));
    REQUIRE(parsed.error.empty());
    return parsed.receipts;
  };
  auto delivered = one(kDelivered);
  REQUIRE(delivered.size() == 1);
  CHECK(delivered[0].provider_id == "20261205100214.1.ABC@mg.exempelbutiken.se");
  CHECK(delivered[0].kind == ReceiptKind::Delivered);
  CHECK(delivered[0].at_ms == 1764929999329);

  auto hard = one(
      R"({"event":"failed","severity":"permanent","reason":"bounce","timestamp":1764929999,)"
      R"("message":{"headers":{"message-id":"<M1@mg.x>"}},)"
      R"("delivery-status":{"code":550,"message":"5.1.1 The email account does not exist – ogiltig","description":""}})");
  REQUIRE(hard.size() == 1);
  CHECK(hard[0].provider_id == "M1@mg.x");
  CHECK(hard[0].kind == ReceiptKind::Bounced);
  CHECK(hard[0].status == "failed (permanent)");
  CHECK(hard[0].reason == "550 5.1.1 The email account does not exist – ogiltig");

  auto soft = one(R"({"event":"failed","severity":"temporary","reason":"generic",)"
                  R"("message":{"headers":{"message-id":"M2@mg.x"}},)"
                  R"("delivery-status":{"code":452,"message":"","description":"mailbox full"}})");
  REQUIRE(soft.size() == 1);
  CHECK(soft[0].kind == ReceiptKind::Progress);
  CHECK(soft[0].reason == "452 mailbox full");

  auto accepted = one(R"({"event":"accepted","message":{"headers":{"message-id":"M3@mg.x"}}})");
  REQUIRE(accepted.size() == 1);
  CHECK(accepted[0].kind == ReceiptKind::Progress);
  auto rejected = one(
      R"({"event":"rejected","reject":{"reason":"suppressed"},"message":{"headers":{"message-id":"M4@mg.x"}}})");
  REQUIRE(rejected.size() == 1);
  CHECK(rejected[0].kind == ReceiptKind::Bounced);
  CHECK(rejected[0].reason == "suppressed");

  CHECK(one(R"({"event":"opened","message":{"headers":{"message-id":"M3@mg.x"}}})").empty());
  CHECK(one(R"({"event":"something_new","message":{"headers":{"message-id":"M3@mg.x"}}})").empty());
  CHECK(one(R"({"event":"delivered"})").empty());
}

TEST_CASE("mailgun: malformed and hostile webhook bodies are 400", "[mailgun]") {
  for (const std::string& body :
       {std::string(), std::string("[]"), std::string("{\"signature\":{}}"),
        std::string("{\"event-data\":[]}"), std::string(5000, '{'),
        std::string("{\"event-data\":{\"event\":\"delivered\",\"x\":\"\xc3\x28\"}}")}) {
    CHECK_FALSE(parse_mailgun_event(body).error.empty());
  }
}

TEST_CASE("mailgun: the route takes a token once, and again after the store failed", "[mailgun]") {
  asio::io_context io;
  CurlMulti curl(io);
  asio::thread_pool pool(1);
  tack::testing::RecordingReports reports;
  reports.verdict = ReceiptVerdict::Applied;
  MailgunGateway gateway(options(), curl, &reports);
  auto post = [&](const std::string& body) {
    auto routes = gateway.routes();
    REQUIRE(routes.size() == 1);
    CHECK(routes[0].path == "/v1/receipts/mailgun");
    const ServerRequest request = webhook_request("/v1/receipts/mailgun", body);
    const std::string client = "203.0.113.9";
    RouteRequest call{request, client, false, std::nullopt, false, pool};
    auto response = tack::testing::run_task(io, routes[0].handle(call));
    REQUIRE(response);
    return response->result_int();
  };
  // Signed now, with the key: the route checks against its own clock.
  const std::string now = std::to_string(unix_now_s());
  const std::string token = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0";
  const std::string body =
      event_body(kDelivered, hmac_sha256_hex(kSigningKey, now + token), now, token);

  reports.verdict = std::nullopt;  // the store cannot write
  CHECK(post(body) == 503);
  reports.verdict = ReceiptVerdict::Applied;
  CHECK(post(body) == 200);  // Mailgun's retry of the 503
  CHECK(reports.receipts.size() == 2);
  CHECK(post(body) == 401);  // the same post again: a replay
  CHECK(reports.receipts.size() == 2);
  CHECK(post(event_body(kDelivered)) == 401);  // signed long ago
  CHECK(post(event_body(kDelivered, std::string(64, '0'), now, token + "x")) == 403);
  CHECK(post("{\"signature\":1}") == 401);
  // An id tack never sent (mail the shop sends another way through the
  // same domain): 406, the one answer besides 200 that Mailgun does not
  // retry for 8 hours; its token is taken as for a 200.
  reports.verdict = ReceiptVerdict::Unknown;
  const std::string other_token = "b8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de1";
  const std::string unknown =
      event_body(kDelivered, hmac_sha256_hex(kSigningKey, now + other_token), now, other_token);
  CHECK(post(unknown) == 406);
  CHECK(post(unknown) == 401);  // the same post again: a replay

  MailgunOptions no_key = options();
  no_key.signing_key.clear();
  MailgunGateway unsigned_gateway(no_key, curl, &reports);
  CHECK(unsigned_gateway.routes().empty());
  CHECK(unsigned_gateway.receipt_wait() == 0ms);
  CHECK(gateway.receipt_wait() == std::chrono::minutes(15));
}

TEST_CASE("mailgun: settings are checked at load; region picks the API host",
          "[mailgun][registry]") {
  // Its secret keys: providers_test.cpp, for every provider.
  tack::testing::GatewayHarness h;
  auto create = [&](const std::string& yaml) { return h.gateway("mailgun", yaml); };
  const std::string base = "api_key: key-1\ndomain: mg.example.se\nfrom: shop@mg.example.se\n";
  CHECK_NOTHROW(create(base));
  CHECK_NOTHROW(create(base + "region: eu\nwebhook_signing_key: abc"));
  CHECK_THROWS_WITH(create(base + "region: asia"), Catch::Contains("region"));
  CHECK_THROWS_WITH(create("domain: mg.example.se\nfrom: a@b.se"), Catch::Contains("api_key"));
  CHECK_THROWS_WITH(create("api_key: k\nfrom: a@b.se\ndomain: \"mg.example.se/../x\""),
                    Catch::Contains("domain"));
  CHECK_THROWS_WITH(create("api_key: k\ndomain: mg.example.se\nfrom: \"Shop <nope>\""),
                    Catch::Contains("from"));
  CHECK(mailgun_region_url("us") == "https://api.mailgun.net");
  CHECK(mailgun_region_url("eu") == "https://api.eu.mailgun.net");
  CHECK(mailgun_region_url("EU").empty());
}

TEST_CASE("mailgun: a marketing e-mail carries the RFC 8058 one-click unsubscribe headers",
          "[mailgun][optout]") {
  OutboundMessage m = email_message();
  m.unsubscribe_url = "https://tack.example.com/v1/optout?t=abc";
  const auto fields = form(build_mailgun_request(options(), m).request->body);
  CHECK(fields.at("h:List-Unsubscribe") == "<https://tack.example.com/v1/optout?t=abc>");
  CHECK(fields.at("h:List-Unsubscribe-Post") == "List-Unsubscribe=One-Click");
  CHECK(form(build_mailgun_request(options(), email_message()).request->body)
            .count("h:List-Unsubscribe") == 0);
  m.unsubscribe_url = "https://x.example/\r\nBcc: all@example.com";
  CHECK_FALSE(build_mailgun_request(options(), m).request);
}
