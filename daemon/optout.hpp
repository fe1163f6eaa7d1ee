// optout: how a customer says "no more" from outside tack, in pure
// functions. Two ways: an SMS reply that is an opt-out keyword (STOP,
// STOPP, NIE: per locale, from the config), and a signed one-click link
// (an alphanumeric sender cannot take a reply; an e-mail's
// List-Unsubscribe, RFC 8058). The store keeps the suppression list
// (StoreTx::suppress); the reports (daemon/reports.cpp) and the opt-out
// route (daemon/optout_route.cpp) call these to decide what to put on it.
//
// A link's token names the channel kind, the address, the customer's
// locale (for the page) and when it was issued, and carries an
// HMAC-SHA256 over them with the shop's http.optout_secret: nobody can
// opt out an address they did not get a link for. Tokens do not expire (a
// customer may click an old e-mail's link; RFC 8058 asks that it keeps
// working). No I/O, no clock.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "channel.hpp"

namespace tack {

// Keywords per locale ("sv" -> STOPP, STOP). A reply is matched against
// every locale's (the sender's locale is not known from a reply).
using OptOutKeywords = std::map<std::string, std::vector<std::string>>;
// sv: STOPP, STOP; pl: STOP, NIE; en: STOP, UNSUBSCRIBE.
OptOutKeywords default_opt_out_keywords();

// The keyword `text` is, as configured, or nullopt. The whole message
// must be the keyword: leading and trailing white space and trailing
// punctuation ("Stop!", " stopp. ") are dropped, letter case is folded
// (Unicode, not only ASCII). "Please stop sending" is not an opt-out; a
// reply over 64 bytes or not UTF-8 never is.
std::optional<std::string> opt_out_keyword(std::string_view text, const OptOutKeywords& keywords);

struct OptOutToken {
  ChannelKind kind = ChannelKind::Sms;
  std::string address;  // E.164, or the e-mail address
  std::string locale;   // the customer's, for the page ("sv", "pl-PL")
  std::int64_t issued_at_s = 0;
};

// The longest token verify_opt_out_token reads; longer ones are refused
// before any decoding.
inline constexpr std::size_t kMaxOptOutToken = 800;

// "PAYLOAD.MAC": base64url of the fields, then the HMAC-SHA256 of that
// text, hex. `secret` must not be empty.
std::string sign_opt_out_token(const OptOutToken& token, std::string_view secret);

struct OptOutTokenCheck {
  std::optional<OptOutToken> token;  // set: genuine
  std::string error;                 // why not, for the log (never the token)
  bool forged = false;               // well formed but not signed with the secret (403)
};
OptOutTokenCheck verify_opt_out_token(std::string_view text, std::string_view secret);

// Where the link points: `public_url` (no trailing slash) + "/v1/optout?t="
// + the token (optout_routes.hpp); empty when `public_url` or `secret` is
// empty (not configured).
std::string opt_out_url(const std::string& public_url, std::string_view secret,
                        const OptOutToken& token);

}  // namespace tack
