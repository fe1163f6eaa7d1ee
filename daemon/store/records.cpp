#include "store/records.hpp"

#include "digest.hpp"

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

std::string copy_idempotency_key(const std::string& original_key, std::int64_t copy_id) {
  std::string material = original_key;
  material.push_back('\0');
  material += "copy " + std::to_string(copy_id);
  return "tack-" + sha256_hex(material).substr(0, 32);
}

bool MessageView::refused_by_tack() const {
  return tack::refused_by_tack(state, attempt_log.size());
}

std::vector<OperatorVerb> MessageView::actions() const {
  return available_verbs(state, attempt_log.size(), recipient == kErased);
}

std::string receipt_opt_out_source(const Receipt& receipt) {
  const std::string& code = receipt.reason.empty() ? receipt.status : receipt.reason;
  return "receipt " + code + " via " + receipt.gateway;
}

}  // namespace tack
