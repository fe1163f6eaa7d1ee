// records: the plain values the store contract trades in (store.hpp):
// what intake hands in, what a claim hands out, what an attempt and an
// operator record, and what support reads back. No behaviour beyond
// MessageView's two questions, which the lifecycle answers.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "message.hpp"
#include "store/lifecycle.hpp"

namespace tack {

// ---- intake -------------------------------------------------------------

// At most `max` messages to one recipient on one channel in `window_ms`;
// one more is skipped ("frequency cap: 3 per 24h"). max 0: no cap. Counted
// are messages on their way or gone out (lifecycle: reaches_customer) whose
// last change is inside the window.
struct FrequencyCap {
  int max = 0;
  std::int64_t window_ms = 0;
  std::string text;  // "3 per 24h", for the note
};

struct NewMessage {
  std::string rule;
  std::string channel;
  ChannelKind kind = ChannelKind::Sms;
  std::string template_name;
  std::string locale;
  std::string recipient;
  std::string subject;
  std::string text;
  std::string html;
  std::string idempotency_key;
  std::string gateway;  // first gateway of the channel
  MessageState state = MessageState::Queued;  // or Failed with last_error
  std::string last_error;
  std::int64_t expires_at_ms = 0;  // 0: never
  SupersedePolicy supersede = SupersedePolicy::NewerStatus;
  // >= 0: this is the rule's fallback-channel message for messages[i] of
  // the same record; it waits in 'standby' until that one fails.
  int standby_for = -1;
  // Failed only because the event's address could not reach the customer
  // (none, invalid, a fixed line), its text rendered all the same: when
  // support corrected the order's address for this kind (correct_contact),
  // apply_event sends it there instead (Queued).
  bool recipient_refused = false;

  // ---- time (issue 16) ----
  // Scheduled: when it is due (a delayed rule's time, or the end of quiet
  // hours). render_when_due: its texts are empty and the scheduler renders
  // it then, with that day's templates (a follow-up, a promise watch);
  // otherwise it is rendered and only held (quiet hours).
  std::int64_t due_at_ms = 0;
  bool render_when_due = false;
  // A delayed rule's message is the order's, not the event's: a second
  // event that fires the rule (delivered, then picked_up; a replayed
  // status) creates none when the order has one of this rule and channel.
  bool once_per_order = false;
  // Why it waits, or why it was skipped, in support's words ("3d after
  // delivered, unless returned or cancelled", "held: quiet hours until
  // 08:00 Europe/Stockholm", "skipped: no marketing consent for sms").
  std::string note;
  std::string timezone;  // the recipient's, for quiet hours on every later attempt
  std::string country;   // the recipient's (ISO 3166), whose quiet hours apply
  bool urgent = false;   // its rule bypasses quiet hours and frequency caps
  FrequencyCap cap;      // its channel's; checked when it is queued

  // ---- opt-out (issue 17) ----
  // Its rule is transactional and marked `ignore_opt_out`: a suppressed
  // address gets it all the same (never a marketing rule's).
  bool ignore_opt_out = false;
  // A marketing e-mail's one-click unsubscribe URL (RFC 8058), kept so that
  // every retry carries it; empty: none.
  std::string unsubscribe_url;
};

struct EventRecord {
  std::string event_id;        // empty for a rejected event
  std::string claimed_event_id;  // what a rejected event said its id was
  std::string order_id;
  std::string status;
  std::int64_t occurred_at_ms = 0;
  int rank = -1;
  bool terminal = false;
  bool side = false;  // a side status (StatusOrder::side): never stale, the order's status stays
  std::string source;
  std::string payload;  // the raw event (capped for rejected ones)
  std::string reject_reason;  // non-empty: record as rejected
  std::vector<NewMessage> messages;
  // This event cancels the order's scheduled messages of these rules (the
  // rules' `unless` names its status), created by earlier events, with
  // this note ("cancelled: order returned (event E)").
  std::vector<std::string> cancels_rules;
  std::string cancel_note;
};

enum class EventVerdict { Accepted, Duplicate, Stale, Rejected };
inline constexpr std::array kAllVerdicts = {EventVerdict::Accepted, EventVerdict::Duplicate,
                                            EventVerdict::Stale, EventVerdict::Rejected};
std::string to_string(EventVerdict verdict);

struct EventResult {
  EventVerdict verdict = EventVerdict::Accepted;
  std::string event_id;
  std::string reason;  // for Rejected and Stale
  int messages_created = 0;
};


// ---- dispatch -----------------------------------------------------------

// Who claims work, and for how long it is theirs. A claimed message is
// `sending` and owned by `owner` until `lease_ms` after the claim: within the
// lease no one else touches it; once the lease ran out, its owner is taken
// to be gone and recover_interrupted() hands the message back. The lease must
// outlast the longest attempt (every gateway's timeout and retries).
struct Lease {
  std::string owner;  // a tackd instance: this_owner(), its host name
  std::int64_t duration_ms = 10 * 60 * 1000;
};

// A claimed message: everything a gateway needs plus what the dispatcher
// needs to decide what comes next.
struct ClaimedMessage {
  OutboundMessage message;
  std::string gateway;
  int gateway_index = 0;
  // When this round of attempts began: creation, or an operator's retry.
  std::int64_t round_started_at_ms = 0;
  std::int64_t expires_at_ms = 0;  // 0: never
  std::string timezone;            // the recipient's (quiet hours)
  std::string country;             // the recipient's, whose quiet hours apply
  bool urgent = false;             // bypasses quiet hours
};

// ---- the scheduler (issue 16) ---------------------------------------------

// A scheduled message whose time came, claimed by the scheduler under a
// lease (it stays `scheduled`, owned until settled or the lease runs out),
// with what deciding its fate needs: the event it came from and where the
// order stands now.
struct DueScheduled {
  std::int64_t id = 0;
  std::string event_id, order_id, rule, channel;
  ChannelKind kind = ChannelKind::Sms;
  std::string template_name, locale, recipient, timezone, country;
  bool rendered = false;  // held by quiet hours: its texts are fixed already
  bool urgent = false;
  std::int64_t due_at_ms = 0;
  std::string event_payload;  // the event's JSON; kErased when erased
  std::string order_status;   // the order's status now
  int order_rank = -1;
  bool order_terminal = false;
  // Every status the order's accepted events had (side statuses too):
  // whether a promise was kept is decided against the whole history.
  std::vector<std::string> order_statuses;
};

// What the scheduler decided for one DueScheduled.
struct ScheduledOutcome {
  std::int64_t id = 0;
  // Queued (its texts below when it was not rendered), Scheduled (held by
  // quiet hours until due_at_ms), Cancelled, Skipped or Failed (with note).
  MessageState next = MessageState::Queued;
  std::string locale, subject, text, html;
  std::int64_t due_at_ms = 0;
  std::string note;
  std::string last_error;  // Failed: why (a template that did not render)
  FrequencyCap cap;        // checked when it goes Queued
};


struct AttemptRecord {
  std::int64_t message_id = 0;
  std::string gateway;
  std::int64_t started_at_ms = 0;
  std::int64_t duration_ms = 0;
  std::string outcome;  // sent|retry|rejected|unknown|interrupted
  std::string detail;
  std::string provider_id;
  // The message's next state.
  MessageState next_state = MessageState::Queued;
  // Why it waits ("held: quiet hours until 08:00 ..."); "" keeps the note
  // it has (why it was sent), unless that was a quiet-hours hold, now over.
  std::string note;
  std::int64_t next_attempt_at_ms = 0;
  std::string next_gateway;
  int next_gateway_index = 0;
  std::string last_error;
  // Earlier requests of this attempt that got no answer (Outcome::
  // unanswered): each is its own attempt row, outcome unknown with this
  // detail, numbered before this one and written in the same transaction.
  std::vector<std::string> unanswered;
  // Sent by a gateway that reports deliveries: the message's standby (a
  // rule's fallback) waits this long for the receipt before Sent stands
  // (lifecycle: standby_fate); 0 settles it now.
  std::int64_t receipt_wait_ms = 0;
  // Set when the provider refused the send because the recipient opted
  // out with it (Outcome::opted_out): the suppression's source, "answer
  // 21610 via twilio". The recipient is suppressed on the message's kind
  // in the same transaction (actor kAnswerOptOutActor).
  std::string opt_out_source;
};

// ---- delivery receipts (issue 17) -----------------------------------------

struct ReceiptResult {
  ReceiptVerdict verdict = ReceiptVerdict::Unknown;
  std::int64_t message_id = 0;      // Applied, Repeated: the message
  MessageState state = MessageState::Sent;  // its state after the receipt
  bool moved = false;               // the receipt changed its state
  std::string channel_kind;         // "sms" or "email", for an opt-out
  std::string recipient;
};

// One report on a message's receipt timeline.
struct ReceiptView {
  std::string gateway;
  ReceiptKind kind = ReceiptKind::Progress;
  std::string status;  // the provider's word
  std::string reason;
  std::int64_t at_ms = 0;           // the provider's time (received_at_ms when it gave none)
  std::int64_t received_at_ms = 0;  // when tack got it
};



// ---- opt-out (issue 17) ---------------------------------------------------
// A customer who opted out of a channel kind (a STOP reply, a provider's
// opt-out code, the signed link, an operator) is on the suppression list:
// tack sends that address nothing more on that kind (a message to it is
// recorded `suppressed`), except the messages of a transactional rule the
// shop marked `ignore_opt_out`.

struct Suppression {
  ChannelKind kind = ChannelKind::Sms;
  std::string address;  // E.164, or an e-mail address in lower case
  // Why: "reply STOP via 46elks", "receipt 21610 via twilio", "link",
  // "operator NAME".
  std::string source;
  std::string actor;
  std::int64_t created_at_ms = 0;
};

// Who suppresses for a provider's receipt, and the source it records:
// "receipt 21610 via twilio" (the provider's code, else its status word).
inline constexpr const char* kReceiptOptOutActor = "tackd (provider receipt)";
// Who suppresses for a send the provider refused as opted out.
inline constexpr const char* kAnswerOptOutActor = "tackd (provider answer)";
std::string receipt_opt_out_source(const Receipt& receipt);

struct SuppressResult {
  bool added = false;  // false: it was on the list already (the first reason stays)
  std::vector<std::int64_t> suppressed;  // pending messages it suppressed now
};

struct SuppressionFilter {
  std::optional<ChannelKind> kind;
  std::string address;  // exact (e-mail in any letter case); empty: any
  int limit = 1000;     // the newest this many
};

// How many messages are in each state the lifecycle counts (is_counted:
// waiting, in flight, held, dead); 0 for every other state.
struct QueueCounts {
  std::array<std::int64_t, kAllStates.size()> by_state{};
  std::int64_t& operator[](MessageState s) { return by_state[static_cast<std::size_t>(s)]; }
  std::int64_t operator[](MessageState s) const { return by_state[static_cast<std::size_t>(s)]; }
};

// ---- operator verbs -----------------------------------------------------
// Each records who did what in the audit table. A message being sent right
// now is not touched: the answer says so and the operator tries again.

struct OperatorResult {
  int changed = 0;
  std::string error;  // why nothing changed
};


// tackd's own gateway hold: the provider refused tack's credentials or
// account (Outcome::Health::Refused). The row is an ordinary hold with this
// actor, so `tackd release --gateway` ends it; unlike an operator's hold,
// the claim may move its messages to the channel's next gateway. A reload
// that changes the gateway's settings, and a restart, release it.
inline constexpr const char* kRefusedHoldActor = "tackd (credentials refused)";
struct GatewayHold {
  std::string gateway;
  std::string actor;  // kRefusedHoldActor, or the operator's
  std::int64_t at_ms = 0;
};

struct AuditEntry {
  std::int64_t at_ms = 0;
  std::string actor, action, target, detail;
};

// ---- support actions (issue 15) -------------------------------------------
// Support sends a message again, corrects an order's address, notes
// something on an order. Each is audited; a new message is a copy with a
// new idempotency key (copy_idempotency_key), queued now, never expiring
// (someone asked for it now), at the head of its channel's gateway chain.

// Each channel's first gateway as the running config has it, by channel
// name. A channel not in it keeps the gateway its original last used.
using FirstGateways = std::map<std::string, std::string>;

// The idempotency key of a copy of a message: new for every copy (the copy's
// id is unique in the store), so a provider that dedups by key sends it.
std::string copy_idempotency_key(const std::string& original_key, std::int64_t copy_id);

struct ResendResult {
  bool found = false;                  // the message exists
  std::string error;                   // why nothing was sent again (its state)
  std::optional<std::int64_t> copy_id;  // the new message
};

// The address support corrected for an order; empty: not corrected.
struct OrderContact {
  std::string phone;  // E.164, for SMS messages
  std::string email;  // for e-mail messages
};

struct ContactCorrection {
  std::string order_id;
  OrderContact contact;  // what is given replaces the order's; empty: unchanged
  std::string reason;    // typed by support, kept in the audit
  std::string actor;
  FirstGateways first_gateways;
};

struct ContactResult {
  bool found = false;                 // the order exists
  std::vector<std::int64_t> updated;  // pending messages now addressed to the correction
  std::vector<std::int64_t> resent;   // new queued copies of its failed and dead ones
};

// ---- support view -------------------------------------------------------

struct AttemptView {
  int number = 0;
  std::string gateway;
  std::int64_t started_at_ms = 0;
  std::int64_t duration_ms = 0;
  std::string outcome;
  std::string detail;
  std::string provider_id;
};

struct MessageView {
  std::int64_t id = 0;
  std::string event_id, order_id, rule, channel, kind, template_name, locale, recipient;
  std::string subject, text, html, gateway, idempotency_key, provider_id, last_error;
  MessageState state = MessageState::Queued;
  int attempts = 0;
  std::int64_t created_at_ms = 0, updated_at_ms = 0, next_attempt_at_ms = 0;
  std::int64_t fallback_for = 0;  // a rule's fallback message: the id of its primary
  std::int64_t copy_of = 0;       // support sent it again: the id of the original
  std::string note;      // why it waits, was cancelled or skipped (NewMessage::note)
  std::string timezone;  // the recipient's
  std::vector<AttemptView> attempt_log;
  // Oldest first: progress reports, then outcomes (delivered, undelivered,
  // bounced), each group by time.
  std::vector<ReceiptView> receipts;
  // Failed before any gateway saw it: tack refused it at intake (an invalid
  // or fixed-line number, a template that did not render). A retry would
  // send the same refusal, so none is offered.
  bool refused_by_tack() const;
  // The operator verbs that can succeed on it now, for the API and the page.
  std::vector<OperatorVerb> actions() const;
};

struct EventView {
  std::string event_id, order_id, status, verdict, reason, source;
  std::int64_t occurred_at_ms = 0, received_at_ms = 0;
  int duplicates = 0;
  // From the event's payload, for support's one look (empty when the
  // payload has none, or was erased): customer.name and
  // delivery.tracking_url (events of one order with different tracking
  // URLs are the parcels of a split shipment).
  std::string customer_name, tracking_url;
};

struct MessageQuery {
  std::optional<std::string> order_id;
  // Any of these (e-mail in any letter case); empty: any recipient.
  // phone_search_forms gives a typed number's forms.
  std::vector<std::string> recipients;
  std::optional<std::int64_t> message_id;
  int limit = 200;  // the newest this many, in id order
};


// Messages matching every filter given, newest first, one page at a time.
struct MessageSearch {
  std::optional<std::string> order_id;
  std::vector<std::string> recipients;  // any of, exact: E.164 or e-mail address; empty: any
  std::string recipient_typed;          // the "to" that support typed, for the next page's link
  std::optional<MessageState> state;
  std::optional<std::int64_t> since_ms;   // created_at >= since
  std::optional<std::int64_t> until_ms;   // created_at < until
  std::optional<std::int64_t> before_id;  // the page after this message id
  int limit = 50;
};
struct MessagePage {
  std::vector<MessageView> messages;  // newest first, with their attempt logs
  bool more = false;                  // older messages match too
};

// Everything tack knows of one order, or nullopt when it knows nothing. An
// order has a handful of events and messages; these bound a pathological
// one (a shop replaying its history) so that one page stays cheap.
inline constexpr int kTimelineEvents = 1000;
inline constexpr int kTimelineMessages = 1000;
inline constexpr int kTimelineAudit = 1000;
struct OrderTimeline {
  std::string order_id;
  std::optional<std::string> status;  // the order's current status (its last accepted event)
  std::vector<EventView> events;      // as received, rejected and stale ones too: the newest
                                      // kTimelineEvents, oldest first
  std::int64_t events_omitted = 0;    // older events than those

  std::vector<MessageView> messages;  // oldest first, with their attempt logs
  std::vector<AuditEntry> audit;      // operator actions on its messages and on the order
                                      // itself (target "order ID": notes, corrections):
                                      // the newest kTimelineAudit, oldest first
  std::int64_t audit_omitted = 0;     // older actions than those
  // The earliest message still waiting to be sent (queued, retry_wait,
  // scheduled): its id and when it is due. Scheduled ones show in
  // `messages` too, with their note and next_attempt_at (when due).
  std::optional<std::pair<std::int64_t, std::int64_t>> next_contact;
  // The address support corrected for the order, if any (correct_contact).
  std::optional<OrderContact> corrected_contact;
};

// The waiting and in-flight figures for metrics.
struct QueueFigures : QueueCounts {
  std::optional<std::int64_t> oldest_due_at_ms;  // earliest next attempt already due
};

// ---- what changed, for metrics ------------------------------------------
// Messages of one channel and gateway that entered `state` in the units one
// commit made durable; `created`: they were created in it (intake's
// queued, scheduled, standby, or failed when tack refused them itself).
struct StateChange {
  std::string channel;
  std::string gateway;
  MessageState state = MessageState::Queued;
  bool created = false;
  std::int64_t count = 0;
};

// ---- retention and erasure (issue 6) ------------------------------------
// Personal data (recipient, subject, texts, last error, providers' answers,
// raw event payloads, rejected events' reasons) is replaced by kErased and
// the row's erased_at set; states, times, gateways, outcomes, order and
// event ids stay for statistics and audit. Only messages in a final state
// are touched, never one still pending.

inline constexpr const char* kErased = "[erased]";

struct PruneCounts {
  std::int64_t messages = 0, attempts = 0, events = 0;
  // Parked receipts (record_receipt) past the cutoff that no send's answer
  // ever claimed: always deleted.
  std::int64_t receipts = 0;
  bool more = false;  // a batch was full: call again
};



struct ForgetResult {
  int messages = 0, attempts = 0, events = 0;
  int cancelled = 0;                   // were still pending: cancelled, then erased
  std::vector<std::int64_t> in_flight;  // being sent right now: left alone, try again
};

}  // namespace tack
