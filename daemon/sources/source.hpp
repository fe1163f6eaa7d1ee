// source: the plugin interface for where events come from.
//
// A source reads raw event documents from somewhere (an outbox table, later
// PostgreSQL, HTTP, a queue), hands them to the intake, and acknowledges
// them at the origin only after the intake has committed them to the store.
// A crash between the two re-delivers the events; the intake deduplicates by
// event_id, so that is harmless.
//
// A source kind is one file pair in this folder plus one entry in
// registry.cpp: type name, config keys and factory. A source that is told
// of events over HTTP (a shop platform's webhooks) answers on tackd's
// listener through routes() (http/route.hpp); the HTTP event intake
// (http_events) is one, made by app whenever the listener is on.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "asio.hpp"
#include "config.hpp"
#include "http/route.hpp"

namespace tack {

class Intake;

class Source {
 public:
  virtual ~Source() = default;
  // Starts taking events. Must return promptly; work runs on the source's
  // own thread or on the io_context.
  virtual void start() = 0;
  // Stops taking new events and waits until nothing is half-handed to the
  // intake. After stop() returns, the source calls the intake no more.
  virtual void stop() = 0;
  // The routes it answers on tackd's HTTP listener, mounted once before
  // the listener starts. None by default.
  virtual std::vector<Route> routes() { return {}; }
};

struct SourceContext {
  asio::io_context& io;
  Intake& intake;
  std::string config_dir;
};

struct SourceKind {
  std::string type;
  std::string summary;
  std::vector<ConfigKey> keys;
  std::function<std::unique_ptr<Source>(const SourceConfig&, SourceContext&)> create;
};

// The one explicit list of source kinds (registry.cpp).
const std::vector<SourceKind>& source_kinds();
const SourceKind* find_source_kind(const std::string& type);

}  // namespace tack
