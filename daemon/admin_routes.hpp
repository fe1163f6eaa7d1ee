// admin_routes: what the HTTP listener answers (docs/http-api.md): event
// intake, the support API, the support page's files, health and metrics.
//
// The listener (admin.hpp) reads a request's head and asks plan_body() how
// much body it may carry, or for an answer that ends the request before its
// body is read (401 without events credentials, 413 by Content-Length).
// It then reads the body and awaits handle(), a coroutine on the event loop
// that never throws and never blocks the loop: the store is reached through
// Store::read for queries (its reader connections) and Store::call for
// operator verbs (its writer), password hashing and event planning run
// on the listener's worker pool. Every answer gets finish_response()'s
// headers (no-store, CSP and the other browser hardening headers).
//
// A request to POST /v1/events that is refused (too large, malformed, too
// slow, too many events, no credentials) leaves a trace (note_refused): a
// warning in tackd's log, and when its events token (or signature) was
// good, a rejected event in the store with the size and the client's
// address, never the body. Without good credentials it is logged only, a
// few times a minute at most: nothing a stranger sends fills the store or
// the journal.
//
// Route table, auth and error shapes are the contract's; the parsing
// helpers below are exposed for the unit tests.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "admin_auth.hpp"
#include "asio.hpp"
#include "config.hpp"

namespace tack {

class Intake;
class Metrics;
class Store;
struct MessageView;

namespace beast_http = boost::beast::http;

using ServerRequest = beast_http::request<beast_http::string_body>;
using ServerResponse = beast_http::response<beast_http::string_body>;
using ServerRequestHeader = beast_http::request_header<>;

// What the routes reach. All outlive the listener.
struct AdminContext {
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
  Router(AdminContext context, HttpConfig config, asio::thread_pool& worker);

  // Reload: users, secrets and limits apply to the next request.
  void set_config(HttpConfig config);
  std::shared_ptr<const HttpConfig> config() const { return config_; }
  // The running config's limits: (reload applies them to the next request).
  Limits limits() const;
  // Shutdown has begun: /readyz says so, events are refused with 503.
  void set_draining() { draining_ = true; }
  bool draining() const { return draining_; }

  struct BodyPlan {
    std::uint64_t limit = 0;              // the most body bytes to read
    std::optional<ServerResponse> answer;   // set: send it and close, body unread
    bool events = false;  // POST /v1/events: a refusal is noted (note_refused)
    // The events token matched, before the body was read (a signature can
    // only be checked against the whole body, so it never counts here).
    bool authenticated = false;
    std::string refusal;  // with `answer` on /v1/events: why, for note_refused
  };
  BodyPlan plan_body(const ServerRequestHeader& header, bool loopback) const;

  // A request to POST /v1/events refused; `client`: its address; `reason`:
  // why, with sizes, never the body. Authenticated: a warning and a
  // rejected event (source "http") in the store. Not: a warning only, at
  // most kRefusalLinesPerMinute a minute (the rest counted in the next one).
  void note_refused(const std::string& client, bool authenticated, const std::string& reason);
  static constexpr int kRefusalLinesPerMinute = 10;

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
  asio::awaitable<Auth> authenticate_user(const ServerRequest& request);
  asio::awaitable<ServerResponse> events(const ServerRequest& request,
                                       std::shared_ptr<const HttpConfig> config,
                                       const std::string& client);
  asio::awaitable<ServerResponse> list_messages(
      const std::vector<std::pair<std::string, std::string>>& query);
  asio::awaitable<ServerResponse> one_message(std::int64_t id);
  asio::awaitable<ServerResponse> operator_verb(std::int64_t id, const std::string& verb,
                                              const std::string& user);
  asio::awaitable<ServerResponse> order(const std::string& order_id);
  asio::awaitable<ServerResponse> metrics();
  ServerResponse readiness() const;

  AdminContext context_;
  std::shared_ptr<const HttpConfig> config_;
  asio::thread_pool& worker_;
  UserAuth users_;
  int pending_password_checks_ = 0;
  bool draining_ = false;
  // note_refused's budget for refusals without credentials.
  std::chrono::steady_clock::time_point refusal_window_{};
  int refusal_lines_ = 0;
  int refusals_unlogged_ = 0;
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

// RFC 3339 UTC with milliseconds ("2026-11-22T10:15:30.123Z"); null for 0.
nlohmann::json time_json(std::int64_t unix_ms);

// A message object of the contract; the list view leaves out html.
nlohmann::json message_json(const MessageView& message, bool with_html);

// The documents of a POST /v1/events body: the elements of a JSON array,
// or the whole body as one document (intake rejects a malformed one with
// its reason). An array is parsed within `limits` (one level deeper, and
// max_json_values for each event); nullopt when it holds more than
// limits.max_events_per_request events.
std::optional<std::vector<std::string>> event_documents(std::string_view body,
                                                        const Limits& limits);

// A path the support page's files may be asked by: '/' then
// [A-Za-z0-9._~-] segments, no empty, "." or ".." segment.
bool is_static_path(std::string_view path);

// An answer with the contract's error shape: {"error": message}.
ServerResponse error_response(beast_http::status status, std::string message);
// Sets version, keep-alive, Content-Length and the hardening headers.
void finish_response(ServerResponse& response, unsigned version, bool keep_alive);

}  // namespace tack
