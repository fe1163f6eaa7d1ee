// http/route: how a plugin answers HTTP requests on tackd's listener. A
// source (the HTTP event intake today; shop platforms' webhooks next) or a
// gateway (a provider's delivery receipts) hands the server Routes; each
// names a method and an exact path, says how its callers prove who they are
// and how large a body it takes, and answers as a coroutine on the event
// loop. The listener's protections apply to every route alike: head and
// body limits checked before a byte of body is read, one deadline per
// request, safe framing, the hardening headers, draining at shutdown.
//
// Routes are mounted before the server starts (Router::mount) and stay for
// its life; a path is owned by one route, and tackd's own paths (/v1/
// messages, /v1/orders, health, metrics, the support page) cannot be taken.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <boost/beast/http.hpp>

#include "asio.hpp"

namespace tack {

namespace beast_http = boost::beast::http;

using ServerRequest = beast_http::request<beast_http::string_body>;
using ServerResponse = beast_http::response<beast_http::string_body>;
using ServerRequestHeader = beast_http::request_header<>;

enum class RouteAuth {
  SupportUser,  // HTTP Basic against http.users, checked by the router
  Own,          // the route checks its callers itself: admit() on the head,
                // handle() on the whole request (a token, a provider's signature)
};

// A route's verdict on a request's head, before its body is read.
struct Admission {
  std::uint64_t max_body = 0;            // the most body bytes to read
  std::optional<ServerResponse> answer;  // set: answer this and close, body unread
  bool authenticated = false;            // the head alone proved the caller
  std::string refusal;                   // with `answer`: why, for refused()
};

// What a route's handler gets.
struct RouteRequest {
  const ServerRequest& request;
  const std::string& client;         // the peer's address, for logs
  bool loopback = false;             // the peer is on this host
  std::optional<std::string> user;   // SupportUser routes: who asks
  bool draining = false;             // tackd is stopping
  asio::thread_pool& worker;         // for CPU-heavy work off the event loop
};

struct Route {
  beast_http::verb method = beast_http::verb::post;
  std::string path;  // exact, like "/v1/events"
  RouteAuth auth = RouteAuth::SupportUser;
  std::uint64_t max_body = 16 * 1024;  // SupportUser routes; Own routes say it in admit()
  std::function<Admission(const ServerRequestHeader&)> admit;  // Own routes
  std::function<asio::awaitable<ServerResponse>(RouteRequest)> handle;
  // Optional: a request refused by admit() or while its body was read
  // (too large, too slow, malformed), with why and whether its credentials
  // were good; never the body. For the route's own trace.
  std::function<void(const std::string& client, bool authenticated, const std::string& reason)>
      refused;
};

}  // namespace tack
