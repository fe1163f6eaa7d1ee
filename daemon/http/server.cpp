#include "http/server.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <limits>
#include <list>
#include <map>
#include <sstream>

#include "log.hpp"

namespace tack {

namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

// What one read may buffer: larger than the head limit
// (limits.max_request_head_bytes, 16 KiB by default: a request head is a
// few hundred bytes, browsers with many cookies send a few KiB), so the
// head limit is what a long head runs into.
std::size_t buffer_limit(std::size_t head_limit) {
  return std::max<std::size_t>(64 * 1024, head_limit * 2);
}
// After an answer that ends a connection early (413, 400), the client may
// still be sending: read and drop up to this much for up to this long, so
// the answer is not lost to a TCP reset.
constexpr std::size_t kLingerBytes = 4 * 1024 * 1024;
constexpr std::chrono::seconds kLingerTime{2};

bool is_loopback(const asio::ip::address& address) {
  if (address.is_loopback()) return true;
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).is_loopback();
  }
  return false;
}

// Whom the per-client cap counts a connection against: its address, an
// IPv4-mapped one as IPv4, and an IPv6 one by its /64 (one host's usual
// share, which it can fill with addresses at will).
asio::ip::address client_of(const asio::ip::address& address) {
  if (!address.is_v6()) return address;
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6);
  auto bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return asio::ip::address_v6(bytes);
}

std::string describe(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address().to_string();
  return (endpoint.address().is_v6() ? "[" + address + "]" : address) + ":" +
         std::to_string(endpoint.port());
}

// The errors of a client that went away or was too slow: nothing to say.
bool client_gone(const error_code& ec) {
  return ec == beast_http::error::end_of_stream || ec == beast_http::error::partial_message ||
         ec == beast::error::timeout || ec == asio::error::connection_reset ||
         ec == asio::error::eof || ec == asio::error::operation_aborted ||
         ec == asio::error::broken_pipe;
}

// Whether the request's Transfer-Encoding is the one coding "chunked".
bool only_chunked(const beast_http::request_header<>& head) {
  if (head.count(beast_http::field::transfer_encoding) != 1) return false;
  const beast_http::token_list codings{head[beast_http::field::transfer_encoding]};
  auto it = codings.begin();
  return it != codings.end() && beast::iequals(*it, "chunked") && ++it == codings.end();
}

// Why a body was not taken, with its sizes (for Router::note_refused).
// `late` says which deadline a timeout was.
std::string body_failure(const error_code& ec,
                         const beast_http::request_parser<beast_http::string_body>& parser,
                         std::uint64_t limit, const std::string& late) {
  const std::size_t got = parser.get().body().size();
  const auto expected = parser.content_length();
  const std::string of =
      expected ? fmt::format("{} of {} bytes", got, *expected)
               : fmt::format("{} bytes of a chunked body", got);
  if (ec == beast_http::error::body_limit) {
    return fmt::format("a {}body of more than {} bytes (http.max_body_bytes {}) (413); not kept",
                       parser.chunked() ? "chunked " : "", limit, limit);
  }
  if (ec == beast::error::timeout) {
    return fmt::format("the body did not arrive in time: {} {}; not kept", of, late);
  }
  if (client_gone(ec)) {
    return fmt::format("the client went away after {}; not kept", of);
  }
  return fmt::format("malformed body: {} after {} (400); not kept", ec.message(), of);
}

void log_escape(const char* what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log::error("http: {} ended with an error: {}", what, ex.what());
  } catch (...) {
    log::error("http: {} ended with an unknown error", what);
  }
}

struct Connection;

}  // namespace

struct HttpServer::Shared {
  Shared(asio::io_context& io, HttpContext context, const HttpConfig& config,
         asio::thread_pool& worker)
      : router(std::move(context), config, worker), acceptor(io), room(io), all_answered(io) {}

  Router router;
  tcp::acceptor acceptor;
  // Cancelled when a connection closes or goes idle: either may make room
  // for one waiting at max_connections.
  asio::steady_timer room;
  asio::steady_timer all_answered;  // cancelled when the last request in hand is answered
  int open = 0;
  int closing = 0;  // closed to make room, not yet ended
  int busy = 0;     // requests being handled or answered
  std::map<asio::ip::address, int> per_client;  // open connections by client_of()
  // Connections waiting for a request's first byte, the longest waiting first.
  std::list<Connection*> idle;
  bool stopping = false;
  bool at_capacity_logged = false;
  // Refusals over the per-client cap: a warning at most every kRefusalLogEvery.
  std::chrono::steady_clock::time_point refusal_logged{};
  int refusals_unlogged = 0;
};

namespace {

using Shared = HttpServer::Shared;

constexpr std::chrono::seconds kRefusalLogEvery{10};
// What a connection reads while it waits for a request to begin.
constexpr std::size_t kFirstRead = 4096;

// One open connection, for as long as its session lives: counted for
// max_connections and for its client's max_connections_per_client, and
// on the idle list while it waits for a request's first byte, where the
// listener at its cap may close it to make room.
struct Connection {
  Connection(std::shared_ptr<Shared> s, asio::ip::address c) : shared(std::move(s)), client(c) {
    ++shared->open;
    ++shared->per_client[client];
  }
  ~Connection() {
    busy();
    --shared->open;
    if (closed_for_room) --shared->closing;
    if (--shared->per_client[client] == 0) shared->per_client.erase(client);
    shared->room.cancel();
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void idle(beast::tcp_stream& s) {
    stream = &s;
    in_idle = shared->idle.insert(shared->idle.end(), this);
    is_idle = true;
    shared->room.cancel();
  }
  void busy() {
    if (!is_idle) return;
    shared->idle.erase(in_idle);
    is_idle = false;
  }

  std::shared_ptr<Shared> shared;
  const asio::ip::address client;
  beast::tcp_stream* stream = nullptr;  // while idle
  std::list<Connection*>::iterator in_idle;
  bool is_idle = false;
  bool closed_for_room = false;
};

// Closes the connection that has waited longest for a request, if any.
bool close_longest_idle(Shared& shared) {
  if (shared.idle.empty()) return false;
  Connection* oldest = shared.idle.front();
  oldest->busy();
  oldest->closed_for_room = true;
  ++shared.closing;
  // Its session's read ends with operation_aborted, and the session with it.
  oldest->stream->close();
  return true;
}

// At max_connections, makes room for one more: closes the longest idle
// connection, or waits for a connection to close or go idle. False when
// the listener stops meanwhile.
asio::awaitable<bool> make_room(std::shared_ptr<Shared> shared) {
  error_code ec;
  while (!shared->stopping &&
         shared->open - shared->closing >= shared->router.config()->max_connections) {
    if (close_longest_idle(*shared)) {
      log::debug("http: closed the longest idle connection for a new one (http.max_connections)");
      continue;
    }
    if (!shared->at_capacity_logged) {
      log::warning("http: {} connections open, the limit (http.max_connections), none of them "
                   "idle; new ones wait until one closes or goes idle",
                   shared->open);
      shared->at_capacity_logged = true;
    }
    shared->room.expires_at(asio::steady_timer::time_point::max());
    co_await shared->room.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return !shared->stopping;
}

// A connection over its client's cap: a 503 if the socket takes it at
// once, and closed. Nothing is read from it and nothing waits on it.
void refuse_over_client_cap(Shared& shared, tcp::socket& socket, const tcp::endpoint& remote,
                            int cap) {
  const std::string why = fmt::format(
      "too many connections from this address: at most {} (http.max_connections_per_client)", cap);
  ServerResponse response = error_response(beast_http::status::service_unavailable, why);
  response.set(beast_http::field::retry_after, "1");
  finish_response(response, 11, false);
  std::ostringstream text;
  text << response;
  const std::string bytes = text.str();
  error_code ec;
  socket.non_blocking(true, ec);
  socket.write_some(asio::buffer(bytes), ec);
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);

  ++shared.refusals_unlogged;
  const auto now = std::chrono::steady_clock::now();
  if (now - shared.refusal_logged >= kRefusalLogEvery) {
    log::warning("http: {} has {} connections open, the limit per client address "
                 "(http.max_connections_per_client); new ones are refused ({} since the last "
                 "such line)",
                 remote.address().to_string(), cap, shared.refusals_unlogged);
    shared.refusal_logged = now;
    shared.refusals_unlogged = 0;
  }
}

// Counts a request from its handling to its answer's last byte.
struct Busy {
  explicit Busy(Shared& s) : shared(s) { ++shared.busy; }
  ~Busy() {
    if (--shared.busy == 0) shared.all_answered.cancel();
  }
  Busy(const Busy&) = delete;
  Busy& operator=(const Busy&) = delete;
  Shared& shared;
};

// Sends an answer that ends the connection, then drops what the client
// still sends for a moment, so it reads the answer instead of a reset.
asio::awaitable<void> answer_and_close(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                       ServerResponse response, unsigned version) {
  finish_response(response, version, false);
  stream.expires_after(kLingerTime);
  error_code ec;
  co_await beast_http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  buffer.consume(buffer.size());
  std::size_t dropped = 0;
  char sink[8192];
  while (!ec && dropped < kLingerBytes) {
    dropped += co_await stream.async_read_some(asio::buffer(sink),
                                               asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> session(std::unique_ptr<Connection> connection, tcp::socket socket,
                              tcp::endpoint remote) {
  using Clock = std::chrono::steady_clock;
  const std::shared_ptr<Shared> shared = connection->shared;
  error_code ec;
  const bool loopback = is_loopback(remote.address());
  beast::tcp_stream stream(std::move(socket));
  Router& router = shared->router;
  beast::flat_buffer buffer(buffer_limit(router.limits().max_request_head_bytes));
  // The first request's head is due header_timeout after the accept; a
  // later one's, header_timeout after its first byte.
  auto request_start = Clock::now();
  bool first = true;

  for (;;) {
    const auto config = router.config();
    if (buffer.size() == 0) {
      // Idle until the request's first byte (for idle_timeout between two
      // requests): at max_connections the listener may close it for a
      // newcomer, which ends this read.
      if (first) {
        stream.expires_at(request_start +
                          std::min(config->header_timeout, config->request_timeout));
      } else {
        stream.expires_after(config->idle_timeout);
      }
      connection->idle(stream);
      const std::size_t got = co_await stream.async_read_some(
          buffer.prepare(kFirstRead), asio::redirect_error(asio::use_awaitable, ec));
      connection->busy();
      if (ec) break;  // gone, silent too long, or closed to make room
      buffer.commit(got);
    }
    if (!first) request_start = Clock::now();
    first = false;
    // Separate deadlines for the head and for the body, both within
    // request_timeout: a client that trickles its head is cut off early,
    // one that sends a large body at a fair pace is not.
    const auto request_deadline = request_start + config->request_timeout;
    stream.expires_at(std::min(request_start + config->header_timeout, request_deadline));
    const std::size_t head_limit = router.limits().max_request_head_bytes;
    beast_http::request_parser<beast_http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(head_limit));
    // The route decides the body limit once the head is read (plan_body);
    // until then Beast must not refuse a large Content-Length itself.
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    co_await beast_http::async_read_header(stream, buffer, parser,
                                           asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (client_gone(ec)) break;
      if (ec == beast_http::error::header_limit || ec == beast_http::error::buffer_overflow) {
        co_await answer_and_close(
            stream, buffer,
            error_response(beast_http::status::request_header_fields_too_large,
                           "the request head is larger than " + std::to_string(head_limit) +
                               " bytes (limits.max_request_head_bytes)"),
            11);
      } else {
        co_await answer_and_close(
            stream, buffer,
            error_response(beast_http::status::bad_request, "malformed request: " + ec.message()),
            11);
      }
      break;
    }
    const auto& head = parser.get();
    const unsigned version = head.version();
    // Only "chunked" frames a body here; any other coding would leave the
    // body's end to guesswork, which is how requests get smuggled.
    if (head.count(beast_http::field::transfer_encoding) > 0 && !parser.chunked()) {
      co_await answer_and_close(
          stream, buffer,
          error_response(beast_http::status::bad_request,
                         "Transfer-Encoding other than chunked is not supported"),
          version);
      break;
    }
    // And chunked alone: a coding before it (gzip, chunked) is one tackd
    // does not undo, and reading the body as if it were not there would
    // take something other than what the client sent.
    if (parser.chunked() && !only_chunked(head)) {
      co_await answer_and_close(
          stream, buffer,
          error_response(beast_http::status::not_implemented,
                         "Transfer-Encoding must be exactly chunked: no content coding (gzip, "
                         "deflate) is supported"),
          version);
      break;
    }
    auto plan = router.plan_body(head.base(), loopback);
    if (plan.answer) {
      router.note_refused(plan, describe(remote), plan.refusal);
      co_await answer_and_close(stream, buffer, std::move(*plan.answer), version);
      break;
    }
    parser.body_limit(plan.limit);
    if (beast::iequals(head[beast_http::field::expect], "100-continue")) {
      beast_http::response<beast_http::empty_body> go_on{beast_http::status::continue_, version};
      stream.expires_at(request_deadline);
      co_await beast_http::async_write(stream, go_on,
                                       asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
    }
    // The body must keep up min_body_rate from the end of the head, with
    // header_timeout's grace for falling behind it: each byte that comes
    // moves the deadline on, a stall runs into it. request_timeout still
    // bounds the whole.
    const auto body_start = Clock::now();
    bool rate_was_due = false;
    while (!parser.is_done()) {
      const auto received = static_cast<std::uint64_t>(parser.get().body().size());
      const auto pace = body_start + config->header_timeout +
                        std::chrono::milliseconds(received * 1000 / config->min_body_rate);
      rate_was_due = pace < request_deadline;
      stream.expires_at(std::min(pace, request_deadline));
      co_await beast_http::async_read_some(stream, buffer, parser,
                                           asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
    }
    if (ec) {
      // A body a plugin's route does not get leaves it a trace, never the body.
      if (plan.route && ec != asio::error::operation_aborted) {
        const std::string late =
            rate_was_due ? fmt::format("slower than http.min_body_rate ({} bytes/s, at most {} ms "
                                       "behind, http.header_timeout)",
                                       config->min_body_rate, config->header_timeout.count())
                         : fmt::format("within http.request_timeout ({} ms)",
                                       config->request_timeout.count());
        router.note_refused(plan, describe(remote), body_failure(ec, parser, plan.limit, late));
      }
      if (ec == beast_http::error::body_limit) {
        co_await answer_and_close(stream, buffer,
                                  error_response(beast_http::status::payload_too_large,
                                                 "the body is larger than " +
                                                     std::to_string(plan.limit) + " bytes"),
                                  version);
      } else if (!client_gone(ec)) {
        co_await answer_and_close(
            stream, buffer,
            error_response(beast_http::status::bad_request, "malformed body: " + ec.message()),
            version);
      }
      break;
    }

    Busy busy(*shared);
    ServerRequest request = parser.release();
    const bool wants_keep_alive = request.keep_alive();
    const std::string method(request.method_string());
    const std::string path(request.target().substr(0, request.target().find('?')));
    const auto started = std::chrono::steady_clock::now();
    ServerResponse response = co_await router.handle(std::move(request), loopback, describe(remote));
    const bool keep_alive = wants_keep_alive && !router.draining();
    finish_response(response, version, keep_alive);
    if (log::enabled(log::Level::Debug)) {
      // The path only: a query may hold a phone number.
      log::debug("http: {} {} {} -> {} ({} ms)", describe(remote), method, path,
                 response.result_int(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count());
    }
    stream.expires_after(config->request_timeout);
    co_await beast_http::async_write(stream, response,
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !keep_alive) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

asio::awaitable<void> accept_loop(std::shared_ptr<Shared> shared) {
  auto executor = co_await asio::this_coro::executor;
  error_code ec;
  while (!shared->stopping) {
    if (shared->open < shared->router.config()->max_connections) {
      shared->at_capacity_logged = false;
    }
    tcp::socket socket = co_await shared->acceptor.async_accept(
        asio::redirect_error(asio::use_awaitable, ec));
    if (shared->stopping || ec == asio::error::operation_aborted) break;
    if (ec) {
      // Out of file descriptors, mostly: wait a little rather than spin.
      log::warning("http: accept failed: {}", ec.message());
      asio::steady_timer pause(executor, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    const auto remote = socket.remote_endpoint(ec);
    if (ec) continue;  // gone already
    // One address cannot take every slot: above its share it is refused,
    // before it costs anyone else a place.
    const auto client = client_of(remote.address());
    const int per_client_cap = shared->router.config()->max_connections_per_client;
    if (auto it = shared->per_client.find(client);
        it != shared->per_client.end() && it->second >= per_client_cap) {
      refuse_over_client_cap(*shared, socket, remote, per_client_cap);
      continue;
    }
    // At max_connections, the longest idle connection makes room; with
    // none idle this one waits, and those behind it in the backlog.
    if (!co_await make_room(shared)) break;
    // Counted from here, not from when the session first runs, so the
    // checks above see every connection accepted.
    auto connection = std::make_unique<Connection>(shared, client);
    auto on_end = [](std::exception_ptr e) { log_escape("a connection", e); };
    asio::co_spawn(executor, session(std::move(connection), std::move(socket), remote), on_end);
  }
}

}  // namespace

HttpServer::HttpServer(asio::io_context& io, HttpContext context, const HttpConfig& config)
    : io_(io), worker_(std::make_unique<asio::thread_pool>(1)) {
  shared_ = std::make_shared<Shared>(io, std::move(context), config, *worker_);
  const tcp::endpoint endpoint(asio::ip::make_address(config.listen_host),
                               static_cast<unsigned short>(config.listen_port));
  auto& acceptor = shared_->acceptor;
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  log::info("http: listening on {}", describe(acceptor.local_endpoint()));
}

void HttpServer::mount(Route route) { shared_->router.mount(std::move(route)); }

std::shared_ptr<const HttpConfig> HttpServer::config() const { return shared_->router.config(); }

HttpServer::~HttpServer() {
  // Unrun worker tasks are dropped; the one running finishes first.
  worker_->stop();
  worker_->join();
}

void HttpServer::start() {
  auto on_end = [](std::exception_ptr e) { log_escape("the listener", e); };
  asio::co_spawn(io_, accept_loop(shared_), on_end);
}

void HttpServer::stop() {
  if (shared_->stopping) return;
  shared_->stopping = true;
  shared_->router.set_draining();
  error_code ec;
  shared_->acceptor.close(ec);
  shared_->room.cancel();
  log::info("http: no longer accepting connections");
}

asio::awaitable<bool> HttpServer::drain(std::chrono::milliseconds grace) {
  auto shared = shared_;
  const auto deadline = std::chrono::steady_clock::now() + grace;
  error_code ec;
  while (shared->busy > 0 && std::chrono::steady_clock::now() < deadline) {
    shared->all_answered.expires_at(deadline);
    co_await shared->all_answered.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return shared->busy == 0;
}

void HttpServer::set_config(const HttpConfig& config) {
  const auto current = shared_->router.config();
  HttpConfig next = config;
  if (current->listen_host != next.listen_host || current->listen_port != next.listen_port) {
    log::warning("reload: a new http.listen takes effect at the next restart");
    next.listen_host = current->listen_host;
    next.listen_port = current->listen_port;
  }
  shared_->router.set_config(std::move(next));
  shared_->room.cancel();  // a higher max_connections may let a waiting one in
}

asio::ip::tcp::endpoint HttpServer::local_endpoint() const {
  error_code ec;
  return shared_->acceptor.local_endpoint(ec);
}

}  // namespace tack
