// Tests for daemon/address_range: CIDR blocks from the config.
#include "address_range.hpp"

#include <catch2/catch.hpp>

using namespace tack;

TEST_CASE("address ranges parse addresses and CIDR blocks, v4 and v6", "[http]") {
  auto range = [](const char* text) {
    auto parsed = parse_address_range(text);
    REQUIRE(parsed);
    return *parsed;
  };
  CHECK(range_contains(range("127.0.0.1"), "127.0.0.1"));
  CHECK_FALSE(range_contains(range("127.0.0.1"), "127.0.0.2"));
  CHECK(range_contains(range("127.0.0.0/8"), "127.200.0.9"));
  CHECK(range_contains(range("10.1.2.0/23"), "10.1.3.255"));
  CHECK_FALSE(range_contains(range("10.1.2.0/23"), "10.1.4.0"));
  CHECK(range_contains(range("0.0.0.0/0"), "203.0.113.5"));
  CHECK(range_contains(range("::1"), "::1"));
  CHECK_FALSE(range_contains(range("::1"), "127.0.0.1"));
  CHECK(range_contains(range("fd00::/8"), "fd12:3456::1"));
  CHECK_FALSE(range_contains(range("fd00::/8"), "fe80::1"));
  // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
  CHECK(range_contains(range("192.0.2.0/24"), "::ffff:192.0.2.7"));
  CHECK(range_contains(range("10.0.0.1/8"), "10.9.9.9"));  // host bits ignored
  CHECK_FALSE(range_contains(range("127.0.0.1"), "localhost"));
  CHECK_FALSE(range_contains(range("127.0.0.1"), ""));

  for (const char* bad : {"", "localhost", "127.0.0.1/33", "::1/129", "10.0.0.0/", "10.0.0.0/x",
                          "10.0.0.0/8/8", "1.2.3", "1.2.3.4 ", "/8", "10.0.0.0/-1"}) {
    INFO(bad);
    CHECK_FALSE(parse_address_range(bad));
  }
}
