#include "rules.hpp"

#include <algorithm>

namespace tack {

std::optional<std::string> field_text(const nlohmann::json& doc, const std::string& path) {
  const nlohmann::json* node = &doc;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto dot = path.find('.', start);
    auto key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!node->is_object()) return std::nullopt;
    auto it = node->find(key);
    if (it == node->end()) return std::nullopt;
    node = &*it;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (node->is_null()) return std::nullopt;
  if (node->is_string()) return node->get<std::string>();
  return node->dump();
}

bool condition_holds(const Condition& c, const nlohmann::json& doc) {
  auto value = field_text(doc, c.field);
  auto listed = [&] {
    return value && std::find(c.values.begin(), c.values.end(), *value) != c.values.end();
  };
  switch (c.op) {
    case Condition::Op::Equals:
      return value && !c.values.empty() && *value == c.values.front();
    case Condition::Op::NotEquals:
      return !value || c.values.empty() || *value != c.values.front();
    case Condition::Op::In:
      return listed();
    case Condition::Op::NotIn:
      return !listed();
    case Condition::Op::Exists:
      return value.has_value();
    case Condition::Op::Missing:
      return !value.has_value();
  }
  return false;
}

std::vector<const RuleConfig*> matching_rules(const std::vector<RuleConfig>& rules,
                                              const std::string& status,
                                              const nlohmann::json& doc) {
  std::vector<const RuleConfig*> out;
  for (const auto& rule : rules) {
    if (std::find(rule.statuses.begin(), rule.statuses.end(), status) == rule.statuses.end()) {
      continue;
    }
    bool all = std::all_of(rule.when.begin(), rule.when.end(),
                           [&](const Condition& c) { return condition_holds(c, doc); });
    if (all) out.push_back(&rule);
  }
  return out;
}

}  // namespace tack
