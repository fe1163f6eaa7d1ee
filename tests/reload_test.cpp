#include <catch2/catch.hpp>

#include "reload.hpp"

using namespace tack;

namespace {

Config config(const std::string& extra_gateway = "", const std::string& sms_gateways = "[out]") {
  std::string text = R"(
store: { path: /tmp/unused.db }
templates: { dir: )" TACK_SOURCE_DIR R"(/templates }
gateways:
  - { name: out, type: file, path: /tmp/unused.jsonl }
)" + extra_gateway + R"(
channels:
  sms: { kind: sms, gateways: )" + sms_gateways + R"( }
rules:
  - { name: shipped, on: shipped, template: shipped, channels: [sms] }
)";
  auto loaded = load_config_text(text, "/tmp/reload-test.yaml");
  INFO(loaded.errors.to_string());
  REQUIRE(loaded.config);
  return *loaded.config;
}

bool has_line(const std::vector<std::string>& lines, const std::string& needle) {
  for (const auto& line : lines) {
    if (line.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a channel on a gateway that is not running is refused with the restart it needs",
          "[reload]") {
  const auto running = config();
  const auto next = config("  - { name: sms2, type: file, path: /tmp/sms2.jsonl }\n", "[sms2, out]");
  auto plan = plan_reload(running, next, {"out"});
  REQUIRE(plan.errors.size() == 1);
  CHECK_THAT(plan.errors[0], Catch::Contains("channel sms uses gateway sms2, which is not running"));
  CHECK_THAT(plan.errors[0], Catch::Contains("restart tackd"));
}

TEST_CASE("an added gateway no channel uses yet waits for a restart, and says so",
          "[reload]") {
  const auto running = config();
  const auto next = config("  - { name: sms2, type: file, path: /tmp/sms2.jsonl }\n");
  auto plan = plan_reload(running, next, {"out"});
  CHECK(plan.errors.empty());
  CHECK(has_line(plan.at_restart, "gateways: sms2 added; gateways start with tackd"));
}

TEST_CASE("an unchanged config applies only its templates", "[reload]") {
  const auto running = config();
  auto plan = plan_reload(running, running, {"out"});
  CHECK(plan.errors.empty());
  CHECK(plan.at_restart.empty());
  REQUIRE(plan.applied.size() == 1);
  CHECK_THAT(plan.applied[0], Catch::StartsWith("templates applied"));
}

TEST_CASE("each changed section is named", "[reload]") {
  const auto running = config();
  auto next = running;
  next.rules.push_back(next.rules.front());
  next.rules.back().name = "again";
  next.retention.keep = std::chrono::hours(24);
  next.limits.max_event_bytes = 2048;
  next.retry.max_attempts = 3;
  next.log_level = "debug";
  next.store_path = "/tmp/other.db";
  next.default_region = "PL";
  auto plan = plan_reload(running, next, {"out"});
  CHECK(plan.errors.empty());
  CHECK(has_line(plan.applied, "rules applied: again added (2 rules, was 1)"));
  CHECK(has_line(plan.applied, "retention applied"));
  CHECK(has_line(plan.applied, "limits applied"));
  CHECK(has_line(plan.applied, "retry applied"));
  CHECK(has_line(plan.applied, "log applied: level debug"));
  CHECK(has_line(plan.applied, "locale applied"));
  CHECK(has_line(plan.at_restart, "store: a new path"));
}

TEST_CASE("a gateway with new settings and the same type is rebuilt now", "[reload]") {
  const auto running = config("  - { name: sms2, type: file, path: /tmp/sms2.jsonl }\n");
  const auto next = config("  - { name: sms2, type: file, path: /tmp/sms2-new.jsonl }\n");
  auto plan = plan_reload(running, next, {"out", "sms2"});
  CHECK(plan.errors.empty());
  CHECK(plan.gateways_to_rebuild == std::vector<std::string>{"sms2"});
  CHECK(has_line(plan.applied, "gateways applied: sms2 rebuilt with new settings"));
  CHECK(plan.at_restart.empty());
}
