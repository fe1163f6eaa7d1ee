// coro: runs Asio coroutines to completion inside a test, bounded by a
// timeout, so a transfer that never completes fails the test instead of
// hanging it. Header-only (tests/CMakeLists.txt compiles only *_test.cpp).
#pragma once

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>

#include "asio.hpp"

namespace tack::testing {

// Runs io until `done()` holds or the timeout passes; false on timeout.
// done() is checked at least every 10 ms, so it may watch things outside
// the loop (a file a fixture writes).
template <typename Done>
bool run_until(asio::io_context& io, Done done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  io.restart();
  while (!done()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    io.run_one_for(std::min<std::chrono::steady_clock::duration>(deadline - now,
                                                                 std::chrono::milliseconds(10)));
    if (io.stopped()) io.restart();
  }
  return true;
}

// co_spawns task on io and runs the loop until it finishes. nullopt when the
// timeout passes first; an exception escaping the task is rethrown.
template <typename T>
std::optional<T> run_task(asio::io_context& io, asio::awaitable<T> task,
                          std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  // Shared, so a task that outlives a timed-out call writes nowhere stale.
  struct State {
    std::optional<T> result;
    std::exception_ptr error;
    bool finished = false;
  };
  auto state = std::make_shared<State>();
  asio::co_spawn(io, std::move(task), [state](std::exception_ptr e, T value) {
    state->finished = true;
    state->error = e;
    if (!e) state->result = std::move(value);
  });
  run_until(
      io, [&] { return state->finished; }, timeout);
  if (state->error) std::rethrow_exception(state->error);
  return std::move(state->result);
}

}  // namespace tack::testing
