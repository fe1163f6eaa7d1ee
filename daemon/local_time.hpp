// local_time: wall-clock arithmetic in a recipient's time zone, for the
// scheduler (quiet hours, `at: "10:00"` rules) and the notes support reads
// ("held: quiet hours until 08:00 Europe/Stockholm"). Zones and their DST
// rules come from the system tz database through date-tz; a country's zone
// comes from ICU. Every instant is Unix milliseconds (UTC).
//
// Pure: no clock is read, the time is always an argument. Nothing here
// throws; an unknown zone is treated as UTC, bad text parses to nullopt.
// Instants are computed exactly across DST changes: a local time that the
// clocks skip (02:30 on the last Sunday of March in Europe/Stockholm) is
// reached at the first instant after the gap, and one that happens twice
// (02:30 on the last Sunday of October) at the first of the two. Instants
// beyond the year 9999 are returned unchanged.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tack {

// A daily span of local time, [start, end) in minutes after midnight; end <
// start wraps past midnight ("21:00-08:00").
struct DailyWindow {
  int start_minute = 8 * 60;
  int end_minute = 21 * 60;
  bool operator==(const DailyWindow&) const = default;
};

// "08:00-21:00": HH:MM-HH:MM, the end may be 24:00, start != end; anything
// else is nullopt.
std::optional<DailyWindow> parse_daily_window(std::string_view text);
// "10:00" -> 600, "7:05" -> 425; "24:00", "10", "10:60", " 10:00" -> nullopt.
std::optional<int> parse_time_of_day(std::string_view text);
// 600 -> "10:00", 1440 -> "24:00" (a window's end); other minutes outside a
// day are taken modulo a day.
std::string format_time_of_day(int minute);
// Whether name is a zone of the tz database ("Europe/Stockholm"); "",
// "Mars/Base", "../etc" are not.
bool valid_timezone(const std::string& name);

// The first instant >= t_ms at which the local time in tz is inside window;
// t_ms itself when it already is.
std::int64_t next_in_window(std::int64_t t_ms, const DailyWindow& window, const std::string& tz);
bool in_window(std::int64_t t_ms, const DailyWindow& window, const std::string& tz);

// The first instant >= t_ms at which the local clock in tz shows minute (its
// hh:mm:00.000); t_ms itself when it does. In a spring-forward gap the time
// is the first instant after the gap; in the repeated hour of an autumn
// night, the first of the two.
std::int64_t next_time_of_day(std::int64_t t_ms, int minute, const std::string& tz);

// The instant on t_ms's own local day in tz whose clock shows minute ("the
// day after delivery at 10:00": on that day, whether before or after t_ms),
// with gaps and repeats as next_time_of_day has them.
std::int64_t time_of_day_on(std::int64_t t_ms, int minute, const std::string& tz);

// The zone of a country (ISO 3166 alpha-2, any letter case) when ICU knows
// exactly one canonical zone for it (SE -> Europe/Stockholm); nullopt for an
// unknown country or one with several zones (US).
std::optional<std::string> country_timezone(const std::string& country);

// t_ms as a note shows it: "08:00" when it is on the same local day as
// now_ms in tz, else "Sat 5 Dec 08:00".
std::string format_local_short(std::int64_t t_ms, std::int64_t now_ms, const std::string& tz);

}  // namespace tack
