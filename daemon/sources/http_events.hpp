// sources/http_events: the HTTP event intake, POST /v1/events
// (docs/http-api.md), as a source that mounts its route on tackd's HTTP
// listener (http/route.hpp). Shop developers send one event object or a
// JSON array of them, with the events token (Authorization: Bearer) or a
// signature: X-Tack-Timestamp (Unix seconds) and X-Tack-Signature
// (sha256=<HMAC of "<timestamp>.<body>">, http/auth.hpp), refused more
// than five minutes from tackd's clock, and without a timestamp; the answer
// comes once the events are committed, with a verdict per event.
//
// A request that is refused (too large, malformed, too slow, too many
// events, no credentials) leaves a trace, never its body: with good
// credentials, a warning and a rejected event in the store with the size
// and the client's address; without, a warning only, at most
// kRefusalLinesPerMinute a minute (the rest counted in the next line):
// nothing a stranger sends fills the store or the journal.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clock.hpp"
#include "config.hpp"
#include "http/route.hpp"
#include "sources/source.hpp"

namespace tack {

class Intake;

class HttpEventSource final : public Source {
 public:
  // `config`: the listener's settings now (token, secret, body limit),
  // which a reload may change. `now_ms`: the wall clock a signature's
  // timestamp is held to.
  HttpEventSource(Intake& intake, std::function<std::shared_ptr<const HttpConfig>()> config,
                  std::function<std::int64_t()> now_ms = wall_ms);

  // The route is mounted before the listener starts; start() has nothing
  // to do. stop(): requests from now on are answered 503.
  void start() override {}
  void stop() override { stopping_ = true; }

  // POST /v1/events.
  std::vector<Route> routes() override { return {route()}; }
  Route route();

  static constexpr int kRefusalLinesPerMinute = 10;

 private:
  Admission admit(const ServerRequestHeader& header) const;
  asio::awaitable<ServerResponse> handle(RouteRequest request);
  void refused(const std::string& client, bool authenticated, const std::string& reason);

  Intake& intake_;
  std::function<std::shared_ptr<const HttpConfig>()> config_;
  std::function<std::int64_t()> now_ms_;
  bool stopping_ = false;
  // refused()'s budget for refusals without credentials (event loop only).
  std::chrono::steady_clock::time_point refusal_window_{};
  int refusal_lines_ = 0;
  int refusals_unlogged_ = 0;
};

// The documents of a POST /v1/events body: the elements of a JSON array,
// or the whole body as one document (intake rejects a malformed one with
// its reason). An array is parsed within `limits` (one level deeper, and
// max_json_values for each event); nullopt when it holds more than
// limits.max_events_per_request events.
std::optional<std::vector<std::string>> event_documents(std::string_view body,
                                                        const Limits& limits);

}  // namespace tack
