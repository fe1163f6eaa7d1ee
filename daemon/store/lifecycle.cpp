#include "store/lifecycle.hpp"

#include <algorithm>

namespace tack {

namespace {
using S = MessageState;

bool one_of(S state, std::initializer_list<S> states) {
  return std::find(states.begin(), states.end(), state) != states.end();
}
}  // namespace

std::string_view to_string(MessageState state) {
  switch (state) {
    case S::Scheduled: return "scheduled";
    case S::Queued: return "queued";
    case S::Sending: return "sending";
    case S::RetryWait: return "retry_wait";
    case S::Held: return "held";
    case S::Standby: return "standby";
    case S::Sent: return "sent";
    case S::Delivered: return "delivered";
    case S::Failed: return "failed";
    case S::Dead: return "dead";
    case S::Cancelled: return "cancelled";
    case S::Suppressed: return "suppressed";
    case S::Superseded: return "superseded";
    case S::Expired: return "expired";
    case S::NotNeeded: return "not_needed";
    case S::Skipped: return "skipped";
    case S::Undelivered: return "undelivered";
    case S::Bounced: return "bounced";
  }
  return "failed";
}

std::optional<MessageState> parse_state(std::string_view name) {
  for (auto state : kAllStates) {
    if (to_string(state) == name) return state;
  }
  return std::nullopt;
}

std::ostream& operator<<(std::ostream& out, MessageState state) { return out << to_string(state); }

bool is_final(MessageState state) {
  return one_of(state, {S::Sent, S::Delivered, S::Failed, S::Dead, S::Cancelled, S::Suppressed,
                        S::Superseded, S::Expired, S::NotNeeded, S::Skipped, S::Undelivered,
                        S::Bounced});
}

bool is_claimable(MessageState state) { return one_of(state, {S::Queued, S::RetryWait}); }

// A scheduled message expires too: a follow-up whose time passed while tackd
// was down goes at once, unless its ttl ran out.
bool expires(MessageState state) {
  return one_of(state, {S::Queued, S::RetryWait, S::Standby, S::Scheduled});
}

bool is_waiting(MessageState state) {
  return one_of(state, {S::Queued, S::RetryWait, S::Scheduled});
}

bool is_scheduled(MessageState state) { return state == S::Scheduled; }

// A scheduled message does not: a follow-up due in three days must not hold
// back today's "returned", and a status update held by quiet hours is
// superseded by a newer one rather than sent before it.
bool blocks_later_sibling(MessageState state) {
  return one_of(state, {S::Queued, S::RetryWait, S::Sending});
}

bool is_counted(MessageState state) {
  return one_of(state, {S::Queued, S::RetryWait, S::Sending, S::Held, S::Scheduled, S::Dead});
}

bool is_looked_up_by_state(MessageState state) {
  return !one_of(state, {S::Sent, S::Delivered, S::NotNeeded});
}

bool reaches_customer(MessageState state) {
  return one_of(state, {S::Queued, S::RetryWait, S::Sending, S::Sent, S::Delivered, S::Held});
}

bool carries_news(MessageState state) {
  return !one_of(state, {S::Standby, S::NotNeeded, S::Failed, S::Cancelled, S::Superseded,
                         S::Expired, S::Dead, S::Skipped, S::Undelivered, S::Bounced});
}

std::string_view to_string(SupersedePolicy policy) {
  return policy == SupersedePolicy::Never ? "never" : "newer_status";
}

std::optional<SupersedePolicy> parse_supersede_policy(std::string_view name) {
  if (name == "newer_status") return SupersedePolicy::NewerStatus;
  if (name == "never") return SupersedePolicy::Never;
  return std::nullopt;
}

bool superseded_on_arrival(SupersedePolicy newer, MessageState newer_state, SupersedePolicy older,
                           MessageState older_state) {
  // A newer update held by quiet hours (scheduled) overtakes too: both would
  // go out when the window opens, and the customer wants the latest once.
  return newer == SupersedePolicy::NewerStatus && older == SupersedePolicy::NewerStatus &&
         one_of(newer_state, {S::Queued, S::Scheduled}) &&
         one_of(older_state, {S::RetryWait, S::Scheduled});
}

bool superseded_on_retry(SupersedePolicy older, MessageState next, SupersedePolicy newer,
                         MessageState newer_state) {
  return older == SupersedePolicy::NewerStatus && newer == SupersedePolicy::NewerStatus &&
         one_of(next, {S::Queued, S::RetryWait}) && is_waiting(newer_state);
}

StandbyFate standby_fate(MessageState primary, bool awaiting_receipt) {
  StandbyFate fate;
  if (primary == S::Sent && awaiting_receipt) return fate;  // Wait
  switch (primary) {
    // An attempt that ends in Expired means the primary's next retry would
    // come too late; its fallback may still be in time (the store expires
    // it when it is not).
    case S::Failed:
    case S::Dead:
    case S::Expired:
    // The provider took it, and then reported that it never arrived.
    case S::Undelivered:
    case S::Bounced:
    // The customer opted out of the primary's channel, not of the news: the
    // fallback on the other channel carries it (unless opted out there too).
    case S::Suppressed: fate.action = StandbyFate::Action::Release; break;
    case S::Sent:
    case S::Delivered:
      fate.action = StandbyFate::Action::Follow;
      fate.to_state = S::NotNeeded;
      break;
    case S::Superseded:
    case S::Cancelled:
    case S::Skipped:
      fate.action = StandbyFate::Action::Follow;
      fate.to_state = primary;
      break;
    default: break;  // still on its way (retrying, held): the standby keeps waiting
  }
  return fate;
}

bool receipt_wait_over(MessageState primary) {
  return one_of(primary, {S::Sent, S::Delivered});
}

std::optional<MessageState> receipt_moves(MessageState state, ReceiptKind kind) {
  switch (kind) {
    case ReceiptKind::Progress: return std::nullopt;
    case ReceiptKind::Delivered:
      if (one_of(state, {S::Sent, S::Undelivered, S::Bounced})) return S::Delivered;
      return std::nullopt;
    case ReceiptKind::Undelivered:
      if (state == S::Sent) return S::Undelivered;
      return std::nullopt;
    case ReceiptKind::Bounced:
      if (state == S::Sent) return S::Bounced;
      return std::nullopt;
  }
  return std::nullopt;
}

std::string_view to_string(OperatorVerb verb) {
  switch (verb) {
    case OperatorVerb::Retry: return "retry";
    case OperatorVerb::Cancel: return "cancel";
    case OperatorVerb::Hold: return "hold";
    case OperatorVerb::Release: return "release";
    case OperatorVerb::SendNow: return "send-now";
  }
  return "retry";
}

std::vector<MessageState> verb_sources(OperatorVerb verb) {
  switch (verb) {
    // A retry starts a fresh round of attempts.
    case OperatorVerb::Retry: return {S::Failed, S::Dead, S::RetryWait, S::Held};
    case OperatorVerb::Cancel: return {S::Queued, S::RetryWait, S::Scheduled, S::Held};
    // A scheduled message is cancelled or sent now, never held: one that is
    // not rendered yet could not be released as it is.
    case OperatorVerb::Hold: return {S::Queued, S::RetryWait};
    case OperatorVerb::Release: return {S::Held};
    case OperatorVerb::SendNow: return {S::Scheduled};
  }
  return {};
}

MessageState verb_target(OperatorVerb verb) {
  switch (verb) {
    case OperatorVerb::Retry: return S::Queued;
    case OperatorVerb::Cancel: return S::Cancelled;
    case OperatorVerb::Hold: return S::Held;
    case OperatorVerb::Release: return S::Queued;
    case OperatorVerb::SendNow: return S::Scheduled;  // due now: the scheduler takes it
  }
  return S::Queued;
}

bool verb_applies(OperatorVerb verb, MessageState state) {
  auto from = verb_sources(verb);
  return std::find(from.begin(), from.end(), state) != from.end();
}

bool refused_by_tack(MessageState state, std::size_t attempts_logged) {
  return state == S::Failed && attempts_logged == 0;
}

std::vector<OperatorVerb> available_verbs(MessageState state, std::size_t attempts_logged,
                                          bool erased) {
  std::vector<OperatorVerb> out;
  if (erased) return out;  // nothing left to send
  for (auto verb : kAllVerbs) {
    if (!verb_applies(verb, state)) continue;
    if (verb == OperatorVerb::Retry && refused_by_tack(state, attempts_logged)) continue;
    out.push_back(verb);
  }
  return out;
}

bool cancelled_by_forget(MessageState state) {
  return one_of(state, {S::Queued, S::RetryWait, S::Scheduled, S::Held, S::Standby});
}

bool may_resend(MessageState state) {
  return one_of(state, {S::Sent, S::Delivered, S::Undelivered, S::Bounced});
}

bool follows_corrected_contact(MessageState state) {
  return one_of(state, {S::Queued, S::RetryWait, S::Held, S::Standby, S::Scheduled});
}

// An undelivered SMS or a bounced e-mail went nowhere too: a wrong number
// or address is the usual reason.
bool resent_on_corrected_contact(MessageState state) {
  return one_of(state, {S::Failed, S::Dead, S::Undelivered, S::Bounced});
}

std::vector<MessageState> states_where(const StatePredicate& predicate) {
  std::vector<MessageState> out;
  for (auto state : kAllStates) {
    if (predicate(state)) out.push_back(state);
  }
  return out;
}

std::string sql_state_is(const StatePredicate& predicate, std::string_view column) {
  std::string sql = "(";
  for (auto state : states_where(predicate)) {
    if (sql.size() > 1) sql += " OR ";
    sql.append(column).append(" = '").append(to_string(state)).append("'");
  }
  return sql.size() > 1 ? sql + ")" : "(0)";
}

std::string sql_state_list(const StatePredicate& predicate) {
  std::string sql = "(";
  for (auto state : states_where(predicate)) {
    if (sql.size() > 1) sql += ", ";
    sql.append("'").append(to_string(state)).append("'");
  }
  return sql + ")";
}

}  // namespace tack
