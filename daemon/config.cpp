#include "config.hpp"
#include "config_yaml.hpp"

#include <date/tz.h>
#include <fmt/format.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>
#include <tuple>
#include <unordered_map>

#include "asio.hpp"
#include "gateways/gateway.hpp"
#include "sources/source.hpp"
#include "text.hpp"
#include "transliterate.hpp"

namespace tack {

namespace fs = std::filesystem;

namespace {

// Keys of a gateway entry that belong to the dispatcher, not the plugin.
// (max_segments: the SMS budget intake applies at render, sms_cost.hpp.)
const std::set<std::string> kGatewayEngineKeys = {"max_in_flight",    "max_per_second",
                                                  "burst",            "circuit_failures",
                                                  "circuit_cooldown", "circuit_max_cooldown",
                                                  "max_segments"};
const std::vector<std::string> kGatewayReservedKeys = {
    "name", "type", "max_in_flight", "max_per_second", "burst", "circuit_failures",
    "circuit_cooldown", "circuit_max_cooldown", "max_segments"};

// A config is written by hand; anything bigger is a mistake or an attack, and
// yaml-cpp spends a few hundred bytes per node.
constexpr std::size_t kMaxConfigBytes = 1024 * 1024;
constexpr std::size_t kMaxSecretBytes = 64 * 1024;
// Real configs nest about six levels; yaml-cpp itself stops at 2000.
constexpr int kMaxNesting = 64;

const std::vector<std::string> kTopLevelKeys{
    "store",   "templates", "locale",   "log",   "shop", "statuses", "retry",     "limits",
    "sources", "gateways",  "channels", "rules", "http", "secrets",  "retention", "data",
    "quiet_hours", "opt_out"};

// ---------------------------------------------------------------- words

// Optimal string alignment distance: Levenshtein plus adjacent swaps, which
// are the commonest typo ("tempalte").
std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

// "; did you mean 'x'?" when one candidate is close enough to be a typo.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  auto best = closest_word(word, candidates);
  return best ? fmt::format("; did you mean '{}'?", *best) : std::string{};
}

std::string joined(const std::vector<std::string>& words) {
  return fmt::format("{}", fmt::join(words, ", "));
}

// A value quoted for an error message: cut short so a stray blob does not
// flood the terminal, control characters blanked so it cannot fake lines.
std::string quote_value(const std::string& value) {
  constexpr std::size_t kShown = 60;
  std::string shown = value.substr(0, kShown);
  for (auto& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return "'" + shown + (value.size() > kShown ? "...'" : "'");
}

// What a node is, for "expects X, found Y". A secret's value is never shown.
std::string describe(const YAML::Node& node, bool secret = false) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  return secret ? "a value" : quote_value(node.Scalar());
}

bool is_name(const std::string& text) {
  if (text.empty() || text.size() > 128 || text[0] == '.' || text[0] == '-') return false;
  return std::all_of(text.begin(), text.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == '.';
  });
}

bool is_identifier(const std::string& text) {
  if (text.empty() || std::isdigit(static_cast<unsigned char>(text[0]))) return false;
  return std::all_of(text.begin(), text.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

}  // namespace

std::optional<long long> parse_int(const std::string& text) {
  long long value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end || text.empty()) return std::nullopt;
  return value;
}

std::optional<bool> parse_bool(const std::string& text) {
  if (text == "true") return true;
  if (text == "false") return false;
  return std::nullopt;
}

namespace {

// ---------------------------------------------------------------- values

constexpr const char* kDurationHelp = "a duration such as 250ms, 30s, 5m, 2h or 3d";

// Each reader reports a wrong shape as "<subject> expects <what>, found
// <what it got>" and returns nothing.
std::optional<std::string> read_string(const YAML::Node& node, const std::string& subject,
                                       ConfigErrors& errors) {
  if (node.IsScalar()) return node.Scalar();
  add_at(errors, node.Mark(), fmt::format("{} expects text, found {}", subject, describe(node)));
  return std::nullopt;
}

std::optional<long long> read_int(const YAML::Node& node, const std::string& subject, long long min,
                                  long long max, ConfigErrors& errors) {
  std::optional<long long> value;
  if (node.IsScalar()) value = parse_int(node.Scalar());
  if (!value) {
    add_at(errors, node.Mark(),
               fmt::format("{} expects a whole number, found {}", subject, describe(node)));
    return std::nullopt;
  }
  if (*value < min || *value > max) {
    add_at(errors, node.Mark(),
               fmt::format("{} must be between {} and {}, found {}", subject, min, max, *value));
    return std::nullopt;
  }
  return value;
}

std::optional<bool> read_bool(const YAML::Node& node, const std::string& subject,
                              ConfigErrors& errors) {
  std::optional<bool> value;
  if (node.IsScalar()) value = parse_bool(node.Scalar());
  if (!value) {
    add_at(errors, node.Mark(),
           fmt::format("{} expects true or false, found {}", subject, describe(node)));
  }
  return value;
}

std::optional<DailyWindow> read_window(const YAML::Node& node, const std::string& subject,
                                       ConfigErrors& errors) {
  std::optional<DailyWindow> value;
  if (node.IsScalar()) value = parse_daily_window(node.Scalar());
  if (!value) {
    add_at(errors, node.Mark(),
           fmt::format("{} expects local hours such as \"08:00-21:00\", found {}", subject,
                       describe(node)));
  }
  return value;
}

std::optional<std::chrono::milliseconds> read_duration(const YAML::Node& node,
                                                       const std::string& subject,
                                                       ConfigErrors& errors) {
  std::optional<std::chrono::milliseconds> value;
  if (node.IsScalar()) value = parse_duration(node.Scalar());
  if (!value) {
    add_at(errors, node.Mark(),
               fmt::format("{} expects {}, found {}", subject, kDurationHelp, describe(node)));
  }
  return value;
}

struct Located {
  std::string value;
  YAML::Mark mark;
};

// A list of text values; with `single_ok`, one bare value is a list of one.
std::optional<std::vector<Located>> read_string_list(const YAML::Node& node,
                                                     const std::string& subject, bool single_ok,
                                                     ConfigErrors& errors) {
  std::vector<Located> items;
  if (single_ok && node.IsScalar()) {
    items.push_back({node.Scalar(), node.Mark()});
    return items;
  }
  if (!node.IsSequence()) {
    add_at(errors, node.Mark(), fmt::format("{} expects a list, found {}", subject, describe(node)));
    return std::nullopt;
  }
  bool ok = true;
  for (const auto& item : node) {
    if (item.IsScalar()) {
      items.push_back({item.Scalar(), item.Mark()});
    } else {
      add_at(errors, item.Mark(), fmt::format("{} expects a list of text values, found {} in it",
                                          subject, describe(item)));
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return items;
}

// ---------------------------------------------------------------- sections

// The keys of one fixed map (a top-level section, a channel, a rule):
// reports unknown keys with a suggestion, duplicate keys and a value that
// is not a map at all. An absent or empty section is an empty map.
class Section {
 public:
  Section(const YAML::Node& node, const std::string& subject,
          const std::vector<std::string>& allowed, ConfigErrors& errors)
      : mark_(node.Mark()) {
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsMap()) {
      add_at(errors, node.Mark(), fmt::format("{} expects a map, found {}", subject, describe(node)));
      valid_ = false;
      return;
    }
    for (const auto& entry : node) {
      const YAML::Node& key = entry.first;
      if (!key.IsScalar()) {
        add_at(errors, key.Mark(), fmt::format("{}: keys must be plain names", subject));
        continue;
      }
      const std::string& name = key.Scalar();
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        const std::string where = subject.empty() ? "top-level key" : "key";
        const std::string in = subject.empty() ? "" : " in " + subject;
        add_at(errors, key.Mark(), fmt::format("unknown {} {}{}{}", where, quote_value(name), in,
                                           did_you_mean(name, allowed)));
        continue;
      }
      if (values_.count(name)) {
        add_at(errors, key.Mark(),
                   fmt::format("{}: duplicate key {}", subject.empty() ? "config" : subject,
                               quote_value(name)));
        continue;
      }
      values_.emplace(name, entry.second);
    }
  }

  bool valid() const { return valid_; }
  const YAML::Mark& mark() const { return mark_; }
  // Whether the key is there at all, even with an empty value.
  bool has(const std::string& key) const { return values_.count(key) > 0; }
  // Absent keys and keys with an empty value (`key:`) both read as absent,
  // so a commented-out block falls back to the default.
  std::optional<YAML::Node> get(const std::string& key) const {
    auto it = values_.find(key);
    if (it == values_.end() || it->second.IsNull()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, YAML::Node> values_;
  YAML::Mark mark_;
  bool valid_ = true;
};

// ---------------------------------------------------------------- loader

std::optional<std::string> read_whole_file(const fs::path& path, std::size_t max_bytes,
                                           std::string& error) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    error = "it is a folder";
    return std::nullopt;
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) {
    error = std::generic_category().message(errno);
    return std::nullopt;
  }
  std::string text;
  char buffer[8192];
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) {
    text.append(buffer, got);
    if (text.size() > max_bytes) {
      error = fmt::format("it is larger than {} bytes", max_bytes);
      return std::nullopt;
    }
  }
  if (std::ferror(file.get())) {
    error = std::generic_category().message(errno);
    return std::nullopt;
  }
  return text;
}

class Loader {
 public:
  Loader(const std::string& path, ConfigErrors& errors) : errors_(errors) {
    std::error_code ec;
    fs::path absolute = fs::absolute(path, ec);
    if (ec) absolute = path;
    config_.path = absolute.lexically_normal().string();
    config_dir_ = absolute.lexically_normal().parent_path();
  }

  Config load(const YAML::Node& root) {
    if (!root.IsMap()) {
      add_at(errors_, root.Mark(), fmt::format("the config must be a map of sections (store, gateways, "
                                           "channels, rules...), found {}",
                                           describe(root)));
      return std::move(config_);
    }
    substitute_environment(root, 0);
    const std::size_t substitution_errors = errors_.items.size();

    const Section top(root, "", kTopLevelKeys, errors_);
    load_store(top);
    load_templates(top);
    load_locale(top);
    load_log(top);
    load_shop(top);
    load_data_fields(top);
    load_statuses(top);
    load_retry(top);
    load_limits(top);
    load_secrets(top);
    load_sources(top);
    load_gateways(top);
    load_channels(top);
    load_rules(top);
    load_http(top);
    load_retention(top);
    load_quiet_hours(top);
    load_opt_out(top);
    drop_follow_on_errors(substitution_errors);
    hide_environment_values();
    return std::move(config_);
  }

  // The store's part alone (config.hpp: load_store_config). Only the
  // sections read are substituted and checked; unknown top-level keys and
  // every other section are the whole config's concern (run, check).
  StoreConfig load_store_part(const YAML::Node& root) {
    StoreConfig part;
    if (!root.IsMap()) {
      add_at(errors_, root.Mark(), fmt::format("the config must be a map of sections (store, gateways, "
                                           "channels, rules...), found {}",
                                           describe(root)));
      return part;
    }
    ConfigErrors elsewhere;
    const Section top(root, "", kTopLevelKeys, elsewhere);
    for (const char* key : {"store", "locale", "retention", "sources"}) {
      if (auto node = top.get(key)) substitute_environment(*node, 1);
    }
    const std::size_t substitution_errors = errors_.items.size();
    load_store(top);
    load_locale(top);
    load_retention(top);
    load_sources(top);
    drop_follow_on_errors(substitution_errors);
    hide_environment_values();
    if (auto gateways = top.get("gateways"); gateways && gateways->IsSequence()) {
      for (const auto& entry : *gateways) {
        if (entry.IsMap() && entry["name"].IsScalar()) {
          part.gateway_names.push_back(entry["name"].Scalar());
        }
      }
    }
    part.path = config_.path;
    part.store_path = config_.store_path;
    part.default_region = config_.default_region;
    part.default_timezone = config_.default_timezone;
    part.retention = config_.retention;
    part.sources = std::move(config_.sources);
    return part;
  }

 private:
  // ---- ${VAR} substitution, done once over the whole document in place so
  // every later reader sees final values and positions stay the parser's.

  // Aliases make the document a graph; substituting a shared scalar twice
  // would expand "$${X}" to "${X}" and then to X's value.
  bool first_visit(const YAML::Node& node) {
    auto range = visited_.equal_range(node.Mark().pos);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second.is(node)) return false;
    }
    visited_.emplace(node.Mark().pos, node);
    return true;
  }

  void substitute_environment(YAML::Node node, int depth) {
    if (depth > kMaxNesting) {
      if (!reported_nesting_) {
        add_at(errors_, node.Mark(),
                    fmt::format("the config nests deeper than {} levels", kMaxNesting));
        reported_nesting_ = true;
      }
      return;
    }
    if (!first_visit(node)) return;
    if (node.IsScalar()) {
      if (node.Scalar().find('$') == std::string::npos) return;
      if (auto value = substituted(node.Scalar(), node.Mark())) {
        from_environment_.push_back({node.Mark(), node.Scalar(), *value});
        node = *value;
      }
    } else if (node.IsSequence()) {
      for (auto item : node) substitute_environment(item, depth + 1);
    } else if (node.IsMap()) {
      // Keys are names the loader matches, never substituted.
      for (auto entry : node) substitute_environment(entry.second, depth + 1);
    }
  }

  // A value whose substitution failed keeps its "${...}" text; the readers'
  // complaints about that text would only repeat the first error.
  void drop_follow_on_errors(std::size_t first_reader_error) {
    auto& items = errors_.items;
    auto failed = [&](const ConfigError& e) {
      return std::any_of(failed_values_.begin(), failed_values_.end(), [&](const YAML::Mark& m) {
        return e.line == m.line + 1 && e.column == m.column + 1;
      });
    };
    items.erase(std::remove_if(items.begin() + static_cast<std::ptrdiff_t>(first_reader_error),
                               items.end(), failed),
                items.end());
  }

  // The environment is where secrets live: an error about a substituted
  // value shows the "${VAR}" text it was written as, never the value.
  void hide_environment_values() {
    for (auto& error : errors_.items) {
      for (const auto& [mark, written, value] : from_environment_) {
        if (value.empty() || error.line != mark.line + 1 || error.column != mark.column + 1) {
          continue;
        }
        replace_all(error.message, quote_value(value), quote_value(written));
        // Unquoted too (a path built from it), unless the value is so short
        // that replacing it would garble the message and it is no secret.
        if (value.size() >= 6) replace_all(error.message, value, written);
      }
    }
  }

  static void replace_all(std::string& text, const std::string& from, const std::string& to) {
    for (std::size_t at = text.find(from); at != std::string::npos;
         at = text.find(from, at + to.size())) {
      text.replace(at, from.size(), to);
    }
  }

  std::optional<std::string> substituted(const std::string& text, const YAML::Mark& mark) {
    std::string out;
    bool ok = true;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] != '$') {
        out += text[i];
        continue;
      }
      if (i + 1 < text.size() && text[i + 1] == '$') {
        out += '$';
        ++i;
        continue;
      }
      if (i + 1 >= text.size() || text[i + 1] != '{') {
        out += '$';  // a lone '$' is literal ("pa$s")
        continue;
      }
      const std::size_t close = text.find('}', i + 2);
      if (close == std::string::npos) {
        add_at(errors_, mark, "unterminated '${' (write '$$' for a literal '$')");
        failed_values_.push_back(mark);
        return std::nullopt;
      }
      const std::string inner = text.substr(i + 2, close - i - 2);
      const std::size_t colon = inner.find(":-");
      const std::string name = inner.substr(0, colon);
      if (!is_identifier(name)) {
        add_at(errors_, mark, fmt::format("{} is not a valid environment variable reference",
                                      quote_value("${" + inner + "}")));
        ok = false;
      } else if (const char* value = std::getenv(name.c_str());
                 value && (colon == std::string::npos || *value != '\0')) {
        out += value;
      } else if (colon != std::string::npos) {
        out += inner.substr(colon + 2);
      } else {
        add_at(errors_, mark, fmt::format("environment variable {} is not set (write ${{{}:-default}} "
                                      "for a default)",
                                      name, name));
        ok = false;
      }
      i = close;
    }
    if (!ok) {
      failed_values_.push_back(mark);
      return std::nullopt;
    }
    return out;
  }

  // ---- fixed sections

  std::string resolved_path(const std::string& path) const {
    const fs::path p(path);
    return (p.is_absolute() ? p : config_dir_ / p).lexically_normal().string();
  }

  void load_store(const Section& top) {
    const Section store(top.get("store").value_or(YAML::Node()), "store", {"path", "synchronous"},
                        errors_);
    if (auto node = store.get("synchronous")) {
      static const std::vector<std::string> kModes{"full", "normal"};
      if (auto value = read_string(*node, "store.synchronous", errors_)) {
        if (std::find(kModes.begin(), kModes.end(), *value) != kModes.end()) {
          config_.store_synchronous_full = *value == "full";
        } else {
          add_at(errors_, node->Mark(),
                      fmt::format("store.synchronous expects one of {}, found {}{}",
                                  joined(kModes), quote_value(*value),
                                  did_you_mean(*value, kModes)));
        }
      }
    }
    if (auto node = store.get("path")) {
      if (auto path = read_string(*node, "store.path", errors_)) {
        if (path->empty()) {
          add_at(errors_, node->Mark(), "store.path is empty");
        } else {
          config_.store_path = *path;
        }
      }
    }
    config_.store_path = resolved_path(config_.store_path);
  }

  void load_templates(const Section& top) {
    const Section templates(top.get("templates").value_or(YAML::Node()), "templates", {"dir"},
                            errors_);
    std::optional<YAML::Node> node = templates.get("dir");
    if (node) {
      if (auto dir = read_string(*node, "templates.dir", errors_)) {
        if (dir->empty()) {
          add_at(errors_, node->Mark(), "templates.dir is empty");
        } else {
          config_.template_dir = *dir;
        }
      }
    }
    config_.template_dir = resolved_path(config_.template_dir);
    std::error_code ec;
    template_dir_ok_ = fs::is_directory(config_.template_dir, ec);
    if (!template_dir_ok_) {
      add_at(errors_, node ? node->Mark() : YAML::Mark::null_mark(),
                  fmt::format("template folder {} does not exist", config_.template_dir));
    }
  }

  void load_locale(const Section& top) {
    const Section locale(top.get("locale").value_or(YAML::Node()), "locale",
                         {"default", "region", "timezone", "supported"}, errors_);
    if (auto node = locale.get("default")) {
      if (auto value = read_string(*node, "locale.default", errors_)) {
        if (is_locale(*value)) {
          config_.default_locale = *value;
        } else {
          add_at(errors_, node->Mark(),
                      fmt::format("locale.default expects a language tag such as en or sv-SE, "
                                  "found {}",
                                  quote_value(*value)));
        }
      }
    }
    if (auto node = locale.get("region")) {
      if (auto value = read_string(*node, "locale.region", errors_)) {
        if (value->size() == 2 && std::isalpha(static_cast<unsigned char>((*value)[0])) &&
            std::isalpha(static_cast<unsigned char>((*value)[1]))) {
          std::transform(value->begin(), value->end(), value->begin(),
                         [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
          config_.default_region = *value;
        } else {
          add_at(errors_, node->Mark(),
                      fmt::format("locale.region expects a two-letter country code such as SE, "
                                  "found {}",
                                  quote_value(*value)));
        }
      }
    }
    if (auto node = locale.get("timezone")) {
      if (auto value = read_string(*node, "locale.timezone", errors_)) {
        // Checked here so a typo is a start-up error with a position, not a
        // failure at the first message.
        try {
          date::locate_zone(*value);
          config_.default_timezone = *value;
        } catch (const std::exception& e) {
          add_at(errors_, node->Mark(), fmt::format("locale.timezone: unknown time zone {} ({})",
                                                quote_value(*value), e.what()));
        }
      }
    }
    if (auto node = locale.get("supported")) {
      if (auto items = read_string_list(*node, "locale.supported", true, errors_)) {
        std::set<std::string> seen;
        for (const auto& item : *items) {
          if (!is_locale(item.value)) {
            add_at(errors_, item.mark, fmt::format("locale.supported expects language tags such as "
                                               "en or sv-SE, found {}",
                                               quote_value(item.value)));
          } else if (!seen.insert(item.value).second) {
            add_at(errors_, item.mark, fmt::format("locale.supported: {} is listed twice",
                                               quote_value(item.value)));
          } else {
            config_.supported_locales.push_back(item.value);
          }
        }
      }
    }
  }

  static bool is_locale(const std::string& tag) {
    // Language (2-3 letters), then subtags: "en", "sv-SE", "zh-Hant-TW".
    std::size_t i = 0;
    while (i < tag.size() && std::isalpha(static_cast<unsigned char>(tag[i]))) ++i;
    if (i < 2 || i > 3) return false;
    while (i < tag.size()) {
      if (tag[i] != '-' && tag[i] != '_') return false;
      const std::size_t start = ++i;
      while (i < tag.size() && std::isalnum(static_cast<unsigned char>(tag[i]))) ++i;
      if (i - start < 2 || i - start > 8) return false;
    }
    return true;
  }

  void load_log(const Section& top) {
    const Section log(top.get("log").value_or(YAML::Node()), "log", {"level"}, errors_);
    if (auto node = log.get("level")) {
      static const std::vector<std::string> kLevels{"debug", "info", "warning", "error"};
      if (auto value = read_string(*node, "log.level", errors_)) {
        if (std::find(kLevels.begin(), kLevels.end(), *value) != kLevels.end()) {
          config_.log_level = *value;
        } else {
          add_at(errors_, node->Mark(),
                      fmt::format("log.level expects one of {}, found {}{}", joined(kLevels),
                                  quote_value(*value), did_you_mean(*value, kLevels)));
        }
      }
    }
  }

  void load_shop(const Section& top) {
    auto shop = top.get("shop");
    if (!shop) return;
    if (!shop->IsMap()) {
      add_at(errors_, shop->Mark(), fmt::format("shop expects a map, found {}", describe(*shop)));
      return;
    }
    for (const auto& entry : *shop) {
      const YAML::Node& key = entry.first;
      // Templates address these as {{shop.KEY}}, so a key must be one name.
      if (!key.IsScalar() || !is_identifier(key.Scalar())) {
        add_at(errors_, key.Mark(), fmt::format("shop: key {} must be a name of letters, digits "
                                            "and '_'",
                                            describe(key)));
        continue;
      }
      const std::string subject = "shop." + key.Scalar();
      if (config_.shop.fields.count(key.Scalar())) {
        add_at(errors_, key.Mark(), fmt::format("shop: duplicate key {}", quote_value(key.Scalar())));
        continue;
      }
      if (auto value = read_string(entry.second, subject, errors_)) {
        config_.shop.fields.emplace(key.Scalar(), *value);
      }
    }
  }

  // data: [total, currency, items.name]: what the shop's events carry in
  // `data`, so a template naming anything else is an error.
  void load_data_fields(const Section& top) {
    auto node = top.get("data");
    if (!node) return;
    auto items = read_string_list(*node, "data", false, errors_);
    if (!items) return;
    config_.data_fields.emplace();
    std::set<std::string> seen;
    for (const auto& item : *items) {
      std::string_view rest = item.value;
      bool ok = !rest.empty() && rest.size() <= 256;
      while (ok && !rest.empty()) {
        auto dot = rest.find('.');
        ok = is_identifier(std::string(rest.substr(0, dot)));
        rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
        if (dot != std::string_view::npos && rest.empty()) ok = false;
      }
      if (!ok) {
        add_at(errors_, item.mark, fmt::format("data: {} is not a field name (letters, digits and "
                                           "'_', parts joined by '.' as in items.name)",
                                           quote_value(item.value)));
      } else if (!seen.insert(item.value).second) {
        add_at(errors_, item.mark, fmt::format("data: {} is listed twice", quote_value(item.value)));
      } else {
        config_.data_fields->push_back(item.value);
      }
    }
  }

  void load_statuses(const Section& top) {
    const Section statuses(top.get("statuses").value_or(YAML::Node()), "statuses",
                           {"order", "terminal", "side"}, errors_);
    std::set<std::string> seen;
    auto read = [&](const char* key, bool may_be_empty) -> std::optional<std::vector<std::string>> {
      auto node = statuses.get(key);
      if (!node) return std::nullopt;
      const std::string subject = fmt::format("statuses.{}", key);
      auto items = read_string_list(*node, subject, false, errors_);
      if (!items) return std::nullopt;
      std::vector<std::string> names;
      for (const auto& item : *items) {
        if (!is_name(item.value)) {
          add_at(errors_, item.mark, fmt::format("{}: {} is not a status name (letters, digits, "
                                             "'_', '-', '.')",
                                             subject, quote_value(item.value)));
        } else if (!seen.insert(item.value).second) {
          add_at(errors_, item.mark, fmt::format("{}: status {} is listed twice", subject,
                                             quote_value(item.value)));
        } else {
          names.push_back(item.value);
        }
      }
      if (items->empty() && !may_be_empty) {
        add_at(errors_, node->Mark(), fmt::format("{} must name at least one status", subject));
      }
      return names;
    };
    if (auto order = read("order", false)) config_.statuses.order = std::move(*order);
    if (auto terminal = read("terminal", true)) config_.statuses.terminal = std::move(*terminal);
    if (auto side = read("side", true)) config_.statuses.side = std::move(*side);
    // With one half left at its default, the halves may overlap.
    const auto& order = config_.statuses.order;
    const auto& terminal = config_.statuses.terminal;
    for (const auto& name : config_.statuses.side) {
      if (std::find(order.begin(), order.end(), name) == order.end() &&
          std::find(terminal.begin(), terminal.end(), name) == terminal.end()) {
        continue;
      }
      auto node = statuses.get("side");
      add_at(errors_, node ? node->Mark() : statuses.mark(),
             fmt::format("statuses: {} is both a side status and an order status",
                         quote_value(name)));
    }
    for (const auto& name : config_.statuses.terminal) {
      if (std::find(order.begin(), order.end(), name) == order.end()) continue;
      auto node = statuses.get("terminal");
      if (!node) node = statuses.get("order");
      add_at(errors_, 
          node ? node->Mark() : statuses.mark(),
          fmt::format("statuses: {} is both an ordered and a terminal status", quote_value(name)));
    }
  }

  void load_retry(const Section& top) {
    const Section retry(top.get("retry").value_or(YAML::Node()), "retry",
                        {"max_attempts", "initial_backoff", "max_backoff", "max_age"}, errors_);
    auto& policy = config_.retry;
    if (auto node = retry.get("max_attempts")) {
      if (auto value = read_int(*node, "retry.max_attempts", 0, 1000000, errors_)) {
        policy.max_attempts = static_cast<int>(*value);
      }
    }
    auto positive = [&](const char* key, std::chrono::milliseconds& target) {
      auto node = retry.get(key);
      if (!node) return;
      const std::string subject = fmt::format("retry.{}", key);
      if (auto value = read_duration(*node, subject, errors_)) {
        if (value->count() <= 0) {
          add_at(errors_, node->Mark(), fmt::format("{} must be longer than 0", subject));
        } else {
          target = *value;
        }
      }
    };
    positive("initial_backoff", policy.initial_backoff);
    positive("max_backoff", policy.max_backoff);
    positive("max_age", policy.max_age);
    if (policy.max_backoff < policy.initial_backoff) {
      auto node = retry.get("max_backoff");
      if (!node) node = retry.get("initial_backoff");
      add_at(errors_, node ? node->Mark() : retry.mark(),
                  "retry.max_backoff must not be shorter than retry.initial_backoff");
    }
  }

  void load_limits(const Section& top) {
    struct Bound {
      const char* key;
      long long min;
      long long max;
      std::size_t* target;
    };
    Limits& l = config_.limits;
    std::size_t depth = static_cast<std::size_t>(l.max_json_depth);
    constexpr long long kMiB = 1024 * 1024;
    const std::vector<Bound> bounds{
        {"max_event_bytes", 1024, 64 * kMiB, &l.max_event_bytes},
        {"max_json_depth", 4, 512, &depth},
        {"max_json_values", 16, 10 * kMiB, &l.max_json_values},
        {"max_string_bytes", 64, 64 * kMiB, &l.max_string_bytes},
        {"max_events_per_request", 1, 1000000, &l.max_events_per_request},
        {"max_request_head_bytes", 1024, kMiB, &l.max_request_head_bytes},
        {"max_response_bytes", 1024, 64 * kMiB, &l.max_response_bytes},
        {"max_message_bytes", 160, 64 * kMiB, &l.max_message_bytes},
        {"max_template_bytes", 1024, 64 * kMiB, &l.max_template_bytes},
    };
    std::vector<std::string> keys;
    for (const auto& bound : bounds) keys.emplace_back(bound.key);
    const Section limits(top.get("limits").value_or(YAML::Node()), "limits", keys, errors_);
    for (const auto& bound : bounds) {
      auto node = limits.get(bound.key);
      if (!node) continue;
      if (auto value =
              read_int(*node, std::string("limits.") + bound.key, bound.min, bound.max, errors_)) {
        *bound.target = static_cast<std::size_t>(*value);
      }
    }
    l.max_json_depth = static_cast<int>(depth);
  }

  // ---- secrets: what to do about files others can read

  void load_secrets(const Section& top) {
    const Section secrets(top.get("secrets").value_or(YAML::Node()), "secrets", {"on_readable"},
                          errors_);
    if (auto node = secrets.get("on_readable")) {
      const std::string value = node->IsScalar() ? node->Scalar() : std::string();
      if (value == "warn") {
        config_.secrets.on_readable = OnReadableSecrets::Warn;
      } else if (value == "refuse") {
        config_.secrets.on_readable = OnReadableSecrets::Refuse;
      } else {
        add_at(errors_, 
            node->Mark(),
            fmt::format("secrets.on_readable expects warn or refuse, found {}", describe(*node)));
      }
    }
  }

  // Whether a node's value came from ${ENV} substitution.
  bool from_environment(const YAML::Node& node) const {
    const YAML::Mark mark = node.Mark();
    return std::any_of(
        from_environment_.begin(), from_environment_.end(),
        [&](const Substitution& s) { return s.mark.pos == mark.pos && s.mark.line == mark.line; });
  }

  // Notes where a secret came from, for the permission check (secrets.hpp).
  void note_inline_secret(const YAML::Node& node, const std::string& what) {
    if (from_environment(node)) return;
    config_.secrets.files.push_back({config_.path, what, true});
  }
  void note_secret_file(const fs::path& path, const std::string& what) {
    config_.secrets.files.push_back({path.lexically_normal().string(), what, false});
  }

  // ---- quiet hours (issue 16): when messages may go out, locally

  void load_quiet_hours(const Section& top) {
    auto& quiet = config_.quiet_hours;
    const Section section(top.get("quiet_hours").value_or(YAML::Node()), "quiet_hours",
                          {"allowed", "countries"}, errors_);
    if (auto node = section.get("allowed")) {
      if (auto value = read_window(*node, "quiet_hours.allowed", errors_)) quiet.allowed = *value;
    }
    auto countries = section.get("countries");
    if (!countries) return;
    if (!countries->IsMap()) {
      add_at(errors_, countries->Mark(),
             fmt::format("quiet_hours.countries expects a map of country codes to hours, found {}",
                         describe(*countries)));
      return;
    }
    for (const auto& entry : *countries) {
      const std::string code = entry.first.IsScalar() ? entry.first.Scalar() : std::string();
      const bool valid = code.size() == 2 && std::isupper(static_cast<unsigned char>(code[0])) &&
                         std::isupper(static_cast<unsigned char>(code[1]));
      if (!valid) {
        add_at(errors_, entry.first.Mark(),
               fmt::format("quiet_hours.countries: {} is not a country code (two capital letters, "
                           "ISO 3166: SE, PL, GB)",
                           quote_value(code)));
        continue;
      }
      if (auto value = read_window(entry.second, "quiet_hours.countries." + code, errors_)) {
        quiet.countries[code] = *value;
      }
    }
  }

  // ---- opt-out (issue 17): the SMS replies that opt out, per locale

  void load_opt_out(const Section& top) {
    const Section section(top.get("opt_out").value_or(YAML::Node()), "opt_out", {"keywords"},
                          errors_);
    auto keywords = section.get("keywords");
    if (!keywords) return;
    if (!keywords->IsMap()) {
      add_at(errors_, keywords->Mark(),
             fmt::format("opt_out.keywords expects a map of locales to keyword lists, like "
                         "sv: [STOPP, STOP], found {}",
                         describe(*keywords)));
      return;
    }
    OptOutKeywords by_locale;
    for (const auto& entry : *keywords) {
      const std::string locale = entry.first.IsScalar() ? entry.first.Scalar() : std::string();
      if (locale.empty() || locale.size() > 35 ||
          locale.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
              std::string::npos) {
        add_at(errors_, entry.first.Mark(),
               fmt::format("opt_out.keywords: {} is not a locale (sv, pl, en-GB)",
                           quote_value(locale)));
        continue;
      }
      const std::string subject = "opt_out.keywords." + locale;
      auto items = read_string_list(entry.second, subject, true, errors_);
      if (!items) continue;
      if (items->empty()) {
        add_at(errors_, entry.second.Mark(), fmt::format("{} names no keyword", subject));
        continue;
      }
      auto& words = by_locale[locale];
      for (const auto& item : *items) {
        // A keyword is one short word a customer types: a whole reply is
        // compared with it (optout.hpp).
        const std::string word = trim(item.value);
        if (word.empty() || word.size() > 32 || !valid_utf8(word) ||
            word.find_first_of(" \t\r\n") != std::string::npos) {
          add_at(errors_, item.mark,
                 fmt::format("{}: {} is not a keyword (one word, at most 32 bytes)", subject,
                             quote_value(item.value)));
          continue;
        }
        words.push_back(word);
      }
    }
    config_.opt_out_keywords = std::move(by_locale);
  }

  // ---- retention (issue 6): how long personal data stays in the store

  void load_retention(const Section& top) {
    const Section retention(top.get("retention").value_or(YAML::Node()), "retention",
                            {"keep", "action", "interval", "batch"}, errors_);
    auto& policy = config_.retention;
    auto positive = [&](const char* key, std::chrono::milliseconds& target) {
      auto node = retention.get(key);
      if (!node) return;
      const std::string subject = fmt::format("retention.{}", key);
      if (auto value = read_duration(*node, subject, errors_)) {
        if (value->count() <= 0) {
          add_at(errors_, node->Mark(), fmt::format("{} must be longer than 0", subject));
        } else {
          target = *value;
        }
      }
    };
    positive("keep", policy.keep);
    positive("interval", policy.interval);
    if (auto node = retention.get("action")) {
      const std::string value = node->IsScalar() ? node->Scalar() : std::string();
      if (value == "anonymise" || value == "anonymize") {
        policy.action = RetentionPolicy::Action::Anonymise;
      } else if (value == "delete") {
        policy.action = RetentionPolicy::Action::Delete;
      } else if (value == "off") {
        policy.action = RetentionPolicy::Action::Off;
      } else {
        add_at(errors_, node->Mark(),
                    fmt::format("retention.action expects anonymise, delete or off, found {}",
                                describe(*node)));
      }
    }
    if (auto node = retention.get("batch")) {
      if (auto value = read_int(*node, "retention.batch", 1, 10000, errors_)) {
        policy.batch = static_cast<int>(*value);
      }
    }
  }

  // ---- the HTTP listener

  void load_http(const Section& top) {
    // `http:` with every key commented out still means a listener, on the
    // defaults.
    if (!top.has("http")) return;
    const YAML::Node node = top.get("http").value_or(YAML::Node());
    const Section http(node, "http",
                       {"listen", "max_body_bytes", "health_from", "hosts", "open_health",
                        "max_connections", "max_connections_per_client", "request_timeout",
                        "header_timeout", "idle_timeout", "min_body_rate", "events", "users",
                        "public_url", "optout_secret", "optout_secret_file"},
                       errors_);
    if (!http.valid()) return;
    HttpConfig settings;
    if (auto listen = http.get("listen")) {
      if (auto value = read_string(*listen, "http.listen", errors_)) {
        if (!parse_listen(*value, settings.listen_host, settings.listen_port)) {
          add_at(errors_, listen->Mark(),
                      fmt::format("http.listen expects an IP address and a port such as "
                                  "127.0.0.1:8425 or [::1]:8425 (port 0: any free port), found {}",
                                  quote_value(*value)));
        }
      }
    }
    if (auto value = http.get("max_body_bytes")) {
      if (auto n = read_int(*value, "http.max_body_bytes", 1024, 64 * 1024 * 1024, errors_)) {
        settings.max_body_bytes = static_cast<std::size_t>(*n);
      }
    }
    if (auto value = http.get("health_from")) {
      if (auto items = read_string_list(*value, "http.health_from", false, errors_)) {
        for (const auto& item : *items) {
          if (auto range = parse_address_range(item.value)) {
            settings.health_from.push_back(std::move(*range));
          } else {
            add_at(errors_, item.mark,
                   fmt::format("http.health_from expects IP addresses or CIDR blocks such as "
                               "127.0.0.1, ::1 or 10.0.0.0/8, found {}",
                               quote_value(item.value)));
          }
        }
      }
    }
    // Before health_from: `open_health: true` opened health to every
    // process on this host, a reverse proxy's clients included. It still
    // means loopback, under the same conditions as health_from.
    if (auto value = http.get("open_health")) {
      std::optional<bool> open;
      if (value->IsScalar()) open = parse_bool(value->Scalar());
      if (!open) {
        add_at(errors_, value->Mark(), fmt::format("http.open_health expects true or false, found {}",
                                               describe(*value)));
      } else if (http.get("health_from")) {
        add_at(errors_, value->Mark(),
               "give http.health_from or the older http.open_health, not both");
      } else if (*open) {
        settings.health_from = {*parse_address_range("127.0.0.0/8"), *parse_address_range("::1")};
      }
    }
    if (auto value = http.get("hosts")) {
      if (auto items = read_string_list(*value, "http.hosts", false, errors_)) {
        for (const auto& item : *items) {
          const bool name = !item.value.empty() && item.value.size() <= 253 &&
                            std::all_of(item.value.begin(), item.value.end(), [](unsigned char c) {
                              return std::isalnum(c) || c == '-' || c == '.';
                            });
          if (name) {
            settings.hosts.push_back(lowercase(item.value));
          } else {
            add_at(errors_, item.mark,
                   fmt::format("http.hosts expects host names such as tack.example.com, found {}",
                               quote_value(item.value)));
          }
        }
      }
    }
    if (auto value = http.get("max_connections")) {
      if (auto n = read_int(*value, "http.max_connections", 1, 100000, errors_)) {
        settings.max_connections = static_cast<int>(*n);
      }
    }
    if (auto value = http.get("max_connections_per_client")) {
      if (auto n = read_int(*value, "http.max_connections_per_client", 1, 100000, errors_)) {
        settings.max_connections_per_client = static_cast<int>(*n);
      }
    }
    for (auto [key, target] : {std::pair{"request_timeout", &settings.request_timeout},
                               std::pair{"header_timeout", &settings.header_timeout},
                               std::pair{"idle_timeout", &settings.idle_timeout}}) {
      auto value = http.get(key);
      if (!value) continue;
      const std::string subject = std::string("http.") + key;
      if (auto d = read_duration(*value, subject, errors_)) {
        if (*d < std::chrono::milliseconds(100) || *d > std::chrono::hours(1)) {
          add_at(errors_, value->Mark(), subject + " must be between 100ms and 1h");
        } else {
          *target = *d;
        }
      }
    }
    if (auto value = http.get("min_body_rate")) {
      if (auto n = read_int(*value, "http.min_body_rate", 1, 1024 * 1024 * 1024, errors_)) {
        settings.min_body_rate = static_cast<std::size_t>(*n);
      }
    }
    if (auto value = http.get("events")) {
      const Section events(*value, "http.events",
                           {"token", "token_file", "hmac_secret", "hmac_secret_file"}, errors_);
      // A guessable token would open the intake to anyone who can connect.
      auto strong = [&](const char* key, std::string& target) {
        auto secret = read_secret(events, key, "http.events");
        if (!secret) return;
        if (secret->size() < 16) {
          auto at = events.get(key);
          if (!at) at = events.get(std::string(key) + "_file");
          add_at(errors_, at ? at->Mark() : events.mark(),
                      fmt::format("http.events {} is shorter than 16 characters; use a random "
                                  "one (openssl rand -hex 32)",
                                  key));
          return;
        }
        target = std::move(*secret);
      };
      strong("token", settings.events_token);
      strong("hmac_secret", settings.events_hmac_secret);
    }
    if (auto value = http.get("users")) load_http_users(*value, settings.users);
    if (auto value = http.get("public_url")) {
      if (auto url = read_string(*value, "http.public_url", errors_)) {
        // Providers call it from the internet: only https, except for a
        // test or a tunnel on this machine.
        const bool local = url->starts_with("http://127.0.0.1") ||
                           url->starts_with("http://localhost") || url->starts_with("http://[::1]");
        const bool https = url->starts_with("https://") && url->size() > 8;
        if ((!https && !local) || url->find_first_of(" \t\r\n?#@") != std::string::npos) {
          add_at(errors_, value->Mark(),
                 fmt::format("http.public_url expects the https:// address providers reach this "
                             "listener at, like https://tack.example.com (no query, no "
                             "credentials), found {}",
                             quote_value(*url)));
        } else {
          while (url->ends_with("/")) url->pop_back();
          settings.public_url = std::move(*url);
        }
      }
    }
    if (auto secret = read_secret(http, "optout_secret", "http")) {
      if (secret->size() < 16) {
        auto at = http.get("optout_secret");
        if (!at) at = http.get("optout_secret_file");
        add_at(errors_, at ? at->Mark() : http.mark(),
               "http optout_secret is shorter than 16 characters; use a random one (openssl rand "
               "-hex 32)");
      } else {
        settings.optout_secret = std::move(*secret);
      }
    }
    // A marketing message carries an opt-out link, and the link needs a
    // key that signs it.
    if (!settings.public_url.empty() && settings.optout_secret.empty() &&
        !http.get("optout_secret") && !http.get("optout_secret_file")) {
      for (const auto& rule : config_.rules) {
        if (rule.purpose != RuleConfig::Purpose::Marketing) continue;
        add_at(errors_, http.get("public_url")->Mark(),
               fmt::format("http.optout_secret (or optout_secret_file) is required with "
                           "http.public_url: rule {} is marketing, and its messages carry a "
                           "signed opt-out link",
                           quote_value(rule.name)));
        break;
      }
    }
    config_.http = std::move(settings);
  }

  void load_http_users(const YAML::Node& node, std::vector<HttpUser>& users) {
    if (!node.IsSequence()) {
      add_at(errors_, node.Mark(), fmt::format("http.users expects a list of users (name and "
                                           "password_hash), found {}",
                                           describe(node)));
      return;
    }
    std::set<std::string> seen;
    for (std::size_t i = 0; i < node.size(); ++i) {
      const std::string what = fmt::format("http.users #{}", i + 1);
      const Section user(node[i], what, {"name", "password_hash", "password_hash_file"}, errors_);
      if (!user.valid()) continue;
      HttpUser entry;
      if (auto name = user.get("name")) {
        if (auto value = read_string(*name, what + " name", errors_)) {
          // The name goes into the audit log as http:<name>, and HTTP Basic
          // ends a user name at the first ':'.
          if (!is_name(*value)) {
            add_at(errors_, name->Mark(), fmt::format("{} name {} must use letters, digits, '_', '-' "
                                                  "and '.'",
                                                  what, quote_value(*value)));
          } else if (!seen.insert(*value).second) {
            add_at(errors_, name->Mark(), fmt::format("http.users: user {} is defined twice",
                                                  quote_value(*value)));
          } else {
            entry.name = *value;
          }
        }
      } else {
        add_at(errors_, user.mark(), fmt::format("{}: missing required key 'name'", what));
      }
      if (auto hash = read_secret(user, "password_hash", what, false)) {
        if (!is_password_hash(*hash)) {
          add_at(errors_, user.get("password_hash").value_or(
                          user.get("password_hash_file").value_or(YAML::Node())).Mark(),
                      fmt::format("{}: password_hash must be a crypt(3) hash starting with $y$ "
                                  "(yescrypt: mkpasswd), $6$ or $5$ (openssl passwd -6 or -5)",
                                  what));
        } else if (auto rounds = sha_crypt_rounds(*hash); rounds && *rounds < kMinShaCryptRounds) {
          add_at(errors_, user.get("password_hash").value_or(
                          user.get("password_hash_file").value_or(YAML::Node())).Mark(),
                 fmt::format("{}: password_hash uses {} rounds of SHA-crypt, fewer than {} (the "
                             "default); a stolen config would give up the password quickly: "
                             "make a yescrypt hash with mkpasswd, or openssl passwd -6 without "
                             "rounds=",
                             what, *rounds, kMinShaCryptRounds));
        } else {
          entry.password_hash = *hash;
        }
      } else if (!user.get("password_hash") && !user.get("password_hash_file")) {
        add_at(errors_, user.mark(), fmt::format("{}: missing required key 'password_hash'", what));
      }
      if (!entry.name.empty() && !entry.password_hash.empty()) users.push_back(std::move(entry));
    }
  }

  // "127.0.0.1:8425", "[::1]:8425", "0.0.0.0:0".
  static bool parse_listen(const std::string& text, std::string& host, int& port) {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) return false;
    std::string address = text.substr(0, colon);
    if (address.front() == '[') {
      if (address.size() < 3 || address.back() != ']') return false;
      address = address.substr(1, address.size() - 2);
      if (address.find(':') == std::string::npos) return false;
    } else if (address.find(':') != std::string::npos) {
      return false;  // IPv6 needs its brackets
    }
    error_code ec;
    asio::ip::make_address(address, ec);
    if (ec) return false;
    auto number = parse_int(text.substr(colon + 1));
    if (!number || *number < 0 || *number > 65535) return false;
    host = address;
    port = static_cast<int>(*number);
    return true;
  }

  // A crypt(3) hash of a kind tack accepts; checked by shape only (the
  // admin listener owns libcrypt).
  // SHA-crypt's default cost (no rounds= in the hash); fewer is refused.
  static constexpr long long kMinShaCryptRounds = 5000;

  // The rounds a $5$/$6$ hash names ("$6$rounds=N$salt$..."), if it does.
  static std::optional<long long> sha_crypt_rounds(const std::string& hash) {
    if (hash.rfind("$5$rounds=", 0) != 0 && hash.rfind("$6$rounds=", 0) != 0) return std::nullopt;
    const auto start = std::string("$5$rounds=").size();
    const auto end = hash.find('$', start);
    if (end == std::string::npos) return 0;
    return parse_int(hash.substr(start, end - start)).value_or(0);
  }

  static bool is_password_hash(const std::string& hash) {
    if (!(hash.rfind("$y$", 0) == 0 || hash.rfind("$6$", 0) == 0 || hash.rfind("$5$", 0) == 0)) {
      return false;
    }
    if (hash.size() > 512 || std::count(hash.begin(), hash.end(), '$') < 3) return false;
    return std::all_of(hash.begin(), hash.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '$' || c == '.' || c == '/' || c == '=' || c == ',';
    });
  }

  // A secret given as KEY (in the file, or from ${ENV}) or KEY_file (read
  // from that file, relative to $CREDENTIALS_DIRECTORY or this file's
  // folder). Its value never reaches an error message.
  // `inline_is_secret`: a value written in the config itself is a secret
  // that makes the config's own permissions matter (not so a password hash).
  std::optional<std::string> read_secret(const Section& section, const std::string& key,
                                         const std::string& subject, bool inline_is_secret = true) {
    auto plain = section.get(key);
    auto file = section.get(key + "_file");
    if (plain && file) {
      add_at(errors_, file->Mark(), fmt::format("{}: give either {} or {}, not both", subject,
                                            quote_value(key), quote_value(key + "_file")));
      return std::nullopt;
    }
    if (plain) {
      if (!plain->IsScalar() || plain->Scalar().empty()) {
        add_at(errors_, plain->Mark(), fmt::format("{} {} expects text, found {}", subject, key,
                                               describe(*plain, true)));
        return std::nullopt;
      }
      if (inline_is_secret) note_inline_secret(*plain, subject + " " + key);
      return plain->Scalar();
    }
    if (!file) return std::nullopt;
    if (!file->IsScalar() || file->Scalar().empty()) {
      add_at(errors_, file->Mark(), fmt::format("{} {}_file expects a file path, found {}", subject,
                                            key, describe(*file)));
      return std::nullopt;
    }
    fs::path path(file->Scalar());
    if (path.is_relative()) path = fs::path(credential_base()) / path;
    std::string why;
    auto secret = read_whole_file(path, kMaxSecretBytes, why);
    if (!secret) {
      add_at(errors_, file->Mark(), fmt::format("{}: cannot read {}_file {}: {}", subject, key,
                                            path.lexically_normal().string(), why));
      return std::nullopt;
    }
    while (!secret->empty() && (secret->back() == '\n' || secret->back() == '\r')) {
      secret->pop_back();
    }
    if (secret->empty()) {
      add_at(errors_, file->Mark(), fmt::format("{}: {}_file {} is empty", subject, key,
                                            path.lexically_normal().string()));
      return std::nullopt;
    }
    note_secret_file(path, subject + " " + key + "_file");
    return secret;
  }

  // ---- plugins

  // The part of a source or gateway entry the loader owns.
  struct PluginEntry {
    std::string name;
    std::string type;
    std::map<std::string, YAML::Node> engine;  // dispatcher keys (gateways only)
    YAML::Node settings{YAML::NodeType::Map};
    YAML::Mark mark;
    bool ok = false;
  };

  // Splits an entry into name, type and the plugin's own settings. The
  // settings share the parsed nodes, so their positions stay the parser's.
  PluginEntry split_entry(const YAML::Node& entry, const std::string& what, std::size_t index,
                          const std::set<std::string>& engine_keys) {
    PluginEntry result;
    result.mark = entry.Mark();
    if (!entry.IsMap()) {
      add_at(errors_, entry.Mark(), fmt::format("{} #{} expects a map with name and type, found {}",
                                            what, index + 1, describe(entry)));
      return result;
    }
    std::set<std::string> seen;
    std::optional<YAML::Node> name, type;
    for (const auto& item : entry) {
      if (!item.first.IsScalar()) {
        add_at(errors_, item.first.Mark(),
                    fmt::format("{} #{}: keys must be plain names", what, index + 1));
        continue;
      }
      const std::string& key = item.first.Scalar();
      if (!seen.insert(key).second) {
        add_at(errors_, item.first.Mark(),
                    fmt::format("{} #{}: duplicate key {}", what, index + 1, quote_value(key)));
        continue;
      }
      if (key == "name") {
        name = item.second;
      } else if (key == "type") {
        type = item.second;
      } else if (engine_keys.count(key)) {
        result.engine[key] = item.second;
      } else {
        result.settings[item.first] = item.second;
      }
    }
    if (!name) {
      add_at(errors_, entry.Mark(),
                  fmt::format("{} #{}: missing required key 'name'", what, index + 1));
    } else if (auto value =
                   read_string(*name, fmt::format("{} #{} name", what, index + 1), errors_)) {
      if (is_name(*value)) {
        result.name = *value;
      } else {
        add_at(errors_, name->Mark(), fmt::format("{} name {} must use letters, digits, '_', '-' "
                                              "and '.'",
                                              what, quote_value(*value)));
      }
    }
    if (!type) {
      add_at(errors_, entry.Mark(),
                  fmt::format("{} #{}: missing required key 'type'", what, index + 1));
    } else if (auto value =
                   read_string(*type, fmt::format("{} #{} type", what, index + 1), errors_)) {
      result.type = *value;
    }
    result.ok = !result.name.empty() && !result.type.empty();
    return result;
  }

  std::string credential_base() const {
    const char* credentials = std::getenv("CREDENTIALS_DIRECTORY");
    return credentials && *credentials ? std::string(credentials) : config_dir_.string();
  }

  // Replaces `X_file: PATH` by `X: <contents of PATH>` for each text key X
  // the plugin declares (unless `X_file` is itself a declared key, such as
  // ca_file). The secret never reaches an error message.
  void resolve_file_keys(YAML::Node& settings, const std::vector<ConfigKey>& keys,
                         const std::string& subject) {
    auto declared = [&](const std::string& name) -> const ConfigKey* {
      for (const auto& key : keys) {
        if (key.name == name) return &key;
      }
      return nullptr;
    };
    YAML::Node resolved(YAML::NodeType::Map);
    std::vector<std::pair<std::string, std::string>> secrets;
    for (const auto& item : settings) {
      const std::string& key = item.first.Scalar();
      constexpr std::string_view kSuffix = "_file";
      const bool file_form = key.size() > kSuffix.size() && key.ends_with(kSuffix);
      const std::string base = file_form ? key.substr(0, key.size() - kSuffix.size()) : "";
      const ConfigKey* target = file_form && !declared(key) ? declared(base) : nullptr;
      if (!target || target->type != KeyType::String) {
        resolved[item.first] = item.second;
        continue;
      }
      if (std::as_const(settings)[base]) {
        add_at(errors_, item.first.Mark(), fmt::format("{}: give either {} or {}, not both", subject,
                                                   quote_value(base), quote_value(key)));
        continue;
      }
      if (!item.second.IsScalar() || item.second.Scalar().empty()) {
        add_at(errors_, item.second.Mark(), fmt::format("{}: {} expects a file path, found {}", subject,
                                                    key, describe(item.second)));
        secrets.emplace_back(base, "");  // reported; not "missing" as well
        continue;
      }
      fs::path path(item.second.Scalar());
      if (path.is_relative()) path = fs::path(credential_base()) / path;
      std::string why;
      auto secret = read_whole_file(path, kMaxSecretBytes, why);
      if (!secret) {
        add_at(errors_, item.second.Mark(), fmt::format("{}: cannot read {} {}: {}", subject, key,
                                                    path.lexically_normal().string(), why));
        secrets.emplace_back(base, "");
        continue;
      }
      while (!secret->empty() && (secret->back() == '\n' || secret->back() == '\r')) {
        secret->pop_back();
      }
      if (target->secret) note_secret_file(path, subject + " " + key);
      secrets.emplace_back(base, std::move(*secret));
    }
    for (auto& [key, value] : secrets) resolved[key] = value;
    settings = resolved;
  }

  // Resolves file keys and checks the settings against the plugin's table.
  // Errors without a position (a missing key) point at the entry. True when
  // the settings passed, so they can be handed to the plugin.
  bool check_settings(PluginEntry& entry, const std::vector<ConfigKey>& keys,
                      const std::string& subject, const std::vector<std::string>& own_keys) {
    // A secret written in the config (not ${ENV}, not *_file): the config's
    // own permissions must protect it.
    for (const auto& key : keys) {
      if (!key.secret || !entry.settings.IsMap()) continue;
      for (const auto& item : entry.settings) {
        if (item.first.IsScalar() && item.first.Scalar() == key.name && item.second.IsScalar() &&
            !item.second.Scalar().empty()) {
          note_inline_secret(item.second, subject + " " + key.name);
        }
      }
    }
    resolve_file_keys(entry.settings, keys, subject);
    // The loader's own keys are in the table only so a typo of them gets a
    // suggestion; they never reach the settings.
    std::vector<ConfigKey> table = keys;
    for (const auto& name : own_keys) table.push_back({name, KeyType::Int, false, false, ""});
    ConfigErrors found;
    found.file = errors_.file;
    check_plugin_keys(entry.settings, table, subject, found);
    for (auto& error : found.items) {
      if (error.line == 0) {
        error.line = entry.mark.line + 1;
        error.column = entry.mark.column + 1;
      }
      errors_.items.push_back(std::move(error));
    }
    return found.empty();
  }

  template <typename Kind>
  static std::vector<std::string> type_names(const std::vector<Kind>& kinds) {
    std::vector<std::string> names;
    for (const auto& kind : kinds) names.push_back(kind.type);
    return names;
  }

  void report_unknown_type(const PluginEntry& entry, const YAML::Node& list, std::size_t index,
                           const std::string& what, const std::vector<std::string>& known) {
    const YAML::Node type = list[index]["type"];
    add_at(errors_, type.Mark(), fmt::format("{} {}: unknown type {}{} (known types: {})", what,
                                         quote_value(entry.name), quote_value(entry.type),
                                         did_you_mean(entry.type, known), joined(known)));
  }

  std::optional<YAML::Node> plugin_list(const Section& top, const char* key) {
    auto node = top.get(key);
    if (!node) return std::nullopt;
    if (!node->IsSequence()) {
      add_at(errors_, node->Mark(), fmt::format("{} expects a list, found {}", key, describe(*node)));
      return std::nullopt;
    }
    return node;
  }

  void load_sources(const Section& top) {
    auto found = plugin_list(top, "sources");
    if (!found) return;
    const YAML::Node& list = *found;
    const std::vector<std::string> known = type_names(source_kinds());
    for (std::size_t i = 0; i < list.size(); ++i) {
      PluginEntry entry = split_entry(list[i], "source", i, {});
      if (!entry.ok) continue;
      const bool fresh = unique(source_names_, entry.name, list[i]["name"].Mark(), "source");
      const std::string subject = fmt::format("source {}", quote_value(entry.name));
      SourceConfig source{entry.name, entry.type, {}};
      if (const SourceKind* kind = find_source_kind(entry.type)) {
        if (check_settings(entry, kind->keys, subject, {"name", "type"})) {
          source.settings = to_plugin_settings(entry.settings);
        }
      } else {
        report_unknown_type(entry, list, i, "source", known);
      }
      if (fresh) config_.sources.push_back(std::move(source));
    }
  }

  void load_gateways(const Section& top) {
    auto found = plugin_list(top, "gateways");
    if (!found) return;
    const YAML::Node& list = *found;
    const std::vector<std::string> known = type_names(gateway_kinds());
    for (std::size_t i = 0; i < list.size(); ++i) {
      PluginEntry entry = split_entry(list[i], "gateway", i, kGatewayEngineKeys);
      if (!entry.ok) continue;
      const bool fresh = unique(gateway_names_, entry.name, list[i]["name"].Mark(), "gateway");
      const std::string subject = fmt::format("gateway {}", quote_value(entry.name));
      GatewayConfig gateway;
      gateway.name = entry.name;
      gateway.type = entry.type;
      // Flow control the dispatcher applies to every gateway kind.
      auto engine_int = [&](const char* key, long long min, long long max, int& target) {
        auto it = entry.engine.find(key);
        if (it == entry.engine.end()) return;
        if (auto value = read_int(it->second, subject + " " + key, min, max, errors_)) {
          target = static_cast<int>(*value);
        }
      };
      engine_int("max_in_flight", 1, 10000, gateway.max_in_flight);
      engine_int("max_per_second", 0, 100000, gateway.max_per_second);
      engine_int("burst", 1, 100000, gateway.burst);
      engine_int("circuit_failures", 0, 10000, gateway.circuit_failures);
      engine_int("max_segments", 1, 255, gateway.max_segments);
      if (auto it = entry.engine.find("circuit_cooldown"); it != entry.engine.end()) {
        if (auto value = read_duration(it->second, subject + " circuit_cooldown", errors_)) {
          gateway.circuit_cooldown = *value;
        }
      }
      if (auto it = entry.engine.find("circuit_max_cooldown"); it != entry.engine.end()) {
        if (auto value = read_duration(it->second, subject + " circuit_max_cooldown", errors_)) {
          gateway.circuit_max_cooldown = *value;
        }
      }
      if (const GatewayKind* kind = find_gateway_kind(entry.type)) {
        if (check_settings(entry, kind->keys, subject, kGatewayReservedKeys)) {
          gateway.settings = to_plugin_settings(entry.settings);
        }
      } else {
        report_unknown_type(entry, list, i, "gateway", known);
      }
      if (fresh) config_.gateways.push_back(std::move(gateway));
    }
  }

  bool unique(std::vector<std::string>& names, const std::string& name, const YAML::Mark& mark,
              const char* what) {
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      add_at(errors_, mark, fmt::format("{} {} is defined twice", what, quote_value(name)));
      return false;
    }
    names.push_back(name);
    return true;
  }

  // ---- channels and rules

  void load_channels(const Section& top) {
    auto channels = top.get("channels");
    if (!channels) return;
    if (!channels->IsMap()) {
      add_at(errors_, channels->Mark(), fmt::format("channels expects a map of channel names, found {}",
                                                describe(*channels)));
      return;
    }
    for (const auto& entry : *channels) {
      if (!entry.first.IsScalar() || !is_name(entry.first.Scalar())) {
        add_at(errors_, entry.first.Mark(),
                    fmt::format("channel name {} must use letters, digits, '_', '-' and '.'",
                                describe(entry.first)));
        continue;
      }
      const std::string& name = entry.first.Scalar();
      if (config_.channels.count(name)) {
        add_at(errors_, entry.first.Mark(),
                    fmt::format("channel {} is defined twice", quote_value(name)));
        continue;
      }
      const std::string subject = fmt::format("channel {}", quote_value(name));
      ChannelConfig channel{name, ChannelKind::Sms, {}};
      const Section fields(entry.second, subject,
                           {"kind", "gateways", "max_segments", "quiet_hours", "frequency_cap",
                            "transliterate"},
                           errors_);
      if (fields.valid()) {
        if (auto kind = fields.get("kind")) {
          if (auto value = read_string(*kind, subject + " kind", errors_)) {
            if (*value == "sms") {
              channel.kind = ChannelKind::Sms;
            } else if (*value == "email") {
              channel.kind = ChannelKind::Email;
            } else {
              add_at(errors_, kind->Mark(), fmt::format("{} kind expects sms or email, found {}",
                                                    subject, quote_value(*value)));
            }
          }
        } else {
          add_at(errors_, fields.mark(), fmt::format("{}: missing required key 'kind'", subject));
        }
        channel.quiet_hours = channel.kind == ChannelKind::Sms;
        if (auto quiet = fields.get("quiet_hours")) {
          if (auto value = read_bool(*quiet, subject + " quiet_hours", errors_)) {
            channel.quiet_hours = *value;
          }
        }
        if (auto cap = fields.get("frequency_cap")) load_frequency_cap(*cap, subject, channel);
        if (auto segments = fields.get("max_segments")) {
          if (channel.kind != ChannelKind::Sms) {
            add_at(errors_, segments->Mark(),
                   fmt::format("{} max_segments is for sms channels only", subject));
          } else if (auto value = read_int(*segments, subject + " max_segments", 1, 255, errors_)) {
            channel.max_segments = static_cast<int>(*value);
          }
        }
        if (auto node = fields.get("transliterate")) load_transliterate(*node, subject, channel);
        if (auto gateways = fields.get("gateways")) {
          load_channel_gateways(*gateways, subject, channel);
        } else {
          add_at(errors_, fields.mark(), fmt::format("{}: missing required key 'gateways'", subject));
        }
      }
      config_.channels.emplace(name, std::move(channel));
    }
  }

  // transliterate: [pl]: the languages of SMS texts moved into GSM-7.
  void load_transliterate(const YAML::Node& node, const std::string& subject,
                          ChannelConfig& channel) {
    const std::string what = subject + " transliterate";
    if (channel.kind != ChannelKind::Sms) {
      add_at(errors_, node.Mark(), fmt::format("{} is for sms channels only", what));
      return;
    }
    auto items = read_string_list(node, what, false, errors_);
    if (!items) return;
    for (const auto& item : *items) {
      if (!known_language(item.value)) {
        add_at(errors_, item.mark,
               fmt::format("{} expects languages such as pl or cs (the language of the SMS "
                           "text, without a region), found {}",
                           what, quote_value(item.value)));
      } else if (std::find(channel.transliterate.begin(), channel.transliterate.end(),
                           item.value) != channel.transliterate.end()) {
        add_at(errors_, item.mark, fmt::format("{}: {} is listed twice", what,
                                               quote_value(item.value)));
      } else {
        channel.transliterate.push_back(item.value);
      }
    }
  }

  void load_frequency_cap(const YAML::Node& node, const std::string& subject,
                          ChannelConfig& channel) {
    const std::string what = subject + " frequency_cap";
    const Section cap(node, what, {"max", "per"}, errors_);
    if (!cap.valid()) return;
    auto max = cap.get("max");
    auto per = cap.get("per");
    if (!max || !per) {
      add_at(errors_, node.Mark(), fmt::format("{} needs both max and per", what));
      return;
    }
    auto count = read_int(*max, what + ".max", 1, 1000000, errors_);
    auto window = read_duration(*per, what + ".per", errors_);
    if (window && window->count() <= 0) {
      add_at(errors_, per->Mark(), fmt::format("{}.per must be longer than 0", what));
      window.reset();
    }
    if (!count || !window) return;
    channel.cap_max = static_cast<int>(*count);
    channel.cap_per = *window;
    channel.cap_text = fmt::format("{} per {}", *count, per->Scalar());
  }

  void load_channel_gateways(const YAML::Node& node, const std::string& subject,
                             ChannelConfig& channel) {
    auto items = read_string_list(node, subject + " gateways", false, errors_);
    if (!items) return;
    if (items->empty()) {
      add_at(errors_, node.Mark(), fmt::format("{} has no gateways", subject));
      return;
    }
    for (const auto& item : *items) {
      if (std::find(gateway_names_.begin(), gateway_names_.end(), item.value) ==
          gateway_names_.end()) {
        add_at(errors_, item.mark,
                    fmt::format("{}: gateway {} is not defined{}", subject, quote_value(item.value),
                                did_you_mean(item.value, gateway_names_)));
      } else if (std::find(channel.gateways.begin(), channel.gateways.end(), item.value) !=
                 channel.gateways.end()) {
        add_at(errors_, item.mark, fmt::format("{}: gateway {} is listed twice", subject,
                                           quote_value(item.value)));
      } else {
        channel.gateways.push_back(item.value);
      }
    }
  }

  std::vector<std::string> channel_names() const {
    std::vector<std::string> names;
    for (const auto& [name, channel] : config_.channels) names.push_back(name);
    return names;
  }

  std::vector<std::string> known_statuses() const {
    std::vector<std::string> names = config_.statuses.order;
    names.insert(names.end(), config_.statuses.terminal.begin(), config_.statuses.terminal.end());
    return names;
  }

  void load_rules(const Section& top) {
    auto rules = top.get("rules");
    if (!rules) return;
    if (!rules->IsSequence()) {
      add_at(errors_, rules->Mark(), fmt::format("rules expects a list, found {}", describe(*rules)));
      return;
    }
    std::set<std::string> names;
    for (std::size_t i = 0; i < rules->size(); ++i) {
      const YAML::Node node = (*rules)[i];
      std::string subject = fmt::format("rule #{}", i + 1);
      const Section fields(node, subject,
                           {"name", "on", "when", "template", "channels", "fallback", "ttl",
                            "after", "before", "from", "at", "unless", "supersede", "purpose",
                            "urgent", "to", "ignore_opt_out"},
                           errors_);
      if (!fields.valid()) continue;
      if (node.IsNull()) {
        add_at(errors_, node.Mark(), fmt::format("{} is empty", subject));
        continue;
      }
      RuleConfig rule;
      auto required = [&](const char* key) {
        auto value = fields.get(key);
        if (!value) {
          add_at(errors_, fields.mark(), fmt::format("{}: missing required key '{}'", subject, key));
        }
        return value;
      };
      if (auto name = required("name")) {
        if (auto value = read_string(*name, subject + " name", errors_)) {
          if (!is_name(*value)) {
            add_at(errors_, name->Mark(), fmt::format("rule name {} must use letters, digits, '_', "
                                                  "'-' and '.'",
                                                  quote_value(*value)));
          } else if (!names.insert(*value).second) {
            add_at(errors_, name->Mark(), fmt::format("rule {} is defined twice", quote_value(*value)));
          } else {
            rule.name = *value;
            subject = fmt::format("rule {}", quote_value(rule.name));
          }
        }
      }
      if (auto on = required("on")) load_rule_statuses(*on, subject, rule);
      if (auto when = fields.get("when")) load_conditions(*when, subject, rule);
      if (auto name = required("template")) load_rule_template(*name, subject, rule);
      if (auto channels = required("channels")) {
        if (auto items = read_string_list(*channels, subject + " channels", false, errors_)) {
          if (items->empty()) {
            add_at(errors_, channels->Mark(), fmt::format("{} has no channels", subject));
          }
          for (const auto& item : *items) {
            if (!defined_channel(item, subject)) continue;
            if (std::find(rule.channels.begin(), rule.channels.end(), item.value) !=
                rule.channels.end()) {
              add_at(errors_, item.mark, fmt::format("{}: channel {} is listed twice", subject,
                                                 quote_value(item.value)));
            } else {
              rule.channels.push_back(item.value);
            }
          }
        }
      }
      if (auto fallback = fields.get("fallback")) {
        if (auto value = read_string(*fallback, subject + " fallback", errors_)) {
          if (defined_channel({*value, fallback->Mark()}, subject)) rule.fallback_channel = *value;
        }
      }
      if (auto ttl = fields.get("ttl")) {
        if (auto value = read_duration(*ttl, subject + " ttl", errors_)) rule.ttl = *value;
      }
      load_rule_time(fields, subject, rule);
      config_.rules.push_back(std::move(rule));
    }
  }

  // after, before, from, at, unless, supersede, purpose, urgent, to (issue 16)
  void load_rule_time(const Section& fields, const std::string& subject, RuleConfig& rule) {
    auto after = fields.get("after");
    auto before = fields.get("before");
    if (after && before) {
      add_at(errors_, before->Mark(), fmt::format("{}: give after or before, not both", subject));
    } else if (after) {
      if (auto value = read_duration(*after, subject + " after", errors_)) rule.after = *value;
    } else if (before) {
      if (auto value = read_duration(*before, subject + " before", errors_)) rule.after = -*value;
    }
    if (auto from = fields.get("from")) {
      if (auto value = read_string(*from, subject + " from", errors_)) {
        if (value->empty() || value->find_first_of(" \t") != std::string::npos) {
          add_at(errors_, from->Mark(),
                 fmt::format("{} from expects a dotted field path such as delivery.window_end, "
                             "found {}",
                             subject, quote_value(*value)));
        } else {
          rule.from = *value;
        }
      }
    } else if (before) {
      add_at(errors_, before->Mark(),
             fmt::format("{}: before needs from (the time it is before, such as "
                         "data.invoice_due)",
                         subject));
    }
    if (auto at = fields.get("at")) {
      std::optional<int> minute;
      if (at->IsScalar()) minute = parse_time_of_day(at->Scalar());
      if (!minute) {
        add_at(errors_, at->Mark(),
               fmt::format("{} at expects a time of day such as \"10:00\", found {}", subject,
                           describe(*at)));
      } else {
        rule.at_minute = minute;
      }
    }
    if (auto unless = fields.get("unless")) {
      if (auto items = read_string_list(*unless, subject + " unless", true, errors_)) {
        for (const auto& item : *items) {
          if (!config_.statuses.known(item.value)) {
            add_at(errors_, item.mark,
                   fmt::format("{}: unless names unknown status {}{}", subject,
                               quote_value(item.value), did_you_mean(item.value, known_statuses())));
          } else {
            rule.unless.push_back(item.value);
          }
        }
      }
    }
    rule.supersede = rule.delayed() ? SupersedePolicy::Never : SupersedePolicy::NewerStatus;
    if (auto supersede = fields.get("supersede")) {
      std::optional<SupersedePolicy> policy;
      if (supersede->IsScalar()) policy = parse_supersede_policy(supersede->Scalar());
      if (!policy) {
        add_at(errors_, supersede->Mark(),
               fmt::format("{} supersede expects newer_status or never, found {}", subject,
                           describe(*supersede)));
      } else {
        rule.supersede = *policy;
      }
    }
    if (auto purpose = fields.get("purpose")) {
      const std::string value = purpose->IsScalar() ? purpose->Scalar() : std::string();
      if (value == "transactional") {
        rule.purpose = RuleConfig::Purpose::Transactional;
      } else if (value == "marketing") {
        rule.purpose = RuleConfig::Purpose::Marketing;
      } else {
        add_at(errors_, purpose->Mark(),
               fmt::format("{} purpose expects transactional or marketing, found {}", subject,
                           describe(*purpose)));
      }
    }
    if (auto urgent = fields.get("urgent")) {
      if (auto value = read_bool(*urgent, subject + " urgent", errors_)) rule.urgent = *value;
    }
    if (auto ignore = fields.get("ignore_opt_out")) {
      if (auto value = read_bool(*ignore, subject + " ignore_opt_out", errors_)) {
        if (*value && rule.purpose == RuleConfig::Purpose::Marketing) {
          add_at(errors_, ignore->Mark(),
                 fmt::format("{}: marketing never ignores an opt-out (ignore_opt_out is for a "
                             "transactional rule)",
                             subject));
        } else {
          rule.ignore_opt_out = *value;
        }
      }
    }
    if (auto to = fields.get("to")) {
      if (auto value = read_string(*to, subject + " to", errors_)) {
        if (value->empty()) {
          add_at(errors_, to->Mark(), fmt::format("{} to is empty", subject));
        } else {
          rule.to = *value;
          const bool email = value->find('@') != std::string::npos;
          for (const auto& name : rule.channels) {
            const ChannelConfig* channel = config_.channel(name);
            if (channel && (channel->kind == ChannelKind::Email) != email) {
              add_at(errors_, to->Mark(),
                     fmt::format("{}: to {} is {}, but channel {} is {}", subject,
                                 quote_value(*value), email ? "an e-mail address" : "a phone number",
                                 quote_value(name), to_string(channel->kind)));
            }
          }
          if (rule.purpose == RuleConfig::Purpose::Marketing) {
            add_at(errors_, to->Mark(),
                   fmt::format("{}: a rule with a fixed recipient (to) is for the shop's own "
                               "people and cannot be marketing",
                               subject));
          }
        }
      }
    }
  }

  bool defined_channel(const Located& name, const std::string& subject) {
    if (config_.channels.count(name.value)) return true;
    add_at(errors_, name.mark,
                fmt::format("{}: channel {} is not defined{}", subject, quote_value(name.value),
                            did_you_mean(name.value, channel_names())));
    return false;
  }

  void load_rule_statuses(const YAML::Node& node, const std::string& subject, RuleConfig& rule) {
    auto items = read_string_list(node, subject + " on", true, errors_);
    if (!items) return;
    if (items->empty()) {
      add_at(errors_, node.Mark(), fmt::format("{}: 'on' names no status", subject));
    }
    for (const auto& item : *items) {
      if (!config_.statuses.known(item.value)) {
        add_at(errors_, item.mark,
                    fmt::format("{}: unknown status {}{}", subject, quote_value(item.value),
                                did_you_mean(item.value, known_statuses())));
      } else if (std::find(rule.statuses.begin(), rule.statuses.end(), item.value) !=
                 rule.statuses.end()) {
        add_at(errors_, item.mark,
                    fmt::format("{}: status {} is listed twice", subject, quote_value(item.value)));
      } else {
        rule.statuses.push_back(item.value);
      }
    }
  }

  void load_rule_template(const YAML::Node& node, const std::string& subject, RuleConfig& rule) {
    auto value = read_string(node, subject + " template", errors_);
    if (!value) return;
    // The name becomes a file name; no folder may sneak in.
    if (!is_name(*value) || value->find("..") != std::string::npos) {
      add_at(errors_, node.Mark(), fmt::format("{}: template name {} must use letters, digits, '_', "
                                           "'-' and '.'",
                                           subject, quote_value(*value)));
      return;
    }
    rule.template_name = *value;
    // A missing folder is reported once, by load_templates.
    if (!template_dir_ok_) return;
    const fs::path file = fs::path(config_.template_dir) / (*value + ".yaml");
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
      add_at(errors_, node.Mark(), fmt::format("{}: template {} not found (no file {})", subject,
                                           quote_value(*value), file.string()));
    }
  }

  void load_conditions(const YAML::Node& node, const std::string& subject, RuleConfig& rule) {
    if (!node.IsSequence()) {
      add_at(errors_, node.Mark(), fmt::format("{} when expects a list of conditions, found {}",
                                           subject, describe(node)));
      return;
    }
    static const std::vector<std::string> kOps{"equals", "not_equals", "in", "not_in", "exists"};
    std::vector<std::string> allowed = kOps;
    allowed.insert(allowed.begin(), "field");
    for (const auto& item : node) {
      const std::string what = subject + " condition";
      const Section fields(item, what, allowed, errors_);
      if (!fields.valid()) continue;
      Condition condition;
      if (auto field = fields.get("field")) {
        if (auto value = read_string(*field, what + " field", errors_)) {
          if (is_field_path(*value)) {
            condition.field = *value;
          } else {
            add_at(errors_, field->Mark(), fmt::format("{} field expects a dotted path such as "
                                                   "customer.tier, found {}",
                                                   what, quote_value(*value)));
          }
        }
      } else {
        add_at(errors_, fields.mark(), fmt::format("{}: missing required key 'field'", what));
      }
      std::vector<std::string> given;
      for (const auto& op : kOps) {
        if (fields.get(op)) given.push_back(op);
      }
      if (given.size() != 1) {
        add_at(errors_, fields.mark(), given.empty()
                                       ? fmt::format("{} needs one of {}", what, joined(kOps))
                                       : fmt::format("{} has more than one test ({}); give one",
                                                     what, joined(given)));
        continue;
      }
      const std::string& op = given.front();
      const YAML::Node value = *fields.get(op);
      if (op == "equals" || op == "not_equals") {
        condition.op = op == "equals" ? Condition::Op::Equals : Condition::Op::NotEquals;
        if (auto text = read_string(value, what + " " + op, errors_)) {
          condition.values.push_back(*text);
        }
      } else if (op == "in" || op == "not_in") {
        condition.op = op == "in" ? Condition::Op::In : Condition::Op::NotIn;
        if (auto items = read_string_list(value, what + " " + op, false, errors_)) {
          if (items->empty()) {
            add_at(errors_, value.Mark(), fmt::format("{} {} lists no values", what, op));
          }
          for (const auto& entry : *items) condition.values.push_back(entry.value);
        }
      } else {
        std::optional<bool> exists;
        if (value.IsScalar()) exists = parse_bool(value.Scalar());
        if (!exists) {
          add_at(errors_, value.Mark(), fmt::format("{} exists expects true or false, found {}", what,
                                                describe(value)));
        } else {
          condition.op = *exists ? Condition::Op::Exists : Condition::Op::Missing;
        }
      }
      rule.when.push_back(std::move(condition));
    }
  }

  static bool is_field_path(const std::string& path) {
    std::size_t start = 0;
    while (true) {
      const std::size_t dot = path.find('.', start);
      const std::string part = path.substr(start, dot - start);
      if (part.empty() || !std::all_of(part.begin(), part.end(), [](unsigned char c) {
            return std::isalnum(c) || c == '_' || c == '-';
          })) {
        return false;
      }
      if (dot == std::string::npos) return true;
      start = dot + 1;
    }
  }

  ConfigErrors& errors_;
  Config config_;
  fs::path config_dir_;
  bool template_dir_ok_ = false;
  bool reported_nesting_ = false;
  std::unordered_multimap<int, YAML::Node> visited_;
  std::vector<YAML::Mark> failed_values_;
  struct Substitution {
    YAML::Mark mark;
    std::string written;
    std::string value;
  };
  std::vector<Substitution> from_environment_;
  std::vector<std::string> source_names_;
  std::vector<std::string> gateway_names_;
};

void check_value_type(const YAML::Node& value, const ConfigKey& key, const std::string& what,
                      ConfigErrors& errors) {
  const std::string subject = fmt::format("{}: key '{}'", what, key.name);
  const std::string found = describe(value, key.secret);
  switch (key.type) {
    case KeyType::String:
      if (!value.IsScalar()) {
        add_at(errors, value.Mark(), fmt::format("{} expects text, found {}", subject, found));
      }
      break;
    case KeyType::Int:
      if (!value.IsScalar() || !parse_int(value.Scalar())) {
        add_at(errors, value.Mark(),
                   fmt::format("{} expects a whole number, found {}", subject, found));
      }
      break;
    case KeyType::Bool:
      if (!value.IsScalar() || !parse_bool(value.Scalar())) {
        add_at(errors, value.Mark(), fmt::format("{} expects true or false, found {}", subject, found));
      }
      break;
    case KeyType::Duration:
      if (!value.IsScalar() || !parse_duration(value.Scalar())) {
        add_at(errors, value.Mark(),
                   fmt::format("{} expects {}, found {}", subject, kDurationHelp, found));
      }
      break;
    case KeyType::StringMap:
      if (value.IsNull()) break;  // `headers:` with nothing below is an empty map
      if (!value.IsMap()) {
        add_at(errors, value.Mark(), fmt::format("{} expects a map, found {}", subject, found));
        break;
      }
      for (const auto& entry : value) {
        if (!entry.first.IsScalar() || !entry.second.IsScalar()) {
          add_at(errors, entry.first.Mark(),
                     fmt::format("{} expects a map of text values, found {} in it", subject,
                                 describe(entry.first.IsScalar() ? entry.second : entry.first,
                                          key.secret)));
        }
      }
      break;
    case KeyType::StringList:
      if (value.IsNull()) break;
      if (!value.IsSequence()) {
        add_at(errors, value.Mark(), fmt::format("{} expects a list, found {}", subject, found));
        break;
      }
      for (const auto& item : value) {
        if (!item.IsScalar()) {
          add_at(errors, item.Mark(), fmt::format("{} expects a list of text values, found {} in it",
                                              subject, describe(item, key.secret)));
        }
      }
      break;
  }
}

// Sees where each document of a stream starts, and nothing else.
class DocumentStarts : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// Where a second document starts, if the stream has one. yaml-cpp 0.7's
// LoadAll loops forever, allocating, on a stray ',' that starts a document
// (jbeder/yaml-cpp#1040, fixed upstream in #1319), so the stream is asked
// for two documents at most.
std::optional<YAML::Mark> second_document(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts starts;
  if (!parser.HandleNextDocument(starts) || !parser.HandleNextDocument(starts)) {
    return std::nullopt;
  }
  return starts.starts.back();
}

void sort_by_position(ConfigErrors& errors) {
  std::stable_sort(errors.items.begin(), errors.items.end(),
                   [](const ConfigError& a, const ConfigError& b) {
                     return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                   });
}

}  // namespace

// ------------------------------------------------------------------ errors

std::optional<std::string> closest_word(const std::string& word,
                                        const std::vector<std::string>& candidates) {
  // Hostile input may hold megabyte-long keys; no typo is that long.
  if (word.size() > 64) return std::nullopt;
  const std::size_t allowed = std::clamp<std::size_t>(word.size() / 3, 1, 3);
  const std::string* best = nullptr;
  std::size_t best_distance = allowed + 1;
  for (const auto& candidate : candidates) {
    const std::size_t distance = edit_distance(word, candidate);
    if (distance < best_distance) {
      best = &candidate;
      best_distance = distance;
    }
  }
  if (!best) return std::nullopt;
  return *best;
}

std::string ConfigError::to_string() const {
  std::string prefix = file;
  if (line > 0) prefix += fmt::format("{}{}:{}", prefix.empty() ? "" : ":", line, column);
  return prefix.empty() ? message : prefix + ": " + message;
}

void ConfigErrors::add(int line, int column, std::string message) {
  items.push_back({file, line > 0 ? line : 0, line > 0 ? column : 0, std::move(message)});
}

void add_at(ConfigErrors& errors, const YAML::Mark& mark, std::string message) {
  if (mark.is_null() || mark.line < 0) {
    errors.add(std::move(message));
  } else {
    errors.add(mark.line + 1, mark.column + 1, std::move(message));
  }
}

void ConfigErrors::add(std::string message) {
  items.push_back({file, 0, 0, std::move(message)});
}

std::string ConfigErrors::to_string() const {
  std::string text;
  for (const auto& item : items) text += item.to_string() + "\n";
  return text;
}

// ------------------------------------------------------------------ values

std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return std::nullopt;
  std::int64_t amount = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + digits, amount);
  if (ec != std::errc{}) return std::nullopt;

  const std::string_view unit = std::string_view(text).substr(digits);
  std::int64_t factor = 0;
  if (unit == "ms") {
    factor = 1;
  } else if (unit == "s" || unit.empty()) {
    factor = 1000;
  } else if (unit == "m") {
    factor = 60 * 1000;
  } else if (unit == "h") {
    factor = 60 * 60 * 1000;
  } else if (unit == "d") {
    factor = 24 * 60 * 60 * 1000;
  } else {
    return std::nullopt;
  }
  if (amount > std::numeric_limits<std::int64_t>::max() / factor) return std::nullopt;
  return std::chrono::milliseconds(amount * factor);
}

std::string to_string(RetentionPolicy::Action action) {
  switch (action) {
    case RetentionPolicy::Action::Anonymise: return "anonymise";
    case RetentionPolicy::Action::Delete: return "delete";
    case RetentionPolicy::Action::Off: return "off";
  }
  return "off";
}

bool StatusOrder::known(const std::string& status) const {
  return rank(status) >= 0 || is_side(status);
}

bool StatusOrder::is_side(const std::string& status) const {
  return std::find(side.begin(), side.end(), status) != side.end();
}

const DailyWindow& QuietHours::window_for(const std::string& country) const {
  auto it = countries.find(country);
  return it == countries.end() ? allowed : it->second;
}

int StatusOrder::rank(const std::string& status) const {
  auto it = std::find(order.begin(), order.end(), status);
  if (it != order.end()) return static_cast<int>(it - order.begin());
  auto terminal_it = std::find(terminal.begin(), terminal.end(), status);
  if (terminal_it != terminal.end()) {
    return static_cast<int>(order.size() + (terminal_it - terminal.begin()));
  }
  return -1;
}

bool StatusOrder::is_terminal(const std::string& status) const {
  return std::find(terminal.begin(), terminal.end(), status) != terminal.end();
}

const GatewayConfig* Config::gateway(const std::string& name) const {
  for (const auto& gateway : gateways) {
    if (gateway.name == name) return &gateway;
  }
  return nullptr;
}

const ChannelConfig* Config::channel(const std::string& name) const {
  auto it = channels.find(name);
  return it == channels.end() ? nullptr : &it->second;
}

// ------------------------------------------------------------------ plugins

void check_plugin_keys(const YAML::Node& settings, const std::vector<ConfigKey>& keys,
                       const std::string& what, ConfigErrors& errors) {
  std::set<std::string> seen;
  if (settings.IsDefined() && !settings.IsNull()) {
    if (!settings.IsMap()) {
      add_at(errors, settings.Mark(),
                 fmt::format("{} expects a map of settings, found {}", what, describe(settings)));
      return;
    }
    std::vector<std::string> candidates;
    for (const auto& key : keys) {
      candidates.push_back(key.name);
      if (key.secret) candidates.push_back(key.name + "_file");
    }
    for (const auto& entry : settings) {
      if (!entry.first.IsScalar()) {
        add_at(errors, entry.first.Mark(), fmt::format("{}: keys must be plain names", what));
        continue;
      }
      const std::string& name = entry.first.Scalar();
      auto key = std::find_if(keys.begin(), keys.end(),
                              [&](const ConfigKey& k) { return k.name == name; });
      if (key == keys.end()) {
        add_at(errors, entry.first.Mark(), fmt::format("{}: unknown key {}{}", what, quote_value(name),
                                                   did_you_mean(name, candidates)));
        continue;
      }
      if (!seen.insert(name).second) {
        add_at(errors, entry.first.Mark(),
                   fmt::format("{}: duplicate key {}", what, quote_value(name)));
        continue;
      }
      check_value_type(entry.second, *key, what, errors);
    }
  }
  for (const auto& key : keys) {
    if (key.required && !seen.count(key.name)) {
      add_at(errors, settings.Mark(),
                 fmt::format("{}: missing required key {}", what, quote_value(key.name)));
    }
  }
}

PluginSettings to_plugin_settings(const YAML::Node& settings) {
  PluginSettings out;
  if (!settings.IsDefined() || settings.IsNull()) return out;
  if (!settings.IsMap()) throw std::runtime_error("plugin settings must be a map");
  for (const auto& entry : settings) {
    if (!entry.first.IsScalar()) throw std::runtime_error("setting names must be plain names");
    const std::string& key = entry.first.Scalar();
    const YAML::Node& node = entry.second;
    if (!node.IsDefined() || node.IsNull()) continue;
    SettingValue value;
    auto at = [&out](std::string name, const YAML::Mark& mark) {
      if (mark.line >= 0) out.set_position(std::move(name), {mark.line + 1, mark.column + 1});
    };
    at(key, entry.first.Mark());
    if (node.IsScalar()) {
      value.text = node.Scalar();
    } else if (node.IsSequence()) {
      value.shape = SettingValue::Shape::List;
      for (const auto& item : node) {
        if (!item.IsScalar()) throw std::runtime_error(key + ": list items must be text");
        value.list.push_back(item.Scalar());
      }
    } else if (node.IsMap()) {
      value.shape = SettingValue::Shape::Map;
      for (const auto& item : node) {
        if (!item.first.IsScalar() || !item.second.IsScalar()) {
          throw std::runtime_error(key + ": map values must be text");
        }
        value.map.emplace_back(item.first.Scalar(), item.second.Scalar());
        at(key + "." + item.first.Scalar(), item.first.Mark());
      }
    } else {
      throw std::runtime_error(key + ": unsupported value");
    }
    out.set(key, std::move(value));
  }
  return out;
}

PluginSettings plugin_settings_from_yaml(const std::string& text) {
  try {
    return to_plugin_settings(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    throw std::runtime_error("settings: " + e.msg);
  }
}

// ------------------------------------------------------------------ loading

namespace {
// The config's text parsed as one YAML document and handed to `load_root`
// (the whole config, or the store's part). Nothing may escape: a hostile or
// broken config is a list of errors. `whole`: a second document is an
// error too (the store's part reads only what it needs).
template <typename Result, typename LoadRoot>
Result parse_config(const std::string& text, const std::string& path_for_errors, bool whole,
                    LoadRoot load_root) {
  Result result;
  ConfigErrors& errors = result.errors;
  errors.file = path_for_errors;
  try {
    if (text.size() > kMaxConfigBytes) {
      errors.add(fmt::format("the config is larger than {} bytes", kMaxConfigBytes));
      return result;
    }
    YAML::Node root;
    std::optional<YAML::Mark> second;
    try {
      root = YAML::Load(text);
      if (whole && !root.IsNull()) second = second_document(text);
    } catch (const YAML::DeepRecursion& e) {
      // yaml-cpp 0.7 words this one "bad file".
      add_at(errors, e.mark, "YAML syntax error: nested too deeply");
      return result;
    } catch (const YAML::Exception& e) {
      add_at(errors, e.mark, "YAML syntax error: " + e.msg);
      return result;
    }
    if (root.IsNull()) {
      errors.add("the config is empty");
      return result;
    }
    if (second) add_at(errors, *second, "the config must be one YAML document, found a second");
    Loader loader(path_for_errors, errors);
    auto loaded = load_root(loader, root);
    sort_by_position(errors);
    if (errors.empty()) result.config = std::move(loaded);
  } catch (const YAML::Exception& e) {
    add_at(errors, e.mark, e.msg);
  } catch (const std::exception& e) {
    errors.add(std::string("cannot load the config: ") + e.what());
  } catch (...) {
    errors.add("cannot load the config");
  }
  if (!errors.empty()) result.config.reset();
  return result;
}
}  // namespace

ConfigLoad load_config_text(const std::string& text, const std::string& path_for_errors) {
  return parse_config<ConfigLoad>(text, path_for_errors, true,
                                  [](Loader& loader, const YAML::Node& root) {
                                    return loader.load(root);
                                  });
}

namespace {
// The config file's text, read within kMaxConfigBytes, handed to `load`;
// a file that cannot be read is one error.
template <typename Result>
Result read_and_load(const std::string& path,
                     Result (*load)(const std::string& text, const std::string& path)) {
  Result result;
  result.errors.file = path;
  try {
    std::string why;
    auto text = read_whole_file(path, kMaxConfigBytes, why);
    if (!text) {
      result.errors.add("cannot read the config: " + why);
      return result;
    }
    return load(*text, path);
  } catch (const std::exception& e) {
    result.errors.add(std::string("cannot read the config: ") + e.what());
  } catch (...) {
    result.errors.add("cannot read the config");
  }
  return result;
}
}  // namespace

ConfigLoad load_config(const std::string& path) {
  return read_and_load<ConfigLoad>(path, load_config_text);
}

// ------------------------------------------------ the store's part alone

StoreConfigLoad load_store_config_text(const std::string& text, const std::string& path_for_errors) {
  return parse_config<StoreConfigLoad>(text, path_for_errors, false,
                                       [](Loader& loader, const YAML::Node& root) {
                                         return loader.load_store_part(root);
                                       });
}

StoreConfigLoad load_store_config(const std::string& path) {
  return read_and_load<StoreConfigLoad>(path, load_store_config_text);
}

}  // namespace tack
