#include "rules.hpp"

#include <algorithm>

#include "event.hpp"
#include "local_time.hpp"

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

namespace {

std::optional<std::int64_t> local_midnight_of_date(const std::string& text,
                                                   const std::string& timezone) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  auto utc_midnight = parse_rfc3339_ms(text + "T00:00:00Z");
  if (!utc_midnight) return std::nullopt;
  // Every zone is within 14 hours of UTC: the first local midnight after
  // 14 hours before the date's UTC midnight is the date's own.
  constexpr std::int64_t k14h = 14 * 3600 * 1000;
  return next_time_of_day(*utc_midnight - k14h, 0, timezone);
}

// "3d", "36h", "90m", "45s": the largest whole unit, for notes.
std::string duration_words(std::chrono::milliseconds d) {
  using namespace std::chrono;
  const auto ms = d.count() < 0 ? -d.count() : d.count();
  constexpr std::int64_t kDay = 86400000, kHour = 3600000, kMinute = 60000, kSecond = 1000;
  if (ms % kDay == 0) return std::to_string(ms / kDay) + "d";
  if (ms % kHour == 0) return std::to_string(ms / kHour) + "h";
  if (ms % kMinute == 0) return std::to_string(ms / kMinute) + "m";
  if (ms % kSecond == 0) return std::to_string(ms / kSecond) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace

bool reached_any(const StatusOrder& statuses, const std::vector<std::string>& unless,
                 const std::string& status) {
  const bool ordered = !statuses.is_terminal(status) && statuses.known(status);
  for (const auto& awaited : unless) {
    if (awaited == status) return true;
    if (ordered && !statuses.is_terminal(awaited) && statuses.known(awaited) &&
        statuses.rank(status) >= statuses.rank(awaited)) {
      return true;
    }
  }
  return false;
}

std::vector<std::string> rules_cancelled_by(const std::vector<RuleConfig>& rules,
                                            const StatusOrder& statuses,
                                            const std::string& status) {
  std::vector<std::string> out;
  for (const auto& rule : rules) {
    if (!rule.unless.empty() && reached_any(statuses, rule.unless, status)) {
      out.push_back(rule.name);
    }
  }
  return out;
}

std::optional<std::int64_t> due_at(const RuleConfig& rule, const nlohmann::json& doc,
                                   std::int64_t occurred_at_ms, const std::string& timezone) {
  std::int64_t anchor = occurred_at_ms;
  if (!rule.from.empty()) {
    auto text = field_text(doc, rule.from);
    if (!text) return std::nullopt;
    auto parsed = parse_rfc3339_ms(*text);
    // A plain date ("2026-12-27", an invoice's due date): its midnight in
    // the recipient's zone.
    if (!parsed) parsed = local_midnight_of_date(*text, timezone);
    if (!parsed) return std::nullopt;
    anchor = *parsed;
  }
  std::int64_t due = anchor + rule.after.count();
  if (rule.at_minute) {
    // On that local day ("the day after delivery at 10:00"); a time of day
    // already past at the anchor itself means the next one.
    due = time_of_day_on(due, *rule.at_minute, timezone);
    if (rule.after.count() >= 0 && due <= anchor) {
      due = next_time_of_day(anchor, *rule.at_minute, timezone);
    }
  }
  return due;
}

std::string describe_timing(const RuleConfig& rule, const std::string& status) {
  std::string out;
  const std::string anchor = rule.from.empty() ? status : rule.from;
  if (rule.after.count() > 0) {
    out = duration_words(rule.after) + " after " + anchor;
  } else if (rule.after.count() < 0) {
    out = duration_words(rule.after) + " before " + anchor;
  } else {
    out = "on " + anchor;
  }
  if (rule.at_minute) out += ", at " + format_time_of_day(*rule.at_minute);
  if (!rule.unless.empty()) {
    out += ", unless ";
    for (std::size_t i = 0; i < rule.unless.size(); ++i) {
      if (i > 0) out += i + 1 == rule.unless.size() ? " or " : ", ";
      out += rule.unless[i];
    }
  }
  return out;
}

}  // namespace tack
