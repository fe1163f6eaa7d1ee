// http/router: what the HTTP listener answers (docs/http-api.md): the
// support API, the support page's files, health and metrics, and the routes
// plugins mount (http/route.hpp; the HTTP event intake is one, in
// sources/http_events).
//
// The listener (http/server.hpp) reads a request's head and asks plan_body()
// how much body it may carry, or for an answer that ends the request before
// its body is read (401 from a route's admit(), 413 by Content-Length). It
// then reads the body and awaits handle(), a coroutine on the event loop
// that never throws and never blocks the loop: the store is reached through
// Store::read for queries (its reader connections) and Store::call for
// operator verbs (its writer); password hashing and event planning run on
// the listener's worker pool. Every answer gets finish_response()'s headers
// (no-store, CSP and the other browser hardening headers).
//
// Route table, auth and error shapes are the contract's; the parsing
// helpers below are exposed for the unit tests.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "api_json.hpp"
#include "http/auth.hpp"
#include "http/route.hpp"
#include "http/signin_limiter.hpp"
#include "asio.hpp"
#include "config.hpp"

namespace tack {

class Intake;
class Metrics;
class Store;
struct MessageView;


// What the routes reach. All outlive the listener.
struct HttpContext {
  Store& store;
  Intake& intake;
  Metrics& metrics;
  std::function<void()> wake_dispatcher;  // an operator verb may make a message due now
  // Gateways that send nothing, one line each ("gateway sms held: ..."),
  // for /readyz; thread-safe. Optional.
  std::function<std::vector<std::string>()> gateway_trouble = {};
};

class Router {
 public:
  Router(HttpContext context, HttpConfig config, asio::thread_pool& worker);

  // Reload: users, secrets and limits apply to the next request.
  void set_config(HttpConfig config);
  std::shared_ptr<const HttpConfig> config() const { return config_; }
  // The running config's limits: (reload applies them to the next request).
  Limits limits() const;
  std::string shop_timezone() const;
  // Shutdown has begun: /readyz says so; routes are told (RouteRequest::
  // draining) and the event intake refuses with 503.
  void set_draining() { draining_ = true; }
  bool draining() const { return draining_; }

  // A plugin's route (http/route.hpp). Before start only; throws
  // std::logic_error for a path that is taken.
  void mount(Route route);

  struct BodyPlan {
    std::uint64_t limit = 0;               // the most body bytes to read
    std::optional<ServerResponse> answer;  // set: send it and close, body unread
    const Route* route = nullptr;          // a plugin's route: told of refusals
    bool authenticated = false;            // its admit() found the credentials good
    std::string refusal;                   // with `answer`: why, for refused()
  };
  BodyPlan plan_body(const ServerRequestHeader& header, bool loopback) const;

  // A request for a plugin's route refused before or while its body was
  // read: the route's refused() is told (never the body).
  void note_refused(const BodyPlan& plan, const std::string& client,
                    const std::string& reason) const;

  // The answer to a whole request; `loopback`: the client is on this host;
  // `client`: its address, for the log.
  asio::awaitable<ServerResponse> handle(ServerRequest request, bool loopback,
                                         std::string client = {});

 private:
  struct Auth {
    std::optional<std::string> user;      // set: who is asking
    std::optional<ServerResponse> refusal;  // set: the answer instead
  };
  asio::awaitable<ServerResponse> route(const ServerRequest& request, bool loopback,
                                        const std::string& client);
  asio::awaitable<Auth> authenticate_user(const ServerRequest& request,
                                          const std::string& client);
  void note_wrong_password(const std::string& address, const std::string& name,
                           std::chrono::seconds paused, std::chrono::steady_clock::time_point now);
  // The route of `path` for `method` (a path may have one per method:
  // GET shows, POST acts), else the path's first route; nullptr: none.
  const Route* mounted(std::string_view path,
                       std::optional<beast_http::verb> method = std::nullopt) const;
  asio::awaitable<ServerResponse> list_messages(
      const std::vector<std::pair<std::string, std::string>>& query);
  asio::awaitable<ServerResponse> one_message(std::int64_t id);
  asio::awaitable<ServerResponse> operator_verb(std::int64_t id, const std::string& verb,
                                              const std::string& user);
  asio::awaitable<ServerResponse> order(const std::string& order_id);
  // The support actions (issue 15): a JSON body, checked here.
  asio::awaitable<ServerResponse> support_action(const std::vector<std::string>& segments,
                                                 const ServerRequest& request,
                                                 const std::string& client);
  asio::awaitable<ServerResponse> resend(std::int64_t id, const std::string& reason,
                                         const std::string& user);
  asio::awaitable<ServerResponse> correct_contact(const std::string& order_id,
                                                  const std::optional<std::string>& phone,
                                                  const std::optional<std::string>& email,
                                                  const std::string& reason,
                                                  const std::string& user);
  asio::awaitable<ServerResponse> add_note(const std::string& order_id, const std::string& text,
                                           const std::string& user);
  asio::awaitable<ServerResponse> metrics();
  ServerResponse readiness() const;

  HttpContext context_;
  std::shared_ptr<const HttpConfig> config_;
  asio::thread_pool& worker_;
  UserAuth users_;
  SignInLimiter sign_ins_;
  int pending_password_checks_ = 0;
  // Wrong passwords since the last warning, per address (the log is
  // rate-limited to a line a minute per address).
  std::map<std::string, std::pair<int, std::chrono::steady_clock::time_point>> failure_log_;
  bool draining_ = false;
  std::vector<Route> routes_;  // the plugins' routes
  // Last: its thread (password hashing only, at a lower priority than
  // intake) is joined first on destruction.
  std::unique_ptr<asio::thread_pool> passwords_;
};

// ---- helpers (pure) ------------------------------------------------------

// A request target split into its path, decoded path segments and decoded
// query parameters ('+' is a space). `error` is set for a target that is
// not an origin-form path, a bad %-escape, or a part that is not UTF-8 or
// holds control characters.
struct Target {
  std::string path;  // as sent, without the query
  std::vector<std::string> segments;
  std::vector<std::pair<std::string, std::string>> query;
  std::string error;
};
Target parse_target(std::string_view target);

// time_json, message_json, order_json: api_json.hpp (shared with `tackd log --json`).

// The support actions take a small JSON object (docs/http-api.md):
// POST /v1/messages/{id}/resend, /v1/orders/{id}/contact, /v1/orders/{id}/notes.
inline constexpr std::uint64_t kSupportActionBody = 4 * 1024;
inline constexpr std::size_t kMaxReasonChars = 500;
inline constexpr std::size_t kMaxNoteChars = 2000;
// Whether the path's segments name one of them (whatever the method).
bool is_support_action(const std::vector<std::string>& segments);
// A text support typed: trimmed, 1..max_chars characters (code points) of
// UTF-8, no control characters but '\n' where `multiline`; nullopt and
// `why` when not.
std::optional<std::string> typed_text(const nlohmann::json& value, std::string_view name,
                                      std::size_t max_chars, bool multiline, std::string& why);

// The header a state-changing support request must carry (any value): the
// support page sends it, an API client adds it, and a form on another site
// cannot, so a page elsewhere cannot make a signed-in browser act (CSRF).
inline constexpr std::string_view kRequestProofHeader = "X-Tack-Request";

// Why a state-changing request may not be from tack's own page or a
// deliberate API client (403): no kRequestProofHeader, a browser's
// Sec-Fetch-Site other than same-origin, or an Origin whose host differs
// from Host. Nothing when it passes.
std::optional<ServerResponse> cross_site_refusal(const ServerRequest& request);

// A path the support page's files may be asked by: '/' then
// [A-Za-z0-9._~-] segments, no empty, "." or ".." segment.
bool is_static_path(std::string_view path);

// Answers in the contract's shapes, for the routes and the plugins' routes.
// {"error": message}:
ServerResponse error_response(beast_http::status status, std::string message);
ServerResponse json_response(beast_http::status status, const nlohmann::json& value);
// 401 with WWW-Authenticate for `scheme` ("Basic", "Bearer").
ServerResponse unauthorized(std::string_view scheme, std::string message);
// 503 with Retry-After: the store did not commit (logged).
ServerResponse store_unavailable(const std::string& error);
// Runs `fn` on `pool` and resumes on the caller's executor with its
// result; what `fn` throws is logged and becomes T{}.
template <class T, class Fn>
asio::awaitable<T> offload(asio::thread_pool& pool, Fn fn);
void log_worker_failure(const char* what);
// Sets version, keep-alive, Content-Length and the hardening headers.
void finish_response(ServerResponse& response, unsigned version, bool keep_alive);

template <class T, class Fn>
asio::awaitable<T> offload(asio::thread_pool& pool, Fn fn) {
  auto executor = co_await asio::this_coro::executor;
  auto initiate = [&pool, executor, fn = std::move(fn)](auto handler) mutable {
    asio::post(pool, [executor, fn = std::move(fn), handler = std::move(handler)]() mutable {
      T value{};
      try {
        value = fn();
      } catch (const std::exception& e) {
        log_worker_failure(e.what());
      }
      asio::post(executor, [handler = std::move(handler), value = std::move(value)]() mutable {
        std::move(handler)(std::move(value));
      });
    });
  };
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(T)>(
      std::move(initiate), asio::use_awaitable);
}

}  // namespace tack
