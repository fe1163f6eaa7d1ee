// log_scale: how the delivery log behaves at scale (issue 6, item 6).
//
// Fills a store with N messages (default 10,000,000) the way tackd does
// (apply_event, claim_due, record_attempt): an event per order status
// (placed, shipped, delivered), an SMS and an e-mail per event, customers
// with ~3 orders each, spread over 200 days. Then times the support
// lookups (find_messages by order, phone and e-mail; search_messages by
// recipient), 1000 random ones each, and one day of retention pruned
// through the real Store writer thread in batches, reporting how long the
// writer was held per batch. Not a test: it prints numbers.
//
//   log_scale [--messages N] [--lookups N] [--batch N] [--dir DIR] [--reuse]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <random>
#include <string>
#include <vector>

#include "retention.hpp"
#include "store/store.hpp"

using namespace tack;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::int64_t kDay = 24LL * 3600 * 1000;
constexpr std::int64_t kStart = 1767225600000LL;  // 2026-01-01
constexpr int kSpreadDays = 200;

std::string phone_of(std::int64_t customer) {
  return fmt::format("+4670{:07d}", customer);
}
std::string email_of(std::int64_t customer) {
  return fmt::format("customer{}@example.se", customer);
}
std::string order_of(std::int64_t order) {
  return fmt::format("{}", 100000 + order);
}

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

void fill(const std::string& path, std::int64_t messages) {
  StoreOptions options;
  options.location = path;
  options.synchronous_full = false;
  auto store = open_store(options);
  const Lease lease{"bench", 600000};
  const std::int64_t events = messages / 2;
  const std::int64_t orders = std::max<std::int64_t>(1, events / 3);
  const std::int64_t customers = std::max<std::int64_t>(1, orders / 3);
  const char* statuses[] = {"placed", "shipped", "delivered"};
  std::mt19937_64 rng(42);
  const std::string html(800, 'h');
  const auto began = Clock::now();
  std::int64_t done = 0;
  // Orders in time order: order o is placed at day (o / orders) * 200,
  // shipped a day later, delivered two days later.
  const std::int64_t chunk = 500;
  for (std::int64_t first = 0; first < orders; first += chunk) {
    store->run<bool>([&](StoreTx& tx) {
    std::int64_t last_now = 0;
    for (std::int64_t o = first; o < std::min(orders, first + chunk); ++o) {
      const std::int64_t customer = static_cast<std::int64_t>(rng() % customers);
      const std::int64_t placed_at =
          kStart + (o * kSpreadDays * kDay) / orders + static_cast<std::int64_t>(rng() % 3600000);
      for (int s = 0; s < 3; ++s) {
        const std::int64_t now = placed_at + s * kDay;
        last_now = std::max(last_now, now);
        EventRecord r;
        r.event_id = fmt::format("ev-{}-{}", o, s);
        r.order_id = order_of(o);
        r.status = statuses[s];
        r.rank = s * 2;
        r.source = "bench";
        r.payload = fmt::format(
            R"({{"event_id":"{}","order_id":"{}","status":"{}","occurred_at":"2026-01-01T00:00:00Z","customer":{{"name":"Kund {}","phone":"{}","email":"{}","locale":"sv-SE","timezone":"Europe/Stockholm"}},"delivery":{{"carrier":"PostNord","tracking_url":"https://tracking.example/{}"}},"data":{{"total":"1499.00","currency":"SEK","items":[{{"name":"Ullfilt","quantity":2}}]}}}})",
            r.event_id, r.order_id, r.status, customer, phone_of(customer), email_of(customer), o);
        for (int k = 0; k < 2; ++k) {
          NewMessage m;
          m.rule = statuses[s];
          m.channel = k == 0 ? "sms" : "email";
          m.kind = k == 0 ? ChannelKind::Sms : ChannelKind::Email;
          m.template_name = statuses[s];
          m.locale = "sv";
          m.recipient = k == 0 ? phone_of(customer) : email_of(customer);
          m.subject = k == 0 ? "" : fmt::format("Din order {} är {}", r.order_id, r.status);
          m.text = fmt::format(
              "Hej Kund {}! Nu är din order {} {}. Följ paketet här: "
              "https://tracking.example/{} /Exempelbutiken{}",
              customer, r.order_id, r.status, o, k == 0 ? "" : std::string(400, '.'));
          m.html = k == 0 ? "" : html;
          m.idempotency_key = fmt::format("{}-{}", r.event_id, k);
          m.gateway = k == 0 ? "sms-gw" : "mail-gw";
          r.messages.push_back(std::move(m));
        }
        tx.apply_event(r, now);
      }
    }
    // Everything of this chunk is sent, as tackd would have by now.
    for (const char* gateway : {"sms-gw", "mail-gw"}) {
      for (;;) {
        auto claimed = tx.claim_due(lease, gateway, 1000, last_now);
        if (claimed.empty()) break;
        for (const auto& c : claimed) {
          AttemptRecord a;
          a.message_id = c.message.id;
          a.gateway = gateway;
          // Sent a minute after it was created: a day of the log is a day.
          a.started_at_ms = c.round_started_at_ms + 60000;
          a.duration_ms = 120;
          a.outcome = "sent";
          a.detail = R"({"id":"p-123","status":"created","to":")" + c.message.recipient + "\"}";
          a.provider_id = fmt::format("p-{}", c.message.id);
          a.next_state = MessageState::Sent;
          a.next_gateway = gateway;
          tx.record_attempt(a, c.round_started_at_ms + 60000);
        }
      }
    }
    return true;
    });
    done += (std::min(orders, first + chunk) - first) * 6;
    if ((first / chunk) % 200 == 0) {
      std::fprintf(stderr, "\rfilled %lld messages (%.0f s)", static_cast<long long>(done),
                   us_since(began) / 1e6);
    }
  }
  std::fprintf(stderr, "\rfilled %lld messages in %.0f s\n", static_cast<long long>(done),
               us_since(began) / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t messages = 10'000'000;
  int lookups = 1000, batch = 500;
  std::string dir = "/tmp/tack-log-scale";
  bool reuse = false;
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
    else if (a == "--lookups")
      lookups = std::stoi(next());
    else if (a == "--batch")
      batch = std::stoi(next());
    else if (a == "--dir")
      dir = next();
    else if (a == "--reuse")
      reuse = true;
    else {
      std::fprintf(stderr,
                   "usage: log_scale [--messages N] [--lookups N] [--batch N] [--dir DIR] "
                   "[--reuse]\n");
      return 64;
    }
  }
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/tack.db";
  if (!reuse) {
    for (const char* ext : {"", "-wal", "-shm"}) std::filesystem::remove(path + ext);
    fill(path, messages);
  }
  const std::int64_t orders = std::max<std::int64_t>(1, messages / 2 / 3);
  const std::int64_t customers = std::max<std::int64_t>(1, orders / 3);
  std::printf("store %s: %.1f MB, %lld messages\n", path.c_str(),
              static_cast<double>(std::filesystem::file_size(path)) / 1e6,
              static_cast<long long>(orders * 6));

  {
    StoreOptions options;
    options.location = path;
    options.access = StoreOptions::Access::ReadOnly;
    auto store = open_store(options);
    store->query<bool>([&](StoreReader& db) {
    std::mt19937_64 rng(7);
    std::vector<double> by_order, by_phone, by_email, api_phone;
    std::size_t found = 0;
    for (int i = 0; i < lookups; ++i) {
      MessageQuery q;
      q.order_id = order_of(static_cast<std::int64_t>(rng() % orders));
      auto t = Clock::now();
      found += db.find_messages(q).size();
      by_order.push_back(us_since(t));
      const auto customer = static_cast<std::int64_t>(rng() % customers);
      MessageQuery p;
      p.recipients = {phone_of(customer)};
      t = Clock::now();
      found += db.find_messages(p).size();
      by_phone.push_back(us_since(t));
      MessageQuery e;
      e.recipients = {email_of(customer)};
      t = Clock::now();
      found += db.find_messages(e).size();
      by_email.push_back(us_since(t));
      MessageSearch s;
      s.recipients = {phone_of(customer)};
      t = Clock::now();
      found += db.search_messages(s).messages.size();
      api_phone.push_back(us_since(t));
    }
    for (auto [name, v] : {std::pair{"find_messages by order", &by_order},
                           std::pair{"find_messages by phone", &by_phone},
                           std::pair{"find_messages by e-mail", &by_email},
                           std::pair{"search_messages by phone (API page)", &api_phone}}) {
      auto p = percentiles(*v);
      std::printf("%-38s p50 %8.0f us  p99 %8.0f us  max %8.0f us\n", name, p.p50, p.p99, p.max);
    }
    std::printf("(%zu messages returned over %d x 4 lookups)\n", found, lookups);
    return true;
    });
  }

  {
    // One day of retention: everything last changed in the first day.
    StoreOptions options;
    options.location = path;
    auto opened = open_store(options);
    Store& store = *opened;
    const std::int64_t cutoff = kStart + kDay;  // everything of the first day
    const std::int64_t now = kStart + 220 * kDay;
    std::vector<double> batch_us;
    PruneCounts total;
    const auto began = Clock::now();
    for (;;) {
      std::promise<PruneCounts> result;
      auto started = std::make_shared<Clock::time_point>();
      auto held = std::make_shared<double>(0);
      store.submit(
          [&, started](StoreTx& tx) {
            *started = Clock::now();
            result.set_value(tx.prune_batch(cutoff, false, batch, now));
          },
          [started, held](const std::string& error) {
            *held = us_since(*started);  // the batch's work and its commit
            if (!error.empty()) std::fprintf(stderr, "batch failed: %s\n", error.c_str());
          });
      auto counts = result.get_future().get();
      // The done callback runs right after the commit on the writer thread.
      std::promise<void> flushed;
      store.submit([](StoreTx&) {}, [&](const std::string&) { flushed.set_value(); });
      flushed.get_future().wait();
      batch_us.push_back(*held);
      total.messages += counts.messages;
      total.attempts += counts.attempts;
      total.events += counts.events;
      if (!counts.more) break;
    }
    auto p = percentiles(batch_us);
    std::printf(
        "prune (anonymise) of the first %lld days: %lld messages, %lld attempts, %lld events in "
        "%zu batches of <= %d, %.1f s\n",
        static_cast<long long>((cutoff - kStart) / kDay), static_cast<long long>(total.messages),
        static_cast<long long>(total.attempts), static_cast<long long>(total.events),
        batch_us.size(), batch, us_since(began) / 1e6);
    std::printf(
        "writer held per batch (work + commit):   p50 %8.0f us  p99 %8.0f us  max %8.0f us\n",
        p.p50, p.p99, p.max);
  }

  {
    // One GDPR request: the payload scan is the expensive part.
    StoreOptions options;
    options.location = path;
    auto store = open_store(options);
    const std::string who = phone_of(customers / 2);
    auto t = Clock::now();
    auto events = store->query<std::vector<std::int64_t>>(
        [&](StoreReader& r) { return events_naming(r, who, "SE"); });
    const double scan = us_since(t);
    t = Clock::now();
    auto r = store->run<ForgetResult>([&](StoreTx& tx) {
      return tx.forget_recipient(who, events, "bench", kStart + 220 * kDay);
    });
    std::printf(
        "forget one phone: %d messages, %d events; finding events %.2f s, erasing %.0f ms\n",
        r.messages, r.events, scan / 1e6, us_since(t) / 1e3);
  }
  return 0;
}
