// Tests for daemon/metrics.cpp: what render() says after each kind of
// count, in the Prometheus text format.
#include "metrics.hpp"

#include <catch2/catch.hpp>
#include <thread>
#include <vector>

using namespace tack;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("a fresh Metrics says which build runs, that the store and config are fine",
          "[metrics]") {
  Metrics metrics;
  const std::string text = metrics.render();
  INFO(text);
  CHECK(has_line(text, std::string("tack_build_info{version=\"") + TACK_VERSION + "\"} 1"));
  CHECK(has_line(text, "# TYPE tack_build_info gauge"));
  CHECK(has_line(text, "tack_store_healthy 1"));
  CHECK(has_line(text, "tack_store_errors_total 0"));
  CHECK(has_line(text, "tack_config_last_reload_success 1"));
  CHECK(has_line(text, "tack_config_reloads_total{result=\"success\"} 0"));
  CHECK(has_line(text, "tack_config_reloads_total{result=\"failure\"} 0"));
  for (const char* state : {"queued", "retry_wait", "sending", "held", "scheduled"}) {
    CHECK(has_line(text, std::string("tack_queue_messages{state=\"") + state + "\"} 0"));
  }
  CHECK(has_line(text, "tack_queue_oldest_due_age_seconds 0"));
  CHECK(text.find("# HELP tack_queue_messages ") != std::string::npos);
}

TEST_CASE("counters count per label set", "[metrics]") {
  Metrics metrics;
  metrics.event("http", "accepted");
  metrics.event("http", "accepted");
  metrics.event("outbox", "rejected");
  metrics.attempt("sms-http", "sent", 0.25);
  metrics.attempt("sms-http", "retry", 3.0);
  metrics.message_final("sms", "sms-http", "sent");
  metrics.circuit_state("sms-http", 2);
  metrics.gateway_held("sms-http", "auth", true);
  metrics.gateway_held("sms-http", "operator", false);
  const std::string text = metrics.render();
  INFO(text);
  CHECK(has_line(text, "# TYPE tack_events_total counter"));
  CHECK(has_line(text, R"(tack_events_total{source="http",verdict="accepted"} 2)"));
  CHECK(has_line(text, R"(tack_events_total{source="outbox",verdict="rejected"} 1)"));
  CHECK(has_line(text, R"(tack_attempts_total{gateway="sms-http",outcome="sent"} 1)"));
  CHECK(has_line(text, "# TYPE tack_attempt_duration_seconds histogram"));
  CHECK(has_line(text, R"(tack_attempt_duration_seconds_count{gateway="sms-http"} 2)"));
  CHECK(has_line(text, R"(tack_attempt_duration_seconds_sum{gateway="sms-http"} 3.25)"));
  CHECK(has_line(text, R"(tack_attempt_duration_seconds_bucket{gateway="sms-http",le="0.25"} 1)"));
  CHECK(has_line(text, R"(tack_attempt_duration_seconds_bucket{gateway="sms-http",le="+Inf"} 2)"));
  CHECK(has_line(text,
                 R"(tack_messages_total{channel="sms",gateway="sms-http",state="sent"} 1)"));
  CHECK(has_line(text, R"(tack_gateway_circuit_state{gateway="sms-http"} 2)"));
  CHECK(has_line(text, "# TYPE tack_gateway_held gauge"));
  CHECK(has_line(text, R"(tack_gateway_held{gateway="sms-http",reason="auth"} 1)"));
  CHECK(has_line(text, R"(tack_gateway_held{gateway="sms-http",reason="operator"} 0)"));
}

TEST_CASE("queue figures, store health and reloads are gauges of the latest", "[metrics]") {
  Metrics metrics;
  metrics.queue({{{"queued", 3}, {"retry_wait", 2}, {"sending", 1}, {"held", 4}, {"scheduled", 5}},
                 12.5});
  metrics.store_health(false);
  metrics.store_health(false);  // still the same failure
  metrics.store_health(true);
  metrics.store_health(false);  // a second one
  metrics.config_reload(false, 1795342530.0);
  const std::string text = metrics.render();
  INFO(text);
  CHECK(has_line(text, R"(tack_queue_messages{state="queued"} 3)"));
  CHECK(has_line(text, R"(tack_queue_messages{state="retry_wait"} 2)"));
  CHECK(has_line(text, R"(tack_queue_messages{state="sending"} 1)"));
  CHECK(has_line(text, R"(tack_queue_messages{state="held"} 4)"));
  CHECK(has_line(text, R"(tack_queue_messages{state="scheduled"} 5)"));
  CHECK(has_line(text, "tack_queue_oldest_due_age_seconds 12.5"));
  CHECK(has_line(text, "tack_store_healthy 0"));
  CHECK(has_line(text, "tack_store_errors_total 2"));
  CHECK(has_line(text, R"(tack_config_reloads_total{result="failure"} 1)"));
  CHECK(has_line(text, "tack_config_last_reload_success 0"));
  CHECK(has_line(text, "tack_config_last_reload_timestamp_seconds 1795342530"));
}

TEST_CASE("Metrics counts correctly from many threads at once", "[metrics]") {
  Metrics metrics;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&metrics, t] {
      for (int i = 0; i < 1000; ++i) {
        metrics.event("http", i % 2 ? "accepted" : "duplicate");
        metrics.attempt("gw-" + std::to_string(t % 2), "sent", 0.01);
      }
    });
  }
  for (auto& t : threads) t.join();
  const std::string text = metrics.render();
  CHECK(has_line(text, R"(tack_events_total{source="http",verdict="accepted"} 2000)"));
  CHECK(has_line(text, R"(tack_events_total{source="http",verdict="duplicate"} 2000)"));
  CHECK(has_line(text, R"(tack_attempts_total{gateway="gw-0",outcome="sent"} 2000)"));
  CHECK(has_line(text, R"(tack_attempts_total{gateway="gw-1",outcome="sent"} 2000)"));
}
