#include "event.hpp"

#include <date/date.h>

#include <algorithm>
#include <cctype>
#include <sstream>

#include "mime.hpp"
#include "text.hpp"

namespace tack {

namespace {

// The first `max` bytes of UTF-8 text for a reason, never cut inside a
// character (a reason must stay valid UTF-8).
std::string utf8_prefix(const std::string& text, std::size_t max) {
  if (text.size() <= max) return text;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) --cut;
  return text.substr(0, cut);
}

std::string string_at(const nlohmann::json& doc, const char* object, const char* key) {
  auto it = doc.find(object);
  if (it == doc.end() || !it->is_object()) return {};
  auto field = it->find(key);
  if (field == it->end() || !field->is_string()) return {};
  return field->get<std::string>();
}

// Thrown from the parser callback to stop the parse at once.
struct OverLimit {
  std::string reason;
};

// "[json.exception.parse_error.101] parse error at line 1, column 7: syntax
// error while parsing value - invalid literal; last read: 'tru,'" becomes
// "not JSON: syntax error while parsing value - invalid literal at line 1,
// column 7": the position helps a developer; the text nlohmann last read is
// dropped, since it may be a customer's phone number or address and the
// reason is logged.
std::string json_error_reason(const nlohmann::json::exception& e) {
  std::string what = e.what();
  const auto close = what.find("] ");
  if (close != std::string::npos) what.erase(0, close + 2);
  std::string where;
  if (what.rfind("parse error at ", 0) == 0) {
    const auto colon = what.find(": ");
    if (colon != std::string::npos) {
      where = " at " + what.substr(15, colon - 15);
      what.erase(0, colon + 2);
    }
  }
  if (auto last = what.find("; last read: "); last != std::string::npos) {
    // Everything after is the quoted input and, maybe, "; expected ...";
    // the input can itself contain "; expected " (found by the event fuzz
    // target), so no part of it is kept.
    what.resize(last);
  }
  // Numbers too large to hold quote the number itself; leave just the kind.
  if (auto overflow = what.find("number overflow"); overflow != std::string::npos) {
    what = "number overflow: a number too large to hold";
  }
  return "not JSON: " + what + where;
}

}  // namespace

namespace {

// nlohmann's own DOM builder, with tack's limits checked as the parser
// hands it each token (the SAX interface: the parser calls these members by
// name). A parser callback would do the same through a std::function per
// token, which was a tenth of intake's CPU.
class BoundedSax : public nlohmann::detail::json_sax_dom_parser<nlohmann::json> {
  using Base = nlohmann::detail::json_sax_dom_parser<nlohmann::json>;
  using Json = nlohmann::json;

 public:
  BoundedSax(Json& out, const Limits& limits, int max_depth)
      : Base(out, true), limits_(limits), max_depth_(max_depth) {}

  bool null() { return count(), Base::null(); }
  bool boolean(bool value) { return count(), Base::boolean(value); }
  bool number_integer(Json::number_integer_t value) {
    return count(), Base::number_integer(value);
  }
  bool number_unsigned(Json::number_unsigned_t value) {
    return count(), Base::number_unsigned(value);
  }
  bool number_float(Json::number_float_t value, const std::string& text) {
    return count(), Base::number_float(value, text);
  }
  bool string(std::string& value) { return count(), check_length(value), Base::string(value); }
  bool key(std::string& value) { return count(), check_length(value), Base::key(value); }
  bool start_object(std::size_t n) { return open(), Base::start_object(n); }
  bool end_object() { return --depth_, Base::end_object(); }
  bool start_array(std::size_t n) { return open(), Base::start_array(n); }
  bool end_array() { return --depth_, Base::end_array(); }

 private:
  void count() {
    if (++values_ > limits_.max_json_values) {
      throw OverLimit{"JSON holds more than " + std::to_string(limits_.max_json_values) +
                      " values (limits.max_json_values)"};
    }
  }
  void open() {
    if (++depth_ > max_depth_) {
      throw OverLimit{"JSON nested deeper than " + std::to_string(limits_.max_json_depth) +
                      " levels (limits.max_json_depth)"};
    }
    count();
  }
  void check_length(const std::string& value) const {
    if (value.size() > limits_.max_string_bytes) {
      throw OverLimit{"a JSON string is longer than " + std::to_string(limits_.max_string_bytes) +
                      " bytes (limits.max_string_bytes)"};
    }
  }

  const Limits& limits_;
  const int max_depth_;
  int depth_ = 0;
  std::size_t values_ = 0;
};

}  // namespace

std::optional<nlohmann::json> parse_json_bounded(std::string_view text, const Limits& limits,
                                                 std::string& reason, int extra_depth) {
  try {
    nlohmann::json out;
    BoundedSax sax(out, limits, limits.max_json_depth + extra_depth);
    // strict: nothing but whitespace may follow the document. Errors throw.
    nlohmann::json::sax_parse(text.begin(), text.end(), &sax);
    return out;
  } catch (const OverLimit& e) {
    reason = e.reason;
  } catch (const nlohmann::json::exception& e) {
    reason = json_error_reason(e);
  }
  return std::nullopt;
}

namespace {

bool is_id_like(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

// The longest delivery window an event may give (README, "Feeding events").
constexpr std::int64_t kMaxDeliveryWindowMs = 14LL * 24 * 3600 * 1000;

// A delivery window that a message could not say sensibly: a time that does
// not parse, an end without a start, an end not after the start (it would
// be sent as if there were no window, "today"), or longer than
// kMaxDeliveryWindowMs. "" when it is fine or not given.
// The tracking URL becomes a link in e-mails (href) and a tap target in
// SMS: only an absolute http(s) URL with a host and nothing that would end
// or bend it (spaces, quotes, angle brackets, control characters).
std::string tracking_url_problem(const nlohmann::json& delivery) {
  auto it = delivery.find("tracking_url");
  if (it == delivery.end() || it->is_null()) return {};
  const std::string problem =
      "delivery.tracking_url must be an http or https URL (it becomes a link in e-mails)";
  if (!it->is_string()) return problem;
  const std::string& url = it->get_ref<const std::string&>();
  const std::string lower = lowercase(url.substr(0, 8));
  std::size_t host = 0;
  if (lower.rfind("https://", 0) == 0) {
    host = 8;
  } else if (lower.rfind("http://", 0) == 0) {
    host = 7;
  } else {
    return problem;
  }
  if (url.size() <= host || url[host] == '/' || url.size() > 2048) return problem;
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f || c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\' ||
        c == '`') {
      return problem;
    }
  }
  return {};
}

std::string window_problem(const nlohmann::json& delivery) {
  std::optional<std::int64_t> ms[2];
  std::string text[2];
  const char* keys[] = {"window_start", "window_end"};
  for (int i = 0; i < 2; ++i) {
    auto it = delivery.find(keys[i]);
    if (it == delivery.end() || it->is_null()) continue;
    if (it->is_string()) {
      text[i] = it->get<std::string>();
      ms[i] = parse_rfc3339_ms(text[i]);
    }
    if (!ms[i]) return std::string("bad delivery.") + keys[i] + ": expected an RFC 3339 time";
  }
  if (!ms[1]) return {};
  if (!ms[0]) return "delivery.window_end without delivery.window_start";
  if (*ms[1] < *ms[0]) {
    return "delivery.window_end " + text[1] + " is before delivery.window_start " + text[0];
  }
  if (*ms[1] == *ms[0]) {
    return "delivery window is empty: window_end is the same time as window_start";
  }
  if (*ms[1] - *ms[0] > kMaxDeliveryWindowMs) {
    return "delivery window from " + text[0] + " to " + text[1] + " is longer than " +
           std::to_string(kMaxDeliveryWindowMs / (24 * 3600 * 1000)) + " days";
  }
  return {};
}

}  // namespace

const std::vector<std::string>& event_fields() {
  // One line per object, as DESIGN.md shows them; in step with parse_event.
  // clang-format off
  static const std::vector<std::string> fields{
      "event_id", "order_id", "status", "occurred_at",
      "customer", "customer.name", "customer.phone", "customer.email", "customer.locale",
          "customer.timezone", "customer.country", "customer.first_order",
          "customer.consent", "customer.consent.sms", "customer.consent.email",
      "delivery", "delivery.carrier", "delivery.tracking_url", "delivery.window_start",
          "delivery.window_end", "delivery.pickup_point", "delivery.pickup_code",
          "delivery.pickup_deadline",
      "data"};
  // clang-format on
  return fields;
}

std::string Event::phone() const { return string_at(doc, "customer", "phone"); }
std::string Event::email() const { return string_at(doc, "customer", "email"); }
std::string Event::locale() const { return string_at(doc, "customer", "locale"); }
std::string Event::timezone() const { return string_at(doc, "customer", "timezone"); }
std::string Event::country() const { return string_at(doc, "customer", "country"); }

std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text) {
  // date::parse handles %FT%T and %Ez offsets; "Z" is handled here since %Ez
  // does not take it. Fractional seconds are cut off here too and kept to
  // the millisecond, so 6 or 9 digits (Python, PostgreSQL, Java) are fine.
  std::string s(text);
  if (s.size() < 20 || s.size() > 40) return std::nullopt;
  if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return std::nullopt;
  s[10] = 'T';
  std::int64_t fraction_ms = 0;
  if (s.size() > 19 && s[19] == '.') {
    std::size_t end = 20;
    while (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end]))) ++end;
    if (end == 20 || end - 20 > 9) return std::nullopt;
    std::string digits = s.substr(20, 3);
    digits.resize(3, '0');
    fraction_ms = std::stoi(digits);
    s.erase(19, end - 19);
  }
  using namespace std::chrono;
  date::sys_seconds tp;
  bool zulu = s.back() == 'Z' || s.back() == 'z';
  // Exactly "...:SSZ" or "...:SS+HH:MM". date::from_stream negates an
  // offset it could not read (minutes::min(), undefined behaviour, found by
  // the render fuzz target), so a malformed one never reaches it.
  auto digit = [&s](std::size_t i) { return std::isdigit(static_cast<unsigned char>(s[i])) != 0; };
  // Every field is digits where date::parse expects them: its seconds
  // field is read into a long double that it leaves uninitialised, and
  // then converts, when the digits are missing (undefined behaviour, found
  // by the http_api fuzz target).
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
    if (!digit(i)) return std::nullopt;
  }
  if (s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':') return std::nullopt;
  if (zulu ? s.size() != 20
           : s.size() != 25 || (s[19] != '+' && s[19] != '-') || !digit(20) || !digit(21) ||
                 s[22] != ':' || !digit(23) || !digit(24)) {
    return std::nullopt;
  }
  std::istringstream in(zulu ? s.substr(0, s.size() - 1) : s);
  if (zulu) {
    in >> date::parse("%Y-%m-%dT%H:%M:%S", tp);
  } else {
    // date::parse applies the offset itself when parsing into sys_time.
    minutes offset{0};
    in >> date::parse("%Y-%m-%dT%H:%M:%S%Ez", tp, offset);
  }
  if (in.fail()) return std::nullopt;
  in.peek();
  if (!in.eof()) return std::nullopt;
  return duration_cast<milliseconds>(tp.time_since_epoch()).count() + fraction_ms;
}

EventParse parse_event(std::string_view text, const StatusOrder& statuses, const Limits& limits) {
  EventParse result;
  if (text.size() > limits.max_event_bytes) {
    result.reason = "event is " + std::to_string(text.size()) + " bytes, over the limit of " +
                    std::to_string(limits.max_event_bytes);
    return result;
  }
  std::string error;
  auto parsed = parse_json_bounded(text, limits, error);
  if (!parsed) {
    result.reason = error;
    return result;
  }
  nlohmann::json doc = std::move(*parsed);
  if (!doc.is_object()) {
    result.reason = "event is not a JSON object";
    return result;
  }
  auto text_field = [&](const char* key, std::string& out) -> std::string {
    auto it = doc.find(key);
    if (it == doc.end() || it->is_null()) return std::string("missing ") + key;
    if (it->is_number_integer()) {
      out = std::to_string(it->get<std::int64_t>());  // order numbers are often numbers
    } else if (it->is_string()) {
      out = it->get<std::string>();
    } else {
      return std::string(key) + " must be a string";
    }
    if (out.empty()) return std::string(key) + " is empty";
    if (!is_id_like(out)) return std::string(key) + " has control characters or is over 200 bytes";
    return {};
  };
  Event event;
  std::string problem = text_field("event_id", event.event_id);
  result.event_id = event.event_id;
  std::string order_problem = text_field("order_id", event.order_id);
  result.order_id = event.order_id;
  if (problem.empty()) problem = order_problem;
  if (problem.empty()) problem = text_field("status", event.status);
  if (problem.empty() && !statuses.known(event.status)) {
    problem = "unknown status \"" + utf8_prefix(event.status, 64) + "\"";
  }
  if (problem.empty()) {
    auto it = doc.find("occurred_at");
    if (it == doc.end() || it->is_null()) {
      problem = "missing occurred_at";
    } else if (!it->is_string()) {
      problem = "occurred_at must be an RFC 3339 string";
    } else {
      event.occurred_at = it->get<std::string>();
      auto ms = parse_rfc3339_ms(event.occurred_at);
      if (!ms) {
        problem = "bad occurred_at \"" + utf8_prefix(event.occurred_at, 64) +
                  "\": expected RFC 3339 like 2026-11-22T10:15:00Z";
      } else {
        event.occurred_at_ms = *ms;
      }
    }
  }
  if (problem.empty()) {
    for (const char* object : {"customer", "delivery", "data"}) {
      auto it = doc.find(object);
      if (it != doc.end() && !it->is_object() && !it->is_null()) {
        problem = std::string(object) + " must be an object";
        break;
      }
    }
  }
  if (problem.empty()) {
    auto customer = doc.find("customer");
    if (customer != doc.end() && customer->is_object()) {
      for (const char* key : {"name", "phone", "email", "locale", "timezone", "country"}) {
        auto it = customer->find(key);
        if (it != customer->end() && !it->is_string() && !it->is_null()) {
          problem = std::string("customer.") + key + " must be a string";
          break;
        }
      }
      // What the customer agreed to decides what tack may send (marketing
      // needs consent): a flag that is not plainly true or false is an
      // error, never a guess.
      auto first = customer->find("first_order");
      if (problem.empty() && first != customer->end() && !first->is_boolean() && !first->is_null()) {
        problem = "customer.first_order must be true or false";
      }
      auto consent = customer->find("consent");
      if (problem.empty() && consent != customer->end() && !consent->is_null()) {
        if (!consent->is_object()) {
          problem = "customer.consent must be an object such as {\"email\": true, \"sms\": false}";
        } else {
          for (const char* kind : {"sms", "email"}) {
            auto it = consent->find(kind);
            if (it != consent->end() && !it->is_boolean() && !it->is_null()) {
              problem = std::string("customer.consent.") + kind + " must be true or false";
              break;
            }
          }
        }
      }
    }
  }
  if (problem.empty()) {
    auto delivery = doc.find("delivery");
    if (delivery != doc.end() && delivery->is_object()) {
      problem = window_problem(*delivery);
      if (problem.empty()) problem = tracking_url_problem(*delivery);
      for (const char* key : {"pickup_point", "pickup_code", "pickup_deadline"}) {
        auto it = delivery->find(key);
        if (problem.empty() && it != delivery->end() && !it->is_string() && !it->is_null()) {
          problem = std::string("delivery.") + key + " must be a string";
        }
      }
      auto deadline = delivery->find("pickup_deadline");
      if (problem.empty() && deadline != delivery->end() && deadline->is_string() &&
          !parse_rfc3339_ms(deadline->get<std::string>())) {
        problem = "delivery.pickup_deadline " + deadline->get<std::string>() +
                  " is not an RFC 3339 time";
      }
    }
  }
  if (!problem.empty()) {
    result.reason = problem;
    return result;
  }
  event.doc = std::move(doc);
  result.event = std::move(event);
  return result;
}

std::vector<std::string> split_event_documents(std::string_view text, const Limits& limits) {
  std::vector<std::string> out;
  auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return out;
  // A JSON array of events: each element becomes one document; one JSON
  // value spread over several lines (pretty-printed) is one document.
  // Anything that does not parse as a whole within the limits falls through
  // to JSON lines. The limits matter here: dump() recurses, and a hostile
  // "[[[[..." would otherwise exhaust the stack.
  if (text[first] == '[' || text[first] == '{') {
    Limits whole = limits;
    // The values and strings of every event in the array together.
    whole.max_json_values =
        limits.max_json_values * std::max<std::size_t>(limits.max_events_per_request, 1);
    std::string ignored;
    if (auto doc = parse_json_bounded(text.substr(first), whole, ignored, 1)) {
      if (doc->is_array()) {
        for (auto& item : *doc) out.push_back(item.dump());
        return out;
      }
      if (doc->is_object()) {
        out.push_back(doc->dump());
        return out;
      }
    }
  }
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    auto line = text.substr(start, end - start);
    if (line.find_first_not_of(" \t\r") != std::string_view::npos) {
      while (!line.empty() && (line.back() == '\r')) line.remove_suffix(1);
      out.emplace_back(line);
    }
    start = end + 1;
  }
  return out;
}

}  // namespace tack
