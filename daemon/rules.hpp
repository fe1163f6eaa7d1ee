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

// ---- time (issue 16) ----

// Whether an order at `status` has reached one of `unless`: that status, or
// one after it in the forward order (an order already delivered was
// shipped). A terminal status reaches only itself.
bool reached_any(const StatusOrder& statuses, const std::vector<std::string>& unless,
                 const std::string& status);

// The rules whose messages still scheduled this status cancels (their
// unless is reached by it).
std::vector<std::string> rules_cancelled_by(const std::vector<RuleConfig>& rules,
                                            const StatusOrder& statuses,
                                            const std::string& status);

// When a delayed rule's message is due for this event: its anchor (the
// event's occurred_at, or the time at rule.from) plus rule.after, then the
// first rule.at from there in `timezone`. nullopt when rule.from names no
// RFC 3339 time in the event.
std::optional<std::int64_t> due_at(const RuleConfig& rule, const nlohmann::json& doc,
                                   std::int64_t occurred_at_ms, const std::string& timezone);

// Support's words for why a delayed rule's message waits: "3d after
// delivered at 10:00, unless returned or cancelled", "2h after
// delivery.window_end, unless delivered".
std::string describe_timing(const RuleConfig& rule, const std::string& status);

}  // namespace tack
