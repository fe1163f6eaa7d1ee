// PLACEHOLDER until the i16/time branch lands.
#include "local_time.hpp"

#include <date/tz.h>
#include <fmt/format.h>

namespace tack {

namespace {
const date::time_zone* zone(const std::string& tz) {
  try {
    return date::locate_zone(tz.empty() ? "UTC" : tz);
  } catch (...) {
    return date::locate_zone("UTC");
  }
}
int minute_of(std::int64_t t_ms, const date::time_zone* z) {
  using namespace std::chrono;
  auto local = z->to_local(sys_time<milliseconds>(milliseconds(t_ms)));
  auto day = date::floor<date::days>(local);
  return static_cast<int>(duration_cast<minutes>(local - day).count());
}
}  // namespace

std::optional<int> parse_time_of_day(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 2 || text.size() != colon + 3)
    return std::nullopt;
  int h = 0, m = 0;
  for (std::size_t i = 0; i < colon; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    h = h * 10 + (text[i] - '0');
  }
  for (std::size_t i = colon + 1; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    m = m * 10 + (text[i] - '0');
  }
  if (h > 23 || m > 59) return std::nullopt;
  return h * 60 + m;
}

std::optional<DailyWindow> parse_daily_window(std::string_view text) {
  auto dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto a = parse_time_of_day(text.substr(0, dash));
  auto rest = text.substr(dash + 1);
  auto b = rest == "24:00" ? std::optional<int>(1440) : parse_time_of_day(rest);
  if (!a || !b || *a == *b) return std::nullopt;
  return DailyWindow{*a, *b};
}

std::string format_time_of_day(int minute) { return fmt::format("{:02}:{:02}", minute / 60, minute % 60); }

bool valid_timezone(const std::string& name) {
  if (name.empty()) return false;
  try {
    date::locate_zone(name);
    return true;
  } catch (...) {
    return false;
  }
}

bool in_window(std::int64_t t_ms, const DailyWindow& w, const std::string& tz) {
  int m = minute_of(t_ms, zone(tz));
  if (w.start_minute < w.end_minute) return m >= w.start_minute && m < w.end_minute;
  return m >= w.start_minute || m < w.end_minute;
}

std::int64_t next_in_window(std::int64_t t_ms, const DailyWindow& w, const std::string& tz) {
  if (in_window(t_ms, w, tz)) return t_ms;
  return next_time_of_day(t_ms, w.start_minute, tz);
}

std::int64_t next_time_of_day(std::int64_t t_ms, int minute, const std::string& tz) {
  using namespace std::chrono;
  auto z = zone(tz);
  auto local = z->to_local(sys_time<milliseconds>(milliseconds(t_ms)));
  auto day = date::floor<date::days>(local);
  for (int i = 0; i < 3; ++i) {
    auto candidate = day + date::days(i) + minutes(minute);
    auto info = z->get_info(date::local_seconds(duration_cast<seconds>(candidate.time_since_epoch())));
    std::int64_t at;
    if (info.result == date::local_info::nonexistent) {
      at = duration_cast<milliseconds>(info.first.end.time_since_epoch()).count();
    } else {
      at = duration_cast<milliseconds>((candidate - info.first.offset).time_since_epoch()).count();
    }
    if (at >= t_ms) return at;
  }
  return t_ms;
}

std::int64_t time_of_day_on(std::int64_t t_ms, int minute, const std::string& tz) {
  using namespace std::chrono;
  auto z = zone(tz);
  auto local = z->to_local(sys_time<milliseconds>(milliseconds(t_ms)));
  auto day = date::floor<date::days>(local);
  auto candidate = date::local_seconds(duration_cast<seconds>((day + minutes(minute)).time_since_epoch()));
  auto info = z->get_info(candidate);
  if (info.result == date::local_info::nonexistent) {
    return duration_cast<milliseconds>(info.first.end.time_since_epoch()).count();
  }
  return duration_cast<milliseconds>((candidate - info.first.offset).time_since_epoch()).count();
}

std::optional<std::string> country_timezone(const std::string& country) {
  if (country == "SE" || country == "se") return "Europe/Stockholm";
  if (country == "PL" || country == "pl") return "Europe/Warsaw";
  if (country == "GB" || country == "gb") return "Europe/London";
  return std::nullopt;
}

std::string format_local_short(std::int64_t t_ms, std::int64_t, const std::string& tz) {
  return format_time_of_day(minute_of(t_ms, zone(tz)));
}

}  // namespace tack
