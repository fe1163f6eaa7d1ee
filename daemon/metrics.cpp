#include "metrics.hpp"

#include "store/lifecycle.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string_view>

namespace tack {

namespace {

// Orders label-value tuples held as strings and looked up as string_views,
// so a label set already seen costs a lookup and no allocation.
struct LabelValuesLess {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(),
        [](const auto& x, const auto& y) { return std::string_view(x) < std::string_view(y); });
  }
};

// One metric per label set of a family, created on first use. `make` adds
// the metric to the family (histograms need their buckets).
template <class Metric, std::size_t N>
class Labeled {
 public:
  using Values = std::array<std::string_view, N>;
  Labeled(prometheus::Family<Metric>& family, std::array<const char*, N> names)
      : family_(family), names_(names) {}

  template <class... Args>
  Metric& get(const Values& values, const Args&... args) {
    std::lock_guard lock(mutex_);
    auto it = cache_.find(values);
    if (it != cache_.end()) return *it->second;
    prometheus::Labels labels;
    std::array<std::string, N> key;
    for (std::size_t i = 0; i < N; ++i) {
      key[i] = std::string(values[i]);
      labels.emplace(names_[i], key[i]);
    }
    Metric& metric = family_.Add(labels, args...);
    cache_.emplace(std::move(key), &metric);
    return metric;
  }

 private:
  prometheus::Family<Metric>& family_;
  std::array<const char*, N> names_;
  std::mutex mutex_;
  std::map<std::array<std::string, N>, Metric*, LabelValuesLess> cache_;
};

double unix_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// Sends take from milliseconds (a local file) to a minute (a slow SMTP
// server before its timeout).
const prometheus::Histogram::BucketBoundaries kAttemptBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

}  // namespace

struct Metrics::Impl {
  prometheus::Registry registry;

  Labeled<prometheus::Counter, 2> events{
      prometheus::BuildCounter()
          .Name("tack_events_total")
          .Help("Events taken in, by source and intake verdict (accepted, duplicate, stale, "
                "rejected).")
          .Register(registry),
      {"source", "verdict"}};
  Labeled<prometheus::Counter, 2> attempts{
      prometheus::BuildCounter()
          .Name("tack_attempts_total")
          .Help("Send attempts, by gateway and outcome (sent, retry, rejected, unknown).")
          .Register(registry),
      {"gateway", "outcome"}};
  Labeled<prometheus::Histogram, 1> attempt_seconds{
      prometheus::BuildHistogram()
          .Name("tack_attempt_duration_seconds")
          .Help("How long one send attempt took, by gateway.")
          .Register(registry),
      {"gateway"}};
  Labeled<prometheus::Counter, 3> messages{
      prometheus::BuildCounter()
          .Name("tack_messages_total")
          .Help("Messages that reached a final state, by channel, gateway and state.")
          .Register(registry),
      {"channel", "gateway", "state"}};
  Labeled<prometheus::Gauge, 1> circuits{
      prometheus::BuildGauge()
          .Name("tack_gateway_circuit_state")
          .Help("A gateway's circuit breaker: 0 closed, 1 half-open (probing), 2 open.")
          .Register(registry),
      {"gateway"}};
  Labeled<prometheus::Gauge, 2> holds{
      prometheus::BuildGauge()
          .Name("tack_gateway_held")
          .Help("1 while a gateway is held and sends nothing, by reason: auth (the provider "
                "refused tack's credentials) or operator (tackd hold --gateway).")
          .Register(registry),
      {"gateway", "reason"}};
  prometheus::Family<prometheus::Gauge>& queue_family =
      prometheus::BuildGauge()
          .Name("tack_queue_messages")
          .Help("Messages waiting or in flight, by state.")
          .Register(registry);
  prometheus::Gauge& oldest_due =
      prometheus::BuildGauge()
          .Name("tack_queue_oldest_due_age_seconds")
          .Help("How long the oldest message that is due to be sent has been waiting; 0 when "
                "none is due.")
          .Register(registry)
          .Add({});
  prometheus::Gauge& store_healthy =
      prometheus::BuildGauge()
          .Name("tack_store_healthy")
          .Help("1 while the store commits, 0 while it cannot write (nothing is taken in or "
                "sent).")
          .Register(registry)
          .Add({});
  prometheus::Counter& store_errors =
      prometheus::BuildCounter()
          .Name("tack_store_errors_total")
          .Help("Times the store went from committing to failing.")
          .Register(registry)
          .Add({});
  prometheus::Family<prometheus::Counter>& reload_family =
      prometheus::BuildCounter()
          .Name("tack_config_reloads_total")
          .Help("Config reloads (SIGHUP), by result.")
          .Register(registry);
  prometheus::Counter& reload_success = reload_family.Add({{"result", "success"}});
  prometheus::Counter& reload_failure = reload_family.Add({{"result", "failure"}});
  prometheus::Gauge& last_reload_success =
      prometheus::BuildGauge()
          .Name("tack_config_last_reload_success")
          .Help("1 when the last config load (start or reload) succeeded, 0 when the last "
                "reload was rejected and the running config kept.")
          .Register(registry)
          .Add({});
  prometheus::Gauge& last_reload_timestamp =
      prometheus::BuildGauge()
          .Name("tack_config_last_reload_timestamp_seconds")
          .Help("When the config was last loaded or a reload was tried, Unix time.")
          .Register(registry)
          .Add({});
  Labeled<prometheus::Counter, 2> retention{
      prometheus::BuildCounter()
          .Name("tack_retention_pruned_total")
          .Help("Rows whose personal data retention erased (anonymise) or that it deleted, by "
                "table (messages, attempts, events) and action.")
          .Register(registry),
      {"table", "action"}};
  Labeled<prometheus::Counter, 1> sign_ins{
      prometheus::BuildCounter()
          .Name("tack_http_signin_refusals_total")
          .Help("Support sign-ins refused: reason password (wrong user name or password) or "
                "throttled (not checked: too many wrong ones from that address or for that "
                "name, answered 429).")
          .Register(registry),
      {"reason"}};
  prometheus::Family<prometheus::Gauge>& build_info =
      prometheus::BuildGauge()
          .Name("tack_build_info")
          .Help("Always 1; the version label says which tackd runs.")
          .Register(registry);

  std::atomic<bool> last_store_healthy{true};
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {
  impl_->build_info.Add({{"version", TACK_VERSION}}).Set(1);
  // Every waiting or in-flight state shows from the first scrape, at 0.
  for (auto state : states_where(is_queued_work)) {
    impl_->queue_family.Add({{"state", std::string(to_string(state))}});
  }
  impl_->store_healthy.Set(1);
  // The config tackd started with loaded, or it would not be running.
  impl_->last_reload_success.Set(1);
  impl_->last_reload_timestamp.Set(unix_now());
}

Metrics::~Metrics() = default;

void Metrics::event(const std::string& source, const std::string& verdict) {
  impl_->events.get({source, verdict}).Increment();
}

void Metrics::attempt(const std::string& gateway, const std::string& outcome, double seconds) {
  impl_->attempts.get({gateway, outcome}).Increment();
  impl_->attempt_seconds.get({gateway}, kAttemptBuckets).Observe(std::max(0.0, seconds));
}

void Metrics::message_final(const std::string& channel, const std::string& gateway,
                            const std::string& state) {
  impl_->messages.get({channel, gateway, state}).Increment();
}

void Metrics::circuit_state(const std::string& gateway, int state) {
  impl_->circuits.get({gateway}).Set(state);
}

void Metrics::gateway_held(const std::string& gateway, const std::string& reason, bool held) {
  impl_->holds.get({gateway, reason}).Set(held ? 1 : 0);
}

void Metrics::queue(const Queue& figures) {
  for (const auto& [state, count] : figures.by_state) {
    impl_->queue_family.Add({{"state", state}}).Set(static_cast<double>(count));
  }
  impl_->oldest_due.Set(std::max(0.0, figures.oldest_due_age_seconds));
}

void Metrics::store_health(bool healthy) {
  impl_->store_healthy.Set(healthy ? 1 : 0);
  const bool was = impl_->last_store_healthy.exchange(healthy);
  if (was && !healthy) impl_->store_errors.Increment();
}

void Metrics::config_reload(bool success, double unix_seconds) {
  (success ? impl_->reload_success : impl_->reload_failure).Increment();
  impl_->last_reload_success.Set(success ? 1 : 0);
  impl_->last_reload_timestamp.Set(unix_seconds);
}

void Metrics::retention_pruned(const std::string& table, const std::string& action,
                               std::int64_t rows) {
  if (rows > 0) impl_->retention.get({table, action}).Increment(static_cast<double>(rows));
}

void Metrics::sign_in_refused(const std::string& reason) {
  impl_->sign_ins.get({reason}).Increment();
}

std::string Metrics::render() const {
  return prometheus::TextSerializer().Serialize(impl_->registry.Collect());
}

}  // namespace tack
