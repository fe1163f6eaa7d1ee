#include "app.hpp"

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <set>

#include "clock.hpp"
#include "http/server.hpp"
#include "sources/http_events.hpp"
#include "curl.hpp"
#include "dispatcher.hpp"
#include "gateways/routes.hpp"
#include "intake.hpp"
#include "log.hpp"
#include "metrics.hpp"
#include "reload.hpp"
#include "optout_routes.hpp"
#include "reports.hpp"
#include "secrets.hpp"
#include "retention.hpp"
#include "scheduler.hpp"
#include "sources/source.hpp"
#include "store/store.hpp"
#include "systemd.hpp"

namespace tack {

namespace {

// Config and templates together, or the errors that stop them.
std::shared_ptr<const Snapshot> load_snapshot(const std::string& path, ConfigErrors& errors) {
  auto loaded = load_config(path);
  if (!loaded.config) {
    errors = loaded.errors;
    return nullptr;
  }
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->config = std::move(*loaded.config);
  for (const auto& readable : readable_secret_files(snapshot->config.secrets)) {
    if (snapshot->config.secrets.on_readable == OnReadableSecrets::Refuse) {
      errors.add(readable.message + " (secrets.on_readable: refuse)");
    } else {
      log::warning("{}", readable.message);
    }
  }
  if (!errors.empty()) return nullptr;
  ConfigErrors template_errors;
  snapshot->templates = TemplateSet::load(snapshot->config.template_dir, template_errors,
                                          snapshot->config.limits.max_template_bytes);
  // What `tackd check` refuses, start and reload refuse too.
  std::vector<ConfigError> template_warnings;
  snapshot->templates->check(snapshot->config, template_errors, template_warnings);
  for (const auto& w : template_warnings) log::warning("{}", w.to_string());
  if (!template_errors.empty()) {
    errors = template_errors;
    return nullptr;
  }
  for (const auto& rule : snapshot->config.rules) {
    if (!snapshot->templates->has(rule.template_name)) {
      errors.add("rule " + rule.name + ": template " + rule.template_name + " did not load");
    }
  }
  if (!errors.empty()) return nullptr;
  return snapshot;
}


}  // namespace

int run_daemon(const std::string& config_path) {
  // A file-size limit or a closed log pipe must come back as errors (EFBIG,
  // EPIPE) that the store and the log handle, not kill the daemon.
  std::signal(SIGXFSZ, SIG_IGN);
  std::signal(SIGPIPE, SIG_IGN);
  ConfigErrors errors;
  auto snapshot = load_snapshot(config_path, errors);
  if (!snapshot) {
    for (const auto& e : errors.items) std::cerr << e.to_string() << "\n";
    std::cerr << "tackd: config has " << errors.items.size() << " error(s); not starting\n";
    return kExitConfig;
  }
  const Config& config = snapshot->config;
  log::set_level(config.log_level);
  const std::string config_dir =
      std::filesystem::absolute(config_path).parent_path().string();

  std::unique_ptr<Store> opened;
  try {
    StoreOptions options;
    options.location = config.store_path;
    options.synchronous_full = config.store_synchronous_full;
    opened = open_store(options);
    // A store made before tackd set its umask (or copied in) may be open to
    // others; the operator hears it at each start, like a readable secret.
    for (const auto& readable : readable_store_files(config.store_path)) {
      log::warning("{}", readable.message);
    }
    struct StartUp {
      int recovered = 0;
      std::vector<std::string> released;
    };
    const auto now = wall_ms();
    const auto owner = this_owner();
    auto start = opened->run<StartUp>([now, owner](StoreTx& tx) {
      StartUp s;
      s.recovered = tx.recover_interrupted(owner, now);
      // A hold tackd put on a gateway whose provider refused its
      // credentials ends with the process: the credentials this start read
      // are tried.
      s.released = tx.release_refused_holds(
          std::nullopt, "tackd started: the credentials it read are tried", now);
      return s;
    });
    for (const auto& g : start.released) {
      log::info("gateway {}: held since its provider refused tack's credentials; tried again "
                "with the credentials read at this start",
                g);
    }
    if (start.recovered > 0) {
      log::warning("store: {} message(s) were in flight when tackd stopped; they will be retried "
                   "with the same idempotency key and are logged as unknown outcome",
                   start.recovered);
    }
  } catch (const std::exception& e) {
    log::error("store: {}", e.what());
    return kExitCantCreate;
  }
  Store& store = *opened;
  // Whatever way this function is left, the writer thread finishes before
  // the objects its callbacks reach (dispatcher, io_context) are destroyed.
  struct CloseStore {
    Store& store;
    ~CloseStore() { store.close(); }
  };

  Metrics metrics;
  metrics.configure(config);
  asio::io_context io(1);
  ServiceNotifier notifier(io, store);
  CurlMulti curl(io);
  std::size_t connections = 0;
  for (const auto& g : config.gateways) connections += static_cast<std::size_t>(g.max_in_flight);
  curl.keep_connections(connections);
  curl.set_max_response_bytes(config.limits.max_response_bytes);
  // Providers' receipts and replies, from the gateways' routes.
  StoreReports reports(store, &metrics, wall_ms);
  GatewayContext gateway_context{io, curl, config_dir, &reports,
                                 config.http ? config.http->public_url : std::string()};
  Dispatcher::GatewayMap gateways;
  for (const auto& g : config.gateways) {
    try {
      gateways[g.name] = find_gateway_kind(g.type)->create(g, gateway_context);
    } catch (const std::exception& e) {
      std::cerr << config_path << ": gateway " << g.name << ": " << e.what() << "\n";
      return kExitConfig;
    }
  }
  // A channel's gateways must carry its kind: an e-mail channel on an
  // SMS-only gateway would fail every message.
  for (const auto& [name, channel] : config.channels) {
    for (const auto& g : channel.gateways) {
      auto it = gateways.find(g);
      if (it != gateways.end() && !it->second->supports(channel.kind)) {
        std::cerr << config_path << ": channel " << name << " is " << to_string(channel.kind)
                  << " but gateway " << g << " does not carry " << to_string(channel.kind)
                  << "\n";
        return kExitConfig;
      }
    }
  }
  std::set<std::string> running_gateways;
  for (const auto& [name, gateway] : gateways) running_gateways.insert(name);
  Dispatcher dispatcher(io, store, std::move(gateways), config);
  dispatcher.set_metrics(&metrics);
  Intake intake(store, snapshot, wall_ms);
  intake.set_metrics(&metrics);
  reports.set_keywords([&intake] { return intake.snapshot()->config.opt_out_keywords; });
  Scheduler scheduler(io, store, [&intake] { return intake.snapshot(); }, wall_ms, this_owner());
  scheduler.on_queued([&dispatcher] { dispatcher.wake(); });
  intake.on_new_messages([&dispatcher, &scheduler] {
    dispatcher.wake();
    scheduler.wake();
  });

  SourceContext source_context{io, intake, config_dir};
  std::vector<std::unique_ptr<Source>> sources;
  for (const auto& s : config.sources) {
    try {
      sources.push_back(find_source_kind(s.type)->create(s, source_context));
    } catch (const std::exception& e) {
      std::cerr << config_path << ": source " << s.name << ": " << e.what() << "\n";
      return kExitConfig;
    }
  }

  // The HTTP listener binds now: a port in use stops the start, and the
  // port it got is logged before READY=1.
  std::unique_ptr<HttpServer> http_server;
  if (config.http) {
    try {
      HttpContext http_context{store, intake, metrics,
                               [&dispatcher, &scheduler] {
                                 dispatcher.wake();
                                 scheduler.wake();
                               },
                                 [&dispatcher] { return dispatcher.trouble(); }};
      http_server = std::make_unique<HttpServer>(io, std::move(http_context), *config.http);
    } catch (const std::exception& e) {
      log::error("http: cannot listen on {}:{}: {}", config.http->listen_host,
                 config.http->listen_port, e.what());
      return kExitUnavailable;
    }
    // The event intake over HTTP is a source whose route the listener
    // carries; stopped with the other sources.
    sources.push_back(std::make_unique<HttpEventSource>(
        intake, [server = http_server.get()] { return server->config(); }));
  }
  // Plugins' routes (a platform's webhooks, a provider's receipts) go on
  // the listener before it starts. A gateway's routes find the gateway of
  // that name running when a request comes, so a reload that rebuilds it
  // is answered by the new one.
  std::vector<std::pair<std::string, std::vector<Route>>> plugin_routes;
  for (auto& source : sources) plugin_routes.emplace_back("a source", source->routes());
  if (http_server) {
    // The customers' signed opt-out links (and e-mails' one-click
    // unsubscribe), signed with the running config's secret.
    plugin_routes.emplace_back(
        "opt-out links",
        opt_out_routes({store, &metrics,
                        [server = http_server.get()] { return server->config()->optout_secret; },
                        wall_ms}));
  }
  for (const auto& g : config.gateways) {
    if (Gateway* running = dispatcher.gateway(g.name)) {
      plugin_routes.emplace_back(
          "gateway " + g.name,
          gateway_routes(g.name, *running, [&dispatcher, name = g.name] {
            return dispatcher.gateway(name);
          }));
    }
  }
  for (auto& [owner, routes] : plugin_routes) {
    if (!routes.empty() && !http_server) {
      log::warning("{} answers on {} but tackd has no http listener; configure http.listen",
                   owner, routes.front().path);
    }
    for (auto& route : routes) {
      if (!http_server) break;
      try {
        http_server->mount(std::move(route));
      } catch (const std::exception& e) {
        log::error("{}", e.what());
        return kExitConfig;
      }
    }
  }

  Retention retention(io, store, config.retention, wall_ms);
  retention.set_metrics(&metrics);

  CloseStore close_store_first{store};
  // Set only now: the store's writer, which calls it, is closed before
  // `metrics` goes, whichever way this function is left.
  store.on_state_changes(
      [&metrics](const std::vector<StateChange>& changes) { metrics.state_changes(changes); });
  dispatcher.start();
  scheduler.start();
  retention.start();
  for (auto& s : sources) s->start();
  if (http_server) http_server->start();

  bool shutting_down = false;
  asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
  std::function<void()> wait_for_signal;

  auto shutdown = [&]() -> asio::awaitable<void> {
    notifier.stopping();
    log::info("tackd stopping: no new events; finishing {} send(s) in flight",
              dispatcher.in_flight());
    // Sources first: nothing new comes in while the last sends finish.
    if (http_server) http_server->stop();
    for (auto& s : sources) s->stop();
    retention.stop();
    scheduler.stop();
    // Requests in hand (events being committed, operator verbs) get their
    // answers.
    if (http_server) co_await http_server->drain(std::chrono::seconds(5));
    bool drained = co_await dispatcher.drain(std::chrono::seconds(10));
    if (!drained) {
      // Hand back what is still in flight: cancelled transfers come back as
      // outcomes and are recorded, so the next start retries them.
      log::warning("tackd stopping: cancelling {} send(s) still in flight",
                   dispatcher.in_flight());
      curl.cancel_all();
      co_await dispatcher.drain(std::chrono::seconds(3));
    }
    signals.cancel();
    io.stop();
  };

  auto reload = [&] {
    notifier.reloading();
    ConfigErrors reload_errors;
    auto next = load_snapshot(config_path, reload_errors);
    ReloadPlan plan;
    if (next) {
      plan = plan_reload(intake.snapshot()->config, next->config, running_gateways);
      for (const auto& e : plan.errors) reload_errors.add(e);
      if (!plan.errors.empty()) next = nullptr;
    }
    if (!next) {
      for (const auto& e : reload_errors.items) log::error("reload: {}", e.to_string());
      log::error("reload: new config rejected; keeping the running one");
      metrics.config_reload(false, static_cast<double>(wall_ms()) / 1000.0);
    } else {
      // A gateway that keeps its name and type is rebuilt with its new
      // settings (new credentials end a hold for refused ones); adding,
      // removing or retyping one waits for a restart (plan.at_restart).
      std::vector<std::pair<std::string, std::unique_ptr<Gateway>>> rebuilt;
      for (const auto& name : plan.gateways_to_rebuild) {
        const GatewayConfig& g = *next->config.gateway(name);
        try {
          auto gateway = find_gateway_kind(g.type)->create(g, gateway_context);
          bool fits = true;
          for (const auto& [channel_name, channel] : next->config.channels) {
            const auto& list = channel.gateways;
            if (std::find(list.begin(), list.end(), g.name) != list.end() &&
                !gateway->supports(channel.kind)) {
              log::error("reload: gateway {} with its new settings does not carry {} (channel "
                         "{}); it keeps its old settings",
                         g.name, to_string(channel.kind), channel_name);
              fits = false;
            }
          }
          if (fits) rebuilt.emplace_back(g.name, std::move(gateway));
        } catch (const std::exception& e) {
          log::error("reload: gateway {}: {}; it keeps its old settings", g.name, e.what());
        }
      }
      for (auto& [name, gateway] : rebuilt) {
        dispatcher.replace_gateway(name, std::move(gateway));
        log::info("reload: gateway {} uses its new settings", name);
      }
      log::set_level(next->config.log_level);
      dispatcher.set_config(next->config);
      curl.set_max_response_bytes(next->config.limits.max_response_bytes);
      retention.set_policy(next->config.retention);
      intake.set_snapshot(next);
      if (http_server && next->config.http) http_server->set_config(*next->config.http);
      for (const auto& line : plan.applied) log::info("reload: {}", line);
      for (const auto& line : plan.at_restart) log::warning("reload: {}", line);
      metrics.configure(next->config);
      metrics.config_reload(true, static_cast<double>(wall_ms()) / 1000.0);
      log::info("reload: config and templates reloaded ({} rules, {} templates)",
                next->config.rules.size(), next->templates->names().size());
    }
    notifier.ready();
  };

  wait_for_signal = [&] {
    signals.async_wait([&](const error_code& ec, int signo) {
      if (ec) return;
      if (signo == SIGHUP) {
        // A reload after STOPPING=1 would tell systemd READY=1 again.
        if (!shutting_down) reload();
        wait_for_signal();
        return;
      }
      if (shutting_down) return;
      shutting_down = true;
      // Whatever escapes the drain is logged, and tackd still stops: the
      // loop ends, the store closes.
      asio::co_spawn(io, shutdown(), [&io](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log::error("shutdown: {}; stopping now", ex.what());
        } catch (...) {
          log::error("shutdown: unknown error; stopping now");
        }
        io.stop();
      });
    });
  };
  wait_for_signal();

  log::info("tackd {} running: store {}, {} source(s), {} gateway(s), {} rule(s)", TACK_VERSION,
            config.store_path, sources.size(), config.gateways.size(), config.rules.size());
  notifier.ready();
  io.run();
  store.close();
  log::info("tackd stopped");
  return kExitOk;
}

}  // namespace tack
