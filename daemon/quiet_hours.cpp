#include "quiet_hours.hpp"

#include "local_time.hpp"

namespace tack {

std::optional<QuietHold> quiet_hours_hold(const ChannelConfig& channel, bool urgent,
                                          const DailyWindow& window, const std::string& timezone,
                                          std::int64_t at_ms) {
  if (!channel.quiet_hours || urgent || in_window(at_ms, window, timezone)) return std::nullopt;
  QuietHold hold;
  hold.until_ms = next_in_window(at_ms, window, timezone);
  hold.note = "held: quiet hours until " + format_local_short(hold.until_ms, at_ms, timezone) +
              " " + timezone;
  return hold;
}

}  // namespace tack
