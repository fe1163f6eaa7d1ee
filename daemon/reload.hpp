// reload: what a SIGHUP does with a new config, decided before anything
// changes. plan_reload compares the running config with the new one section
// by section (store, sources, gateways, channels, rules, templates, http,
// retention, limits, retry, locale, shop, statuses, log) and says, in words
// for the log, what applies now, what waits for a restart, and which errors
// keep the running config whole. Pure: no I/O; app.cpp applies the plan and
// logs every line of it.
//
// What needs a restart: the store, the sources, adding, removing or
// retyping a gateway, and adding or removing the http section or moving its
// listen address. A gateway that keeps its name and type but has new
// settings (new credentials after a provider refused the old ones) is
// rebuilt at once. A channel that
// names a gateway which is not running is an error: its messages would wait
// for a gateway that never comes.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "config.hpp"

namespace tack {

struct ReloadPlan {
  std::vector<std::string> errors;      // the new config is rejected; the running one stays
  std::vector<std::string> applied;     // "rules applied: ship added (4 rules, was 3)"
  std::vector<std::string> at_restart;  // "gateways: sms2 added; restart tackd to start it"
  // Gateways that keep their name and type but have new settings (such as
  // new credentials): rebuilt now, in place of the running ones.
  std::vector<std::string> gateways_to_rebuild;
};

ReloadPlan plan_reload(const Config& running, const Config& next,
                       const std::set<std::string>& running_gateways);

}  // namespace tack
