// Tests for daemon/gateways/smsapi.cpp: the request it builds, how it reads
// SMSAPI's answers (HTTP 200 with an error code inside), its receipt and
// reply parsing, the routes' verification, and its settings.
#include "gateways/smsapi.hpp"

#include <catch2/catch.hpp>

#include "digest.hpp"
#include "gateways/reports.hpp"
#include "provider_support.hpp"
#include "text.hpp"

using namespace tack;
using namespace std::chrono_literals;
using tack::testing::answer;

namespace {

OutboundMessage polish_sms() {
  OutboundMessage m;
  m.id = 7;
  m.kind = ChannelKind::Sms;
  m.recipient = "+48500600700";
  m.text = "Zamówienie 1042 wysłane. Dziękujemy! Łódź & co";
  m.idempotency_key = "tack-0123456789abcdef0123456789abcdef";
  return m;
}

SmsapiOptions options() {
  SmsapiOptions o;
  o.name = "smsapi";
  o.token = "oauth-token-1";
  o.from = "Sklep";
  o.receipt_token = "s3cret-s3cret-0123";
  o.public_url = "https://shop.example";
  o.provider.url = "https://api.smsapi.pl";
  return o;
}

Outcome classify(const TransferResult& r) {
  return classify_provider_answer(r, &read_smsapi_answer, std::chrono::system_clock::now());
}

ServerRequest get(const std::string& target, const std::string& authorization = {}) {
  ServerRequest request{beast_http::verb::get, target, 11};
  if (!authorization.empty()) request.set(beast_http::field::authorization, authorization);
  return request;
}

// Receipts for the provider id "known" are taken; others are unknown.
struct Harness : tack::testing::GatewayHarness {
  Harness() { reports.known["known"] = ReceiptVerdict::Applied; }
  std::unique_ptr<Gateway> gateway(const std::string& yaml, bool listening = true) {
    return GatewayHarness::gateway("smsapi", yaml, listening);
  }
  ServerResponse call(Route& route, const ServerRequest& request) {
    return tack::testing::call(route, request);
  }
};

}  // namespace

TEST_CASE("smsapi: the request is SMSAPI's sms.do form with a Bearer token", "[smsapi][gateway]") {
  const HttpRequest request = smsapi_request(options(), polish_sms());
  CHECK(request.method == "POST");
  CHECK(request.url == "https://api.smsapi.pl/sms.do");
  CHECK(request.bearer_token == "oauth-token-1");
  CHECK(request.username.empty());
  const auto form = parse_form(request.body);
  REQUIRE(form);
  CHECK(form->at("to") == "48500600700");  // no +
  CHECK(form->at("message") == polish_sms().text);
  CHECK(form->at("from") == "Sklep");
  CHECK(form->at("format") == "json");
  CHECK(form->at("encoding") == "utf-8");
  CHECK(form->at("idx") == "tack-0123456789abcdef0123456789abcdef");
  CHECK(form->at("check_idx") == "1");
  CHECK(form->at("notify_url") ==
        "https://tack:s3cret-s3cret-0123@shop.example/v1/receipts/smsapi");
  CHECK_FALSE(form->count("normalize"));
  // ł and ó go as UTF-8, percent-encoded; & and spaces are escaped.
  CHECK(request.body.find("message=Zam%C3%B3wienie+1042") != std::string::npos);
  CHECK(request.body.find("%C5%81%C3%B3d%C5%BA+%26+co") != std::string::npos);
  bool form_type = false;
  for (const auto& [name, value] : request.headers) {
    if (name == "Content-Type") form_type = value == "application/x-www-form-urlencoded";
  }
  CHECK(form_type);
}

TEST_CASE("smsapi: no notify_url without a public URL or a receipt token; normalize on request",
          "[smsapi][gateway]") {
  auto o = options();
  o.public_url.clear();
  o.normalize = true;
  o.from.clear();
  auto form = parse_form(smsapi_request(o, polish_sms()).body);
  REQUIRE(form);
  CHECK_FALSE(form->count("notify_url"));
  CHECK_FALSE(form->count("from"));
  CHECK(form->at("normalize") == "1");
  o = options();
  o.receipt_token.clear();
  form = parse_form(smsapi_request(o, polish_sms()).body);
  REQUIRE(form);
  CHECK_FALSE(form->count("notify_url"));
  // An idempotency key longer than SMSAPI's idx takes is not sent as one.
  auto long_key = polish_sms();
  long_key.idempotency_key = std::string(300, 'k');
  form = parse_form(smsapi_request(options(), long_key).body);
  REQUIRE(form);
  CHECK_FALSE(form->count("idx"));
  CHECK_FALSE(form->count("check_idx"));
}

TEST_CASE("smsapi: a 200 answer is classified by the error code inside", "[smsapi][gateway]") {
  using K = Outcome::Kind;
  using H = Outcome::Health;
  auto sent =
      classify(answer(200, R"({"count":1,"list":[{"id":"7074294081650020450","points":0.16,)"
                           R"("number":"48500600700","date_sent":1733392934,)"
                           R"("submitted_number":"48500600700","status":"QUEUE"}]})"));
  CHECK(sent.kind == K::Sent);
  CHECK(sent.provider_id == "7074294081650020450");

  struct Row {
    std::string body;
    K kind;
    H health;
  };
  const std::vector<Row> table{
      {R"({"invalid_numbers":[{"number":"48100200300","submitted_number":"48100200300",)"
       R"("message":"Invalid phone number"}],"error":13,"message":"No correct phone numbers"})",
       K::Rejected, H::Answering},
      {R"({"error":14,"message":"Invalid sender name"})", K::Rejected, H::Answering},
      {R"({"error":11,"message":"Message too long"})", K::Rejected, H::Answering},
      {R"({"error":101,"message":"Authorization failed"})", K::Retry, H::Refused},
      {R"({"error":102,"message":"Invalid username or password"})", K::Retry, H::Refused},
      {R"({"error":103,"message":"Insufficient credits"})", K::Retry, H::Refused},
      {R"({"error":105,"message":"Invalid IP address"})", K::Retry, H::Refused},
      {R"({"error":203,"message":"Too many requests"})", K::Retry, H::Answering},
      {R"({"error":202,"message":"Too many simultaneous requests"})", K::Retry, H::Answering},
      {R"({"error":8,"message":"Error in request, please report"})", K::Retry, H::Down},
      {R"({"error":201,"message":"System internal error"})", K::Retry, H::Down},
      {R"({"error":"999","message":"Internal error"})", K::Retry, H::Down},
      {R"({"error":"thirteen","message":"?"})", K::Rejected, H::Answering},
      {"ERROR:105", K::Retry, H::Refused},
      {"ERROR:13", K::Rejected, H::Answering},
      {"not json and not SMSAPI's text", K::Unknown, H::Down},
      {R"({"count":1,"list":[]})", K::Unknown, H::Down},
      {R"({"count":1,"list":[{"id":""}]})", K::Unknown, H::Down},
      {"", K::Unknown, H::Down},
  };
  for (const auto& row : table) {
    INFO(row.body);
    const Outcome outcome = classify(answer(200, row.body));
    CHECK(outcome.kind == row.kind);
    CHECK(outcome.health == row.health);
    CHECK(outcome.provider_id.empty());
  }
  const Outcome text = classify(answer(200, "OK:17101000090360359:0.165"));
  CHECK(text.kind == K::Sent);
  CHECK(text.provider_id == "17101000090360359");
  // The detail keeps SMSAPI's message for support.
  CHECK(classify(answer(200, table[0].body)).detail.find("No correct phone numbers") !=
        std::string::npos);
}

TEST_CASE("smsapi: non-2xx answers: 429 with Retry-After, 5xx, 401", "[smsapi][gateway]") {
  const Outcome throttled = classify(answer(429, "", {{"retry-after", "7"}}));
  CHECK(throttled.kind == Outcome::Kind::Retry);
  REQUIRE(throttled.retry_after);
  CHECK(*throttled.retry_after == 7s);
  CHECK(classify(answer(503, "down")).kind == Outcome::Kind::Retry);
  CHECK(classify(answer(503, "down")).health == Outcome::Health::Down);
  CHECK(classify(answer(401, R"({"error":"invalid_token"})")).health == Outcome::Health::Refused);
  CHECK(classify(answer(400, "bad")).kind == Outcome::Kind::Rejected);
}

TEST_CASE("parse_provider_time reads plain Unix seconds (SMSAPI's donedate)",
          "[smsapi][receipts]") {
  CHECK(parse_provider_time("1733392934") == 1733392934000);
  CHECK(parse_provider_time("1733392934.25") == 1733392934250);
  CHECK(parse_provider_time("2026-12-05T10:02:14Z") == 1796464934000);
  CHECK_FALSE(parse_provider_time("17333929341234"));
  CHECK_FALSE(parse_provider_time("12345"));
}

TEST_CASE("smsapi: receipts from the callback's query, several per call", "[smsapi][receipts]") {
  auto one = parse_smsapi_receipts(get(
      "/v1/receipts/smsapi?MsgId=613F1B1D3A&status=404&status_name=DELIVERED&idx=tack-1"
      "&donedate=1733392934&username=shop&points=0.16&from=Sklep&to=48500600700&mcc=260&mnc=2"));
  REQUIRE(one.error.empty());
  REQUIRE(one.receipts.size() == 1);
  CHECK(one.receipts[0].provider_id == "613F1B1D3A");
  CHECK(one.receipts[0].kind == ReceiptKind::Delivered);
  CHECK(one.receipts[0].status == "DELIVERED");
  CHECK(one.receipts[0].reason == "404");
  CHECK(one.receipts[0].at_ms == 1733392934000);

  auto many = parse_smsapi_receipts(
      get("/v1/receipts/smsapi?MsgId=a1,a2,a3,a4&status=403,405,402,499"
          "&status_name=SENT,UNDELIVERED,EXPIRED,NEW&donedate=1733392934,1733392935,,1733392936"));
  REQUIRE(many.error.empty());
  REQUIRE(many.receipts.size() == 4);
  CHECK(many.receipts[0].kind == ReceiptKind::Progress);
  CHECK(many.receipts[1].kind == ReceiptKind::Undelivered);
  CHECK(many.receipts[1].provider_id == "a2");
  CHECK(many.receipts[2].kind == ReceiptKind::Undelivered);
  CHECK(many.receipts[2].at_ms == 0);
  // A status SMSAPI may add later: on the timeline, nothing moves.
  CHECK(many.receipts[3].kind == ReceiptKind::Progress);
  CHECK(many.receipts[3].status == "NEW");

  for (int status : {406, 407, 412}) {
    auto failed =
        parse_smsapi_receipts(get("/v1/receipts/smsapi?MsgId=x&status=" + std::to_string(status)));
    REQUIRE(failed.receipts.size() == 1);
    CHECK(failed.receipts[0].kind == ReceiptKind::Undelivered);
    CHECK(failed.receipts[0].status == std::to_string(status));
  }
}

TEST_CASE("smsapi: malformed, hostile and oversized callbacks are refused", "[smsapi][receipts]") {
  std::string hundred_one = "a0";
  std::string statuses = "404";
  for (int i = 1; i <= 100; ++i) {
    hundred_one += ",a" + std::to_string(i);
    statuses += ",404";
  }
  const std::vector<std::string> bad{
      "/v1/receipts/smsapi",
      "/v1/receipts/smsapi?status=404",
      "/v1/receipts/smsapi?MsgId=a",
      "/v1/receipts/smsapi?MsgId=a&status=delivered",
      "/v1/receipts/smsapi?MsgId=a,b&status=404",
      "/v1/receipts/smsapi?MsgId=a,b&status=404,404&status_name=X",
      "/v1/receipts/smsapi?MsgId=a&status=404&donedate=yesterday",
      "/v1/receipts/smsapi?MsgId=%FF%FE&status=404",
      "/v1/receipts/smsapi?MsgId=a&status=%ZZ",
      "/v1/receipts/smsapi?MsgId=,&status=404,404",
      "/v1/receipts/smsapi?MsgId=" + std::string(200, 'x') + "&status=404",
      "/v1/receipts/smsapi?MsgId=" + hundred_one + "&status=" + statuses,
      "/v1/receipts/smsapi?MsgId=a&status=99999999999999999999",
  };
  for (const auto& target : bad) {
    INFO(target.substr(0, 120));
    const auto parsed = parse_smsapi_receipts(get(target));
    CHECK_FALSE(parsed.error.empty());
    CHECK(parsed.receipts.empty());
  }
}

TEST_CASE("smsapi: a reply (MO) is a form POST", "[smsapi][receipts]") {
  ServerRequest post{beast_http::verb::post, "/v1/inbound/smsapi", 11};
  post.body() =
      "sms_to=48500000000&sms_from=48500600700&sms_text=STOP+prosz%C4%99&"
      "sms_date=1733392934&username=shop&MsgId=99";
  const auto parsed = parse_smsapi_inbound(post);
  REQUIRE(parsed.error.empty());
  REQUIRE(parsed.replies.size() == 1);
  CHECK(parsed.replies[0].from == "+48500600700");
  CHECK(parsed.replies[0].to == "+48500000000");
  CHECK(parsed.replies[0].text == "STOP proszę");
  CHECK(parsed.replies[0].at_ms == 1733392934000);
  post.body() = "sms_text=STOP";
  CHECK_FALSE(parse_smsapi_inbound(post).error.empty());
  post.body() = "sms_from=1&sms_text=%C3";
  CHECK_FALSE(parse_smsapi_inbound(post).error.empty());
}

TEST_CASE("smsapi: the receipt route checks the Basic credentials of the notify_url",
          "[smsapi][receipts]") {
  Harness h;
  auto gateway = h.gateway("token: t\nreceipt_token: s3cret-s3cret-0123\nreceipt_wait: 10m\n");
  CHECK(gateway->receipt_wait() == 10min);
  auto routes = gateway->routes();
  REQUIRE(routes.size() == 2);
  Route& receipts = routes[0];
  CHECK(receipts.path == "/v1/receipts/smsapi");
  CHECK(receipts.method == beast_http::verb::get);
  CHECK(routes[1].path == "/v1/inbound/smsapi");
  const std::string query = "/v1/receipts/smsapi?MsgId=known&status=404&status_name=DELIVERED";

  CHECK(h.call(receipts, get(query)).result() == beast_http::status::unauthorized);
  CHECK(h.call(receipts, get(query, tack::testing::basic_header("tack", "guess"))).result() ==
        beast_http::status::forbidden);
  CHECK(h.call(receipts, get(query, tack::testing::basic_header("admin", "s3cret-s3cret-0123")))
            .result() == beast_http::status::forbidden);
  CHECK(h.reports.receipts.empty());
  CHECK(h.reports.refusals.size() == 3);

  const auto ok =
      h.call(receipts, get(query, tack::testing::basic_header("tack", "s3cret-s3cret-0123")));
  CHECK(ok.result() == beast_http::status::ok);
  CHECK(ok.body() == "OK");  // SMSAPI calls again unless told OK
  REQUIRE(h.reports.receipts.size() == 1);
  CHECK(h.reports.receipts[0].gateway == "smsapi");

  const auto unknown =
      h.call(receipts, get("/v1/receipts/smsapi?MsgId=never&status=404",
                           tack::testing::basic_header("tack", "s3cret-s3cret-0123")));
  CHECK(unknown.result() == beast_http::status::not_found);
  const auto malformed =
      h.call(receipts, get("/v1/receipts/smsapi?MsgId=x&status=y",
                           tack::testing::basic_header("tack", "s3cret-s3cret-0123")));
  CHECK(malformed.result() == beast_http::status::bad_request);
}

TEST_CASE("smsapi: without a receipt_token every callback is refused; no routes in the CLI",
          "[smsapi][receipts]") {
  Harness h;
  auto gateway = h.gateway("token: t\n");
  auto routes = gateway->routes();
  REQUIRE(routes.size() == 2);
  CHECK(h.call(routes[0], get("/v1/receipts/smsapi?MsgId=known&status=404",
                              tack::testing::basic_header("tack", "")))
            .result() == beast_http::status::unauthorized);
  CHECK(h.reports.receipts.empty());
  auto quiet = h.gateway("token: t\nreceipt_token: 0123456789abcdef\n", false);
  CHECK(quiet->routes().empty());
  CHECK(quiet->receipt_wait() == 0ms);
}

TEST_CASE("smsapi: settings are checked at load (sender ID, region, token)", "[smsapi][config]") {
  Harness h;
  CHECK(h.gateway("token: t\nfrom: Sklep\n"));
  CHECK(h.gateway("token: t\nfrom: \"+48500600700\"\nregion: com\n"));
  CHECK_THROWS_WITH(h.gateway("token: t\nfrom: SklepInternetowy\n"),
                    Catch::Contains("from") && Catch::Contains("at most 11"));
  CHECK_THROWS_WITH(h.gateway("token: t\nfrom: Łódź\n"), Catch::Contains("GSM"));
  CHECK_THROWS_WITH(h.gateway("token: t\nregion: de\n"), Catch::Contains("region"));
  CHECK_THROWS_WITH(h.gateway("token: t\nregion: com\nurl: http://127.0.0.1:1\n"),
                    Catch::Contains("not both"));
  CHECK_THROWS_WITH(h.gateway("from: Sklep\n"), Catch::Contains("token"));
  CHECK_THROWS_WITH(h.gateway("token: t\nurl: ftp://x\n"), Catch::Contains("url"));
}

TEST_CASE("smsapi: region com goes to api.smsapi.com", "[smsapi][config]") {
  auto o = options();
  o.provider.url = kSmsapiComUrl;
  CHECK(smsapi_request(o, polish_sms()).url == "https://api.smsapi.com/sms.do");
}
