// rules: which rules an event triggers. Pure: values in, values out.
//
// A rule matches when the event's status is one of the rule's statuses and
// every condition holds. Conditions address event fields by dotted path
// ("customer.tier", "data.country"); a number or bool field compares by its
// JSON text, so `equals: 3` matches 3 and "3".
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config.hpp"

namespace tack {

// The value at a dotted path as text, or nullopt when absent or null.
std::optional<std::string> field_text(const nlohmann::json& doc, const std::string& path);

bool condition_holds(const Condition& condition, const nlohmann::json& doc);

// Rules that fire for this event, in config order.
std::vector<const RuleConfig*> matching_rules(const std::vector<RuleConfig>& rules,
                                              const std::string& status,
                                              const nlohmann::json& doc);

}  // namespace tack
