// Tests for daemon/gateways/sinch.cpp: the batch request, how Sinch's
// answers are classified, its delivery reports and replies, the routes'
// verification, and its settings.
#include "gateways/sinch.hpp"

#include <catch2/catch.hpp>

#include "gateways/reports.hpp"
#include "provider_support.hpp"

using namespace tack;
using namespace std::chrono_literals;
using tack::testing::answer;

namespace {

OutboundMessage sms() {
  OutboundMessage m;
  m.id = 9;
  m.kind = ChannelKind::Sms;
  m.recipient = "+46701234567";
  m.text = "Hej Anna! Order 1042 är skickad. \"Łódź\" \\o/";
  m.idempotency_key = "tack-0123456789abcdef0123456789abcdef";
  return m;
}

SinchOptions options() {
  SinchOptions o;
  o.name = "sinch";
  o.service_plan_id = "a1b2c3d4";
  o.token = "api-token";
  o.from = "Butiken";
  o.receipt_token = "s3cret-s3cret-0123";
  o.public_url = "https://shop.example";
  o.provider.url = "https://eu.sms.api.sinch.com";
  return o;
}

Outcome classify(const TransferResult& r) {
  return classify_sinch_answer(r, std::chrono::system_clock::now());
}

ServerRequest post(const std::string& target, const std::string& body,
                   const std::string& authorization = {}) {
  tack::testing::Headers headers;
  if (!authorization.empty()) headers.emplace_back("Authorization", authorization);
  return tack::testing::webhook_request(target, body, headers);
}
// "tack:s3cret-s3cret-0123" and "tack:guess" in base64.
constexpr const char* kGood = "Basic dGFjazpzM2NyZXQtczNjcmV0LTAxMjM=";
constexpr const char* kWrong = "Basic dGFjazpndWVzcw==";

// Receipts for the provider id "known" are taken; others are unknown.
struct Harness : tack::testing::GatewayHarness {
  Harness() { reports.known["known"] = ReceiptVerdict::Applied; }
  std::unique_ptr<Gateway> gateway(const std::string& yaml, bool listening = true) {
    return GatewayHarness::gateway("sinch", yaml, listening);
  }
  ServerResponse call(Route& route, const ServerRequest& request) {
    return tack::testing::call(route, request);
  }
};

const std::string kDelivered = R"({"at":"2026-12-05T10:02:14.318Z","batch_id":"known",)"
                               R"("code":0,"recipient":"46701234567","status":"Delivered",)"
                               R"("type":"recipient_delivery_report_sms",)"
                               R"("operator_status_at":"2026-12-05T10:02:11Z"})";

}  // namespace

TEST_CASE("sinch: the request is a JSON batch to the service plan, Bearer token",
          "[sinch][gateway]") {
  const HttpRequest request = sinch_request(options(), sms());
  CHECK(request.method == "POST");
  CHECK(request.url == "https://eu.sms.api.sinch.com/xms/v1/a1b2c3d4/batches");
  CHECK(request.bearer_token == "api-token");
  const auto body = nlohmann::json::parse(request.body);
  CHECK(body["from"] == "Butiken");
  CHECK(body["to"] == nlohmann::json::array({"+46701234567"}));
  CHECK(body["body"] == sms().text);
  CHECK(body["delivery_report"] == "per_recipient");
  CHECK(body["callback_url"] == "https://tack:s3cret-s3cret-0123@shop.example/v1/receipts/sinch");
  CHECK(body["client_reference"] == "tack-0123456789abcdef0123456789abcdef");
  // Non-ASCII stays UTF-8 in the JSON text; quotes and backslashes escaped.
  CHECK(request.body.find("är skickad. \\\"Łódź\\\" \\\\o/") != std::string::npos);

  auto o = options();
  o.public_url.clear();
  o.from.clear();
  const auto bare = nlohmann::json::parse(sinch_request(o, sms()).body);
  CHECK_FALSE(bare.contains("callback_url"));
  CHECK_FALSE(bare.contains("delivery_report"));
  CHECK_FALSE(bare.contains("from"));
  // Bytes that are not UTF-8 never make the data path throw.
  auto broken = sms();
  broken.text =
      "a\xff"
      "b";
  CHECK_NOTHROW(sinch_request(options(), broken));
}

TEST_CASE("sinch: answers are classified", "[sinch][gateway]") {
  using K = Outcome::Kind;
  using H = Outcome::Health;
  const Outcome sent = classify(answer(
      201, R"({"id":"01FC66621XXXXX119Z8PMV1QPQ","to":["46701234567"],"from":"Butiken",)"
           R"("canceled":false,"body":"Hej","type":"mt_text","delivery_report":"per_recipient"})"));
  CHECK(sent.kind == K::Sent);
  CHECK(sent.provider_id == "01FC66621XXXXX119Z8PMV1QPQ");

  struct Row {
    long status;
    std::string body;
    K kind;
    H health;
  };
  const std::vector<Row> table{
      {201, R"({"to":["46701234567"]})", K::Unknown, H::Down},
      {200, "not json", K::Unknown, H::Down},
      {400, R"({"code":"syntax_invalid_json","text":"The JSON is invalid"})", K::Rejected,
       H::Answering},
      {403, R"({"code":"missing_callback_url","text":"no callback URL"})", K::Rejected,
       H::Answering},
      {403, "Forbidden", K::Retry, H::Refused},
      {401, R"({"code":"unauthorized"})", K::Retry, H::Refused},
      {500, "", K::Retry, H::Down},
      {503, "", K::Retry, H::Down},
  };
  for (const auto& row : table) {
    INFO(row.status << " " << row.body);
    const Outcome outcome = classify(answer(row.status, row.body));
    CHECK(outcome.kind == row.kind);
    CHECK(outcome.health == row.health);
  }
  const Outcome throttled = classify(answer(429, "", {{"retry-after", "3"}}));
  CHECK(throttled.kind == K::Retry);
  CHECK(throttled.health == H::Answering);
  REQUIRE(throttled.retry_after);
  CHECK(*throttled.retry_after == 3s);
}

TEST_CASE("sinch: recipient delivery reports", "[sinch][receipts]") {
  auto parsed = parse_sinch_receipts(post("/v1/receipts/sinch", kDelivered));
  REQUIRE(parsed.error.empty());
  REQUIRE(parsed.receipts.size() == 1);
  CHECK(parsed.receipts[0].provider_id == "known");
  CHECK(parsed.receipts[0].kind == ReceiptKind::Delivered);
  CHECK(parsed.receipts[0].status == "Delivered");
  CHECK(parsed.receipts[0].reason == "0");
  CHECK(parsed.receipts[0].at_ms == 1796464931000);  // operator_status_at

  for (const char* word : {"Failed", "Expired", "Rejected", "Aborted", "Cancelled", "Deleted"}) {
    auto r = parse_sinch_receipts(post(
        "/", std::string(R"({"type":"recipient_delivery_report_sms","batch_id":"b","code":402,)") +
                 R"("status":")" + word + R"(","at":"2026-12-05T10:02:14Z"})"));
    REQUIRE(r.receipts.size() == 1);
    CHECK(r.receipts[0].kind == ReceiptKind::Undelivered);
    CHECK(r.receipts[0].reason == "402");
    CHECK(r.receipts[0].at_ms == 1796464934000);
  }
  for (const char* word : {"Queued", "Dispatched", "Unknown", "Teleported"}) {
    auto r = parse_sinch_receipts(
        post("/", std::string(R"({"type":"recipient_delivery_report_sms","batch_id":"b",)") +
                      R"("status":")" + word + R"("})"));
    REQUIRE(r.receipts.size() == 1);
    CHECK(r.receipts[0].kind == ReceiptKind::Progress);
  }
  // A batch summary is taken and ignored.
  auto summary = parse_sinch_receipts(post(
      "/",
      R"({"type":"delivery_report_sms","batch_id":"b","statuses":[],"total_message_count":1})"));
  CHECK(summary.error.empty());
  CHECK(summary.receipts.empty());
}

TEST_CASE("sinch: malformed, hostile and oversized reports are refused", "[sinch][receipts]") {
  const std::vector<std::string> bad{
      "",
      "[]",
      "{",
      R"({"batch_id":"b","status":"Delivered"})",
      R"({"type":"recipient_delivery_report_sms","status":"Delivered"})",
      R"({"type":"recipient_delivery_report_sms","batch_id":"b"})",
      R"({"type":"recipient_delivery_report_sms","batch_id":"b","status":"Delivered","code":"x"})",
      R"({"type":"recipient_delivery_report_sms","batch_id":"b","status":"Delivered","at":"soon"})",
      R"({"type":"recipient_delivery_report_sms","batch_id":")" + std::string(200, 'b') +
          R"(","status":"Delivered"})",
      "{\"type\":\"recipient_delivery_report_sms\",\"batch_id\":\"\xff\",\"status\":\"Delivered\"}",
      std::string(100, '[') + std::string(100, ']'),
  };
  for (const auto& body : bad) {
    INFO(body.substr(0, 80));
    const auto parsed = parse_sinch_receipts(post("/", body));
    CHECK_FALSE(parsed.error.empty());
    CHECK(parsed.receipts.empty());
  }
}

TEST_CASE("sinch: a reply (mo_text)", "[sinch][receipts]") {
  auto parsed = parse_sinch_inbound(
      post("/v1/inbound/sinch",
           R"({"type":"mo_text","id":"01FC6","from":"46701234567","to":"46700000000",)"
           R"("body":"STOPP","received_at":"2026-12-05T10:02:14.000Z","operator_id":"24001"})"));
  REQUIRE(parsed.error.empty());
  REQUIRE(parsed.replies.size() == 1);
  CHECK(parsed.replies[0].from == "+46701234567");
  CHECK(parsed.replies[0].to == "+46700000000");
  CHECK(parsed.replies[0].text == "STOPP");
  CHECK(parsed.replies[0].provider_id == "01FC6");
  CHECK(parse_sinch_inbound(post("/", R"({"type":"mo_binary","from":"1"})")).replies.empty());
  CHECK_FALSE(parse_sinch_inbound(post("/", R"({"type":"mo_text","body":"x"})")).error.empty());
  CHECK_FALSE(parse_sinch_inbound(post("/", "nope")).error.empty());
}

TEST_CASE("sinch: the routes check the callback URL's Basic credentials", "[sinch][receipts]") {
  Harness h;
  auto gateway = h.gateway("service_plan_id: abc\ntoken: t\nreceipt_token: s3cret-s3cret-0123\n");
  CHECK(gateway->receipt_wait() == 15min);
  auto routes = gateway->routes();
  REQUIRE(routes.size() == 2);
  CHECK(routes[0].path == "/v1/receipts/sinch");
  CHECK(routes[0].method == beast_http::verb::post);
  CHECK(routes[1].path == "/v1/inbound/sinch");
  CHECK(h.call(routes[0], post("/v1/receipts/sinch", kDelivered)).result() ==
        beast_http::status::unauthorized);
  CHECK(h.call(routes[0], post("/v1/receipts/sinch", kDelivered, kWrong)).result() ==
        beast_http::status::forbidden);
  CHECK(h.reports.receipts.empty());
  CHECK(h.call(routes[0], post("/v1/receipts/sinch", kDelivered, kGood)).result() ==
        beast_http::status::ok);
  REQUIRE(h.reports.receipts.size() == 1);
  std::string unknown = kDelivered;
  unknown.replace(unknown.find("known"), 5, "other");
  CHECK(h.call(routes[0], post("/v1/receipts/sinch", unknown, kGood)).result() ==
        beast_http::status::not_found);
  CHECK(h.call(routes[0], post("/v1/receipts/sinch", "{", kGood)).result() ==
        beast_http::status::bad_request);

  auto open = h.gateway("service_plan_id: abc\ntoken: t\n");
  auto open_routes = open->routes();
  CHECK(h.call(open_routes[0], post("/v1/receipts/sinch", kDelivered, kGood)).result() ==
        beast_http::status::unauthorized);
  CHECK(h.gateway("service_plan_id: abc\ntoken: t\n", false)->routes().empty());
}

TEST_CASE("sinch: settings are checked at load", "[sinch][config]") {
  Harness h;
  CHECK(h.gateway("service_plan_id: abc123\ntoken: t\nfrom: Butiken\nregion: eu\n"));
  CHECK_THROWS_WITH(h.gateway("service_plan_id: abc\ntoken: t\nfrom: ButikenSverige\n"),
                    Catch::Contains("at most 11"));
  CHECK_THROWS_WITH(h.gateway("service_plan_id: abc\ntoken: t\nfrom: \"Caf{e}\"\n"),
                    Catch::Contains("GSM"));
  CHECK_THROWS_WITH(h.gateway("service_plan_id: abc\ntoken: t\nregion: xx\n"),
                    Catch::Contains("region"));
  CHECK_THROWS_WITH(h.gateway("service_plan_id: \"../admin\"\ntoken: t\n"),
                    Catch::Contains("service_plan_id"));
  CHECK_THROWS_WITH(h.gateway("token: t\n"), Catch::Contains("service_plan_id"));
  CHECK_THROWS_WITH(h.gateway("service_plan_id: abc\n"), Catch::Contains("token"));
  CHECK_THROWS_WITH(h.gateway("service_plan_id: abc\ntoken: t\nregion: eu\nurl: http://x\n"),
                    Catch::Contains("not both"));
}
