// Tests for daemon/gateways/twilio.cpp: the request, the answers, the
// signed receipts and replies, the settings. End to end against a fake
// Twilio: tests/integration/test_providers_sms1.py.
#include "gateways/twilio.hpp"

#include <catch2/catch.hpp>

#include "provider_support.hpp"

using namespace tack;
using namespace tack::testing;
using namespace std::chrono_literals;

namespace {

const std::string kSid = "AC0123456789abcdef0123456789abcdef";
const std::string kToken = "0123456789abcdef0123456789abcdef";
const std::string kPublic = "https://tack.example.se";

TwilioSettings settings() {
  TwilioSettings s;
  s.name = "twilio";
  s.provider.url = "https://api.twilio.com/2010-04-01";
  s.account_sid = kSid;
  s.auth_token = kToken;
  s.from = "+46766861004";
  return s;
}

struct Setup {
  explicit Setup(TwilioSettings s = settings(), std::string public_url = kPublic)
      : curl(io), gateway(std::move(s), curl, &reports, std::move(public_url)) {}
  asio::io_context io;
  CurlMulti curl;
  RecordingReports reports;
  TwilioGateway gateway;
};

Outcome classify(const TransferResult& result) {
  return classify_twilio_answer(result, std::chrono::system_clock::now());
}

// A request as Twilio signs it, for `path` (with its query) and `body`.
ServerRequest signed_post(const std::string& target, const std::string& body,
                          const std::string& token = kToken) {
  const auto params = form_pairs(body);
  REQUIRE(params);
  return post(target, body,
              {{"X-Twilio-Signature", twilio_signature(token, kPublic + target, *params)}});
}

const std::string kQueued =
    R"({"account_sid": "AC0123456789abcdef0123456789abcdef", "api_version": "2010-04-01",
        "body": "Hej", "date_created": "Sat, 05 Dec 2026 10:02:11 +0000", "direction":
        "outbound-api", "error_code": null, "error_message": null, "from": "+46766861004",
        "num_segments": "1", "price": null, "sid": "SM1d6b7b0c3b1e4f2a9c8d7e6f5a4b3c2d",
        "status": "queued", "to": "+46701234567"})";

}  // namespace

TEST_CASE("twilio: the signature is Twilio's documented example", "[twilio]") {
  // twilio.com/docs/usage/webhooks/webhooks-security: token 12345, this URL
  // and these parameters sign as 0/KCTR6DLpKmkAf8muzZqo1nDgQ=.
  CHECK(twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2",
                         {{"From", "+12349013030"},
                          {"CallSid", "CA1234567890ABCDE"},
                          {"To", "+18005551212"},
                          {"Digits", "1234"},
                          {"Caller", "+12349013030"}}) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
}

TEST_CASE("twilio: POST Messages.json with Basic auth, a form in UTF-8", "[twilio]") {
  Setup setup;
  const HttpRequest request = setup.gateway.build_request(swedish_sms());
  CHECK(request.method == "POST");
  CHECK(request.url ==
        "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/"
        "Messages.json");
  CHECK(request.username == kSid);
  CHECK(request.password == kToken);
  CHECK(header_value(request, "Content-Type") == "application/x-www-form-urlencoded");
  CHECK(request.body ==
        "To=%2B46701234567&From=%2B46766861004"
        "&Body=Hej+%C3%85sa%21+Paketet+fr%C3%A5n+%C5%81%C3%B3d%C5%BA+%26+co+%C3%A4r+skickat+100%"
        "25"
        "&StatusCallback=https%3A%2F%2Ftack.example.se%2Fv1%2Freceipts%2Ftwilio");

  TwilioSettings service = settings();
  service.from.clear();
  service.messaging_service_sid = "MG0123456789abcdef0123456789abcdef";
  Setup with_service(service, "");
  const std::string body = with_service.gateway.build_request(swedish_sms()).body;
  CHECK(body.starts_with(
      "To=%2B46701234567&MessagingServiceSid=MG0123456789abcdef0123456789abcdef&Body="));
  CHECK(body.find("StatusCallback") == std::string::npos);
  CHECK(with_service.gateway.receipt_wait() == 0ms);
  CHECK(setup.gateway.receipt_wait() == 15min);
}

TEST_CASE("twilio: answers classified", "[twilio]") {
  SECTION("201 queued: sent, the sid the provider id") {
    const Outcome o = classify(answer(201, kQueued));
    CHECK(o.kind == Outcome::Kind::Sent);
    CHECK(o.provider_id == "SM1d6b7b0c3b1e4f2a9c8d7e6f5a4b3c2d");
  }
  SECTION("a 2xx saying failed is rejected") {
    const Outcome o = classify(answer(
        201, R"({"sid": "SM1", "status": "failed", "error_code": 30007, "error_message": "x"})"));
    CHECK(o.kind == Outcome::Kind::Rejected);
    CHECK(o.detail.find("30007") != std::string::npos);
  }
  SECTION("400 with Twilio's error: rejected with its code and words") {
    const Outcome o = classify(
        answer(400, R"({"code": 21610, "message": "Attempt to send to unsubscribed recipient",
                 "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400})"));
    CHECK(o.kind == Outcome::Kind::Rejected);
    CHECK(o.detail.find("21610") != std::string::npos);
    // The recipient opted out with Twilio (replied STOP): tack keeps it.
    CHECK(o.opted_out == "21610");
    const Outcome invalid = classify(answer(
        400, R"({"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400})"));
    CHECK(invalid.kind == Outcome::Kind::Rejected);
    CHECK(invalid.opted_out.empty());
    // 21610 inside another status, or a body that only mentions it, is not.
    CHECK(classify(answer(500, R"({"code": 21610})")).opted_out.empty());
    CHECK(classify(answer(400, R"({"message": "21610"})")).opted_out.empty());
  }
  SECTION("401 holds the gateway; 429 and 5xx retry") {
    const Outcome auth =
        classify(answer(401, R"({"code": 20003, "message": "Authenticate", "status": 401})"));
    CHECK(auth.kind == Outcome::Kind::Retry);
    CHECK(auth.health == Outcome::Health::Refused);
    const Outcome limited =
        classify(answer(429, R"({"code": 20429, "message": "Too Many Requests", "status": 429})",
                        {{"retry-after", "3"}}));
    CHECK(limited.kind == Outcome::Kind::Retry);
    CHECK(limited.retry_after == std::optional<std::chrono::milliseconds>(3s));
    CHECK(classify(answer(500, "")).kind == Outcome::Kind::Retry);
    CHECK(classify(no_connection()).kind == Outcome::Kind::Retry);
  }
  SECTION("a 2xx without a sid is sent with no id") {
    const Outcome o = classify(answer(201, "<xml/>"));
    CHECK(o.kind == Outcome::Kind::Sent);
    CHECK(o.provider_id.empty());
  }
}

TEST_CASE("twilio: status callbacks parsed", "[twilio]") {
  const auto delivered = parse_twilio_receipt(
      "SmsSid=SM1d6b&SmsStatus=delivered&MessageStatus=delivered&To=%2B46701234567&MessageSid="
      "SM1d6b&AccountSid=AC01&From=%2B46766861004&ApiVersion=2010-04-01&RawDlrDoneDate="
      "2612051002");
  REQUIRE(delivered.error.empty());
  const Receipt& r = delivered.receipts.at(0);
  CHECK(r.provider_id == "SM1d6b");
  CHECK(r.kind == ReceiptKind::Delivered);
  CHECK(r.status == "delivered");
  CHECK(r.at_ms == 1796464920000);  // 2026-12-05 10:02 UTC
  CHECK(r.reason.empty());

  const auto undelivered =
      parse_twilio_receipt("MessageSid=SM2&MessageStatus=undelivered&ErrorCode=30003");
  CHECK(undelivered.receipts.at(0).kind == ReceiptKind::Undelivered);
  CHECK(undelivered.receipts.at(0).reason == "Twilio error 30003");
  CHECK_FALSE(undelivered.receipts.at(0).opted_out);
  const auto opted = parse_twilio_receipt("MessageSid=SM3&MessageStatus=failed&ErrorCode=21610");
  CHECK(opted.receipts.at(0).opted_out);
  CHECK(parse_twilio_receipt("MessageSid=SM4&MessageStatus=sent").receipts.at(0).kind ==
        ReceiptKind::Progress);
  CHECK(parse_twilio_receipt("MessageSid=SM4&MessageStatus=read").receipts.at(0).kind ==
        ReceiptKind::Delivered);
  CHECK(parse_twilio_receipt("MessageSid=SM4&MessageStatus=warped").receipts.at(0).kind ==
        ReceiptKind::Progress);
  for (const char* bad : {"", "MessageStatus=sent", "MessageSid=SM4",
                          "MessageSid=SM4%0A&"
                          "MessageStatus=sent",
                          "MessageSid=SM4&MessageStatus=sent&ErrorCode=%0D",
                          "MessageSid=%C0%AF&MessageStatus=sent"}) {
    CHECK_FALSE(parse_twilio_receipt(bad).error.empty());
  }
}

TEST_CASE("twilio: receipts must carry Twilio's signature over URL and sorted params", "[twilio]") {
  Setup setup;
  auto routes = setup.gateway.routes();
  REQUIRE(routes.size() == 2);
  setup.reports.known["SM1"] = ReceiptVerdict::Applied;
  const std::string body = "MessageSid=SM1&MessageStatus=delivered&AccountSid=" + kSid;

  SECTION("signed: taken") {
    const auto response = call(routes, signed_post("/v1/receipts/twilio", body));
    CHECK(response.result_int() == 200);
    REQUIRE(setup.reports.receipts.size() == 1);
    CHECK(setup.reports.receipts[0].kind == ReceiptKind::Delivered);
  }
  SECTION("a query string is part of what is signed") {
    CHECK(call(routes, signed_post("/v1/receipts/twilio?x=%C3%A5", body)).result_int() == 200);
  }
  SECTION("unsigned 401; signed with another token, or a changed field, 403") {
    CHECK(call(routes, post("/v1/receipts/twilio", body)).result_int() == 401);
    CHECK(call(routes, signed_post("/v1/receipts/twilio", body, kToken + "x")).result_int() == 403);
    ServerRequest changed = signed_post("/v1/receipts/twilio", body);
    changed.body() = "MessageSid=SM1&MessageStatus=undelivered&AccountSid=" + kSid;
    changed.prepare_payload();
    CHECK(call(routes, changed).result_int() == 403);
    ServerRequest moved = signed_post("/v1/receipts/twilio", body);
    moved.target("/v1/receipts/twilio?again=1");
    CHECK(call(routes, moved).result_int() == 403);
    ServerRequest empty = post("/v1/receipts/twilio", body, {{"X-Twilio-Signature", ""}});
    CHECK(call(routes, empty).result_int() == 401);
    CHECK(setup.reports.receipts.empty());
    CHECK(setup.reports.refusals.size() == 5);
  }
  SECTION("unknown sid 404; a signed but malformed body 400") {
    CHECK(call(routes, signed_post("/v1/receipts/twilio", "MessageSid=SM9&MessageStatus=sent"))
              .result_int() == 404);
    CHECK(call(routes, signed_post("/v1/receipts/twilio", "MessageStatus=sent")).result_int() ==
          400);
  }
  SECTION("a body that is no form cannot be signed") {
    ServerRequest hostile = post("/v1/receipts/twilio", "%ZZ=1", {{"X-Twilio-Signature", "AAAA"}});
    CHECK(call(routes, hostile).result_int() == 403);
  }
  SECTION("a reply: signed the same way, answered with empty TwiML") {
    const auto response = call(
        routes, signed_post("/v1/inbound/twilio",
                            "MessageSid=SM77&AccountSid=" + kSid +
                                "&From=%2B46701234567&To=%2B46766861004&Body=STOP&NumMedia=0"));
    CHECK(response.result_int() == 200);
    CHECK(response.body().find("<Response/>") != std::string::npos);
    CHECK(std::string(response[beast_http::field::content_type]).starts_with("text/xml"));
    REQUIRE(setup.reports.replies.size() == 1);
    CHECK(setup.reports.replies[0].from == "+46701234567");
    CHECK(setup.reports.replies[0].text == "STOP");
    CHECK(call(routes, post("/v1/inbound/twilio", "From=%2B46701234567&To=x&Body=STOP"))
              .result_int() == 401);
  }
}

TEST_CASE("twilio: without a public URL no signature can be checked", "[twilio]") {
  Setup setup(settings(), "");
  auto routes = setup.gateway.routes();
  setup.reports.known["SM1"] = ReceiptVerdict::Applied;
  CHECK(call(routes, signed_post("/v1/receipts/twilio", "MessageSid=SM1&MessageStatus=sent"))
            .result_int() == 401);
  CHECK(setup.reports.receipts.empty());
}

TEST_CASE("twilio: settings checked at load", "[twilio]") {
  asio::io_context io;
  CurlMulti curl(io);
  GatewayContext context{io, curl, "/etc/tack"};
  const GatewayKind kind = twilio_gateway_kind();
  CHECK(kind.type == "twilio");
  auto build = [&](std::map<std::string, std::string> values) {
    values.emplace("account_sid", kSid);
    values.emplace("auth_token", kToken);
    return kind.create(provider_config("twilio", "twilio", values), context);
  };
  CHECK(build({{"from", "+46766861004"}}) != nullptr);
  CHECK(build({{"from", "Exempel"}}) != nullptr);
  CHECK(build({{"messaging_service_sid", "MG0123456789abcdef0123456789abcdef"}}) != nullptr);
  CHECK_THROWS_WITH(build({{"from", "Exempelbutiken AB"}}), Catch::Contains("at most 11"));
  CHECK_THROWS_WITH(build({{"from", "Sklep Łódź"}}), Catch::Contains("GSM 03.38"));
  CHECK_THROWS_WITH(build({}), Catch::Contains("exactly one"));
  CHECK_THROWS_WITH(
      build({{"from", "Exempel"}, {"messaging_service_sid", "MG0123456789abcdef0123456789abcdef"}}),
      Catch::Contains("exactly one"));
  CHECK_THROWS_WITH(build({{"messaging_service_sid", "MGxyz"}}), Catch::Contains("MG and 32"));
  CHECK_THROWS_WITH(
      kind.create(
          provider_config("twilio", "twilio",
                          {{"account_sid", "SK123"}, {"auth_token", kToken}, {"from", "Exempel"}}),
          context),
      Catch::Contains("account_sid"));
}

TEST_CASE("twilio: in the registry", "[twilio]") {
  const GatewayKind* kind = find_gateway_kind("twilio");
  REQUIRE(kind);
  CHECK(kind->type == "twilio");
  CHECK_FALSE(kind->summary.empty());
}
