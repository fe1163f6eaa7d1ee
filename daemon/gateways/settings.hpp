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

  bool has(const std::string& key) const { return config_.settings.has(key); }

  std::string string(const std::string& key, const std::string& fallback = {}) const {
    const SettingValue* value = config_.settings.find(key);
    if (!value) return fallback;
    if (value->shape != SettingValue::Shape::Text) fail(key, "must be a string");
    return value->text;
  }

  std::string required(const std::string& key) const {
    std::string value = string(key);
    if (value.empty()) fail(key, "is required");
    return value;
  }

  bool boolean(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    const auto value = parse_bool(string(key));
    if (!value) fail(key, "must be true or false");
    return *value;
  }

  std::chrono::milliseconds duration(const std::string& key,
                                     std::chrono::milliseconds fallback) const {
    if (!has(key)) return fallback;
    const auto value = parse_duration(string(key));
    if (!value) fail(key, "is not a duration (like 250ms, 10s, 5m)");
    return *value;
  }

  Pairs map(const std::string& key) const {
    const SettingValue* value = config_.settings.find(key);
    if (!value) return {};
    if (value->shape != SettingValue::Shape::Map) fail(key, "must be a map of names to strings");
    return value->map;
  }

  std::vector<std::string> list(const std::string& key) const {
    const SettingValue* value = config_.settings.find(key);
    if (!value) return {};
    if (value->shape != SettingValue::Shape::List) fail(key, "must be a list of strings");
    return value->list;
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
