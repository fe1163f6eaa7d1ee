// plugin_settings: a plugin's own settings (one source's, one gateway's) and
// the key table that says which it takes.
//
// A plugin kind declares its keys (ConfigKey: name, type, required, secret,
// help) in its registry entry; the config loader checks an entry's settings
// against that table (unknown keys, missing required keys, wrong types, all
// reported with positions) and hands the plugin a PluginSettings: each key's
// value as text, a list of texts or an ordered map of names to texts, which
// are all the shapes a key table allows. No YAML reaches a plugin; a plugin
// checks what the values mean (gateways/settings.hpp). Settings compare
// equal when every key has the same value, which is how a reload tells a
// changed gateway from an unchanged one; where the keys are written (kept
// for `tackd check`'s warnings, lint.hpp) is not part of that.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tack {

// One key a plugin accepts, for validation and `tackd check`.
enum class KeyType { String, Int, Bool, Duration, StringMap, StringList };
struct ConfigKey {
  std::string name;
  KeyType type = KeyType::String;
  bool required = false;
  bool secret = false;  // never printed; may be given as NAME_file
  std::string help;
};

struct SettingValue {
  enum class Shape { Text, List, Map };
  Shape shape = Shape::Text;
  std::string text;                                      // Text
  std::vector<std::string> list;                         // List
  std::vector<std::pair<std::string, std::string>> map;  // Map, in the config's order
  bool operator==(const SettingValue&) const = default;
};

class PluginSettings {
 public:
  // The value of `key`, or null when the key is absent or was left empty.
  const SettingValue* find(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? nullptr : &it->second;
  }
  bool has(const std::string& key) const { return find(key) != nullptr; }
  void set(std::string key, SettingValue value) { values_[std::move(key)] = std::move(value); }
  void set_text(std::string key, std::string text) {
    set(std::move(key), SettingValue{SettingValue::Shape::Text, std::move(text), {}, {}});
  }
  const std::map<std::string, SettingValue>& values() const { return values_; }
  bool operator==(const PluginSettings& other) const { return values_ == other.values_; }

  // Where a key is written in the config, 1-based: "url" for a key,
  // "form.from" for an entry of a map value. {0, 0} when not known (a test's
  // settings, a secret read from a *_file).
  struct Position {
    int line = 0;
    int column = 0;
  };
  Position position(const std::string& key) const {
    auto it = positions_.find(key);
    return it == positions_.end() ? Position{} : it->second;
  }
  void set_position(std::string key, Position position) {
    positions_[std::move(key)] = position;
  }

 private:
  std::map<std::string, SettingValue> values_;
  std::map<std::string, Position> positions_;
};

// Settings from YAML text (a map of keys), read the way the loader reads a
// plugin's part of tack.yaml, without checking them against a key table:
// for tests and tools. Throws std::runtime_error on text that is not a map
// of such values.
PluginSettings plugin_settings_from_yaml(const std::string& text);

}  // namespace tack
