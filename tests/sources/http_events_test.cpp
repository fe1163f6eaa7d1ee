// Tests for daemon/sources/http_events.cpp: splitting a POST /v1/events
// body. The route itself is tried through the router in
// tests/http/router_test.cpp and end to end in tests/integration/.
#include "sources/http_events.hpp"

#include <catch2/catch.hpp>

using namespace tack;

TEST_CASE("event_documents splits an array and keeps anything else whole", "[http_events]") {
  Limits limits;
  limits.max_events_per_request = 10;
  auto array = event_documents(" [{\"a\":1}, {\"b\":[2]}, 3]", limits);
  REQUIRE(array);
  CHECK(*array == std::vector<std::string>{R"({"a":1})", R"({"b":[2]})", "3"});
  CHECK(*event_documents("{\"a\":1}", limits) == std::vector<std::string>{"{\"a\":1}"});
  CHECK(event_documents(" \n", limits)->empty());
  CHECK(event_documents("[]", limits)->empty());
  // Not JSON, or nested past the limit: one document, rejected by intake
  // with its reason.
  CHECK(*event_documents("[{\"a\":", limits) == std::vector<std::string>{"[{\"a\":"});
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  REQUIRE(event_documents(deep, limits)->size() == 1);
  CHECK(event_documents(deep, limits)->front().size() == deep.size());
  const std::string at_limit =
      "[" + std::string(limits.max_json_depth, '[') + std::string(limits.max_json_depth, ']') + "]";
  CHECK(event_documents(at_limit, limits)->size() == 1);
  CHECK(event_documents(at_limit, limits)->front() != at_limit);
  limits.max_events_per_request = 2;
  CHECK_FALSE(event_documents("[1,2,3]", limits));
  CHECK(event_documents("[1,2]", limits)->size() == 2);
}
