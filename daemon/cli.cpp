#include "cli.hpp"

#include <date/date.h>
#include <date/tz.h>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <pwd.h>
#include <unistd.h>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <thread>
#include <tuple>

#include "api_json.hpp"
#include "app.hpp"
#include "clock.hpp"
#include "config.hpp"
#include "csv.hpp"
#include "curl.hpp"
#include "delivery_text.hpp"
#include "event.hpp"
#include "gateways/gateway.hpp"
#include "http/router.hpp"
#include "intake.hpp"
#include "lint.hpp"
#include "phone.hpp"
#include "render.hpp"
#include "secrets.hpp"
#include "retention.hpp"
#include "sms.hpp"
#include "sms_cost.hpp"
#include "transliterate.hpp"
#include "sources/sqlite_outbox.hpp"
#include "store/store.hpp"

namespace tack {

namespace {

std::optional<Config> load_or_report(const std::string& path) {
  auto loaded = load_config(path);
  if (!loaded.config) {
    for (const auto& e : loaded.errors.items) std::cerr << e.to_string() << "\n";
    std::cerr << "tackd: " << path << " has " << loaded.errors.items.size() << " error(s)\n";
  }
  return std::move(loaded.config);
}

// The store's part of the config, or the store file alone (cli.hpp:
// StoreTarget). Never a gateway secret: see config.hpp, load_store_config.
std::optional<StoreConfig> store_part_or_report(const StoreTarget& target, const std::string& verb) {
  if (!target.store_path.empty()) {
    StoreConfig part;
    part.store_path = std::filesystem::absolute(target.store_path).lexically_normal().string();
    return part;
  }
  auto loaded = load_store_config(target.config_path);
  if (!loaded.config) {
    for (const auto& e : loaded.errors.items) std::cerr << e.to_string() << "\n";
    std::cerr << "tackd " << verb << ": " << target.config_path << " has "
              << loaded.errors.items.size()
              << " error(s) in what this command reads (the store, locale, retention and sources "
                 "sections)\n";
  }
  return std::move(loaded.config);
}

std::shared_ptr<const TemplateSet> load_templates_or_report(const Config& config) {
  ConfigErrors errors;
  auto templates = TemplateSet::load(config.template_dir, errors, config.limits.max_template_bytes);
  if (!errors.empty()) {
    for (const auto& e : errors.items) std::cerr << e.to_string() << "\n";
    return nullptr;
  }
  return templates;
}

std::optional<std::string> read_input(const std::string& path) {
  if (path.empty() || path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), {});
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string config_dir_of(const std::string& config_path) {
  return std::filesystem::absolute(config_path).parent_path().string();
}

const SourceConfig* outbox_source(const std::vector<SourceConfig>& sources,
                                  const std::string& name) {
  for (const auto& s : sources) {
    if (s.type == "sqlite_outbox" && (name.empty() || s.name == name)) return &s;
  }
  return nullptr;
}

std::string operator_name() {
  // sudo keeps the real person's name; systemd services have no USER.
  for (const char* var : {"SUDO_USER", "USER", "LOGNAME"}) {
    const char* value = std::getenv(var);
    if (value && *value) return std::string("cli:") + value;
  }
  if (auto* pw = getpwuid(getuid())) return std::string("cli:") + pw->pw_name;
  return "cli:uid " + std::to_string(getuid());
}

}  // namespace

int cli_operator(const StoreTarget& target, const OperatorCommand& c) {
  auto config = store_part_or_report(target, c.verb);
  if (!config) return kExitConfig;
  if (c.verb == "retry" && !c.dead && !c.failed && (c.gateway || c.since)) {
    std::cerr << "tackd retry: --gateway and --since go with --dead or --failed\n";
    return kExitUsage;
  }
  const bool gateway_unchecked = !target.store_path.empty();
  if (c.gateway && !c.dead && !c.failed && !gateway_unchecked &&
      std::find(config->gateway_names.begin(), config->gateway_names.end(), *c.gateway) ==
          config->gateway_names.end()) {
    std::cerr << "tackd " << c.verb << ": no gateway named " << *c.gateway << " in the config\n";
    return kExitUsage;
  }
  std::optional<std::int64_t> since_ms;
  if (c.since) {
    auto d = parse_duration(*c.since);
    if (!d) {
      std::cerr << "tackd retry: --since wants a duration like 24h or 30m\n";
      return kExitUsage;
    }
    since_ms = wall_ms() - d->count();
  }
  std::unique_ptr<Store> store;
  try {
    store = open_store({config->store_path, StoreOptions::Access::Beside});
  } catch (const std::exception& e) {
    std::cerr << "tackd " << c.verb << ": " << e.what() << " (has tackd run with this config yet?)\n";
    return kExitNoInput;
  }
  const auto actor = operator_name();
  const auto now = wall_ms();
  OperatorResult result;
  std::string what;
  std::function<OperatorResult(StoreTx&)> work;
  if (c.verb == "retry" && c.dead) {
    work = [&](StoreTx& tx) { return tx.retry_dead(since_ms.value_or(0), c.gateway, actor, now); };
    what = "dead message";
  } else if (c.verb == "retry" && c.failed) {
    work = [&](StoreTx& tx) {
      return tx.retry_failed(since_ms.value_or(0), c.gateway, actor, now);
    };
    what = "failed message";
  } else if (c.message_id) {
    auto id = static_cast<std::int64_t>(*c.message_id);
    OperatorVerb verb = OperatorVerb::Retry;
    for (auto v : kAllVerbs) {
      if (to_string(v) == c.verb) verb = v;
    }
    work = [&, id, verb](StoreTx& tx) { return tx.operator_verb(verb, id, actor, now); };
    what = "message " + std::to_string(id) + ": " + c.verb + " done";
  } else if (c.gateway) {
    work = [&](StoreTx& tx) { return tx.hold_gateway(*c.gateway, c.verb == "hold", actor, now); };
    what = "gateway " + *c.gateway + (c.verb == "hold" ? " held: no new sends until released"
                                                       : " released");
    if (gateway_unchecked) what += " (--store: the name is not checked against a config)";
  } else {
    std::cerr << "tackd " << c.verb << ": give a MESSAGE_ID"
              << (c.verb == "hold" || c.verb == "release" ? " or --gateway NAME" : "")
              << (c.verb == "retry" ? ", --dead or --failed" : "") << "\n";
    return kExitUsage;
  }
  try {
    result = store->run(work);
  } catch (const std::exception& e) {
    std::cerr << "tackd " << c.verb << ": " << e.what() << "\n";
    return kExitIoErr;
  }
  if (c.verb == "retry" && (c.dead || c.failed)) {
    what = "requeued " + std::to_string(result.changed) + " " + what +
           (result.changed == 1 ? "" : "s");
  }
  if (!result.error.empty()) {
    std::cerr << "tackd " << c.verb << ": " << result.error << "\n";
    return kExitDataErr;
  }
  std::cout << what << " (recorded as " << actor << ")\n";
  return kExitOk;
}

namespace {

// Opens the store beside tackd for a support action; nullptr after saying why.
std::unique_ptr<Store> open_for(const StoreTarget& target, const std::string& verb, int& exit) {
  auto config = store_part_or_report(target, verb);
  if (!config) {
    exit = kExitConfig;
    return nullptr;
  }
  try {
    return open_store({config->store_path, StoreOptions::Access::Beside});
  } catch (const std::exception& e) {
    std::cerr << "tackd " << verb << ": " << e.what() << " (has tackd run with this config yet?)\n";
    exit = kExitNoInput;
    return nullptr;
  }
}

}  // namespace

int cli_resend(const StoreTarget& target, long long message_id, const std::string& reason) {
  std::string why;
  auto checked = typed_text(nlohmann::json(reason), "--reason", kMaxReasonChars, false, why);
  if (!checked || message_id <= 0) {
    std::cerr << "tackd resend: " << (checked ? "give a message id (see tackd log)" : why) << "\n";
    return kExitUsage;
  }
  int exit = kExitOk;
  auto store = open_for(target, "resend", exit);
  if (!store) return exit;
  const auto actor = operator_name();
  const auto id = static_cast<std::int64_t>(message_id);
  ResendResult result;
  try {
    result = store->run<ResendResult>([&, now = wall_ms()](StoreTx& tx) {
      return tx.resend_message(id, *checked, actor, {}, now);
    });
  } catch (const std::exception& e) {
    std::cerr << "tackd resend: " << e.what() << "\n";
    return kExitIoErr;
  }
  if (!result.copy_id) {
    std::cerr << "tackd resend: " << result.error << "\n";
    return kExitDataErr;
  }
  std::cout << "message " << id << " resent as message " << *result.copy_id << " (recorded as "
            << actor << ")\n";
  return kExitOk;
}

int cli_note(const StoreTarget& target, const std::string& order_id, const std::string& text) {
  std::string why;
  auto checked = typed_text(nlohmann::json(text), "the note", kMaxNoteChars, true, why);
  if (!checked) {
    std::cerr << "tackd note: " << why << "\n";
    return kExitUsage;
  }
  int exit = kExitOk;
  auto store = open_for(target, "note", exit);
  if (!store) return exit;
  const auto actor = operator_name();
  std::optional<AuditEntry> note;
  try {
    note = store->run<std::optional<AuditEntry>>([&, now = wall_ms()](StoreTx& tx) {
      return tx.add_order_note(order_id, *checked, actor, now);
    });
  } catch (const std::exception& e) {
    std::cerr << "tackd note: " << e.what() << "\n";
    return kExitIoErr;
  }
  if (!note) {
    std::cerr << "tackd note: tack knows nothing of order " << order_id << "\n";
    return kExitDataErr;
  }
  std::cout << "noted on order " << order_id << " (recorded as " << actor << ")\n";
  return kExitOk;
}

namespace {

std::string utc_text(std::int64_t ms) {
  return date::format("%Y-%m-%dT%H:%M:%SZ",
                      date::floor<std::chrono::seconds>(
                          std::chrono::system_clock::time_point(std::chrono::milliseconds(ms))));
}

}  // namespace

int cli_optout(const StoreTarget& target, const OptOutCommand& c) {
  const std::string verb = "optout " + c.action;
  std::optional<ChannelKind> kind;
  if (c.kind) {
    if (*c.kind != "sms" && *c.kind != "email") {
      std::cerr << "tackd optout: --kind takes sms or email\n";
      return kExitUsage;
    }
    kind = *c.kind == "sms" ? ChannelKind::Sms : ChannelKind::Email;
  }
  std::optional<std::string> reason;
  if (!c.reason.empty()) {
    std::string why;
    reason = typed_text(nlohmann::json(c.reason), "--reason", kMaxReasonChars, false, why);
    if (!reason) {
      std::cerr << "tackd optout: " << why << "\n";
      return kExitUsage;
    }
  }
  auto config = store_part_or_report(target, verb);
  if (!config) return kExitConfig;
  // An address as the store keeps it: E.164 (in the shop's region when
  // typed nationally), or the e-mail address.
  std::string address;
  if (!c.address.empty()) {
    std::string why;
    auto normal = forget_recipient_key(c.address, config->default_region, why);
    if (!normal) {
      std::cerr << "tackd optout: " << c.address << ": " << why << "\n";
      return kExitDataErr;
    }
    address = *normal;
    const auto address_kind =
        address.find('@') == std::string::npos ? ChannelKind::Sms : ChannelKind::Email;
    if (kind && *kind != address_kind) {
      std::cerr << "tackd optout: " << c.address << " is not an address of kind " << *c.kind
                << "\n";
      return kExitUsage;
    }
    kind = address_kind;
  } else if (c.action != "list") {
    std::cerr << "tackd optout " << c.action << ": give a phone number or an e-mail address\n";
    return kExitUsage;
  }
  int exit = kExitOk;
  auto store = open_for(target, verb, exit);
  if (!store) return exit;
  const auto actor = operator_name();
  try {
    if (c.action == "add") {
      const std::string source = "operator " + actor + (reason ? ": " + *reason : "");
      auto result = store->run<SuppressResult>([&, now = wall_ms()](StoreTx& tx) {
        return tx.suppress(*kind, address, source, actor, now);
      });
      std::cout << address << (result.added ? " opted out of " : " was already opted out of ")
                << to_string(*kind) << "; " << result.suppressed.size()
                << " waiting message(s) suppressed (recorded as " << actor << ")\n";
      return kExitOk;
    }
    if (c.action == "remove") {
      const bool removed = store->run<bool>([&, now = wall_ms()](StoreTx& tx) {
        return tx.unsuppress(*kind, address, actor, now);
      });
      if (!removed) {
        std::cerr << "tackd optout remove: " << address << " is not on the " << to_string(*kind)
                  << " suppression list\n";
        return kExitDataErr;
      }
      std::cout << address << " may get " << to_string(*kind)
                << " again; messages suppressed before stay suppressed (recorded as " << actor
                << ")\n";
      return kExitOk;
    }
    SuppressionFilter filter;
    filter.kind = kind;
    filter.address = address;
    filter.limit = 100000;
    auto list = store->query<std::vector<Suppression>>(
        [&](StoreReader& r) { return r.suppressions(filter); });
    for (const auto& entry : list) {
      if (c.json) {
        nlohmann::json line = {{"kind", to_string(entry.kind)},
                               {"address", entry.address},
                               {"source", entry.source},
                               {"actor", entry.actor},
                               {"created_at", utc_text(entry.created_at_ms)}};
        std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      } else {
        std::cout << utc_text(entry.created_at_ms) << "  " << to_string(entry.kind) << "  "
                  << entry.address << "  " << entry.source << "\n";
      }
    }
    if (!c.json && list.empty()) std::cout << "no opt-outs\n";
    return kExitOk;
  } catch (const std::exception& e) {
    std::cerr << "tackd " << verb << ": " << e.what() << "\n";
    return kExitIoErr;
  }
}

std::string sample_event_json(const std::string& locale) {
  nlohmann::json event = {
      {"event_id", "sample-1"},
      {"order_id", "1042"},
      {"status", "shipped"},
      {"occurred_at", "2026-11-22T10:15:00Z"},
      {"customer",
       {{"name", "Anna Svensson"},
        {"phone", "+46701234567"},
        {"email", "anna@example.se"},
        {"locale", locale},
        {"timezone", "Europe/Stockholm"}}},
      {"delivery",
       {{"carrier", "PostNord"},
        {"tracking_url", "https://tracking.example/XYZ"},
        {"window_start", "2026-11-24T12:00:00+01:00"},
        {"window_end", "2026-11-24T14:00:00+01:00"}}},
      {"data",
       {{"total", "1499.00"},
        {"currency", "SEK"},
        {"items", nlohmann::json::array({{{"name", "Ullfilt"}, {"quantity", 2}}})}}},
  };
  return event.dump(2);
}

int cli_check(const std::string& config_path, bool strict) {
  auto config = load_or_report(config_path);
  if (!config) return kExitConfig;
  // Everything is looked at and every problem said; "ok" only when none.
  int problems = 0;
  int warned = 0;
  ConfigErrors template_errors;
  auto templates =
      TemplateSet::load(config->template_dir, template_errors, config->limits.max_template_bytes);
  std::vector<ConfigError> warnings;
  templates->check(*config, template_errors, warnings);
  for (const auto& e : template_errors.items) std::cerr << e.to_string() << "\n";
  for (const auto& w : warnings) std::cerr << "warning: " << w.to_string() << "\n";
  warned += static_cast<int>(warnings.size());
  problems += static_cast<int>(template_errors.items.size());

  for (const auto& readable : readable_secret_files(config->secrets)) {
    if (config->secrets.on_readable == OnReadableSecrets::Refuse) {
      std::cerr << config_path << ": " << readable.message << " (secrets.on_readable: refuse)\n";
      ++problems;
    } else {
      std::cerr << "warning: " << readable.message << "\n";
      ++warned;
    }
  }

  // Build every gateway once, as the daemon would, to catch bad values that
  // the key tables cannot (a malformed URL, an unreadable CA file).
  {
    asio::io_context io;
    CurlMulti curl(io);
    GatewayContext context{io, curl, config_dir_of(config_path)};
    for (const auto& g : config->gateways) {
      try {
        auto gateway = find_gateway_kind(g.type)->create(g, context);
        for (const auto& [name, channel] : config->channels) {
          bool uses = std::find(channel.gateways.begin(), channel.gateways.end(), g.name) !=
                      channel.gateways.end();
          if (uses && !gateway->supports(channel.kind)) {
            std::cerr << config_path << ": channel " << name << " is " << to_string(channel.kind)
                      << " but gateway " << g.name << " does not carry "
                      << to_string(channel.kind) << "\n";
            ++problems;
          }
        }
      } catch (const std::exception& e) {
        std::cerr << config_path << ": gateway " << g.name << ": " << e.what() << "\n";
        ++problems;
      }
    }
  }

  RenderContext context;
  context.max_output_bytes = config->limits.max_message_bytes;
  context.default_locale = config->default_locale;
  context.default_timezone = config->default_timezone;
  context.shop = config->shop.fields;
  // The sample renderings, shown after the verdict; the SMS ones also go
  // to the segment budget's lint.
  std::ostringstream listing;
  std::vector<SmsSample> sms_samples;
  for (const auto& name : templates->names()) {
    for (ChannelKind kind : {ChannelKind::Sms, ChannelKind::Email}) {
      for (const auto& locale : templates->locales(name, kind)) {
        auto event = nlohmann::json::parse(sample_event_json(locale));
        auto result = templates->render(name, kind, event, locale, context);
        if (!result.message) {
          listing << fmt::format("  {:<18} {:<5} {:<6} ERROR {}\n", name, to_string(kind), locale,
                                 result.error);
          ++problems;
          continue;
        }
        if (kind == ChannelKind::Sms) {
          sms_samples.push_back(
              {name, locale, result.message->text, templates->where(name, ChannelKind::Sms)});
          auto cost = [](const SmsInfo& info) {
            return fmt::format("{} chars, {}, {} segment{}", info.characters,
                               to_string(info.encoding), info.segments,
                               info.segments == 1 ? "" : "s");
          };
          const std::string& text = result.message->text;
          listing << fmt::format("  {:<18} {:<5} {:<6} {}", name, "sms", locale,
                                 cost(analyze_sms(text)));
          // With and without transliteration, and which channels use it.
          if (const std::string gsm = transliterate_to_gsm7(text); gsm != text) {
            std::vector<std::string> by;
            for (const auto& [channel_name, channel] : config->channels) {
              if (channel.kind == ChannelKind::Sms && transliterates(channel, locale)) {
                by.push_back(channel_name);
              }
            }
            const std::string language = locale.substr(0, locale.find('-'));
            listing << fmt::format(
                "; transliterated: {} ({})", cost(analyze_sms(gsm)),
                by.empty() ? "no channel has transliterate: [" + language + "]"
                           : fmt::format("channel{} {}", by.size() == 1 ? "" : "s",
                                         fmt::join(by, ", ")));
          }
          listing << "\n";
        } else {
          listing << fmt::format("  {:<18} {:<5} {:<6} subject \"{}\", text {} bytes{}\n", name,
                                 "email", locale, result.message->subject,
                                 result.message->text.size(),
                                 result.message->html.empty()
                                     ? ""
                                     : fmt::format(", html {} bytes", result.message->html.size()));
        }
      }
    }
  }
  // What providers would make of it: warnings (lint.hpp).
  for (const auto& w : lint_config(*config, sms_samples)) {
    std::cerr << "warning: " << w.to_string() << "\n";
    ++warned;
  }
  if (strict && warned > 0) {
    std::cerr << "tackd check: --strict: " << warned << " warning(s) count as problems\n";
    problems += warned;
  }
  if (problems > 0) {
    std::cout << listing.str();
    std::cerr << "tackd check: " << config_path << " has " << problems << " problem(s)\n";
    return kExitConfig;
  }
  std::cout << "config " << config_path << ": ok (" << config->rules.size() << " rules, "
            << config->gateways.size() << " gateways, " << templates->names().size()
            << " templates)\n"
            << listing.str();
  return kExitOk;
}

int cli_render(const std::string& config_path, const std::string& template_name,
               const std::string& locale, const std::string& event_path,
               const std::string& channel_kind) {
  auto config = load_or_report(config_path);
  if (!config) return kExitConfig;
  auto templates = load_templates_or_report(*config);
  if (!templates) return kExitConfig;
  if (!templates->has(template_name)) {
    std::cerr << "tackd render: no template named " << template_name << "\n";
    return kExitUsage;
  }
  auto text = read_input(event_path);
  if (!text) {
    std::cerr << "tackd render: cannot read " << event_path << "\n";
    return kExitNoInput;
  }
  auto parsed = parse_event(*text, config->statuses, config->limits);
  if (!parsed.event) {
    std::cerr << "tackd render: bad event: " << parsed.reason << "\n";
    return kExitDataErr;
  }
  RenderContext context;
  context.max_output_bytes = config->limits.max_message_bytes;
  context.default_locale = config->default_locale;
  context.default_timezone = config->default_timezone;
  context.shop = config->shop.fields;
  std::string use_locale = locale.empty() ? parsed.event->locale() : locale;
  if (use_locale.empty()) use_locale = config->default_locale;
  int rendered = 0;
  for (ChannelKind kind : {ChannelKind::Sms, ChannelKind::Email}) {
    if (!channel_kind.empty() && channel_kind != to_string(kind)) continue;
    if (templates->locales(template_name, kind).empty()) continue;
    auto result = templates->render(template_name, kind, parsed.event->doc, use_locale, context);
    if (!result.message) {
      std::cerr << "tackd render: " << to_string(kind) << ": " << result.error << "\n";
      return kExitDataErr;
    }
    ++rendered;
    const auto& m = *result.message;
    if (kind == ChannelKind::Sms) {
      auto info = analyze_sms(m.text);
      std::cout << "--- sms (" << m.locale << ", " << info.characters << " chars, "
                << to_string(info.encoding) << ", " << info.segments << " segment"
                << (info.segments == 1 ? "" : "s") << ")\n"
                << m.text << "\n";
    } else {
      std::cout << "--- email (" << m.locale << ")\nSubject: " << m.subject << "\n\n"
                << m.text << "\n";
      if (!m.html.empty()) std::cout << "--- email html\n" << m.html << "\n";
    }
  }
  if (rendered == 0) {
    std::cerr << "tackd render: template " << template_name << " has nothing for channel "
              << channel_kind << "\n";
    return kExitUsage;
  }
  return kExitOk;
}

int cli_emit(const std::string& config_path, const std::string& input_path,
             const std::string& source_name) {
  auto config = load_or_report(config_path);
  if (!config) return kExitConfig;
  const SourceConfig* source = outbox_source(config->sources, source_name);
  if (!source) {
    std::cerr << "tackd emit: the config has no sqlite_outbox source"
              << (source_name.empty() ? "" : " named " + source_name) << "\n";
    return kExitConfig;
  }
  auto text = read_input(input_path);
  if (!text) {
    std::cerr << "tackd emit: cannot read " << input_path << "\n";
    return kExitNoInput;
  }
  auto documents = split_event_documents(*text, config->limits);
  if (documents.empty()) {
    std::cerr << "tackd emit: no events in the input\n";
    return kExitDataErr;
  }
  // Appended as given: tackd records a bad event as rejected with its
  // reason, which is what a shop developer wants to see. Say it here too.
  for (std::size_t i = 0; i < documents.size(); ++i) {
    auto parsed = parse_event(documents[i], config->statuses, config->limits);
    if (!parsed.event) {
      std::cerr << "tackd emit: warning: event " << (i + 1) << " will be rejected: "
                << parsed.reason << "\n";
    }
  }
  try {
    auto settings = outbox_settings(*source, config_dir_of(config_path));
    init_outbox(settings);
    auto ids = append_to_outbox(settings, documents);
    std::cout << "appended " << ids.size() << " event" << (ids.size() == 1 ? "" : "s") << " to "
              << settings.path << " (rows " << ids.front() << ".." << ids.back() << ")\n";
  } catch (const std::exception& e) {
    std::cerr << "tackd emit: " << e.what() << "\n";
    return kExitIoErr;
  }
  return kExitOk;
}

int cli_outbox_init(const std::string& config_path, const std::string& source_name) {
  auto config = store_part_or_report({config_path, ""}, "outbox init");
  if (!config) return kExitConfig;
  const SourceConfig* source = outbox_source(config->sources, source_name);
  if (!source) {
    std::cerr << "tackd outbox init: the config has no sqlite_outbox source\n";
    return kExitConfig;
  }
  try {
    auto settings = outbox_settings(*source, config_dir_of(config_path));
    init_outbox(settings);
    std::cout << "outbox table " << settings.table << " ready in " << settings.path << "\n";
  } catch (const std::exception& e) {
    std::cerr << "tackd outbox init: " << e.what() << "\n";
    return kExitCantCreate;
  }
  return kExitOk;
}

int cli_log(const StoreTarget& target, const LogQuery& query) {
  auto config = store_part_or_report(target, "log");
  if (!config) return kExitConfig;
  // The shop's wall clock (locale.timezone); with --store alone no config
  // names it, and times are UTC.
  DeliveryTextOptions text_options;
  text_options.oldest_first = query.oldest_first;
  if (target.store_path.empty()) {
    try {
      text_options.zone = date::locate_zone(config->default_timezone);
    } catch (const std::exception& e) {
      std::cerr << "tackd log: time zone " << config->default_timezone << ": " << e.what()
                << "\n";
      return kExitConfig;
    }
  }
  std::unique_ptr<Store> store;
  try {
    store = open_store({config->store_path, StoreOptions::Access::ReadOnly});
  } catch (const std::exception& e) {
    std::cerr << "tackd log: " << e.what() << " (has tackd run with this config yet?)\n";
    return kExitNoInput;
  }
  const auto dump = [](const nlohmann::json& value) {
    // The store holds what providers answered; never let a stray byte throw.
    return value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  };
  try {
    if (query.rejected) {
      auto events = store->query<std::vector<EventView>>(
          [](StoreReader& r) { return r.rejected_events(100); });
      if (query.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& e : events) {
          out.push_back({{"event_id", e.event_id}, {"order_id", e.order_id},
                         {"received_at", time_json(e.received_at_ms)}, {"source", e.source},
                         {"reason", e.reason}});
        }
        std::cout << dump(out);
      } else {
        if (events.empty()) std::cout << "no rejected events\n";
        for (const auto& e : events) {
          std::cout << local_time(e.received_at_ms, text_options.zone) << "  "
                    << (e.event_id.empty() ? "-" : e.event_id) << "  order "
                    << (e.order_id.empty() ? "-" : e.order_id) << "  from " << e.source << ": "
                    << e.reason << "\n";
        }
      }
      return kExitOk;
    }

    if (query.order_id) {
      // The API's order object (GET /v1/orders/ID), or its text.
      const std::string order_id = *query.order_id;
      auto timeline = store->query<std::optional<OrderTimeline>>(
          [&](StoreReader& r) { return r.order_timeline(order_id); });
      if (!timeline) {
        std::cerr << "tackd log: no order " << order_id
                  << ": tack has received no event and made no message for it\n";
        return kExitNoInput;
      }
      const std::string zone_name = text_options.zone ? text_options.zone->name() : "UTC";
      std::cout << (query.json ? dump(order_json(*timeline, zone_name))
                               : order_text(*timeline, text_options));
      return kExitOk;
    }

    MessageQuery q;
    std::string subject;
    if (query.message_id) {
      q.message_id = *query.message_id;
      subject = "message " + std::to_string(*query.message_id);
    }
    if (query.to) {
      // Support types numbers the way customers say them: "070-123 45 67".
      // A number may be another country's: every notation it may be stored
      // in. Without a config (--store) no shop region is known, and every
      // country's reading is searched.
      const std::string& to = *query.to;
      q.recipients = to.find('@') == std::string::npos
                         ? phone_search_forms(to, config->default_region)
                         : std::vector<std::string>{to};
      subject = to;
    }
    struct Found {
      std::vector<MessageView> messages;
      std::map<std::int64_t, std::vector<AuditEntry>> audit;
    };
    auto found = store->query<Found>([&](StoreReader& r) {
      Found f;
      f.messages = r.find_messages(q);
      for (const auto& m : f.messages) f.audit[m.id] = r.audit_for("message " + std::to_string(m.id));
      return f;
    });
    auto& messages = found.messages;
    // Newest first, as the API lists them.
    std::sort(messages.begin(), messages.end(),
              [](const MessageView& a, const MessageView& b) { return a.id > b.id; });

    if (query.message_id) {
      if (messages.empty()) {
        std::cerr << "tackd log: no message " << *query.message_id << "\n";
        return kExitNoInput;
      }
      // The API's message object (GET /v1/messages/ID), or its text.
      std::cout << (query.json ? dump(message_json(messages.front(), true))
                               : message_text(messages.front(), found.audit[messages.front().id],
                                              text_options));
      return kExitOk;
    }
    if (query.json) {
      // The API's list (GET /v1/messages?to=), without its paging link.
      nlohmann::json list = nlohmann::json::array();
      for (const auto& m : messages) list.push_back(message_json(m, false));
      std::cout << dump({{"messages", list}});
      return kExitOk;
    }
    std::cout << messages_text(subject, messages, found.audit, text_options);
    if (messages.size() == static_cast<std::size_t>(q.limit)) {
      std::cout << "(showing the newest " << q.limit << " messages)\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "tackd log: " << e.what() << "\n";
    return kExitIoErr;
  }
  return kExitOk;
}

// ---- retention and erasure ----------------------------------------------

namespace {

std::string iso_time(std::int64_t ms) {
  if (ms <= 0) return "";
  using namespace std::chrono;
  return date::format("%FT%TZ", date::floor<seconds>(sys_time<milliseconds>(milliseconds(ms))));
}

// A store beside a running tackd, as the operator verbs use: WAL lets it
// write between the daemon's batches.
std::unique_ptr<Store> open_store_beside_daemon(const std::string& path, const std::string& verb) {
  try {
    return open_store({path, StoreOptions::Access::Beside});
  } catch (const std::exception& e) {
    std::cerr << "tackd " << verb << ": " << e.what() << " (has tackd run with this config yet?)\n";
    return nullptr;
  }
}

}  // namespace

std::optional<std::int64_t> parse_export_time(const std::string& text, std::int64_t now_ms) {
  if (auto ms = parse_rfc3339_ms(text)) return ms;
  // A date alone is that day's midnight, UTC.
  if (text.size() == 10) {
    if (auto ms = parse_rfc3339_ms(text + "T00:00:00Z")) return ms;
  }
  if (auto ago = parse_duration(text)) return now_ms - ago->count();
  return std::nullopt;
}

int cli_log_export(const StoreTarget& target, const ExportQuery& query) {
  auto config = store_part_or_report(target, "log export");
  if (!config) return kExitConfig;
  const auto now = wall_ms();
  std::int64_t since = 0, until = now + 1;
  for (auto [value, target, name] :
       {std::tuple{&query.since, &since, "--since"}, std::tuple{&query.until, &until, "--until"}}) {
    if (!*value) continue;
    auto ms = parse_export_time(**value, now);
    if (!ms) {
      std::cerr << "tackd log export: " << name << " " << **value
                << " is not a date (2026-11-22), an RFC 3339 time (2026-11-22T10:15:00Z) or a "
                   "duration ago (7d)\n";
      return kExitUsage;
    }
    *target = *ms;
  }
  if (since >= until) {
    std::cerr << "tackd log export: --since must be before --until\n";
    return kExitUsage;
  }
  std::unique_ptr<Store> store;
  try {
    store = open_store({config->store_path, StoreOptions::Access::ReadOnly, true, 1, 1});
  } catch (const std::exception& e) {
    std::cerr << "tackd log export: " << e.what() << " (has tackd run with this config yet?)\n";
    return kExitNoInput;
  }
  std::int64_t messages = 0;
  try {
    if (!query.json) {
      if (query.bom) std::cout << kUtf8Bom;
      std::cout << csv_record({"message_id", "order_id", "event_id", "created_at", "updated_at",
                               "channel", "kind", "rule", "template", "locale", "recipient",
                               "state", "gateway", "provider_id", "last_error", "subject", "text",
                               "attempt", "attempt_started_at", "attempt_duration_ms",
                               "attempt_gateway", "attempt_outcome", "attempt_provider_id",
                               "attempt_detail"},
                              query.delimiter);
    }
    store->query<bool>([&](StoreReader& r) {
      r.for_each_message(since, until, [&](const MessageView& m) {
      ++messages;
      if (query.json) {
        nlohmann::json attempts = nlohmann::json::array();
        for (const auto& a : m.attempt_log) {
          attempts.push_back({{"number", a.number}, {"gateway", a.gateway},
                              {"started_at", iso_time(a.started_at_ms)},
                              {"duration_ms", a.duration_ms}, {"outcome", a.outcome},
                              {"provider_id", a.provider_id}, {"detail", a.detail}});
        }
        nlohmann::json line = {
            {"id", m.id}, {"order_id", m.order_id}, {"event_id", m.event_id},
            {"created_at", iso_time(m.created_at_ms)}, {"updated_at", iso_time(m.updated_at_ms)},
            {"channel", m.channel}, {"kind", m.kind}, {"rule", m.rule},
            {"template", m.template_name}, {"locale", m.locale}, {"to", m.recipient},
            {"state", to_string(m.state)}, {"gateway", m.gateway}, {"provider_id", m.provider_id},
            {"last_error", m.last_error}, {"subject", m.subject}, {"text", m.text},
            {"attempts", attempts}};
        std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        return;
      }
      std::vector<std::string> row = {std::to_string(m.id), m.order_id, m.event_id,
                                      iso_time(m.created_at_ms), iso_time(m.updated_at_ms),
                                      m.channel, m.kind, m.rule, m.template_name, m.locale,
                                      m.recipient, std::string(to_string(m.state)), m.gateway, m.provider_id,
                                      m.last_error, m.subject, m.text};
      if (m.attempt_log.empty()) {
        row.resize(row.size() + 7);
        std::cout << csv_record(row, query.delimiter);
        return;
      }
      for (const auto& a : m.attempt_log) {
        auto full = row;
        full.insert(full.end(), {std::to_string(a.number), iso_time(a.started_at_ms),
                                 std::to_string(a.duration_ms), a.gateway, a.outcome,
                                 a.provider_id, a.detail});
        std::cout << csv_record(full, query.delimiter);
      }
      });
      return true;
    });
    std::cout.flush();
  } catch (const std::exception& e) {
    std::cerr << "tackd log export: " << e.what() << "\n";
    return kExitIoErr;
  }
  if (!std::cout) {
    std::cerr << "tackd log export: cannot write the output\n";
    return kExitIoErr;
  }
  std::cerr << "tackd log export: " << messages << " message" << (messages == 1 ? "" : "s")
            << " from " << (since > 0 ? iso_time(since) : "the start") << " until "
            << iso_time(until)
            << "\n";
  return kExitOk;
}

int cli_forget(const std::string& config_path, const std::string& to, bool dry_run) {
  auto config = store_part_or_report({config_path, ""}, "forget");
  if (!config) return kExitConfig;
  std::string why;
  auto recipient = forget_recipient_key(to, config->default_region, why);
  if (!recipient) {
    std::cerr << "tackd forget: --to " << to << ": " << why << "\n";
    return kExitDataErr;
  }
  auto store = open_store_beside_daemon(config->store_path, "forget");
  if (!store) return kExitNoInput;
  const auto actor = operator_name();
  ForgetResult result;
  try {
    // Read first, on a reader: the payload scan is long and must not hold
    // the daemon's writer back.
    const auto region = config->default_region;
    auto events = store->query<std::vector<std::int64_t>>(
        [&](StoreReader& r) { return events_naming(r, *recipient, region); });
    std::function<ForgetResult(StoreTx&)> forget = [&](StoreTx& tx) {
      return tx.forget_recipient(*recipient, events, actor, wall_ms());
    };
    result = dry_run ? store->rehearse(forget) : store->run(forget);
  } catch (const std::exception& e) {
    std::cerr << "tackd forget: " << e.what() << "\n";
    return kExitIoErr;
  }
  std::cout << (dry_run ? "would erase " : "erased ") << result.messages << " message"
            << (result.messages == 1 ? "" : "s") << " (" << result.attempts
            << " attempt answer" << (result.attempts == 1 ? "" : "s") << ") and " << result.events
            << " event" << (result.events == 1 ? "" : "s") << " of this recipient";
  if (result.cancelled > 0) {
    std::cout << "; " << (dry_run ? "would cancel " : "cancelled ") << result.cancelled
              << " pending message" << (result.cancelled == 1 ? "" : "s") << " first";
  }
  std::cout << (dry_run ? " (dry run: nothing changed)\n" : " (recorded as " + actor + ")\n");
  if (!dry_run) {
    // Old versions of the pages live on in the write-ahead log until a
    // checkpoint copies the new ones over them; truncate it.
    // A reader (tackd between batches, `tackd log`) can hold it back for a
    // moment: try a few times.
    bool truncated = false;
    for (int tries = 0; tries < 20 && !truncated; ++tries) {
      if (tries) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      try {
        truncated = store->scrub();
      } catch (const std::exception& e) {
        std::cerr << "tackd forget: checkpoint: " << e.what() << "\n";
      }
    }
    if (!truncated) {
      std::cout << "the write-ahead log was busy and keeps old copies of the pages until "
                   "tackd's next checkpoint; run tackd forget again later to truncate it\n";
    }
  }
  if (!result.in_flight.empty()) {
    std::cerr << "tackd forget: " << result.in_flight.size() << " message"
              << (result.in_flight.size() == 1 ? " is" : "s are")
              << " being sent right now and were left alone; run tackd forget again in a "
                 "minute\n";
    return kExitTempFail;
  }
  return kExitOk;
}

int cli_prune(const std::string& config_path, bool dry_run) {
  auto config = store_part_or_report({config_path, ""}, "prune");
  if (!config) return kExitConfig;
  const auto& policy = config->retention;
  if (policy.action == RetentionPolicy::Action::Off) {
    std::cout << "retention.action is off: nothing to do\n";
    return kExitOk;
  }
  auto store = open_store_beside_daemon(config->store_path, "prune");
  if (!store) return kExitNoInput;
  const bool remove = policy.action == RetentionPolicy::Action::Delete;
  const auto hours = std::chrono::duration_cast<std::chrono::hours>(policy.keep).count();
  PruneCounts total;
  try {
    const auto now = wall_ms();
    const auto cutoff = now - policy.keep.count();
    if (dry_run) {
      total = store->query<PruneCounts>([&](StoreReader& r) { return r.prune_preview(cutoff); });
    } else {
      // Small units, as tackd's own passes: a running daemon's writer
      // waits for one batch at most.
      for (;;) {
        auto batch = store->run<PruneCounts>([&](StoreTx& tx) {
          return tx.prune_batch(cutoff, remove, policy.batch, now);
        });
        total.messages += batch.messages;
        total.attempts += batch.attempts;
        total.events += batch.events;
        total.receipts += batch.receipts;
        if (!batch.more) break;
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "tackd prune: " << e.what() << "\n";
    return kExitIoErr;
  }
  std::cout << (dry_run ? "would " : "") << (remove ? (dry_run ? "delete " : "deleted ")
                                                    : (dry_run ? "anonymise " : "anonymised "))
            << total.messages << " message(s) (" << total.attempts << " attempt(s)) and "
            << total.events << " event(s) older than " << hours << " h";
  if (total.receipts > 0) {
    std::cout << "; " << (dry_run ? "would delete " : "deleted ") << total.receipts
              << " receipt(s) no send claimed";
  }
  std::cout << "\n";
  return kExitOk;
}

}  // namespace tack
