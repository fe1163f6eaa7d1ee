// Tests for daemon/gateways/postmark.cpp: the request it builds, how it
// reads Postmark's answers (ErrorCode on 200 and 422), and its webhooks
// behind Basic credentials. The end-to-end run against a fake Postmark is
// tests/integration/test_providers_email.py.
#include "gateways/postmark.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "../support/coro.hpp"
#include "provider_support.hpp"

using namespace tack;
using namespace std::chrono_literals;
using tack::testing::answer;
using tack::testing::email_message;
using tack::testing::webhook_request;

namespace {

constexpr const char* kReceiptToken = "receipt-token-0123456789";

PostmarkOptions options() {
  PostmarkOptions o;
  o.name = "postmark";
  o.provider.url = "http://127.0.0.1:9";
  o.server_token = "server-token-abcd";
  o.from = {"Exempelbutiken", "kundservice@exempelbutiken.se"};
  o.receipt_token = kReceiptToken;
  return o;
}

std::string header(const HttpRequest& request, const std::string& name) {
  for (const auto& [key, value] : request.headers) {
    if (key == name) return value;
  }
  return "(none)";
}

const auto kNow = std::chrono::system_clock::from_time_t(1764930000);

}  // namespace

TEST_CASE("postmark: the request is /email with the server token and UTF-8 JSON", "[postmark]") {
  const auto built = build_postmark_request(options(), email_message());
  REQUIRE(built.request);
  const HttpRequest& request = *built.request;
  const OutboundMessage m = email_message();
  CHECK(request.method == "POST");
  CHECK(request.url == "http://127.0.0.1:9/email");
  CHECK(header(request, "X-Postmark-Server-Token") == "server-token-abcd");
  CHECK(header(request, "Accept") == "application/json");
  CHECK(header(request, "Content-Type") == "application/json");
  CHECK(request.username.empty());
  CHECK(request.bearer_token.empty());
  const auto body = nlohmann::json::parse(request.body);
  CHECK(body ==
        nlohmann::json(
            {{"From", "\"Exempelbutiken\" <kundservice@exempelbutiken.se>"},
             {"To", "anna@example.se"},
             {"Subject", m.subject},
             {"TextBody", m.text},
             {"HtmlBody", m.html},
             {"MessageStream", "outbound"},
             {"Headers", {{{"Name", "X-Tack-Idempotency-Key"}, {"Value", m.idempotency_key}}}},
             {"Metadata", {{"tack_idempotency_key", m.idempotency_key}}}}));
  CHECK(request.body.find("Cześć") != std::string::npos);

  OutboundMessage plain = email_message();
  plain.html.clear();
  CHECK_FALSE(nlohmann::json::parse(build_postmark_request(options(), plain).request->body)
                  .contains("HtmlBody"));
  plain.recipient = "anna@";
  CHECK_FALSE(build_postmark_request(options(), plain).request);
}

TEST_CASE("postmark: answers are classified by ErrorCode", "[postmark]") {
  const auto ok = classify_postmark_answer(
      answer(200,
             R"({"To":"anna@example.se","SubmittedAt":"2026-12-05T10:02:11.0000000Z",)"
             R"("MessageID":"b7bc2f4a-e38e-4336-af7d-e6c392c2f817","ErrorCode":0,"Message":"OK"})"),
      kNow);
  CHECK(ok.kind == Outcome::Kind::Sent);
  CHECK(ok.provider_id == "b7bc2f4a-e38e-4336-af7d-e6c392c2f817");

  const auto inactive = classify_postmark_answer(
      answer(
          422,
          R"({"ErrorCode":406,"Message":"You tried to send to recipient(s) that have been marked as inactive."})"),
      kNow);
  CHECK(inactive.kind == Outcome::Kind::Rejected);
  CHECK(inactive.detail.find("Postmark error 406") != std::string::npos);
  CHECK(inactive.detail.find("inactive") != std::string::npos);

  CHECK(classify_postmark_answer(
            answer(422, R"({"ErrorCode":300,"Message":"Invalid 'To' address: 'x'."})"), kNow)
            .kind == Outcome::Kind::Rejected);
  // A 200 with an error inside is classified by the error.
  CHECK(classify_postmark_answer(
            answer(200, R"({"ErrorCode":300,"Message":"Invalid email request"})"), kNow)
            .kind == Outcome::Kind::Rejected);

  for (int code : {10, 400, 401, 405, 412, 413}) {
    const auto account = classify_postmark_answer(
        answer(422, R"({"ErrorCode":)" + std::to_string(code) + R"(,"Message":"account"})"), kNow);
    CHECK(account.kind == Outcome::Kind::Retry);
    CHECK(account.health == Outcome::Health::Refused);
  }
  const auto maintenance =
      classify_postmark_answer(answer(422, R"({"ErrorCode":100,"Message":"Maintenance"})"), kNow);
  CHECK(maintenance.kind == Outcome::Kind::Retry);
  CHECK(maintenance.health == Outcome::Health::Down);
  CHECK(classify_postmark_answer(answer(422, R"({"ErrorCode":429,"Message":"Rate limit"})"), kNow)
            .health == Outcome::Health::Answering);

  const auto token = classify_postmark_answer(
      answer(
          401,
          R"({"ErrorCode":10,"Message":"No Account or Server API tokens were supplied in the HTTP headers."})"),
      kNow);
  CHECK(token.kind == Outcome::Kind::Retry);
  CHECK(token.health == Outcome::Health::Refused);
  const auto throttled = classify_postmark_answer(answer(429, "{}", {{"retry-after", "3"}}), kNow);
  CHECK(throttled.kind == Outcome::Kind::Retry);
  REQUIRE(throttled.retry_after);
  CHECK(*throttled.retry_after == 3s);
  CHECK(classify_postmark_answer(answer(500, "{}"), kNow).health == Outcome::Health::Down);
  // A 422 that is not Postmark's JSON is still permanent.
  CHECK(classify_postmark_answer(answer(422, "<html>"), kNow).kind == Outcome::Kind::Rejected);
}

TEST_CASE("postmark: delivery and bounce webhooks become receipts", "[postmark]") {
  const auto delivered = parse_postmark_webhook(
      R"({"RecordType":"Delivery","ServerID":23,"MessageStream":"outbound",)"
      R"("MessageID":"883953f4-6105-42a2-a16a-77a8eac79483","Recipient":"anna@example.se",)"
      R"("Tag":"","DeliveredAt":"2026-12-05T10:02:14.9070259Z","Details":"Test delivery webhook details"})");
  REQUIRE(delivered.error.empty());
  REQUIRE(delivered.receipts.size() == 1);
  CHECK(delivered.receipts[0].provider_id == "883953f4-6105-42a2-a16a-77a8eac79483");
  CHECK(delivered.receipts[0].kind == ReceiptKind::Delivered);
  CHECK(delivered.receipts[0].at_ms == 1796464934907);

  const auto hard = parse_postmark_webhook(
      R"({"RecordType":"Bounce","ID":42,"Type":"HardBounce","TypeCode":1,"Name":"Hard bounce",)"
      R"("MessageID":"m-1","Description":"The server was unable to deliver your message (ex: unknown user, mailbox not found).",)"
      R"("Details":"smtp;550 5.1.1 användaren finns inte","Email":"anna@example.se",)"
      R"("BouncedAt":"2026-12-05T11:02:14-01:00","Inactive":true,"CanActivate":true})");
  REQUIRE(hard.receipts.size() == 1);
  CHECK(hard.receipts[0].kind == ReceiptKind::Bounced);
  CHECK(hard.receipts[0].status == "HardBounce");
  CHECK(hard.receipts[0].reason ==
        "The server was unable to deliver your message (ex: unknown user, mailbox not found). "
        "smtp;550 5.1.1 användaren finns inte");
  CHECK(hard.receipts[0].at_ms == 1796472134000);

  const auto soft = parse_postmark_webhook(
      R"({"RecordType":"Bounce","Type":"SoftBounce","TypeCode":4096,"MessageID":"m-2",)"
      R"("Description":"Mailbox full","Details":"452","Inactive":false})");
  REQUIRE(soft.receipts.size() == 1);
  CHECK(soft.receipts[0].kind == ReceiptKind::Progress);
  CHECK(soft.receipts[0].status == "SoftBounce");
  CHECK(soft.receipts[0].reason == "Mailbox full 452");
  // A bounce that made Postmark deactivate the address is hard, whatever its type.
  const auto deactivating = parse_postmark_webhook(
      R"({"RecordType":"Bounce","Type":"Unknown","MessageID":"m-3","Inactive":true})");
  CHECK(deactivating.receipts.at(0).kind == ReceiptKind::Bounced);

  CHECK(parse_postmark_webhook(R"({"RecordType":"Open","MessageID":"m-1"})").receipts.empty());
  CHECK(parse_postmark_webhook(R"({"RecordType":"Open","MessageID":"m-1"})").error.empty());
}

TEST_CASE("postmark: malformed and hostile webhook bodies are 400", "[postmark]") {
  for (const std::string& body :
       {std::string(), std::string("[]"), std::string("nope"),
        std::string(R"({"RecordType":"Delivery"})"),
        std::string(R"({"RecordType":"Bounce","MessageID":""})"), std::string(4000, '['),
        std::string("{\"RecordType\":\"Delivery\",\"MessageID\":\"\xed\xa0\x80\"}")}) {
    CHECK_FALSE(parse_postmark_webhook(body).error.empty());
  }
}

TEST_CASE("postmark: its route wants the Basic credentials of the webhook URL", "[postmark]") {
  asio::io_context io;
  CurlMulti curl(io);
  asio::thread_pool pool(1);
  tack::testing::RecordingReports reports;
  reports.verdict = ReceiptVerdict::Applied;
  PostmarkGateway gateway(options(), curl, &reports);
  auto routes = gateway.routes();
  REQUIRE(routes.size() == 1);
  CHECK(routes[0].path == "/v1/receipts/postmark");
  const std::string body =
      R"({"RecordType":"Delivery","MessageID":"m-1","DeliveredAt":"2026-12-05T10:02:14Z"})";
  auto post = [&](std::vector<std::pair<std::string, std::string>> headers) {
    const ServerRequest request = webhook_request("/v1/receipts/postmark", body, headers);
    const std::string client = "203.0.113.9";
    RouteRequest call{request, client, false, std::nullopt, false, pool};
    auto response = tack::testing::run_task(io, routes[0].handle(call));
    REQUIRE(response);
    return response->result_int();
  };
  using tack::testing::base64;
  CHECK(post({}) == 401);
  CHECK(post({{"Authorization", "Basic " + base64("tack:wrong-token-0123456789")}}) == 403);
  CHECK(post({{"Authorization", "Basic " + base64(std::string("other:") + kReceiptToken)}}) == 403);
  CHECK(post({{"Authorization", "Bearer " + std::string(kReceiptToken)}}) == 401);
  CHECK(reports.receipts.empty());
  CHECK(post({{"Authorization", "Basic " + base64(std::string("tack:") + kReceiptToken)}}) == 200);
  REQUIRE(reports.receipts.size() == 1);
  CHECK(reports.receipts[0].provider_id == "m-1");
  CHECK(reports.receipts[0].gateway == "postmark");
  reports.verdict = ReceiptVerdict::Unknown;
  CHECK(post({{"Authorization", "Basic " + base64(std::string("tack:") + kReceiptToken)}}) == 404);

  PostmarkOptions no_token = options();
  no_token.receipt_token.clear();
  PostmarkGateway unsigned_gateway(no_token, curl, &reports);
  CHECK(unsigned_gateway.routes().empty());
  CHECK(unsigned_gateway.receipt_wait() == 0ms);
}

TEST_CASE("postmark: settings are checked at load", "[postmark][registry]") {
  // Its secret keys: providers_test.cpp, for every provider.
  tack::testing::GatewayHarness h;
  auto create = [&](const std::string& yaml) { return h.gateway("postmark", yaml); };
  CHECK_NOTHROW(
      create("server_token: t\nfrom: \"Shop <shop@example.se>\"\nmessage_stream: broadcast\n"
             "receipt_token: receipt-token-0123456789"));
  CHECK_THROWS_WITH(create("from: a@b.se"), Catch::Contains("server_token"));
  CHECK_THROWS_WITH(create("server_token: t"), Catch::Contains("from"));
  CHECK_THROWS_WITH(create("server_token: t\nfrom: \"a@b.se\r\nBcc: c@d.se\""),
                    Catch::Contains("from"));
  CHECK_THROWS_WITH(create("server_token: t\nfrom: a@b.se\nreceipt_token: short"),
                    Catch::Contains("receipt_token"));
  CHECK_THROWS_WITH(create("server_token: t\nfrom: a@b.se\nmessage_stream: \"\""),
                    Catch::Contains("message_stream"));
}

TEST_CASE("postmark: a marketing e-mail carries the RFC 8058 one-click unsubscribe headers",
          "[postmark][optout]") {
  OutboundMessage m = email_message();
  m.unsubscribe_url = "https://tack.example.com/v1/optout?t=abc";
  const auto body = nlohmann::json::parse(build_postmark_request(options(), m).request->body);
  std::map<std::string, std::string> headers;
  for (const auto& h : body["Headers"]) headers[h["Name"]] = h["Value"];
  CHECK(headers["List-Unsubscribe"] == "<https://tack.example.com/v1/optout?t=abc>");
  CHECK(headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click");
  CHECK(headers.count("X-Tack-Idempotency-Key") == 1);
  m.unsubscribe_url = "https://x.example/<script>";
  CHECK_FALSE(build_postmark_request(options(), m).request);
}
