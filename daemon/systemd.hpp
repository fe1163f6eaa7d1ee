// systemd: tackd's side of the service manager's notification protocol
// (sd_notify(3)), and the only caller of libsystemd's sd_* functions.
//
// run_daemon owns one ServiceNotifier on its io_context and tells it where
// the daemon is in its life: ready() once the store is open and every
// listener bound, reloading() and ready() around a SIGHUP reload,
// stopping() when the drain begins. Each becomes one datagram to
// $NOTIFY_SOCKET (READY=1, RELOADING=1 with MONOTONIC_USEC, STOPPING=1).
//
// ready() also starts two timers on the loop:
// - the watchdog, when systemd asks for one (WatchdogSec=, seen through
//   $WATCHDOG_USEC and $WATCHDOG_PID): WATCHDOG=1 every half interval, sent
//   from the event loop itself, so a loop that stops turning stops the pings
//   and systemd restarts tackd;
// - STATUS= with the queue's figures (`systemctl status tackd`), read from
//   the store through Store::read every status interval.
// stopping() ends the status updates; the watchdog keeps pinging while the
// loop drains.
//
// Without $NOTIFY_SOCKET (not started by systemd) every call is a cheap
// no-op and no timer runs. A failed send is logged once, never thrown: the
// daemon works the same without its service manager.
//
// Lifetime: construct after the io_context and destroy it after io.run()
// returned (the timers and the status task run on that loop and reach
// this object). Not thread-safe: call it from the loop's thread, or before
// the loop runs.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "asio.hpp"

namespace tack {

class Store;
struct QueueCounts;

// "queued 12, retry_wait 3, sending 2, dead 0; store ok", or "...; store
// error: <why>" when the store's last batch failed.
std::string queue_status_text(const QueueCounts& counts, bool store_ok,
                              std::string_view store_error);

class ServiceNotifier {
 public:
  ServiceNotifier(asio::io_context& io, Store& store,
                  std::chrono::milliseconds status_interval = std::chrono::seconds(5));
  ~ServiceNotifier();
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  // READY=1. The first call also starts the watchdog and the status timer.
  void ready();
  // RELOADING=1 with MONOTONIC_USEC=<now> (systemd 253+ wants both); call
  // ready() once the reload is done, whatever its result.
  void reloading();
  // STOPPING=1; stops the status updates.
  void stopping();
  // STATUS=<text>: one line; line breaks become spaces.
  void status(std::string_view text);

  // Whether $NOTIFY_SOCKET names a service manager to talk to.
  bool enabled() const { return enabled_; }
  // The watchdog ping interval (half of WatchdogSec), zero when systemd
  // asked for no watchdog or it has not started yet.
  std::chrono::microseconds watchdog_interval() const { return watchdog_interval_; }

 private:
  void send(const std::string& state);
  void ping_watchdog();
  void schedule_status();
  asio::awaitable<void> update_status();

  asio::io_context& io_;
  Store& store_;
  std::chrono::milliseconds status_interval_;
  bool enabled_ = false;
  bool started_ = false;
  bool stopping_ = false;
  bool send_failed_logged_ = false;
  std::chrono::microseconds watchdog_interval_{0};
  asio::steady_timer watchdog_timer_;
  asio::steady_timer status_timer_;
  // Tells the timer and status handlers still queued on the loop that this
  // object is gone.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tack
