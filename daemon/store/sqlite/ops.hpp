// sqlite/ops: the SQLite store's operations, one free function over a Db per
// contract operation (store.hpp says what each promises). Internal to
// daemon/store/sqlite/: SqliteTx and SqliteReads forward to these, and the
// SQLite-only tests (EXPLAIN, the faulty VFS, migrations) call them on a
// Db they opened themselves. The files split by concern: schema.cpp,
// events.cpp (intake), queue.cpp (claims and attempts), operators.cpp,
// support.cpp (reads), erasure.cpp (retention and forget).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/records.hpp"
#include "store/sqlite/db.hpp"

namespace tack::sqlite {

// ---- schema (schema.cpp) ----
// Opens (creating if needed) a store file and brings its schema up to date.
std::unique_ptr<Db> open_owner(const std::string& path, bool synchronous_full);
// Opens an existing store of the current schema (the CLI beside tackd).
std::unique_ptr<Db> open_beside(const std::string& path);
std::unique_ptr<Db> open_readonly(const std::string& path);
int schema_version(Db& db);
int current_schema_version();
void require_current_schema(Db& db);
// The partial indexes whose WHERE names states, as the lifecycle says them
// now: (index name, CREATE statement).
std::vector<std::pair<std::string, std::string>> state_indexes();

// ---- rows shared by the files (rows.cpp) ----
extern const char* const kMessageColumns;
MessageView read_message_row(Stmt& s);
void load_attempt_logs(Db& db, std::vector<MessageView>& messages);
std::vector<EventView> read_events(Stmt& s);
extern const char* const kEventColumns;
void audit(Db& db, const std::string& actor, const std::string& action, const std::string& target,
           const std::string& detail, std::int64_t now_ms);
MessageState state_column(Stmt& s, int column);
// What stays of a deleted event's id in event_tombstones: its SHA-256, 32
// bytes, so a replay is recognised without keeping the id itself.
std::string event_tombstone(const std::string& event_id);
// Its standby fallback follows a primary that reached `primary` (lifecycle:
// standby_fate).
// `receipt_wait_ms` > 0: the primary was sent by a gateway that reports
// deliveries, and the standby waits that long for its receipt.
void settle_standby(Db& db, std::int64_t primary_id, MessageState primary, const std::string& why,
                    std::int64_t now_ms, std::int64_t receipt_wait_ms = 0);

// Whether one more message to `recipient` on `channel` would go over `cap`
// (FrequencyCap: those on their way or gone out, changed inside its window).
bool over_frequency_cap(Db& db, const std::string& recipient, const std::string& channel,
                        const FrequencyCap& cap, std::int64_t now_ms);

// ---- intake (events.cpp) ----
EventResult apply_event(Db& db, const EventRecord& record, std::int64_t now_ms);

// ---- queue (queue.cpp) ----
std::vector<ClaimedMessage> claim_due(Db& db, const Lease& lease, const std::string& gateway,
                                      int limit, std::int64_t now_ms);
std::vector<ClaimedMessage> claim_rerouted(Db& db, const Lease& lease, const std::string& channel,
                                           const std::string& from_gateway,
                                           const std::string& to_gateway, int to_index, int limit,
                                           std::int64_t now_ms);
void unclaim(Db& db, const std::vector<std::int64_t>& ids);
void expire_overdue(Db& db, std::int64_t now_ms);
std::optional<std::int64_t> next_due_at(Db& db);
void defer_claimed(Db& db, std::int64_t id, std::int64_t until_ms, const std::string& note,
                   std::int64_t now_ms);

// ---- the scheduler (scheduled.cpp) ----
std::vector<DueScheduled> claim_scheduled(Db& db, const Lease& lease, int limit,
                                          std::int64_t now_ms);
int settle_scheduled(Db& db, const std::vector<ScheduledOutcome>& outcomes,
                     const std::string& owner, std::int64_t now_ms);
std::optional<std::int64_t> next_scheduled_at(Db& db);
void record_attempt(Db& db, const AttemptRecord& attempt, std::int64_t now_ms);
int recover_interrupted(Db& db, const std::string& owner, std::int64_t now_ms);

// ---- delivery receipts (receipts.cpp) ----
ReceiptResult record_receipt(Db& db, const Receipt& receipt, std::int64_t now_ms);
// Receipts parked for (gateway, provider_id) before the send's answer came:
// attached to the message and applied, oldest first.
void apply_parked_receipts(Db& db, std::int64_t message_id, const std::string& gateway,
                           const std::string& provider_id, std::int64_t now_ms);
// Moves message `message_id` as `receipt` says (lifecycle: receipt_moves)
// and settles its standby; `state` is its state after. True when it moved.
bool apply_receipt_to(Db& db, std::int64_t message_id, const Receipt& receipt,
                      std::int64_t now_ms, MessageState& state);
void load_receipts(Db& db, std::vector<MessageView>& messages);
QueueCounts queue_counts(Db& db);
QueueFigures queue_figures(Db& db, std::int64_t now_ms);

// ---- operator verbs (operators.cpp) ----
OperatorResult operator_verb(Db& db, OperatorVerb verb, std::int64_t id, const std::string& actor,
                             std::int64_t now_ms);
OperatorResult retry_dead(Db& db, std::int64_t since_ms, const std::optional<std::string>& gateway,
                          const std::string& actor, std::int64_t now_ms);
OperatorResult retry_failed(Db& db, std::int64_t since_ms,
                            const std::optional<std::string>& gateway, const std::string& actor,
                            std::int64_t now_ms);
OperatorResult hold_gateway(Db& db, const std::string& gateway, bool hold,
                            const std::string& actor, std::int64_t now_ms);
std::vector<std::string> held_gateways(Db& db);
std::vector<GatewayHold> gateway_holds(Db& db);
bool hold_refused_gateway(Db& db, const std::string& gateway, const std::string& answer,
                          std::int64_t now_ms);
std::vector<std::string> release_refused_holds(Db& db, const std::optional<std::string>& gateway,
                                               const std::string& why, std::int64_t now_ms);
std::vector<AuditEntry> audit_for(Db& db, const std::string& target);

// ---- support actions (actions.cpp) ----
ResendResult resend_message(Db& db, std::int64_t id, const std::string& reason,
                            const std::string& actor, const FirstGateways& first_gateways,
                            std::int64_t now_ms);
ContactResult correct_contact(Db& db, const ContactCorrection& correction, std::int64_t now_ms);
std::optional<AuditEntry> add_order_note(Db& db, const std::string& order_id,
                                         const std::string& text, const std::string& actor,
                                         std::int64_t now_ms);
// The order's corrected address, if support gave one.
std::optional<OrderContact> order_contact(Db& db, const std::string& order_id);
// Whether tack knows the order: an event or a message of it.
bool order_known(Db& db, const std::string& order_id);

// ---- support reads (support.cpp) ----
std::vector<MessageView> find_messages(Db& db, const MessageQuery& query);
MessagePage search_messages(Db& db, const MessageSearch& search);
std::optional<OrderTimeline> order_timeline(Db& db, const std::string& order_id);
std::vector<EventView> find_events(Db& db, const std::string& order_id);
std::vector<EventView> rejected_events(Db& db, int limit);
void for_each_message(Db& db, std::int64_t since_ms, std::int64_t until_ms,
                      const std::function<void(const MessageView&)>& each);

// ---- opt-out (optout.cpp) ----
SuppressResult suppress(Db& db, ChannelKind kind, const std::string& address,
                        const std::string& source, const std::string& actor, std::int64_t now_ms);
bool unsuppress(Db& db, ChannelKind kind, const std::string& address, const std::string& actor,
                std::int64_t now_ms);
std::vector<Suppression> suppressions(Db& db, const SuppressionFilter& filter);
// A receipt said the recipient of message `message_id` opted out: its
// address goes on the list of its kind (record_receipt, parked ones too).
// Suppresses the recipient of message `message_id` on its kind (a
// provider's receipt or answer said they opted out).
void suppress_message_recipient(Db& db, std::int64_t message_id, const std::string& source,
                                const std::string& actor, std::int64_t now_ms);
// The address as the suppression list keeps it (e-mail in lower case).
std::string normalised_address(ChannelKind kind, const std::string& address);
// "suppressed: opted out of sms since ... (why)" when `address` is on the
// list of `kind`; nullopt when it is not.
std::optional<std::string> suppression_note(Db& db, ChannelKind kind, const std::string& address);

// ---- retention and erasure (erasure.cpp) ----
PruneCounts prune_batch(Db& db, std::int64_t cutoff_ms, bool remove, int limit,
                        std::int64_t now_ms);
PruneCounts prune_preview(Db& db, std::int64_t cutoff_ms);
std::vector<std::string> orders_of_recipient(Db& db, const std::string& recipient);
std::vector<std::pair<std::int64_t, std::string>> events_of_orders(
    Db& db, const std::vector<std::string>& order_ids);
void scan_event_payloads(Db& db, const std::string& needle, const std::string& digits,
                         const std::function<void(std::int64_t, const std::string&)>& each);
ForgetResult forget_recipient(Db& db, const std::string& recipient,
                              const std::vector<std::int64_t>& event_ids, const std::string& actor,
                              std::int64_t now_ms);

}  // namespace tack::sqlite
