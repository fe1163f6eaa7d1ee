// channel: the kinds of channel a message goes out on. A plain value shared
// by config, rendering, the store and the gateways, so that none of them
// needs the config loader (and yaml-cpp) for it.
#pragma once

#include <string>

namespace tack {

enum class ChannelKind { Sms, Email };

inline std::string to_string(ChannelKind kind) {
  switch (kind) {
    case ChannelKind::Sms: return "sms";
    case ChannelKind::Email: return "email";
  }
  return "unknown";
}

}  // namespace tack
