// event: the canonical order event (docs/design.md, "The event"),
// parsed and validated from untrusted text.
//
// parse_event never throws and never trusts its input: it checks the size
// limit before parsing, stops the parse at the first value over a limit
// (nesting depth, number of values, length of one string: limits: in the
// config), and returns either a valid
// Event or a one-line reason a support person can read ("missing order_id",
// "unknown status \"shiped\"", "bad occurred_at: ..."). Whatever event_id it
// could read is returned with a rejection, so the rejection can be logged
// against it. Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "config.hpp"

namespace tack {

struct Event {
  std::string event_id;
  std::string order_id;
  std::string status;
  std::string occurred_at;       // as given (RFC 3339)
  std::int64_t occurred_at_ms = 0;  // Unix epoch milliseconds
  nlohmann::json doc;            // the whole event, as parsed
  std::string phone() const;     // customer.phone or ""
  std::string email() const;     // customer.email or ""
  std::string locale() const;    // customer.locale or ""
  std::string timezone() const;  // customer.timezone or ""
  std::string country() const;   // customer.country (ISO 3166 alpha-2) or ""
};

// The fields of an event (DESIGN.md, "The event") as dotted paths, the
// objects among them too ("customer", "customer.name"). `data` is the
// shop's own, free-form: its fields are those the config declares. What a
// template may name, besides what render derives (TemplateSet::check).
const std::vector<std::string>& event_fields();

struct EventParse {
  std::optional<Event> event;  // set when valid
  std::string reason;          // why it was rejected
  std::string event_id;        // best effort, also on rejection
  std::string order_id;        // best effort, also on rejection
};

EventParse parse_event(std::string_view text, const StatusOrder& statuses, const Limits& limits);

// JSON from untrusted text, within limits.max_json_depth (plus
// `extra_depth`, for an array around events), max_json_values and
// max_string_bytes: the parse stops at the first value over a limit, so a
// hostile "[[[[..." or a million tiny values cost no more than reading them.
// nullopt with a one-line reason ("not JSON: ... at line 1, column 7", "JSON
// nested deeper than 32 levels (limits.max_json_depth)") that quotes none of
// the input. Does not check the text's size: callers do, before calling.
std::optional<nlohmann::json> parse_json_bounded(std::string_view text, const Limits& limits,
                                                 std::string& reason, int extra_depth = 0);

// RFC 3339 timestamp ("2026-11-22T10:15:00Z", "...+01:00", fractional
// seconds allowed) to Unix epoch milliseconds.
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text);

// Splits text holding one JSON value, a JSON array of events, or JSON lines
// into one string per event. Lines that are blank are skipped. A value or
// array over the limits is split into lines, whose parse_event then says
// what is wrong with each.
std::vector<std::string> split_event_documents(std::string_view text, const Limits& limits);

}  // namespace tack
