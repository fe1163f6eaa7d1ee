#include "sources/http_events.hpp"

#include <fmt/format.h>

#include "clock.hpp"
#include "event.hpp"
#include "http/auth.hpp"
#include "http/router.hpp"
#include "intake.hpp"
#include "log.hpp"

namespace tack {

namespace {

using beast_http::field;
using beast_http::status;

std::string_view sv(boost::beast::string_view text) { return {text.data(), text.size()}; }

}  // namespace

HttpEventSource::HttpEventSource(Intake& intake,
                                 std::function<std::shared_ptr<const HttpConfig>()> config,
                                 std::function<std::int64_t()> now_ms)
    : intake_(intake), config_(std::move(config)), now_ms_(std::move(now_ms)) {}

Route HttpEventSource::route() {
  Route route;
  route.method = beast_http::verb::post;
  route.path = "/v1/events";
  route.auth = RouteAuth::Own;
  route.admit = [this](const ServerRequestHeader& header) { return admit(header); };
  route.handle = [this](RouteRequest request) { return handle(std::move(request)); };
  route.refused = [this](const std::string& client, bool authenticated,
                         const std::string& reason) { refused(client, authenticated, reason); };
  return route;
}

Admission HttpEventSource::admit(const ServerRequestHeader& header) const {
  Admission admission;
  const auto config = config_();
  // Without a token that matches or a signature to check, the body is not
  // worth reading. A signature can only be checked against the whole body,
  // so only the token counts as authenticated here.
  const auto authorization = sv(header[field::authorization]);
  const bool token = bearer_matches(authorization, config->events_token);
  const bool signature =
      !config->events_hmac_secret.empty() && header.count("X-Tack-Signature") > 0;
  if (!token && !signature) {
    admission.refusal = "no events token or signature (401)";
    admission.answer = unauthorized(
        "Bearer", config->events_token.empty() && config->events_hmac_secret.empty()
                      ? "this tackd takes no events over HTTP: http.events has no token or "
                        "hmac_secret"
                      : "send Authorization: Bearer <events token>, or X-Tack-Timestamp: <Unix "
                        "seconds> and X-Tack-Signature: sha256=<HMAC of \"<timestamp>.<body>\">");
    return admission;
  }
  // A signature without a timestamp (the form before one was signed) or
  // with one that is not Unix seconds cannot be good: no body to read.
  if (!token) {
    if (auto why = timestamp_refusal(sv(header["X-Tack-Timestamp"]))) {
      admission.refusal = *why + " (401)";
      admission.answer = unauthorized("Bearer", *why);
      return admission;
    }
  }
  admission.max_body = config->max_body_bytes;
  admission.authenticated = token;
  return admission;
}

asio::awaitable<ServerResponse> HttpEventSource::handle(RouteRequest call) {
  const ServerRequest& request = call.request;
  const std::string& client = call.client;
  const auto config = config_();
  if (call.draining || stopping_) {
    auto response = error_response(status::service_unavailable,
                                   "tackd is stopping and takes no new events; send them again "
                                   "in a moment");
    response.set(field::retry_after, "5");
    co_return response;
  }
  const auto& body = request.body();
  const bool token = bearer_matches(sv(request[field::authorization]), config->events_token);
  if (!token) {
    // A signature good but too old or too new is a replay, or a clock to
    // fix: refused like a wrong one, so copies of a captured request fill
    // neither the store nor, past the refusal budget, the journal.
    const auto why = request.count("X-Tack-Signature") == 0
                         ? std::optional<std::string>("the events token is wrong")
                         : signature_refusal(sv(request["X-Tack-Signature"]),
                                             sv(request["X-Tack-Timestamp"]),
                                             config->events_hmac_secret, body, now_ms_() / 1000);
    if (why) {
      refused(client, false, fmt::format("a {}-byte body: {} (401)", body.size(), *why));
      co_return unauthorized("Bearer", *why);
    }
  }
  const auto snapshot = intake_.snapshot();
  const Limits limits = snapshot ? snapshot->config.limits : Limits{};
  auto documents = event_documents(body, limits);
  if (!documents) {
    refused(client, true,
                 fmt::format("a body of {} bytes with more than {} events "
                             "(limits.max_events_per_request) (413); not kept",
                             body.size(), limits.max_events_per_request));
    co_return error_response(status::payload_too_large,
                             "at most " + std::to_string(limits.max_events_per_request) +
                                 " events per request (limits.max_events_per_request)");
  }
  if (documents->empty()) {
    refused(client, true,
                 fmt::format("a body of {} bytes with no event in it (400)", body.size()));
    co_return error_response(status::bad_request,
                             "the body is empty: send one event object or a JSON array of them");
  }

  // Planning renders templates: done on the worker, committed by the
  // store's writer, answered here once committed.
  auto executor = co_await asio::this_coro::executor;
  Intake& intake = intake_;
  auto initiate = [&intake, executor, &worker = call.worker,
                   documents = std::move(*documents)](auto handler) mutable {
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    asio::post(worker, [&intake, executor, shared, documents = std::move(documents)]() mutable {
      auto answer = [executor, shared](IntakeBatch batch) {
        asio::post(executor, [shared, batch = std::move(batch)]() mutable {
          (*shared)(std::move(batch));
        });
      };
      try {
        intake.submit(std::move(documents), "http", answer);
      } catch (const std::exception& e) {
        // Escaping the worker thread would end the daemon; nothing was
        // committed, so the client is told to try again.
        IntakeBatch failed;
        failed.error = std::string("intake failed: ") + e.what();
        answer(std::move(failed));
      }
    });
  };
  IntakeBatch batch = co_await asio::async_initiate<decltype(asio::use_awaitable),
                                                    void(IntakeBatch)>(std::move(initiate),
                                                                       asio::use_awaitable);
  if (!batch.error.empty()) co_return store_unavailable(batch.error);

  nlohmann::json results = nlohmann::json::array();
  bool rejected = false;
  for (std::size_t i = 0; i < batch.results.size(); ++i) {
    const auto& r = batch.results[i];
    const std::string verdict = to_string(r.verdict);  // intake counts it for /metrics
    nlohmann::json item = {{"index", i}, {"event_id", r.event_id}, {"verdict", verdict}};
    if (r.verdict == EventVerdict::Rejected || r.verdict == EventVerdict::Stale) {
      item["reason"] = r.reason;
    }
    if (r.verdict != EventVerdict::Rejected) item["messages"] = r.messages_created;
    rejected |= r.verdict == EventVerdict::Rejected;
    results.push_back(std::move(item));
  }
  co_return json_response(rejected ? status::bad_request : status::ok, {{"results", results}});
}

void HttpEventSource::refused(const std::string& client, bool authenticated,
                              const std::string& reason) {
  if (authenticated) {
    log::warning("http: refused POST /v1/events from {}: {}; recorded as a rejected event", client,
                 reason);
    intake_.record_refused("http", reason + "; from " + client, [](IntakeBatch batch) {
      if (!batch.error.empty()) {
        log::warning("http: store: a refused request was not recorded: {}", batch.error);
      }
    });
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  int unlogged_before = 0;
  if (now - refusal_window_ >= std::chrono::minutes(1)) {
    unlogged_before = refusals_unlogged_;
    refusal_window_ = now;
    refusal_lines_ = 0;
    refusals_unlogged_ = 0;
  }
  if (refusal_lines_ >= kRefusalLinesPerMinute) {
    ++refusals_unlogged_;
    return;
  }
  ++refusal_lines_;
  log::warning("http: refused POST /v1/events from {} without valid credentials: {}{}", client,
               reason,
               unlogged_before > 0
                   ? fmt::format(" ({} more such refusals before this one were not logged)",
                                 unlogged_before)
                   : std::string());
}

std::optional<std::vector<std::string>> event_documents(std::string_view body,
                                                        const Limits& limits) {
  std::vector<std::string> documents;
  const auto first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return documents;
  if (body[first] == '[') {
    Limits whole = limits;
    // The array's own value and one element more than allowed, so "too
    // many events" is told apart from an array that is not JSON.
    whole.max_json_values = (limits.max_json_values + 1) * (limits.max_events_per_request + 1) + 1;
    std::string ignored;
    if (auto array = parse_json_bounded(body.substr(first), whole, ignored, 1);
        array && array->is_array()) {
      if (array->size() > limits.max_events_per_request) return std::nullopt;
      for (const auto& item : *array) documents.push_back(item.dump());
      return documents;
    }
  }
  documents.emplace_back(body);
  return documents;
}

}  // namespace tack
