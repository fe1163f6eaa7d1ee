// quiet_hours: whether a message may go out now, or waits for the
// recipient's allowed hours (Config::quiet_hours). Pure; asked by intake
// (a message planned at night), the scheduler (one due at night) and the
// dispatcher (a claim or a retry that falls at night), so all three hold
// the same way: never dropped, only moved to when the window opens.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "config.hpp"

namespace tack {

struct QuietHold {
  std::int64_t until_ms = 0;
  std::string note;  // "held: quiet hours until 08:00 Europe/Stockholm"
};

// nullopt when a message of `channel` may go out at `at_ms` in `timezone`:
// the channel keeps no quiet hours, its rule is urgent, or `window` is open.
std::optional<QuietHold> quiet_hours_hold(const ChannelConfig& channel, bool urgent,
                                          const DailyWindow& window, const std::string& timezone,
                                          std::int64_t at_ms);

}  // namespace tack
