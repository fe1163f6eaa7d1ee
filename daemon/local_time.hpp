// local_time: PLACEHOLDER until the i16/time branch lands (same API).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tack {

struct DailyWindow {
  int start_minute = 8 * 60;
  int end_minute = 21 * 60;
  bool operator==(const DailyWindow&) const = default;
};
std::optional<DailyWindow> parse_daily_window(std::string_view text);
std::optional<int> parse_time_of_day(std::string_view text);
std::string format_time_of_day(int minute);
bool valid_timezone(const std::string& name);
std::int64_t next_in_window(std::int64_t t_ms, const DailyWindow& window, const std::string& tz);
bool in_window(std::int64_t t_ms, const DailyWindow& window, const std::string& tz);
std::int64_t next_time_of_day(std::int64_t t_ms, int minute, const std::string& tz);
// The instant on t_ms's local day (in tz) whose time of day is `minute` (a
// time in a spring-forward gap: the end of the gap; a repeated one: the first).
std::int64_t time_of_day_on(std::int64_t t_ms, int minute, const std::string& tz);
std::optional<std::string> country_timezone(const std::string& country);
std::string format_local_short(std::int64_t t_ms, std::int64_t now_ms, const std::string& tz);

}  // namespace tack
