// Tests for daemon/metrics.cpp: what render() says after each kind of
// count, in the Prometheus text format.
#include "metrics.hpp"

#include <catch2/catch.hpp>
#include <set>
#include <sstream>
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
  metrics.state_changes({{"sms", "sms-http", MessageState::Sent, false, 1}});
  metrics.circuit_state("sms-http", "open");
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
  CHECK(has_line(text, R"(tack_gateway_circuit{gateway="sms-http",state="open"} 1)"));
  CHECK(has_line(text, R"(tack_gateway_circuit{gateway="sms-http",state="closed"} 0)"));
  CHECK(has_line(text, R"(tack_gateway_circuit{gateway="sms-http",state="half_open"} 0)"));
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

namespace {

Config two_channels() {
  Config config;
  config.sources.push_back({"outbox", "sqlite_outbox", {}});
  config.http = HttpConfig{};
  GatewayConfig elks;
  elks.name = "elks";
  elks.type = "http";
  GatewayConfig mail;
  mail.name = "mail";
  mail.type = "smtp";
  config.gateways = {elks, mail};
  config.channels["sms"] = ChannelConfig{"sms", ChannelKind::Sms, {"elks", "mail"}};
  config.channels["email"] = ChannelConfig{"email", ChannelKind::Email, {"mail"}};
  return config;
}

// Every line of one family's samples ("name{labels} value"), HELP and TYPE
// left out.
std::vector<std::string> samples_of(const std::string& text, const std::string& name) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + "{", 0) == 0 || line.rfind(name + " ", 0) == 0) out.push_back(line);
  }
  return out;
}

}  // namespace

TEST_CASE("every series a config names is there at 0 before anything happens", "[metrics]") {
  Metrics metrics;
  metrics.configure(two_channels());
  const std::string text = metrics.render();
  INFO(text);
  for (const char* source : {"outbox", "http"}) {
    for (const char* verdict : {"accepted", "duplicate", "stale", "rejected"}) {
      CHECK(has_line(text, std::string("tack_events_total{source=\"") + source +
                               "\",verdict=\"" + verdict + "\"} 0"));
    }
  }
  // Every state the lifecycle has, by its own name, for each channel's
  // gateways; nothing for a gateway a channel does not use.
  for (auto state : kAllStates) {
    const std::string name(to_string(state));
    CHECK(has_line(text, R"(tack_messages_total{channel="sms",gateway="elks",state=")" + name +
                             "\"} 0"));
    CHECK(has_line(text, R"(tack_messages_total{channel="sms",gateway="mail",state=")" + name +
                             "\"} 0"));
    CHECK(has_line(text, R"(tack_messages_total{channel="email",gateway="mail",state=")" + name +
                             "\"} 0"));
  }
  CHECK(samples_of(text, "tack_messages_total").size() == 3 * kAllStates.size());
  CHECK(has_line(text, R"(tack_messages_total{channel="email",gateway="mail",state="not_needed"} 0)"));
  CHECK(has_line(text, R"(tack_messages_created_total{channel="sms"} 0)"));
  CHECK(has_line(text, R"(tack_messages_created_total{channel="email"} 0)"));
  for (const char* gateway : {"elks", "mail"}) {
    for (const char* outcome : {"sent", "retry", "rejected", "unknown"}) {
      CHECK(has_line(text, std::string("tack_attempts_total{gateway=\"") + gateway +
                               "\",outcome=\"" + outcome + "\"} 0"));
    }
    CHECK(has_line(text, std::string("tack_attempt_duration_seconds_count{gateway=\"") +
                             gateway + "\"} 0"));
    for (const char* result : {"applied", "repeated", "parked", "unknown", "refused", "failed"}) {
      CHECK(has_line(text, std::string("tack_receipts_total{gateway=\"") + gateway +
                               "\",result=\"" + result + "\"} 0"));
    }
  }
  for (const char* table : {"messages", "attempts", "events"}) {
    for (const char* action : {"anonymise", "delete"}) {
      CHECK(has_line(text, std::string("tack_retention_pruned_total{action=\"") + action +
                               "\",table=\"" + table + "\"} 0"));
    }
  }
  CHECK(has_line(text, R"(tack_http_signin_refusals_total{reason="password"} 0)"));
  CHECK(has_line(text, R"(tack_http_signin_refusals_total{reason="throttled"} 0)"));
}

TEST_CASE("receipts are counted per gateway and result", "[metrics][receipts]") {
  Metrics metrics;
  metrics.configure(two_channels());
  metrics.report("elks", "applied");
  metrics.report("elks", "applied");
  metrics.report("elks", "refused");
  const std::string text = metrics.render();
  CHECK(has_line(text, R"(tack_receipts_total{gateway="elks",result="applied"} 2)"));
  CHECK(has_line(text, R"(tack_receipts_total{gateway="elks",result="refused"} 1)"));
  CHECK(has_line(text, R"(tack_receipts_total{gateway="mail",result="applied"} 0)"));
}

TEST_CASE("a configure after a reload adds the new series and keeps the counts", "[metrics]") {
  Metrics metrics;
  auto config = two_channels();
  metrics.configure(config);
  metrics.event("http", "accepted");
  config.channels["push"] = ChannelConfig{"push", ChannelKind::Sms, {"elks"}};
  metrics.configure(config);
  const std::string text = metrics.render();
  CHECK(has_line(text, R"(tack_events_total{source="http",verdict="accepted"} 1)"));
  CHECK(has_line(text, R"(tack_messages_total{channel="push",gateway="elks",state="sent"} 0)"));
  CHECK(has_line(text, R"(tack_messages_created_total{channel="push"} 0)"));
}

TEST_CASE("state changes count each state entered and each message created", "[metrics]") {
  Metrics metrics;
  metrics.state_changes({{"sms", "elks", MessageState::Failed, true, 2},
                         {"sms", "elks", MessageState::Queued, true, 5},
                         {"sms", "elks", MessageState::Superseded, false, 1},
                         {"email", "mail", MessageState::NotNeeded, false, 3}});
  metrics.state_changes({{"sms", "elks", MessageState::Cancelled, false, 1},
                         {"sms", "elks", MessageState::Failed, false, 1}});
  const std::string text = metrics.render();
  INFO(text);
  CHECK(has_line(text, "# TYPE tack_messages_created_total counter"));
  CHECK(has_line(text, R"(tack_messages_created_total{channel="sms"} 7)"));
  CHECK(has_line(text, R"(tack_messages_total{channel="sms",gateway="elks",state="failed"} 3)"));
  CHECK(has_line(text, R"(tack_messages_total{channel="sms",gateway="elks",state="queued"} 5)"));
  CHECK(has_line(text,
                 R"(tack_messages_total{channel="sms",gateway="elks",state="superseded"} 1)"));
  CHECK(has_line(text, R"(tack_messages_total{channel="sms",gateway="elks",state="cancelled"} 1)"));
  CHECK(has_line(text,
                 R"(tack_messages_total{channel="email",gateway="mail",state="not_needed"} 3)"));
}

TEST_CASE("a circuit is in exactly one state", "[metrics]") {
  Metrics metrics;
  metrics.circuit_state("elks", "closed");
  metrics.circuit_state("elks", "half_open");
  const std::string text = metrics.render();
  CHECK(has_line(text, "# TYPE tack_gateway_circuit gauge"));
  CHECK(has_line(text, R"(tack_gateway_circuit{gateway="elks",state="closed"} 0)"));
  CHECK(has_line(text, R"(tack_gateway_circuit{gateway="elks",state="half_open"} 1)"));
  CHECK(has_line(text, R"(tack_gateway_circuit{gateway="elks",state="open"} 0)"));
}

TEST_CASE("every family has HELP and TYPE, and the process_* metrics are there", "[metrics]") {
  Metrics metrics;
  metrics.configure(two_channels());
  metrics.circuit_state("elks", "closed");
  metrics.gateway_held("elks", "auth", false);
  const std::string text = metrics.render();
  INFO(text);
  std::set<std::string> helped, typed, sampled;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# HELP ", 0) == 0) {
      auto name = line.substr(7, line.find(' ', 7) - 7);
      CHECK(line.size() > 7 + name.size() + 1);  // a text, not just the name
      helped.insert(name);
    } else if (line.rfind("# TYPE ", 0) == 0) {
      typed.insert(line.substr(7, line.find(' ', 7) - 7));
    } else if (!line.empty()) {
      auto name = line.substr(0, line.find_first_of("{ "));
      for (const char* suffix : {"_bucket", "_count", "_sum"}) {
        if (name.ends_with(suffix) && !helped.count(name)) {
          name = name.substr(0, name.size() - std::string_view(suffix).size());
        }
      }
      sampled.insert(name);
    }
  }
  for (const auto& name : sampled) {
    INFO(name);
    CHECK(helped.count(name));
    CHECK(typed.count(name));
  }
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                           "process_start_time_seconds"}) {
    INFO(name);
    CHECK(sampled.count(name));
  }
  CHECK(has_line(text, "# TYPE process_cpu_seconds_total counter"));
  CHECK(has_line(text, "# TYPE process_resident_memory_bytes gauge"));
}

TEST_CASE("/proc/self/stat is read after the last bracket of the command name", "[metrics]") {
  // Fields 14, 15 (utime, stime: 250 + 50 ticks), 22 (starttime: 1000
  // ticks), 23 (vsize) and 24 (rss: 3 pages). A command may be named
  // anything, ") 1 2 3" included.
  const std::string rest =
      " S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 1000 4096000 3 18446744073709551615 1 1 0 0 0 "
      "0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
  for (std::string name : {"tackd", "a b", "x) 9 9 9 (", "))"}) {
    INFO(name);
    auto stat = parse_proc_stat("4242 (" + name + ")" + rest, 100, 4096);
    REQUIRE(stat);
    CHECK(stat->cpu_seconds == Approx(3.0));
    CHECK(stat->started_after_boot_seconds == Approx(10.0));
    CHECK(stat->virtual_memory_bytes == Approx(4096000));
    CHECK(stat->resident_memory_bytes == Approx(3 * 4096));
  }
}

TEST_CASE("a /proc/self/stat that is not one is no figures, not a crash", "[metrics]") {
  for (std::string text : {std::string(), std::string("garbage"), std::string("1 (x)"),
                           std::string("1 (x) S 1 2 3"), std::string(100000, ')'),
                           std::string("1 (x) S 1 2 3 4 5 6 7 8 9 10 -5 50 0 0 20 0 1 0 1000 "
                                       "4096000 3"),
                           std::string("1 (x) S 1 2 3 4 5 6 7 8 9 10 25x 50 0 0 20 0 1 0 1000 "
                                       "4096000 3")}) {
    INFO(text.substr(0, 60));
    CHECK_FALSE(parse_proc_stat(text, 100, 4096));
  }
  CHECK_FALSE(parse_proc_stat("1 (x) S 1 2 3 4 5 6 7 8 9 10 25 50 0 0 20 0 1 0 1000 4096000 3",
                              0, 4096));
}

TEST_CASE("the boot time is /proc/stat's btime line", "[metrics]") {
  CHECK(parse_boot_time("cpu  1 2 3\nbtime 1764892800\nprocesses 12\n") == 1764892800.0);
  CHECK_FALSE(parse_boot_time("cpu  1 2 3\nprocesses 12\n"));
  CHECK_FALSE(parse_boot_time("btime soon\n"));
  CHECK_FALSE(parse_boot_time(""));
}
