#include <catch2/catch.hpp>

#include "rules.hpp"

using namespace tack;

namespace {
nlohmann::json event() {
  return nlohmann::json::parse(R"({"status":"shipped","customer":{"tier":"gold","orders":3},
                                   "data":{"country":"SE","gift":true}})");
}
RuleConfig rule(std::string name, std::vector<std::string> statuses,
                std::vector<Condition> when = {}) {
  RuleConfig r;
  r.name = std::move(name);
  r.statuses = std::move(statuses);
  r.when = std::move(when);
  // Built from a std::string, not assigned a literal: GCC 12 warns
  // -Wrestrict on the literal (its false positive, GCC bug 105651).
  r.template_name = std::string(1, 't');
  r.channels = {"sms"};
  return r;
}
}  // namespace

TEST_CASE("field_text follows dotted paths and renders scalars as text", "[rules]") {
  auto e = event();
  CHECK(field_text(e, "customer.tier") == "gold");
  CHECK(field_text(e, "customer.orders") == "3");
  CHECK(field_text(e, "data.gift") == "true");
  CHECK_FALSE(field_text(e, "customer.missing"));
  CHECK_FALSE(field_text(e, "customer.tier.deeper"));
  CHECK_FALSE(field_text(e, ""));
}

TEST_CASE("a rule fires on any of its statuses", "[rules]") {
  std::vector<RuleConfig> rules = {rule("a", {"placed"}), rule("b", {"shipped", "delivered"})};
  auto hits = matching_rules(rules, "shipped", event());
  REQUIRE(hits.size() == 1);
  CHECK(hits[0]->name == "b");
  CHECK(matching_rules(rules, "paid", event()).empty());
}

TEST_CASE("every condition of a rule must hold", "[rules]") {
  using Op = Condition::Op;
  std::vector<RuleConfig> rules = {
      rule("gold_se", {"shipped"}, {{"customer.tier", Op::Equals, {"gold"}},
                                    {"data.country", Op::In, {"SE", "NO"}}}),
      rule("not_pl", {"shipped"}, {{"data.country", Op::NotIn, {"PL"}}}),
      rule("silver", {"shipped"}, {{"customer.tier", Op::Equals, {"silver"}}}),
      rule("repeat", {"shipped"}, {{"customer.orders", Op::Equals, {"3"}}}),
      rule("has_gift", {"shipped"}, {{"data.gift", Op::Exists, {}}}),
      rule("no_note", {"shipped"}, {{"data.note", Op::Missing, {}}}),
      rule("not_gold", {"shipped"}, {{"customer.tier", Op::NotEquals, {"gold"}}}),
  };
  std::vector<std::string> names;
  for (auto* r : matching_rules(rules, "shipped", event())) names.push_back(r->name);
  CHECK(names == std::vector<std::string>{"gold_se", "not_pl", "repeat", "has_gift", "no_note"});
}
