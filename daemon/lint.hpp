// lint: `tackd check`'s warnings about what a provider will do with a
// config that loads: mistakes no key table can see, each at the
// file:line:column of the key that makes it.
//
// - An HTTP gateway whose request (url, headers, json, form or body) never
//   uses {{text}} (for e-mail, nor {{html}}): every message would leave
//   without its text.
// - An SMS sender (a json or form field, or a url parameter, named from,
//   sender, originator, src, source, source_addr or sender_id) longer than
//   networks carry: 11 characters when it has a letter, 15 digits when it
//   is a number.
// - A credential (Basic auth, a bearer token, an Authorization or API key
//   header, a user in the url; an SMTP login) sent unencrypted: http:// or
//   SMTP with tls: none, to a host that is not this machine.
// - An SMS template whose sample rendering, as the channel sends it
//   (transliterated when its `transliterate` names the language), needs
//   more segments than the channel's budget (sms_cost.hpp: max_segments,
//   default 3, or a gateway's lower one; each segment is billed): tack
//   refuses such a message. Where the channel does not transliterate and
//   that would save segments, the warning says how many it would need.
//
// Warnings, not errors: tackd check still exits 0 on them (unless
// --strict) and tackd runs such a config. Pure: a loaded Config and the
// sample renderings in, warnings out; `tackd check` renders the samples
// (cli.cpp) and prints the warnings.
#pragma once

#include <string>
#include <vector>

#include "config.hpp"
#include "config_errors.hpp"

namespace tack {

// One template's SMS text for one locale, rendered with the sample event.
struct SmsSample {
  std::string template_name;
  std::string locale;
  std::string text;
  ConfigError where;  // the template's sms: key
};

// The gateways' warnings, in the config's order of gateways.
std::vector<ConfigError> lint_gateways(const Config& config);
// Each SMS sample over the budget of a channel a rule sends its template on
// (the rule's channels and its fallback).
std::vector<ConfigError> lint_sms_segments(const Config& config,
                                           const std::vector<SmsSample>& samples);
// Both.
std::vector<ConfigError> lint_config(const Config& config, const std::vector<SmsSample>& samples);

}  // namespace tack
