// Tests for daemon/sources/http_events.cpp: splitting a POST /v1/events
// body, and signed requests over a real listener on 127.0.0.1 (the
// timestamp that makes a replay fail). The route is also tried through the
// router in tests/http/router_test.cpp and end to end in tests/integration/.
#include "sources/http_events.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <catch2/catch.hpp>

#include "clock.hpp"
#include "digest.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "intake.hpp"
#include "metrics.hpp"
#include "support/coro.hpp"
#include "support/store.hpp"
#include "support/temp_dir.hpp"

using namespace tack;
namespace beast = boost::beast;
namespace http = boost::beast::http;

TEST_CASE("event_documents splits an array and keeps anything else whole", "[http_events]") {
  Limits limits;
  limits.max_events_per_request = 10;
  auto array = event_documents(" [{\"a\":1}, {\"b\":[2]}, 3]", limits);
  REQUIRE(array);
  CHECK(*array == std::vector<std::string>{R"({"a":1})", R"({"b":[2]})", "3"});
  CHECK(*event_documents("{\"a\":1}", limits) == std::vector<std::string>{"{\"a\":1}"});
  CHECK(event_documents(" \n", limits)->empty());
  CHECK(event_documents("[]", limits)->empty());
  // Not JSON, or nested past the limit: one document, rejected by intake
  // with its reason.
  CHECK(*event_documents("[{\"a\":", limits) == std::vector<std::string>{"[{\"a\":"});
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  REQUIRE(event_documents(deep, limits)->size() == 1);
  CHECK(event_documents(deep, limits)->front().size() == deep.size());
  const std::string at_limit =
      "[" + std::string(limits.max_json_depth, '[') + std::string(limits.max_json_depth, ']') + "]";
  CHECK(event_documents(at_limit, limits)->size() == 1);
  CHECK(event_documents(at_limit, limits)->front() != at_limit);
  limits.max_events_per_request = 2;
  CHECK_FALSE(event_documents("[1,2,3]", limits));
  CHECK(event_documents("[1,2]", limits)->size() == 2);
}

namespace {

const std::string kSecret = "secret-0123456789abcdef";

// One request over a fresh connection, as a shop's client sends it.
asio::awaitable<ServerResponse> post(asio::ip::tcp::endpoint endpoint, ServerRequest request) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(std::chrono::seconds(5));
  co_await stream.async_connect(endpoint, asio::use_awaitable);
  co_await http::async_write(stream, request, asio::use_awaitable);
  beast::flat_buffer buffer;
  ServerResponse response;
  co_await http::async_read(stream, buffer, response, asio::use_awaitable);
  co_return response;
}

ServerRequest signed_request(const std::string& body, const std::string& timestamp,
                             const std::string& signed_text) {
  ServerRequest request{http::verb::post, "/v1/events", 11};
  request.set(http::field::content_type, "application/json");
  if (!timestamp.empty()) request.set("X-Tack-Timestamp", timestamp);
  request.set("X-Tack-Signature", "sha256=" + hmac_sha256_hex(kSecret, signed_text));
  request.body() = body;
  request.prepare_payload();
  return request;
}

}  // namespace

TEST_CASE("a signed request is taken within five minutes of its timestamp and refused after",
          "[http_events][signature]") {
  asio::io_context io;  // outlives the store's writer thread, which posts to it
  testing::TempDir dir;
  auto store = testing::open_test_store(dir.file("tack.db"));
  Intake intake{*store, std::make_shared<Snapshot>(), [] { return wall_ms(); }};
  Metrics metrics;
  intake.set_metrics(&metrics);
  HttpConfig config;
  config.listen_port = 0;
  config.events_hmac_secret = kSecret;
  HttpEventSource source(
      intake, [settings = std::make_shared<const HttpConfig>(config)] { return settings; });
  HttpServer server(io, HttpContext{*store, intake, metrics, [] {}}, config);
  server.mount(source.route());
  const auto endpoint = server.local_endpoint();
  server.start();
  auto send = [&](ServerRequest request) {
    auto response = testing::run_task(io, post(endpoint, std::move(request)));
    REQUIRE(response);
    return *response;
  };
  auto error_of = [](const ServerResponse& r) {
    return nlohmann::json::parse(r.body()).value("error", "");
  };
  auto event_body = [](const std::string& id) {
    return R"({"event_id":")" + id +
           R"(","order_id":"7","status":"shipped","occurred_at":"2026-11-22T10:15:00Z"})";
  };
  auto seconds_from_now = [](int offset) { return std::to_string(wall_ms() / 1000 + offset); };

  const std::string body = event_body("s-1");
  const std::string now = seconds_from_now(0);
  const auto request = signed_request(body, now, now + "." + body);
  auto taken = send(request);
  REQUIRE(taken.result() == http::status::ok);
  CHECK(nlohmann::json::parse(taken.body())["results"][0]["verdict"] == "accepted");
  // Sent again at once: a duplicate, as any event sent twice.
  auto again = send(request);
  CHECK(again.result() == http::status::ok);
  CHECK(nlohmann::json::parse(again.body())["results"][0]["verdict"] == "duplicate");

  // The same kind of request signed six minutes ago (a replay of one
  // captured then), or for six minutes from now: refused, and told why.
  const std::string late_body = event_body("s-2");
  const std::string then = seconds_from_now(-360);
  auto replayed = send(signed_request(late_body, then, then + "." + late_body));
  CHECK(replayed.result() == http::status::unauthorized);
  CHECK_THAT(error_of(replayed), Catch::Contains("X-Tack-Timestamp") &&
                                     Catch::Contains("s behind tackd's clock"));
  CHECK(std::string(replayed[http::field::www_authenticate]).rfind("Bearer", 0) == 0);
  const std::string later = seconds_from_now(360);
  auto future = send(signed_request(late_body, later, later + "." + late_body));
  CHECK(future.result() == http::status::unauthorized);
  CHECK_THAT(error_of(future), Catch::Contains("s ahead of tackd's clock"));

  // A tampered body, the old form without a timestamp, a timestamp that is
  // not one: each refused and told why.
  auto tampered = signed_request(late_body, now, now + "." + late_body);
  tampered.body() = event_body("s-3");
  tampered.prepare_payload();
  auto forged = send(tampered);
  CHECK(forged.result() == http::status::unauthorized);
  CHECK_THAT(error_of(forged), Catch::Contains("does not match"));
  auto old_form = send(signed_request(late_body, "", late_body));
  CHECK(old_form.result() == http::status::unauthorized);
  CHECK_THAT(error_of(old_form), Catch::Contains("X-Tack-Timestamp is required"));
  auto malformed = send(signed_request(late_body, "yesterday", "yesterday." + late_body));
  CHECK(malformed.result() == http::status::unauthorized);
  CHECK_THAT(error_of(malformed), Catch::Contains("whole Unix seconds"));

  // Refusals without good credentials fill nothing in the store: s-1 only.
  CHECK(store->query<std::size_t>(
            [](StoreReader& r) { return r.rejected_events(100).size(); }) == 0);
  auto events = store->query<std::vector<EventView>>(
      [](StoreReader& r) { return r.find_events("7"); });
  REQUIRE(events.size() == 1);
  CHECK(events[0].event_id == "s-1");
  server.stop();
  store->close();
}
