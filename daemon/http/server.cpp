#include "http/server.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <limits>

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
std::string body_failure(const error_code& ec,
                         const beast_http::request_parser<beast_http::string_body>& parser,
                         std::uint64_t limit, std::chrono::milliseconds timeout) {
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
    return fmt::format("the body did not arrive in time: {} within http.request_timeout ({} ms); "
                       "not kept",
                       of, timeout.count());
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

}  // namespace

struct HttpServer::Shared {
  Shared(asio::io_context& io, HttpContext context, const HttpConfig& config,
         asio::thread_pool& worker)
      : router(std::move(context), config, worker), acceptor(io), slot_freed(io), idle(io) {}

  Router router;
  tcp::acceptor acceptor;
  asio::steady_timer slot_freed;  // cancelled when a connection closes
  asio::steady_timer idle;        // cancelled when the last request in hand is answered
  int open = 0;
  int busy = 0;  // requests being handled or answered
  bool stopping = false;
  bool at_capacity_logged = false;
};

namespace {

using Shared = HttpServer::Shared;

// Counts a connection for the cap for as long as its session lives.
struct Slot {
  explicit Slot(std::shared_ptr<Shared> s) : shared(std::move(s)) { ++shared->open; }
  ~Slot() {
    --shared->open;
    shared->slot_freed.cancel();
  }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  std::shared_ptr<Shared> shared;
};

// Counts a request from its handling to its answer's last byte.
struct Busy {
  explicit Busy(Shared& s) : shared(s) { ++shared.busy; }
  ~Busy() {
    if (--shared.busy == 0) shared.idle.cancel();
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

asio::awaitable<void> session(std::unique_ptr<Slot> slot, tcp::socket socket) {
  const std::shared_ptr<Shared> shared = slot->shared;
  error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  const bool loopback = !ec && is_loopback(remote.address());
  beast::tcp_stream stream(std::move(socket));
  Router& router = shared->router;
  beast::flat_buffer buffer(buffer_limit(router.limits().max_request_head_bytes));

  for (;;) {
    const auto config = router.config();
    // One deadline for the whole request, head and body: a client that
    // trickles bytes is cut off all the same. It also ends idle keep-alive.
    stream.expires_after(config->request_timeout);
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
      co_await beast_http::async_write(stream, go_on,
                                       asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
    }
    co_await beast_http::async_read(stream, buffer, parser,
                                    asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      // A body a plugin's route does not get leaves it a trace, never the body.
      if (plan.route && ec != asio::error::operation_aborted) {
        router.note_refused(plan, describe(remote),
                            body_failure(ec, parser, plan.limit, config->request_timeout));
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
    if (shared->open >= shared->router.config()->max_connections) {
      if (!shared->at_capacity_logged) {
        log::warning("http: {} connections open, the limit (http.max_connections); new ones "
                     "wait until one closes",
                     shared->open);
        shared->at_capacity_logged = true;
      }
      shared->slot_freed.expires_at(asio::steady_timer::time_point::max());
      co_await shared->slot_freed.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    shared->at_capacity_logged = false;
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
    // Counted from here, not from when the session first runs, so the
    // check above sees every connection accepted.
    auto slot = std::make_unique<Slot>(shared);
    auto on_end = [](std::exception_ptr e) { log_escape("a connection", e); };
    asio::co_spawn(executor, session(std::move(slot), std::move(socket)), on_end);
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
  shared_->slot_freed.cancel();
  log::info("http: no longer accepting connections");
}

asio::awaitable<bool> HttpServer::drain(std::chrono::milliseconds grace) {
  auto shared = shared_;
  const auto deadline = std::chrono::steady_clock::now() + grace;
  error_code ec;
  while (shared->busy > 0 && std::chrono::steady_clock::now() < deadline) {
    shared->idle.expires_at(deadline);
    co_await shared->idle.async_wait(asio::redirect_error(asio::use_awaitable, ec));
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
  shared_->slot_freed.cancel();  // a higher max_connections may let a waiting one in
}

asio::ip::tcp::endpoint HttpServer::local_endpoint() const {
  error_code ec;
  return shared_->acceptor.local_endpoint(ec);
}

}  // namespace tack
