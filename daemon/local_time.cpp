#include "local_time.hpp"

#include <date/tz.h>
#include <unicode/strenum.h>
#include <unicode/timezone.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <locale>
#include <map>
#include <memory>
#include <mutex>

namespace tack {

namespace {

constexpr std::int64_t kMinuteMs = 60 * 1000;
constexpr std::int64_t kDayMs = 24 * 60 * kMinuteMs;
constexpr int kDayMinutes = 24 * 60;
// The years date-tz computes in: 0001-01-01T00:00Z to 9999-12-31T23:59:59.999Z.
constexpr std::int64_t kFirstMs = -62135596800000;
constexpr std::int64_t kLastMs = 253402300799999;
// Zones change their offset a few times a year; a window or a time of day
// comes round every day, so a handful of offset spans always holds it.
constexpr int kMaxSpans = 16;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int minute_of_day(int minute) {
  return ((minute % kDayMinutes) + kDayMinutes) % kDayMinutes;
}

// "H:MM" or "HH:MM" at the start of text, with hours up to max_hour (24
// only as 24:00); how many characters it took in `used`.
std::optional<int> parse_clock(std::string_view text, int max_hour, std::size_t& used) {
  auto digit = [&](std::size_t i) { return i < text.size() && text[i] >= '0' && text[i] <= '9'; };
  std::size_t hour_digits = digit(0) ? (digit(1) ? 2 : 1) : 0;
  if (hour_digits == 0 || hour_digits >= text.size() || text[hour_digits] != ':') return {};
  if (!digit(hour_digits + 1) || !digit(hour_digits + 2)) return {};
  int hour = text[0] - '0';
  if (hour_digits == 2) hour = hour * 10 + (text[1] - '0');
  int minute = (text[hour_digits + 1] - '0') * 10 + (text[hour_digits + 2] - '0');
  if (minute > 59 || hour > max_hour || (hour == 24 && minute != 0)) return {};
  used = hour_digits + 3;
  return hour * 60 + minute;
}

// nullptr: UTC (an unknown or empty name).
const date::time_zone* find_zone(const std::string& name) {
  // Only the tz database's own spelling: letters, digits, "_+-" and single
  // slashes between name parts, never "." or ".." (no paths).
  if (name.empty() || name.size() > 64 || name.front() == '/' || name.back() == '/') return nullptr;
  char previous = 0;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '+' || c == '-' || (c == '/' && previous != '/');
    if (!ok) return nullptr;
    previous = c;
  }
  try {
    return date::locate_zone(name);
  } catch (...) {
    return nullptr;
  }
}

// A span of instants [begin, end) over which a zone's offset is constant.
struct OffsetSpan {
  std::int64_t offset_ms = 0;
  std::int64_t end_ms = kLastMs + 1;  // > kLastMs: runs on
};

OffsetSpan span_at(const date::time_zone* zone, std::int64_t t_ms) {
  if (!zone) return {};
  using namespace std::chrono;
  try {
    const date::sys_info info = zone->get_info(date::sys_time<milliseconds>(milliseconds(t_ms)));
    OffsetSpan span;
    span.offset_ms = duration_cast<milliseconds>(info.offset).count();
    // sys_info's end is sys_seconds::max() when the zone never changes again.
    const std::int64_t end_s = info.end.time_since_epoch().count();
    span.end_ms = end_s >= kLastMs / 1000 ? kLastMs + 1 : std::max(end_s * 1000, t_ms + 1);
    return span;
  } catch (...) {
    return {};
  }
}

bool minute_in_window(int minute, const DailyWindow& window) {
  const int start = minute_of_day(window.start_minute);
  const int end = window.end_minute == kDayMinutes ? kDayMinutes : minute_of_day(window.end_minute);
  if (start == end) return false;
  return start < end ? minute >= start && minute < end : minute >= start || minute < end;
}

int local_minute(std::int64_t local_ms) {
  return static_cast<int>((local_ms - floor_div(local_ms, kDayMs) * kDayMs) / kMinuteMs);
}

// The first local time >= local_ms at which the clock shows minute.
std::int64_t next_local_clock(std::int64_t local_ms, int minute) {
  std::int64_t at = floor_div(local_ms, kDayMs) * kDayMs + minute * kMinuteMs;
  return at < local_ms ? at + kDayMs : at;
}

// The first local time >= local_ms inside window.
std::int64_t next_local_in_window(std::int64_t local_ms, const DailyWindow& window) {
  if (minute_in_window(local_minute(local_ms), window)) return local_ms;
  return next_local_clock(local_ms, minute_of_day(window.start_minute));
}

}  // namespace

std::optional<int> parse_time_of_day(std::string_view text) {
  std::size_t used = 0;
  auto minute = parse_clock(text, 23, used);
  if (!minute || used != text.size()) return std::nullopt;
  return minute;
}

std::optional<DailyWindow> parse_daily_window(std::string_view text) {
  std::size_t used = 0;
  auto start = parse_clock(text, 23, used);
  if (!start || used >= text.size() || text[used] != '-') return std::nullopt;
  std::string_view rest = text.substr(used + 1);
  auto end = parse_clock(rest, 24, used);
  if (!end || used != rest.size()) return std::nullopt;
  // 00:00-24:00 is the whole day; 08:00-08:00 says nothing.
  if (*start == *end) return std::nullopt;
  return DailyWindow{*start, *end};
}

std::string format_time_of_day(int minute) {
  const int m = minute == kDayMinutes ? kDayMinutes : minute_of_day(minute);
  const std::array<char, 6> text = {
      static_cast<char>('0' + m / 600),     static_cast<char>('0' + m / 60 % 10), ':',
      static_cast<char>('0' + m % 60 / 10), static_cast<char>('0' + m % 10),      0};
  return std::string(text.data());
}

bool valid_timezone(const std::string& name) {
  return find_zone(name) != nullptr;
}

bool in_window(std::int64_t t_ms, const DailyWindow& window, const std::string& tz) {
  t_ms = std::clamp(t_ms, kFirstMs, kLastMs);
  const OffsetSpan span = span_at(find_zone(tz), t_ms);
  return minute_in_window(local_minute(t_ms + span.offset_ms), window);
}

std::int64_t next_in_window(std::int64_t t_ms, const DailyWindow& window, const std::string& tz) {
  if (t_ms > kLastMs) return t_ms;
  const date::time_zone* zone = find_zone(tz);
  std::int64_t t = std::max(t_ms, kFirstMs);
  // Within a span of one offset local time runs with the clock: the first
  // local time inside the window is the answer when the span still holds
  // it; otherwise the answer lies in a later span (from its first instant).
  for (int i = 0; i < kMaxSpans && t <= kLastMs; ++i) {
    const OffsetSpan span = span_at(zone, t);
    const std::int64_t at = next_local_in_window(t + span.offset_ms, window) - span.offset_ms;
    if (at < span.end_ms) return std::min(at, kLastMs);
    t = span.end_ms;
  }
  return std::min(t, kLastMs);
}

std::int64_t next_time_of_day(std::int64_t t_ms, int minute, const std::string& tz) {
  if (t_ms > kLastMs) return t_ms;
  const date::time_zone* zone = find_zone(tz);
  const int wanted = minute_of_day(minute);
  std::int64_t t = std::max(t_ms, kFirstMs);
  std::optional<std::int64_t> wanted_local;  // the local time a span before could not reach
  for (int i = 0; i < kMaxSpans && t <= kLastMs; ++i) {
    const OffsetSpan span = span_at(zone, t);
    // The clocks went forward past the wanted time: it is reached when the
    // gap ends, at the first instant of this span.
    if (wanted_local && *wanted_local < t + span.offset_ms) return t;
    const std::int64_t local = next_local_clock(t + span.offset_ms, wanted);
    const std::int64_t at = local - span.offset_ms;
    if (at < span.end_ms) return std::min(at, kLastMs);
    wanted_local = local;
    t = span.end_ms;
  }
  return std::min(t, kLastMs);
}

std::int64_t time_of_day_on(std::int64_t t_ms, int minute, const std::string& tz) {
  // The local midnight that starts t_ms's day: the last one at or before
  // t_ms. A day lasts 23 to 25 hours, so one is found within 26 hours back.
  constexpr std::int64_t k26h = 26LL * 3600 * 1000;
  std::int64_t midnight = next_time_of_day(t_ms - k26h, 0, tz);
  for (int i = 0; i < 3; ++i) {
    const std::int64_t next = next_time_of_day(midnight + 1, 0, tz);
    if (next > t_ms || next <= midnight) break;
    midnight = next;
  }
  return next_time_of_day(midnight, minute, tz);
}

namespace {

// ICU's answer for one region ("SE"): it walks every zone ICU knows, so it
// is asked once per region and remembered.
std::optional<std::string> region_timezone(const std::string& region) {
  UErrorCode status = U_ZERO_ERROR;
  std::unique_ptr<icu::StringEnumeration> zones(icu::TimeZone::createTimeZoneIDEnumeration(
      UCAL_ZONE_TYPE_CANONICAL_LOCATION, region.c_str(), nullptr, status));
  if (U_FAILURE(status) || !zones || zones->count(status) != 1 || U_FAILURE(status)) {
    return std::nullopt;
  }
  const char* id = zones->next(nullptr, status);
  if (U_FAILURE(status) || !id) return std::nullopt;
  // ICU's and the system's tz data may differ; only a zone the scheduler
  // can use is an answer.
  std::string name(id);
  if (!valid_timezone(name)) return std::nullopt;
  return name;
}

}  // namespace

std::optional<std::string> country_timezone(const std::string& country) {
  if (country.size() != 2) return std::nullopt;
  std::string region;
  for (char c : country) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c < 'A' || c > 'Z') return std::nullopt;
    region += c;
  }
  // At most 26 * 26 regions: the memo is bounded whatever events say.
  static std::mutex mutex;
  static std::map<std::string, std::optional<std::string>> known;
  std::lock_guard lock(mutex);
  auto it = known.find(region);
  if (it == known.end()) it = known.emplace(region, region_timezone(region)).first;
  return it->second;
}

std::string format_local_short(std::int64_t t_ms, std::int64_t now_ms, const std::string& tz) {
  using namespace std::chrono;
  const date::time_zone* zone = find_zone(tz);
  t_ms = std::clamp(t_ms, kFirstMs, kLastMs);
  now_ms = std::clamp(now_ms, kFirstMs, kLastMs);
  const std::int64_t local = t_ms + span_at(zone, t_ms).offset_ms;
  const std::int64_t local_now = now_ms + span_at(zone, now_ms).offset_ms;
  const std::int64_t day = floor_div(local, kDayMs);
  std::string clock = format_time_of_day(local_minute(local));
  if (day == floor_div(local_now, kDayMs)) return clock;
  const date::sys_days days{date::days(day)};
  const date::year_month_day ymd{days};
  // English names whatever the process's locale: notes are for support.
  const std::locale& c = std::locale::classic();
  return date::format(c, "%a ", days) + std::to_string(static_cast<unsigned>(ymd.day())) +
         date::format(c, " %b ", days) + clock;
}

}  // namespace tack
