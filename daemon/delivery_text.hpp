// delivery_text: the delivery log as `tackd log` prints it for a person
// (support at a terminal): a summary line first, then each message with
// its attempts and the operators' actions, newest first as on the support
// page. Times are the shop's wall clock (locale.timezone) with the zone's
// abbreviation. What a state means (will an attempt come? did tack refuse
// it itself?) is asked of store/lifecycle.hpp, never decided here.
//
// Pure: views in, text out; the zone is handed in, no clock is read.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/records.hpp"

namespace date {
class time_zone;
}

namespace tack {

struct DeliveryTextOptions {
  const date::time_zone* zone = nullptr;  // nullptr: UTC
  bool oldest_first = false;              // default: newest first
};

// "2026-11-22 11:15:30 CET" in `zone` (UTC when null); "-" for 0.
std::string local_time(std::int64_t unix_ms, const date::time_zone* zone);

// "order 1001: 2 messages: 1 SMS sent, 1 e-mail failed; nothing waiting".
// `subject` names what was looked up ("order 1001", "+46701234567").
std::string delivery_summary(const std::string& subject, const std::vector<MessageView>& messages,
                             const DeliveryTextOptions& options);

// One message: its header, text, attempts and the actions taken on it.
std::string message_text(const MessageView& message, const std::vector<AuditEntry>& audit,
                         const DeliveryTextOptions& options);

// An order: the summary, its events, its messages.
std::string order_text(const OrderTimeline& timeline, const DeliveryTextOptions& options);

// A search's messages (by recipient or id): the summary, then each message.
// `audit` holds each message's actions by its id.
std::string messages_text(const std::string& subject, std::vector<MessageView> messages,
                          const std::map<std::int64_t, std::vector<AuditEntry>>& audit,
                          const DeliveryTextOptions& options);

}  // namespace tack
