// scheduled: a store with N pending scheduled messages (issue 16, item 6).
//
// Fills a store with N follow-ups as intake plans them for a delayed rule
// (`follow_up`: on delivered, after 3d, unless returned or cancelled): one
// `delivered` event per order, each with one SMS in state scheduled, texts
// empty (rendered when due), its due time, note, time zone and country, in
// units of --batch events through the Store contract (apply_event, group
// commit), timing the fill. Then times, through the contract, what the
// scheduler and tackd ask the store while nothing is due: next_scheduled_at
// (the scheduler's look for its next wake), claim_scheduled at a time
// before every due time (its poll every 5 s, and after every intake batch:
// a write unit on the writer thread) and queue_counts (the systemd status
// line). Not a test: it prints JSON for bench/scheduled.py.
//
//   scheduled --store PATH --messages N --due-at-ms MS [--batch N] [--lookups N]
//             [--rule NAME] [--template NAME] [--gateway NAME]
//             [--due-order interleaved|insert]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "digest.hpp"
#include "store/store.hpp"

using namespace tack;
using Clock = std::chrono::steady_clock;

namespace {

double us_since(Clock::time_point t) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t).count();
}

struct Percentiles {
  double p50 = 0, p99 = 0, max = 0;
};
Percentiles percentiles(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    return v[std::min(v.size() - 1, static_cast<std::size_t>(q * v.size()))];
  };
  return {at(0.50), at(0.99), v.back()};
}

std::string json_percentiles(const Percentiles& p) {
  return fmt::format(R"({{"p50_us":{:.1f},"p99_us":{:.1f},"max_us":{:.1f}}})", p.p50, p.p99,
                     p.max);
}

// What intake's idempotency_key makes of (event, rule, channel).
std::string key_of(const std::string& event_id, const std::string& rule,
                   const std::string& channel) {
  std::string material = event_id;
  material.push_back('\0');
  material += rule;
  material.push_back('\0');
  material += channel;
  return "tack-" + sha256_hex(material).substr(0, 32);
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t messages = 1'000'000;
  std::int64_t due_at_ms = 0;
  int batch = 1000, lookups = 50;
  bool interleaved = true;
  std::string path, rule = "follow_up", template_name = "bench_sms", gateway = "sink";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s wants a value\n", a.c_str());
        std::exit(64);
      }
      return argv[++i];
    };
    if (a == "--messages")
      messages = std::stoll(next());
    else if (a == "--due-at-ms")
      due_at_ms = std::stoll(next());
    else if (a == "--batch")
      batch = std::stoi(next());
    else if (a == "--lookups")
      lookups = std::stoi(next());
    else if (a == "--store")
      path = next();
    else if (a == "--rule")
      rule = next();
    else if (a == "--template")
      template_name = next();
    else if (a == "--gateway")
      gateway = next();
    else if (a == "--due-order") {
      const std::string order = next();
      if (order != "interleaved" && order != "insert") {
        std::fprintf(stderr, "--due-order: interleaved or insert\n");
        return 64;
      }
      interleaved = order == "interleaved";
    }
    else {
      std::fprintf(stderr,
                   "usage: scheduled --store PATH --messages N --due-at-ms MS [--batch N] "
                   "[--lookups N] [--rule NAME] [--template NAME] [--gateway NAME] "
                   "[--due-order interleaved|insert]\n");
      return 64;
    }
  }
  if (path.empty() || due_at_ms <= 0 || batch <= 0 || messages < 0) {
    std::fprintf(stderr, "scheduled: --store and --due-at-ms are required\n");
    return 64;
  }

  StoreOptions options;
  options.location = path;
  options.synchronous_full = true;  // as tackd runs by default
  auto store = open_store(options);

  // Delivered 3 days before --due-at-ms, due over the hour after it.
  // interleaved (the default, the worst case for the store): message i is
  // due at second i % 3600, so messages due together lie far apart in the
  // table (one page each); insert: due in the order they were made, as
  // follow-ups of deliveries that arrive in time order are (and all of a
  // day's "at 10:00" ones, due at once, are taken in id order).
  const std::int64_t occurred_at = due_at_ms - 3LL * 24 * 3600 * 1000;
  const auto began = Clock::now();
  for (std::int64_t first = 0; first < messages; first += batch) {
    const std::int64_t last = std::min(messages, first + batch);
    store->run<bool>([&](StoreTx& tx) {
      for (std::int64_t i = first; i < last; ++i) {
        const std::string order = fmt::format("{}", 5000000 + i);
        const std::string phone = fmt::format("+4670{:07d}", 1000000 + i % 9000000);
        EventRecord r;
        r.event_id = fmt::format("sched-{}", i);
        r.order_id = order;
        r.status = "delivered";
        const std::int64_t offset_ms =
            interleaved ? (i % 3600) * 1000 : (messages > 0 ? i * 3600000 / messages : 0);
        r.occurred_at_ms = occurred_at + offset_ms;
        r.rank = 7;  // delivered in the default vocabulary
        r.source = "outbox";
        r.payload = fmt::format(
            R"({{"event_id":"{}","order_id":"{}","status":"delivered","occurred_at":"2026-12-05T10:15:00Z","customer":{{"name":"Anna Svensson","phone":"{}","email":"anna@example.se","locale":"sv-SE"}},"delivery":{{"carrier":"PostNord","tracking_url":"https://tracking.example/{}"}}}})",
            r.event_id, order, phone, order);
        NewMessage m;
        m.rule = rule;
        m.channel = "sms";
        m.kind = ChannelKind::Sms;
        m.template_name = template_name;
        m.locale = "sv-SE";
        m.recipient = phone;
        m.idempotency_key = key_of(r.event_id, rule, "sms");
        m.gateway = gateway;
        m.supersede = SupersedePolicy::Never;
        m.state = MessageState::Scheduled;
        m.render_when_due = true;
        m.once_per_order = true;
        m.due_at_ms = due_at_ms + offset_ms;
        m.note = "3d after delivered, unless returned or cancelled";
        m.timezone = "Europe/Stockholm";
        m.country = "SE";
        r.messages.push_back(std::move(m));
        auto result = tx.apply_event(r, r.occurred_at_ms);
        if (result.messages_created != 1) throw StoreError("fill: " + r.event_id + " made no message");
      }
      return true;
    });
    if ((first / batch) % 100 == 0) {
      std::fprintf(stderr, "\rfilled %lld scheduled messages (%.0f s)",
                   static_cast<long long>(last), us_since(began) / 1e6);
    }
  }
  const double fill_s = us_since(began) / 1e6;
  std::fprintf(stderr, "\rfilled %lld scheduled messages in %.1f s\n",
               static_cast<long long>(messages), fill_s);

  // The scheduler's look for its next wake (a read), and its poll when
  // nothing is due (a write unit: claim_scheduled, expiring first).
  std::vector<double> next_us, claim_us, counts_us;
  std::int64_t next_seen = 0, scheduled_counted = 0;
  const std::int64_t before_due = due_at_ms - 24LL * 3600 * 1000;
  const Lease lease{"bench", 60000};
  for (int i = 0; i < lookups; ++i) {
    auto t = Clock::now();
    auto next = store->query<std::optional<std::int64_t>>(
        [](StoreReader& r) { return r.next_scheduled_at(); });
    next_us.push_back(us_since(t));
    next_seen = next.value_or(0);
    t = Clock::now();
    auto claimed = store->run<std::size_t>(
        [&](StoreTx& tx) { return tx.claim_scheduled(lease, 500, before_due).size(); });
    claim_us.push_back(us_since(t));
    if (claimed != 0) throw StoreError("a message was due before its time");
    t = Clock::now();
    auto counts = store->query<QueueCounts>([](StoreReader& r) { return r.queue_counts(); });
    counts_us.push_back(us_since(t));
    scheduled_counted = counts[MessageState::Scheduled];
  }
  store->close();
  const double store_mb =
      static_cast<double>(std::filesystem::file_size(path)) / 1e6 +
      (std::filesystem::exists(path + "-wal")
           ? static_cast<double>(std::filesystem::file_size(path + "-wal")) / 1e6
           : 0.0);
  fmt::print(
      R"({{"messages":{},"fill_s":{:.2f},"fill_per_s":{:.0f},"store_mb":{:.1f},"next_scheduled_at_ms":{},"scheduled_counted":{},"next_scheduled_at":{},"claim_scheduled_none_due":{},"queue_counts":{}}})"
      "\n",
      messages, fill_s, fill_s > 0 ? static_cast<double>(messages) / fill_s : 0.0, store_mb,
      next_seen, scheduled_counted, json_percentiles(percentiles(next_us)),
      json_percentiles(percentiles(claim_us)), json_percentiles(percentiles(counts_us)));
  return 0;
}
