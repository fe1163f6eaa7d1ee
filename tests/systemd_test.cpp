// The sd_notify protocol as a service manager sees it: each test binds an
// AF_UNIX datagram socket in a temp dir, points $NOTIFY_SOCKET (and for the
// watchdog $WATCHDOG_USEC/$WATCHDOG_PID) at it, drives ServiceNotifier on a
// real io_context and a real store, and asserts the datagrams received.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/store.hpp"
#include "support/coro.hpp"
#include "support/temp_dir.hpp"
#include "systemd.hpp"

using namespace tack;
using namespace std::chrono_literals;

namespace {

// Sets an environment variable for the test's lifetime, then restores it,
// so tests that share a process (tack_tests run by hand) do not leak it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value->c_str(), 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_.c_str(), old_->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// The service manager's end: a datagram socket bound in a temp dir.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) throw std::runtime_error("socket path too long");
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      throw std::runtime_error("bind: " + std::string(std::strerror(errno)));
    }
  }
  ~NotifySocket() { ::close(fd_); }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  const std::string& path() const { return path_; }

  // Every datagram waiting now, in order.
  std::vector<std::string> drain() {
    std::vector<std::string> out;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n < 0) break;
      out.emplace_back(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// What the loop sent so far, collected while it runs.
struct Received {
  NotifySocket& socket;
  std::vector<std::string> all;

  void collect() {
    for (auto& d : socket.drain()) all.push_back(std::move(d));
  }
  int count(const std::string& datagram) const {
    int n = 0;
    for (const auto& d : all) n += d == datagram;
    return n;
  }
  std::vector<std::string> starting_with(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& d : all) {
      if (d.rfind(prefix, 0) == 0) out.push_back(d);
    }
    return out;
  }
};

// A store with `queued` messages waiting, one order each.
std::unique_ptr<Store> store_with_queued(const std::string& path, int queued) {
  auto store = testing::open_test_store(path);
  for (int i = 0; i < queued; ++i) {
    EventRecord r;
    r.event_id = "e" + std::to_string(i);
    r.order_id = std::to_string(1000 + i);
    r.status = "shipped";
    r.rank = 3;
    r.source = "test";
    r.payload = "{}";
    r.messages = {testing::sms("k" + std::to_string(i))};
    store->run<bool>([&](StoreTx& tx) {
      tx.apply_event(r, 1000);
      return true;
    });
  }
  return store;
}

std::uint64_t monotonic_usec_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

TEST_CASE("queue_status_text shows the queue's figures and the store's health", "[systemd]") {
  QueueCounts c;
  c[MessageState::Queued] = 12;
  c[MessageState::RetryWait] = 3;
  c[MessageState::Sending] = 2;
  c[MessageState::Dead] = 1;
  c[MessageState::Held] = 99;
  CHECK(queue_status_text(c, true, "") == "queued 12, retry_wait 3, sending 2, dead 1; store ok");
  CHECK(queue_status_text(c, false, "disk I/O error\nat commit") ==
        "queued 12, retry_wait 3, sending 2, dead 1; store error: disk I/O error at commit");
  CHECK(queue_status_text(QueueCounts{}, false, "") ==
        "queued 0, retry_wait 0, sending 0, dead 0; store error: unknown");
}

TEST_CASE("READY=1, then STATUS= with the store's queue figures, then RELOADING and STOPPING",
          "[systemd]") {
  testing::TempDir dir;
  NotifySocket socket(dir.file("notify"));
  ScopedEnv notify_env("NOTIFY_SOCKET", socket.path());
  ScopedEnv watchdog_env("WATCHDOG_USEC", std::nullopt);
  asio::io_context io;  // outlives the store, whose answers it receives
  auto opened = store_with_queued(dir.file("tack.db"), 3);
  Store& store = *opened;
  Received got{socket, {}};
  {
    ServiceNotifier notifier(io, store, 30ms);
    CHECK(notifier.enabled());
    notifier.ready();
    got.collect();
    REQUIRE(!got.all.empty());
    CHECK(got.all.front() == "READY=1");

    // The first figures come at once, then again every interval.
    REQUIRE(testing::run_until(
        io,
        [&] {
          got.collect();
          return got.starting_with("STATUS=").size() >= 3;
        },
        5s));
    for (const auto& status : got.starting_with("STATUS=")) {
      CHECK(status == "STATUS=queued 3, retry_wait 0, sending 0, dead 0; store ok");
    }
    CHECK(notifier.watchdog_interval() == 0us);  // systemd asked for none
    CHECK(got.count("WATCHDOG=1") == 0);

    // Around a reload: RELOADING=1 with the monotonic clock, then READY=1.
    const auto before = monotonic_usec_now();
    notifier.reloading();
    const auto after = monotonic_usec_now();
    notifier.ready();
    got.all.clear();
    got.collect();
    REQUIRE(got.all.size() >= 2);
    const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
    REQUIRE(got.all[0].rfind(prefix, 0) == 0);
    const auto usec = std::stoull(got.all[0].substr(prefix.size()));
    CHECK(usec >= before);
    CHECK(usec <= after);
    CHECK(got.all[1] == "READY=1");

    // STOPPING=1 ends the status updates.
    notifier.stopping();
    got.all.clear();
    testing::run_until(
        io,
        [&] {
          got.collect();
          return false;
        },
        200ms);
    REQUIRE(!got.all.empty());
    CHECK(got.all.front() == "STOPPING=1");
    CHECK(got.starting_with("STATUS=").empty());
  }
  store.close();
}

TEST_CASE("STATUS= text is sent as one line", "[systemd]") {
  testing::TempDir dir;
  NotifySocket socket(dir.file("notify"));
  ScopedEnv notify_env("NOTIFY_SOCKET", socket.path());
  asio::io_context io;  // outlives the store, whose answers it receives
  auto opened = store_with_queued(dir.file("tack.db"), 0);
  Store& store = *opened;
  ServiceNotifier notifier(io, store);
  notifier.status("draining\nREADY=1");
  auto got = socket.drain();
  REQUIRE(got.size() == 1);
  CHECK(got[0] == "STATUS=draining READY=1");
  store.close();
}

TEST_CASE("the watchdog pings from the event loop at half WATCHDOG_USEC, and stops with it",
          "[systemd]") {
  testing::TempDir dir;
  NotifySocket socket(dir.file("notify"));
  ScopedEnv notify_env("NOTIFY_SOCKET", socket.path());
  ScopedEnv usec_env("WATCHDOG_USEC", "100000");
  ScopedEnv pid_env("WATCHDOG_PID", std::to_string(::getpid()));
  asio::io_context io;  // outlives the store, whose answers it receives
  auto opened = store_with_queued(dir.file("tack.db"), 0);
  Store& store = *opened;
  Received got{socket, {}};
  ServiceNotifier notifier(io, store, 10s);
  notifier.ready();
  CHECK(notifier.watchdog_interval() == 50000us);
  got.collect();
  CHECK(got.count("WATCHDOG=1") == 1);  // the first ping at once

  const auto start = std::chrono::steady_clock::now();
  REQUIRE(testing::run_until(
      io,
      [&] {
        got.collect();
        return got.count("WATCHDOG=1") >= 5;
      },
      5s));
  // Four more pings at 50 ms each: not faster than the interval.
  CHECK(std::chrono::steady_clock::now() - start >= 190ms);

  // A loop that does not turn sends nothing: the pings come from it.
  got.all.clear();
  got.collect();
  std::this_thread::sleep_for(250ms);
  got.collect();
  CHECK(got.count("WATCHDOG=1") == 0);
  // Once it turns again, the late ping goes out.
  REQUIRE(testing::run_until(
      io,
      [&] {
        got.collect();
        return got.count("WATCHDOG=1") >= 1;
      },
      1s));
  store.close();
}

TEST_CASE("no watchdog when WATCHDOG_PID names another process", "[systemd]") {
  testing::TempDir dir;
  NotifySocket socket(dir.file("notify"));
  ScopedEnv notify_env("NOTIFY_SOCKET", socket.path());
  ScopedEnv usec_env("WATCHDOG_USEC", "100000");
  ScopedEnv pid_env("WATCHDOG_PID", std::to_string(::getpid() + 1));
  asio::io_context io;  // outlives the store, whose answers it receives
  auto opened = store_with_queued(dir.file("tack.db"), 0);
  Store& store = *opened;
  Received got{socket, {}};
  ServiceNotifier notifier(io, store, 10s);
  notifier.ready();
  CHECK(notifier.watchdog_interval() == 0us);
  testing::run_until(
      io,
      [&] {
        got.collect();
        return false;
      },
      200ms);
  CHECK(got.count("READY=1") == 1);
  CHECK(got.count("WATCHDOG=1") == 0);
  store.close();
}

TEST_CASE("without NOTIFY_SOCKET nothing is sent and no timer runs", "[systemd]") {
  testing::TempDir dir;
  NotifySocket socket(dir.file("notify"));
  ScopedEnv notify_env("NOTIFY_SOCKET", std::nullopt);
  ScopedEnv usec_env("WATCHDOG_USEC", "100000");
  ScopedEnv pid_env("WATCHDOG_PID", std::to_string(::getpid()));
  asio::io_context io;  // outlives the store, whose answers it receives
  auto opened = store_with_queued(dir.file("tack.db"), 0);
  Store& store = *opened;
  ServiceNotifier notifier(io, store, 10ms);
  CHECK_FALSE(notifier.enabled());
  notifier.ready();
  notifier.reloading();
  notifier.status("x");
  notifier.stopping();
  CHECK(notifier.watchdog_interval() == 0us);
  // Nothing is queued on the loop: run() returns at once.
  CHECK(io.run_for(100ms) == 0);
  CHECK(socket.drain().empty());
  store.close();
}

TEST_CASE("a NOTIFY_SOCKET nobody listens on is not an error", "[systemd]") {
  testing::TempDir dir;
  ScopedEnv notify_env("NOTIFY_SOCKET", dir.file("nobody"));
  ScopedEnv usec_env("WATCHDOG_USEC", std::nullopt);
  asio::io_context io;  // outlives the store, whose answers it receives
  auto opened = store_with_queued(dir.file("tack.db"), 0);
  Store& store = *opened;
  ServiceNotifier notifier(io, store, 10ms);
  CHECK(notifier.enabled());
  notifier.ready();  // logs once, throws nothing
  notifier.stopping();
  store.close();
}
