#include "gateways/reports.hpp"

#include <chrono>
#include <ctime>

#include <fmt/format.h>

#include "digest.hpp"
#include "event.hpp"
#include "http/router.hpp"
#include "text.hpp"

namespace tack {

namespace {

using status = beast_http::status;
using field = beast_http::field;

constexpr std::size_t kMaxFields = 200;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else {
      out += c;
    }
  }
  if (!valid_utf8(out)) return std::nullopt;
  return out;
}

std::string_view sv(boost::beast::string_view text) { return {text.data(), text.size()}; }

}  // namespace

std::string receipt_path(const std::string& gateway) { return "/v1/receipts/" + gateway; }
std::string inbound_path(const std::string& gateway) { return "/v1/inbound/" + gateway; }

std::optional<std::map<std::string, std::string>> parse_form(std::string_view body) {
  std::map<std::string, std::string> fields;
  std::size_t count = 0;
  while (!body.empty()) {
    const auto amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (pair.empty()) continue;
    if (++count > kMaxFields) return std::nullopt;
    const auto eq = pair.find('=');
    auto name = percent_decode(pair.substr(0, eq));
    auto value = percent_decode(eq == std::string_view::npos ? std::string_view()
                                                            : pair.substr(eq + 1));
    if (!name || !value || name->empty()) return std::nullopt;
    fields[std::move(*name)] = std::move(*value);
  }
  return fields;
}

std::optional<std::map<std::string, std::string>> parse_query(std::string_view target) {
  const auto question = target.find('?');
  if (question == std::string_view::npos) return std::map<std::string, std::string>{};
  return parse_form(target.substr(question + 1));
}

std::optional<std::pair<std::string, std::string>> basic_credentials(
    const ServerRequest& request) {
  const std::string_view header = sv(request[field::authorization]);
  constexpr std::string_view kScheme = "Basic ";
  if (header.size() <= kScheme.size() || lowercase(header.substr(0, kScheme.size())) != "basic ") {
    return std::nullopt;
  }
  const auto decoded = base64_decode(trim(header.substr(kScheme.size())));
  if (!decoded) return std::nullopt;
  const auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::pair{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

std::string callback_url(const std::string& public_url, const std::string& path,
                         const std::string& user, const std::string& password) {
  if (public_url.empty()) return {};
  if (user.empty()) return public_url + path;
  const auto scheme_end = public_url.find("://");
  if (scheme_end == std::string::npos) return public_url + path;
  return public_url.substr(0, scheme_end + 3) + url_encode(user) + ":" + url_encode(password) +
         "@" + public_url.substr(scheme_end + 3) + path;
}

Verification verify_basic(const ServerRequest& request, const std::string& user,
                          const std::string& password) {
  const auto given = basic_credentials(request);
  if (!given) return Verification::missing("no Basic credentials");
  // Both compared in full, whatever the first says, so the time tells nothing.
  const bool user_ok = constant_time_equal(given->first, user);
  const bool password_ok = constant_time_equal(given->second, password);
  if (!user_ok || !password_ok) return Verification::forged("wrong Basic credentials");
  return Verification::ok();
}

std::optional<std::int64_t> parse_provider_time(std::string_view text) {
  std::string value = trim(text);
  if (value.empty() || value.size() > 40) return std::nullopt;
  // Unix seconds, with a fraction (Mailgun's "1733392934.123", SendGrid's 1733392934).
  const auto found = value.find_first_not_of("0123456789");
  const std::size_t digits_end = found == std::string::npos ? value.size() : found;
  if (digits_end >= 9 && digits_end <= 11) {
    const bool plain = digits_end == value.size();
    const bool fraction = !plain && value[digits_end] == '.' &&
                          value.find_first_not_of("0123456789", digits_end + 1) ==
                              std::string::npos;
    if (plain || fraction) {
      std::int64_t ms = std::stoll(value.substr(0, digits_end)) * 1000;
      if (fraction) {
        std::string part = value.substr(digits_end + 1, 3);
        part.resize(3, '0');
        ms += std::stoi(part);
      }
      return ms;
    }
  }
  // A time without a zone is UTC, as 46elks and Sinch send it.
  const char last = value.back();
  const bool offset = value.size() >= 25 && (value[value.size() - 6] == '+' ||
                                             value[value.size() - 6] == '-') &&
                      value[value.size() - 3] == ':';
  if (last != 'Z' && last != 'z' && !offset) value += 'Z';
  return parse_rfc3339_ms(value);
}

Route report_route(ReportRoute spec, ProviderReports& reports) {
  auto shared = std::make_shared<ReportRoute>(std::move(spec));
  Route route;
  route.method = shared->method;
  route.path = shared->path;
  route.auth = RouteAuth::Own;
  // The signature covers the body, so the head alone proves nothing; only
  // its size is checked before the body is read.
  route.admit = [shared](const ServerRequestHeader&) {
    Admission admission;
    admission.max_body = shared->max_body;
    return admission;
  };
  route.refused = [shared, &reports](const std::string& client, bool,
                                     const std::string& reason) {
    reports.refused(shared->gateway, shared->what, client, reason);
  };
  route.handle = [shared, &reports](RouteRequest call) -> asio::awaitable<ServerResponse> {
    const ReportRoute& spec = *shared;
    const Verification verified = spec.verify(call.request);
    if (!verified.refusal.empty()) {
      reports.refused(spec.gateway, spec.what, call.client, verified.refusal);
      if (verified.bad_credentials) {
        co_return error_response(status::forbidden, "refused: " + verified.refusal);
      }
      co_return unauthorized("Basic", "refused: " + verified.refusal);
    }
    ParsedReports parsed = spec.parse(call.request);
    if (!parsed.error.empty()) {
      reports.refused(spec.gateway, spec.what, call.client, "malformed: " + parsed.error);
      co_return error_response(status::bad_request, parsed.error);
    }
    bool failed = false;
    std::size_t unknown = 0;
    for (auto& receipt : parsed.receipts) {
      receipt.gateway = spec.gateway;
      auto verdict = co_await reports.receipt(std::move(receipt));
      if (!verdict) {
        failed = true;
      } else if (*verdict == ReceiptVerdict::Unknown) {
        ++unknown;
      }
    }
    for (auto& reply : parsed.replies) {
      reply.gateway = spec.gateway;
      auto verdict = co_await reports.inbound(std::move(reply));
      if (!verdict) failed = true;
    }
    if (failed) {
      co_return store_unavailable("the delivery log could not record a " + spec.what);
    }
    // One report about a message tack never sent through this gateway: the
    // provider is told so (a batch is taken whole: its other reports count).
    if (unknown > 0 && unknown == parsed.receipts.size() && parsed.replies.empty()) {
      co_return error_response(spec.unknown_status,
                               "no message sent through gateway " + spec.gateway +
                                   " has this provider id");
    }
    ServerResponse response{status::ok, call.request.version()};
    response.set(field::content_type, spec.ok_content_type);
    response.body() = spec.ok_body;
    response.prepare_payload();
    co_return response;
  };
  return route;
}

}  // namespace tack
