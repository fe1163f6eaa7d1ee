#include "metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include "flow.hpp"
#include "message.hpp"
#include "store/lifecycle.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <sstream>
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
          .Help("Messages that entered a state (created in it or moved to it), by channel, "
                "gateway and state; the states are the lifecycle's (tackd log, the page).")
          .Register(registry),
      {"channel", "gateway", "state"}};
  Labeled<prometheus::Counter, 1> created{
      prometheus::BuildCounter()
          .Name("tack_messages_created_total")
          .Help("Messages created from events, by channel (refused ones, standbys and "
                "scheduled ones included).")
          .Register(registry),
      {"channel"}};
  Labeled<prometheus::Gauge, 2> circuits{
      prometheus::BuildGauge()
          .Name("tack_gateway_circuit")
          .Help("A gateway's circuit breaker: 1 for the state it is in (closed, open, or "
                "half_open: one probe lets through), 0 for the others.")
          .Register(registry),
      {"gateway", "state"}};
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
                "table (messages, attempts, events; receipts: parked ones no send claimed, "
                "deleted) and action.")
          .Register(registry),
      {"table", "action"}};
  Labeled<prometheus::Counter, 2> receipts{
      prometheus::BuildCounter()
          .Name("tack_receipts_total")
          .Help("Providers' reports (delivery receipts, replies) by gateway and result: "
                "applied, repeated, parked (before the send's answer), unknown (no such "
                "provider id), refused (unsigned, forged or malformed), failed (not recorded).")
          .Register(registry),
      {"gateway", "result"}};
  Labeled<prometheus::Counter, 2> optouts{
      prometheus::BuildCounter()
          .Name("tack_optouts_total")
          .Help("Opt-outs by how they came (reply, receipt, answer: a send the provider "
                "refused as opted out, link) and result: suppressed, "
                "already (on the list before), refused (a malformed link), forged (a link not "
                "signed by tack), failed (not recorded).")
          .Register(registry),
      {"via", "result"}};
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
  for (const char* table : {"messages", "attempts", "events"}) {
    for (auto action : {RetentionPolicy::Action::Anonymise, RetentionPolicy::Action::Delete}) {
      impl_->retention.get({table, to_string(action)});
    }
  }
  for (const char* reason : {"password", "throttled"}) impl_->sign_ins.get({reason});
  impl_->store_healthy.Set(1);
  // The config tackd started with loaded, or it would not be running.
  impl_->last_reload_success.Set(1);
  impl_->last_reload_timestamp.Set(unix_now());
}

Metrics::~Metrics() = default;

void Metrics::configure(const Config& config) {
  std::vector<std::string> sources;
  for (const auto& source : config.sources) sources.push_back(source.name);
  if (config.http) sources.emplace_back("http");
  for (const auto& source : sources) {
    for (auto verdict : kAllVerdicts) impl_->events.get({source, to_string(verdict)});
  }
  for (const auto& gateway : config.gateways) {
    for (auto kind : kAllOutcomeKinds) impl_->attempts.get({gateway.name, to_string(kind)});
    for (const char* result : kReportResults) impl_->receipts.get({gateway.name, result});
    impl_->attempt_seconds.get({gateway.name}, kAttemptBuckets);
  }
  for (const auto& [name, channel] : config.channels) {
    impl_->created.get({name});
    for (const auto& gateway : channel.gateways) {
      for (auto state : kAllStates) impl_->messages.get({name, gateway, to_string(state)});
    }
  }
}

void Metrics::event(const std::string& source, const std::string& verdict) {
  impl_->events.get({source, verdict}).Increment();
}

void Metrics::attempt(const std::string& gateway, const std::string& outcome, double seconds) {
  impl_->attempts.get({gateway, outcome}).Increment();
  impl_->attempt_seconds.get({gateway}, kAttemptBuckets).Observe(std::max(0.0, seconds));
}

void Metrics::state_changes(const std::vector<StateChange>& changes) {
  for (const auto& change : changes) {
    const auto count = static_cast<double>(change.count);
    impl_->messages.get({change.channel, change.gateway, to_string(change.state)})
        .Increment(count);
    if (change.created) impl_->created.get({change.channel}).Increment(count);
  }
}

void Metrics::circuit_state(const std::string& gateway, std::string_view state) {
  for (auto each : kAllCircuitStates) {
    const std::string name = to_string(each);
    impl_->circuits.get({gateway, name}).Set(name == state ? 1 : 0);
  }
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

void Metrics::report(const std::string& gateway, const std::string& result) {
  impl_->receipts.get({gateway, result}).Increment();
}

void Metrics::opt_out(const std::string& via, const std::string& result) {
  impl_->optouts.get({via, result}).Increment();
}

void Metrics::sign_in_refused(const std::string& reason) {
  impl_->sign_ins.get({reason}).Increment();
}

// ---- process_* -----------------------------------------------------------

namespace {

std::vector<std::string_view> split_spaces(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n')) ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\n') ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

std::optional<double> number(std::string_view word) {
  unsigned long long value = 0;
  auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), value);
  if (ec != std::errc() || end != word.data() + word.size()) return std::nullopt;
  return static_cast<double>(value);
}

std::string read_small_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::string text;
  // /proc files are a few KiB; more is not one of them.
  constexpr std::size_t kMax = 64 * 1024;
  char buffer[4096];
  while (in && text.size() < kMax) {
    in.read(buffer, sizeof buffer);
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
  }
  return text;
}

prometheus::MetricFamily one_value(std::string name, std::string help, prometheus::MetricType type,
                                   double value) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(metric);
  return family;
}

// What the Prometheus client libraries call the process collector; each
// figure that cannot be read is left out rather than given as 0.
std::vector<prometheus::MetricFamily> process_families() {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> families;
  const long ticks = sysconf(_SC_CLK_TCK);
  const long page = sysconf(_SC_PAGESIZE);
  const auto stat = parse_proc_stat(read_small_file("/proc/self/stat"), ticks, page);
  if (stat) {
    families.push_back(one_value("process_cpu_seconds_total",
                                 "Total user and system CPU time spent in seconds.",
                                 MetricType::Counter, stat->cpu_seconds));
    families.push_back(one_value("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                                 MetricType::Gauge, stat->virtual_memory_bytes));
    families.push_back(one_value("process_resident_memory_bytes",
                                 "Resident memory size in bytes.", MetricType::Gauge,
                                 stat->resident_memory_bytes));
    if (auto boot = parse_boot_time(read_small_file("/proc/stat"))) {
      families.push_back(one_value("process_start_time_seconds",
                                   "Start time of the process since unix epoch in seconds.",
                                   MetricType::Gauge, *boot + stat->started_after_boot_seconds));
    }
  }
  std::error_code ec;
  std::filesystem::directory_iterator fds("/proc/self/fd", ec);
  if (!ec) {
    const auto open = std::distance(fds, std::filesystem::directory_iterator());
    families.push_back(one_value("process_open_fds", "Number of open file descriptors.",
                                 MetricType::Gauge, static_cast<double>(open)));
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    families.push_back(one_value("process_max_fds", "Maximum number of open file descriptors.",
                                 MetricType::Gauge,
                                 limit.rlim_cur == RLIM_INFINITY
                                     ? static_cast<double>(INT64_MAX)
                                     : static_cast<double>(limit.rlim_cur)));
  }
  return families;
}

}  // namespace

std::optional<ProcessStat> parse_proc_stat(std::string_view text, long ticks_per_second,
                                           long page_bytes) {
  // "pid (comm) state ppid ...": comm may hold spaces and ')', so the
  // fields start after the last ')'.
  const auto close = text.rfind(')');
  if (close == std::string_view::npos || ticks_per_second <= 0 || page_bytes <= 0) {
    return std::nullopt;
  }
  const auto fields = split_spaces(text.substr(close + 1));
  // fields[0] is field 3 (state); utime is field 14, rss field 24.
  constexpr std::size_t kUtime = 11, kStime = 12, kStart = 19, kVsize = 20, kRss = 21;
  if (fields.size() <= kRss) return std::nullopt;
  auto utime = number(fields[kUtime]), stime = number(fields[kStime]);
  auto start = number(fields[kStart]), vsize = number(fields[kVsize]), rss = number(fields[kRss]);
  if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;
  ProcessStat stat;
  const auto ticks = static_cast<double>(ticks_per_second);
  stat.cpu_seconds = (*utime + *stime) / ticks;
  stat.started_after_boot_seconds = *start / ticks;
  stat.virtual_memory_bytes = *vsize;
  stat.resident_memory_bytes = *rss * static_cast<double>(page_bytes);
  return stat;
}

std::optional<double> parse_boot_time(std::string_view text) {
  std::size_t at = 0;
  while (at < text.size()) {
    auto end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    const auto line = text.substr(at, end - at);
    if (line.starts_with("btime ")) {
      const auto words = split_spaces(line.substr(6));
      if (words.size() == 1) return number(words[0]);
      return std::nullopt;
    }
    at = end + 1;
  }
  return std::nullopt;
}

std::string Metrics::render() const {
  auto families = impl_->registry.Collect();
  auto process = process_families();
  families.insert(families.end(), std::make_move_iterator(process.begin()),
                  std::make_move_iterator(process.end()));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace tack
