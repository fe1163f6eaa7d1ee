#include "gateways/http.hpp"

#include "gateways/provider.hpp"
#include "gateways/settings.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <kainjow/mustache.hpp>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "event.hpp"
#include "text.hpp"
#include "mime.hpp"

namespace tack {

namespace mustache = kainjow::mustache;

namespace {

std::string provider_id(const TransferResult& result, const std::string& message_id_field) {
  if (message_id_field.empty()) return replace_invalid_utf8(result.header("location"));
  // The provider's answer is untrusted too: its size is bounded by
  // limits.max_response_bytes (curl), its shape here.
  Limits bounds;
  bounds.max_json_depth = 64;
  bounds.max_json_values = 1 << 20;
  bounds.max_string_bytes = result.body.size();
  std::string ignored;
  const auto parsed = parse_json_bounded(result.body, bounds, ignored);
  if (!parsed) return {};
  const nlohmann::json& doc = *parsed;
  try {
    const nlohmann::json::json_pointer pointer(message_id_field);
    if (!doc.contains(pointer)) return {};
    const auto& value = doc.at(pointer);
    if (value.is_string()) return value.get<std::string>();
    if (value.is_number()) return value.dump();
  } catch (const nlohmann::json::exception&) {
    // A pointer that does not fit this document's shape (an index into an
    // object, say): the provider sent no id where we look.
  }
  return {};
}

bool is_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<int> month_number(std::string_view name) {
  static constexpr std::array<std::string_view, 12> kMonths{
      "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  if (name.size() != 3) return std::nullopt;
  const std::string lower = lowercase(std::string(name));
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (kMonths[i] == lower) return static_cast<int>(i);
  }
  return std::nullopt;
}

// The three HTTP-date forms (RFC 9110 5.6.7) share one order: day before
// year, month by name, the time as hh:mm:ss, in GMT.
std::optional<std::time_t> parse_http_date(std::string_view text) {
  std::vector<std::string_view> tokens;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == ',' || text[i] == '-')) ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != ',' && text[i] != '-') ++i;
    if (i > start) tokens.push_back(text.substr(start, i - start));
  }
  std::optional<int> month;
  std::vector<int> numbers;
  std::optional<std::array<int, 3>> clock;
  for (const auto token : tokens) {
    if (auto m = month_number(token)) {
      month = m;
    } else if (is_digits(token) && token.size() <= 4) {
      numbers.push_back(std::stoi(std::string(token)));
    } else if (token.size() == 8 && token[2] == ':' && token[5] == ':' &&
               is_digits(token.substr(0, 2)) && is_digits(token.substr(3, 2)) &&
               is_digits(token.substr(6, 2))) {
      clock = std::array<int, 3>{std::stoi(std::string(token.substr(0, 2))),
                                 std::stoi(std::string(token.substr(3, 2))),
                                 std::stoi(std::string(token.substr(6, 2)))};
    }
  }
  if (!month || !clock || numbers.size() != 2) return std::nullopt;
  int year = numbers[1];
  if (year < 100) year += year < 70 ? 2000 : 1900;  // RFC 850's two-digit years
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = *month;
  tm.tm_mday = numbers[0];
  tm.tm_hour = (*clock)[0];
  tm.tm_min = (*clock)[1];
  tm.tm_sec = (*clock)[2];
  if (tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  return timegm(&tm);
}

mustache::mustache parse_template(const std::string& text, const std::string& what,
                                  const std::string& gateway) {
  mustache::mustache tmpl(text);
  if (!tmpl.is_valid()) {
    throw std::runtime_error("gateway \"" + gateway + "\": " + what + ": " + tmpl.error_message());
  }
  return tmpl;
}

std::string identity(const std::string& text) {
  return text;
}

}  // namespace

struct HttpGateway::Templates {
  std::optional<mustache::mustache> url;
  std::vector<std::pair<std::string, mustache::mustache>> headers;
  std::vector<std::pair<std::string, mustache::mustache>> fields;
  std::optional<mustache::mustache> raw_body;
};

HttpGateway::HttpGateway(HttpGatewayOptions options, CurlMulti& curl)
    : options_(std::move(options)), curl_(curl), templates_(std::make_unique<Templates>()) {
  const std::string& name = options_.name;
  if (!options_.url.starts_with("http://") && !options_.url.starts_with("https://")) {
    throw std::runtime_error("gateway \"" + name + "\": url must start with http:// or https://");
  }
  // The method goes into the request line as it is.
  if (options_.method.empty() ||
      options_.method.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string::npos) {
    throw std::runtime_error("gateway \"" + name + "\": method \"" + options_.method +
                             "\" is not an HTTP method");
  }
  templates_->url = parse_template(options_.url, "url", name);
  templates_->url->set_custom_escape(&url_encode);
  for (const auto& [header, value] : options_.headers) {
    if (header.empty() || header.find_first_of(":\r\n \t") != std::string::npos) {
      throw std::runtime_error("gateway \"" + name + "\": bad header name \"" + header + "\"");
    }
    auto tmpl = parse_template(value, "headers." + header, name);
    tmpl.set_custom_escape(&identity);
    templates_->headers.emplace_back(header, std::move(tmpl));
  }
  for (const auto& [field, value] : options_.fields) {
    auto tmpl = parse_template(value, field, name);
    // Encoding is the body builder's job (JSON escaping, form encoding).
    tmpl.set_custom_escape(&identity);
    templates_->fields.emplace_back(field, std::move(tmpl));
  }
  if (options_.body == HttpGatewayOptions::Body::Raw) {
    templates_->raw_body = parse_template(options_.raw_body, "body", name);
    templates_->raw_body->set_custom_escape(&identity);
  }
  if (!options_.message_id_field.empty()) {
    try {
      nlohmann::json::json_pointer pointer(options_.message_id_field);
    } catch (const nlohmann::json::exception&) {
      throw std::runtime_error("gateway \"" + name + "\": message_id_field \"" +
                               options_.message_id_field + "\" is not a JSON pointer (like /sid)");
    }
  }
  for (const std::string* secret :
       {&options_.bearer_token, &options_.username, &options_.password}) {
    if (secret->find_first_of("\r\n") != std::string::npos) {
      throw std::runtime_error("gateway \"" + name + "\": credentials contain a line break");
    }
  }
}

HttpGateway::~HttpGateway() = default;

bool HttpGateway::supports(ChannelKind kind) const {
  return std::find(options_.kinds.begin(), options_.kinds.end(), kind) != options_.kinds.end();
}

HttpGateway::Built HttpGateway::build_request(const OutboundMessage& message) {
  mustache::data vars;
  vars.set("to", message.recipient);
  vars.set("text", message.text);
  vars.set("subject", message.subject);
  vars.set("html", message.html);
  vars.set("idempotency_key", message.idempotency_key);
  vars.set("order_id", message.order_id);
  vars.set("message_id", std::to_string(message.id));
  vars.set("event_id", message.event_id);
  vars.set("locale", message.locale);
  vars.set("channel", message.channel);
  vars.set("template", message.template_name);

  Built built;
  auto render = [&](mustache::mustache& tmpl,
                    const std::string& what) -> std::optional<std::string> {
    std::string text = tmpl.render(vars);
    if (!tmpl.is_valid()) {
      built.error = what + ": " + tmpl.error_message();
      return std::nullopt;
    }
    return text;
  };

  HttpRequest request;
  request.method = options_.method;
  auto url = render(*templates_->url, "url");
  if (!url) return built;
  request.url = std::move(*url);

  bool has_content_type = false;
  for (auto& [name, tmpl] : templates_->headers) {
    auto value = render(tmpl, "header " + name);
    if (!value) return built;
    // A header is one line: a line break from the data would let it write
    // headers of its own.
    if (value->find_first_of("\r\n") != std::string::npos) {
      built.error = "header " + name + " would contain a line break";
      return built;
    }
    if (lowercase(name) == "content-type") has_content_type = true;
    request.headers.emplace_back(name, std::move(*value));
  }
  if (!options_.idempotency_header.empty() && !message.idempotency_key.empty()) {
    if (message.idempotency_key.find_first_of("\r\n") != std::string::npos) {
      built.error = "idempotency key contains a line break";
      return built;
    }
    request.headers.emplace_back(options_.idempotency_header, message.idempotency_key);
  }

  std::string content_type;
  switch (options_.body) {
    case HttpGatewayOptions::Body::Json: {
      // ordered_json keeps the fields in the config's order.
      nlohmann::ordered_json body = nlohmann::ordered_json::object();
      for (auto& [field, tmpl] : templates_->fields) {
        auto value = render(tmpl, field);
        if (!value) return built;
        body[field] = std::move(*value);
      }
      // Replace, not throw, on invalid UTF-8: the data path never throws.
      request.body = body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
      content_type = "application/json";
      break;
    }
    case HttpGatewayOptions::Body::Form: {
      for (auto& [field, tmpl] : templates_->fields) {
        auto value = render(tmpl, field);
        if (!value) return built;
        if (!request.body.empty()) request.body += '&';
        request.body += form_encode(field) + "=" + form_encode(*value);
      }
      content_type = "application/x-www-form-urlencoded";
      break;
    }
    case HttpGatewayOptions::Body::Raw: {
      auto value = render(*templates_->raw_body, "body");
      if (!value) return built;
      request.body = std::move(*value);
      content_type = "text/plain; charset=utf-8";
      break;
    }
  }
  if (!has_content_type) request.headers.emplace_back("Content-Type", content_type);

  request.username = options_.username;
  request.password = options_.password;
  request.bearer_token = options_.bearer_token;
  request.timeouts = options_.timeouts;
  request.verify_tls = options_.verify_tls;
  request.ca_file = options_.ca_file;
  built.request = std::move(request);
  return built;
}

asio::awaitable<Outcome> HttpGateway::send(const OutboundMessage& message) {
  if (!supports(message.kind)) {
    co_return Outcome::rejected("gateway \"" + options_.name + "\" does not carry " +
                                to_string(message.kind));
  }
  Built built = build_request(message);
  if (!built.request) co_return Outcome::rejected("cannot build the request: " + built.error);
  const TransferResult result = co_await curl_.perform(std::move(*built.request));
  co_return classify_http_result(result, options_.message_id_field,
                                 std::chrono::system_clock::now());
}

namespace {

Outcome classify_answer(const TransferResult& result, const std::string& message_id_field,
                        std::chrono::system_clock::time_point now) {
  if (!result.ok()) {
    if (result.connect_failed()) return Outcome::retry("connect failed: " + result.curl_error);
    if (!result.request_sent) {
      return Outcome::retry("failed before the request was sent: " + result.curl_error);
    }
    // The provider may have the request and have acted on it; only the
    // dispatcher can decide whether a repeat is worth the risk.
    return Outcome::unknown("no answer after the request was sent: " + result.curl_error);
  }
  const long status = result.status;
  if (status >= 200 && status < 300) {
    return Outcome::sent(provider_id(result, message_id_field), "HTTP " + std::to_string(status));
  }
  // The provider refuses tack itself (credentials, account), not this
  // message: every message would get the same answer.
  if (status == 401 || status == 403 || status == 407) {
    return Outcome::retry(answer_detail(result)).with(Outcome::Health::Refused);
  }
  if (status == 408 || status == 429 || (status >= 500 && status < 600)) {
    std::optional<std::chrono::milliseconds> after;
    if (const std::string value = result.header("retry-after"); !value.empty()) {
      after = parse_retry_after(value, now);
    }
    // A throttled answer without Retry-After may still say when the
    // provider's window resets.
    if (!after && status == 429) {
      for (const char* name :
           {"ratelimit-reset", "x-ratelimit-reset", "x-rate-limit-reset", "ratelimit"}) {
        if (const std::string value = result.header(name); !value.empty()) {
          after = parse_rate_limit_reset(name, value, now);
          if (after) break;
        }
      }
    }
    // A throttled answer is the provider answering: it is up.
    return Outcome::retry(answer_detail(result), after)
        .with(status == 429 ? Outcome::Health::Answering : Outcome::Health::Down);
  }
  return Outcome::rejected(answer_detail(result));
}

}  // namespace

Outcome classify_http_result(const TransferResult& result, const std::string& message_id_field,
                             std::chrono::system_clock::time_point now) {
  Outcome outcome = classify_answer(result, message_id_field, now);
  for (int i = 1; i < result.requests; ++i) {
    outcome.unanswered.push_back(
        "no answer: the kept-alive connection closed after the request went out, and it was "
        "sent again on a new connection with the same idempotency key; the provider may have "
        "it twice");
  }
  return outcome;
}

std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now) {
  const auto first = value.find_first_not_of(" \t");
  if (first == std::string_view::npos) return std::nullopt;
  value = value.substr(first, value.find_last_not_of(" \t") - first + 1);
  if (is_digits(value)) {
    if (value.size() > 9) return std::nullopt;  // more than 31 years: not meant
    return std::chrono::seconds(std::stol(std::string(value)));
  }
  const auto when = parse_http_date(value);
  if (!when) return std::nullopt;
  // In whole seconds: system_clock counts nanoseconds in 64 bits, so a date
  // before 1678 or after 2262 would overflow it (from_time_t).
  using std::chrono::seconds;
  const std::int64_t now_s = std::chrono::duration_cast<seconds>(now.time_since_epoch()).count();
  const std::int64_t when_s = *when;
  if (when_s <= now_s) return std::chrono::milliseconds(0);
  if (when_s - now_s > 999'999'999) return std::nullopt;  // as for delta-seconds above
  const auto delta = std::chrono::system_clock::from_time_t(*when) - now;
  return std::chrono::duration_cast<std::chrono::milliseconds>(delta);
}

std::optional<std::chrono::milliseconds> parse_rate_limit_reset(
    std::string_view name, std::string_view value, std::chrono::system_clock::time_point now) {
  auto trim = [](std::string_view v) {
    const auto first = v.find_first_not_of(" \t");
    if (first == std::string_view::npos) return std::string_view();
    return v.substr(first, v.find_last_not_of(" \t") - first + 1);
  };
  value = trim(value);
  if (name == "ratelimit") {
    // Structured form: "limit=100, remaining=0, reset=50" (or t=50).
    std::optional<std::string_view> found;
    while (!value.empty() && !found) {
      const auto comma = value.find_first_of(",;");
      auto item = trim(value.substr(0, comma));
      value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
      for (std::string_view key : {"reset=", "t="}) {
        if (item.substr(0, key.size()) == key) found = trim(item.substr(key.size()));
      }
    }
    if (!found) return std::nullopt;
    value = *found;
  }
  if (!is_digits(value) || value.size() > 15) return std::nullopt;
  const auto number = std::stoll(std::string(value));
  const auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::int64_t delta_ms;
  if (number >= 1'000'000'000'000LL) {
    delta_ms = number - now_ms;  // a Unix time in milliseconds
  } else if (number >= 1'000'000'000LL) {
    delta_ms = number * 1000 - now_ms;  // a Unix time in seconds (SendGrid)
  } else {
    delta_ms = number * 1000;  // seconds from now
  }
  return std::chrono::milliseconds(std::max<std::int64_t>(0, delta_ms));
}


// ---- the kind: its config keys and its factory -----------------------------

namespace {

std::unique_ptr<Gateway> create(const GatewayConfig& config, GatewayContext& context) {
  const GatewaySettings settings(config);
  HttpGatewayOptions options;
  options.name = config.name;
  options.url = settings.required("url");
  options.method = settings.string("method", "POST");
  for (char& c : options.method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  options.headers = settings.map("headers");

  const int bodies = settings.has("json") + settings.has("form") + settings.has("body");
  if (bodies != 1) settings.fail("json/form/body", "give exactly one body form");
  if (settings.has("json")) {
    options.body = HttpGatewayOptions::Body::Json;
    options.fields = settings.map("json");
  } else if (settings.has("form")) {
    options.body = HttpGatewayOptions::Body::Form;
    options.fields = settings.map("form");
  } else {
    options.body = HttpGatewayOptions::Body::Raw;
    options.raw_body = settings.string("body");
  }

  options.username = settings.string("username");
  options.password = settings.string("password");
  options.bearer_token = settings.string("bearer_token");
  if (!options.bearer_token.empty() && !options.username.empty()) {
    settings.fail("bearer_token", "give either bearer_token or username/password, not both");
  }
  options.idempotency_header = settings.string("idempotency_header", "Idempotency-Key");
  options.message_id_field = settings.string("message_id_field");
  options.timeouts.connect = settings.duration("connect_timeout", options.timeouts.connect);
  options.timeouts.total = settings.duration("timeout", options.timeouts.total);
  options.timeouts.low_speed_time =
      settings.duration("low_speed_time", options.timeouts.low_speed_time);
  options.verify_tls = settings.boolean("verify_tls", true);
  options.ca_file = settings.string("ca_file");
  if (settings.has("kinds")) {
    options.kinds.clear();
    for (const auto& kind : settings.list("kinds")) {
      if (kind == "sms") {
        options.kinds.push_back(ChannelKind::Sms);
      } else if (kind == "email") {
        options.kinds.push_back(ChannelKind::Email);
      } else {
        settings.fail("kinds", "\"" + kind + "\" is not sms or email");
      }
    }
  }
  return std::make_unique<HttpGateway>(std::move(options), context.curl);
}

}  // namespace

GatewayKind http_gateway_kind() {
  return {
      "http",
      "one HTTP request per message, built from templates (SMS and e-mail APIs)",
      {
          {"url", KeyType::String, true, false, "URL template; {{vars}} are percent-encoded"},
          {"method", KeyType::String, false, false, "HTTP method (default POST)"},
          {"headers", KeyType::StringMap, false, false, "header name -> value template"},
          {"json", KeyType::StringMap, false, false, "body as a JSON object: field -> template"},
          {"form", KeyType::StringMap, false, false,
           "body as a URL-encoded form: field -> template"},
          {"body", KeyType::String, false, false, "raw body template"},
          {"username", KeyType::String, false, false, "basic auth user"},
          {"password", KeyType::String, false, true, "basic auth password"},
          {"bearer_token", KeyType::String, false, true, "sent as Authorization: Bearer"},
          {"idempotency_header", KeyType::String, false, false,
           "header carrying the idempotency key (default Idempotency-Key; \"\" disables)"},
          {"message_id_field", KeyType::String, false, false,
           "JSON pointer to the provider's id in the response, like /sid"},
          connect_timeout_key(),
          {"timeout", KeyType::Duration, false, false, "limit for the whole request (default 30s)"},
          {"low_speed_time", KeyType::Duration, false, false,
           "abort when nothing moves for this long (default 20s)"},
          verify_tls_key(),
          ca_file_key(),
          {"kinds", KeyType::StringList, false, false,
           "channel kinds carried: sms, email (default sms)"},
      },
      &create};
}

}  // namespace tack
