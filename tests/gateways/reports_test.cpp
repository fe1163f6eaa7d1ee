// gateways/reports: the parts every provider's receipt route shares, and
// the answers report_route gives a provider.
#include "gateways/reports.hpp"

#include <catch2/catch.hpp>

#include "../support/coro.hpp"

using namespace tack;

namespace {

// Records what the route hands on; answers as told.
class FakeReports final : public ProviderReports {
 public:
  std::vector<Receipt> receipts;
  std::vector<InboundSms> replies;
  std::vector<std::string> refusals;
  std::optional<ReceiptVerdict> verdict = ReceiptVerdict::Applied;

  asio::awaitable<std::optional<ReceiptVerdict>> receipt(Receipt r) override {
    receipts.push_back(std::move(r));
    co_return verdict;
  }
  asio::awaitable<std::optional<InboundVerdict>> inbound(InboundSms sms) override {
    replies.push_back(std::move(sms));
    co_return InboundVerdict::Noted;
  }
  void refused(const std::string& gateway, const std::string& what, const std::string&,
               const std::string& reason) override {
    refusals.push_back(gateway + " " + what + ": " + reason);
  }
};

ServerRequest post(const std::string& target, const std::string& body) {
  ServerRequest request{beast_http::verb::post, target, 11};
  request.body() = body;
  request.prepare_payload();
  return request;
}

// A route whose provider signs with a header "X-Sig: good" and posts
// form bodies of id and status.
ReportRoute test_route() {
  ReportRoute spec;
  spec.gateway = "sms-test";
  spec.what = "receipt";
  spec.path = receipt_path("sms-test");
  spec.verify = [](const ServerRequest& request) {
    const auto sig = request["X-Sig"];
    if (sig.empty()) return Verification::missing("no X-Sig");
    if (sig != "good") return Verification::forged("X-Sig does not match");
    return Verification::ok();
  };
  spec.parse = [](const ServerRequest& request) {
    ParsedReports parsed;
    auto form = parse_form(request.body());
    if (!form || !form->count("id")) {
      parsed.error = "no id";
      return parsed;
    }
    Receipt r;
    r.provider_id = (*form)["id"];
    r.kind = (*form)["status"] == "delivered" ? ReceiptKind::Delivered : ReceiptKind::Progress;
    parsed.receipts.push_back(r);
    return parsed;
  };
  return spec;
}

unsigned answer(Route& route, ServerRequest request) {
  asio::io_context io;
  asio::thread_pool worker(1);
  const std::string client = "127.0.0.1";
  auto response = testing::run_task(
      io, route.handle(RouteRequest{request, client, true, std::nullopt, false, worker}));
  worker.join();
  REQUIRE(response);
  return response->result_int();
}

}  // namespace

TEST_CASE("report paths follow from the gateway's name", "[reports]") {
  CHECK(receipt_path("sms-46elks") == "/v1/receipts/sms-46elks");
  CHECK(inbound_path("sms-46elks") == "/v1/inbound/sms-46elks");
}

TEST_CASE("parse_form decodes a provider's form body and refuses malformed ones", "[reports]") {
  auto form = parse_form("id=s1&status=delivered&message=Hej+d%C3%A5&empty=&from=%2B46701");
  REQUIRE(form);
  CHECK((*form)["id"] == "s1");
  CHECK((*form)["message"] == "Hej då");
  CHECK((*form)["empty"].empty());
  CHECK((*form)["from"] == "+46701");
  CHECK(parse_form("")->empty());
  CHECK_FALSE(parse_form("a=%zz"));
  CHECK_FALSE(parse_form("a=%4"));
  CHECK_FALSE(parse_form("a=%"));
  CHECK_FALSE(parse_form("a=%ff%fe"));  // not UTF-8
  CHECK_FALSE(parse_form("=x"));
  std::string many;
  for (int i = 0; i < 201; ++i) many += "f" + std::to_string(i) + "=1&";
  CHECK_FALSE(parse_form(many));
  auto query = parse_query("/v1/receipts/x?token=abc&b=1");
  REQUIRE(query);
  CHECK((*query)["token"] == "abc");
  CHECK(parse_query("/v1/receipts/x")->empty());
}

TEST_CASE("callback URLs carry Basic credentials only when asked", "[reports]") {
  CHECK(callback_url("", "/v1/receipts/x").empty());
  CHECK(callback_url("https://tack.shop.se", "/v1/receipts/x") ==
        "https://tack.shop.se/v1/receipts/x");
  CHECK(callback_url("https://tack.shop.se", "/v1/receipts/x", "tack", "s3cr:t/") ==
        "https://tack:s3cr%3At%2F@tack.shop.se/v1/receipts/x");
}

TEST_CASE("verify_basic tells missing from wrong credentials", "[reports]") {
  auto request = post("/v1/receipts/x", "");
  CHECK(verify_basic(request, "tack", "secret").refusal == "no Basic credentials");
  request.set(beast_http::field::authorization, "Basic dGFjazpzZWNyZXQ=");  // tack:secret
  CHECK(verify_basic(request, "tack", "secret").refusal.empty());
  auto wrong = verify_basic(request, "tack", "other");
  CHECK_FALSE(wrong.refusal.empty());
  CHECK(wrong.bad_credentials);
  request.set(beast_http::field::authorization, "Basic !!!");
  CHECK_FALSE(verify_basic(request, "tack", "secret").refusal.empty());
  request.set(beast_http::field::authorization, "Bearer dGFjazpzZWNyZXQ=");
  CHECK_FALSE(verify_basic(request, "tack", "secret").refusal.empty());
}

TEST_CASE("providers' times: RFC 3339 with or without a zone, Unix seconds", "[reports]") {
  CHECK(parse_provider_time("2026-12-05T10:02:14Z") == 1796464934000);
  CHECK(parse_provider_time("2026-12-05T11:02:14+01:00") == 1796464934000);
  // 46elks: UTC without a zone, microseconds.
  CHECK(parse_provider_time("2026-12-05T10:02:14.741000") == 1796464934741);
  CHECK(parse_provider_time("2026-12-05 10:02:14") == 1796464934000);
  CHECK(parse_provider_time("1796464934") == 1796464934000);
  CHECK(parse_provider_time("1796464934.25") == 1796464934250);
  CHECK_FALSE(parse_provider_time(""));
  CHECK_FALSE(parse_provider_time("yesterday"));
  CHECK_FALSE(parse_provider_time("2026-13-45T99:99:99Z"));
  CHECK_FALSE(parse_provider_time(std::string(100, '1')));
  CHECK_FALSE(parse_provider_time("2026-12-05T10:02"));
}

TEST_CASE("a report route answers a provider by what became of its report", "[reports]") {
  FakeReports reports;
  Route route = report_route(test_route(), reports);
  CHECK(route.path == "/v1/receipts/sms-test");
  CHECK(route.auth == RouteAuth::Own);
  CHECK(route.admit(ServerRequestHeader{}).max_body == 256 * 1024);

  SECTION("taken, repeated and parked are 200") {
    for (auto verdict :
         {ReceiptVerdict::Applied, ReceiptVerdict::Repeated, ReceiptVerdict::Parked}) {
      reports.verdict = verdict;
      auto request = post(route.path, "id=s1&status=delivered");
      request.set("X-Sig", "good");
      CHECK(answer(route, request) == 200);
    }
    REQUIRE(reports.receipts.size() == 3);
    CHECK(reports.receipts[0].gateway == "sms-test");
    CHECK(reports.receipts[0].provider_id == "s1");
    CHECK(reports.receipts[0].kind == ReceiptKind::Delivered);
  }
  SECTION("unknown is 404, a store failure 503") {
    auto request = post(route.path, "id=nope&status=delivered");
    request.set("X-Sig", "good");
    reports.verdict = ReceiptVerdict::Unknown;
    CHECK(answer(route, request) == 404);
    reports.verdict = std::nullopt;
    CHECK(answer(route, request) == 503);
  }
  SECTION("unsigned is 401, forged 403, malformed 400: refused and never handed on") {
    CHECK(answer(route, post(route.path, "id=s1")) == 401);
    auto forged = post(route.path, "id=s1");
    forged.set("X-Sig", "bad");
    CHECK(answer(route, forged) == 403);
    auto malformed = post(route.path, "status=%zz");
    malformed.set("X-Sig", "good");
    CHECK(answer(route, malformed) == 400);
    CHECK(reports.receipts.empty());
    REQUIRE(reports.refusals.size() == 3);
    CHECK_THAT(reports.refusals[0], Catch::Contains("no X-Sig"));
    CHECK_THAT(reports.refusals[1], Catch::Contains("does not match"));
    CHECK_THAT(reports.refusals[2], Catch::Contains("malformed"));
  }
}
