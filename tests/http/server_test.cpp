// Tests for daemon/http/server.cpp against slow and greedy clients (issue
// 14, finding 3): the cap per client address, the head's own deadline apart
// from the body's minimum rate, the keep-alive idle timeout, and room made
// at max_connections by closing the oldest idle connection. Real sockets
// on 127.0.0.1 and 127.0.0.2 (Linux routes all of 127/8 to lo), with the
// clients on the listener's own event loop.
#include "http/server.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>

#include "intake.hpp"
#include "metrics.hpp"
#include "sources/http_events.hpp"
#include "support/coro.hpp"
#include "support/store.hpp"
#include "support/temp_dir.hpp"

using namespace tack;
using tack::testing::run_task;
using tack::testing::TempDir;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kToken = "token-0123456789abcdef";

// What the listener reaches: a store, an intake without rules, metrics.
struct Daemon {
  TempDir dir;
  std::unique_ptr<Store> opened = testing::open_test_store(dir.file("tack.db"));
  Store& store = *opened;
  std::shared_ptr<Snapshot> snapshot = std::make_shared<Snapshot>();
  Intake intake{store, snapshot, [] { return std::int64_t{1795000000000}; }};
  Metrics metrics;
  Daemon() { intake.set_metrics(&metrics); }
  HttpContext context() {
    return HttpContext{store, intake, metrics, [] {}};
  }
  ~Daemon() { store.close(); }
};

HttpConfig test_config() {
  HttpConfig config;
  config.listen_port = 0;
  config.events_token = kToken;
  // /livez answers these tests' clients without a password.
  config.health_from = {*parse_address_range("127.0.0.0/8")};
  config.hosts = {"t"};
  return config;
}

// A listener with the events intake mounted, started on io.
struct Listener {
  Listener(asio::io_context& io, Daemon& d, const HttpConfig& config)
      : events(d.intake,
               [settings = std::make_shared<const HttpConfig>(config)] { return settings; }),
        server(io, d.context(), config) {
    server.mount(events.route());
    endpoint = server.local_endpoint();
    server.start();
  }
  ~Listener() { server.stop(); }
  HttpEventSource events;
  HttpServer server;
  tcp::endpoint endpoint;
};

constexpr const char* kLivez = "GET /livez HTTP/1.1\r\nHost: t\r\n\r\n";
constexpr const char* kLivezClose = "GET /livez HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
// A head that has begun and not ended: the connection is busy, not idle.
constexpr const char* kHalfHead = "GET /livez HTTP/1.1\r\nHost: t\r\n";

struct Client {
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
};

asio::awaitable<void> sleep_for(milliseconds time) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor, time);
  co_await timer.async_wait(asio::use_awaitable);
}

// A connection from `source`, a loopback address of the test's choice.
asio::awaitable<Client> connect_from(tcp::endpoint server, const char* source) {
  auto executor = co_await asio::this_coro::executor;
  Client client{beast::tcp_stream(executor), {}};
  auto& socket = client.stream.socket();
  socket.open(tcp::v4());
  socket.bind(tcp::endpoint(asio::ip::make_address(source), 0));
  co_await socket.async_connect(server, asio::use_awaitable);
  co_return client;
}

asio::awaitable<bool> send(Client& client, const char* bytes) {
  error_code ec;
  client.stream.expires_after(std::chrono::seconds(5));
  co_await asio::async_write(client.stream, asio::buffer(bytes, std::strlen(bytes)),
                             asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec;
}

// Sends and checks that it went (a check outside any co_await expression:
// GCC 12 mishandles temporaries with destructors inside one).
asio::awaitable<void> must_send(Client& client, const char* bytes) {
  const bool sent = co_await send(client, bytes);
  CHECK(sent);
}

// The status of the next answer on this connection; 0 when none came
// within `limit` (the connection is then closed) or the server closed it.
asio::awaitable<int> answer_status(Client& client, milliseconds limit = milliseconds(2000)) {
  error_code ec;
  client.stream.expires_after(limit);
  http::response<http::string_body> response;
  co_await http::async_read(client.stream, client.buffer, response,
                            asio::redirect_error(asio::use_awaitable, ec));
  co_return ec ? 0 : response.result_int();
}

asio::awaitable<void> expect_ok(Client& client) {
  const int status = co_await answer_status(client);
  CHECK(status == 200);
}

struct Ending {
  bool closed = false;  // by the server (EOF or reset), within the limit
  milliseconds after{0};
  std::string bytes;  // what came before
};

// Reads until the server closes the connection, for at most `limit`.
asio::awaitable<Ending> read_to_end(Client& client, milliseconds limit) {
  Ending ending;
  const auto start = Clock::now();
  client.stream.expires_after(limit);
  char chunk[4096];
  for (;;) {
    error_code ec;
    const std::size_t n = co_await client.stream.async_read_some(
        asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
    ending.bytes.append(chunk, n);
    if (ec) {
      ending.closed = ec != beast::error::timeout;
      break;
    }
  }
  ending.after = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  co_return ending;
}

// Whether the server has neither answered nor closed this connection yet.
bool still_waiting(Client& client) {
  auto& socket = client.stream.socket();
  socket.non_blocking(true);
  char byte;
  error_code ec;
  socket.receive(asio::buffer(&byte, 1), tcp::socket::message_peek, ec);
  return ec == asio::error::would_block;
}

std::string event_json(const std::string& id) {
  return R"({"event_id":")" + id +
         R"(","order_id":"77","status":"shipped","occurred_at":"2026-11-22T10:15:00Z"})";
}

std::string events_head(std::size_t content_length) {
  return "POST /v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + kToken +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(content_length) +
         "\r\n\r\n";
}

}  // namespace

TEST_CASE("one client address gets max_connections_per_client connections; others get theirs",
          "[http]") {
  asio::io_context io;  // outlives the store's writer thread, which posts to it
  Daemon d;
  HttpConfig config = test_config();
  config.max_connections_per_client = 2;
  Listener listener(io, d, config);
  const auto endpoint = listener.endpoint;

  auto scenario = [&]() -> asio::awaitable<bool> {
    // Two connections from 127.0.0.2 hold their heads half-sent.
    Client a = co_await connect_from(endpoint, "127.0.0.2");
    Client b = co_await connect_from(endpoint, "127.0.0.2");
    co_await must_send(a, kHalfHead);
    co_await must_send(b, kHalfHead);
    co_await sleep_for(milliseconds(100));

    // A third from there is answered 503 and closed at once, unread.
    Client c = co_await connect_from(endpoint, "127.0.0.2");
    const Ending refused = co_await read_to_end(c, milliseconds(2000));
    CHECK(refused.closed);
    CHECK_THAT(refused.bytes, Catch::StartsWith("HTTP/1.1 503"));
    CHECK_THAT(refused.bytes, Catch::Contains("http.max_connections_per_client"));

    // Loopback is not exempt, but another address has its own count.
    Client other = co_await connect_from(endpoint, "127.0.0.1");
    co_await must_send(other, kLivez);
    co_await expect_ok(other);

    // A connection that ends makes room for the next from that address.
    a.stream.close();
    co_await sleep_for(milliseconds(100));
    Client d2 = co_await connect_from(endpoint, "127.0.0.2");
    co_await must_send(d2, kLivez);
    co_await expect_ok(d2);
    co_return true;
  };
  CHECK(run_task(io, scenario(), std::chrono::seconds(15)) == std::optional<bool>(true));
}

TEST_CASE("a request head must arrive within header_timeout, however it trickles", "[http]") {
  asio::io_context io;  // outlives the store's writer thread, which posts to it
  Daemon d;
  HttpConfig config = test_config();
  config.header_timeout = milliseconds(300);
  config.request_timeout = std::chrono::seconds(5);
  Listener listener(io, d, config);
  const auto endpoint = listener.endpoint;

  auto scenario = [&]() -> asio::awaitable<bool> {
    // One header byte every 50 ms keeps coming, but the head never ends.
    Client slow = co_await connect_from(endpoint, "127.0.0.1");
    co_await must_send(slow, kHalfHead);
    const auto start = Clock::now();
    bool closed = false;
    while (!closed && Clock::now() - start < std::chrono::seconds(3)) {
      co_await sleep_for(milliseconds(50));
      const bool sent = co_await send(slow, "X");
      closed = !sent || !still_waiting(slow);
    }
    CHECK(closed);
    CHECK(Clock::now() - start < std::chrono::seconds(2));

    // A connection that sends nothing at all is closed as soon.
    Client silent = co_await connect_from(endpoint, "127.0.0.1");
    const Ending ending = co_await read_to_end(silent, milliseconds(3000));
    CHECK(ending.closed);
    CHECK(ending.after < milliseconds(2000));

    // A head sent at once is answered.
    Client quick = co_await connect_from(endpoint, "127.0.0.1");
    co_await must_send(quick, kLivez);
    co_await expect_ok(quick);
    co_return true;
  };
  CHECK(run_task(io, scenario(), std::chrono::seconds(15)) == std::optional<bool>(true));
}

TEST_CASE("a body may outlast header_timeout while it keeps min_body_rate; a stalled one is cut",
          "[http]") {
  asio::io_context io;  // outlives the store's writer thread, which posts to it
  Daemon d;
  HttpConfig config = test_config();
  config.header_timeout = milliseconds(300);
  config.request_timeout = std::chrono::seconds(5);
  config.min_body_rate = 100;  // bytes per second
  Listener listener(io, d, config);
  const auto endpoint = listener.endpoint;

  auto scenario = [&]() -> asio::awaitable<bool> {
    // An event body in 10 pieces over a second: far slower than the head
    // may be, above the minimum rate.
    const std::string body = event_json("slow-body-1");
    const std::string head = events_head(body.size());
    Client steady = co_await connect_from(endpoint, "127.0.0.1");
    co_await must_send(steady, head.c_str());
    const std::size_t piece = body.size() / 10 + 1;
    for (std::size_t at = 0; at < body.size(); at += piece) {
      co_await sleep_for(milliseconds(100));
      const std::string part = body.substr(at, piece);
      co_await must_send(steady, part.c_str());
    }
    co_await expect_ok(steady);

    // A body that stops after 10 of 1000 bytes is cut off once it falls
    // header_timeout behind the rate (here 0.4 s), not at request_timeout.
    const std::string stalled_head = events_head(1000);
    Client stalled = co_await connect_from(endpoint, "127.0.0.1");
    co_await must_send(stalled, stalled_head.c_str());
    co_await must_send(stalled, "[{\"event_i");
    const Ending ending = co_await read_to_end(stalled, milliseconds(4000));
    CHECK(ending.closed);
    CHECK(ending.after < milliseconds(2000));
    co_return true;
  };
  CHECK(run_task(io, scenario(), std::chrono::seconds(20)) == std::optional<bool>(true));
}

TEST_CASE("a keep-alive connection is closed after idle_timeout without a next request", "[http]") {
  asio::io_context io;  // outlives the store's writer thread, which posts to it
  Daemon d;
  HttpConfig config = test_config();
  config.idle_timeout = milliseconds(300);
  config.request_timeout = std::chrono::seconds(5);
  Listener listener(io, d, config);
  const auto endpoint = listener.endpoint;

  auto scenario = [&]() -> asio::awaitable<bool> {
    Client client = co_await connect_from(endpoint, "127.0.0.1");
    co_await must_send(client, kLivez);
    co_await expect_ok(client);
    // A next request within idle_timeout is served on the same connection.
    co_await sleep_for(milliseconds(100));
    co_await must_send(client, kLivez);
    co_await expect_ok(client);
    // None: closed, long before request_timeout.
    const Ending ending = co_await read_to_end(client, milliseconds(4000));
    CHECK(ending.closed);
    CHECK(ending.bytes.empty());
    CHECK(ending.after < milliseconds(2000));
    co_return true;
  };
  CHECK(run_task(io, scenario(), std::chrono::seconds(15)) == std::optional<bool>(true));
}

TEST_CASE(
    "at max_connections the oldest idle connection makes room; with none idle, new ones "
    "wait",
    "[http]") {
  asio::io_context io;  // outlives the store's writer thread, which posts to it
  Daemon d;
  HttpConfig config = test_config();
  config.max_connections = 3;
  Listener listener(io, d, config);
  const auto endpoint = listener.endpoint;

  auto scenario = [&]() -> asio::awaitable<bool> {
    // fresh: no byte yet (idle since accepted); kept: keep-alive after an
    // answer (idle since); busy: a head under way.
    Client fresh = co_await connect_from(endpoint, "127.0.0.1");
    co_await sleep_for(milliseconds(50));
    Client kept = co_await connect_from(endpoint, "127.0.0.1");
    co_await must_send(kept, kLivez);
    co_await expect_ok(kept);
    Client busy = co_await connect_from(endpoint, "127.0.0.1");
    co_await must_send(busy, kHalfHead);
    co_await sleep_for(milliseconds(100));

    // At the cap: the newcomer is served at once, the oldest idle closed.
    Client second = co_await connect_from(endpoint, "127.0.0.1");
    co_await must_send(second, kLivez);
    co_await expect_ok(second);
    const Ending fresh_end = co_await read_to_end(fresh, milliseconds(1000));
    CHECK(fresh_end.closed);
    CHECK(still_waiting(kept));

    // Next in line is the kept-alive one, idle longer than `second`.
    Client third = co_await connect_from(endpoint, "127.0.0.1");
    co_await must_send(third, kLivez);
    co_await expect_ok(third);
    const Ending kept_end = co_await read_to_end(kept, milliseconds(1000));
    CHECK(kept_end.closed);
    co_await must_send(second, kLivez);
    co_await expect_ok(second);

    // None idle: a newcomer waits...
    co_await must_send(second, kHalfHead);
    co_await must_send(third, kHalfHead);
    co_await sleep_for(milliseconds(100));
    Client waiting = co_await connect_from(endpoint, "127.0.0.1");
    co_await must_send(waiting, kLivezClose);
    co_await sleep_for(milliseconds(500));
    CHECK(still_waiting(waiting));
    // ...until a connection goes idle, and takes its place.
    co_await must_send(second, "\r\n");
    co_await expect_ok(second);
    co_await expect_ok(waiting);
    const Ending second_end = co_await read_to_end(second, milliseconds(1000));
    CHECK(second_end.closed);
    co_return true;
  };
  CHECK(run_task(io, scenario(), std::chrono::seconds(20)) == std::optional<bool>(true));
}
