// gateways/settings: reading one gateway's settings, for the kinds'
// factories. The loader has already checked key names and types against
// the kind's key table; these checks are the values', and every error
// names the gateway and the key. Also the keys several kinds share.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "config.hpp"
#include "mime.hpp"

namespace tack {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// Settings of one gateway, with errors that name it. The loader has
// already checked key names and types; these checks are the values'.
class GatewaySettings {
 public:
  explicit GatewaySettings(const GatewayConfig& config) : config_(config) {}

  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw std::runtime_error("gateway \"" + config_.name + "\": " + key + ": " + problem);
  }

  bool has(const std::string& key) const {
    return config_.settings.IsMap() && config_.settings[key] && !config_.settings[key].IsNull();
  }

  std::string string(const std::string& key, const std::string& fallback = {}) const {
    if (!has(key)) return fallback;
    const YAML::Node node = config_.settings[key];
    if (!node.IsScalar()) fail(key, "must be a string");
    return node.as<std::string>();
  }

  std::string required(const std::string& key) const {
    std::string value = string(key);
    if (value.empty()) fail(key, "is required");
    return value;
  }

  bool boolean(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    try {
      return config_.settings[key].as<bool>();
    } catch (const YAML::Exception&) {
      fail(key, "must be true or false");
    }
  }

  std::chrono::milliseconds duration(const std::string& key,
                                     std::chrono::milliseconds fallback) const {
    if (!has(key)) return fallback;
    const auto value = parse_duration(string(key));
    if (!value) fail(key, "is not a duration (like 250ms, 10s, 5m)");
    return *value;
  }

  Pairs map(const std::string& key) const {
    Pairs pairs;
    if (!has(key)) return pairs;
    const YAML::Node node = config_.settings[key];
    if (!node.IsMap()) fail(key, "must be a map of names to strings");
    for (const auto& entry : node) {
      if (!entry.second.IsScalar())
        fail(key + "." + entry.first.as<std::string>(), "must be a string");
      pairs.emplace_back(entry.first.as<std::string>(), entry.second.as<std::string>());
    }
    return pairs;
  }

  std::vector<std::string> list(const std::string& key) const {
    std::vector<std::string> items;
    if (!has(key)) return items;
    const YAML::Node node = config_.settings[key];
    if (!node.IsSequence()) fail(key, "must be a list of strings");
    for (const auto& item : node) items.push_back(item.as<std::string>());
    return items;
  }

  Mailbox mailbox(const std::string& key) const {
    const MailboxParse parse = parse_mailbox(string(key));
    if (!parse.mailbox) fail(key, parse.error);
    return *parse.mailbox;
  }

 private:
  const GatewayConfig& config_;
};

// Keys that several kinds take, said once.
inline ConfigKey connect_timeout_key() {
  return {"connect_timeout", KeyType::Duration, false, false,
          "how long to wait for a connection (default 10s)"};
}
inline ConfigKey verify_tls_key() {
  return {"verify_tls", KeyType::Bool, false, false,
          "check the server's certificate (default true)"};
}
inline ConfigKey ca_file_key() {
  return {"ca_file", KeyType::String, false, false, "extra CA bundle (PEM) to trust"};
}

}  // namespace tack
