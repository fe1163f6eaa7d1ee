// api_json: the JSON objects of the HTTP API's contract (docs/http-api.md):
// a time, a message, an order. The API (http/router.cpp) answers with them
// and `tackd log --json` prints them, so a script written against one reads
// the other. Pure: store views in, JSON values out; no I/O, no clock.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/records.hpp"

namespace tack {

// RFC 3339 UTC with milliseconds ("2026-11-22T10:15:30.123Z"); null for 0.
nlohmann::json time_json(std::int64_t unix_ms);

// The operator verbs' names, as "actions" lists them.
nlohmann::json verb_names(const std::vector<OperatorVerb>& verbs);

// A message object of the contract; the list view leaves out html.
nlohmann::json message_json(const MessageView& message, bool with_html);

// One line of the audit trail: who did what to which message or order.
nlohmann::json audit_json(const AuditEntry& entry);

// One received event of an order (accepted, stale or rejected).
nlohmann::json event_json(const EventView& event);

// The order object (GET /v1/orders/ID): events, messages with html, audit,
// what was left out, the next contact, a corrected address, and `timezone`
// (the shop's IANA zone, in which the page shows times).
nlohmann::json order_json(const OrderTimeline& timeline, const std::string& timezone);

}  // namespace tack
