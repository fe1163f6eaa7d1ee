#include "systemd.hpp"

#include <fmt/format.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <optional>

#include "log.hpp"
#include "store/records.hpp"
#include "store/store.hpp"

namespace tack {

namespace {

std::uint64_t monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

// STATUS= is one line of the notify datagram: a line break would start a
// new (unintended) assignment.
std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

}  // namespace

std::string queue_status_text(const QueueCounts& counts, bool store_ok,
                              std::string_view store_error) {
  auto text = fmt::format("queued {}, retry_wait {}, sending {}, dead {}; ",
                          counts[MessageState::Queued], counts[MessageState::RetryWait],
                          counts[MessageState::Sending], counts[MessageState::Dead]);
  if (store_ok) {
    text += "store ok";
  } else {
    text += "store error: ";
    text += store_error.empty() ? std::string_view("unknown") : store_error;
  }
  return one_line(text);
}

ServiceNotifier::ServiceNotifier(asio::io_context& io, Store& store,
                                 std::chrono::milliseconds status_interval)
    : io_(io),
      store_(store),
      status_interval_(status_interval),
      watchdog_timer_(io),
      status_timer_(io) {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && *socket != '\0';
}

ServiceNotifier::~ServiceNotifier() {
  *alive_ = false;
}

void ServiceNotifier::send(const std::string& state) {
  if (!enabled_) return;
  int rc = sd_notify(0, state.c_str());
  if (rc < 0 && !send_failed_logged_) {
    send_failed_logged_ = true;
    log::warning("systemd: cannot notify the service manager: {}", std::strerror(-rc));
  }
}

void ServiceNotifier::ready() {
  send("READY=1");
  if (started_ || !enabled_) return;
  started_ = true;

  std::uint64_t usec = 0;
  // > 0: systemd asked this very process (WATCHDOG_PID) for pings.
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    watchdog_interval_ = std::chrono::microseconds(usec / 2);
    log::info("systemd: watchdog every {} ms", watchdog_interval_.count() / 1000);
    ping_watchdog();
  }
  schedule_status();
}

void ServiceNotifier::reloading() {
  send(fmt::format("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
}

void ServiceNotifier::stopping() {
  stopping_ = true;
  status_timer_.cancel();
  send("STOPPING=1");
}

void ServiceNotifier::status(std::string_view text) {
  send("STATUS=" + one_line(text));
}

void ServiceNotifier::ping_watchdog() {
  send("WATCHDOG=1");
  watchdog_timer_.expires_after(watchdog_interval_);
  watchdog_timer_.async_wait([this, alive = alive_](const error_code& ec) {
    if (ec || !*alive) return;
    ping_watchdog();
  });
}

void ServiceNotifier::schedule_status() {
  // The first figures go out at once; then every status interval, one
  // query at a time (a slow store delays the next one, never piles up).
  asio::co_spawn(io_, update_status(), [this, alive = alive_](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log::error("systemd: status update failed: {}", ex.what());
      }
    }
    if (!*alive || stopping_) return;
    status_timer_.expires_after(status_interval_);
    status_timer_.async_wait([this, alive](const error_code& ec) {
      if (ec || !*alive || stopping_) return;
      schedule_status();
    });
  });
}

asio::awaitable<void> ServiceNotifier::update_status() {
  auto alive = alive_;
  std::string error;
  // Named, not a temporary in the co_await expression (GCC 12, see Store::call).
  std::function<QueueCounts(StoreReader&)> count = [](StoreReader& r) { return r.queue_counts(); };
  auto counts = co_await store_.read<QueueCounts>(io_.get_executor(), std::move(count), &error);
  if (!*alive || stopping_) co_return;
  if (counts) {
    status(queue_status_text(*counts, store_.healthy(), store_.last_error()));
  } else {
    status("queue unknown; store error: " + error);
  }
}

}  // namespace tack
