#include <catch2/catch.hpp>

#include "event.hpp"
#include "mime.hpp"

using namespace tack;

namespace {
const StatusOrder kStatuses;
const Limits kLimits;

std::string valid_event() {
  return R"({"event_id":"e1","order_id":"1042","status":"shipped",
             "occurred_at":"2026-11-22T10:15:00Z",
             "customer":{"name":"Anna Svensson","phone":"+46701234567","email":"anna@example.se"}})";
}
}  // namespace

TEST_CASE("a canonical event parses with its fields", "[event]") {
  auto r = parse_event(valid_event(), kStatuses, kLimits);
  REQUIRE(r.event);
  CHECK(r.event->event_id == "e1");
  CHECK(r.event->order_id == "1042");
  CHECK(r.event->status == "shipped");
  CHECK(r.event->occurred_at_ms == 1795342500000);
  CHECK(r.event->phone() == "+46701234567");
  CHECK(r.event->email() == "anna@example.se");
  CHECK(r.event->locale().empty());
}

TEST_CASE("a numeric order_id is accepted as text", "[event]") {
  auto r = parse_event(
      R"({"event_id":"e1","order_id":1042,"status":"paid","occurred_at":"2026-11-22T10:15:00Z"})",
      kStatuses, kLimits);
  REQUIRE(r.event);
  CHECK(r.event->order_id == "1042");
}

TEST_CASE("each malformed event is rejected with a reason a person can read", "[event]") {
  struct Case {
    std::string text;
    std::string reason_part;
  };
  std::vector<Case> cases = {
      {"not json at all", "not JSON"},
      {"", "not JSON"},
      {"[1,2,3]", "not a JSON object"},
      {R"({"order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z"})",
       "missing event_id"},
      {R"({"event_id":"e","status":"paid","occurred_at":"2026-11-22T10:15:00Z"})",
       "missing order_id"},
      {R"({"event_id":"e","order_id":"1","occurred_at":"2026-11-22T10:15:00Z"})", "missing status"},
      {R"({"event_id":"e","order_id":"1","status":"shiped","occurred_at":"2026-11-22T10:15:00Z"})",
       "unknown status \"shiped\""},
      {R"({"event_id":"e","order_id":"1","status":"paid"})", "missing occurred_at"},
      {R"({"event_id":"e","order_id":"1","status":"paid","occurred_at":"yesterday"})",
       "bad occurred_at"},
      {R"({"event_id":"e","order_id":"1","status":"paid","occurred_at":"2026-13-45T10:15:00Z"})",
       "bad occurred_at"},
      {R"({"event_id":"e","order_id":"1","status":"paid","occurred_at":1234})", "occurred_at must"},
      {R"({"event_id":["x"],"order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z"})",
       "event_id must be a string"},
      {R"({"event_id":"","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z"})",
       "event_id is empty"},
      {R"({"event_id":"e","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z","customer":"anna"})",
       "customer must be an object"},
      {R"({"event_id":"e","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z","customer":{"phone":46701234567}})",
       "customer.phone must be a string"},
      {R"({"event_id":"e","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z","delivery":{"window_start":"soon"}})",
       "bad delivery.window_start"},
      {R"({"event_id":"e","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z","delivery":{"window_start":"2026-11-24T11:00:00Z","window_end":"tomorrow"}})",
       "bad delivery.window_end"},
      {R"({"event_id":"e","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z","delivery":{"window_start":"2026-11-24T11:00:00Z","window_end":"2026-11-19T13:00:00Z"}})",
       "delivery.window_end 2026-11-19T13:00:00Z is before delivery.window_start "
       "2026-11-24T11:00:00Z"},
      {R"({"event_id":"e","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z","delivery":{"window_start":"2026-11-24T12:00:00+01:00","window_end":"2026-11-24T11:00:00Z"}})",
       "delivery window is empty: window_end is the same time as window_start"},
      {R"({"event_id":"e","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z","delivery":{"window_start":"2026-11-24T11:00:00Z","window_end":"2026-12-24T13:00:00Z"}})",
       "delivery window from 2026-11-24T11:00:00Z to 2026-12-24T13:00:00Z is longer than 14 days"},
      {R"({"event_id":"e","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z","delivery":{"window_end":"2026-11-24T13:00:00Z"}})",
       "delivery.window_end without delivery.window_start"},
      {R"({"event_id":"e\u0000x","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z"})",
       "control characters"},
      // The tracking URL becomes a link in e-mails: http(s) only.
      {R"x({"event_id":"e","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z","delivery":{"tracking_url":"javascript:alert(1)"}})x",
       "delivery.tracking_url must be an http or https URL"},
      {R"x({"event_id":"e","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z","delivery":{"tracking_url":" JavaScript:alert(1)"}})x",
       "delivery.tracking_url must be an http or https URL"},
      {R"({"event_id":"e","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z","delivery":{"tracking_url":"data:text/html,x"}})",
       "delivery.tracking_url must be an http or https URL"},
      {R"({"event_id":"e","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z","delivery":{"tracking_url":"https://"}})",
       "delivery.tracking_url must be an http or https URL"},
      {R"({"event_id":"e","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z","delivery":{"tracking_url":"https://t.example/a b"}})",
       "delivery.tracking_url must be an http or https URL"},
      {R"({"event_id":"e","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z","delivery":{"tracking_url":42}})",
       "delivery.tracking_url must be an http or https URL"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto r = parse_event(c.text, kStatuses, kLimits);
    CHECK_FALSE(r.event);
    CHECK_THAT(r.reason, Catch::Contains(c.reason_part));
  }
}

TEST_CASE("tracking URLs over http and https are taken as they are", "[event]") {
  for (const char* url : {"https://tracking.example/XYZ?a=1&b=2", "HTTP://t.example",
                          "https://t.example/%C3%A5"}) {
    INFO(url);
    const std::string doc = std::string(R"({"event_id":"e","order_id":"1","status":"paid",)") +
                            R"("occurred_at":"2026-11-22T10:15:00Z","delivery":{"tracking_url":")" +
                            url + "\"}}";
    auto r = parse_event(doc, kStatuses, kLimits);
    REQUIRE(r.event);
  }
  auto empty = parse_event(R"({"event_id":"e","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z","delivery":{"tracking_url":null}})",
                           kStatuses, kLimits);
  CHECK(empty.event);
}

TEST_CASE("a rejection reason is valid UTF-8 whatever the event held", "[event]") {
  // nlohmann's message quotes the bytes it last read.
  auto bad_bytes = parse_event("\xff\xfe{\"event_id\": \"\xc3\x28\"}", kStatuses, kLimits);
  REQUIRE_FALSE(bad_bytes.event);
  CHECK(bad_bytes.reason.rfind("not JSON: ", 0) == 0);
  CHECK(valid_utf8(bad_bytes.reason));
  // An unknown status is quoted up to 64 bytes, never half a character.
  std::string status = "x";
  for (int i = 0; i < 40; ++i) status += "\u00e5";  // å, two bytes each
  auto cut = parse_event(R"({"event_id":"e","order_id":"o","status":")" + status +
                             R"(","occurred_at":"2026-11-22T10:15:00Z"})",
                         kStatuses, kLimits);
  REQUIRE_FALSE(cut.event);
  CHECK(valid_utf8(cut.reason));
  CHECK(cut.reason == "unknown status \"" + status.substr(0, 63) + "\"");
}

TEST_CASE("a rejected event still reports the ids it had", "[event]") {
  auto r = parse_event(R"({"event_id":"e9","order_id":"77","status":"teleported"})", kStatuses,
                       kLimits);
  CHECK_FALSE(r.event);
  CHECK(r.event_id == "e9");
  CHECK(r.order_id == "77");
}

TEST_CASE("an event over the size limit is rejected before parsing", "[event]") {
  std::string huge = R"({"event_id":"e","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z","data":{"x":")" +
                     std::string(70 * 1024, 'a') + "\"}}";
  auto r = parse_event(huge, kStatuses, kLimits);
  CHECK_FALSE(r.event);
  CHECK_THAT(r.reason, Catch::Contains("over the limit of 65536"));
  CHECK(r.event_id.empty());  // never parsed
}

TEST_CASE("deeply nested JSON is rejected without recursion trouble", "[event]") {
  std::string deep = R"({"event_id":"e","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z","data":)" +
                     std::string(5000, '[') + std::string(5000, ']') + "}";
  Limits big;
  big.max_event_bytes = 1 << 20;
  auto r = parse_event(deep, kStatuses, big);
  CHECK_FALSE(r.event);
  CHECK_THAT(r.reason, Catch::Contains("nested deeper"));
}

TEST_CASE("hostile bytes never crash the parser", "[event]") {
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage.push_back(static_cast<char>((i * 131) % 256));
  auto r = parse_event(garbage, kStatuses, kLimits);
  CHECK_FALSE(r.event);
  CHECK_FALSE(r.reason.empty());
  auto bad_utf8 = std::string(R"({"event_id":"e)") + "\xff\xfe" + R"(","order_id":"1"})";
  CHECK_FALSE(parse_event(bad_utf8, kStatuses, kLimits).event);
}

TEST_CASE("RFC 3339 times with offsets and fractions convert to UTC milliseconds", "[event]") {
  CHECK(parse_rfc3339_ms("2026-11-22T10:15:00Z") == 1795342500000);
  CHECK(parse_rfc3339_ms("2026-11-22T11:15:00+01:00") == 1795342500000);
  CHECK(parse_rfc3339_ms("2026-11-22T10:15:00.250Z") == 1795342500250);
  // A malformed offset is refused before date::parse sees it (the render
  // fuzz target found it negating minutes::min()).
  CHECK_FALSE(parse_rfc3339_ms("2021-61-24T12:00:00-GB\nNot/AZone"));
  CHECK_FALSE(parse_rfc3339_ms("2026-11-22T11:15:00+0100"));
  CHECK_FALSE(parse_rfc3339_ms("2026-11-22T11:15:00+01:0x"));
  CHECK(parse_rfc3339_ms("2026-11-22T10:15:00.250999Z") == 1795342500250);
  CHECK(parse_rfc3339_ms("2026-11-22T11:15:00.123456789+01:00") == 1795342500123);
  CHECK_FALSE(parse_rfc3339_ms("2026-11-22"));
  CHECK_FALSE(parse_rfc3339_ms("2026-11-22T10:15:00"));
  CHECK_FALSE(parse_rfc3339_ms("2026-11-22T10:15:00Zjunk"));
  // Each field must be digits before date::parse reads it: a missing
  // seconds field left its long double uninitialised (UBSan, found by the
  // http_api fuzz target).
  CHECK_FALSE(parse_rfc3339_ms("2026-11-22T10:15:xxZ"));
  CHECK_FALSE(parse_rfc3339_ms("2026-11-22T10:15:-1+01:00"));
  CHECK_FALSE(parse_rfc3339_ms("2026-11-22T10:1x:00Z"));
  CHECK_FALSE(parse_rfc3339_ms("2026-1x-22T10:15:00Z"));
  CHECK_FALSE(parse_rfc3339_ms("+026-11-22T10:15:00Z"));
  CHECK_FALSE(parse_rfc3339_ms("2026/11/22T10.15.00Z"));
}

TEST_CASE("event documents split from JSON, arrays and JSON lines", "[event]") {
  const Limits limits;
  CHECK(split_event_documents(R"({"a":1})", limits).size() == 1);
  CHECK(split_event_documents("{\n  \"a\": 1\n}\n", limits).size() == 1);
  CHECK(split_event_documents(R"([{"a":1},{"a":2}])", limits).size() == 2);
  CHECK(split_event_documents("{\"a\":1}\n\n{\"a\":2}\r\nnot json\n", limits).size() == 3);
  CHECK(split_event_documents("  \n ", limits).empty());
}

TEST_CASE("splitting 100000 nested brackets neither recurses nor crashes", "[event]") {
  // The array path dumps each element again; unbounded, that recursion
  // would exhaust the stack (tackd emit of a hostile file).
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  auto documents = split_event_documents(deep, Limits{});
  REQUIRE(documents.size() == 1);
  CHECK(documents.front().size() == deep.size());
  Limits big;
  big.max_event_bytes = 1 << 20;
  auto r = parse_event(documents.front(), kStatuses, big);
  CHECK_FALSE(r.event);
  CHECK(r.reason == "JSON nested deeper than 32 levels (limits.max_json_depth)");
  const std::string deep_object = std::string(100000, '{');
  CHECK(split_event_documents(deep_object, Limits{}).size() == 1);
}

namespace {

std::string event_with_data(const std::string& data) {
  return R"({"event_id":"e-1","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z",)"
         R"("customer":{"phone":"+46701234567"},"data":)" +
         data + "}";
}

}  // namespace

TEST_CASE("an event with more values than limits.max_json_values is rejected", "[event]") {
  Limits limits;
  limits.max_json_values = 100;
  std::string items = "{\"items\":[";
  for (int i = 0; i < 200; ++i) items += (i ? ",1" : "1");
  items += "]}";
  auto r = parse_event(event_with_data(items), kStatuses, limits);
  CHECK_FALSE(r.event);
  CHECK(r.reason == "JSON holds more than 100 values (limits.max_json_values)");
  // Below the limit the same shape is fine.
  limits.max_json_values = 1000;
  CHECK(parse_event(event_with_data(items), kStatuses, limits).event);
}

TEST_CASE("a string or key longer than limits.max_string_bytes is rejected", "[event]") {
  Limits limits;
  limits.max_string_bytes = 100;
  auto value = parse_event(event_with_data("{\"note\":\"" + std::string(101, 'x') + "\"}"),
                           kStatuses, limits);
  CHECK_FALSE(value.event);
  CHECK(value.reason == "a JSON string is longer than 100 bytes (limits.max_string_bytes)");
  auto key =
      parse_event(event_with_data("{\"" + std::string(101, 'k') + "\":1}"), kStatuses, limits);
  CHECK_FALSE(key.event);
  CHECK(key.reason == value.reason);
  CHECK(parse_event(event_with_data("{\"note\":\"" + std::string(100, 'x') + "\"}"), kStatuses,
                    limits)
            .event);
}

TEST_CASE("NUL bytes, bad UTF-8 and overlong numbers are rejected or kept safely", "[event]") {
  // A raw NUL or control byte inside a string is not JSON.
  auto raw_nul =
      parse_event(event_with_data(std::string("{\"x\":\"a") + '\0' + "b\"}"), kStatuses, kLimits);
  CHECK_FALSE(raw_nul.event);
  CHECK_THAT(raw_nul.reason, Catch::StartsWith("not JSON: "));
  // An escaped NUL is valid JSON: kept in free-form data, refused in an id.
  auto escaped = parse_event(event_with_data(R"({"x":"a\u0000b"})"), kStatuses, kLimits);
  REQUIRE(escaped.event);
  CHECK(escaped.event->doc["data"]["x"].get<std::string>() == std::string("a\0b", 3));
  auto id_nul = parse_event(
      R"({"event_id":"e\u0000","order_id":"1","status":"paid","occurred_at":"2026-11-22T10:15:00Z"})",
      kStatuses, kLimits);
  CHECK_FALSE(id_nul.event);
  CHECK_THAT(id_nul.reason, Catch::Contains("control characters"));
  // Bytes that are not UTF-8 (a lone continuation, an overlong encoding).
  for (std::string bad :
       {std::string("\x80"), std::string("\xc0\xaf"), std::string("\xed\xa0\x80")}) {
    auto r = parse_event(event_with_data("{\"x\":\"" + bad + "\"}"), kStatuses, kLimits);
    CHECK_FALSE(r.event);
    CHECK_THAT(r.reason, Catch::StartsWith("not JSON: "));
  }
  // Numbers too large for a double are refused without quoting them; a
  // 300-digit integer becomes a double.
  for (std::string huge : {std::string("1e999999"), std::string(5000, '7')}) {
    auto overflow = parse_event(event_with_data(huge), kStatuses, kLimits);
    CHECK_FALSE(overflow.event);
    CHECK(overflow.reason == "not JSON: number overflow: a number too large to hold");
  }
  auto long_number = parse_event(event_with_data(std::string(300, '7')), kStatuses, kLimits);
  CHECK_FALSE(long_number.event);  // "data must be an object", after a safe parse
  CHECK(long_number.reason == "data must be an object");
  auto long_order = parse_event(R"({"event_id":"e","order_id":)" + std::string(300, '9') +
                                    R"(,"status":"paid","occurred_at":"2026-11-22T10:15:00Z"})",
                                kStatuses, kLimits);
  CHECK_FALSE(long_order.event);
  CHECK(long_order.reason == "order_id must be a string");
}

TEST_CASE("a reason for JSON that does not parse quotes none of the input", "[event]") {
  // nlohmann's message would end "last read: '...'" with the bytes it read,
  // a phone number or address among them; the reason is logged.
  auto r = parse_event(
      R"({"event_id":"e","customer":{"phone":"+46701234567", "email": anna@example.se})", kStatuses,
      kLimits);
  CHECK_FALSE(r.event);
  CHECK_THAT(r.reason, Catch::StartsWith("not JSON: syntax error"));
  CHECK_THAT(r.reason, Catch::Contains("at line 1, column"));
  CHECK_THAT(r.reason, !Catch::Contains("anna"));
  CHECK_THAT(r.reason, !Catch::Contains("4670"));
  CHECK_THAT(r.reason, !Catch::Contains("last read"));
  auto unterminated =
      parse_event(R"({"event_id":"e","customer":{"email":"anna@example.se)", kStatuses, kLimits);
  CHECK_FALSE(unterminated.event);
  CHECK_THAT(unterminated.reason, !Catch::Contains("anna"));
  // Input that itself holds "; expected " (found by the event fuzz target).
  auto crafted = parse_event("{\"o; expected 070-123 45 67 \xff\xfe\"", kStatuses, kLimits);
  CHECK_FALSE(crafted.event);
  CHECK_THAT(crafted.reason, !Catch::Contains("070"));
  CHECK(valid_utf8(crafted.reason));
}

TEST_CASE("a delivery window is accepted from one hour up to 14 days, and a start alone",
          "[event][window]") {
  for (const char* delivery :
       {R"({"window_start":"2026-11-24T11:00:00Z","window_end":"2026-11-24T13:00:00Z"})",
        R"({"window_start":"2026-10-25T00:30:00Z","window_end":"2026-10-25T01:30:00Z"})",
        R"({"window_start":"2026-11-24T11:00:00Z","window_end":"2026-12-08T11:00:00Z"})",
        R"({"window_start":"2026-11-24T11:00:00Z"})", R"({"window_start":null})"}) {
    INFO(delivery);
    auto r = parse_event(std::string(R"({"event_id":"e","order_id":"1","status":"paid",)") +
                             R"("occurred_at":"2026-11-22T10:15:00Z","delivery":)" + delivery + "}",
                         kStatuses, kLimits);
    CHECK(r.reason.empty());
    CHECK(r.event);
  }
}

TEST_CASE("consent, a first order and a pickup point are taken; anything else there is rejected",
          "[event][time]") {
  auto with = [](const std::string& customer_extra, const std::string& delivery = "{}") {
    return R"({"event_id":"e1","order_id":"1042","status":"ready_for_pickup",
               "occurred_at":"2026-11-22T10:15:00Z",
               "customer":{"name":"Anna","email":"anna@example.se")" +
           customer_extra + "}, \"delivery\": " + delivery + "}";
  };
  auto ok = parse_event(
      with(R"(, "first_order": true, "consent": {"email": true, "sms": false})",
           R"({"pickup_point": "ICA Nära Gamla stan", "pickup_code": "1234",
               "pickup_deadline": "2026-11-28T09:15:00+01:00"})"),
      kStatuses, kLimits);
  INFO(ok.reason);
  REQUIRE(ok.event);
  struct Case {
    std::string text;
    std::string reason;
  };
  const Case cases[] = {
      {with(R"(, "first_order": "yes")"), "customer.first_order must be true or false"},
      {with(R"(, "consent": true)"), "customer.consent must be an object"},
      {with(R"(, "consent": {"sms": "yes"})"), "customer.consent.sms must be true or false"},
      {with(R"(, "consent": {"email": 1})"), "customer.consent.email must be true or false"},
      {with("", R"({"pickup_point": {"name": "x"}})"), "delivery.pickup_point must be a string"},
      {with("", R"({"pickup_code": 1234})"), "delivery.pickup_code must be a string"},
      {with("", R"({"pickup_deadline": "Friday"})"),
       "delivery.pickup_deadline Friday is not an RFC 3339 time"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto r = parse_event(c.text, kStatuses, kLimits);
    CHECK_FALSE(r.event);
    CHECK_THAT(r.reason, Catch::StartsWith(c.reason));
  }
}
