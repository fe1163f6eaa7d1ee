// retention: how long the delivery log keeps personal data, and erasing one
// person's data on request (issue 6, "Hostile input and data hygiene").
//
// Retention runs inside tackd on the Asio loop: every `retention.interval`
// it asks the store (through the writer thread, Store::call) for one batch
// of prune_batch at a time: at most `retention.batch` messages and events,
// oldest first, anonymised or deleted, then it yields the writer to intake
// and the dispatcher before the next batch. A pass ends when a batch comes
// back short. It logs what it did as counts (never a recipient) and counts
// rows in tack_retention_pruned_total. Only messages in a final state are
// touched (store/store.hpp), so nothing pending is ever lost.
//
// The forget helpers serve `tackd forget --to`: normalise the person as
// intake does (phone.hpp), find every event whose payload names them, and
// leave the erasing to store's forget_recipient.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "asio.hpp"
#include "config.hpp"
#include "metrics.hpp"
#include "store/store.hpp"

namespace tack {

class Retention {
 public:
  // `clock` gives wall-clock milliseconds (tests pass their own).
  Retention(asio::io_context& io, Store& store, RetentionPolicy policy,
            std::function<std::int64_t()> clock);
  void start();                               // the first pass runs at once
  void stop();                                // ends the loop at its next step
  void set_policy(const RetentionPolicy& p);  // reload; takes effect at the next pass
  void set_metrics(Metrics* metrics) { metrics_ = metrics; }
  // Totals since start, for tests and the log.
  const PruneCounts& total() const { return total_; }
  int passes() const { return passes_; }

 private:
  asio::awaitable<void> run();
  asio::awaitable<void> pass();

  asio::io_context& io_;
  Store& store_;
  RetentionPolicy policy_;
  std::function<std::int64_t()> clock_;
  Metrics* metrics_ = nullptr;
  asio::steady_timer timer_;
  bool stopping_ = false;
  PruneCounts total_;
  int passes_ = 0;
};

// The person a forget request names, as the store keeps them: an e-mail
// address as given (the store compares letter case-insensitively) or a
// phone number in E.164 via the config's region. nullopt with `error` when
// it is neither.
std::optional<std::string> forget_recipient_key(const std::string& raw,
                                                const std::string& default_region,
                                                std::string& error);

// Whether an event payload names `recipient`: its customer's e-mail (any
// letter case) or phone (normalised with `default_region`) is theirs, or the
// text holds the address or the E.164 number anywhere.
bool payload_names(const std::string& payload, const std::string& recipient,
                   const std::string& default_region);

// Ids of every event not yet erased that names `recipient`: the events of
// their orders, and a scan of every payload (read only).
std::vector<std::int64_t> events_naming(StoreReader& store, const std::string& recipient,
                                        const std::string& default_region);

}  // namespace tack
