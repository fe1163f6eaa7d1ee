// optout_routes: the signed one-click opt-out link on tackd's listener
// (optout.hpp makes and checks the token). Two routes on one path:
//
//   GET  /v1/optout?t=TOKEN  a small page, in the customer's locale (sv,
//                            pl, en), naming the channel and the masked
//                            address, with one button. It never opts out:
//                            mail scanners and link previews fetch GETs.
//   POST /v1/optout?t=TOKEN  puts the address on the suppression list of
//                            the token's kind (StoreTx::suppress, source
//                            "link", or "one-click link" for RFC 8058's
//                            body List-Unsubscribe=One-Click that mail
//                            providers send) and answers a confirmation
//                            page. Repeating it is harmless.
//
// The token is the caller's proof (RouteAuth::Own): no password and no
// X-Tack-Request header, since a customer's browser and a mail provider
// post it. A link that is not tack's answers 403 (forged: a MAC that does
// not match) or 400 (missing, truncated, malformed), is counted on
// tack_optouts_total{via="link"} and logged at a bounded rate, and changes
// nothing. With no http.optout_secret configured, 404. The pages carry no
// script and no style (the listener's CSP allows neither inline).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "http/route.hpp"

namespace tack {

class Metrics;
class Store;

inline constexpr const char* kOptOutPath = "/v1/optout";

struct OptOutRouteContext {
  Store& store;
  Metrics* metrics = nullptr;
  // The running config's http.optout_secret ("" : links are off).
  std::function<std::string()> secret;
  std::function<std::int64_t()> now_ms;
};

// The GET and the POST route. `context.store` must outlive them.
std::vector<Route> opt_out_routes(OptOutRouteContext context);

// The page's words, for a locale ("sv-SE" -> sv; anything else but pl: en).
struct OptOutWords {
  std::string title, question_sms, question_email, button, done_sms, done_email;
};
const OptOutWords& opt_out_words(const std::string& locale);

}  // namespace tack
