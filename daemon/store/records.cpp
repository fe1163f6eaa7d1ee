#include "store/records.hpp"

namespace tack {

std::string to_string(EventVerdict verdict) {
  switch (verdict) {
    case EventVerdict::Accepted: return "accepted";
    case EventVerdict::Duplicate: return "duplicate";
    case EventVerdict::Stale: return "stale";
    case EventVerdict::Rejected: return "rejected";
  }
  return "rejected";
}

bool MessageView::refused_by_tack() const {
  return tack::refused_by_tack(state, attempt_log.size());
}

std::vector<OperatorVerb> MessageView::actions() const {
  return available_verbs(state, attempt_log.size(), recipient == kErased);
}

}  // namespace tack
