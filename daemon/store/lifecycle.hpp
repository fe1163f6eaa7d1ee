// lifecycle: the message state machine, in one pure module. Every question
// "what may happen to a message in this state?" is answered here, and only
// here: the store implementations ask it (and generate their SQL state
// lists and partial-index predicates from it), the dispatcher and intake
// name states through it, the API and the page show what it allows.
//
// The states (DESIGN.md): scheduled -> queued -> sending -> sent ->
// delivered (or undelivered, bounced: the provider's receipt), with
// retry_wait, held, standby besides while a message is on its way, and
// failed, dead, cancelled, suppressed, superseded, expired, not_needed and
// skipped as its ends. Adding a state is a change to this module (its
// name and its answers below) and to the store implementation that keeps it;
// nothing else names states by hand.
//
// No I/O, no clock: values in, values out.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "message.hpp"

namespace tack {

enum class MessageState : std::uint8_t {
  Scheduled,   // waits for its time: a delayed rule (a follow-up, a promise
               // watch: rendered when due) or quiet hours (rendered, held)
  Queued,      // due now
  Sending,     // claimed by a dispatcher; a gateway has it
  RetryWait,   // a gateway said "later"
  Held,        // an operator paused it
  Standby,     // a rule's fallback, waiting for its primary to fail
  Sent,        // a gateway accepted it
  Delivered,   // the provider reported it delivered
  Undelivered, // the provider reported that the network gave up on it (an SMS)
  Bounced,     // the provider reported that the mail server refused it (an e-mail)
  Failed,      // refused for good (by tack at intake, or by every gateway)
  Dead,        // ran out of attempts or time while retrying
  Cancelled,   // an operator (or a forget request) cancelled it
  Suppressed,  // the customer opted out of this channel
  Superseded,  // newer news for the order overtook it
  Expired,     // its rule's ttl ran out before it could be sent
  NotNeeded,   // a standby whose primary was sent
  Skipped,     // never sent by design: a frequency cap, no marketing consent
};

inline constexpr std::array kAllStates = {
    MessageState::Scheduled, MessageState::Queued,    MessageState::Sending,
    MessageState::RetryWait, MessageState::Held,      MessageState::Standby,
    MessageState::Sent,      MessageState::Delivered, MessageState::Failed,
    MessageState::Dead,      MessageState::Cancelled, MessageState::Suppressed,
    MessageState::Superseded, MessageState::Expired,  MessageState::NotNeeded,
    MessageState::Skipped,    MessageState::Undelivered, MessageState::Bounced,
};

// The stored name ("retry_wait"), stable across versions.
std::string_view to_string(MessageState state);
std::optional<MessageState> parse_state(std::string_view name);
std::ostream& operator<<(std::ostream& out, MessageState state);

// ---- what a state means -------------------------------------------------

// Nothing more will happen to it: retention may erase it.
bool is_final(MessageState state);
inline bool is_pending(MessageState state) { return !is_final(state); }
// A dispatcher may claim it once its next attempt is due.
bool is_claimable(MessageState state);
// Its rule's ttl applies: past expires_at it becomes Expired, never sent late.
bool expires(MessageState state);
// Waits for a send time the page can show ("next contact").
bool is_waiting(MessageState state);
// The scheduler's: it waits for its time, then the scheduler renders it (if
// it is not yet) and queues it, or cancels or skips it (StoreTx::
// claim_scheduled, settle_scheduled).
bool is_scheduled(MessageState state);
// An earlier message of the same order and channel in this state keeps a
// later one from being claimed: the customer hears the news in order.
bool blocks_later_sibling(MessageState state);
// Counted on /metrics and in systemd's status line (QueueCounts).
bool is_counted(MessageState state);
// Counted and not final: waiting or in flight, a tack_queue_messages gauge.
inline bool is_queued_work(MessageState state) { return is_counted(state) && is_pending(state); }
// Support looks messages up by this state (the partial state index); the
// bulk of the log (sent, delivered, not needed) is left out of it.
bool is_looked_up_by_state(MessageState state);
// The customer has the news, or is about to get it (a fallback in this
// state means its primary must not be retried).
bool reaches_customer(MessageState state);
// A later message in this state carries news of its own, so a standby
// released for an earlier one would arrive out of date.
bool carries_news(MessageState state);

// ---- superseding --------------------------------------------------------

// Whether a newer message of an order may overtake an older one on the same
// channel that has not gone out yet. A status update is superseded by a
// newer status update (the customer wants the latest news, once); a
// follow-up or a promise watch will say Never.
enum class SupersedePolicy : std::uint8_t { NewerStatus, Never };
inline constexpr std::array kAllSupersedePolicies = {SupersedePolicy::NewerStatus,
                                                     SupersedePolicy::Never};
std::string_view to_string(SupersedePolicy policy);
std::optional<SupersedePolicy> parse_supersede_policy(std::string_view name);

// When a new message of `newer` policy is created in `newer_state`: an
// older one of `older` policy in `older_state` is superseded. Only a message
// that goes out now or when quiet hours end overtakes, and only one waiting
// for a retry or a send time is overtaken (a queued one is about to go and
// is left to go).
bool superseded_on_arrival(SupersedePolicy newer, MessageState newer_state,
                           SupersedePolicy older, MessageState older_state);
// When an attempt sends a message of policy `older` back to wait (`next` is
// Queued or RetryWait) while a newer message of the same order and channel,
// of policy `newer`, waits in `newer_state`: the older one is superseded
// instead of holding the newer one back. Only a newer status update
// overtakes (a follow-up that arrived while the update was in flight does
// not make the update out of date).
bool superseded_on_retry(SupersedePolicy older, MessageState next, SupersedePolicy newer,
                         MessageState newer_state);

// ---- fallbacks (standby) ------------------------------------------------

// What a standby does when its primary reaches `primary`.
struct StandbyFate {
  enum class Action {
    Wait,     // the primary is still on its way
    Release,  // the primary failed or gave up: the standby goes out (Queued),
              // unless a later message carries newer news (then Superseded)
    Follow,   // the standby ends like its primary (to_state)
  };
  Action action = Action::Wait;
  MessageState to_state = MessageState::Standby;  // for Follow
};
// `awaiting_receipt`: the primary's gateway reports deliveries and this
// one was sent less than its receipt wait ago, so a mere Sent is not yet
// news that it arrived: the standby waits for the receipt (or the wait's
// end: receipt_wait_over).
StandbyFate standby_fate(MessageState primary, bool awaiting_receipt = false);
// The standby of a primary in this state whose receipt wait ran out
// without a receipt: Sent stands, and the standby is not needed.
bool receipt_wait_over(MessageState primary);

// ---- delivery receipts --------------------------------------------------

// Where a provider's receipt of `kind` moves a message in `state`, or
// nullopt when it stays (the receipt is only on its timeline): progress
// moves nothing; delivered wins over an earlier undelivered or bounced (the
// network got it there after all); undelivered and bounced move only a
// sent message (a later report never undoes a delivery). A message still
// `sending` has its receipt parked until the send's answer is recorded.
std::optional<MessageState> receipt_moves(MessageState state, ReceiptKind kind);

// ---- operator verbs -----------------------------------------------------

// SendNow: a scheduled message is due now (the scheduler renders and queues
// it at once; quiet hours still hold one that is not urgent).
enum class OperatorVerb : std::uint8_t { Retry, Cancel, Hold, Release, SendNow };
inline constexpr std::array kAllVerbs = {OperatorVerb::Retry, OperatorVerb::Cancel,
                                         OperatorVerb::Hold, OperatorVerb::Release,
                                         OperatorVerb::SendNow};
std::string_view to_string(OperatorVerb verb);  // "retry" ... "send-now"
// The states a verb works on, and where it takes the message.
std::vector<MessageState> verb_sources(OperatorVerb verb);
MessageState verb_target(OperatorVerb verb);
bool verb_applies(OperatorVerb verb, MessageState state);
// Failed before any gateway saw it (no attempt logged): tack refused it at
// intake (an invalid or fixed-line number, a template that did not
// render). A retry would send the same refusal, so none is offered.
bool refused_by_tack(MessageState state, std::size_t attempts_logged);
// The verbs that can succeed on a message now, for the API and the page.
std::vector<OperatorVerb> available_verbs(MessageState state, std::size_t attempts_logged,
                                          bool erased);
// A forget request cancels a message in this state before erasing it.
bool cancelled_by_forget(MessageState state);

// ---- support actions ----------------------------------------------------

// Support may send it again as a new message (StoreTx::resend_message): a
// provider accepted it, and the customer says it never arrived.
bool may_resend(MessageState state);
// When support corrects an order's phone or e-mail (StoreTx::
// correct_contact): a message in this state has not gone out yet and goes
// to the corrected address instead...
bool follows_corrected_contact(MessageState state);
// ...and one in this state went nowhere for good, so a new copy goes to the
// corrected address.
bool resent_on_corrected_contact(MessageState state);

// ---- SQL, generated -----------------------------------------------------
// Every state list and partial-index predicate the stores write comes from
// the answers above, so a new state needs no hand-edited SQL. The form is
// `(state = 'a' OR state = 'b')`: SQLite's planner matches a partial index
// whose WHERE has the same terms, and evaluates OR without the temporary
// b-tree an IN list builds on every write.

using StatePredicate = std::function<bool(MessageState)>;
std::vector<MessageState> states_where(const StatePredicate& predicate);
// `(column = 'a' OR column = 'b')`; `(0)` when no state matches.
std::string sql_state_is(const StatePredicate& predicate, std::string_view column = "state");
// `('a', 'b')`, for NOT IN.
std::string sql_state_list(const StatePredicate& predicate);

}  // namespace tack
