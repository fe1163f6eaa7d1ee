// store_commit: the store's ceiling for the benchmark's work, through tack's
// own Store contract (SQLite: group commit on its writer thread).
//
// Per event it does what tackd does: one apply_event unit (event row, order
// row, one queued message), one claim, one record_attempt unit (attempt row,
// message -> sent). All units are queued at once, so every batch is as full
// as tack's batching policy allows: this is the most events per second the
// store can commit on this disk, the lower of the two limits tack is held to
// when sending is cheap.
//
//   tack_bench_store --count N --dir DIR [--synchronous full|normal]
// prints one JSON line: {"count":N,"synchronous":"full","seconds":S,"per_second":R}
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <iostream>
#include <string>

#include "store/store.hpp"

namespace {

tack::EventRecord event_record(long i, std::int64_t now_ms) {
  tack::EventRecord r;
  std::string order = std::to_string(100000 + i);
  r.event_id = "bench-" + std::to_string(i);
  r.order_id = order;
  r.status = "shipped";
  r.occurred_at_ms = now_ms;
  r.rank = 3;
  r.source = "bench";
  r.payload = "{\"event_id\":\"" + r.event_id + "\",\"order_id\":\"" + order +
              "\",\"status\":\"shipped\",\"occurred_at\":\"2026-11-22T10:15:00Z\",\"customer\":{"
              "\"name\":\"Anna Svensson\",\"phone\":\"+46701234567\",\"email\":\"anna@example.se\","
              "\"locale\":\"sv-SE\"},\"delivery\":{\"carrier\":\"PostNord\",\"tracking_url\":"
              "\"https://tracking.example/" +
              order + "\"}}";
  tack::NewMessage m;
  m.rule = "shipped-sms";
  m.channel = "sms";
  m.template_name = "bench_sms";
  m.locale = "sv-SE";
  m.recipient = "+4670" + std::to_string(1000000 + i % 9000000);
  m.text = "Hej Anna! Din order " + order +
           " har skickats med PostNord och kommer i morgon mellan 12 och 14. Spara: "
           "https://tracking.example/" + order;
  m.idempotency_key = "key-" + std::to_string(i);
  m.gateway = "sink";
  r.messages.push_back(std::move(m));
  return r;
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Submits `count` units made by `make(i)` and waits until all committed.
template <class Make>
void run_units(tack::Store& store, long count, Make make) {
  std::atomic<long> left{count};
  std::promise<void> all_done;
  std::atomic<bool> failed{false};
  for (long i = 0; i < count; ++i) {
    store.submit(make(i), [&](const std::string& error) {
      if (!error.empty() && !failed.exchange(true)) std::cerr << "store: " << error << "\n";
      if (--left == 0) all_done.set_value();
    });
  }
  all_done.get_future().wait();
  if (failed) std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  long count = 0;
  std::string dir;
  std::string synchronous = "full";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--count" && i + 1 < argc) {
      count = std::atol(argv[++i]);
    } else if (arg == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (arg == "--synchronous" && i + 1 < argc) {
      synchronous = argv[++i];
    } else {
      count = 0;
      break;
    }
  }
  if (count <= 0 || dir.empty() || (synchronous != "full" && synchronous != "normal")) {
    std::cerr << "usage: tack_bench_store --count N --dir DIR [--synchronous full|normal]\n";
    return 64;
  }
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/store-commit.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  tack::StoreOptions options;
  options.location = path;
  options.synchronous_full = synchronous == "full";
  auto opened = tack::open_store(options);
  tack::Store& store = *opened;
  const tack::Lease lease{"bench", 600000};

  const auto now = wall_ms();
  const auto start = std::chrono::steady_clock::now();
  run_units(store, count, [now](long i) {
    return [record = event_record(i, now), now](tack::StoreTx& tx) { tx.apply_event(record, now); };
  });
  // The dispatcher claims up to max_in_flight messages per round and records
  // each attempt as its own unit.
  std::vector<tack::ClaimedMessage> claimed;
  std::promise<void> claimed_all;
  store.submit(
      [&](tack::StoreTx& tx) {
        while (true) {
          auto got = tx.claim_due(lease, "sink", 24, now + 1);
          if (got.empty()) break;
          std::move(got.begin(), got.end(), std::back_inserter(claimed));
        }
      },
      [&](const std::string& error) {
        if (!error.empty()) std::cerr << "store: " << error << "\n";
        claimed_all.set_value();
      });
  claimed_all.get_future().wait();
  if (static_cast<long>(claimed.size()) != count) {
    std::cerr << "tack_bench_store: claimed " << claimed.size() << " of " << count << "\n";
    return 1;
  }
  run_units(store, count, [&claimed, now](long i) {
    tack::AttemptRecord a;
    a.message_id = claimed[static_cast<std::size_t>(i)].message.id;
    a.gateway = "sink";
    a.started_at_ms = now;
    a.duration_ms = 1;
    a.outcome = "sent";
    a.provider_id = "sink-" + std::to_string(i);
    a.next_state = tack::MessageState::Sent;
    a.next_gateway = "sink";
    return [a, now](tack::StoreTx& tx) { tx.record_attempt(a, now); };
  });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  store.close();
  std::printf("{\"count\":%ld,\"synchronous\":\"%s\",\"seconds\":%.4f,\"per_second\":%.1f}\n",
              count, synchronous.c_str(), seconds, count / seconds);
  return 0;
}
