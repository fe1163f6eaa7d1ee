// Tests for daemon/gateways/sendgrid.cpp: the request it builds, how it
// reads SendGrid's answers, and its signed event webhook. The end-to-end
// run against a fake SendGrid is tests/integration/test_providers_email.py.
#include "gateways/sendgrid.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "../support/coro.hpp"
#include "digest.hpp"
#include "provider_support.hpp"

using namespace tack;
using namespace std::chrono_literals;
using tack::testing::answer;
using tack::testing::email_message;
using tack::testing::webhook_request;

namespace {

// A key pair made for this test with Python's cryptography; the body below
// signed at kSignedAt with its private key.
constexpr const char* kKey =
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAETi76WHeYVT3f4qkFUlIz4bmxWsGA7cPH0w/9CDrzChwoT3Igm+80S7uQ"
    "FV+bEBOTDwW0sDbdUEBrZ4OMD6ua7w==";
constexpr const char* kSignature =
    "MEYCIQCjGmKHaX26i33m3i5/Og3TXp5O+gGLaHUQbfiEWUuzzQIhANAhUHPDCdGFVt/"
    "5iGumdYTBFTJVBpKFuE++Ueq2qZtS";
constexpr const char* kSignedAt = "1764930000";
constexpr const char* kBody =
    "[{\"email\":\"anna@example.se\",\"timestamp\":1764929990,\"event\":\"delivered\",\"sg_event_"
    "id\":\"ZGVsaXZlcmVk\",\"sg_message_id\":\"Ua9z9lSTSaqYBWJe_Xfc-Q.filter0905p1mdw1-4434-"
    "59E0C6FF-3.0\",\"response\":\"250 OK\"}]";
constexpr std::int64_t kNow = 1764930000 + 30;

std::string key_der() {
  return *base64_decode(kKey);
}

SendgridOptions options() {
  SendgridOptions o;
  o.name = "sendgrid";
  o.provider.url = "http://127.0.0.1:9";
  o.api_key = "SG.test-key-1234";
  o.from = {"Exempelbutiken Åsa & Co", "kundservice@exempelbutiken.se"};
  o.verification_key = key_der();
  return o;
}

ServerRequest signed_request(const std::string& body = kBody,
                             const std::string& signature = kSignature,
                             const std::string& timestamp = kSignedAt) {
  return webhook_request("/v1/receipts/sendgrid", body,
                         {{"X-Twilio-Email-Event-Webhook-Signature", signature},
                          {"X-Twilio-Email-Event-Webhook-Timestamp", timestamp}});
}

}  // namespace

TEST_CASE("sendgrid: the request is v3 mail send with bearer auth and UTF-8 JSON", "[sendgrid]") {
  const auto built = build_sendgrid_request(options(), email_message());
  REQUIRE(built.request);
  const HttpRequest& request = *built.request;
  CHECK(request.method == "POST");
  CHECK(request.url == "http://127.0.0.1:9/v3/mail/send");
  CHECK(request.bearer_token == "SG.test-key-1234");
  CHECK(request.username.empty());
  CHECK(std::find(request.headers.begin(), request.headers.end(),
                  std::pair<std::string, std::string>{"Content-Type", "application/json"}) !=
        request.headers.end());
  const auto body = nlohmann::json::parse(request.body);
  const OutboundMessage m = email_message();
  CHECK(body["personalizations"] ==
        nlohmann::json::parse(R"([{"to":[{"email":"anna@example.se"}]}])"));
  CHECK(body["from"] ==
        nlohmann::json::parse(
            R"({"email":"kundservice@exempelbutiken.se","name":"Exempelbutiken Åsa & Co"})"));
  CHECK(body["subject"] == "Zamówienie 1042 wysłane – på väg");
  REQUIRE(body["content"].size() == 2);
  CHECK(body["content"][0] == nlohmann::json({{"type", "text/plain"}, {"value", m.text}}));
  CHECK(body["content"][1] == nlohmann::json({{"type", "text/html"}, {"value", m.html}}));
  CHECK(body["headers"]["X-Tack-Idempotency-Key"] == m.idempotency_key);
  CHECK(body["custom_args"]["tack_idempotency_key"] == m.idempotency_key);
  // UTF-8 as it is, not \u escapes.
  CHECK(request.body.find("łódź") != std::string::npos);
}

TEST_CASE("sendgrid: no html part for a text-only message; a bad recipient builds nothing",
          "[sendgrid]") {
  OutboundMessage m = email_message();
  m.html.clear();
  auto built = build_sendgrid_request(options(), m);
  REQUIRE(built.request);
  const auto body = nlohmann::json::parse(built.request->body);
  REQUIRE(body["content"].size() == 1);
  CHECK(body["content"][0]["type"] == "text/plain");

  m.recipient = "anna@example.se\r\nBcc: x@y.se";
  built = build_sendgrid_request(options(), m);
  CHECK_FALSE(built.request);
  CHECK(built.error.find("recipient") != std::string::npos);
}

TEST_CASE("sendgrid: answers are classified", "[sendgrid]") {
  const auto now = std::chrono::system_clock::from_time_t(1764930000);
  auto accepted =
      classify_sendgrid_answer(answer(202, "", {{"x-message-id", "Ua9z9lSTSaqYBWJe_Xfc-Q"}}), now);
  CHECK(accepted.kind == Outcome::Kind::Sent);
  CHECK(accepted.provider_id == "Ua9z9lSTSaqYBWJe_Xfc-Q");

  auto bad = classify_sendgrid_answer(
      answer(
          400,
          R"({"errors":[{"message":"Does not contain a valid address.","field":"personalizations.0.to.0.email"}]})"),
      now);
  CHECK(bad.kind == Outcome::Kind::Rejected);
  CHECK(bad.detail.find("Does not contain a valid address.") != std::string::npos);

  auto refused = classify_sendgrid_answer(
      answer(
          401,
          R"({"errors":[{"message":"The provided authorization grant is invalid, expired, or revoked"}]})"),
      now);
  CHECK(refused.kind == Outcome::Kind::Retry);
  CHECK(refused.health == Outcome::Health::Refused);
  CHECK(classify_sendgrid_answer(answer(403, "{}"), now).health == Outcome::Health::Refused);

  // SendGrid's 429 says when the window resets, as a Unix time.
  auto throttled =
      classify_sendgrid_answer(answer(429, R"({"errors":[{"message":"too many requests"}]})",
                                      {{"x-ratelimit-limit", "600"},
                                       {"x-ratelimit-remaining", "0"},
                                       {"x-ratelimit-reset", "1764930042"}}),
                               now);
  CHECK(throttled.kind == Outcome::Kind::Retry);
  CHECK(throttled.health == Outcome::Health::Answering);
  REQUIRE(throttled.retry_after);
  CHECK(*throttled.retry_after == 42s);

  auto down = classify_sendgrid_answer(answer(503, "upstream"), now);
  CHECK(down.kind == Outcome::Kind::Retry);
  CHECK(down.health == Outcome::Health::Down);
  CHECK(classify_sendgrid_answer(answer(413, "too large"), now).kind == Outcome::Kind::Rejected);

  TransferResult unanswered;
  unanswered.curl_code = 28;
  unanswered.curl_error = "timeout";
  unanswered.request_sent = true;
  CHECK(classify_sendgrid_answer(unanswered, now).kind == Outcome::Kind::Unknown);
}

TEST_CASE("sendgrid: a signed event webhook post verifies; forged, unsigned and stale do not",
          "[sendgrid]") {
  const std::string key = key_der();
  CHECK(verify_sendgrid_signature(signed_request(), key, 600s, kNow).refusal.empty());

  std::string changed = kBody;
  changed.replace(changed.find("delivered"), 9, "bounce\"  ");
  const auto forged = verify_sendgrid_signature(signed_request(changed), key, 600s, kNow);
  CHECK(forged.refusal == "the signature does not verify");
  CHECK(forged.bad_credentials);

  // The same body and signature with another timestamp: the timestamp is signed.
  CHECK(verify_sendgrid_signature(signed_request(kBody, kSignature, "1764930001"), key, 600s, kNow)
            .bad_credentials);

  const auto unsigned_post =
      verify_sendgrid_signature(webhook_request("/v1/receipts/sendgrid", kBody), key, 600s, kNow);
  CHECK_FALSE(unsigned_post.refusal.empty());
  CHECK_FALSE(unsigned_post.bad_credentials);

  CHECK(verify_sendgrid_signature(signed_request(kBody, "not base64!"), key, 600s, kNow)
            .bad_credentials);
  CHECK_FALSE(
      verify_sendgrid_signature(signed_request(kBody, kSignature, "yesterday"), key, 600s, kNow)
          .refusal.empty());

  // The same post an hour later is a replay.
  const auto stale = verify_sendgrid_signature(signed_request(), key, 600s, kNow + 3600);
  CHECK(stale.refusal.find("stale") != std::string::npos);
  CHECK_FALSE(stale.bad_credentials);
  CHECK_FALSE(verify_sendgrid_signature(signed_request(), key, 600s, kNow - 3600).refusal.empty());

  // Another key refuses the signature.
  const std::string other = *base64_decode(
      "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+"
      "u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==");
  CHECK(verify_sendgrid_signature(signed_request(), other, 600s, kNow).bad_credentials);
}

TEST_CASE("sendgrid: events become receipts by the X-Message-Id part of sg_message_id",
          "[sendgrid]") {
  const auto parsed = parse_sendgrid_events(R"([
    {"email":"anna@example.se","timestamp":1764929000,"event":"processed","sg_message_id":"AAA.filter1.1.0"},
    {"email":"anna@example.se","timestamp":1764929001,"event":"deferred","sg_message_id":"AAA.filter1.1.0","response":"451 try later","attempt":"1"},
    {"email":"anna@example.se","timestamp":1764929002,"event":"delivered","sg_message_id":"AAA.filter1.1.0","response":"250 OK"},
    {"email":"bo@example.se","timestamp":1764929003,"event":"bounce","type":"bounce","status":"5.1.1","reason":"550 5.1.1 No such user åäö","sg_message_id":"BBB.filter2.1.0"},
    {"email":"cy@example.se","timestamp":1764929004,"event":"dropped","reason":"Bounced Address","sg_message_id":"CCC.filter3.1.0"},
    {"email":"anna@example.se","timestamp":1764929005,"event":"open","sg_message_id":"AAA.filter1.1.0"},
    {"email":"anna@example.se","timestamp":1764929006,"event":"brand_new_event","sg_message_id":"AAA.filter1.1.0"},
    {"email":"dd@example.se","timestamp":1764929007,"event":"bounce","type":"bounce","reason":"async bounce without id"}
  ])");
  REQUIRE(parsed.error.empty());
  REQUIRE(parsed.receipts.size() == 5);
  const auto& r = parsed.receipts;
  CHECK(r[0].provider_id == "AAA");
  CHECK(r[0].kind == ReceiptKind::Progress);
  CHECK(r[0].status == "processed");
  CHECK(r[0].at_ms == 1764929000000);
  CHECK(r[1].kind == ReceiptKind::Progress);
  CHECK(r[1].reason == "451 try later");
  CHECK(r[2].kind == ReceiptKind::Delivered);
  CHECK(r[2].status == "delivered");
  CHECK(r[3].provider_id == "BBB");
  CHECK(r[3].kind == ReceiptKind::Bounced);
  CHECK(r[3].status == "bounce");
  CHECK(r[3].reason == "550 5.1.1 No such user åäö");
  CHECK(r[4].provider_id == "CCC");
  CHECK(r[4].kind == ReceiptKind::Bounced);
  CHECK(r[4].status == "dropped");
  CHECK(r[4].reason == "Bounced Address");
}

TEST_CASE("sendgrid: malformed, oversized and hostile event posts are refused", "[sendgrid]") {
  for (const std::string& body :
       {std::string(), std::string("not json"), std::string("{\"event\":\"delivered\"}"),
        std::string("[1,2]"), std::string("[{\"event\":\"delivered\"}, \"x\"]"),
        std::string(10000, '[') + std::string(10000, ']'),
        std::string("[{\"event\":\"delivered\",\"sg_message_id\":\"A\xff\xfe.f\"}]")}) {
    const auto parsed = parse_sendgrid_events(body);
    CHECK_FALSE(parsed.error.empty());
    CHECK(parsed.receipts.empty());
  }
  std::string many = "[";
  for (int i = 0; i < 10001; ++i) {
    many += std::string(i ? "," : "") + R"({"event":"processed","sg_message_id":"X.f"})";
  }
  many += "]";
  CHECK(parse_sendgrid_events(many).error.find("more than") != std::string::npos);
  // A huge reason is cut, and stays valid UTF-8.
  const std::string reason(3000, 'x');
  const auto cut = parse_sendgrid_events(
      R"([{"event":"bounce","type":"blocked","sg_message_id":"Z.f","reason":")" + reason + "ł\"}]");
  REQUIRE(cut.receipts.size() == 1);
  CHECK(cut.receipts[0].status == "blocked");
  CHECK(cut.receipts[0].reason.size() < 1100);
}

TEST_CASE("sendgrid: its route takes a signed post and refuses the rest", "[sendgrid]") {
  asio::io_context io;
  CurlMulti curl(io);
  asio::thread_pool pool(1);
  tack::testing::RecordingReports reports;
  reports.verdict = ReceiptVerdict::Applied;
  // A key made now does not verify the fixed signature: the route's own
  // clock makes the fixed timestamp stale anyway, so the fixed post is
  // checked with verify_sendgrid_signature above; here the route's wiring.
  SendgridGateway gateway(options(), curl, &reports);
  auto routes = gateway.routes();
  REQUIRE(routes.size() == 1);
  CHECK(routes[0].path == "/v1/receipts/sendgrid");
  CHECK(gateway.receipt_wait() == std::chrono::minutes(15));

  auto call = [&](const ServerRequest& request) {
    const std::string client = "203.0.113.9";
    RouteRequest route_request{request, client, false, std::nullopt, false, pool};
    auto response = tack::testing::run_task(io, routes[0].handle(route_request));
    REQUIRE(response);
    return response->result_int();
  };
  CHECK(call(webhook_request("/v1/receipts/sendgrid", kBody)) == 401);
  CHECK(call(signed_request()) == 401);  // signed long ago: stale
  std::string changed = kBody;
  changed[3] = 'E';
  CHECK(call(signed_request(changed)) == 403);
  CHECK(reports.receipts.empty());
  CHECK(reports.refusals.size() == 3);

  SendgridGateway without_reports(options(), curl, nullptr);
  CHECK(without_reports.routes().empty());
  CHECK(without_reports.receipt_wait() == 0ms);
  SendgridOptions no_key = options();
  no_key.verification_key.clear();
  SendgridGateway unsigned_gateway(no_key, curl, &reports);
  CHECK(unsigned_gateway.routes().empty());
  CHECK(unsigned_gateway.receipt_wait() == 0ms);
}

TEST_CASE("sendgrid: settings are checked at load", "[sendgrid][registry]") {
  // Its secret keys: providers_test.cpp, for every provider.
  tack::testing::GatewayHarness h;
  auto create = [&](const std::string& yaml) { return h.gateway("sendgrid", yaml); };
  CHECK_NOTHROW(create("api_key: SG.x\nfrom: \"Shop <shop@example.se>\"\nverification_key: " +
                       std::string(kKey)));
  CHECK_THROWS_WITH(create("from: shop@example.se"), Catch::Contains("api_key"));
  CHECK_THROWS_WITH(create("api_key: SG.x"), Catch::Contains("from"));
  CHECK_THROWS_WITH(create("api_key: SG.x\nfrom: not an address"), Catch::Contains("from"));
  CHECK_THROWS_WITH(create("api_key: SG.x\nfrom: a@b.se\nverification_key: \"!!\""),
                    Catch::Contains("verification_key"));
  // A P-384 key is not what SendGrid signs with.
  CHECK_THROWS_WITH(create("api_key: SG.x\nfrom: a@b.se\nverification_key: "
                           "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEbz1uFDhA5t0soXNcuVJ9LKkz+"
                           "9l5qhHwjsP3oOUcB0iELhKUnhyPZcXip2sJsspnoOIG0e9aB1WxVacPBw/"
                           "9H7nGQgIfTncDtizegwWBtbe2aCftuLdHQB5mwzaW43mr"),
                    Catch::Contains("P-256"));
  CHECK_THROWS_WITH(create("api_key: SG.x\nfrom: a@b.se\nurl: ftp://x"), Catch::Contains("url"));
  CHECK_THROWS_WITH(create("api_key: SG.x\nfrom: a@b.se\nsignature_max_age: 1s"),
                    Catch::Contains("signature_max_age"));
}

TEST_CASE("sendgrid: a marketing e-mail carries the RFC 8058 one-click unsubscribe headers",
          "[sendgrid][optout]") {
  OutboundMessage m = email_message();
  m.unsubscribe_url = "https://tack.example.com/v1/optout?t=abc";
  const auto body = nlohmann::json::parse(build_sendgrid_request(options(), m).request->body);
  CHECK(body["headers"]["List-Unsubscribe"] == "<https://tack.example.com/v1/optout?t=abc>");
  CHECK(body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click");
  const auto plain =
      nlohmann::json::parse(build_sendgrid_request(options(), email_message()).request->body);
  CHECK_FALSE(plain["headers"].contains("List-Unsubscribe"));
  m.unsubscribe_url = "javascript:alert(1)";
  CHECK_FALSE(build_sendgrid_request(options(), m).request);
}
