#include "gateways/routes.hpp"

#include <memory>
#include <optional>
#include <utility>

#include "http/router.hpp"

namespace tack {

namespace {

using status = beast_http::status;

// The route of `path` the gateway running now declares, or why there is none.
struct Resolved {
  std::vector<Route> routes;  // keeps the route's handler alive while it runs
  const Route* route = nullptr;
  std::optional<ServerResponse> answer;
};

Resolved resolve(const std::string& name, const std::string& path,
                 const std::function<Gateway*()>& current) {
  Resolved resolved;
  Gateway* gateway = current();
  if (!gateway) {
    resolved.answer = error_response(status::service_unavailable,
                                     "gateway " + name + " is not running");
    return resolved;
  }
  resolved.routes = gateway->routes();
  for (const auto& route : resolved.routes) {
    if (route.path == path) resolved.route = &route;
  }
  if (!resolved.route) {
    resolved.answer =
        error_response(status::not_found, "gateway " + name + " no longer answers " + path);
  }
  return resolved;
}

}  // namespace

std::vector<Route> gateway_routes(const std::string& name, Gateway& first,
                                  std::function<Gateway*()> current) {
  auto shared = std::make_shared<std::function<Gateway*()>>(std::move(current));
  std::vector<Route> wrapped;
  for (const Route& declared : first.routes()) {
    Route route;
    route.method = declared.method;
    route.path = declared.path;
    route.auth = declared.auth;
    route.max_body = declared.max_body;
    const std::string path = declared.path;
    if (declared.auth == RouteAuth::Own) {
      route.admit = [name, path, shared](const ServerRequestHeader& head) {
        Resolved resolved = resolve(name, path, *shared);
        if (resolved.answer) {
          Admission refused;
          refused.answer = std::move(resolved.answer);
          refused.refusal = "gateway " + name + " does not answer " + path + " now";
          return refused;
        }
        return resolved.route->admit(head);
      };
    }
    route.handle = [name, path, shared](RouteRequest request) -> asio::awaitable<ServerResponse> {
      Resolved resolved = resolve(name, path, *shared);
      if (resolved.answer) co_return std::move(*resolved.answer);
      ServerResponse response = co_await resolved.route->handle(std::move(request));
      co_return response;
    };
    route.refused = [name, path, shared](const std::string& client, bool authenticated,
                                         const std::string& reason) {
      Resolved resolved = resolve(name, path, *shared);
      if (resolved.route && resolved.route->refused) {
        resolved.route->refused(client, authenticated, reason);
      }
    };
    wrapped.push_back(std::move(route));
  }
  return wrapped;
}

}  // namespace tack
