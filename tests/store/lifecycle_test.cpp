// The message state machine (store/lifecycle.hpp), state by state and verb
// by verb. Each table below is written out by hand from what a state means
// (the comments in lifecycle.hpp), not derived from the code under test:
// a change to the lifecycle has to change a line here too.
#include "store/lifecycle.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <set>
#include <sstream>

using namespace tack;

namespace {

using S = MessageState;

// What each state means, one row per state, in kAllStates order.
struct Row {
  S state;
  const char* name;
  bool final_, claimable, expires_, waiting, blocks, counted, looked_up, reaches, news, forget;
};

// clang-format off
//   state          name          final claim expir wait  block count index reach news  forget
const Row kRows[] = {
  {S::Scheduled,  "scheduled",  false, false, true,  true,  false, true,  true,  false, true,  true },
  {S::Queued,     "queued",     false, true,  true,  true,  true,  true,  true,  true,  true,  true },
  {S::Sending,    "sending",    false, false, false, false, true,  true,  true,  true,  true,  false},
  {S::RetryWait,  "retry_wait", false, true,  true,  true,  true,  true,  true,  true,  true,  true },
  {S::Held,       "held",       false, false, false, false, false, true,  true,  true,  true,  true },
  {S::Standby,    "standby",    false, false, true,  false, false, false, true,  false, false, true },
  {S::Sent,       "sent",       true,  false, false, false, false, false, false, true,  true,  false},
  {S::Delivered,  "delivered",  true,  false, false, false, false, false, false, true,  true,  false},
  {S::Failed,     "failed",     true,  false, false, false, false, false, true,  false, false, false},
  {S::Dead,       "dead",       true,  false, false, false, false, true,  true,  false, false, false},
  {S::Cancelled,  "cancelled",  true,  false, false, false, false, false, true,  false, false, false},
  {S::Suppressed, "suppressed", true,  false, false, false, false, false, true,  false, true,  false},
  {S::Superseded, "superseded", true,  false, false, false, false, false, true,  false, false, false},
  {S::Expired,    "expired",    true,  false, false, false, false, false, true,  false, false, false},
  {S::NotNeeded,  "not_needed", true,  false, false, false, false, false, false, false, false, false},
  {S::Skipped,    "skipped",    true,  false, false, false, false, false, true,  false, false, false},
  {S::Undelivered,"undelivered",true,  false, false, false, false, false, true,  false, false, false},
  {S::Bounced,    "bounced",    true,  false, false, false, false, false, true,  false, false, false},
};
// clang-format on

std::set<S> as_set(const std::vector<S>& states) {
  return {states.begin(), states.end()};
}

}  // namespace

TEST_CASE("the table covers every state once, in kAllStates order", "[lifecycle]") {
  REQUIRE(std::size(kRows) == kAllStates.size());
  for (std::size_t i = 0; i < kAllStates.size(); ++i) CHECK(kRows[i].state == kAllStates[i]);
}

TEST_CASE("every state's name round-trips, and an unknown name is rejected", "[lifecycle]") {
  std::set<std::string_view> names;
  for (const auto& row : kRows) {
    INFO(row.name);
    CHECK(to_string(row.state) == row.name);
    REQUIRE(parse_state(row.name).has_value());
    CHECK(*parse_state(row.name) == row.state);
    CHECK(parse_state(to_string(row.state)) == row.state);
    names.insert(to_string(row.state));
    std::ostringstream printed;
    printed << row.state;
    CHECK(printed.str() == row.name);
  }
  CHECK(names.size() == kAllStates.size());  // no two states share a name
  for (const char* unknown : {"", "Queued", "QUEUED", "queued ", " queued", "retry-wait",
                              "retrywait", "erased", "not needed", "pending", "done"}) {
    INFO("'" << unknown << "'");
    CHECK_FALSE(parse_state(unknown).has_value());
  }
}

TEST_CASE("which states are final, pending, claimable, expiring, waiting and blocking",
          "[lifecycle]") {
  for (const auto& row : kRows) {
    INFO(row.name);
    CHECK(is_final(row.state) == row.final_);
    CHECK(is_pending(row.state) == !row.final_);
    CHECK(is_claimable(row.state) == row.claimable);
    CHECK(expires(row.state) == row.expires_);
    CHECK(is_waiting(row.state) == row.waiting);
    CHECK(blocks_later_sibling(row.state) == row.blocks);
    CHECK(is_counted(row.state) == row.counted);
    CHECK(is_looked_up_by_state(row.state) == row.looked_up);
    CHECK(reaches_customer(row.state) == row.reaches);
    CHECK(carries_news(row.state) == row.news);
    CHECK(cancelled_by_forget(row.state) == row.forget);
  }
}

TEST_CASE("the lifecycle's answers agree with each other", "[lifecycle]") {
  for (auto state : kAllStates) {
    INFO(to_string(state));
    // What a dispatcher may claim, what expires, what waits, what blocks a
    // later sibling and what a forget request cancels are all still pending.
    if (is_claimable(state)) {
      CHECK(is_pending(state));
      CHECK(is_waiting(state));
      CHECK(expires(state));
      CHECK(blocks_later_sibling(state));
    }
    if (expires(state) || is_waiting(state) || blocks_later_sibling(state) ||
        cancelled_by_forget(state)) {
      CHECK(is_pending(state));
    }
    // Support can look up every pending message by its state.
    if (is_pending(state)) CHECK(is_looked_up_by_state(state));
    // A message on its way to a gateway is never cancelled under it.
    if (state == S::Sending) CHECK_FALSE(cancelled_by_forget(state));
  }
}

TEST_CASE("a standby's fate for every state of its primary", "[lifecycle]") {
  using A = StandbyFate::Action;
  struct Fate {
    S primary;
    A action;
    S to;  // for Follow
  };
  const Fate fates[] = {
      {S::Scheduled, A::Wait, S::Standby},
      {S::Queued, A::Wait, S::Standby},
      {S::Sending, A::Wait, S::Standby},
      {S::RetryWait, A::Wait, S::Standby},
      {S::Held, A::Wait, S::Standby},
      {S::Standby, A::Wait, S::Standby},
      {S::Sent, A::Follow, S::NotNeeded},
      {S::Delivered, A::Follow, S::NotNeeded},
      {S::Failed, A::Release, S::Standby},
      {S::Dead, A::Release, S::Standby},
      {S::Cancelled, A::Follow, S::Cancelled},
      {S::Suppressed, A::Release, S::Standby},
      {S::Superseded, A::Follow, S::Superseded},
      {S::Expired, A::Release, S::Standby},
      // Skipped by design (a cap, no consent): its fallback is the same news.
      {S::Skipped, A::Follow, S::Skipped},
      {S::NotNeeded, A::Wait, S::Standby},
      // The provider took it and then reported it never arrived.
      {S::Undelivered, A::Release, S::Standby},
      {S::Bounced, A::Release, S::Standby},
  };
  REQUIRE(std::size(fates) == kAllStates.size());
  for (const auto& f : fates) {
    INFO("primary " << f.primary);
    const auto fate = standby_fate(f.primary);
    CHECK(static_cast<int>(fate.action) == static_cast<int>(f.action));
    if (f.action == A::Follow) CHECK(fate.to_state == f.to);
    // A standby follows its primary only into a final state.
    if (fate.action == A::Follow) CHECK(is_final(fate.to_state));
    // It goes out only when the customer has not heard.
    if (fate.action == A::Release) CHECK_FALSE(reaches_customer(f.primary));
  }
}

TEST_CASE("every operator verb's sources and target, and nowhere else", "[lifecycle]") {
  struct Verb {
    OperatorVerb verb;
    const char* name;
    std::set<S> from;
    S to;
  };
  const Verb verbs[] = {
      {OperatorVerb::Retry, "retry", {S::Failed, S::Dead, S::RetryWait, S::Held}, S::Queued},
      {OperatorVerb::Cancel,
       "cancel",
       {S::Queued, S::RetryWait, S::Scheduled, S::Held},
       S::Cancelled},
      {OperatorVerb::Hold, "hold", {S::Queued, S::RetryWait}, S::Held},
      {OperatorVerb::Release, "release", {S::Held}, S::Queued},
      // Due now; the scheduler renders and queues it.
      {OperatorVerb::SendNow, "send-now", {S::Scheduled}, S::Scheduled},
  };
  REQUIRE(std::size(verbs) == kAllVerbs.size());
  for (const auto& v : verbs) {
    INFO(v.name);
    CHECK(to_string(v.verb) == v.name);
    CHECK(as_set(verb_sources(v.verb)) == v.from);
    CHECK(verb_sources(v.verb).size() == v.from.size());  // no state twice
    CHECK(verb_target(v.verb) == v.to);
    for (auto state : kAllStates) {
      INFO("from " << state);
      CHECK(verb_applies(v.verb, state) == (v.from.count(state) == 1));
    }
    // No verb touches a message being sent, a standby or a final message
    // other than one that failed or died.
    CHECK_FALSE(verb_applies(v.verb, S::Sending));
    CHECK_FALSE(verb_applies(v.verb, S::Standby));
    CHECK_FALSE(verb_applies(v.verb, S::Sent));
    CHECK_FALSE(verb_applies(v.verb, S::Delivered));
  }
}

TEST_CASE("supersede policies have stable names", "[lifecycle]") {
  CHECK(to_string(SupersedePolicy::NewerStatus) == "newer_status");
  CHECK(to_string(SupersedePolicy::Never) == "never");
  for (auto policy : kAllSupersedePolicies) {
    CHECK(parse_supersede_policy(to_string(policy)) == policy);
  }
  CHECK_FALSE(parse_supersede_policy("").has_value());
  CHECK_FALSE(parse_supersede_policy("Never").has_value());
}

TEST_CASE(
    "a newer status update arriving queued (or held by quiet hours) supersedes an older one "
    "waiting to retry or for its send time, and nothing else",
    "[lifecycle]") {
  using P = SupersedePolicy;
  const std::set<S> overtaken = {S::RetryWait, S::Scheduled};
  for (auto newer : kAllSupersedePolicies) {
    for (auto older : kAllSupersedePolicies) {
      for (auto newer_state : kAllStates) {
        for (auto older_state : kAllStates) {
          INFO("newer " << to_string(newer) << " in " << newer_state << ", older "
                        << to_string(older) << " in " << older_state);
          const bool expected = newer == P::NewerStatus && older == P::NewerStatus &&
                                (newer_state == S::Queued || newer_state == S::Scheduled) &&
                                overtaken.count(older_state) == 1;
          CHECK(superseded_on_arrival(newer, newer_state, older, older_state) == expected);
        }
      }
    }
  }
  // Spelled out: the cases support asks about.
  CHECK(superseded_on_arrival(P::NewerStatus, S::Queued, P::NewerStatus, S::RetryWait));
  CHECK_FALSE(superseded_on_arrival(P::NewerStatus, S::Queued, P::NewerStatus, S::Queued));
  CHECK_FALSE(superseded_on_arrival(P::NewerStatus, S::Queued, P::NewerStatus, S::Sending));
  CHECK_FALSE(superseded_on_arrival(P::NewerStatus, S::Queued, P::Never, S::RetryWait));
  CHECK_FALSE(superseded_on_arrival(P::Never, S::Queued, P::NewerStatus, S::RetryWait));
  // A newer message refused at intake (failed) or waiting as a standby
  // does not go out now, so it overtakes nothing.
  CHECK_FALSE(superseded_on_arrival(P::NewerStatus, S::Failed, P::NewerStatus, S::RetryWait));
  CHECK_FALSE(superseded_on_arrival(P::NewerStatus, S::Standby, P::NewerStatus, S::RetryWait));
}

TEST_CASE(
    "a status update sent back to wait behind a newer waiting one is superseded, one of "
    "policy Never is not",
    "[lifecycle]") {
  using P = SupersedePolicy;
  for (auto policy : kAllSupersedePolicies) {
    for (auto newer : kAllSupersedePolicies) {
      for (auto next : kAllStates) {
        for (auto newer_state : kAllStates) {
          INFO(to_string(policy) << " sent back to " << next << ", newer " << to_string(newer)
                                 << " in " << newer_state);
          const bool expected = policy == P::NewerStatus && newer == P::NewerStatus &&
                                (next == S::Queued || next == S::RetryWait) &&
                                (newer_state == S::Queued || newer_state == S::RetryWait ||
                                 newer_state == S::Scheduled);
          CHECK(superseded_on_retry(policy, next, newer, newer_state) == expected);
        }
      }
    }
  }
  // A message that reached its end is never superseded afterwards.
  CHECK_FALSE(superseded_on_retry(P::NewerStatus, S::Sent, P::NewerStatus, S::Queued));
  CHECK_FALSE(superseded_on_retry(P::NewerStatus, S::Dead, P::NewerStatus, S::Queued));
  // The newer one in flight or held does not make it out of date yet.
  CHECK_FALSE(superseded_on_retry(P::NewerStatus, S::RetryWait, P::NewerStatus, S::Sending));
  CHECK_FALSE(superseded_on_retry(P::NewerStatus, S::RetryWait, P::NewerStatus, S::Held));
}

TEST_CASE("a message tack refused at intake is refused_by_tack and offers no retry",
          "[lifecycle]") {
  for (auto state : kAllStates) {
    INFO(to_string(state));
    CHECK(refused_by_tack(state, 0) == (state == S::Failed));
    CHECK_FALSE(refused_by_tack(state, 1));
    CHECK_FALSE(refused_by_tack(state, 3));
  }
  const auto refused = available_verbs(S::Failed, 0, false);
  CHECK(std::find(refused.begin(), refused.end(), OperatorVerb::Retry) == refused.end());
  CHECK(refused.empty());
  // A gateway refused it: a retry may work (the operator fixed the gateway).
  CHECK(available_verbs(S::Failed, 1, false) == std::vector<OperatorVerb>{OperatorVerb::Retry});
}

TEST_CASE("available verbs follow the verbs' sources; an erased message offers none",
          "[lifecycle]") {
  for (auto state : kAllStates) {
    INFO(to_string(state));
    CHECK(available_verbs(state, 0, true).empty());
    CHECK(available_verbs(state, 2, true).empty());
    std::vector<OperatorVerb> expected;
    for (auto verb : kAllVerbs) {
      if (verb_applies(verb, state)) expected.push_back(verb);
    }
    CHECK(available_verbs(state, 2, false) == expected);  // in kAllVerbs order
  }
  using V = OperatorVerb;
  CHECK(available_verbs(S::Held, 1, false) == std::vector<V>{V::Retry, V::Cancel, V::Release});
  CHECK(available_verbs(S::RetryWait, 1, false) == std::vector<V>{V::Retry, V::Cancel, V::Hold});
  CHECK(available_verbs(S::Queued, 0, false) == std::vector<V>{V::Cancel, V::Hold});
  CHECK(available_verbs(S::Dead, 3, false) == std::vector<V>{V::Retry});
  CHECK(available_verbs(S::Sending, 1, false).empty());
  CHECK(available_verbs(S::Sent, 1, false).empty());
  CHECK(available_verbs(S::Standby, 0, false).empty());
}

TEST_CASE("states_where lists the states a predicate holds for, in lifecycle order",
          "[lifecycle]") {
  CHECK(states_where(is_claimable) == std::vector<S>{S::Queued, S::RetryWait});
  CHECK(states_where(expires) ==
        std::vector<S>{S::Scheduled, S::Queued, S::RetryWait, S::Standby});
  CHECK(states_where([](S) { return false; }).empty());
  CHECK(states_where([](S) { return true; }).size() == kAllStates.size());
}

TEST_CASE("state predicates become SQL in the OR form the partial indexes use", "[lifecycle]") {
  CHECK(sql_state_is(is_claimable) == "(state = 'queued' OR state = 'retry_wait')");
  CHECK(sql_state_is(is_claimable, "m.state") == "(m.state = 'queued' OR m.state = 'retry_wait')");
  CHECK(sql_state_is(expires) ==
        "(state = 'scheduled' OR state = 'queued' OR state = 'retry_wait' OR state = 'standby')");
  CHECK(sql_state_is([](S s) { return s == S::Held; }) == "(state = 'held')");
  CHECK(sql_state_is([](S) { return false; }) == "(0)");
  CHECK(sql_state_is([](S) { return false; }, "n.state") == "(0)");
  CHECK(sql_state_is(is_final) ==
        "(state = 'sent' OR state = 'delivered' OR state = 'failed' OR state = 'dead' OR "
        "state = 'cancelled' OR state = 'suppressed' OR state = 'superseded' OR "
        "state = 'expired' OR state = 'not_needed' OR state = 'skipped' OR "
        "state = 'undelivered' OR state = 'bounced')");
  CHECK(sql_state_is(is_counted) ==
        "(state = 'scheduled' OR state = 'queued' OR state = 'sending' OR "
        "state = 'retry_wait' OR state = 'held' OR state = 'dead')");

  CHECK(sql_state_list(is_claimable) == "('queued', 'retry_wait')");
  CHECK(sql_state_list(blocks_later_sibling) == "('queued', 'sending', 'retry_wait')");
  CHECK(sql_state_list([](S s) { return s == S::NotNeeded; }) == "('not_needed')");
  CHECK(sql_state_list([](S) { return false; }) == "()");
}

TEST_CASE("support resends what a provider accepted, and a corrected contact reaches the rest",
          "[lifecycle][support_actions]") {
  // resend: a provider has it; follows: not gone out yet, readdressed;
  // copied: went nowhere for good, a new copy goes to the corrected address.
  struct Expect {
    S state;
    bool resend, follows, copied;
  };
  // clang-format off
  const Expect kExpect[] = {
    {S::Scheduled,  false, true,  false},
    {S::Queued,     false, true,  false},
    {S::Sending,    false, false, false},  // a gateway has it now: left alone
    {S::RetryWait,  false, true,  false},
    {S::Held,       false, true,  false},
    {S::Standby,    false, true,  false},
    {S::Sent,       true,  false, false},
    {S::Delivered,  true,  false, false},
    {S::Failed,     false, false, true },
    {S::Dead,       false, false, true },
    {S::Cancelled,  false, false, false},
    {S::Suppressed, false, false, false},
    {S::Superseded, false, false, false},
    {S::Expired,    false, false, false},
    {S::NotNeeded,  false, false, false},
    {S::Skipped,    false, false, false},
    {S::Undelivered,true,  false, true },
    {S::Bounced,    true,  false, true },
  };
  // clang-format on
  REQUIRE(std::size(kExpect) == kAllStates.size());
  for (std::size_t i = 0; i < kAllStates.size(); ++i) {
    const auto& row = kExpect[i];
    INFO(to_string(row.state));
    REQUIRE(row.state == kAllStates[i]);
    CHECK(may_resend(row.state) == row.resend);
    CHECK(follows_corrected_contact(row.state) == row.follows);
    CHECK(resent_on_corrected_contact(row.state) == row.copied);
    // A message is readdressed only while pending, copied only once final.
    if (row.follows) CHECK(is_pending(row.state));
    if (row.copied || row.resend) CHECK(is_final(row.state));
  }
}

TEST_CASE("only a scheduled message is the scheduler's", "[lifecycle]") {
  for (auto state : kAllStates) {
    INFO(to_string(state));
    CHECK(is_scheduled(state) == (state == S::Scheduled));
  }
}

TEST_CASE("a sent primary whose gateway reports deliveries keeps its standby waiting",
          "[lifecycle][receipts]") {
  using A = StandbyFate::Action;
  CHECK(standby_fate(S::Sent, true).action == A::Wait);
  CHECK(standby_fate(S::Sent, false).action == A::Follow);
  // Any other state's fate is the same whether a receipt is awaited or not.
  for (auto state : kAllStates) {
    if (state == S::Sent) continue;
    INFO(to_string(state));
    CHECK(standby_fate(state, true).action == standby_fate(state, false).action);
  }
  for (auto state : kAllStates) {
    INFO(to_string(state));
    CHECK(receipt_wait_over(state) == (state == S::Sent || state == S::Delivered));
  }
}

TEST_CASE("where each receipt moves a message in each state", "[lifecycle][receipts]") {
  using K = ReceiptKind;
  for (auto state : kAllStates) {
    INFO(to_string(state));
    CHECK_FALSE(receipt_moves(state, K::Progress));
    const auto delivered = receipt_moves(state, K::Delivered);
    if (state == S::Sent || state == S::Undelivered || state == S::Bounced) {
      CHECK(delivered == S::Delivered);
    } else {
      CHECK_FALSE(delivered);
    }
    CHECK(receipt_moves(state, K::Undelivered) ==
          (state == S::Sent ? std::optional<S>(S::Undelivered) : std::nullopt));
    CHECK(receipt_moves(state, K::Bounced) ==
          (state == S::Sent ? std::optional<S>(S::Bounced) : std::nullopt));
  }
  for (auto kind : kAllReceiptKinds) CHECK(parse_receipt_kind(to_string(kind)) == kind);
  CHECK_FALSE(parse_receipt_kind("DELIVRD"));
}
