// gateways/routes: a gateway's routes on tackd's HTTP listener (a
// provider's delivery receipts), kept right across reloads.
//
// The listener mounts routes once, before it starts, and keeps them for its
// life; a reload may rebuild a gateway with new settings (new credentials, a
// new webhook secret). gateway_routes() wraps each route the gateway running
// at start declares so that every request is answered by the gateway
// running when the request comes: `current` names it, and its route of the
// same path answers. A request for a path the current gateway no longer
// declares (its new settings turned receipts off) gets 404, and one that
// comes while no gateway of that name runs gets 503. That is why a gateway's
// route paths must follow from its name and kind, never from its settings.
//
// Runs on the event loop, like the dispatcher that owns the gateways; a
// gateway a reload replaced stays alive (Dispatcher keeps it), so a request
// it began answering finishes with it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "gateways/gateway.hpp"
#include "http/route.hpp"

namespace tack {

std::vector<Route> gateway_routes(const std::string& name, Gateway& first,
                                  std::function<Gateway*()> current);

}  // namespace tack
