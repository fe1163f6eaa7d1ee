// config_yaml: the config loader's YAML side, for config.cpp and its unit
// tests only. Everything else gets the loaded Config, PluginSettings and
// ConfigErrors, none of which carries a YAML type, so only config.cpp (and
// render.cpp, for the template files) compiles against yaml-cpp.
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config_errors.hpp"
#include "plugin_settings.hpp"

namespace tack {

// An error at a parser position (a null mark: no position).
void add_at(ConfigErrors& errors, const YAML::Mark& mark, std::string message);

// Checks a plugin's settings node against its key table: reports unknown
// keys, missing required keys and wrong types. `*_file` variants of secret
// keys have already been resolved by the loader.
void check_plugin_keys(const YAML::Node& settings, const std::vector<ConfigKey>& keys,
                       const std::string& what, ConfigErrors& errors);

// A settings node as the plugin gets it: scalars as text, sequences of
// scalars as lists, maps of scalars as ordered maps; an empty value is no
// value. Throws std::runtime_error for any other shape (the loader calls it
// only on settings that passed check_plugin_keys).
PluginSettings to_plugin_settings(const YAML::Node& settings);

}  // namespace tack
