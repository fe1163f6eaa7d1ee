// Tests for daemon/gateways/http.cpp against a real HTTP server
// (tests/fixtures/http_sink.py), plus the pure pieces (classification,
// Retry-After, encoding).
#include "gateways/http.hpp"

#include <catch2/catch.hpp>
#include <ctime>

#include "../support/coro.hpp"
#include "../support/process.hpp"
#include "../support/temp_dir.hpp"

using namespace tack;
using namespace std::chrono_literals;
using tack::testing::Fixture;
using tack::testing::TempDir;

namespace {

OutboundMessage sms() {
  OutboundMessage m;
  m.id = 42;
  m.event_id = "shop-7f3a9c";
  m.order_id = "1042";
  m.channel = "sms";
  m.kind = ChannelKind::Sms;
  m.template_name = "shipped";
  m.locale = "sv-SE";
  m.recipient = "+46701234567";
  m.text = "Hej \"Anna\"!\nDin order är skickad \\o/ 📦";
  m.idempotency_key = "shop-7f3a9c:shipped:sms";
  return m;
}

// One sink and gateway per test; the sink answers with `script`.
struct Setup {
  explicit Setup(const std::string& script = "[]")
      : sink(tack::testing::start_fixture(
            "http_sink.py", {"--out", dir.file("requests.jsonl"), "--script", script})),
        curl(io) {}

  HttpGatewayOptions options(const std::string& path = "/sms") const {
    HttpGatewayOptions o;
    o.name = "test-http";
    o.url = sink.url() + path;
    o.timeouts.connect = 2s;
    o.timeouts.total = 5s;
    return o;
  }

  Outcome send(HttpGatewayOptions options, const OutboundMessage& message = sms()) {
    HttpGateway gateway(std::move(options), curl);
    auto outcome = tack::testing::run_task(io, gateway.send(message));
    REQUIRE(outcome);
    return *outcome;
  }

  std::vector<nlohmann::json> requests() const {
    return tack::testing::read_json_lines(dir.file("requests.jsonl"));
  }

  TempDir dir;
  Fixture sink;
  asio::io_context io;
  CurlMulti curl;
};

std::string http_date(std::chrono::system_clock::time_point time) {
  const std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char out[64];
  std::strftime(out, sizeof out, "%a, %d %b %Y %H:%M:%S GMT", &tm);  // C locale in tests
  return out;
}

}  // namespace

TEST_CASE("http gateway: a JSON body escapes quotes, newlines and Unicode", "[gateway][http]") {
  Setup setup;
  auto options = setup.options("/send?to={{to}}&order={{order_id}}");
  options.fields = {{"to", "{{to}}"},
                    {"body", "{{text}}"},
                    {"ref", "{{order_id}}/{{message_id}}"},
                    {"raw", "{{{text}}}"}};
  options.message_id_field = "/id";
  options.bearer_token = "s3cret-token";
  const Outcome outcome = setup.send(options);

  CHECK(outcome.kind == Outcome::Kind::Sent);
  CHECK(outcome.provider_id == "msg-1");
  CHECK(outcome.detail == "HTTP 200");
  const auto requests = setup.requests();
  REQUIRE(requests.size() == 1);
  const auto& request = requests[0];
  CHECK(request["method"] == "POST");
  // The recipient is percent-encoded in the URL: a raw + would read as a space.
  CHECK(request["path"] == "/send?to=%2B46701234567&order=1042");
  CHECK(request["headers"]["content-type"] == "application/json");
  CHECK(request["headers"]["idempotency-key"] == "shop-7f3a9c:shipped:sms");
  CHECK(request["headers"]["authorization"] == "Bearer s3cret-token");

  const std::string raw = request["body"];
  CHECK(raw.find('\n') == std::string::npos);  // the newline travels as \n
  const auto body = nlohmann::json::parse(raw);
  CHECK(body["to"] == "+46701234567");
  CHECK(body["body"] == sms().text);
  CHECK(body["raw"] == sms().text);
  CHECK(body["ref"] == "1042/42");
  CHECK(raw.rfind(R"({"to":)", 0) == 0);  // fields keep the config's order
}

TEST_CASE("http gateway: a form body is x-www-form-urlencoded", "[gateway][http]") {
  Setup setup;
  auto options = setup.options();
  options.body = HttpGatewayOptions::Body::Form;
  options.fields = {{"To", "{{to}}"}, {"Body", "{{text}}"}, {"Kind & Co", "a=b&c"}};
  options.username = "AC123";
  options.password = "tok:en";
  auto message = sms();
  message.text = "Hej & välkommen = 100%";
  CHECK(setup.send(options, message).kind == Outcome::Kind::Sent);

  const auto request = setup.requests().at(0);
  CHECK(request["headers"]["content-type"] == "application/x-www-form-urlencoded");
  CHECK(request["body"] ==
        "To=%2B46701234567&Body=Hej+%26+v%C3%A4lkommen+%3D+100%25&Kind+%26+Co=a%3Db%26c");
  // base64("AC123:tok:en")
  CHECK(request["headers"]["authorization"] == "Basic QUMxMjM6dG9rOmVu");
}

TEST_CASE("http gateway: a raw body, custom headers and method", "[gateway][http]") {
  Setup setup;
  auto options = setup.options();
  options.method = "PUT";
  options.body = HttpGatewayOptions::Body::Raw;
  options.raw_body = "to={{to}} text={{text}}";
  options.headers = {{"Content-Type", "application/x-custom"}, {"X-Order", "order {{order_id}}"}};
  options.idempotency_header = "X-Dedup";
  CHECK(setup.send(options).kind == Outcome::Kind::Sent);

  const auto request = setup.requests().at(0);
  CHECK(request["method"] == "PUT");
  CHECK(request["body"] == "to=+46701234567 text=" + sms().text);
  CHECK(request["headers"]["content-type"] == "application/x-custom");
  CHECK(request["headers"]["x-order"] == "order 1042");
  CHECK(request["headers"]["x-dedup"] == "shop-7f3a9c:shipped:sms");
  CHECK_FALSE(request["headers"].contains("idempotency-key"));
  CHECK_FALSE(request["headers"].contains("authorization"));
}

TEST_CASE("http gateway: an empty idempotency_header sends none", "[gateway][http]") {
  Setup setup;
  auto options = setup.options();
  options.idempotency_header.clear();
  options.fields = {{"to", "{{to}}"}};
  CHECK(setup.send(options).kind == Outcome::Kind::Sent);
  CHECK_FALSE(setup.requests().at(0)["headers"].contains("idempotency-key"));
}

TEST_CASE("http gateway: a line break from the data never reaches a header", "[gateway][http]") {
  Setup setup;
  auto options = setup.options();
  options.headers = {{"X-Order", "{{order_id}}"}};
  auto message = sms();
  message.order_id = "1042\r\nX-Injected: yes";
  const Outcome outcome = setup.send(options, message);
  CHECK(outcome.kind == Outcome::Kind::Rejected);
  CHECK(outcome.detail.find("line break") != std::string::npos);
  CHECK(setup.requests().empty());
}

TEST_CASE("http gateway: 500 is a retry with the body in the detail", "[gateway][http]") {
  Setup setup(R"([{"status": 500, "body": "upstream exploded"}])");
  const Outcome outcome = setup.send(setup.options());
  CHECK(outcome.kind == Outcome::Kind::Retry);
  CHECK(outcome.detail == "HTTP 500: upstream exploded");
  CHECK_FALSE(outcome.retry_after);
}

TEST_CASE("http gateway: 429 with Retry-After in seconds", "[gateway][http]") {
  Setup setup(R"([{"status": 429, "headers": {"Retry-After": "7"}, "body": "slow down"}])");
  const Outcome outcome = setup.send(setup.options());
  CHECK(outcome.kind == Outcome::Kind::Retry);
  REQUIRE(outcome.retry_after);
  CHECK(*outcome.retry_after == 7s);
  CHECK(outcome.detail == "HTTP 429: slow down");
}

TEST_CASE("http gateway: 429 with Retry-After as an HTTP date", "[gateway][http]") {
  const std::string when = http_date(std::chrono::system_clock::now() + 120s);
  Setup setup(R"([{"status": 429, "headers": {"Retry-After": ")" + when + R"("}}])");
  const Outcome outcome = setup.send(setup.options());
  CHECK(outcome.kind == Outcome::Kind::Retry);
  REQUIRE(outcome.retry_after);
  // Whole seconds on the wire, and the request took a moment.
  CHECK(*outcome.retry_after > 100s);
  CHECK(*outcome.retry_after <= 120s);
}

TEST_CASE("http gateway: 503 and 408 are retries too", "[gateway][http]") {
  Setup setup(R"([{"status": 503, "headers": {"Retry-After": "30"}}, {"status": 408}])");
  const Outcome unavailable = setup.send(setup.options());
  CHECK(unavailable.kind == Outcome::Kind::Retry);
  CHECK(unavailable.retry_after == std::chrono::milliseconds(30s));
  CHECK(unavailable.detail == "HTTP 503");
  CHECK(setup.send(setup.options()).kind == Outcome::Kind::Retry);
}

TEST_CASE("http gateway: 400 is rejected with the start of the body", "[gateway][http]") {
  const std::string long_body(2000, 'e');
  Setup setup(R"([{"status": 400, "body": {"code": 21211, "message": "Invalid 'To' Phone Number"}},
                  {"status": 422, "body": ")" +
              long_body + R"("}])");
  const Outcome bad = setup.send(setup.options());
  CHECK(bad.kind == Outcome::Kind::Rejected);
  CHECK(bad.detail == R"(HTTP 400: {"code": 21211, "message": "Invalid 'To' Phone Number"})");

  const Outcome truncated = setup.send(setup.options());
  CHECK(truncated.kind == Outcome::Kind::Rejected);
  CHECK(truncated.detail == "HTTP 422: " + std::string(500, 'e') + "...");
}

TEST_CASE("http gateway: the provider id comes from message_id_field or Location",
          "[gateway][http]") {
  Setup setup(
      R"([{"status": 200, "body": {"messages": [{"message-id": "0A0000001234", "status": "0"}]}},
                  {"status": 201, "headers": {"Location": "/messages/SM123"}},
                  {"status": 200, "body": {"messages": []}},
                  {"status": 202, "body": "not json"}])");
  auto nested = setup.options();
  nested.message_id_field = "/messages/0/message-id";
  const Outcome first = setup.send(nested);
  CHECK(first.kind == Outcome::Kind::Sent);
  CHECK(first.provider_id == "0A0000001234");

  const Outcome located = setup.send(setup.options());
  CHECK(located.kind == Outcome::Kind::Sent);
  CHECK(located.provider_id == "/messages/SM123");
  CHECK(located.detail == "HTTP 201");

  // Sent is sent, even when the id is not where the config says.
  CHECK(setup.send(nested).provider_id.empty());
  const Outcome not_json = setup.send(nested);
  CHECK(not_json.kind == Outcome::Kind::Sent);
  CHECK(not_json.provider_id.empty());
}

TEST_CASE("http gateway: a hostile or oversized answer is read within the limits",
          "[gateway][http]") {
  const std::string deep_answer = R"({"status": 200, "body": ")" + std::string(100000, '[') + "\"}";
  const std::string long_answer =
      R"({"status": 200, "body": {"pad": ")" + std::string(5000, 'x') + R"(", "id": "late"}})";
  Setup setup("[" + deep_answer + "," + long_answer + "," + long_answer + "]");
  auto options = setup.options();
  options.message_id_field = "/id";
  // 100000 '[': not parsed past the depth limit; sent is sent.
  const Outcome deep = setup.send(options);
  CHECK(deep.kind == Outcome::Kind::Sent);
  CHECK(deep.provider_id.empty());
  // Whole, the answer holds the id...
  CHECK(setup.send(options).provider_id == "late");
  // ...cut at limits.max_response_bytes, it is not JSON any more.
  setup.curl.set_max_response_bytes(1024);
  const Outcome cut = setup.send(options);
  CHECK(cut.kind == Outcome::Kind::Sent);
  CHECK(cut.provider_id.empty());
}

TEST_CASE("http gateway: a refused connection is a retry", "[gateway][http]") {
  asio::io_context io;
  CurlMulti curl(io);
  HttpGatewayOptions options;
  options.name = "down";
  options.url = "http://127.0.0.1:" + std::to_string(tack::testing::closed_port()) + "/sms";
  HttpGateway gateway(options, curl);
  const auto outcome = tack::testing::run_task(io, gateway.send(sms()));
  REQUIRE(outcome);
  CHECK(outcome->kind == Outcome::Kind::Retry);
  CHECK(outcome->detail.find("connect failed") != std::string::npos);
  CHECK(outcome->detail.find("127.0.0.1") != std::string::npos);
  CHECK(outcome->detail.find("Connection refused") != std::string::npos);
}

TEST_CASE("http gateway: no answer after the request was sent is unknown", "[gateway][http]") {
  // The provider got the request and may have acted on it (sent the SMS)
  // before it went quiet, died or dropped the connection; a retry could
  // send it twice. The dispatcher decides, with the idempotency key.
  SECTION("hang past the timeout") {
    Setup setup(R"([{"hang": true}])");
    auto options = setup.options();
    options.timeouts.total = 300ms;
    const auto started = std::chrono::steady_clock::now();
    const Outcome outcome = setup.send(options);
    CHECK(outcome.kind == Outcome::Kind::Unknown);
    CHECK(outcome.detail.find("timed out") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - started < 3s);
  }
  SECTION("connection closed without an answer") {
    // On a fresh connection libcurl reports an empty reply. (On a reused
    // keep-alive connection libcurl itself re-sends once on a fresh one,
    // taking the dead connection for a stale one; the idempotency key is
    // what makes that safe.)
    Setup setup(R"([{"close": true}])");
    const Outcome outcome = setup.send(setup.options());
    CHECK(outcome.kind == Outcome::Kind::Unknown);
    CHECK(outcome.detail.find("Empty reply") != std::string::npos);
    CHECK(setup.requests().size() == 1);
  }
  SECTION("connection reset without an answer") {
    Setup setup(R"([{"reset": true}])");
    const Outcome outcome = setup.send(setup.options());
    CHECK(outcome.kind == Outcome::Kind::Unknown);
  }
}

TEST_CASE("http gateway: carries the kinds it is configured for", "[gateway][http]") {
  asio::io_context io;
  CurlMulti curl(io);
  HttpGatewayOptions options;
  options.url = "http://127.0.0.1:1/";
  HttpGateway sms_only(options, curl);
  CHECK(sms_only.supports(ChannelKind::Sms));
  CHECK_FALSE(sms_only.supports(ChannelKind::Email));
  auto message = sms();
  message.kind = ChannelKind::Email;
  const auto outcome = tack::testing::run_task(io, sms_only.send(message));
  REQUIRE(outcome);
  CHECK(outcome->kind == Outcome::Kind::Rejected);
}

TEST_CASE("http gateway: built from config through the registry", "[gateway][http][registry]") {
  Setup setup;
  GatewayContext context{setup.io, setup.curl, setup.dir.path().string()};
  GatewayConfig config;
  config.name = "mailer";
  config.type = "http";
  config.settings = plugin_settings_from_yaml(R"(
url: ")" + setup.sink.url() + R"(/v3/mail/send"
bearer_token: SG.key
json:
  to: "{{to}}"
  subject: "{{subject}}"
  content: "{{text}}"
message_id_field: /id
timeout: 5s
kinds: [email]
)");
  auto gateway = find_gateway_kind("http")->create(config, context);
  REQUIRE(gateway);
  CHECK(gateway->supports(ChannelKind::Email));
  CHECK_FALSE(gateway->supports(ChannelKind::Sms));

  auto message = sms();
  message.kind = ChannelKind::Email;
  message.recipient = "anna@example.se";
  message.subject = "Din beställning";
  const auto outcome = tack::testing::run_task(setup.io, gateway->send(message));
  REQUIRE(outcome);
  CHECK(outcome->kind == Outcome::Kind::Sent);
  CHECK(outcome->provider_id == "msg-1");
  const auto request = setup.requests().at(0);
  CHECK(request["path"] == "/v3/mail/send");
  CHECK(nlohmann::json::parse(request["body"].get<std::string>())["subject"] == "Din beställning");

  auto bad = [&](const std::string& yaml) {
    GatewayConfig c = config;
    c.settings = plugin_settings_from_yaml(yaml);
    return find_gateway_kind("http")->create(c, context);
  };
  CHECK_THROWS_WITH(bad("url: http://x/\njson: {a: b}\nform: {a: b}"),
                    Catch::Contains("exactly one"));
  CHECK_THROWS_WITH(bad("url: http://x/\n"), Catch::Contains("exactly one"));
  CHECK_THROWS_WITH(bad("url: http://x/{{#to}}\nbody: x"), Catch::Contains("mailer"));
  CHECK_THROWS_WITH(bad("url: http://x/\nbody: x\nmessage_id_field: sid"),
                    Catch::Contains("JSON pointer"));
  CHECK_THROWS_WITH(bad("url: http://x/\nbody: x\nkinds: [fax]"), Catch::Contains("fax"));
  CHECK_THROWS_WITH(bad("url: http://x/\nbody: x\ntimeout: soon"), Catch::Contains("timeout"));
  CHECK_THROWS_WITH(bad("url: ftp://x/\nbody: x"), Catch::Contains("http://"));
  CHECK_THROWS_WITH(bad("url: http://x/\nbody: x\nmethod: \"GET /evil\""),
                    Catch::Contains("method"));
}

TEST_CASE("http: classification of finished transfers", "[gateway][http]") {
  const auto now = std::chrono::system_clock::now();
  TransferResult result;
  result.request_sent = true;
  auto classify = [&](long status) {
    result.status = status;
    return classify_http_result(result, "", now).kind;
  };
  CHECK(classify(200) == Outcome::Kind::Sent);
  CHECK(classify(204) == Outcome::Kind::Sent);
  CHECK(classify(301) == Outcome::Kind::Rejected);  // redirects are not followed
  CHECK(classify(401) == Outcome::Kind::Retry);  // the gateway is held, see below
  CHECK(classify(404) == Outcome::Kind::Rejected);
  CHECK(classify(408) == Outcome::Kind::Retry);
  CHECK(classify(429) == Outcome::Kind::Retry);
  CHECK(classify(500) == Outcome::Kind::Retry);
  CHECK(classify(599) == Outcome::Kind::Retry);

  TransferResult failed;
  failed.curl_code = 28;  // CURLE_OPERATION_TIMEDOUT
  failed.curl_error = "Operation timed out";
  CHECK(classify_http_result(failed, "", now).kind == Outcome::Kind::Retry);  // before sending
  failed.request_sent = true;
  CHECK(classify_http_result(failed, "", now).kind == Outcome::Kind::Unknown);
}

TEST_CASE("http: a request the transport sent again carries its unanswered one",
          "[gateway][http]") {
  const auto now = std::chrono::system_clock::now();
  TransferResult result;
  result.request_sent = true;
  result.status = 200;
  result.requests = 1;
  CHECK(classify_http_result(result, "", now).unanswered.empty());

  // libcurl sent it again on a new connection after the kept-alive one died:
  // answered, but the provider may have the first request too.
  result.requests = 2;
  Outcome twice = classify_http_result(result, "", now);
  CHECK(twice.kind == Outcome::Kind::Sent);
  REQUIRE(twice.unanswered.size() == 1);
  CHECK_THAT(twice.unanswered[0], Catch::Contains("may have it twice"));

  // The last one unanswered too: both are unknown.
  TransferResult failed;
  failed.curl_code = 56;  // CURLE_RECV_ERROR
  failed.curl_error = "Recv failure: Connection reset by peer";
  failed.request_sent = true;
  failed.requests = 2;
  Outcome lost = classify_http_result(failed, "", now);
  CHECK(lost.kind == Outcome::Kind::Unknown);
  CHECK(lost.unanswered.size() == 1);
}

TEST_CASE("http: what an answer says about the provider's health", "[gateway][http]") {
  const auto now = std::chrono::system_clock::now();
  TransferResult result;
  result.request_sent = true;
  auto health = [&](long status) {
    result.status = status;
    return classify_http_result(result, "", now).health;
  };
  using H = Outcome::Health;
  // Credentials or account refused: the same for every message.
  CHECK(health(401) == H::Refused);
  CHECK(health(403) == H::Refused);
  CHECK(health(407) == H::Refused);
  // The provider answered about this message: it is up.
  CHECK(health(200) == H::Answering);
  CHECK(health(400) == H::Answering);
  CHECK(health(404) == H::Answering);
  CHECK(health(429) == H::Answering);
  // A server error or timeout: it may be down.
  CHECK(health(408) == H::Down);
  CHECK(health(500) == H::Down);
  CHECK(health(503) == H::Down);
  TransferResult refused;
  refused.curl_code = 7;  // CURLE_COULDNT_CONNECT
  refused.curl_error = "Connection refused";
  CHECK(classify_http_result(refused, "", now).health == H::Down);
  refused.curl_code = 28;
  refused.request_sent = true;
  CHECK(classify_http_result(refused, "", now).health == H::Down);
}

TEST_CASE("http: Retry-After in its three date forms and as seconds", "[gateway][http]") {
  const auto now =
      std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  CHECK(parse_retry_after("7", now) == std::chrono::milliseconds(7s));
  CHECK(parse_retry_after(" 120 ", now) == std::chrono::milliseconds(120s));
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now) == std::chrono::milliseconds(60s));
  CHECK(parse_retry_after("Sunday, 06-Nov-94 08:51:37 GMT", now) ==
        std::chrono::milliseconds(120s));
  CHECK(parse_retry_after("Sun Nov  6 08:49:47 1994", now) == std::chrono::milliseconds(10s));
  CHECK(parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now) == std::chrono::milliseconds(0));
  CHECK_FALSE(parse_retry_after("", now));
  CHECK_FALSE(parse_retry_after("soon", now));
  CHECK_FALSE(parse_retry_after("-5", now));
  CHECK_FALSE(parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", now));
  // Years system_clock's nanoseconds cannot hold (UBSan found the overflow).
  CHECK(parse_retry_after("Wed, 31 Dec 1018 23:59:59 GMT", now) == std::chrono::milliseconds(0));
  CHECK_FALSE(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now));
}

TEST_CASE("http: what a provider answers reaches the delivery log as valid UTF-8",
          "[gateway][http]") {
  TransferResult result;
  result.status = 400;
  result.request_sent = true;
  result.body = "bad \xc3\x28 request";
  result.headers = {{"location", "/m/\xff"}};
  const auto now = std::chrono::system_clock::now();
  CHECK(classify_http_result(result, "", now).detail == "HTTP 400: bad \uFFFD( request");
  result.status = 201;
  CHECK(classify_http_result(result, "", now).provider_id == "/m/\uFFFD");
}

TEST_CASE("http: rate-limit reset headers as delta, Unix seconds and milliseconds",
          "[gateway][http]") {
  const auto now = std::chrono::system_clock::from_time_t(1'800'000'000);
  CHECK(parse_rate_limit_reset("ratelimit-reset", "30", now) == std::chrono::milliseconds(30s));
  // SendGrid: X-RateLimit-Reset is the Unix time the window resets.
  CHECK(parse_rate_limit_reset("x-ratelimit-reset", "1800000045", now) ==
        std::chrono::milliseconds(45s));
  CHECK(parse_rate_limit_reset("x-rate-limit-reset", "1800000002500", now) ==
        std::chrono::milliseconds(2500));
  CHECK(parse_rate_limit_reset("x-ratelimit-reset", "1799999000", now) ==
        std::chrono::milliseconds(0));  // already past
  CHECK(parse_rate_limit_reset("ratelimit", "limit=100, remaining=0, reset=12", now) ==
        std::chrono::milliseconds(12s));
  CHECK(parse_rate_limit_reset("ratelimit", "\"default\";r=0;t=7", now) ==
        std::chrono::milliseconds(7s));
  CHECK_FALSE(parse_rate_limit_reset("ratelimit", "limit=100, remaining=0", now));
  CHECK_FALSE(parse_rate_limit_reset("x-ratelimit-reset", "", now));
  CHECK_FALSE(parse_rate_limit_reset("x-ratelimit-reset", "-3", now));
  CHECK_FALSE(parse_rate_limit_reset("x-ratelimit-reset", "1.5", now));
  CHECK_FALSE(parse_rate_limit_reset("x-ratelimit-reset", "99999999999999999999", now));
}

TEST_CASE("http: a 429 without Retry-After waits for the rate-limit reset", "[gateway][http]") {
  const auto now = std::chrono::system_clock::from_time_t(1'800'000'000);
  TransferResult result;
  result.request_sent = true;
  result.status = 429;
  result.headers = {{"x-ratelimit-limit", "600"}, {"x-ratelimit-reset", "1800000020"}};
  auto outcome = classify_http_result(result, "", now);
  CHECK(outcome.kind == Outcome::Kind::Retry);
  REQUIRE(outcome.retry_after);
  CHECK(*outcome.retry_after == std::chrono::milliseconds(20s));
  // Retry-After wins over the reset header.
  result.headers.emplace_back("retry-after", "3");
  CHECK(classify_http_result(result, "", now).retry_after == std::chrono::milliseconds(3s));
  // A 503 says nothing about a rate window.
  result.status = 503;
  result.headers = {{"x-ratelimit-reset", "1800000020"}};
  CHECK_FALSE(classify_http_result(result, "", now).retry_after);
}

TEST_CASE("http: URL and form encoding", "[gateway][http]") {
  CHECK(url_encode("+46 70-123_4.5~") == "%2B46%2070-123_4.5~");
  CHECK(url_encode("å/?&=#") == "%C3%A5%2F%3F%26%3D%23");
  CHECK(form_encode("a b+c*~") == "a+b%2Bc*%7E");
}
