#include "reload.hpp"

#include <functional>
#include <map>
#include <sstream>

namespace tack {

namespace {

// Settings as text that differs exactly when the settings differ.
std::string settings_text(const PluginSettings& settings) {
  std::string out;
  auto add = [&out](const std::string& part) {
    out += std::to_string(part.size());
    out += ':';
    out += part;
  };
  for (const auto& [key, value] : settings.values()) {
    add(key);
    out += static_cast<char>('0' + static_cast<int>(value.shape));
    add(value.text);
    for (const auto& item : value.list) add(item);
    for (const auto& [name, text] : value.map) {
      add(name);
      add(text);
    }
    out += ';';
  }
  return out;
}

std::string join(const std::vector<std::string>& items, const char* separator = ", ") {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

// Named items (gateways, sources, channels, rules) as name -> description;
// the words say which were added, removed or changed.
struct NamedDiff {
  std::vector<std::string> added, removed, changed;
  bool empty() const { return added.empty() && removed.empty() && changed.empty(); }
  std::string words() const {
    std::vector<std::string> parts;
    if (!added.empty()) parts.push_back(join(added) + " added");
    if (!removed.empty()) parts.push_back(join(removed) + " removed");
    if (!changed.empty()) parts.push_back(join(changed) + " changed");
    return join(parts, "; ");
  }
};

NamedDiff diff(const std::map<std::string, std::string>& before,
               const std::map<std::string, std::string>& after) {
  NamedDiff d;
  for (const auto& [name, text] : after) {
    auto it = before.find(name);
    if (it == before.end()) {
      d.added.push_back(name);
    } else if (it->second != text) {
      d.changed.push_back(name);
    }
  }
  for (const auto& [name, text] : before) {
    if (!after.count(name)) d.removed.push_back(name);
  }
  return d;
}

template <typename List, typename Describe>
std::map<std::string, std::string> by_name(const List& list, Describe describe) {
  std::map<std::string, std::string> out;
  for (const auto& item : list) out[item.name] = describe(item);
  return out;
}

std::string describe(const GatewayConfig& g) {
  std::ostringstream out;
  out << g.type << '|' << g.max_in_flight << '|' << g.max_per_second << '|' << g.burst << '|'
      << g.circuit_failures << '|' << g.circuit_cooldown.count() << '|' << settings_text(g.settings);
  return out.str();
}

std::string describe(const SourceConfig& s) { return s.type + '|' + settings_text(s.settings); }

std::string describe(const ChannelConfig& c) {
  return to_string(c.kind) + '|' + join(c.gateways, ",");
}

std::string describe(const RuleConfig& r) {
  std::ostringstream out;
  out << join(r.statuses, ",") << '|' << r.template_name << '|' << join(r.channels, ",") << '|'
      << r.fallback_channel << '|' << r.ttl.count();
  for (const auto& c : r.when) {
    out << '|' << c.field << ' ' << static_cast<int>(c.op) << ' ' << join(c.values, ",");
  }
  return out.str();
}

std::string describe(const HttpConfig& h) {
  std::ostringstream out;
  out << h.max_body_bytes << '|' << h.max_connections << '|' << h.max_connections_per_client
      << '|' << h.request_timeout.count() << '|' << h.header_timeout.count() << '|'
      << h.idle_timeout.count() << '|' << h.min_body_rate << '|' << h.events_token << '|'
      << h.events_hmac_secret;
  for (const auto& r : h.health_from) out << "|from " << r.text;
  for (const auto& name : h.hosts) out << "|host " << name;
  for (const auto& u : h.users) out << '|' << u.name << ':' << u.password_hash;
  return out.str();
}

std::string describe(const RetentionPolicy& r) {
  std::ostringstream out;
  out << r.keep.count() << '|' << to_string(r.action) << '|' << r.interval.count() << '|'
      << r.batch;
  return out.str();
}

std::string describe(const Limits& l) {
  std::ostringstream out;
  out << l.max_event_bytes << '|' << l.max_json_depth << '|' << l.max_json_values << '|'
      << l.max_string_bytes << '|' << l.max_events_per_request << '|'
      << l.max_request_head_bytes << '|' << l.max_response_bytes << '|' << l.max_message_bytes
      << '|' << l.max_template_bytes;
  return out.str();
}

std::string describe(const RetryPolicy& r) {
  std::ostringstream out;
  out << r.max_attempts << '|' << r.initial_backoff.count() << '|' << r.max_backoff.count() << '|'
      << r.max_age.count();
  return out.str();
}

std::string describe_shop(const ShopInfo& shop) {
  std::string out;
  for (const auto& [key, value] : shop.fields) out += key + '=' + value + '\n';
  return out;
}

}  // namespace

ReloadPlan plan_reload(const Config& running, const Config& next,
                       const std::set<std::string>& running_gateways) {
  ReloadPlan plan;
  auto now = [&plan](const std::string& section, const std::string& words) {
    plan.applied.push_back(section + " applied: " + words);
  };
  auto later = [&plan](const std::string& section, const std::string& words) {
    plan.at_restart.push_back(section + ": " + words);
  };

  // A channel may only name a gateway that runs: gateways start with tackd.
  for (const auto& [name, channel] : next.channels) {
    for (const auto& g : channel.gateways) {
      if (!running_gateways.count(g)) {
        plan.errors.push_back("channel " + name + " uses gateway " + g +
                              ", which is not running: gateways start with tackd, so restart "
                              "tackd (systemctl restart tackd) to add one");
      }
    }
  }

  if (running.store_path != next.store_path ||
      running.store_synchronous_full != next.store_synchronous_full) {
    later("store", "a new path or synchronous setting takes effect at the next restart");
  }
  if (auto d = diff(by_name(running.sources, [](const auto& s) { return describe(s); }),
                    by_name(next.sources, [](const auto& s) { return describe(s); }));
      !d.empty()) {
    later("sources", d.words() + "; sources start with tackd, so this takes effect at the next "
                                 "restart");
  }
  if (auto d = diff(by_name(running.gateways, [](const auto& g) { return describe(g); }),
                    by_name(next.gateways, [](const auto& g) { return describe(g); }));
      !d.empty()) {
    NamedDiff restart;
    restart.added = d.added;
    restart.removed = d.removed;
    for (const auto& name : d.changed) {
      if (running.gateway(name)->type == next.gateway(name)->type) {
        plan.gateways_to_rebuild.push_back(name);
      } else {
        restart.changed.push_back(name + " (a new type)");
      }
    }
    if (!plan.gateways_to_rebuild.empty()) {
      now("gateways", join(plan.gateways_to_rebuild) + " rebuilt with new settings");
    }
    if (!restart.empty()) {
      later("gateways", restart.words() + "; gateways start with tackd, so this takes effect at "
                                          "the next restart");
    }
  }
  {
    std::map<std::string, std::string> before, after;
    for (const auto& [name, c] : running.channels) before[name] = describe(c);
    for (const auto& [name, c] : next.channels) after[name] = describe(c);
    if (auto d = diff(before, after); !d.empty()) now("channels", d.words());
  }
  if (auto d = diff(by_name(running.rules, [](const auto& r) { return describe(r); }),
                    by_name(next.rules, [](const auto& r) { return describe(r); }));
      !d.empty()) {
    now("rules", d.words() + " (" + std::to_string(next.rules.size()) + " rules, was " +
                     std::to_string(running.rules.size()) + ")");
  }
  now("templates", "reloaded from " + next.template_dir);

  if (running.http.has_value() != next.http.has_value()) {
    later("http", std::string(next.http ? "adding" : "removing") +
                      " the http section takes effect at the next restart");
  } else if (running.http && next.http) {
    if (running.http->listen_host != next.http->listen_host ||
        running.http->listen_port != next.http->listen_port) {
      later("http", "the new listen address takes effect at the next restart; still on " +
                        running.http->listen_host + ":" +
                        std::to_string(running.http->listen_port));
    }
    if (describe(*running.http) != describe(*next.http)) {
      now("http", "users, tokens, limits and timeouts");
    }
  }
  if (describe(running.retention) != describe(next.retention)) {
    now("retention", "keep, action, interval and batch");
  }
  if (describe(running.limits) != describe(next.limits)) now("limits", "every limit");
  if (describe(running.retry) != describe(next.retry)) {
    now("retry", "for attempts from now on; messages already waiting keep their next time");
  }
  if (running.default_locale != next.default_locale ||
      running.default_region != next.default_region ||
      running.default_timezone != next.default_timezone) {
    now("locale", "default " + next.default_locale + ", region " + next.default_region +
                      ", time zone " + next.default_timezone);
  }
  if (describe_shop(running.shop) != describe_shop(next.shop)) now("shop", "the shop's details");
  if (running.statuses.order != next.statuses.order ||
      running.statuses.terminal != next.statuses.terminal) {
    now("statuses", "the status order");
  }
  if (running.log_level != next.log_level) now("log", "level " + next.log_level);
  return plan;
}

}  // namespace tack
