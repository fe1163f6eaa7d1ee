#include "message.hpp"

namespace tack {

Outcome Outcome::sent(std::string provider_id, std::string detail) {
  return Outcome{Kind::Sent, Health::Answering, std::move(provider_id), std::nullopt,
                 std::move(detail), {}};
}

Outcome Outcome::retry(std::string detail, std::optional<std::chrono::milliseconds> after) {
  return Outcome{Kind::Retry, Health::Down, {}, after, std::move(detail), {}};
}

Outcome Outcome::rejected(std::string detail) {
  return Outcome{Kind::Rejected, Health::Answering, {}, std::nullopt, std::move(detail), {}};
}

Outcome Outcome::unknown(std::string detail) {
  return Outcome{Kind::Unknown, Health::Down, {}, std::nullopt, std::move(detail), {}};
}

std::string to_string(Outcome::Kind kind) {
  switch (kind) {
    case Outcome::Kind::Sent: return "sent";
    case Outcome::Kind::Retry: return "retry";
    case Outcome::Kind::Rejected: return "rejected";
    case Outcome::Kind::Unknown: return "unknown";
  }
  return "unknown";
}

std::string to_string(ReceiptKind kind) {
  switch (kind) {
    case ReceiptKind::Progress: return "progress";
    case ReceiptKind::Delivered: return "delivered";
    case ReceiptKind::Undelivered: return "undelivered";
    case ReceiptKind::Bounced: return "bounced";
  }
  return "progress";
}

std::optional<ReceiptKind> parse_receipt_kind(std::string_view name) {
  for (auto kind : kAllReceiptKinds) {
    if (to_string(kind) == name) return kind;
  }
  return std::nullopt;
}

std::string to_string(ReceiptVerdict verdict) {
  switch (verdict) {
    case ReceiptVerdict::Applied: return "applied";
    case ReceiptVerdict::Repeated: return "repeated";
    case ReceiptVerdict::Parked: return "parked";
    case ReceiptVerdict::Unknown: return "unknown";
  }
  return "unknown";
}

}  // namespace tack
