// Tests for daemon/gateways/46elks.cpp: the request it builds, how it reads
// 46elks' answers, its receipt and reply routes, its settings. The request
// against a real server and the receipts end to end are in
// tests/integration/test_providers_sms1.py.
#include "gateways/46elks.hpp"

#include <catch2/catch.hpp>

#include "provider_support.hpp"

using namespace tack;
using namespace tack::testing;
using namespace std::chrono_literals;

namespace {

const std::string kToken = "r3c3ipt-t0ken-0123456789";

ElksSettings settings(std::string token = kToken) {
  ElksSettings s;
  s.name = "elks";
  s.provider.url = "https://api.46elks.com/a1";
  s.username = "u0123456789abcdef";
  s.password = "APIPASSWORD0123";
  s.from = "Exempel";
  s.receipt_token = std::move(token);
  return s;
}

struct Setup {
  explicit Setup(ElksSettings s = settings(), std::string public_url = "https://tack.example.se")
      : curl(io), gateway(std::move(s), curl, &reports, std::move(public_url)) {}
  asio::io_context io;
  CurlMulti curl;
  RecordingReports reports;
  ElksGateway gateway;
};

Outcome classify(const TransferResult& result) {
  return classify_provider_answer(result, &read_elks_answer, std::chrono::system_clock::now());
}

const std::string kCreated =
    R"({"status": "created", "direction": "outgoing", "from": "Exempel",
        "created": "2026-12-05T10:02:11.293000", "parts": 1, "to": "+46701234567",
        "cost": 3500, "message": "Hej", "id": "s70df59406a1b4643b96f3f91e0bfb7b0"})";

}  // namespace

TEST_CASE("46elks: POST /sms as a form with Basic auth, UTF-8 percent-encoded", "[46elks]") {
  Setup setup;
  CHECK(setup.gateway.receipt_wait() == 15min);
  const HttpRequest request = setup.gateway.build_request(swedish_sms());
  CHECK(request.method == "POST");
  CHECK(request.url == "https://api.46elks.com/a1/sms");
  CHECK(request.username == "u0123456789abcdef");
  CHECK(request.password == "APIPASSWORD0123");
  CHECK(request.bearer_token.empty());
  CHECK(header_value(request, "Content-Type") == "application/x-www-form-urlencoded");
  CHECK(request.body ==
        "from=Exempel&to=%2B46701234567"
        "&message=Hej+%C3%85sa%21+Paketet+fr%C3%A5n+%C5%81%C3%B3d%C5%BA+%26+co+%C3%A4r+skickat+"
        "100%25"
        "&whendelivered=https%3A%2F%2Ftack%3Ar3c3ipt-t0ken-0123456789%40tack.example.se%2Fv1%"
        "2Freceipts%2Felks");
}

TEST_CASE("46elks: no whendelivered without a public URL or a receipt token", "[46elks]") {
  {
    // 46elks reports only to the whendelivered URL of each message: no
    // URL, no receipt to wait for.
    Setup setup(settings(), "");
    CHECK(setup.gateway.build_request(swedish_sms()).body.find("whendelivered") ==
          std::string::npos);
    CHECK(setup.gateway.receipt_wait() == 0ms);
  }
  {
    Setup setup(settings(""));
    CHECK(setup.gateway.build_request(swedish_sms()).body.find("whendelivered") ==
          std::string::npos);
    CHECK(setup.gateway.receipt_wait() == 0ms);
  }
}

TEST_CASE("46elks: answers classified", "[46elks]") {
  SECTION("201/200 with the SMS: sent, its id the provider id") {
    const Outcome o = classify(answer(200, kCreated));
    CHECK(o.kind == Outcome::Kind::Sent);
    CHECK(o.provider_id == "s70df59406a1b4643b96f3f91e0bfb7b0");
    CHECK(o.detail.find("created") != std::string::npos);
  }
  SECTION("a 2xx saying failed is rejected") {
    const Outcome o = classify(answer(200, R"({"id": "s1", "status": "failed"})"));
    CHECK(o.kind == Outcome::Kind::Rejected);
  }
  SECTION("a 2xx without an id is sent with no id, and says so") {
    const Outcome o = classify(answer(200, "OK"));
    CHECK(o.kind == Outcome::Kind::Sent);
    CHECK(o.provider_id.empty());
    CHECK(o.detail.find("no id") != std::string::npos);
    const Outcome bad_id = classify(answer(200, R"({"id": "s1\nforged"})"));
    CHECK(bad_id.provider_id.empty());
    const Outcome number = classify(answer(200, R"({"id": 17})"));
    CHECK(number.provider_id.empty());
  }
  SECTION("400 (a bad parameter) is rejected with 46elks' words") {
    const Outcome o = classify(answer(400, "Invalid to number"));
    CHECK(o.kind == Outcome::Kind::Rejected);
    CHECK(o.detail == "HTTP 400: Invalid to number");
  }
  SECTION("401 and 403 (credentials, credits) hold the gateway") {
    for (const long status : {401L, 403L}) {
      const Outcome o = classify(answer(status, "Not enough credits"));
      CHECK(o.kind == Outcome::Kind::Retry);
      CHECK(o.health == Outcome::Health::Refused);
    }
  }
  SECTION("429 honours Retry-After; 5xx and no connection retry") {
    const Outcome limited = classify(answer(429, "slow down", {{"retry-after", "7"}}));
    CHECK(limited.kind == Outcome::Kind::Retry);
    REQUIRE(limited.retry_after);
    CHECK(*limited.retry_after == 7s);
    const Outcome down = classify(answer(503, ""));
    CHECK(down.kind == Outcome::Kind::Retry);
    CHECK(down.health == Outcome::Health::Down);
    CHECK(classify(no_connection()).kind == Outcome::Kind::Retry);
  }
}

TEST_CASE("46elks: receipts parsed by status", "[46elks]") {
  SECTION("delivered, with its UTC time") {
    const auto parsed = parse_elks_receipt(
        "id=s70df59406a1b4643b96f3f91e0bfb7b0&status=delivered&delivered=2026-12-05T10%3A02%3A14."
        "123000");
    REQUIRE(parsed.error.empty());
    REQUIRE(parsed.receipts.size() == 1);
    const Receipt& r = parsed.receipts[0];
    CHECK(r.provider_id == "s70df59406a1b4643b96f3f91e0bfb7b0");
    CHECK(r.kind == ReceiptKind::Delivered);
    CHECK(r.status == "delivered");
    CHECK(r.at_ms == 1796464934123);
    CHECK_FALSE(r.opted_out);
  }
  SECTION("failed is undelivered, sent is progress, an unknown status progress") {
    CHECK(parse_elks_receipt("id=s1&status=failed").receipts.at(0).kind ==
          ReceiptKind::Undelivered);
    CHECK(parse_elks_receipt("id=s1&status=sent").receipts.at(0).kind == ReceiptKind::Progress);
    const auto odd = parse_elks_receipt("id=s1&status=teleported");
    CHECK(odd.receipts.at(0).kind == ReceiptKind::Progress);
    CHECK(odd.receipts.at(0).status == "teleported");
  }
  SECTION("malformed and hostile bodies are errors, never receipts") {
    for (const char* body :
         {"", "status=delivered", "id=s1", "id=&status=delivered", "id=s1&status=delivered%",
          "id=s1&status=%ff%fe", "id=s1%0A&status=delivered", "id=s1&status=deliv%0Dered",
          "id=s1&status=delivered&delivered=yesterday"}) {
      const auto parsed = parse_elks_receipt(body);
      CHECK_FALSE(parsed.error.empty());
      CHECK(parsed.receipts.empty());
    }
    CHECK_FALSE(parse_elks_receipt("id=" + std::string(200, 'a') + "&status=sent").error.empty());
    std::string many;
    for (int i = 0; i < 300; ++i) many += "k" + std::to_string(i) + "=v&";
    CHECK_FALSE(parse_elks_receipt(many + "id=s1&status=sent").error.empty());
  }
}

TEST_CASE("46elks: replies parsed", "[46elks]") {
  const auto parsed = parse_elks_inbound(
      "direction=incoming&id=sf8425555e5d8db61dda7a7b3f1b91bdb&from=%2B46706861004&to=%"
      "2B46706860000&created=2018-07-13T13%3A57%3A23.741000&message=STOPP+tack+%C3%A5%C3%A4%C3%B6");
  REQUIRE(parsed.error.empty());
  REQUIRE(parsed.replies.size() == 1);
  const InboundSms& sms = parsed.replies[0];
  CHECK(sms.from == "+46706861004");
  CHECK(sms.to == "+46706860000");
  CHECK(sms.text == "STOPP tack åäö");
  CHECK(sms.provider_id == "sf8425555e5d8db61dda7a7b3f1b91bdb");
  CHECK(sms.at_ms == 1531490243741);
  CHECK_FALSE(parse_elks_inbound("to=%2B46706860000&message=STOP").error.empty());
  CHECK_FALSE(parse_elks_inbound("from=%2B4670&to=%2B4670&message=%C3").error.empty());
  CHECK_FALSE(parse_elks_inbound("from=%2B4670&to=%2B4670&message=" + std::string(20000, 'x'))
                  .error.empty());
}

TEST_CASE("46elks: the receipt route checks the Basic credentials of the URL", "[46elks]") {
  Setup setup;
  auto routes = setup.gateway.routes();
  REQUIRE(routes.size() == 2);
  CHECK(routes[0].path == "/v1/receipts/elks");
  CHECK(routes[1].path == "/v1/inbound/elks");
  setup.reports.known["s1"] = ReceiptVerdict::Applied;
  const std::string body = "id=s1&status=delivered&delivered=2026-12-05T10%3A02%3A14";

  SECTION("good credentials: taken, answered 200 with an empty body") {
    const auto response = call(
        routes, post("/v1/receipts/elks", body, {{"Authorization", basic_header("tack", kToken)}}));
    CHECK(response.result_int() == 200);
    CHECK(response.body().empty());
    REQUIRE(setup.reports.receipts.size() == 1);
    CHECK(setup.reports.receipts[0].gateway == "elks");
    CHECK(setup.reports.receipts[0].kind == ReceiptKind::Delivered);
  }
  SECTION("missing credentials: 401, wrong ones 403, never parsed") {
    CHECK(call(routes, post("/v1/receipts/elks", body)).result_int() == 401);
    CHECK(call(routes, post("/v1/receipts/elks", body,
                            {{"Authorization", basic_header("tack", kToken + "x")}}))
              .result_int() == 403);
    CHECK(call(routes,
               post("/v1/receipts/elks", body, {{"Authorization", basic_header("admin", kToken)}}))
              .result_int() == 403);
    CHECK(call(routes, post("/v1/receipts/elks", body, {{"Authorization", "Basic !!!"}}))
              .result_int() == 401);
    CHECK(setup.reports.receipts.empty());
    CHECK(setup.reports.refusals.size() == 4);
  }
  SECTION("an unknown id: 404; malformed: 400; the store down: 503") {
    const Headers auth{{"Authorization", basic_header("tack", kToken)}};
    CHECK(call(routes, post("/v1/receipts/elks", "id=s999&status=delivered", auth)).result_int() ==
          404);
    CHECK(call(routes, post("/v1/receipts/elks", "id=s1&status=%zz", auth)).result_int() == 400);
    setup.reports.store_down = true;
    CHECK(call(routes, post("/v1/receipts/elks", body, auth)).result_int() == 503);
  }
  SECTION("a reply: taken with an empty answer (46elks would send a body as an SMS)") {
    const auto response =
        call(routes, post("/v1/inbound/elks", "from=%2B46701234567&to=%2B46766860000&message=STOP",
                          {{"Authorization", basic_header("tack", kToken)}}));
    CHECK(response.result_int() == 200);
    CHECK(response.body().empty());
    REQUIRE(setup.reports.replies.size() == 1);
    CHECK(setup.reports.replies[0].text == "STOP");
    CHECK(call(routes, post("/v1/inbound/elks", "from=%2B46701234567&to=x&message=STOP"))
              .result_int() == 401);
  }
}

TEST_CASE("46elks: without a receipt token every report is refused", "[46elks]") {
  Setup setup(settings(""));
  auto routes = setup.gateway.routes();
  setup.reports.known["s1"] = ReceiptVerdict::Applied;
  // Not even an empty password gets in.
  CHECK(call(routes, post("/v1/receipts/elks", "id=s1&status=delivered",
                          {{"Authorization", basic_header("tack", "")}}))
            .result_int() == 401);
  CHECK(setup.reports.receipts.empty());
}

TEST_CASE("46elks: no routes where nothing listens", "[46elks]") {
  asio::io_context io;
  CurlMulti curl(io);
  ElksGateway gateway(settings(), curl, nullptr, "https://tack.example.se");
  CHECK(gateway.routes().empty());
  CHECK(gateway.receipt_wait() == 0ms);
}

TEST_CASE("46elks: settings checked at load", "[46elks]") {
  asio::io_context io;
  CurlMulti curl(io);
  GatewayContext context{io, curl, "/etc/tack"};
  const GatewayKind kind = elks_gateway_kind();
  CHECK(kind.type == "46elks");
  auto build = [&](std::map<std::string, std::string> values) {
    values.emplace("username", "u0123");
    values.emplace("password", "secret-password");
    return kind.create(provider_config("elks", "46elks", values), context);
  };
  CHECK(build({{"from", "Exempel"}}) != nullptr);
  CHECK(build({{"from", "+46766861004"}}) != nullptr);
  CHECK(build({{"from", "Åhléns"}}) != nullptr);  // Å, é: GSM basic set
  CHECK_THROWS_WITH(build({{"from", "Exempelbutiken"}}),
                    Catch::Contains("gateway \"elks\": from") && Catch::Contains("at most 11"));
  CHECK_THROWS_WITH(build({{"from", "Łódź"}}), Catch::Contains("GSM 03.38"));
  CHECK_THROWS_WITH(build({{"from", "Shop{1}"}}), Catch::Contains("GSM 03.38"));
  CHECK_THROWS_WITH(build({{"from", "+4676686100412345678"}}), Catch::Contains("15 digits"));
  CHECK_THROWS_WITH(build({}), Catch::Contains("from: is required"));
  CHECK_THROWS_WITH(build({{"from", "Exempel"}, {"receipt_token", "short"}}),
                    Catch::Contains("receipt_token"));
  CHECK_THROWS_WITH(build({{"from", "Exempel"}, {"url", "ftp://x"}}), Catch::Contains("url"));
  const auto secret = std::find_if(kind.keys.begin(), kind.keys.end(),
                                   [](const ConfigKey& k) { return k.name == "receipt_token"; });
  REQUIRE(secret != kind.keys.end());
  CHECK(secret->secret);
}

TEST_CASE("46elks: in the registry", "[46elks]") {
  const GatewayKind* kind = find_gateway_kind("46elks");
  REQUIRE(kind);
  CHECK(kind->type == "46elks");
  CHECK_FALSE(kind->summary.empty());
}
