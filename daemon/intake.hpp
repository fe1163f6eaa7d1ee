// intake: turns raw event documents into committed events and messages.
//
// For each document: validate it (event), pick the rules it fires (rules),
// resolve each channel's recipient (phone to E.164, e-mail checked), render
// the template in the customer's locale (render), transliterate an SMS where
// its channel says and fail one over the channel's segment budget with the
// reason (sms_cost), and derive each message's
// idempotency key from event, rule and channel. That planning is pure
// (plan_event) and runs on the caller's thread. The store then records the
// plan in one group-committed unit that also deduplicates by event_id and
// keeps per-order status order (StoreTx::apply_event).
//
// A source calls submit() and acknowledges its events only when `done`
// reports them committed. Bad events are recorded as rejected with their
// reason; they never fail the batch.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config.hpp"
#include "metrics.hpp"
#include "render.hpp"
#include "store/store.hpp"

namespace tack {

// What intake needs from the config; swapped whole on reload.
struct Snapshot {
  Config config;
  std::shared_ptr<const TemplateSet> templates;
  RenderContext render_context() const;
  // The signed opt-out link for `address` on `kind` (optout.hpp), or ""
  // when http.public_url or http.optout_secret is not configured.
  std::string optout_url(ChannelKind kind, const std::string& address, const std::string& locale,
                         std::int64_t now_ms) const;
};

// Pure: the record the store will apply for this document, received at
// `now_ms` (quiet hours hold a message planned outside the recipient's
// allowed hours until they open).
EventRecord plan_event(std::string_view text, const Snapshot& snapshot, const std::string& source,
                       std::int64_t now_ms);


std::string idempotency_key(const std::string& event_id, const std::string& rule,
                            const std::string& channel);

// An e-mail address as intake takes one from an event (one '@', a dot in
// the domain, no spaces, control characters or list separators, at most
// 254 bytes); also for the address support corrects an order to.
bool plausible_email(const std::string& address);

struct IntakeBatch {
  std::string error;  // non-empty: nothing was committed, do not acknowledge
  std::vector<EventResult> results;  // one per document, in order
};

class Intake {
 public:
  using Now = std::function<std::int64_t()>;  // Unix epoch milliseconds
  Intake(Store& store, std::shared_ptr<const Snapshot> snapshot, Now now);

  void set_snapshot(std::shared_ptr<const Snapshot> snapshot);
  std::shared_ptr<const Snapshot> snapshot() const;

  // Called (on the store thread) after a commit that created messages.
  void on_new_messages(std::function<void()> callback) { on_new_messages_ = std::move(callback); }
  // Counts each committed event by source and verdict there (optional).
  void set_metrics(Metrics* metrics) { metrics_ = metrics; }

  // Thread-safe. `done` runs on the store's thread after commit.
  void submit(std::vector<std::string> documents, const std::string& source,
              std::function<void(IntakeBatch)> done);
  // Blocking form for source threads (never call on the event loop).
  IntakeBatch submit_and_wait(std::vector<std::string> documents, const std::string& source);

  // A request refused before its events could be read (a body over
  // http.max_body_bytes, one that never arrived whole, issue 12): recorded
  // as one rejected event of `source` with `reason` and no payload, so it
  // shows in `tackd log --rejected`. Thread-safe; `done` as for submit.
  void record_refused(const std::string& source, std::string reason,
                      std::function<void(IntakeBatch)> done);

 private:
  void commit(std::shared_ptr<std::vector<EventRecord>> records, const std::string& source,
              std::function<void(IntakeBatch)> done);
  Store& store_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> snapshot_;
  Now now_;
  std::function<void()> on_new_messages_;
  Metrics* metrics_ = nullptr;
};

}  // namespace tack
