// Tests for daemon/gateways/vonage.cpp: the request, Vonage's HTTP 200
// answers with errors inside, DLRs (err-code 9: opted out) and replies, the
// settings. End to end against a fake Vonage:
// tests/integration/test_providers_sms1.py.
#include "gateways/vonage.hpp"

#include <catch2/catch.hpp>

#include "provider_support.hpp"

using namespace tack;
using namespace tack::testing;
using namespace std::chrono_literals;

namespace {

const std::string kToken = "vonage-receipt-token-0123";

VonageSettings settings(std::string token = kToken) {
  VonageSettings s;
  s.name = "vonage";
  s.provider.url = "https://rest.nexmo.com";
  s.api_key = "abcd1234";
  s.api_secret = "Secret-0123456789";
  s.from = "Exempel";
  s.receipt_token = std::move(token);
  return s;
}

struct Setup {
  explicit Setup(VonageSettings s = settings(), std::string public_url = "https://tack.example.se")
      : curl(io), gateway(std::move(s), curl, &reports, std::move(public_url)) {}
  asio::io_context io;
  CurlMulti curl;
  RecordingReports reports;
  VonageGateway gateway;
};

Outcome classify(const TransferResult& result) {
  return classify_provider_answer(result, &read_vonage_answer, std::chrono::system_clock::now());
}

TransferResult vonage(const std::string& status, const std::string& error_text = "") {
  std::string part = R"({"to": "46701234567", "status": ")" + status + "\"";
  if (status == "0") {
    part += R"(, "message-id": "0A0000000123ABCD1", "remaining-balance": "3.14159265",
                "message-price": "0.03330000", "network": "24001")";
  } else {
    part += R"(, "error-text": ")" + error_text + "\"";
  }
  return answer(200, R"({"message-count": "1", "messages": [)" + part + "}]}");
}

}  // namespace

TEST_CASE("vonage: POST /sms/json, credentials and fields in the form, unicode when not GSM-7",
          "[vonage]") {
  Setup setup;
  const HttpRequest request = setup.gateway.build_request(swedish_sms());
  CHECK(request.method == "POST");
  CHECK(request.url == "https://rest.nexmo.com/sms/json");
  CHECK(request.username.empty());
  CHECK(header_value(request, "Content-Type") == "application/x-www-form-urlencoded");
  CHECK(request.body ==
        "api_key=abcd1234&api_secret=Secret-0123456789&from=Exempel&to=46701234567"
        "&text=Hej+%C3%85sa%21+Paketet+fr%C3%A5n+%C5%81%C3%B3d%C5%BA+%26+co+%C3%A4r+skickat+100%"
        "25"
        "&type=unicode&client-ref=shop-7f3a9c%3Ashipped%3Asms"
        "&callback=https%3A%2F%2Ftack%3Avonage-receipt-token-0123%40tack.example.se%2Fv1%"
        "2Freceipts%2Fvonage");
  // Swedish alone is GSM-7: no type=unicode.
  OutboundMessage swedish = swedish_sms();
  swedish.text = "Hej Åsa, paketet är skickat";
  CHECK(setup.gateway.build_request(swedish).body.find("type=unicode") == std::string::npos);
  Setup no_token(settings(""));
  CHECK(no_token.gateway.build_request(swedish).body.find("callback") == std::string::npos);
  CHECK(no_token.gateway.receipt_wait() == 0ms);
  CHECK(setup.gateway.receipt_wait() == 15min);
}

TEST_CASE("vonage: HTTP 200 answers classified by the status inside", "[vonage]") {
  SECTION("status 0: sent, the message-id the provider id") {
    const Outcome o = classify(vonage("0"));
    CHECK(o.kind == Outcome::Kind::Sent);
    CHECK(o.provider_id == "0A0000000123ABCD1");
  }
  SECTION("status 1 Throttled: retry, and Vonage is up") {
    const Outcome o =
        classify(vonage("1", "Throughput Rate Exceeded - please wait [ 978 ] and retry"));
    CHECK(o.kind == Outcome::Kind::Retry);
    CHECK(o.health == Outcome::Health::Answering);
    CHECK(o.detail.find("Vonage status 1: Throughput Rate Exceeded") == 0);
  }
  SECTION("5 and 10 retry") {
    CHECK(classify(vonage("5", "Internal Error")).kind == Outcome::Kind::Retry);
    CHECK(classify(vonage("10", "Too Many Existing Binds")).kind == Outcome::Kind::Retry);
  }
  SECTION("credentials, barred account, no credit: the gateway is held") {
    for (const char* status : {"4", "8", "9", "11", "14", "32"}) {
      const Outcome o = classify(vonage(status, "x"));
      CHECK(o.kind == Outcome::Kind::Retry);
      CHECK(o.health == Outcome::Health::Refused);
    }
  }
  SECTION("the message's own errors are rejected with Vonage's words") {
    for (const char* status : {"2", "3", "6", "7", "12", "15", "29", "99"}) {
      const Outcome o = classify(vonage(status, "Invalid Message"));
      CHECK(o.kind == Outcome::Kind::Rejected);
      CHECK(o.detail.find("Invalid Message") != std::string::npos);
    }
  }
  SECTION("a long SMS: any part's error decides, else the first part's id") {
    const Outcome two = classify(answer(200, R"({"message-count": "2", "messages": [
          {"status": "0", "message-id": "0A01"}, {"status": "0", "message-id": "0A02"}]})"));
    CHECK(two.provider_id == "0A01");
    const Outcome half = classify(answer(200, R"({"message-count": "2", "messages": [
          {"status": "0", "message-id": "0A01"}, {"status": "3", "error-text": "bad"}]})"));
    CHECK(half.kind == Outcome::Kind::Rejected);
  }
  SECTION("a 200 that is not Vonage's answer is unknown") {
    CHECK(classify(answer(200, "<html>proxy</html>")).kind == Outcome::Kind::Unknown);
    CHECK(classify(answer(200, R"({"messages": []})")).kind == Outcome::Kind::Unknown);
    CHECK(classify(answer(200, R"({"messages": [17]})")).kind == Outcome::Kind::Unknown);
  }
  SECTION("non-2xx as for any HTTP provider") {
    CHECK(classify(answer(401, "")).health == Outcome::Health::Refused);
    CHECK(classify(answer(429, "", {{"retry-after", "2"}})).retry_after ==
          std::optional<std::chrono::milliseconds>(2s));
    CHECK(classify(answer(502, "")).kind == Outcome::Kind::Retry);
    CHECK(classify(no_connection()).kind == Outcome::Kind::Retry);
  }
}

TEST_CASE("vonage: DLRs parsed, err-code 9 is an opt-out", "[vonage]") {
  const char* form = "application/x-www-form-urlencoded";
  SECTION("delivered, with Vonage's UTC time") {
    const auto parsed = parse_vonage_receipt(
        "msisdn=46701234567&to=Exempel&network-code=24001&messageId=0A0000000123ABCD1&price=0."
        "03330000&status=delivered&scts=2612051002&err-code=0&api-key=abcd1234&message-"
        "timestamp=2026-12-05+10%3A02%3A14",
        form);
    REQUIRE(parsed.error.empty());
    const Receipt& r = parsed.receipts.at(0);
    CHECK(r.provider_id == "0A0000000123ABCD1");
    CHECK(r.kind == ReceiptKind::Delivered);
    CHECK(r.reason.empty());
    CHECK(r.at_ms == 1796464934000);
  }
  SECTION("the documented opt-out receipt, as JSON") {
    const auto parsed = parse_vonage_receipt(
        R"({"msisdn": "447700900000", "to": "AcmeInc", "network-code": "12345",
            "messageId": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab", "price": "0.00000000",
            "status": "failed", "scts": "2001011400", "err-code": "9", "api-key": "abcd1234",
            "message-timestamp": "2020-01-01 12:00:00"})",
        "application/json");
    REQUIRE(parsed.error.empty());
    const Receipt& r = parsed.receipts.at(0);
    CHECK(r.kind == ReceiptKind::Undelivered);
    CHECK(r.opted_out);
    CHECK(r.reason == "err-code 9");
  }
  SECTION("other failures are not opt-outs; accepted and buffered are progress") {
    const auto expired = parse_vonage_receipt("messageId=0A1&status=expired&err-code=2", form);
    CHECK(expired.receipts.at(0).kind == ReceiptKind::Undelivered);
    CHECK_FALSE(expired.receipts.at(0).opted_out);
    CHECK(parse_vonage_receipt("messageId=0A1&status=rejected&err-code=9", form)
              .receipts.at(0)
              .opted_out);
    CHECK(parse_vonage_receipt("messageId=0A1&status=accepted", form).receipts.at(0).kind ==
          ReceiptKind::Progress);
    CHECK(parse_vonage_receipt("messageId=0A1&status=buffered", form).receipts.at(0).kind ==
          ReceiptKind::Progress);
    CHECK(parse_vonage_receipt("messageId=0A1&status=DELIVRD", form).receipts.at(0).kind ==
          ReceiptKind::Delivered);
  }
  SECTION("the second part of a long SMS is acknowledged, not recorded") {
    const auto part = parse_vonage_receipt(
        "messageId=0A2&status=delivered&concat=true&concat-ref=7&concat-total=2&concat-part=2",
        form);
    CHECK(part.error.empty());
    CHECK(part.receipts.empty());
    CHECK(parse_vonage_receipt("messageId=0A1&status=delivered&concat-part=1", form)
              .receipts.size() == 1);
  }
  SECTION("malformed and hostile") {
    for (const char* body : {"", "status=delivered", "messageId=0A1", "messageId=0A1%0A&status=x",
                             "messageId=0A1&status=delivered&message-timestamp=soon",
                             "messageId=%FF&status=delivered"}) {
      CHECK_FALSE(parse_vonage_receipt(body, form).error.empty());
    }
    for (const char* body : {"[]", "{", R"({"messageId": {"a": 1}, "status": "delivered"})",
                             R"({"a":{"b":{"c":{"d":{"e":{}}}}}})"}) {
      CHECK_FALSE(parse_vonage_receipt(body, "application/json").error.empty());
    }
  }
}

TEST_CASE("vonage: replies parsed (msisdn is the customer)", "[vonage]") {
  const auto parsed = parse_vonage_inbound(
      "msisdn=46701234567&to=46766860000&messageId=0A0000001234567B&text=Stopp+%C3%A5&type=text&"
      "keyword=STOPP&message-timestamp=2026-12-05+10%3A05%3A00",
      "application/x-www-form-urlencoded");
  REQUIRE(parsed.error.empty());
  const InboundSms& sms = parsed.replies.at(0);
  CHECK(sms.from == "+46701234567");
  CHECK(sms.to == "46766860000");
  CHECK(sms.text == "Stopp å");
  CHECK(sms.provider_id == "0A0000001234567B");
  CHECK_FALSE(
      parse_vonage_inbound("to=1&text=STOP", "application/x-www-form-urlencoded").error.empty());
  CHECK(parse_vonage_inbound(R"({"msisdn": "46701234567", "to": "46766860000", "text": "STOP"})",
                             "application/json")
            .replies.at(0)
            .text == "STOP");
}

TEST_CASE("vonage: reports need the Basic credentials of the callback URL", "[vonage]") {
  Setup setup;
  auto routes = setup.gateway.routes();
  REQUIRE(routes.size() == 2);
  CHECK(routes[0].path == "/v1/receipts/vonage");
  setup.reports.known["0A1"] = ReceiptVerdict::Applied;
  const std::string body = "messageId=0A1&status=failed&err-code=9";
  const Headers good{{"Authorization", basic_header("tack", kToken)}};
  auto response = call(routes, post("/v1/receipts/vonage", body, good));
  CHECK(response.result_int() == 200);
  REQUIRE(setup.reports.receipts.size() == 1);
  CHECK(setup.reports.receipts[0].opted_out);
  CHECK(call(routes, post("/v1/receipts/vonage", body)).result_int() == 401);
  CHECK(call(routes, post("/v1/receipts/vonage", body,
                          {{"Authorization", basic_header("tack", "wrong-token-0000000")}}))
            .result_int() == 403);
  CHECK(call(routes, post("/v1/receipts/vonage", "messageId=0B9&status=delivered", good))
            .result_int() == 404);
  CHECK(call(routes, post("/v1/inbound/vonage", "msisdn=46701234567&to=4676&text=STOP", good))
            .result_int() == 200);
  CHECK(setup.reports.replies.size() == 1);
  Setup without(settings(""));
  auto closed = without.gateway.routes();
  CHECK(call(closed, post("/v1/receipts/vonage", body, good)).result_int() == 401);
}

TEST_CASE("vonage: settings checked at load", "[vonage]") {
  asio::io_context io;
  CurlMulti curl(io);
  GatewayContext context{io, curl, "/etc/tack"};
  const GatewayKind kind = vonage_gateway_kind();
  CHECK(kind.type == "vonage");
  auto build = [&](std::map<std::string, std::string> values) {
    values.emplace("api_key", "abcd1234");
    values.emplace("api_secret", "Secret-0123456789");
    return kind.create(provider_config("vonage", "vonage", values), context);
  };
  CHECK(build({{"from", "Exempel"}}) != nullptr);
  CHECK(build({{"from", "46766861004"}}) != nullptr);
  CHECK_THROWS_WITH(build({{"from", "Exempelbutiken"}}), Catch::Contains("at most 11"));
  CHECK_THROWS_WITH(build({{"from", "Żabka"}}), Catch::Contains("GSM 03.38"));
  CHECK_THROWS_WITH(build({{"from", "Exempel"}, {"receipt_token", "abc"}}),
                    Catch::Contains("receipt_token"));
  CHECK_THROWS_WITH(build({}), Catch::Contains("from: is required"));
}

TEST_CASE("vonage: signed reports (signature_secret): HMAC-SHA256 of the sorted fields, fresh",
          "[vonage]") {
  // Computed apart from tack (Python hmac) for Vonage's rule: "&name=value"
  // sorted by name, & and = in values as _, sig left out, hex upper case.
  std::map<std::string, std::string> fields{{"messageId", "0A1"},
                                            {"status", "delivered"},
                                            {"err-code", "0"},
                                            {"timestamp", "1796464934"},
                                            {"nonce", "a&b=c"}};
  const std::string good = "BA046FE8EBE736BD4030B35570C465E06E7C4C125118E4F86A55DF24F2FB1B66";
  CHECK(vonage_signature(fields, "SigSecret-0123") == good);
  const std::int64_t now = 1796464934;
  fields["sig"] = good;
  CHECK(verify_vonage_signature(fields, "SigSecret-0123", now).refusal.empty());
  CHECK(verify_vonage_signature(fields, "SigSecret-0123", now + 299).refusal.empty());
  fields["sig"] = lowercase(good);  // Vonage's libraries compare case-blind
  CHECK(verify_vonage_signature(fields, "SigSecret-0123", now).refusal.empty());

  SECTION("stale or from the future: a replay, 403") {
    const auto old = verify_vonage_signature(fields, "SigSecret-0123", now + 301);
    CHECK(old.bad_credentials);
    CHECK(old.refusal.find("replay") != std::string::npos);
    CHECK(verify_vonage_signature(fields, "SigSecret-0123", now - 301).bad_credentials);
  }
  SECTION("forged: another secret, a changed field") {
    CHECK(verify_vonage_signature(fields, "other", now).bad_credentials);
    auto changed = fields;
    changed["status"] = "failed";
    CHECK(verify_vonage_signature(changed, "SigSecret-0123", now).bad_credentials);
  }
  SECTION("unsigned: no sig or no timestamp, 401") {
    auto unsigned_fields = fields;
    unsigned_fields.erase("sig");
    const auto v = verify_vonage_signature(unsigned_fields, "SigSecret-0123", now);
    CHECK_FALSE(v.refusal.empty());
    CHECK_FALSE(v.bad_credentials);
  }
  SECTION("through the route: a signed JSON DLR taken, its replay refused") {
    VonageSettings s = settings("");
    s.signature_secret = "SigSecret-0123";
    Setup setup(s);
    CHECK(setup.gateway.receipt_wait() == 15min);
    CHECK(setup.gateway.build_request(swedish_sms())
              .body.ends_with("&callback=https%3A%2F%2Ftack.example.se%2Fv1%2Freceipts%2Fvonage"));
    auto routes = setup.gateway.routes();
    setup.reports.known["0A1"] = ReceiptVerdict::Applied;
    const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    auto signed_json = [&](std::int64_t at) {
      std::map<std::string, std::string> f{
          {"messageId", "0A1"}, {"status", "delivered"}, {"timestamp", std::to_string(at)}};
      f["sig"] = vonage_signature(f, "SigSecret-0123");
      nlohmann::json doc(f);
      return post("/v1/receipts/vonage", doc.dump(), {{"Content-Type", "application/json"}});
    };
    CHECK(call(routes, signed_json(now_s)).result_int() == 200);
    CHECK(call(routes, signed_json(now_s - 3600)).result_int() == 403);
    CHECK(
        call(routes, post("/v1/receipts/vonage", "messageId=0A1&status=delivered")).result_int() ==
        401);
    CHECK(setup.reports.receipts.size() == 1);
  }
}

TEST_CASE("vonage: in the registry", "[vonage]") {
  const GatewayKind* kind = find_gateway_kind("vonage");
  REQUIRE(kind);
  CHECK(kind->type == "vonage");
  CHECK_FALSE(kind->summary.empty());
}
