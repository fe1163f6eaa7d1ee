#include "http/router.hpp"

#include <date/date.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>

#include <sys/resource.h>
#include <unistd.h>

#include "api_json.hpp"
#include "clock.hpp"
#include "event.hpp"
#include "gateways/http.hpp"
#include "intake.hpp"
#include "log.hpp"
#include "metrics.hpp"
#include "mime.hpp"
#include "phone.hpp"
#include "store/store.hpp"
#include "web_assets.hpp"
#include "text.hpp"

namespace tack {

namespace {

using beast_http::field;
using beast_http::status;
using beast_http::verb;

// A request of a support page or the API carries no body worth more.
constexpr std::uint64_t kSmallBody = 16 * 1024;
// Password checks waiting for their thread, from all addresses; beyond
// this, 429 (one address has at most SignInLimiter::kAddressChecksAtOnce).
constexpr int kMaxPendingPasswordChecks = 32;
// How long a sign-in waits for its address's turn (kAddressChecksAtOnce)
// before it is answered 429.
constexpr std::chrono::seconds kBusySignInWait{10};
// The password thread's nice value: intake and sending go first.
constexpr int kPasswordNice = 10;

// "192.0.2.7:5123" or "[2001:db8::1]:5123" -> the address alone.
std::string address_of(const std::string& client) {
  if (!client.empty() && client.front() == '[') {
    const auto close = client.find(']');
    return close == std::string::npos ? client : client.substr(1, close - 1);
  }
  const auto colon = client.rfind(':');
  if (colon == std::string::npos || client.find(':') != colon) return client;  // no port
  return client.substr(0, colon);
}

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 500;
constexpr std::size_t kMaxIdBytes = 200;

// Beast 1.74 speaks boost::string_view.
std::string_view sv(boost::beast::string_view text) { return {text.data(), text.size()}; }
boost::beast::string_view bsv(std::string_view text) { return {text.data(), text.size()}; }

std::string dump(const nlohmann::json& value) {
  // The store holds what providers answered; never let a stray byte throw.
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ServerResponse text_response(status code, std::string body, std::string_view content_type) {
  ServerResponse response{code, 11};
  response.set(field::content_type, bsv(content_type));
  response.body() = std::move(body);
  return response;
}

bool same_text_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Whether a health request may skip the password: its peer is in
// http.health_from, it did not come through a proxy (whose own clients may
// be anyone), and its Host is an IP literal, localhost or one of
// http.hosts, which a page on a rebinding domain cannot send.
bool open_health_request(const HttpConfig& config, const ServerRequest& request,
                         const std::string& address) {
  const bool from_allowed =
      std::any_of(config.health_from.begin(), config.health_from.end(),
                  [&](const AddressRange& range) { return range_contains(range, address); });
  if (!from_allowed) return false;
  for (const char* proxied : {"Forwarded", "X-Forwarded-For", "X-Real-IP", "X-Forwarded-Host"}) {
    if (request.find(proxied) != request.end()) return false;
  }
  std::string host(sv(request[field::host]));
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string::npos) return false;
    host = host.substr(1, close - 1);
  } else if (const auto colon = host.find(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  host = lowercase(host);
  if (host.empty()) return false;
  return host == "localhost" || parse_address_range(host).has_value() ||
         std::find(config.hosts.begin(), config.hosts.end(), host) != config.hosts.end();
}

ServerResponse wrong_method(verb allowed) {
  auto response = error_response(
      status::method_not_allowed,
      std::string("this path takes ") + std::string(beast_http::to_string(allowed)) + " only");
  response.set(field::allow, beast_http::to_string(allowed));
  return response;
}

std::optional<std::int64_t> parse_id(std::string_view text) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || value <= 0) return std::nullopt;
  return value;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX escapes (and '+' as a space in a query); nullopt on a bad escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool has_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

// "2026-11-22T10:15:00Z" or a duration back from now ("24h").
std::optional<std::int64_t> time_param(const std::string& value, std::int64_t now_ms) {
  if (auto ms = parse_rfc3339_ms(value)) return ms;
  if (auto d = parse_duration(value)) return now_ms - d->count();
  return std::nullopt;
}

std::optional<OperatorVerb> parse_verb(const std::string& name) {
  for (auto v : kAllVerbs) {
    if (to_string(v) == name) return v;
  }
  return std::nullopt;
}

}  // namespace

// ---- helpers ---------------------------------------------------------------

Target parse_target(std::string_view target) {
  Target out;
  if (target.empty() || target.front() != '/') {
    out.error = "the request target must be a path starting with /";
    return out;
  }
  const auto question = target.find('?');
  const std::string_view path = target.substr(0, question);
  out.path = std::string(path);
  std::size_t start = 1;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    auto decoded = percent_decode(path.substr(start, slash - start), false);
    if (!decoded || !valid_utf8(*decoded) || has_control(*decoded)) {
      out.error = "the path has a bad %-escape, control characters or bytes that are not UTF-8";
      return out;
    }
    if (!(slash == path.size() && decoded->empty())) out.segments.push_back(std::move(*decoded));
    start = slash + 1;
  }
  if (question == std::string_view::npos) return out;
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    auto key = percent_decode(part.substr(0, eq), true);
    auto value = percent_decode(eq == std::string_view::npos ? "" : part.substr(eq + 1), true);
    if (!key || !value || !valid_utf8(*key) || !valid_utf8(*value) || has_control(*key) ||
        has_control(*value)) {
      out.error = "the query has a bad %-escape, control characters or bytes that are not UTF-8";
      return out;
    }
    out.query.emplace_back(std::move(*key), std::move(*value));
  }
  return out;
}

bool is_static_path(std::string_view path) {
  if (path.empty() || path.front() != '/' || path.size() > 256) return false;
  if (path == "/") return true;
  std::size_t start = 1;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    const auto segment = path.substr(start, slash - start);
    if (segment.empty() || segment == "." || segment == "..") return false;
    for (unsigned char c : segment) {
      if (!(std::isalnum(c) || c == '.' || c == '_' || c == '~' || c == '-')) return false;
    }
    start = slash + 1;
  }
  return true;
}

std::optional<ServerResponse> cross_site_refusal(const ServerRequest& request) {
  auto refuse = [](std::string why) {
    return error_response(status::forbidden,
                          why + "; requests that change messages come from tack's own page or "
                                "carry the header " + std::string(kRequestProofHeader) +
                                " (docs/http-api.md)");
  };
  // A browser says where the request comes from; "none": the person typed
  // the address (a form cannot POST that way, but nothing to refuse).
  const auto site = sv(request["Sec-Fetch-Site"]);
  if (!site.empty() && site != "same-origin" && site != "none") {
    return refuse("a request from another site (Sec-Fetch-Site: " +
                  std::string(site.substr(0, 40)) + ")");
  }
  const auto origin = sv(request[field::origin]);
  if (!origin.empty()) {
    // Only the host and port: behind a TLS proxy the page is https while
    // tackd hears http.
    std::string_view host = origin;
    const auto scheme_end = host.find("://");
    if (scheme_end == std::string_view::npos) {
      return refuse("a request from an opaque origin (Origin: " +
                    std::string(origin.substr(0, 60)) + ")");
    }
    host.remove_prefix(scheme_end + 3);
    const auto expected = sv(request[field::host]);
    if (expected.empty() || !same_text_ignoring_case(host, expected)) {
      return refuse("a request from another origin (Origin: " +
                    std::string(origin.substr(0, 60)) + ")");
    }
  }
  if (request[bsv(kRequestProofHeader)].empty()) {
    return refuse("the header " + std::string(kRequestProofHeader) + " is missing");
  }
  return std::nullopt;
}

ServerResponse error_response(status code, std::string message) {
  return json_response(code, {{"error", std::move(message)}});
}

ServerResponse json_response(status code, const nlohmann::json& value) {
  return text_response(code, dump(value) + "\n", "application/json");
}

ServerResponse unauthorized(std::string_view scheme, std::string message) {
  auto response = error_response(status::unauthorized, std::move(message));
  response.set(field::www_authenticate,
               std::string(scheme) + " realm=\"tack\"" +
                   (scheme == "Basic" ? ", charset=\"UTF-8\"" : ""));
  return response;
}

ServerResponse store_unavailable(const std::string& error) {
  log::warning("http: store: {}", error);
  auto response = error_response(status::service_unavailable,
                                 "the store cannot write: nothing was committed; try again later");
  response.set(field::retry_after, "5");
  return response;
}

void log_worker_failure(const char* what) { log::error("http: worker task failed: {}", what); }

void finish_response(ServerResponse& response, unsigned version, bool keep_alive) {
  response.version(version);
  response.keep_alive(keep_alive);
  // Personal data and the page that shows it: never cached, never framed,
  // never sniffed into something else, no referrer leaving the page. The
  // CSP also keeps forms posting to tackd alone and allows no <base> that
  // would point the page's relative URLs elsewhere.
  response.set(field::cache_control, "no-store");
  response.set("Content-Security-Policy",
               "default-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'");
  response.set("X-Content-Type-Options", "nosniff");
  response.set("Referrer-Policy", "no-referrer");
  response.set("X-Frame-Options", "DENY");
  response.prepare_payload();
}

// ---- the router ------------------------------------------------------------

Router::Router(HttpContext context, HttpConfig config, asio::thread_pool& worker)
    : context_(std::move(context)),
      config_(std::make_shared<const HttpConfig>(config)),
      worker_(worker),
      users_(config.users),
      passwords_(std::make_unique<asio::thread_pool>(1)) {
  // Hashing passwords is slow on purpose; a flood of them must not take
  // the CPU that intake and sending need.
  asio::post(*passwords_, [] {
    (void)setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kPasswordNice);
  });
}

// The shop's time zone (locale.timezone), in which the page shows times.
std::string Router::shop_timezone() const {
  auto snapshot = context_.intake.snapshot();
  return snapshot ? snapshot->config.default_timezone : Config{}.default_timezone;
}

Limits Router::limits() const {
  auto snapshot = context_.intake.snapshot();
  return snapshot ? snapshot->config.limits : Limits{};
}

void Router::set_config(HttpConfig config) {
  users_.set_users(config.users);
  config_ = std::make_shared<const HttpConfig>(std::move(config));
}

void Router::mount(Route route) {
  const Target target = parse_target(route.path);
  const bool own_path = !target.error.empty() || target.segments.empty() ||
                        (target.segments.size() == 1 &&
                         (target.segments[0] == "livez" || target.segments[0] == "readyz" ||
                          target.segments[0] == "metrics")) ||
                        (target.segments[0] == "v1" && target.segments.size() > 1 &&
                         (target.segments[1] == "messages" || target.segments[1] == "orders")) ||
                        target.segments[0] != "v1";
  if (own_path) {
    throw std::logic_error("http: a plugin cannot mount " + route.path +
                           ": plugins' routes live under /v1/ beside tackd's own");
  }
  if (const Route* same = mounted(route.path, route.method); same && same->method == route.method) {
    throw std::logic_error("http: " + route.path + " is mounted twice");
  }
  if (!route.handle || (route.auth == RouteAuth::Own && !route.admit)) {
    throw std::logic_error("http: the route " + route.path + " has no handler or no admit()");
  }
  routes_.push_back(std::move(route));
}

const Route* Router::mounted(std::string_view path, std::optional<verb> method) const {
  const Route* first = nullptr;
  for (const auto& route : routes_) {
    if (route.path != path) continue;
    if (!method || route.method == *method) return &route;
    if (!first) first = &route;
  }
  return first;
}

Router::BodyPlan Router::plan_body(const ServerRequestHeader& header, bool) const {
  BodyPlan plan;
  plan.limit = kSmallBody;
  const Target target = parse_target(sv(header.target()));
  const Route* route = target.error.empty() ? mounted(target.path, header.method()) : nullptr;
  if (route && header.method() == route->method) {
    plan.route = route;
    if (route->auth == RouteAuth::Own) {
      Admission admission = route->admit(header);
      plan.authenticated = admission.authenticated;
      if (admission.answer) {
        plan.answer = std::move(admission.answer);
        plan.refusal = std::move(admission.refusal);
        return plan;
      }
      plan.limit = admission.max_body;
    } else {
      plan.limit = route->max_body;
    }
  } else if (target.error.empty() && is_support_action(target.segments)) {
    plan.limit = kSupportActionBody;
  }
  if (auto length = sv(header[field::content_length]); !length.empty()) {
    std::uint64_t declared = 0;
    auto [ptr, ec] = std::from_chars(length.data(), length.data() + length.size(), declared);
    if (ec == std::errc::result_out_of_range || (ec == std::errc{} && declared > plan.limit)) {
      plan.answer = error_response(status::payload_too_large,
                                   "the body is larger than " + std::to_string(plan.limit) +
                                       " bytes");
      plan.refusal = fmt::format(
          "a body of {} bytes by its Content-Length, more than the route's limit {} (413); not "
          "read",
          ec == std::errc{} ? std::to_string(declared) : std::string(length.substr(0, 32)),
          plan.limit);
    }
  }
  return plan;
}

void Router::note_refused(const BodyPlan& plan, const std::string& client,
                          const std::string& reason) const {
  if (plan.route && plan.route->refused) plan.route->refused(client, plan.authenticated, reason);
}

asio::awaitable<ServerResponse> Router::handle(ServerRequest request, bool loopback,
                                               std::string client) {
  try {
    co_return co_await route(request, loopback, client);
  } catch (const std::exception& e) {
    log::error("http: {} {} failed: {}", std::string(request.method_string()),
               parse_target(sv(request.target())).path, e.what());
  }
  co_return error_response(status::internal_server_error, "internal error; see tackd's log");
}

asio::awaitable<ServerResponse> Router::route(const ServerRequest& request, bool loopback,
                                              const std::string& client) {
  const Target target = parse_target(sv(request.target()));
  if (!target.error.empty()) co_return error_response(status::bad_request, target.error);
  const auto& s = target.segments;
  const verb method = request.method();

  // Health and metrics: open to this host's monitoring when configured.
  if (s.size() == 1 && (s[0] == "livez" || s[0] == "readyz" || s[0] == "metrics")) {
    if (method != verb::get) co_return wrong_method(verb::get);
    if (!open_health_request(*config_, request, address_of(client))) {
      auto auth = co_await authenticate_user(request, client);
      if (auth.refusal) co_return std::move(*auth.refusal);
    }
    if (s[0] == "livez") co_return text_response(status::ok, "ok\n", "text/plain; charset=utf-8");
    if (s[0] == "readyz") co_return readiness();
    co_return co_await metrics();
  }

  if (const Route* mounted_route = mounted(target.path, method)) {
    if (method != mounted_route->method) co_return wrong_method(mounted_route->method);
    std::optional<std::string> user;
    if (mounted_route->auth == RouteAuth::SupportUser) {
      if (method != verb::get && method != verb::head) {
        if (auto refused = cross_site_refusal(request)) co_return std::move(*refused);
      }
      auto auth = co_await authenticate_user(request, client);
      if (auth.refusal) co_return std::move(*auth.refusal);
      user = std::move(auth.user);
    }
    // Named, not a temporary in the co_await expression: GCC 12 destroys
    // such a temporary twice.
    RouteRequest call{request, client, loopback, std::move(user), draining_, worker_};
    auto answer = mounted_route->handle(std::move(call));
    co_return co_await std::move(answer);
  }

  if (is_support_action(s)) co_return co_await support_action(s, request, client);

  if (!s.empty() && s[0] == "v1") {
    const bool messages = s.size() >= 2 && s.size() <= 4 && s[1] == "messages";
    const bool orders = s.size() == 3 && s[1] == "orders";
    if (messages && s.size() == 4 && !parse_verb(s[3])) {
      co_return error_response(status::not_found, "no such API path");
    }
    if (!messages && !orders) co_return error_response(status::not_found, "no such API path");
    const verb wanted = messages && s.size() == 4 ? verb::post : verb::get;
    if (method != wanted) co_return wrong_method(wanted);
    if (wanted == verb::post) {
      // Before the password check: a forged request costs no hashing.
      if (auto refused = cross_site_refusal(request)) co_return std::move(*refused);
      if (!request[field::content_type].empty()) {
        co_return error_response(status::unsupported_media_type,
                                 "the verbs take no body (and no Content-Type)");
      }
      if (!request.body().empty()) co_return error_response(status::bad_request, "the verbs take no body");
    }
    auto auth = co_await authenticate_user(request, client);
    if (auth.refusal) co_return std::move(*auth.refusal);
    if (orders) {
      if (s[2].empty() || s[2].size() > kMaxIdBytes) {
        co_return error_response(status::not_found, "no such order");
      }
      co_return co_await order(s[2]);
    }
    if (s.size() == 2) co_return co_await list_messages(target.query);
    auto id = parse_id(s[2]);
    if (!id) co_return error_response(status::not_found, "no such message: ids are numbers");
    if (s.size() == 3) co_return co_await one_message(*id);
    co_return co_await operator_verb(*id, s[3], *auth.user);
  }

  // The support page's files.
  if (method != verb::get) co_return wrong_method(verb::get);
  auto auth = co_await authenticate_user(request, client);
  if (auth.refusal) co_return std::move(*auth.refusal);
  std::optional<WebAsset> asset;
  if (is_static_path(target.path)) asset = find_web_asset(target.path);
  if (!asset) co_return error_response(status::not_found, "no such page");
  co_return text_response(status::ok, std::string(asset->body), asset->content_type);
}

asio::awaitable<Router::Auth> Router::authenticate_user(const ServerRequest& request,
                                                        const std::string& client) {
  Auth auth;
  const auto header = sv(request[field::authorization]);
  const char* ask = "sign in with a support user's name and password (HTTP Basic)";
  if (users_.users()->empty()) {
    // Not a wrong password: nobody can sign in until http.users has one.
    auth.refusal = json_response(status::unauthorized,
                                 {{"error", "no support users are configured: add one under "
                                            "http.users in tackd's config and reload"},
                                  {"code", "no_users"}});
    auth.refusal->set(field::www_authenticate, "Basic realm=\"tack\", charset=\"UTF-8\"");
    co_return auth;
  }
  if (header.empty()) {
    auth.refusal = unauthorized("Basic", ask);
    co_return auth;
  }
  const auto now = UserAuth::Clock::now();
  if (auto user = users_.cached(header, now)) {
    auth.user = std::move(user);
    co_return auth;
  }
  const std::string address = address_of(client);
  const auto credentials = parse_basic_authorization(header);
  // The name as given (for the limiter and the log); never the password.
  const std::string name = credentials ? credentials->user.substr(0, 64) : std::string();
  auto throttled = [&](std::chrono::seconds retry_after, const std::string& why) {
    context_.metrics.sign_in_refused("throttled");
    auth.refusal = error_response(status::too_many_requests,
                                  why + "; try again in " + std::to_string(retry_after.count()) +
                                      " s");
    auth.refusal->set(field::retry_after, std::to_string(retry_after.count()));
  };
  if (pending_password_checks_ >= kMaxPendingPasswordChecks) {
    throttled(std::chrono::seconds(1), "too many sign-ins at once");
    co_return auth;
  }
  auto verdict = sign_ins_.begin(address, name, now);
  // Busy (this address's checks run already): wait for a turn, a while at
  // most, rather than refuse people who typed the right password at once.
  // A flood waits too, and its connections are bounded per client.
  const auto give_up = now + kBusySignInWait;
  while (!verdict.allowed && verdict.busy && UserAuth::Clock::now() < give_up) {
    asio::steady_timer turn(co_await asio::this_coro::executor, std::chrono::milliseconds(20));
    error_code ignored;
    co_await turn.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    const auto later = UserAuth::Clock::now();
    // Another request with the same header may have been checked meanwhile.
    if (auto user = users_.cached(header, later)) {
      auth.user = std::move(user);
      co_return auth;
    }
    verdict = sign_ins_.begin(address, name, later);
  }
  if (!verdict.allowed) {
    throttled(verdict.retry_after, verdict.why);
    co_return auth;
  }
  auto users = users_.users();
  auto verify = [users, header = std::string(header)] { return UserAuth::verify(*users, header); };
  ++pending_password_checks_;
  auto user = co_await offload<std::optional<std::string>>(*passwords_, std::move(verify));
  --pending_password_checks_;
  const auto done = UserAuth::Clock::now();
  const auto paused = sign_ins_.finish(address, name, user.has_value(), done);
  if (!user) {
    context_.metrics.sign_in_refused("password");
    note_wrong_password(address, name, paused, done);
    auth.refusal = unauthorized("Basic", "wrong user name or password");
    co_return auth;
  }
  // A reload while the hash ran may have removed the user: then this
  // answer stands, but it is not remembered.
  if (users == users_.users()) users_.remember(header, *user, now);
  auth.user = std::move(user);
  co_return auth;
}

void Router::note_wrong_password(const std::string& address, const std::string& name,
                                 std::chrono::seconds paused,
                                 std::chrono::steady_clock::time_point now) {
  // One line a minute per address at most, with the count since the last
  // one, and always when a pause begins; never the password.
  auto& [count, last] = failure_log_[address];
  ++count;
  if (paused.count() == 0 && last.time_since_epoch().count() != 0 &&
      now - last < std::chrono::minutes(1)) {
    return;
  }
  if (paused.count() > 0) {
    log::warning("http: wrong password for user \"{}\" from {} ({} since the last line); "
                 "sign-ins from there or for that name pause for {} s",
                 name, address, count, paused.count());
  } else {
    log::warning("http: wrong password for user \"{}\" from {} ({} since the last line)", name,
                 address, count);
  }
  count = 0;
  last = now;
  if (failure_log_.size() > SignInLimiter::kMaxTracked) {
    for (auto it = failure_log_.begin(); it != failure_log_.end();) {
      it = now - it->second.second >= std::chrono::minutes(1) ? failure_log_.erase(it)
                                                              : std::next(it);
    }
  }
}

asio::awaitable<ServerResponse> Router::list_messages(
    const std::vector<std::pair<std::string, std::string>>& query) {
  const auto now = wall_ms();
  MessageSearch search;
  search.limit = kDefaultPageSize;
  std::vector<std::string> seen;
  // Not a structured binding: clang 14 (the sanitizer build) cannot capture
  // one in the lambda below.
  for (const auto& parameter : query) {
    const std::string& key = parameter.first;
    const std::string& raw = parameter.second;
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      co_return error_response(status::bad_request, "query parameter " + key + " is given twice");
    }
    seen.push_back(key);
    const std::string value = trim(raw, " \t");
    auto bad = [&](const std::string& what) {
      return error_response(status::bad_request, key + " expects " + what);
    };
    if (key == "order_id") {
      if (value.empty() || value.size() > kMaxIdBytes) co_return bad("an order id");
      search.order_id = value;
    } else if (key == "to") {
      if (value.empty() || value.size() > 254) co_return bad("a phone number or e-mail address");
      // Support types numbers the way customers say them: "070-123 45 67",
      // and a national number may be another country's: every form it may
      // be stored in.
      search.recipient_typed = value;
      search.recipients =
          value.find('@') == std::string::npos
              ? phone_search_forms(value, context_.intake.snapshot()->config.default_region)
              : std::vector<std::string>{value};
    } else if (key == "status") {
      search.state = parse_state(value);
      if (!search.state) co_return bad("a message state such as sent or retry_wait");
    } else if (key == "since" || key == "until") {
      auto at = time_param(value, now);
      if (!at || *at <= 0) {
        co_return bad("an RFC 3339 time after 1970 (2026-11-22T10:15:00Z) or a duration like 24h");
      }
      (key == "since" ? search.since_ms : search.until_ms) = *at;
    } else if (key == "limit") {
      auto n = parse_id(value);
      if (!n || *n > kMaxPageSize) {
        co_return bad("a number from 1 to " + std::to_string(kMaxPageSize));
      }
      search.limit = static_cast<int>(*n);
    } else if (key == "before") {
      auto id = parse_id(value);
      if (!id) co_return bad("a message id");
      search.before_id = *id;
    } else {
      co_return error_response(status::bad_request,
                               "unknown query parameter " + key +
                                   " (known: order_id, to, status, since, until, limit, before)");
    }
  }

  auto executor = co_await asio::this_coro::executor;
  std::function<MessagePage(StoreReader&)> fn = [search](StoreReader& r) {
    return r.search_messages(search);
  };
  std::string error;
  auto page = co_await context_.store.read<MessagePage>(executor, std::move(fn), &error);
  if (!page) co_return store_unavailable(error);

  nlohmann::json messages = nlohmann::json::array();
  for (const auto& m : page->messages) messages.push_back(message_json(m, false));
  nlohmann::json next = nullptr;
  if (page->more && !page->messages.empty()) {
    // The same filters, times made absolute so the pages do not drift.
    std::string link = "/v1/messages?";
    auto add = [&link](const char* key, const std::string& value) {
      link += std::string(key) + "=" + url_encode(value) + "&";
    };
    if (search.order_id) add("order_id", *search.order_id);
    if (!search.recipients.empty()) add("to", search.recipient_typed);
    if (search.state) add("status", std::string(to_string(*search.state)));
    if (search.since_ms) add("since", time_json(*search.since_ms).get<std::string>());
    if (search.until_ms) add("until", time_json(*search.until_ms).get<std::string>());
    add("limit", std::to_string(search.limit));
    link += "before=" + std::to_string(page->messages.back().id);
    next = link;
  }
  co_return json_response(status::ok,
                          {{"messages", messages}, {"next", next}, {"timezone", shop_timezone()}});
}

asio::awaitable<ServerResponse> Router::one_message(std::int64_t id) {
  auto executor = co_await asio::this_coro::executor;
  std::function<std::vector<MessageView>(StoreReader&)> fn = [id](StoreReader& r) {
    MessageQuery q;
    q.message_id = id;
    q.limit = 1;
    return r.find_messages(q);
  };
  std::string error;
  auto found = co_await context_.store.read<std::vector<MessageView>>(executor, std::move(fn),
                                                                      &error);
  if (!found) co_return store_unavailable(error);
  if (found->empty()) co_return error_response(status::not_found, "no such message");
  co_return json_response(status::ok, message_json(found->front(), true));
}

asio::awaitable<ServerResponse> Router::operator_verb(std::int64_t id, const std::string& verb_name,
                                                    const std::string& user) {
  struct Done {
    bool found = false;
    OperatorResult result;
    std::optional<MessageView> message;
  };
  const std::string actor = "http:" + user;
  auto executor = co_await asio::this_coro::executor;
  const OperatorVerb verb = parse_verb(verb_name).value_or(OperatorVerb::Retry);  // checked by route
  std::function<Done(StoreTx&)> fn = [id, verb, actor, now = wall_ms()](StoreTx& tx) {
    Done done;
    MessageQuery q;
    q.message_id = id;
    q.limit = 1;
    if (tx.find_messages(q).empty()) return done;
    done.found = true;
    done.result = tx.operator_verb(verb, id, actor, now);
    auto after = tx.find_messages(q);
    if (!after.empty()) done.message = std::move(after.front());
    return done;
  };
  std::string error;
  auto done = co_await context_.store.call<Done>(executor, std::move(fn), &error);
  if (!done) co_return store_unavailable(error);
  if (!done->found) co_return error_response(status::not_found, "no such message");
  if (!done->result.error.empty()) co_return error_response(status::conflict, done->result.error);
  log::info("http: message {}: {} by {}", id, verb_name, actor);
  // A retried or released message is due now; the dispatcher need not
  // wait for its next look.
  if (context_.wake_dispatcher) context_.wake_dispatcher();
  nlohmann::json body = {{"changed", done->result.changed}};
  body["message"] = done->message ? message_json(*done->message, true) : nlohmann::json(nullptr);
  co_return json_response(status::ok, body);
}

namespace {

// The order page's JSON (docs/http-api.md), built on the store's reader
// thread: a large order must not hold up the event loop.
std::string timeline_json(const OrderTimeline& t, const std::string& timezone) {
  return dump(order_json(t, timezone)) + "\n";
}

}  // namespace

asio::awaitable<ServerResponse> Router::order(const std::string& order_id) {
  auto executor = co_await asio::this_coro::executor;
  std::function<std::optional<std::string>(StoreReader&)> fn =
      [order_id, timezone = shop_timezone()](StoreReader& r) {
    auto timeline = r.order_timeline(order_id);
    return timeline ? std::optional<std::string>(timeline_json(*timeline, timezone))
                    : std::nullopt;
  };
  std::string error;
  auto found = co_await context_.store.read<std::optional<std::string>>(executor, std::move(fn),
                                                                        &error);
  if (!found) co_return store_unavailable(error);
  if (!*found) co_return error_response(status::not_found, "tack knows nothing of this order");
  co_return text_response(status::ok, std::move(**found), "application/json");
}

// ---- support actions (issue 15) --------------------------------------------

bool is_support_action(const std::vector<std::string>& s) {
  return s.size() == 4 && s[0] == "v1" &&
         ((s[1] == "messages" && s[3] == "resend") ||
          (s[1] == "orders" && (s[3] == "contact" || s[3] == "notes")));
}

std::optional<std::string> typed_text(const nlohmann::json& value, std::string_view name,
                                      std::size_t max_chars, bool multiline, std::string& why) {
  const std::string field(name);
  if (value.is_null()) {
    why = field + " is missing";
    return std::nullopt;
  }
  if (!value.is_string()) {
    why = field + " must be a string";
    return std::nullopt;
  }
  const std::string text = trim(value.get<std::string>(), multiline ? " \t\r\n" : " \t");
  if (text.empty()) {
    why = field + " must not be empty";
    return std::nullopt;
  }
  if (!valid_utf8(text)) {
    why = field + " is not UTF-8";
    return std::nullopt;
  }
  std::size_t chars = 0;
  for (unsigned char c : text) {
    if ((c < 0x20 && !(multiline && c == '\n')) || c == 0x7f) {
      why = field + (multiline ? " may hold no control characters but line breaks"
                               : " must be one line without control characters");
      return std::nullopt;
    }
    if ((c & 0xC0) != 0x80) ++chars;
  }
  if (chars > max_chars) {
    why = field + " is " + std::to_string(chars) + " characters; at most " +
          std::to_string(max_chars);
    return std::nullopt;
  }
  return text;
}

namespace {

// Each channel's first gateway in the running config: a copy starts there.
FirstGateways first_gateways(const Config& config) {
  FirstGateways heads;
  for (const auto& [name, channel] : config.channels) {
    if (!channel.gateways.empty()) heads[name] = channel.gateways.front();
  }
  return heads;
}

// The media type of a Content-Type, lower case, without its parameters.
std::string media_type(std::string_view content_type) {
  return lowercase(trim(std::string(content_type.substr(0, content_type.find(';'))), " \t"));
}

}  // namespace

asio::awaitable<ServerResponse> Router::support_action(const std::vector<std::string>& s,
                                                       const ServerRequest& request,
                                                       const std::string& client) {
  if (request.method() != verb::post) co_return wrong_method(verb::post);
  // Before the password check: a forged request costs no hashing.
  if (auto refused = cross_site_refusal(request)) co_return std::move(*refused);
  if (media_type(sv(request[field::content_type])) != "application/json") {
    co_return error_response(status::unsupported_media_type,
                             "send the body as Content-Type: application/json");
  }
  if (request.body().size() > kSupportActionBody) {
    co_return error_response(status::payload_too_large,
                             "the body is larger than " + std::to_string(kSupportActionBody) +
                                 " bytes");
  }
  auto auth = co_await authenticate_user(request, client);
  if (auth.refusal) co_return std::move(*auth.refusal);
  const std::string& user = *auth.user;

  auto body = nlohmann::json::parse(request.body(), nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    co_return error_response(status::bad_request, "the body must be a JSON object");
  }
  const bool resend_path = s[1] == "messages";
  const bool contact_path = !resend_path && s[3] == "contact";
  const std::vector<std::string> known =
      resend_path    ? std::vector<std::string>{"reason"}
      : contact_path ? std::vector<std::string>{"phone", "email", "reason"}
                     : std::vector<std::string>{"text"};
  for (const auto& item : body.items()) {
    if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      co_return error_response(status::bad_request, "unknown field \"" +
                                                         replace_invalid_utf8(item.key().substr(0, 40)) +
                                                         "\" (known: " + list + ")");
    }
  }
  auto field_of = [&body](const char* name) {
    return body.contains(name) ? body.at(name) : nlohmann::json();
  };
  std::string why;

  if (resend_path) {
    auto id = parse_id(s[2]);
    if (!id) co_return error_response(status::not_found, "no such message: ids are numbers");
    auto reason = typed_text(field_of("reason"), "reason", kMaxReasonChars, false, why);
    if (!reason) co_return error_response(status::bad_request, why);
    co_return co_await resend(*id, *reason, user);
  }
  if (s[2].empty() || s[2].size() > kMaxIdBytes) {
    co_return error_response(status::not_found, "no such order");
  }
  if (!contact_path) {
    auto text = typed_text(field_of("text"), "text", kMaxNoteChars, true, why);
    if (!text) co_return error_response(status::bad_request, why);
    co_return co_await add_note(s[2], *text, user);
  }
  auto reason = typed_text(field_of("reason"), "reason", kMaxReasonChars, false, why);
  if (!reason) co_return error_response(status::bad_request, why);
  std::optional<std::string> phone, email;
  // 254: the longest e-mail address; a phone number as typed is shorter.
  if (!field_of("phone").is_null()) {
    phone = typed_text(field_of("phone"), "phone", 64, false, why);
    if (!phone) co_return error_response(status::bad_request, why);
  }
  if (!field_of("email").is_null()) {
    email = typed_text(field_of("email"), "email", 254, false, why);
    if (!email) co_return error_response(status::bad_request, why);
  }
  if (!phone && !email) {
    co_return error_response(status::bad_request, "give phone or email (or both), and a reason");
  }
  co_return co_await correct_contact(s[2], phone, email, *reason, user);
}

asio::awaitable<ServerResponse> Router::resend(std::int64_t id, const std::string& reason,
                                               const std::string& user) {
  struct Done {
    ResendResult result;
    std::optional<MessageView> copy;
  };
  const std::string actor = "http:" + user;
  auto snapshot = context_.intake.snapshot();
  const FirstGateways heads = first_gateways(snapshot->config);
  auto executor = co_await asio::this_coro::executor;
  std::function<Done(StoreTx&)> fn = [id, reason, actor, heads, now = wall_ms()](StoreTx& tx) {
    Done done;
    done.result = tx.resend_message(id, reason, actor, heads, now);
    if (done.result.copy_id) {
      MessageQuery q;
      q.message_id = *done.result.copy_id;
      q.limit = 1;
      auto found = tx.find_messages(q);
      if (!found.empty()) done.copy = std::move(found.front());
    }
    return done;
  };
  std::string error;
  auto done = co_await context_.store.call<Done>(executor, std::move(fn), &error);
  if (!done) co_return store_unavailable(error);
  if (!done->result.found) co_return error_response(status::not_found, "no such message");
  if (!done->result.error.empty() || !done->copy) {
    co_return error_response(status::conflict, done->result.error);
  }
  log::info("http: message {}: resent as message {} by {}", id, done->copy->id, actor);
  if (context_.wake_dispatcher) context_.wake_dispatcher();
  co_return json_response(status::created,
                          {{"message", message_json(*done->copy, true)}, {"resent_from", id}});
}

asio::awaitable<ServerResponse> Router::correct_contact(const std::string& order_id,
                                                        const std::optional<std::string>& phone,
                                                        const std::optional<std::string>& email,
                                                        const std::string& reason,
                                                        const std::string& user) {
  auto executor = co_await asio::this_coro::executor;
  // Where the customer's number belongs, as the order's events say it
  // (intake reads an event's number the same way): the newest that names
  // a country or a locale.
  struct Hints {
    bool known = false;
    std::string country, locale;
  };
  std::function<Hints(StoreReader&)> look = [order_id](StoreReader& r) {
    Hints hints;
    auto payloads = r.events_of_orders({order_id});
    for (auto it = payloads.rbegin(); it != payloads.rend(); ++it) {
      auto doc = nlohmann::json::parse(it->second, nullptr, false);
      if (doc.is_discarded() || !doc.is_object()) continue;
      const auto customer = doc.value("customer", nlohmann::json::object());
      if (!customer.is_object()) continue;
      auto text = [&customer](const char* key) {
        auto v = customer.find(key);
        return v != customer.end() && v->is_string() ? v->get<std::string>() : std::string();
      };
      hints.country = text("country");
      hints.locale = text("locale");
      if (!hints.country.empty() || !hints.locale.empty()) break;
    }
    MessageQuery q;
    q.order_id = order_id;
    q.limit = 1;
    hints.known = !payloads.empty() || !r.find_events(order_id).empty() ||
                  !r.find_messages(q).empty();
    return hints;
  };
  std::string error;
  auto hints = co_await context_.store.read<Hints>(executor, std::move(look), &error);
  if (!hints) co_return store_unavailable(error);
  if (!hints->known) co_return error_response(status::not_found, "tack knows nothing of this order");

  auto snapshot = context_.intake.snapshot();
  ContactCorrection correction;
  correction.order_id = order_id;
  correction.reason = reason;
  correction.actor = "http:" + user;
  correction.first_gateways = first_gateways(snapshot->config);
  if (phone) {
    auto number = normalize_customer_phone(
        *phone, {hints->country, hints->locale, snapshot->config.default_region});
    if (!number.ok) {
      co_return error_response(status::bad_request, "phone: invalid phone number: " + number.error);
    }
    if (number.is_fixed_line) {
      co_return error_response(status::bad_request,
                               "phone: " + number.e164 + " is a fixed line and cannot take SMS");
    }
    correction.contact.phone = number.e164;
  }
  if (email) {
    if (!plausible_email(*email)) {
      co_return error_response(status::bad_request,
                               "email: not an e-mail address tack can send to (one @, a domain "
                               "with a dot, no spaces)");
    }
    correction.contact.email = *email;
  }

  struct Done {
    ContactResult result;
    std::optional<OrderTimeline> timeline;
  };
  std::function<Done(StoreTx&)> fn = [correction, now = wall_ms()](StoreTx& tx) {
    Done done;
    done.result = tx.correct_contact(correction, now);
    if (done.result.found) done.timeline = tx.order_timeline(correction.order_id);
    return done;
  };
  auto done = co_await context_.store.call<Done>(executor, std::move(fn), &error);
  if (!done) co_return store_unavailable(error);
  if (!done->result.found || !done->timeline) {
    co_return error_response(status::not_found, "tack knows nothing of this order");
  }
  log::info("http: order {}: contact corrected by {}; {} message(s) readdressed, {} resent",
            order_id, correction.actor, done->result.updated.size(), done->result.resent.size());
  if (!done->result.resent.empty() && context_.wake_dispatcher) context_.wake_dispatcher();
  co_return json_response(status::ok, {{"order", order_json(*done->timeline, shop_timezone())},
                                       {"resent", done->result.resent},
                                       {"updated", done->result.updated}});
}

asio::awaitable<ServerResponse> Router::add_note(const std::string& order_id,
                                                 const std::string& text,
                                                 const std::string& user) {
  auto executor = co_await asio::this_coro::executor;
  std::function<std::optional<AuditEntry>(StoreTx&)> fn =
      [order_id, text, actor = "http:" + user, now = wall_ms()](StoreTx& tx) {
        return tx.add_order_note(order_id, text, actor, now);
      };
  std::string error;
  auto note =
      co_await context_.store.call<std::optional<AuditEntry>>(executor, std::move(fn), &error);
  if (!note) co_return store_unavailable(error);
  if (!*note) co_return error_response(status::not_found, "tack knows nothing of this order");
  log::info("http: order {}: note by http:{}", order_id, user);
  co_return json_response(status::created, {{"note", audit_json(**note)}});
}

asio::awaitable<ServerResponse> Router::metrics() {
  // Queue figures are read at scrape time, on a store reader so the loop
  // never waits on the store and the scrape never waits behind intake.
  const auto now = wall_ms();
  auto executor = co_await asio::this_coro::executor;
  std::function<QueueFigures(StoreReader&)> fn = [now](StoreReader& r) {
    return r.queue_figures(now);
  };
  std::string error;
  auto figures = co_await context_.store.read<QueueFigures>(executor, std::move(fn), &error);
  if (figures) {
    Metrics::Queue queue;
    for (auto state : states_where(is_queued_work)) {
      queue.by_state.emplace_back(to_string(state), (*figures)[state]);
    }
    if (figures->oldest_due_at_ms) {
      queue.oldest_due_age_seconds =
          static_cast<double>(std::max<std::int64_t>(0, now - *figures->oldest_due_at_ms)) /
          1000.0;
    }
    context_.metrics.queue(queue);
  }
  context_.metrics.store_health(context_.store.healthy());
  co_return text_response(status::ok, context_.metrics.render(),
                          "text/plain; version=0.0.4; charset=utf-8");
}

ServerResponse Router::readiness() const {
  std::string reasons;
  if (!context_.store.healthy()) {
    std::string why = context_.store.last_error();
    constexpr std::string_view kPrefix = "store cannot write: ";
    if (why.rfind(kPrefix, 0) == 0) why.erase(0, kPrefix.size());
    std::replace(why.begin(), why.end(), '\n', ' ');
    reasons += "store: cannot write: " + why + "\n";
  }
  if (draining_) reasons += "draining\n";
  // A held gateway does not make tack unready: events are still taken in
  // and kept, and its messages wait (or go to the channel's next gateway).
  // A 503 would have a load balancer turn the shop's events away. The body
  // says it; tack_gateway_held is what to alert on.
  std::string trouble;
  if (context_.gateway_trouble) {
    for (const auto& line : context_.gateway_trouble()) trouble += line + "\n";
  }
  if (reasons.empty()) {
    if (trouble.empty()) return text_response(status::ok, "ready\n", "text/plain; charset=utf-8");
    return text_response(status::ok, "ready (degraded)\n" + trouble, "text/plain; charset=utf-8");
  }
  return text_response(status::service_unavailable, reasons + trouble, "text/plain; charset=utf-8");
}

}  // namespace tack
