// Tests for daemon/curl.cpp against a real HTTP server (tests/fixtures/http_sink.py).
#include "curl.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <thread>

#include "support/coro.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace tack;
using namespace std::chrono_literals;
using tack::testing::Fixture;
using tack::testing::TempDir;

namespace {

Fixture http_sink(const TempDir& dir, const std::string& script = "[]") {
  return tack::testing::start_fixture("http_sink.py",
                                      {"--out", dir.file("requests.jsonl"), "--script", script});
}

HttpRequest post(const Fixture& sink, std::string path, std::string body) {
  HttpRequest request;
  request.url = sink.url() + path;
  request.body = std::move(body);
  request.headers = {{"Content-Type", "text/plain"}};
  request.timeouts.connect = 2s;
  request.timeouts.total = 5s;
  return request;
}

}  // namespace

TEST_CASE("curl: a POST gets its status, lowercased headers and body", "[curl]") {
  TempDir dir;
  auto sink = http_sink(
      dir, R"([{"status": 201, "headers": {"X-Request-Thing": "Yes"}, "body": "hello"}])");
  asio::io_context io;
  CurlMulti curl(io);

  auto result = tack::testing::run_task(io, curl.perform(post(sink, "/p?q=1", "payload")));
  REQUIRE(result);
  CHECK(result->ok());
  CHECK(result->status == 201);
  CHECK(result->header("x-request-thing") == "Yes");
  CHECK(result->header("content-length") == "5");
  CHECK(result->header("absent").empty());
  CHECK(result->body == "hello");
  CHECK(result->request_sent);
  CHECK(curl.in_flight() == 0);

  const auto requests = tack::testing::read_json_lines(dir.file("requests.jsonl"));
  REQUIRE(requests.size() == 1);
  CHECK(requests[0]["method"] == "POST");
  CHECK(requests[0]["path"] == "/p?q=1");
  CHECK(requests[0]["body"] == "payload");
  CHECK(requests[0]["headers"]["content-type"] == "text/plain");
  // libcurl's own Expect: 100-continue would cost a round trip per request.
  CHECK_FALSE(requests[0]["headers"].contains("expect"));
}

TEST_CASE("curl: other methods carry their body", "[curl]") {
  TempDir dir;
  auto sink = http_sink(dir);
  asio::io_context io;
  CurlMulti curl(io);

  auto put = post(sink, "/put", "replace");
  put.method = "PUT";
  auto get = post(sink, "/get", "");
  get.method = "GET";
  REQUIRE(tack::testing::run_task(io, curl.perform(put))->status == 200);
  REQUIRE(tack::testing::run_task(io, curl.perform(get))->status == 200);

  const auto requests = tack::testing::read_json_lines(dir.file("requests.jsonl"));
  REQUIRE(requests.size() == 2);
  CHECK(requests[0]["method"] == "PUT");
  CHECK(requests[0]["body"] == "replace");
  CHECK(requests[1]["method"] == "GET");
  CHECK(requests[1]["body"] == "");
}

TEST_CASE("curl: fifty concurrent POSTs on one io_context all complete", "[curl]") {
  TempDir dir;
  auto sink = http_sink(dir);
  asio::io_context io;
  CurlMulti curl(io);

  constexpr int kTransfers = 50;
  std::vector<TransferResult> results;
  for (int i = 0; i < kTransfers; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          results.push_back(co_await curl.perform(post(sink, "/bulk", "n=" + std::to_string(i))));
        },
        asio::detached);
  }
  REQUIRE(tack::testing::run_until(
      io, [&] { return results.size() == kTransfers; }, 20s));

  for (const auto& result : results) {
    CHECK(result.curl_error == "");
    CHECK(result.status == 200);
  }
  CHECK(curl.in_flight() == 0);
  const auto requests = tack::testing::read_json_lines(dir.file("requests.jsonl"));
  REQUIRE(requests.size() == kTransfers);
  std::set<std::string> bodies;
  for (const auto& request : requests) bodies.insert(request["body"].get<std::string>());
  CHECK(bodies.size() == kTransfers);
}

TEST_CASE("curl: the loop keeps running while a transfer is slow", "[curl]") {
  TempDir dir;
  auto sink = http_sink(dir, R"([{"delay_seconds": 0.6, "body": "late"}])");
  asio::io_context io;
  CurlMulti curl(io);

  int ticks = 0;
  bool done = false;
  asio::steady_timer timer(io);
  std::function<void()> tick = [&] {
    timer.expires_after(10ms);
    timer.async_wait([&](const error_code& ec) {
      if (ec || done) return;
      ++ticks;
      tick();
    });
  };
  tick();

  std::optional<TransferResult> result;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        result = co_await curl.perform(post(sink, "/slow", "x"));
        done = true;
        timer.cancel();
      },
      asio::detached);
  REQUIRE(tack::testing::run_until(
      io, [&] { return done; }, 10s));
  REQUIRE(result);
  CHECK(result->body == "late");
  CHECK(result->duration >= 500ms);
  // Up to 60 ticks in 600 ms; a loop blocked by the transfer shows none
  // (ticks stop once it is done). Lenient, for loaded machines.
  CHECK(ticks >= 10);
}

TEST_CASE("curl: a refused connection is a connect failure with nothing sent", "[curl]") {
  asio::io_context io;
  CurlMulti curl(io);
  HttpRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(tack::testing::closed_port()) + "/";
  request.body = "x";

  auto result = tack::testing::run_task(io, curl.perform(request));
  REQUIRE(result);
  CHECK_FALSE(result->ok());
  CHECK(result->connect_failed());
  CHECK_FALSE(result->request_sent);
  CHECK_FALSE(result->curl_error.empty());
  CHECK(result->status == 0);
}

TEST_CASE("curl: a timeout after the request left is not a connect failure", "[curl]") {
  TempDir dir;
  auto sink = http_sink(dir, R"([{"hang": true}])");
  asio::io_context io;
  CurlMulti curl(io);
  auto request = post(sink, "/hang", "x");
  request.timeouts.total = 300ms;

  auto result = tack::testing::run_task(io, curl.perform(request));
  REQUIRE(result);
  CHECK_FALSE(result->ok());
  CHECK(result->request_sent);
  CHECK_FALSE(result->connect_failed());
  CHECK(result->duration < 3s);
}

TEST_CASE("curl: a request answered on a reused connection went out once", "[curl]") {
  TempDir dir;
  auto sink = http_sink(dir);
  asio::io_context io;
  CurlMulti curl(io);

  auto first = tack::testing::run_task(io, curl.perform(post(sink, "/a", "one")));
  auto second = tack::testing::run_task(io, curl.perform(post(sink, "/b", "two")));
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->status == 200);
  CHECK(first->requests == 1);
  CHECK(second->status == 200);
  CHECK(second->requests == 1);
  CHECK(tack::testing::read_json_lines(dir.file("requests.jsonl")).size() == 2);
}

TEST_CASE("curl: a request libcurl sends again after a reused connection dies counts both",
          "[curl]") {
  // The server reads the request on the kept-alive connection in full, then
  // resets it unanswered; libcurl ("Connection died, retrying a fresh
  // connect") sends it again on a new connection, where it is answered.
  TempDir dir;
  auto sink = tack::testing::start_fixture(
      "http_sink.py", {"--out", dir.file("requests.jsonl"), "--reset-reused"});
  asio::io_context io;
  CurlMulti curl(io);

  auto first = tack::testing::run_task(io, curl.perform(post(sink, "/a", "one")));
  REQUIRE(first);
  CHECK(first->status == 200);
  CHECK(first->requests == 1);

  auto second = tack::testing::run_task(io, curl.perform(post(sink, "/b", "two")));
  REQUIRE(second);
  CHECK(second->ok());
  CHECK(second->status == 200);
  CHECK(second->request_sent);
  CHECK(second->requests == 2);

  const auto requests = tack::testing::read_json_lines(dir.file("requests.jsonl"));
  REQUIRE(requests.size() == 3);
  CHECK(requests[1]["body"] == "two");
  CHECK(requests[1].value("reused", false));
  CHECK(requests[2]["body"] == "two");
  CHECK_FALSE(requests[2].value("reused", false));
}

TEST_CASE("curl: a body is kept up to 1 MiB", "[curl]") {
  TempDir dir;
  {
    std::ofstream script(dir.file("script.json"));
    script << R"([{"body": ")" << std::string(3 * 1024 * 1024 / 2, 'x') << R"("}])";
  }
  auto sink = tack::testing::start_fixture(
      "http_sink.py",
      {"--out", dir.file("requests.jsonl"), "--script-file", dir.file("script.json")});
  asio::io_context io;
  CurlMulti curl(io);

  auto result = tack::testing::run_task(io, curl.perform(post(sink, "/big", "")));
  REQUIRE(result);
  CHECK(result->ok());
  CHECK(result->status == 200);
  CHECK(result->body.size() == 1024 * 1024);
}

TEST_CASE("curl: cancel_all resumes every awaiter with an error", "[curl]") {
  TempDir dir;
  auto sink = http_sink(dir, R"([{"hang": true}, {"hang": true}])");
  asio::io_context io;
  CurlMulti curl(io);

  std::vector<TransferResult> results;
  for (int i = 0; i < 2; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          results.push_back(co_await curl.perform(post(sink, "/", "x")));
        },
        asio::detached);
  }
  // Wait until both requests reached the server, so they are really in flight.
  REQUIRE(tack::testing::run_until(
      io, [&] { return tack::testing::read_json_lines(dir.file("requests.jsonl")).size() == 2; },
      5s));
  CHECK(curl.in_flight() == 2);

  curl.cancel_all();
  CHECK(curl.in_flight() == 0);
  REQUIRE(tack::testing::run_until(
      io, [&] { return results.size() == 2; }, 2s));
  for (const auto& result : results) {
    CHECK_FALSE(result.ok());
    CHECK(result.request_sent);
    CHECK(result.curl_error.find("cancelled") != std::string::npos);
  }
}

TEST_CASE("curl: destroying the multi handle with transfers in flight is clean", "[curl]") {
  TempDir dir;
  auto sink = http_sink(dir, R"([{"hang": true}])");
  asio::io_context io;
  std::optional<TransferResult> result;
  {
    CurlMulti curl(io);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> { result = co_await curl.perform(post(sink, "/", "x")); },
        asio::detached);
    REQUIRE(tack::testing::run_until(
        io, [&] { return !tack::testing::read_json_lines(dir.file("requests.jsonl")).empty(); },
        5s));
  }
  REQUIRE(tack::testing::run_until(
      io, [&] { return result.has_value(); }, 2s));
  CHECK_FALSE(result->ok());
}

namespace {

SmtpRequest smtp_to(const Fixture& sink, std::chrono::milliseconds timeout) {
  SmtpRequest request;
  request.url = "smtp://127.0.0.1:" + std::to_string(sink.port);
  request.tls = SmtpRequest::Tls::None;
  request.mail_from = "shop@example.se";
  request.rcpt_to = {"anna@example.se"};
  request.message = "Subject: hi\r\n\r\n.leading dot\r\n";
  request.timeouts.connect = 2s;
  request.timeouts.total = timeout;
  return request;
}

}  // namespace

TEST_CASE("curl: an SMTP server slow to answer DATA does not block the loop", "[curl]") {
  // libcurl waits for the reply to the end of DATA with a blocking poll;
  // SMTP transfers run on their own threads so this loop never sees it.
  TempDir dir;
  auto sink = tack::testing::start_fixture("smtp_sink.py",
                                           {"--out", dir.file("mail.jsonl"), "--reply", "hang"});
  asio::io_context io;
  CurlMulti curl(io);

  int ticks = 0;
  bool done = false;
  asio::steady_timer timer(io);
  std::function<void()> tick = [&] {
    timer.expires_after(10ms);
    timer.async_wait([&](const error_code& ec) {
      if (ec || done) return;
      ++ticks;
      tick();
    });
  };
  tick();
  std::optional<TransferResult> result;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        result = co_await curl.perform(smtp_to(sink, 800ms));
        done = true;
        timer.cancel();
      },
      asio::detached);
  REQUIRE(tack::testing::run_until(
      io, [&] { return done; }, 10s));
  CHECK_FALSE(result->ok());
  CHECK(result->request_sent);  // the message went; its fate is unknown
  CHECK(ticks >= 10);           // a blocked loop would not tick at all
}

TEST_CASE("curl: concurrent SMTP transfers all complete on the caller's loop", "[curl]") {
  TempDir dir;
  auto sink = tack::testing::start_fixture("smtp_sink.py", {"--out", dir.file("mail.jsonl")});
  asio::io_context io;
  CurlMulti curl(io);

  constexpr int kTransfers = 12;
  std::vector<TransferResult> results;
  const auto loop_thread = std::this_thread::get_id();
  bool resumed_elsewhere = false;
  for (int i = 0; i < kTransfers; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto result = co_await curl.perform(smtp_to(sink, 5s));
          if (std::this_thread::get_id() != loop_thread) resumed_elsewhere = true;
          results.push_back(std::move(result));
        },
        asio::detached);
  }
  REQUIRE(tack::testing::run_until(
      io, [&] { return results.size() == kTransfers; }, 20s));
  CHECK_FALSE(resumed_elsewhere);
  for (const auto& result : results) {
    CHECK(result.curl_error == "");
    CHECK(result.status == 250);
    CHECK(result.request_sent);
  }
  CHECK(curl.in_flight() == 0);
  const auto received = tack::testing::read_json_lines(dir.file("mail.jsonl"));
  REQUIRE(received.size() == kTransfers);
  // libcurl dot-stuffs the body; the server gives back the line as written.
  CHECK(received[0]["data"].get<std::string>().find("\r\n.leading dot\r\n") != std::string::npos);
}

TEST_CASE("curl: cancelling an SMTP transfer returns at once and sends nothing more", "[curl]") {
  // Left to itself, libcurl would end a cancelled SMTP transfer by sending
  // the end-of-data "." and waiting (blocking) for the reply.
  TempDir dir;
  auto sink = tack::testing::start_fixture(
      "smtp_sink.py", {"--out", dir.file("mail.jsonl"), "--mail-reply", "hang"});
  asio::io_context io;
  CurlMulti curl(io);

  std::optional<TransferResult> result;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { result = co_await curl.perform(smtp_to(sink, 10s)); },
      asio::detached);
  // Give the session time to reach MAIL FROM, where the server goes quiet.
  tack::testing::run_until(
      io, [] { return false; }, 300ms);
  REQUIRE(curl.in_flight() == 1);

  const auto cancelled_at = std::chrono::steady_clock::now();
  curl.cancel_all();
  REQUIRE(tack::testing::run_until(
      io, [&] { return result.has_value(); }, 5s));
  CHECK(std::chrono::steady_clock::now() - cancelled_at < 2s);
  CHECK_FALSE(result->ok());
  CHECK_FALSE(result->request_sent);
  CHECK(result->curl_error.find("cancelled") != std::string::npos);
  CHECK(curl.in_flight() == 0);
  CHECK(tack::testing::read_json_lines(dir.file("mail.jsonl")).empty());
}

TEST_CASE("curl: cancel and shutdown do not wait for an SMTP server sitting on DATA", "[curl]") {
  // libcurl blocks its lane thread while it waits for the end-of-DATA
  // reply; cancel_all and the destructor wake it instead of waiting out the
  // 10 s timeout.
  TempDir dir;
  auto sink = tack::testing::start_fixture(
      "smtp_sink.py", {"--out", dir.file("mail.jsonl"), "--reply", "hang", "--reply", "hang"});
  asio::io_context io;
  std::optional<TransferResult> result;
  auto curl = std::make_unique<CurlMulti>(io);
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { result = co_await curl->perform(smtp_to(sink, 10s)); },
      asio::detached);
  // Let the message reach the server, which then never answers.
  tack::testing::run_until(
      io, [] { return false; }, 300ms);
  REQUIRE_FALSE(result);

  const auto started = std::chrono::steady_clock::now();
  SECTION("cancel_all") {
    curl->cancel_all();
    REQUIRE(tack::testing::run_until(
        io, [&] { return result.has_value(); }, 5s));
    CHECK_FALSE(result->ok());
    CHECK(result->request_sent);  // the whole message went: its fate is unknown
    CHECK(curl->in_flight() == 0);
  }
  SECTION("destruction") {
    curl.reset();
    REQUIRE(tack::testing::run_until(
        io, [&] { return result.has_value(); }, 5s));
    CHECK_FALSE(result->ok());
  }
  CHECK(std::chrono::steady_clock::now() - started < 3s);
}
