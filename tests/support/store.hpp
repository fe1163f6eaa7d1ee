// Test helpers for code that uses the store contract (store/store.hpp).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "store/store.hpp"

namespace tack::testing {

// The store tackd would open at `path`, created if need be.
inline std::unique_ptr<Store> open_test_store(const std::string& path) {
  StoreOptions options;
  options.location = path;
  return open_store(options);
}

inline const Lease kTestLease{"test-node", 10 * 60 * 1000};

// A queued SMS of rule "r" to a Swedish mobile through gateway "gw".
inline NewMessage sms(const std::string& key, const std::string& channel = "sms") {
  NewMessage m;
  m.rule = "r";
  m.channel = channel;
  m.kind = ChannelKind::Sms;
  m.template_name = "shipped";
  m.locale = "sv";
  m.recipient = "+46701234567";
  m.text = "Hej";
  m.idempotency_key = key;
  m.gateway = "gw";
  return m;
}

// An accepted-looking event of `order` with `messages`.
inline EventRecord event(const std::string& id, const std::string& order,
                         const std::string& status, int rank,
                         std::vector<NewMessage> messages = {}, bool terminal = false) {
  EventRecord r;
  r.event_id = id;
  r.order_id = order;
  r.status = status;
  r.rank = rank;
  r.terminal = terminal;
  r.source = "test";
  r.payload = "{}";
  r.messages = std::move(messages);
  return r;
}

}  // namespace tack::testing
