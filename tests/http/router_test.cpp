// Tests for daemon/http/ (server.cpp, router.cpp, auth.cpp): the
// parsing helpers, credentials, the router on its own, and the listener
// end to end over 127.0.0.1 with a Beast client.
#include "http/server.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <thread>

#include "http/auth.hpp"
#include "http/router.hpp"
#include "clock.hpp"
#include "digest.hpp"
#include "event.hpp"
#include "gateways/routes.hpp"
#include "intake.hpp"
#include "metrics.hpp"
#include "sources/http_events.hpp"
#include "support/store.hpp"
#include "support/coro.hpp"
#include "support/temp_dir.hpp"

using namespace tack;
using tack::testing::run_task;
using tack::testing::TempDir;
namespace beast = boost::beast;
namespace http = boost::beast::http;

namespace {

// openssl passwd -5 -salt abc s3cret / -6 -salt abcdefgh s3cret; yescrypt
// of s3cret by libxcrypt with cost j9T.
const std::string kSha256Hash = "$5$abc$jwdpXNqhFikLlhx6S0X0UM.iGc58jD5zdW7uaGHpnZ0";
const std::string kSha512Hash =
    "$6$abcdefgh$Z7KfoKnKTSZrzo5VZ0YubGLQOj9ov6sHo9TmE3zIU/LHKhpE30zCnZ0mcIXYf9r9rQ4DYaXoxAFSPFlc"
    "WdxjB.";
const std::string kYescryptHash =
    "$y$j9T$abcdefghijklmnopqrstu0$NyfyH4ZD.0xwXLubQs5IZA4r6wlKR2/Huo9R.ZYZ0w2";
const std::string kAnna = "Basic YW5uYTpzM2NyZXQ=";  // anna:s3cret
const std::string kToken = "token-0123456789abcdef";
const std::string kHmacSecret = "secret-0123456789abcdef";

HttpConfig test_config() {
  HttpConfig config;
  config.listen_port = 0;
  config.events_token = kToken;
  config.events_hmac_secret = kHmacSecret;
  config.users = {{"anna", kSha256Hash}};
  return config;
}

// A store, an intake without rules (events are recorded, no messages) and
// metrics: what the routes reach.
struct Daemon {
  TempDir dir;
  std::unique_ptr<Store> opened = testing::open_test_store(dir.file("tack.db"));
  Store& store = *opened;
  std::shared_ptr<Snapshot> snapshot = std::make_shared<Snapshot>();
  Intake intake{store, snapshot, [] { return std::int64_t{1795000000000}; }};
  Metrics metrics;
  int wakes = 0;
  Daemon() { intake.set_metrics(&metrics); }
  HttpContext context() {
    return HttpContext{store, intake, metrics, [this] { ++wakes; }};
  }
  ~Daemon() { store.close(); }
};

ServerRequest make_request(http::verb method, const std::string& target,
                           const std::string& authorization = "", const std::string& body = "") {
  ServerRequest request{method, target, 11};
  request.set(http::field::host, "127.0.0.1");
  if (!authorization.empty()) request.set(http::field::authorization, authorization);
  request.body() = body;
  request.prepare_payload();
  return request;
}

std::string event_json(const std::string& id, const std::string& order) {
  return R"({"event_id":")" + id + R"(","order_id":")" + order +
         R"(","status":"shipped","occurred_at":"2026-11-22T10:15:00Z"})";
}

nlohmann::json body_json(const ServerResponse& response) {
  return nlohmann::json::parse(response.body());
}

// One request over a fresh connection, as a client would send it.
asio::awaitable<ServerResponse> fetch(asio::ip::tcp::endpoint endpoint, ServerRequest request) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(std::chrono::seconds(5));
  co_await stream.async_connect(endpoint, asio::use_awaitable);
  co_await http::async_write(stream, request, asio::use_awaitable);
  beast::flat_buffer buffer;
  ServerResponse response;
  co_await http::async_read(stream, buffer, response, asio::use_awaitable);
  co_return response;
}

// Bytes as they are, over a fresh connection: for what a Beast client
// would not send.
asio::awaitable<ServerResponse> fetch_raw(asio::ip::tcp::endpoint endpoint, std::string bytes) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(std::chrono::seconds(5));
  co_await stream.async_connect(endpoint, asio::use_awaitable);
  co_await asio::async_write(stream, asio::buffer(bytes), asio::use_awaitable);
  beast::flat_buffer buffer;
  ServerResponse response;
  co_await http::async_read(stream, buffer, response, asio::use_awaitable);
  co_return response;
}

// A POST /v1/events with this Transfer-Encoding and the event, chunked.
std::string post_with_transfer_encoding(const std::string& transfer_encoding,
                                        const std::string& event) {
  return "POST /v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + kToken +
         "\r\nContent-Type: application/json\r\nTransfer-Encoding: " + transfer_encoding +
         "\r\n\r\n" + fmt::format("{:x}", event.size()) + "\r\n" + event + "\r\n0\r\n\r\n";
}

}  // namespace

// ---------------------------------------------------------------- helpers

TEST_CASE("parse_target decodes path segments and query values", "[http]") {
  auto t = parse_target("/v1/orders/A%2F1?to=070-123+45+67&since=24h&flag&=x");
  REQUIRE(t.error.empty());
  CHECK(t.path == "/v1/orders/A%2F1");
  CHECK(t.segments == std::vector<std::string>{"v1", "orders", "A/1"});
  REQUIRE(t.query.size() == 4);
  CHECK(t.query[0] == std::pair<std::string, std::string>{"to", "070-123 45 67"});
  CHECK(t.query[1].second == "24h");
  CHECK(t.query[2] == std::pair<std::string, std::string>{"flag", ""});
  CHECK(t.query[3].first.empty());
  CHECK(parse_target("/").segments.empty());
  CHECK(parse_target("/livez/").segments == std::vector<std::string>{"livez"});
  CHECK(parse_target("/a//b").segments == std::vector<std::string>{"a", "", "b"});
  CHECK(parse_target("/?a=%C3%A5").query[0].second == "\xC3\xA5");
}

TEST_CASE("parse_target refuses bad escapes, control characters and non-UTF-8", "[http]") {
  for (const char* bad : {"", "livez", "http://host/livez", "/%", "/%4", "/%zz", "/a%00b",
                          "/?q=%FF", "/?q=%C3%28", "/?q=a%0Ab", "/?%FF=1", "/\xFF", "/?q=\x01",
                          "/?q=%ED%A0%80"}) {
    INFO(bad);
    CHECK_FALSE(parse_target(bad).error.empty());
  }
}

TEST_CASE("is_static_path admits plain file paths only", "[http]") {
  for (const char* good : {"/", "/app.js", "/app.css", "/img/logo-1.png", "/a_b~c"}) {
    INFO(good);
    CHECK(is_static_path(good));
  }
  for (const char* bad : {"", "app.js", "//", "/..", "/../etc/passwd", "/a/../b", "/./a", "/a/",
                          "/%2e%2e", "/a b", "/a\\b", "/a?b", "/\xC3\xA5"}) {
    INFO(bad);
    CHECK_FALSE(is_static_path(bad));
  }
  CHECK_FALSE(is_static_path("/" + std::string(300, 'a')));
}

TEST_CASE("times are RFC 3339 UTC with milliseconds, or null", "[http]") {
  CHECK(time_json(1795342530123) == "2026-11-22T10:15:30.123Z");
  CHECK(time_json(1795342530000) == "2026-11-22T10:15:30.000Z");
  CHECK(time_json(0).is_null());
}

TEST_CASE("message_json has the contract's fields; html only when asked", "[http]") {
  MessageView m;
  m.id = 17;
  m.recipient = "+46701234567";
  m.state = MessageState::Sent;
  m.html = "<p>hej</p>";
  m.created_at_ms = 1795342530123;
  m.next_attempt_at_ms = 1795342530123;
  m.attempt_log.push_back({1, "sms-http", 1795342530123, 120, "retry", "HTTP 503", ""});
  auto json = message_json(m, false);
  for (const char* key : {"id", "order_id", "event_id", "rule", "channel", "kind", "template",
                          "locale", "to", "subject", "text", "state", "gateway", "attempts",
                          "idempotency_key", "provider_id", "last_error", "created_at",
                          "updated_at", "next_attempt_at", "attempt_log", "receipts"}) {
    INFO(key);
    CHECK(json.contains(key));
  }
  CHECK_FALSE(json.contains("html"));
  CHECK(json["to"] == "+46701234567");
  CHECK(json["next_attempt_at"].is_null());  // sent: nothing is next
  CHECK(json["updated_at"].is_null());
  CHECK(json["attempt_log"][0]["started_at"] == "2026-11-22T10:15:30.123Z");
  CHECK(json["attempt_log"][0]["duration_ms"] == 120);
  CHECK(message_json(m, true)["html"] == "<p>hej</p>");
  m.state = MessageState::RetryWait;
  CHECK(message_json(m, false)["next_attempt_at"] == "2026-11-22T10:15:30.123Z");
  // A copy support made names its original; any other message null.
  CHECK(json["resent_from"].is_null());
  m.copy_of = 12;
  CHECK(message_json(m, false)["resent_from"] == 12);
}

// ---------------------------------------------------------------- credentials

TEST_CASE("the support actions are three POST paths under /v1", "[http][support_actions]") {
  auto segments = [](const char* path) { return parse_target(path).segments; };
  CHECK(is_support_action(segments("/v1/messages/12/resend")));
  CHECK(is_support_action(segments("/v1/orders/1042/contact")));
  CHECK(is_support_action(segments("/v1/orders/A%2FB/notes")));
  CHECK_FALSE(is_support_action(segments("/v1/messages/12/retry")));
  CHECK_FALSE(is_support_action(segments("/v1/messages/12/notes")));
  CHECK_FALSE(is_support_action(segments("/v1/orders/1042/resend")));
  CHECK_FALSE(is_support_action(segments("/v1/orders/1042")));
  CHECK_FALSE(is_support_action(segments("/v1/orders/1042/notes/x")));
  CHECK_FALSE(is_support_action(segments("/v2/orders/1042/notes")));
}

TEST_CASE("typed_text takes one trimmed line, or lines for a note, within its length",
          "[http][support_actions]") {
  std::string why;
  CHECK(typed_text(nlohmann::json("  kunden ringde "), "reason", 500, false, why) ==
        "kunden ringde");
  CHECK(typed_text(nlohmann::json(std::string(500, 'a')), "reason", 500, false, why));
  // Characters, not bytes: 500 Swedish letters are 1,000 bytes.
  std::string swedish;
  for (int i = 0; i < 500; ++i) swedish += "\xc3\xa5";
  CHECK(typed_text(nlohmann::json(swedish), "reason", 500, false, why));
  CHECK(typed_text(nlohmann::json("rad ett\nrad tv\xc3\xa5\n"), "text", 2000, true, why) ==
        "rad ett\nrad tv\xc3\xa5");
  struct Bad {
    nlohmann::json value;
    bool multiline;
    const char* why;
  };
  const Bad bad[] = {
      {nlohmann::json(), false, "reason is missing"},
      {nlohmann::json(5), false, "must be a string"},
      {nlohmann::json::array(), false, "must be a string"},
      {nlohmann::json(""), false, "must not be empty"},
      {nlohmann::json(" \t "), false, "must not be empty"},
      {nlohmann::json(std::string(501, 'a')), false, "at most 500"},
      {nlohmann::json("a\nb"), false, "one line"},
      {nlohmann::json("a\rb"), true, "control characters"},
      {nlohmann::json("a\x1b[31mb"), true, "control characters"},
      {nlohmann::json("a\x7f"), false, "one line"},
  };
  for (const auto& b : bad) {
    INFO(b.value.dump());
    why.clear();
    CHECK_FALSE(typed_text(b.value, "reason", 500, b.multiline, why));
    CHECK_THAT(why, Catch::Contains(b.why));
  }
}

TEST_CASE("base64_decode is strict", "[http]") {
  CHECK(base64_decode("YW5uYTpzM2NyZXQ=") == std::optional<std::string>("anna:s3cret"));
  CHECK(base64_decode("YQ==") == std::optional<std::string>("a"));
  CHECK(base64_decode("YWI=") == std::optional<std::string>("ab"));
  CHECK(base64_decode("") == std::optional<std::string>(""));
  for (const char* bad : {"YQ=", "Y===", "YQ==YQ==", "Y Q==", "%%%%", "YW5u\n"}) {
    INFO(bad);
    CHECK_FALSE(base64_decode(bad));
  }
}

TEST_CASE("parse_basic_authorization splits at the first colon", "[http]") {
  auto c = parse_basic_authorization("Basic YW5uYTpwYTpzcw==");  // anna:pa:ss
  REQUIRE(c);
  CHECK(c->user == "anna");
  CHECK(c->password == "pa:ss");
  CHECK(parse_basic_authorization("basic   YW5uYTpzM2NyZXQ="));
  for (const char* bad : {"", "Basic", "Basic ", "Bearer YW5uYTpzM2NyZXQ=", "BasicYW5uYTpzM2NyZXQ=",
                          "Basic !!!!", "Basic YW5uYQ==" /* no colon */,
                          "Basic OnBhc3M=" /* empty user */, "Basic YW5uYTpwAHNz" /* NUL */}) {
    INFO(bad);
    CHECK_FALSE(parse_basic_authorization(bad));
  }
}

TEST_CASE("bearer tokens and body signatures compare exactly", "[http]") {
  CHECK(bearer_matches("Bearer " + kToken, kToken));
  CHECK(bearer_matches("bearer " + kToken, kToken));
  CHECK_FALSE(bearer_matches("Bearer " + kToken + "x", kToken));
  CHECK_FALSE(bearer_matches("Bearer", kToken));
  CHECK_FALSE(bearer_matches("Basic " + kToken, kToken));
  CHECK_FALSE(bearer_matches("Bearer ", ""));  // none configured: nothing matches

  const std::string body = R"({"a":1})";
  const std::string good = "26a608096878da17d1e53c6a448a10e60aee528c53f71cb1f4abdd50617f2baf";
  CHECK(signature_matches("sha256=" + good, kHmacSecret, body));
  std::string upper = good;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(signature_matches("SHA256=" + upper, kHmacSecret, body));
  CHECK_FALSE(signature_matches("sha256=" + good, kHmacSecret, body + " "));
  CHECK_FALSE(signature_matches("sha1=" + good, kHmacSecret, body));
  CHECK_FALSE(signature_matches(good, kHmacSecret, body));
  CHECK_FALSE(signature_matches("sha256=", kHmacSecret, body));
  CHECK_FALSE(signature_matches("sha256=" + good, "", body));
}

TEST_CASE("password_matches checks yescrypt, SHA-512 and SHA-256 crypt hashes", "[http]") {
  CHECK(password_matches("s3cret", kSha256Hash));
  CHECK(password_matches("s3cret", kSha512Hash));
  CHECK(password_matches("s3cret", kYescryptHash));
  CHECK_FALSE(password_matches("s3cret!", kSha256Hash));
  CHECK_FALSE(password_matches("S3cret", kYescryptHash));
  CHECK_FALSE(password_matches("", kSha512Hash));
  CHECK_FALSE(password_matches("s3cret", "$y$garbage"));
  CHECK_FALSE(password_matches("s3cret", ""));
  CHECK_FALSE(password_matches(std::string(1000, 'a'), kSha256Hash));
}

TEST_CASE("UserAuth verifies, remembers for a while, and forgets on reload", "[http]") {
  UserAuth auth({{"anna", kSha256Hash}, {"olle", kSha512Hash}}, std::chrono::seconds(60), 2);
  CHECK(UserAuth::verify(*auth.users(), kAnna) == std::optional<std::string>("anna"));
  CHECK_FALSE(UserAuth::verify(*auth.users(), "Basic b2xsZTp3cm9uZw=="));  // olle:wrong
  CHECK_FALSE(UserAuth::verify(*auth.users(), "Basic ZXZlOnMzY3JldA=="));  // eve:s3cret
  CHECK_FALSE(UserAuth::verify({}, kAnna));

  const auto t0 = UserAuth::Clock::now();
  CHECK_FALSE(auth.cached(kAnna, t0));
  auth.remember(kAnna, "anna", t0);
  CHECK(auth.cached(kAnna, t0 + std::chrono::seconds(59)) == std::optional<std::string>("anna"));
  CHECK_FALSE(auth.cached(kAnna + " ", t0));
  CHECK_FALSE(auth.cached(kAnna, t0 + std::chrono::seconds(61)));
  // Bounded: a third entry makes room.
  auth.remember("a", "anna", t0);
  auth.remember("b", "anna", t0);
  auth.remember("c", "anna", t0);
  CHECK(auth.cached("c", t0));
  auth.set_users({{"anna", kSha512Hash}});
  CHECK_FALSE(auth.cached("c", t0));
}

// ---------------------------------------------------------------- the router

TEST_CASE("plan_body refuses before the body: 401 without credentials, 413 by length",
          "[http]") {
  Daemon d;
  asio::thread_pool worker(1);
  HttpConfig config = test_config();
  config.max_body_bytes = 2048;
  Router router(d.context(), config, worker);
  HttpEventSource events_source(d.intake, [&router] { return router.config(); });
  router.mount(events_source.route());

  auto head = make_request(http::verb::post, "/v1/events");
  auto plan = router.plan_body(head.base(), true);
  REQUIRE(plan.answer);
  CHECK(plan.answer->result() == http::status::unauthorized);

  head.set(http::field::authorization, "Bearer " + kToken);
  head.set(http::field::content_length, "2048");
  plan = router.plan_body(head.base(), true);
  CHECK_FALSE(plan.answer);
  CHECK(plan.limit == 2048);
  head.set(http::field::content_length, "2049");
  plan = router.plan_body(head.base(), true);
  REQUIRE(plan.answer);
  CHECK(plan.answer->result() == http::status::payload_too_large);
  head.set(http::field::content_length, "999999999999999999999999");
  CHECK(router.plan_body(head.base(), true).answer->result() == http::status::payload_too_large);

  // A signature to check later, with the timestamp it covers, is enough to
  // read the body; without one it cannot be good.
  auto signed_head = make_request(http::verb::post, "/v1/events");
  signed_head.set("X-Tack-Signature", "sha256=00");
  auto unstamped = router.plan_body(signed_head.base(), false);
  REQUIRE(unstamped.answer);
  CHECK(unstamped.answer->result() == http::status::unauthorized);
  signed_head.set("X-Tack-Timestamp", std::to_string(wall_ms() / 1000));
  CHECK_FALSE(router.plan_body(signed_head.base(), false).answer);

  // Everything else carries little or no body.
  auto other = make_request(http::verb::post, "/v1/messages/1/retry", kAnna);
  CHECK(router.plan_body(other.base(), true).limit == 16 * 1024);
  worker.join();
}

TEST_CASE("the router answers health, auth, methods and unknown paths", "[http]") {
  // The io_context outlives the store's writer thread and the worker, which
  // post their answers to it (TSan saw a post race its destruction).
  asio::io_context io;
  Daemon d;
  asio::thread_pool worker(1);
  HttpConfig config = test_config();
  config.health_from = {*parse_address_range("127.0.0.1")};
  Router router(d.context(), config, worker);
  HttpEventSource events_source(d.intake, [&router] { return router.config(); });
  router.mount(events_source.route());
  auto call = [&](ServerRequest request, bool loopback = true) {
    if (request[http::field::host].empty()) request.set(http::field::host, "127.0.0.1:8425");
    return *run_task(io, router.handle(std::move(request), loopback,
                                       loopback ? "127.0.0.1:40000" : "192.0.2.7:40000"));
  };

  auto live = call(make_request(http::verb::get, "/livez"));
  CHECK(live.result() == http::status::ok);
  CHECK(live.body() == "ok\n");
  CHECK(call(make_request(http::verb::get, "/readyz")).body() == "ready\n");
  // From elsewhere, health needs a user too.
  CHECK(call(make_request(http::verb::get, "/livez"), false).result() ==
        http::status::unauthorized);
  CHECK(call(make_request(http::verb::get, "/livez", kAnna), false).result() == http::status::ok);

  auto denied = call(make_request(http::verb::get, "/v1/messages"));
  CHECK(denied.result() == http::status::unauthorized);
  CHECK(std::string(denied[http::field::www_authenticate]).rfind("Basic realm=\"tack\"", 0) == 0);
  CHECK(body_json(denied).contains("error"));
  CHECK(call(make_request(http::verb::get, "/v1/messages", "Basic YW5uYTp4")).result() ==
        http::status::unauthorized);
  CHECK(call(make_request(http::verb::get, "/v1/messages", kAnna)).result() == http::status::ok);

  auto wrong = call(make_request(http::verb::get, "/v1/events"));
  CHECK(wrong.result() == http::status::method_not_allowed);
  CHECK(wrong[http::field::allow] == "POST");
  CHECK(call(make_request(http::verb::post, "/metrics")).result() ==
        http::status::method_not_allowed);
  CHECK(call(make_request(http::verb::get, "/v1/unknown", kAnna)).result() ==
        http::status::not_found);
  CHECK(call(make_request(http::verb::get, "/nothing-here.js", kAnna)).result() ==
        http::status::not_found);
  CHECK(call(make_request(http::verb::get, "/v1/orders/none", kAnna)).result() ==
        http::status::not_found);
  CHECK(call(make_request(http::verb::get, "/v1/messages?limit=0", kAnna)).result() ==
        http::status::bad_request);
  CHECK(call(make_request(http::verb::get, "/?q=%FF", kAnna)).result() ==
        http::status::bad_request);

  router.set_draining();
  auto draining = call(make_request(http::verb::get, "/readyz"));
  CHECK(draining.result() == http::status::service_unavailable);
  CHECK(draining.body() == "draining\n");
  auto events = call(make_request(http::verb::post, "/v1/events", "Bearer " + kToken,
                                  event_json("e-1", "1")));
  CHECK(events.result() == http::status::service_unavailable);
  worker.join();
}

TEST_CASE("without support users a 401 says so (code no_users), not a wrong password", "[http]") {
  asio::io_context io;
  Daemon d;
  asio::thread_pool worker(1);
  HttpConfig config = test_config();
  config.users.clear();
  Router router(d.context(), config, worker);
  auto call = [&](ServerRequest request) {
    request.set(http::field::host, "127.0.0.1:8425");
    return *run_task(io, router.handle(std::move(request), true, "127.0.0.1:40000"));
  };
  for (const auto& authorization : {std::string(), kAnna, std::string("Basic %%%")}) {
    auto answer = call(make_request(http::verb::get, "/v1/messages", authorization));
    CHECK(answer.result() == http::status::unauthorized);
    CHECK(std::string(answer[http::field::www_authenticate]).rfind("Basic realm=\"tack\"", 0) == 0);
    CHECK(body_json(answer)["code"] == "no_users");
    CHECK(body_json(answer)["error"].get<std::string>().find("no support users") != std::string::npos);
  }
  // With a user again (a reload), a wrong password is just that.
  config.users = {{"anna", kSha256Hash}};
  router.set_config(config);
  auto wrong = call(make_request(http::verb::get, "/v1/messages", "Basic YW5uYTp4"));
  CHECK(wrong.result() == http::status::unauthorized);
  CHECK_FALSE(body_json(wrong).contains("code"));
  CHECK(body_json(wrong)["error"] == "wrong user name or password");
  worker.join();
}

TEST_CASE("the support answers carry the shop's time zone and the events' customer names",
          "[http]") {
  asio::io_context io;
  Daemon d;
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->config.default_timezone = "America/Sao_Paulo";
  d.intake.set_snapshot(snapshot);
  asio::thread_pool worker(1);
  Router router(d.context(), test_config(), worker);
  auto call = [&](ServerRequest request) {
    request.set(http::field::host, "127.0.0.1:8425");
    return *run_task(io, router.handle(std::move(request), true, "127.0.0.1:40000"));
  };
  auto e = testing::event("e-1", "77", "shipped", 1);
  e.payload = R"({"customer":{"name":"Anna Svensson"},"delivery":{"tracking_url":"https://t.example/1"}})";
  d.store.run<int>([&e](StoreTx& tx) {
    tx.apply_event(e, 1);
    return 0;
  });
  auto order = call(make_request(http::verb::get, "/v1/orders/77", kAnna));
  REQUIRE(order.result() == http::status::ok);
  CHECK(body_json(order)["timezone"] == "America/Sao_Paulo");
  CHECK(body_json(order)["events"][0]["customer_name"] == "Anna Svensson");
  CHECK(body_json(order)["events"][0]["tracking_url"] == "https://t.example/1");
  auto messages = call(make_request(http::verb::get, "/v1/messages", kAnna));
  CHECK(body_json(messages)["timezone"] == "America/Sao_Paulo");
  worker.join();
}

TEST_CASE("health is open only to health_from, never through a proxy or by a strange Host",
          "[http]") {
  asio::io_context io;  // outlives the store's writer thread and the worker
  Daemon d;
  asio::thread_pool worker(1);
  HttpConfig config = test_config();
  Router router(d.context(), config, worker);
  auto status_of = [&](const std::string& path, const std::string& client,
                       std::initializer_list<std::pair<std::string, std::string>> headers = {}) {
    auto request = make_request(http::verb::get, path);
    request.set(http::field::host, "127.0.0.1:8425");
    for (const auto& [name, value] : headers) request.set(name, value);
    return run_task(io, router.handle(std::move(request), true, client))->result();
  };
  // By default nobody skips the password, not even this host: a reverse
  // proxy on it would pass the whole world's requests on.
  CHECK(status_of("/metrics", "127.0.0.1:5000") == http::status::unauthorized);
  CHECK(status_of("/livez", "[::1]:5000") == http::status::unauthorized);

  config.health_from = {*parse_address_range("127.0.0.1"), *parse_address_range("10.0.0.0/8")};
  config.hosts = {"tack.example.com"};
  router.set_config(config);
  CHECK(status_of("/metrics", "127.0.0.1:5000") == http::status::ok);
  CHECK(status_of("/readyz", "10.1.2.3:5000") == http::status::ok);
  CHECK(status_of("/metrics", "127.0.0.2:5000") == http::status::unauthorized);
  CHECK(status_of("/metrics", "192.0.2.7:5000") == http::status::unauthorized);
  // What a proxy adds: the request is someone else's.
  for (const char* header : {"X-Forwarded-For", "Forwarded", "X-Real-IP", "X-Forwarded-Host"}) {
    INFO(header);
    CHECK(status_of("/metrics", "127.0.0.1:5000", {{header, "for=203.0.113.9"}}) ==
          http::status::unauthorized);
  }
  // A page on a rebinding domain names its own host; tackd's names pass.
  CHECK(status_of("/metrics", "127.0.0.1:5000", {{"Host", "evil.example:8425"}}) ==
        http::status::unauthorized);
  CHECK(status_of("/metrics", "127.0.0.1:5000", {{"Host", ""}}) == http::status::unauthorized);
  CHECK(status_of("/metrics", "127.0.0.1:5000", {{"Host", "TACK.example.com"}}) ==
        http::status::ok);
  CHECK(status_of("/metrics", "127.0.0.1:5000", {{"Host", "localhost:8425"}}) == http::status::ok);
  CHECK(status_of("/metrics", "127.0.0.1:5000", {{"Host", "[::1]:8425"}}) == http::status::ok);
  // With a password, health answers anyone, proxied or not.
  auto with_password = make_request(http::verb::get, "/metrics", kAnna);
  with_password.set("X-Forwarded-For", "203.0.113.9");
  CHECK(run_task(io, router.handle(std::move(with_password), false, "192.0.2.7:5000"))->result() ==
        http::status::ok);
  worker.join();
}

TEST_CASE("a support verb needs proof it is not a cross-site form (CSRF)", "[http]") {
  asio::io_context io;  // outlives the store's writer thread and the worker
  Daemon d;
  asio::thread_pool worker(1);
  Router router(d.context(), test_config(), worker);
  auto call = [&](ServerRequest request) {
    return *run_task(io, router.handle(std::move(request), true));
  };
  // An unknown message: a request that gets past the checks is answered 404.
  auto verb = [&](std::initializer_list<std::pair<std::string, std::string>> headers,
                  const std::string& body = "") {
    auto request = make_request(http::verb::post, "/v1/messages/77/cancel", kAnna, body);
    request.set(http::field::host, "tack.example:8425");
    for (const auto& [name, value] : headers) request.set(name, value);
    return call(std::move(request));
  };

  // What a form on another site sends: no custom header, perhaps a body.
  auto form = verb({{"Content-Type", "text/plain"}, {"Origin", "http://evil.example"},
                    {"Sec-Fetch-Site", "cross-site"}},
                   "a=b");
  CHECK(form.result() == http::status::forbidden);
  CHECK(body_json(form)["error"].get<std::string>().find("X-Tack-Request") != std::string::npos);
  // Even with no browser headers at all, the custom header is needed.
  CHECK(verb({}).result() == http::status::forbidden);
  // The header alone does not outweigh a browser saying it is cross-site.
  CHECK(verb({{"X-Tack-Request", "page"}, {"Sec-Fetch-Site", "cross-site"}}).result() ==
        http::status::forbidden);
  CHECK(verb({{"X-Tack-Request", "page"}, {"Sec-Fetch-Site", "same-site"}}).result() ==
        http::status::forbidden);
  CHECK(verb({{"X-Tack-Request", "page"}, {"Origin", "http://evil.example"}}).result() ==
        http::status::forbidden);
  CHECK(verb({{"X-Tack-Request", "page"}, {"Origin", "null"}}).result() ==
        http::status::forbidden);
  // The verbs take no body.
  CHECK(verb({{"X-Tack-Request", "page"}, {"Content-Type", "application/x-www-form-urlencoded"}},
             "a=b")
            .result() == http::status::unsupported_media_type);
  CHECK(verb({{"X-Tack-Request", "page"}}, "{}").result() == http::status::bad_request);

  // tack's own page (same origin; behind a TLS proxy the scheme differs) and
  // an API client that sends the header get through.
  CHECK(verb({{"X-Tack-Request", "page"}, {"Sec-Fetch-Site", "same-origin"},
              {"Origin", "http://tack.example:8425"}})
            .result() == http::status::not_found);
  CHECK(verb({{"X-Tack-Request", "page"}, {"Origin", "https://tack.example:8425"}}).result() ==
        http::status::not_found);
  CHECK(verb({{"X-Tack-Request", "script"}}).result() == http::status::not_found);
  // A wrong password is still a 401 once the request is not cross-site.
  auto wrong = make_request(http::verb::post, "/v1/messages/77/cancel", "Basic YW5uYTp4");
  wrong.set("X-Tack-Request", "script");
  CHECK(call(std::move(wrong)).result() == http::status::unauthorized);
  // Reading needs no header: a cross-site page cannot read the answer.
  CHECK(call(make_request(http::verb::get, "/v1/messages/77", kAnna)).result() ==
        http::status::not_found);
  worker.join();
}

TEST_CASE("events are answered once committed, with a verdict each", "[http]") {
  // The io_context outlives the store's writer thread and the worker, which
  // post their answers to it (TSan saw a post race its destruction).
  asio::io_context io;
  Daemon d;
  asio::thread_pool worker(1);
  Router router(d.context(), test_config(), worker);
  HttpEventSource events_source(d.intake, [&router] { return router.config(); });
  router.mount(events_source.route());
  auto call = [&](ServerRequest request) {
    return *run_task(io, router.handle(std::move(request), true));
  };
  const std::string batch = "[" + event_json("e-1", "1042") + "," + event_json("e-1", "1042") +
                            R"(,{"event_id":"e-3"}])";
  auto reply = call(make_request(http::verb::post, "/v1/events", "Bearer " + kToken, batch));
  CHECK(reply.result() == http::status::bad_request);
  auto results = body_json(reply)["results"];
  REQUIRE(results.size() == 3);
  CHECK(results[0]["verdict"] == "accepted");
  CHECK(results[0]["messages"] == 0);
  CHECK(results[1]["verdict"] == "duplicate");
  CHECK(results[2]["verdict"] == "rejected");
  CHECK(results[2]["reason"] == "missing order_id");
  CHECK(results[2]["event_id"] == "e-3");
  CHECK_FALSE(results[2].contains("messages"));

  // Signed instead of a token; the signature covers the timestamp and the
  // exact body.
  const std::string body = event_json("e-4", "1043");
  const std::string timestamp = std::to_string(wall_ms() / 1000);
  auto request = make_request(http::verb::post, "/v1/events", "", body);
  request.set("X-Tack-Timestamp", timestamp);
  request.set("X-Tack-Signature",
              "sha256=" + hmac_sha256_hex(kHmacSecret, timestamp + "." + body));
  CHECK(call(request).result() == http::status::ok);
  request.body() = event_json("e-5", "1043");
  request.prepare_payload();
  CHECK(call(request).result() == http::status::unauthorized);

  auto order = call(make_request(http::verb::get, "/v1/orders/1042", kAnna));
  REQUIRE(order.result() == http::status::ok);
  auto timeline = body_json(order);
  CHECK(timeline["status"] == "shipped");
  REQUIRE(timeline["events"].size() == 1);
  CHECK(timeline["events"][0]["source"] == "http");
  CHECK(timeline["events"][0]["duplicates"] == 1);
  CHECK(timeline["messages"].empty());
  CHECK(timeline["next_contact"].is_null());

  const std::string metrics = d.metrics.render();
  CHECK(metrics.find(R"(tack_events_total{source="http",verdict="accepted"} 2)") !=
        std::string::npos);
  worker.join();
}

TEST_CASE("plugins mount routes with their own auth; tackd's paths and taken paths are refused",
          "[http]") {
  asio::io_context io;
  Daemon d;
  asio::thread_pool worker(1);
  Router router(d.context(), test_config(), worker);
  auto call = [&](ServerRequest request) {
    return *run_task(io, router.handle(std::move(request), false, "192.0.2.7"));
  };

  // A support user's route: the router checks the user and says who.
  Route hello;
  hello.method = http::verb::get;
  hello.path = "/v1/hello";
  hello.handle = [](RouteRequest r) -> asio::awaitable<ServerResponse> {
    co_return json_response(http::status::ok, {{"user", *r.user}, {"client", r.client}});
  };
  router.mount(hello);
  CHECK(call(make_request(http::verb::get, "/v1/hello")).result() == http::status::unauthorized);
  auto greeted = call(make_request(http::verb::get, "/v1/hello", kAnna));
  CHECK(greeted.result() == http::status::ok);
  CHECK(body_json(greeted)["user"] == "anna");
  CHECK(body_json(greeted)["client"] == "192.0.2.7");
  CHECK(call(make_request(http::verb::post, "/v1/hello", kAnna)).result() ==
        http::status::method_not_allowed);

  // A route that checks its callers itself (a provider's receipts): its
  // admit() decides on the head, its refused() hears of every refusal.
  std::vector<std::string> refusals;
  Route receipts;
  receipts.path = "/v1/receipts/test";
  receipts.auth = RouteAuth::Own;
  receipts.admit = [](const ServerRequestHeader& head) {
    Admission a;
    if (head["X-Key"] != "k") {
      a.answer = unauthorized("Bearer", "no key");
      a.refusal = "no key";
    }
    a.max_body = 100;
    return a;
  };
  receipts.handle = [](RouteRequest r) -> asio::awaitable<ServerResponse> {
    co_return json_response(http::status::ok, {{"bytes", r.request.body().size()}});
  };
  receipts.refused = [&](const std::string& client, bool, const std::string& reason) {
    refusals.push_back(client + ": " + reason);
  };
  router.mount(receipts);
  auto head = make_request(http::verb::post, "/v1/receipts/test");
  auto plan = router.plan_body(head.base(), false);
  REQUIRE(plan.answer);
  CHECK(plan.answer->result() == http::status::unauthorized);
  router.note_refused(plan, "192.0.2.7", plan.refusal);
  CHECK(refusals == std::vector<std::string>{"192.0.2.7: no key"});
  head.set("X-Key", "k");
  head.set(http::field::content_length, "101");
  plan = router.plan_body(head.base(), false);
  REQUIRE(plan.answer);
  CHECK(plan.answer->result() == http::status::payload_too_large);
  head.set(http::field::content_length, "100");
  plan = router.plan_body(head.base(), false);
  CHECK_FALSE(plan.answer);
  CHECK(plan.limit == 100);

  // Paths tackd answers itself, and a path mounted twice, are refused.
  for (const char* taken : {"/v1/messages", "/v1/orders/x", "/metrics", "/index.html",
                            "/v1/hello"}) {
    INFO(taken);
    Route r = hello;
    r.path = taken;
    CHECK_THROWS_AS(router.mount(r), std::logic_error);
  }
  worker.join();
}

// ---------------------------------------------------------------- the listener

TEST_CASE("a body is framed by chunked alone: a coding before chunked is refused with 501",
          "[http]") {
  asio::io_context io;  // outlives the store's writer thread, which posts to it
  Daemon d;
  HttpConfig config = test_config();
  HttpEventSource events_source(
      d.intake, [settings = std::make_shared<const HttpConfig>(config)] { return settings; });
  HttpServer server(io, d.context(), config);
  server.mount(events_source.route());
  const auto endpoint = server.local_endpoint();
  server.start();

  // The body is not gzipped: taking it as the JSON it looks like would
  // ignore what the client said it sent.
  for (const std::string coding : {"gzip, chunked", "deflate,chunked", "identity, chunked"}) {
    INFO(coding);
    auto refused = run_task(
        io, fetch_raw(endpoint, post_with_transfer_encoding(coding, event_json("te-1", "9"))));
    REQUIRE(refused);
    CHECK(refused->result() == http::status::not_implemented);
    CHECK_THAT(refused->body(), Catch::Contains("Transfer-Encoding must be exactly chunked"));
    CHECK_FALSE(refused->keep_alive());
  }
  auto twice = run_task(io, fetch_raw(endpoint, post_with_transfer_encoding(
                                                    "chunked, chunked", event_json("te-1", "9"))));
  REQUIRE(twice);
  CHECK(twice->result() == http::status::bad_request);

  // chunked alone, in any case, is read.
  for (const std::string coding : {"chunked", "Chunked"}) {
    INFO(coding);
    auto taken = run_task(
        io, fetch_raw(endpoint, post_with_transfer_encoding(coding, event_json("te-2", "9"))));
    REQUIRE(taken);
    CHECK(taken->result() == http::status::ok);
  }
  server.stop();
}

TEST_CASE("the listener serves real connections and stops accepting on stop()", "[http]") {
  asio::io_context io;  // outlives the store's writer thread, which posts to it
  Daemon d;
  HttpConfig config = test_config();
  config.health_from = {*parse_address_range("127.0.0.1")};
  HttpEventSource events_source(
      d.intake, [settings = std::make_shared<const HttpConfig>(config)] { return settings; });
  HttpServer server(io, d.context(), config);
  server.mount(events_source.route());
  const auto endpoint = server.local_endpoint();
  REQUIRE(endpoint.port() != 0);
  server.start();

  auto live = run_task(io, fetch(endpoint, make_request(http::verb::get, "/livez")));
  REQUIRE(live);
  CHECK(live->result() == http::status::ok);
  CHECK(live->keep_alive());
  CHECK((*live)[http::field::cache_control] == "no-store");
  CHECK((*live)["X-Frame-Options"] == "DENY");
  CHECK((*live)["Content-Security-Policy"] ==
        "default-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'");

  auto posted = run_task(io, fetch(endpoint, make_request(http::verb::post, "/v1/events",
                                                          "Bearer " + kToken,
                                                          event_json("l-1", "7"))));
  REQUIRE(posted);
  CHECK(posted->result() == http::status::ok);

  server.stop();
  CHECK_THROWS(run_task(io, fetch(endpoint, make_request(http::verb::get, "/livez"))));
}

namespace {

// A gateway that hears of deliveries at /v1/receipts/NAME, from callers
// that show its key; it answers with its generation, so a test sees which
// one answered.
class ReceiptGateway : public Gateway {
 public:
  ReceiptGateway(std::string key, int generation, bool receipts = true)
      : key_(std::move(key)), generation_(generation), receipts_(receipts) {}
  asio::awaitable<Outcome> send(const OutboundMessage&) override { co_return Outcome{}; }
  bool supports(ChannelKind) const override { return true; }
  std::vector<Route> routes() override {
    if (!receipts_) return {};
    Route route;
    route.path = "/v1/receipts/sms";
    route.auth = RouteAuth::Own;
    route.admit = [this](const ServerRequestHeader& head) {
      Admission admission;
      admission.max_body = 1000;
      if (head["X-Key"] != key_) {
        admission.answer = unauthorized("Key", "wrong key");
        admission.refusal = "wrong key";
      }
      return admission;
    };
    route.handle = [this](RouteRequest) -> asio::awaitable<ServerResponse> {
      co_return json_response(http::status::ok, {{"generation", generation_}});
    };
    route.refused = [this](const std::string&, bool, const std::string& reason) {
      refusals.push_back(reason);
    };
    return {route};
  }
  std::vector<std::string> refusals;

 private:
  std::string key_;
  int generation_;
  bool receipts_;
};

}  // namespace

TEST_CASE("a gateway's routes are answered by the gateway of that name running now", "[http]") {
  asio::io_context io;  // outlives the store's writer thread, which posts to it
  Daemon d;
  HttpServer server(io, d.context(), test_config());
  // What the dispatcher keeps: the gateway running now, and the ones a
  // reload replaced (kept alive for the sends they began).
  std::vector<std::unique_ptr<ReceiptGateway>> generations;
  ReceiptGateway* running = nullptr;
  auto run = [&](std::unique_ptr<ReceiptGateway> gateway) {
    running = gateway.get();
    generations.push_back(std::move(gateway));
  };
  run(std::make_unique<ReceiptGateway>("old", 1));
  for (auto& route : gateway_routes("sms", *running, [&]() -> Gateway* { return running; })) {
    server.mount(std::move(route));
  }
  const auto endpoint = server.local_endpoint();
  server.start();
  auto receipt = [&](const std::string& key) {
    auto request = make_request(http::verb::post, "/v1/receipts/sms", "", "{}");
    request.set("X-Key", key);
    auto response = run_task(io, fetch(endpoint, std::move(request)));
    REQUIRE(response);
    return *response;
  };

  auto first = receipt("old");
  CHECK(first.result() == http::status::ok);
  CHECK(body_json(first)["generation"] == 1);

  // A reload rebuilds the gateway with a new key: the old key is refused,
  // the new one reaches the new gateway, and the refusal is told to it.
  run(std::make_unique<ReceiptGateway>("new", 2));
  CHECK(receipt("old").result() == http::status::unauthorized);
  CHECK(generations[1]->refusals == std::vector<std::string>{"wrong key"});
  CHECK(generations[0]->refusals.empty());
  auto second = receipt("new");
  CHECK(second.result() == http::status::ok);
  CHECK(body_json(second)["generation"] == 2);

  // New settings that turn receipts off: the path answers 404, not the old
  // gateway; no gateway of that name at all: 503.
  run(std::make_unique<ReceiptGateway>("new", 3, false));
  CHECK(receipt("new").result() == http::status::not_found);
  running = nullptr;
  CHECK(receipt("new").result() == http::status::service_unavailable);
  server.stop();
}

TEST_CASE("a second listener on a port in use fails at construction", "[http]") {
  asio::io_context io;  // outlives the store's writer thread, which posts to it
  Daemon d;
  HttpServer first(io, d.context(), test_config());
  HttpConfig config = test_config();
  config.listen_port = first.local_endpoint().port();
  CHECK_THROWS_AS(HttpServer(io, d.context(), config), boost::system::system_error);
}
