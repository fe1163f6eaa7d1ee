// http/server: tackd's HTTP listener (docs/http-api.md), Boost.Beast on the
// daemon's event loop. It carries the event intake for shop developers, the
// support API and page for support staff, and health and metrics for ops;
// what each request gets is the router's business (http/router.hpp).
//
// The constructor binds (a port in use is a start-up error, and the port
// the kernel picked for `listen: ...:0` is logged as "http: listening on
// ADDRESS:PORT" before READY=1). start() accepts on a coroutine and runs
// each connection as a coroutine of its own: HTTP/1.1, keep-alive, one
// request at a time. Against hostile or broken clients:
// - a limit on the request head (431) and on the body: checked against
//   Content-Length before any body byte is read, and again while reading
//   a chunked body (413);
// - slow clients (slowloris) are cut off: a request's head must arrive
//   within header_timeout (of the accept, or of the request's first byte);
//   its body must keep up min_body_rate, falling at most header_timeout
//   behind it; request_timeout bounds head and body together; a keep-alive
//   connection waits idle_timeout for the next request;
// - a cap on connections per client address (an IPv6 /64): above it a new
//   one is answered 503 and closed unread, so one client cannot take every
//   slot (behind a proxy every client is the proxy);
// - a cap on open connections: at the cap, the connection that has waited
//   longest for a request (kept alive, or new and silent) is closed for
//   the newcomer; only when none is idle do new ones wait in the kernel's
//   backlog until one closes or goes idle;
// - a request that cannot be framed safely (Content-Length together with
//   Transfer-Encoding, a transfer coding other than chunked, bad chunks, a
//   malformed head) is answered 400 and its connection closed, so nothing
//   can be smuggled in behind it.
//
// stop() begins the drain: the listening socket closes, /readyz says
// "draining", events are refused with 503, and each open connection closes
// after the request in hand; drain() waits for those answers. Everything runs on the io_context's thread;
// the worker pool inside runs only event planning (the router hashes
// passwords on a thread of its own, so a flood of sign-ins never queues
// in front of intake).
#pragma once

#include <chrono>
#include <memory>

#include "http/router.hpp"
#include "asio.hpp"
#include "config.hpp"

namespace tack {

class HttpServer {
 public:
  // Throws boost::system::system_error when it cannot listen there.
  HttpServer(asio::io_context& io, HttpContext context, const HttpConfig& config);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // A plugin's route (http/route.hpp), before start().
  void mount(Route route);
  // The settings now (a reload may change them), for the plugins' routes.
  std::shared_ptr<const HttpConfig> config() const;

  void start();
  // Stops accepting and reports draining (shutdown). Idempotent.
  void stop();
  // After stop(): resumes once every request in hand is answered, or the
  // grace period ran out (false).
  asio::awaitable<bool> drain(std::chrono::milliseconds grace);
  // Reload: users, secrets, limits and timeouts, for the requests and
  // connections that begin after it; the listen address needs a restart.
  void set_config(const HttpConfig& config);
  asio::ip::tcp::endpoint local_endpoint() const;

  struct Shared;

 private:
  asio::io_context& io_;
  std::shared_ptr<Shared> shared_;
  // Last: joined first on destruction, while what its tasks reach exists.
  std::unique_ptr<asio::thread_pool> worker_;
};

}  // namespace tack
