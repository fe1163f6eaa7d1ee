#include "render.hpp"

#include <unicode/calendar.h>
#include <unicode/dtfmtsym.h>
#include <unicode/dtitvfmt.h>
#include <unicode/dtitvinf.h>
#include <unicode/dtptngen.h>
#include <unicode/locid.h>
#include <unicode/reldatefmt.h>
#include <unicode/simpleformatter.h>
#include <unicode/smpdtfmt.h>
#include <unicode/timezone.h>
#include <unicode/unistr.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <kainjow/mustache.hpp>
#include <memory>
#include <set>
#include <sstream>
#include <unordered_map>

#include "event.hpp"
#include "text.hpp"

namespace tack {

namespace fs = std::filesystem;
namespace mustache = kainjow::mustache;

namespace {

constexpr const char* kPartialsFile = "partials.yaml";
// A partial may be expanded this many times in one rendering. Cycles are
// refused at load; this bounds the stack should one slip past (a partial that
// switches delimiters hides its references from the load-time scan).
constexpr int kMaxPartialExpansions = 256;
constexpr int kMaxDataDepth = 64;
constexpr const char* kWhitespace = " \t\r\n\f\v";

std::string to_utf8(const icu::UnicodeString& text) {
  std::string out;
  text.toUTF8String(out);
  // ICU puts narrow and thin no-break spaces in some patterns; a plain space
  // reads the same and keeps an SMS in GSM-7.
  for (const char* space : {"\u202f", "\u2009", "\u00a0"}) {
    for (auto at = out.find(space); at != std::string::npos; at = out.find(space, at + 1)) {
      out.replace(at, std::strlen(space), " ");
    }
  }
  return out;
}

// --------------------------------------------------------------------- locales

// The BCP 47 form of a locale tag as shops send it ("sv_SE", "sv-se",
// "sv_SE.UTF-8" all give "sv-SE"), or "" when ICU cannot read it.
std::string canonical_locale(std::string_view tag) {
  std::string s(tag.substr(0, tag.find_first_of(".@")));
  std::replace(s.begin(), s.end(), '_', '-');
  if (s.empty()) return {};
  UErrorCode status = U_ZERO_ERROR;
  icu::Locale locale = icu::Locale::forLanguageTag(s, status);
  if (U_FAILURE(status) || locale.isBogus()) return {};
  std::string canonical = locale.toLanguageTag<std::string>(status);
  if (U_FAILURE(status) || canonical == "und") return {};
  return canonical;
}

// Locales to try, most specific first: "sv-SE", "sv", then the default
// locale and its language.
std::vector<std::string> locale_chain(const std::string& requested,
                                      const std::string& default_locale) {
  std::vector<std::string> chain;
  for (const std::string* tag : {&requested, &default_locale}) {
    std::string locale = canonical_locale(*tag);
    while (!locale.empty()) {
      if (std::find(chain.begin(), chain.end(), locale) == chain.end()) chain.push_back(locale);
      auto dash = locale.rfind('-');
      if (dash == std::string::npos) break;
      locale.resize(dash);
    }
  }
  return chain;
}

template <typename Map>
const typename Map::mapped_type* find_localized(const Map& texts,
                                                const std::vector<std::string>& chain,
                                                std::string* chosen = nullptr) {
  for (const auto& locale : chain) {
    auto it = texts.find(locale);
    if (it != texts.end()) {
      if (chosen) *chosen = locale;
      return &it->second;
    }
  }
  return nullptr;
}

// An unreadable locale gets English rather than ICU's root locale, whose
// months are "M11".
icu::Locale icu_locale(const std::string& tag) {
  std::string canonical = canonical_locale(tag);
  if (canonical.empty()) return icu::Locale::getEnglish();
  UErrorCode status = U_ZERO_ERROR;
  icu::Locale locale = icu::Locale::forLanguageTag(canonical, status);
  return U_FAILURE(status) ? icu::Locale::getEnglish() : locale;
}

// ----------------------------------------------------------------------- dates

// ICU answers an unknown zone ID with "Etc/Unknown" rather than an error.
std::unique_ptr<icu::TimeZone> find_time_zone(const std::string& id) {
  if (id.empty()) return nullptr;
  std::unique_ptr<icu::TimeZone> zone(
      icu::TimeZone::createTimeZone(icu::UnicodeString::fromUTF8(id)));
  if (!zone || *zone == icu::TimeZone::getUnknown()) return nullptr;
  return zone;
}

// How sv, pl and en say a delivery window, as ICU date interval patterns.
// ICU puts the date before the range of times in the locale's own order,
// and joins the two ends of a window across days with the fallback
// pattern; other languages get ICU's (CLDR's) own interval patterns.
//
//   sv: "tisdag 24 november mellan 12 och 14" (Språkrådet: hours alone when
//       both ends are on the hour), "mellan lördag 5 december kl. 22:00
//       och söndag 6 december kl. 01:00"
//   pl: "wtorek, 24 listopada, między 12:00 a 14:00", "między sobotą 5
//       grudnia 22:00 a niedzielą 6 grudnia 01:00": after "między" the
//       weekday takes the instrumental, which CLDR does not have, so both
//       ends are written without ICU's weekday and the instrumental one is
//       put into the fallback pattern beside each end.
//   en: "Tuesday, 24 November, between 12:00 and 14:00" (en-GB), "between
//       Saturday, December 5 at 10:00 PM and Sunday, December 6 at 1:00 AM"
struct TimeRange {
  const char16_t* skeleton;  // the time skeleton ICU looks the range up by
  const char16_t* pattern;   // its interval pattern: both ends' fields, once each
};
struct WindowWords {
  const char* language;
  const char16_t* skeleton;              // date and time of one end
  const char16_t* whole_hours_skeleton;  // when both ends are on the hour
  const char16_t* across_days_skeleton;  // for the ends of a window across days
  TimeRange ranges[2];                   // a window within one day
  const char16_t* across_days;           // ICU fallback pattern, ends {0} and {1}
  const char* const* weekdays;           // set: the weekday goes before each end
};
// Sunday first, as ICU counts (UCAL_SUNDAY is 1).
constexpr const char* kPolishInstrumentalWeekdays[] = {
    "niedzielą", "poniedziałkiem", "wtorkiem", "środą", "czwartkiem", "piątkiem", "sobotą"};
constexpr WindowWords kWindowWords[] = {
    {"sv",
     u"EEEEdMMMMHm",
     u"EEEEdMMMMH",
     u"EEEEdMMMMHm",
     {{u"H", u"'mellan' H 'och' H"}, {u"Hm", u"'mellan' H:mm 'och' H:mm"}},
     u"mellan {0} och {1}",
     nullptr},
    {"pl",
     u"EEEEdMMMMHm",
     u"EEEEdMMMMHm",
     u"dMMMMHm",
     {{u"Hm", u"'między' H:mm 'a' H:mm"}, {u"H", u"'między' H:mm 'a' H:mm"}},
     u"między {0} a {1}",
     kPolishInstrumentalWeekdays},
    {"en",
     u"EEEEdMMMMjm",
     u"EEEEdMMMMjm",
     u"EEEEdMMMMjm",
     {{u"Hm", u"'between' HH:mm 'and' HH:mm"}, {u"hm", u"'between' h:mm a 'and' h:mm a"}},
     u"between {0} and {1}",
     nullptr},
};

const WindowWords* window_words(const icu::Locale& locale) {
  for (const auto& words : kWindowWords) {
    if (std::strcmp(locale.getLanguage(), words.language) == 0) return &words;
  }
  return nullptr;
}

std::string format_pattern(double ms, const icu::UnicodeString& pattern, const icu::Locale& locale,
                           const icu::TimeZone& zone) {
  UErrorCode status = U_ZERO_ERROR;
  icu::SimpleDateFormat format(pattern, locale, status);
  if (U_FAILURE(status)) return {};
  format.setTimeZone(zone);
  icu::UnicodeString out;
  format.format(ms, out);
  return to_utf8(out);
}

// The weekday and date of one instant, as the locale writes it: "tisdag 24
// november", "wtorek, 24 listopada", "Tuesday, 24 November" (en-GB).
std::string format_day(double ms, const icu::Locale& locale, const icu::TimeZone& zone) {
  // The generator picks the locale's own order and forms (Finnish needs the
  // stand-alone weekday, German "24. November").
  UErrorCode status = U_ZERO_ERROR;
  std::unique_ptr<icu::DateTimePatternGenerator> generator(
      icu::DateTimePatternGenerator::createInstance(locale, status));
  if (U_FAILURE(status) || !generator) return {};
  icu::UnicodeString pattern = generator->getBestPattern(u"EEEEdMMMM", status);
  if (U_FAILURE(status)) return {};
  return format_pattern(ms, pattern, locale, zone);
}

// The weekday, date and time of one instant: "lördag 28 november kl. 09:15",
// "sobota, 28 listopada 09:15", "Saturday, 28 November at 09:15" (en-GB).
std::string format_day_time(double ms, const icu::Locale& locale, const icu::TimeZone& zone) {
  UErrorCode status = U_ZERO_ERROR;
  std::unique_ptr<icu::DateTimePatternGenerator> generator(
      icu::DateTimePatternGenerator::createInstance(locale, status));
  if (U_FAILURE(status) || !generator) return {};
  icu::UnicodeString pattern = generator->getBestPattern(u"EEEEdMMMMjmm", status);
  if (U_FAILURE(status)) return {};
  return format_pattern(ms, pattern, locale, zone);
}

std::int32_t total_offset(double ms, const icu::TimeZone& zone) {
  UErrorCode status = U_ZERO_ERROR;
  std::int32_t raw = 0;
  std::int32_t dst = 0;
  zone.getOffset(ms, false, raw, dst, status);
  return U_FAILURE(status) ? 0 : raw + dst;
}

struct LocalTime {
  std::int64_t day = 0;
  int minute = 0;  // of the hour
};

LocalTime local_time(double ms, const icu::TimeZone& zone) {
  auto local_minutes =
      static_cast<std::int64_t>(std::floor((ms + total_offset(ms, zone)) / 60000.0));
  std::int64_t day = local_minutes >= 0 ? local_minutes / 1440 : (local_minutes - 1439) / 1440;
  return LocalTime{day, static_cast<int>(local_minutes - day * 1440) % 60};
}

// Whether the local time at ms also happens at another instant: the hour
// repeated when the clocks go back. Offsets change at most a few hours
// apart only in theory; six hours either side finds every real change.
bool repeated_local_time(double ms, const icu::TimeZone& zone) {
  constexpr double kProbe = 6 * 3600 * 1000.0;
  const std::int32_t offset = total_offset(ms, zone);
  for (double probe : {ms - kProbe, ms + kProbe}) {
    const std::int32_t other = total_offset(probe, zone);
    if (other == offset) continue;
    // The instant whose local time under the other offset equals ours.
    const double twin = ms + offset - other;
    if (total_offset(twin, zone) == other) return true;
  }
  return false;
}

std::unique_ptr<icu::TimeZone> zone_or_utc(const std::string& timezone) {
  auto zone = find_time_zone(timezone);
  if (!zone) zone.reset(icu::TimeZone::getGMT()->clone());
  return zone;
}

// The weekday of ms in the zone, 1 (Sunday) to 7.
int weekday(double ms, const icu::TimeZone& zone) {
  UErrorCode status = U_ZERO_ERROR;
  std::unique_ptr<icu::Calendar> calendar(
      icu::Calendar::createInstance(zone, icu::Locale::getRoot(), status));
  if (U_FAILURE(status) || !calendar) return 1;
  calendar->setTime(ms, status);
  int day = calendar->get(UCAL_DAY_OF_WEEK, status);
  return U_FAILURE(status) || day < 1 || day > 7 ? 1 : day;
}

// The window in words; with hours_only just its hours ("mellan 12 och 14",
// "between 12:00 and 14:00"), or "" when it spans days or a time in it
// happens twice (only the dates and zones tell those ends apart).
std::string format_window(double start, double end, const icu::Locale& locale,
                          const icu::TimeZone& zone, bool hours_only = false) {
  const WindowWords* words = window_words(locale);
  const LocalTime from = local_time(start, zone);
  const LocalTime to = local_time(end, zone);
  // On the night the clocks go back, 02:30 happens twice: each end then
  // names its zone ("02:30 CEST", "02:30 CET"), and both ends are written
  // in full, since ICU's interval patterns name the zone once, or, when
  // the two local times are equal, print one time.
  const bool repeated = repeated_local_time(start, zone) || repeated_local_time(end, zone);
  const bool across_days = from.day != to.day || repeated;
  const bool whole_hours = from.minute == 0 && to.minute == 0 && !repeated;
  if (hours_only && across_days) return {};

  icu::UnicodeString skeleton = u"EEEEdMMMMjm";
  if (words) {
    skeleton = across_days   ? words->across_days_skeleton
               : whole_hours ? words->whole_hours_skeleton
                             : words->skeleton;
  }
  if (repeated) skeleton += u"z";
  // Every date-and-time skeleton above starts with the date's fields.
  if (hours_only) skeleton.findAndReplace(u"EEEEdMMMM", u"");

  UErrorCode status = U_ZERO_ERROR;
  icu::DateIntervalInfo info(locale, status);
  if (U_FAILURE(status)) return {};
  icu::UnicodeString fallback;
  if (words) {
    for (const TimeRange& range : words->ranges) {
      for (UCalendarDateFields field : {UCAL_AM_PM, UCAL_HOUR, UCAL_MINUTE}) {
        info.setIntervalPattern(range.skeleton, field, range.pattern, status);
      }
    }
    fallback = words->across_days;
    if (words->weekdays) {
      const int ends[] = {weekday(start, zone), weekday(end, zone)};
      for (int i = 0; i < 2; ++i) {
        icu::UnicodeString placeholder = i == 0 ? u"{0}" : u"{1}";
        fallback.findAndReplace(
            placeholder,
            icu::UnicodeString::fromUTF8(words->weekdays[ends[i] - 1]) + u" " + placeholder);
      }
    }
    info.setFallbackIntervalPattern(fallback, status);
  } else {
    info.getFallbackIntervalPattern(fallback);
  }
  if (U_FAILURE(status)) return {};
  std::unique_ptr<icu::DateIntervalFormat> format(
      icu::DateIntervalFormat::createInstance(skeleton, locale, info, status));
  if (U_FAILURE(status) || !format) return {};
  format->setTimeZone(zone);
  icu::UnicodeString out;
  if (repeated) {
    // ICU's own fallback, by hand: it would print one time for equal ones.
    const icu::DateFormat* end_format = format->getDateFormat();
    icu::UnicodeString first;
    icu::UnicodeString second;
    end_format->format(start, first);
    end_format->format(end, second);
    icu::SimpleFormatter joined(fallback, 2, 2, status);
    if (U_FAILURE(status)) return {};
    joined.format(first, second, out, status);
  } else {
    icu::DateInterval interval(start, end);
    icu::FieldPosition position;
    format->format(&interval, out, position, status);
  }
  return U_FAILURE(status) ? std::string() : to_utf8(out);
}

// How sv, pl and en say "on <weekday>" of a day later this week, from
// ICU's weekday name (other languages get the name alone). Polish takes
// the accusative after "w" ("w środę", "we wtorek"), which CLDR does not
// have (its names are nominative: "środa"), so its phrases are whole here,
// as the instrumental ones of kPolishInstrumentalWeekdays are.
struct WeekdayWords {
  const char* language;
  const char16_t* pattern;      // {0}: ICU's weekday name
  const char* const* weekdays;  // set: the whole phrase per weekday, Sunday first
};
constexpr const char* kPolishOnWeekdays[] = {
    "w niedzielę", "w poniedziałek", "we wtorek", "w środę", "w czwartek", "w piątek", "w sobotę"};
constexpr WeekdayWords kWeekdayWords[] = {
    {"sv", u"på {0}", nullptr},
    {"pl", nullptr, kPolishOnWeekdays},
    {"en", u"on {0}", nullptr},
};

// The weekday of ms said as "on that day": "på fredag", "w piątek", "on
// Friday"; ICU's name alone in other languages.
std::string on_weekday(double ms, const icu::Locale& locale, const icu::TimeZone& zone) {
  const int day = weekday(ms, zone);
  const WeekdayWords* words = nullptr;
  for (const auto& candidate : kWeekdayWords) {
    if (std::strcmp(locale.getLanguage(), candidate.language) == 0) words = &candidate;
  }
  if (words && words->weekdays) return words->weekdays[day - 1];
  UErrorCode status = U_ZERO_ERROR;
  icu::DateFormatSymbols symbols(locale, status);
  if (U_FAILURE(status)) return {};
  std::int32_t count = 0;
  const icu::UnicodeString* names =
      symbols.getWeekdays(count, icu::DateFormatSymbols::FORMAT, icu::DateFormatSymbols::WIDE);
  if (!names || day >= count) return {};
  if (!words) return to_utf8(names[day]);
  icu::SimpleFormatter pattern(words->pattern, 1, 1, status);
  icu::UnicodeString out;
  pattern.format(names[day], out, status);
  return U_FAILURE(status) ? std::string() : to_utf8(out);
}

// The day of ms said from the day of now in the zone: ICU's "i dag" / "i
// morgon", "dzisiaj" / "jutro", "today" / "tomorrow"; the weekday two to six
// days ahead; "" otherwise (the caller writes the date).
std::string relative_day(double ms, double now, const icu::Locale& locale,
                         const icu::TimeZone& zone) {
  const std::int64_t days = local_time(ms, zone).day - local_time(now, zone).day;
  if (days >= 2 && days <= 6) return on_weekday(ms, locale, zone);
  if (days != 0 && days != 1) return {};
  UErrorCode status = U_ZERO_ERROR;
  icu::RelativeDateTimeFormatter format(locale, status);
  if (U_FAILURE(status)) return {};
  icu::UnicodeString out;
  format.format(days == 0 ? UDAT_DIRECTION_THIS : UDAT_DIRECTION_NEXT, UDAT_ABSOLUTE_DAY, out,
                status);
  return U_FAILURE(status) ? std::string() : to_utf8(out);
}

// ------------------------------------------------------------------------ data

std::string string_field(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Event JSON as Mustache data. Numbers print as JSON writes them; null and ""
// are false, so {{#delivery.tracking_url}} skips a missing or empty URL.
mustache::data to_mustache(const nlohmann::json& value, int depth) {
  if (depth > kMaxDataDepth) return mustache::data(false);
  switch (value.type()) {
    case nlohmann::json::value_t::object: {
      mustache::data object(mustache::data::type::object);
      for (const auto& [key, item] : value.items()) object.set(key, to_mustache(item, depth + 1));
      return object;
    }
    case nlohmann::json::value_t::array: {
      mustache::data list(mustache::data::type::list);
      for (const auto& item : value) list.push_back(to_mustache(item, depth + 1));
      return list;
    }
    case nlohmann::json::value_t::string: {
      const auto& text = value.get_ref<const std::string&>();
      return text.empty() ? mustache::data(false) : mustache::data(text);
    }
    case nlohmann::json::value_t::boolean:
      return mustache::data(value.get<bool>());
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return mustache::data(false);
    default:
      return mustache::data(value.dump());
  }
}

// ------------------------------------------------------------------- rendering

// Stops collecting once a rendering passes its limit, so a template
// looping over a large list cannot eat the daemon's memory.
struct CappedSink {
  std::size_t limit = 0;
  std::string text;
  bool overflow = false;
  CappedSink& operator<<(const std::string& piece) {
    if (overflow) return *this;
    if (text.size() + piece.size() > limit) {
      overflow = true;
      return *this;
    }
    text += piece;
    return *this;
  }
};

using PartialTexts = std::map<std::string, mustache::data>;

// Partials come from partials.yaml only: kainjow would otherwise look them
// up in the data too, and render an event field named like a partial as a
// template.
class PartialContext : public mustache::context<std::string> {
 public:
  PartialContext(const mustache::data* data, const PartialTexts& partials)
      : mustache::context<std::string>(data), partials_(partials) {}

  const mustache::data* get_partial(const std::string& name) const override {
    if (++expansions_ > kMaxPartialExpansions) return nullptr;
    auto it = partials_.find(name);
    if (it == partials_.end()) {
      if (missing_.empty()) missing_ = name;
      return nullptr;
    }
    return &it->second;
  }

  std::string problem() const {
    if (expansions_ > kMaxPartialExpansions) {
      return "more than " + std::to_string(kMaxPartialExpansions) + " partial expansions";
    }
    if (!missing_.empty()) return "partial \"" + missing_ + "\" is not defined for this locale";
    return {};
  }

 private:
  const PartialTexts& partials_;
  mutable int expansions_ = 0;
  mutable std::string missing_;
};

struct TextRendering {
  std::string text;
  std::string error;
};

// Parsed templates by their source text, one cache per thread: kainjow's
// render is not const (a failed render leaves its error on the object), so
// a shared TemplateSet stays read-only and each thread parses a text once.
// A template whose render failed is dropped, never reused. A reload brings
// new texts; past kMaxParsed the cache starts over.
class ParsedTemplates {
 public:
  mustache::mustache& get(const std::string& source, bool escape_html) {
    auto& map = by_source_[escape_html ? 1 : 0];
    if (auto it = map.find(source); it != map.end()) return *it->second;
    if (map.size() >= kMaxParsed) map.clear();
    auto tmpl = std::make_unique<mustache::mustache>(source);
    if (!escape_html) tmpl->set_custom_escape([](const std::string& s) { return s; });
    return *map.emplace(source, std::move(tmpl)).first->second;
  }
  void drop(const std::string& source, bool escape_html) {
    by_source_[escape_html ? 1 : 0].erase(source);
  }

 private:
  static constexpr std::size_t kMaxParsed = 512;
  std::unordered_map<std::string, std::unique_ptr<mustache::mustache>> by_source_[2];
};

TextRendering render_text(const std::string& source, const mustache::data& data,
                          const PartialTexts& partials, bool escape_html, std::size_t limit) {
  thread_local ParsedTemplates parsed;
  TextRendering result;
  mustache::mustache& tmpl = parsed.get(source, escape_html);
  PartialContext context(&data, partials);
  CappedSink sink;
  sink.limit = limit;
  if (tmpl.is_valid()) tmpl.render(context, sink);
  if (!tmpl.is_valid()) {
    result.error = "Mustache: " + tmpl.error_message();
    parsed.drop(source, escape_html);  // tmpl is gone from here on
  } else if (std::string problem = context.problem(); !problem.empty()) {
    result.error = problem;
  } else if (sink.overflow) {
    result.error = "output is over " + std::to_string(limit) + " bytes (limits.max_message_bytes)";
  } else {
    result.text = std::move(sink.text);
  }
  return result;
}

// --------------------------------------------------------------------- loading

// A file over max_bytes is refused before it is read whole or parsed.
std::optional<std::string> read_file(const fs::path& path, std::size_t max_bytes,
                                     std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  std::string text;
  char buffer[8192];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (text.size() > max_bytes) {
      error =
          "it is larger than " + std::to_string(max_bytes) + " bytes (limits.max_template_bytes)";
      return std::nullopt;
    }
  }
  if (in.bad()) {
    error = "read error";
    return std::nullopt;
  }
  return text;
}

// Reports the problems of one file with 1-based line and column, the column
// counted in characters as editors do.
class FileReport {
 public:
  FileReport(ConfigErrors& errors, std::string path, std::string text)
      : errors_(errors), path_(std::move(path)), text_(std::move(text)) {}

  const std::string& text() const { return text_; }

  // A position in the file, as an error without its message.
  ConfigError where_byte(std::size_t pos) const {
    pos = std::min(pos, text_.size());
    int line = 1;
    int column = 1;
    for (std::size_t i = 0; i < pos; ++i) {
      auto c = static_cast<unsigned char>(text_[i]);
      if (c == '\n') {
        ++line;
        column = 1;
      } else if ((c & 0xc0) != 0x80) {
        ++column;
      }
    }
    return ConfigError{path_, line, column, {}};
  }

  ConfigError where(const YAML::Mark& mark) const {
    if (mark.is_null() || mark.pos < 0) return ConfigError{path_, 0, 0, {}};
    return where_byte(static_cast<std::size_t>(mark.pos));
  }

  // Where byte `offset` of a scalar's value is in the file: exact for literal
  // blocks (|) and for one-line scalars without escapes, else the scalar's
  // start, which is close enough to find it.
  ConfigError where_in_scalar(const YAML::Node& node, std::size_t offset) const {
    const YAML::Mark mark = node.Mark();
    if (mark.is_null() || mark.pos < 0 || static_cast<std::size_t>(mark.pos) >= text_.size()) {
      return where(mark);
    }
    const auto start = static_cast<std::size_t>(mark.pos);
    const std::string& value = node.Scalar();
    offset = std::min(offset, value.size());
    const char indicator = text_[start];
    if (indicator == '|') return where_byte(literal_block_position(start, value, offset));
    if (indicator == '>' || value.find('\n') != std::string::npos) return where_byte(start);
    std::size_t quote = indicator == '"' || indicator == '\'' ? 1 : 0;
    return where_byte(start + quote + offset);
  }

  void at_byte(std::size_t pos, std::string message) { add(where_byte(pos), std::move(message)); }
  void at(const YAML::Mark& mark, std::string message) { add(where(mark), std::move(message)); }
  void whole(std::string message) { add(ConfigError{path_, 0, 0, {}}, std::move(message)); }
  void in_scalar(const YAML::Node& node, std::size_t offset, std::string message) {
    add(where_in_scalar(node, offset), std::move(message));
  }

 private:
  // A literal block's lines are the value's lines, each indented alike.
  std::size_t literal_block_position(std::size_t start, const std::string& value,
                                     std::size_t offset) const {
    std::size_t line_start = text_.find('\n', start);
    if (line_start == std::string::npos) return start;
    ++line_start;
    std::size_t indent = 0;
    for (std::size_t p = line_start; p < text_.size();) {
      std::size_t spaces = text_.find_first_not_of(' ', p);
      if (spaces == std::string::npos) break;
      if (text_[spaces] != '\n' && text_[spaces] != '\r') {
        indent = spaces - p;
        break;
      }
      p = text_.find('\n', spaces) + 1;
      if (p == 0) break;
    }
    std::size_t value_line_start = 0;
    std::size_t position = line_start;
    for (std::size_t nl = value.find('\n'); nl != std::string::npos && nl < offset;
         nl = value.find('\n', nl + 1)) {
      value_line_start = nl + 1;
      std::size_t next = text_.find('\n', position);
      if (next == std::string::npos) return start;
      position = next + 1;
    }
    return position + indent + (offset - value_line_start);
  }

  void add(ConfigError where, std::string message) {
    where.message = std::move(message);
    errors_.items.push_back(std::move(where));
  }

  ConfigErrors& errors_;
  std::string path_;
  std::string text_;
};

struct TextProblem {
  std::size_t offset = 0;
  std::string message;
};

// Mustache syntax errors and references to partials that partials.yaml does
// not define. Kainjow's messages end in " at N", N the byte offset.
std::vector<TextProblem> text_problems(const std::string& text,
                                       const std::set<std::string>& partial_names,
                                       std::set<std::string>* referenced) {
  std::vector<TextProblem> problems;
  mustache::mustache tmpl(text);
  if (!tmpl.is_valid()) {
    std::string message = tmpl.error_message();
    std::size_t offset = 0;
    auto at = message.rfind(" at ");
    if (at != std::string::npos && at + 4 < message.size() &&
        message.find_first_not_of("0123456789", at + 4) == std::string::npos) {
      offset = std::stoul(message.substr(at + 4));
      message.resize(at);
    }
    problems.push_back({offset, "Mustache: " + message});
    return problems;
  }
  // Only {{> name}} with the default delimiters is seen here; the expansion
  // limit at render time covers the rest.
  for (auto at = text.find("{{>"); at != std::string::npos; at = text.find("{{>", at + 3)) {
    auto close = text.find("}}", at + 3);
    if (close == std::string::npos) break;
    std::string name = trim(text.substr(at + 3, close - at - 3));
    if (name.empty()) continue;
    if (referenced) referenced->insert(name);
    if (!partial_names.count(name)) {
      problems.push_back({at, "partial \"" + name + "\" is not in " + kPartialsFile});
    }
  }
  return problems;
}

// One Mustache tag that names something, where it is in its file, and for
// a section the tags inside it. What check_templates reads.
struct OutlineTag {
  enum class Kind { Variable, Section, Inverted, Partial };
  Kind kind = Kind::Variable;
  std::string name;
  ConfigError where;  // file, line and column; no message
  std::vector<OutlineTag> children;
};

// Deeper sections than this are not looked into (and reported): no real
// template comes near, and the walk must not exhaust the stack.
constexpr int kMaxSectionDepth = 64;

void outline_components(const std::vector<mustache::component<std::string>>& components,
                        const std::function<ConfigError(std::size_t)>& where, int depth,
                        std::vector<OutlineTag>& out, std::optional<ConfigError>& too_deep) {
  using mustache::tag_type;
  for (const auto& component : components) {
    OutlineTag tag;
    switch (component.tag.type) {
      case tag_type::variable:
      case tag_type::unescaped_variable:
        tag.kind = OutlineTag::Kind::Variable;
        break;
      case tag_type::section_begin:
        tag.kind = OutlineTag::Kind::Section;
        break;
      case tag_type::section_begin_inverted:
        tag.kind = OutlineTag::Kind::Inverted;
        break;
      case tag_type::partial:
        tag.kind = OutlineTag::Kind::Partial;
        break;
      default:
        continue;  // text, comments, delimiter changes
    }
    tag.name = component.tag.name;
    tag.where = where(component.position);
    if (tag.kind == OutlineTag::Kind::Section || tag.kind == OutlineTag::Kind::Inverted) {
      if (depth >= kMaxSectionDepth) {
        if (!too_deep) too_deep = tag.where;
        continue;
      }
      outline_components(component.children, where, depth + 1, tag.children, too_deep);
    }
    out.push_back(std::move(tag));
  }
}

// The tags of a text that text_problems found valid; `where` turns a byte
// offset of the text into its place in the file.
std::vector<OutlineTag> outline_text(const std::string& text,
                                     const std::function<ConfigError(std::size_t)>& where,
                                     ConfigErrors& errors) {
  mustache::context<std::string> data;
  mustache::context_internal<std::string> context{data};
  mustache::component<std::string> root;
  std::string error;
  mustache::parser<std::string> parse{text, context, root, error};
  std::vector<OutlineTag> tags;
  if (!error.empty()) return tags;
  std::optional<ConfigError> too_deep;
  outline_components(root.children, where, 0, tags, too_deep);
  if (too_deep) {
    too_deep->message = "sections nested more than " + std::to_string(kMaxSectionDepth) +
                        " deep are not checked; simplify the template";
    errors.items.push_back(std::move(*too_deep));
  }
  return tags;
}

struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

// A map's entries in file order, with non-text and repeated keys reported
// (yaml-cpp accepts a repeated key and keeps both).
std::vector<Entry> map_entries(const YAML::Node& map, FileReport& report) {
  std::vector<Entry> entries;
  std::set<std::string> seen;
  for (const auto& item : map) {
    if (!item.first.IsScalar()) {
      report.at(item.first.Mark(), "keys here must be plain text");
      continue;
    }
    std::string key = item.first.Scalar();
    if (!seen.insert(key).second) {
      report.at(item.first.Mark(), "duplicate key \"" + key + "\"");
      continue;
    }
    entries.push_back(Entry{key, item.first, item.second});
  }
  return entries;
}

}  // namespace

struct TemplateSet::Impl {
  struct Email {
    std::string subject;
    std::string text;
    std::string html;  // may be empty
  };
  // One text's tags, for check(): "sms.sv", "email.sv.subject", ...
  struct TextOutline {
    std::string what;
    std::string locale;
    std::vector<OutlineTag> tags;
  };
  struct Template {
    std::map<std::string, std::string> sms;  // canonical locale -> Mustache text
    std::map<std::string, Email> email;
    // Where it is: the file, its sms: and email: keys, and its texts' tags.
    ConfigError file;
    std::map<ChannelKind, ConfigError> channel_keys;
    std::vector<TextOutline> outlines;
  };

  std::map<std::string, Template> templates;
  // partial name -> canonical locale -> Mustache text
  std::map<std::string, std::map<std::string, std::string>> partials;
  // partial name -> canonical locale -> its tags
  std::map<std::string, std::map<std::string, std::vector<OutlineTag>>> partial_outlines;

  RenderResult render(const std::string& name, ChannelKind kind, const nlohmann::json& event,
                      const std::string& locale, const RenderContext& context) const;
};

namespace {

class Loader {
 public:
  Loader(TemplateSet::Impl& set, const std::string& dir, ConfigErrors& errors,
         std::size_t max_file_bytes)
      : set_(set), dir_(dir), errors_(errors), max_file_bytes_(max_file_bytes) {}

  void load() {
    std::error_code ec;
    std::vector<fs::path> files;
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code type_ec;
      if (it->path().extension() == ".yaml" && it->is_regular_file(type_ec)) {
        files.push_back(it->path());
      }
    }
    if (ec) {
      errors_.items.push_back(
          ConfigError{dir_.string(), 0, 0, "cannot read the template folder: " + ec.message()});
      return;
    }
    std::sort(files.begin(), files.end());
    // Partials first, so templates can be checked against them.
    auto partials = std::find_if(files.begin(), files.end(),
                                 [](const fs::path& p) { return p.filename() == kPartialsFile; });
    if (partials != files.end()) guarded(*partials, [&] { load_partials(*partials); });
    for (const auto& file : files) {
      if (file.filename() != kPartialsFile) guarded(file, [&] { load_template(file); });
    }
  }

 private:
  // One bad file must not end the load, let alone the daemon.
  template <typename Load>
  void guarded(const fs::path& path, Load load) {
    try {
      load();
    } catch (const std::exception& e) {
      errors_.items.push_back(
          ConfigError{path.string(), 0, 0, std::string("cannot load: ") + e.what()});
    }
  }

  std::optional<FileReport> open(const fs::path& path, YAML::Node& root) {
    std::string error;
    auto text = read_file(path, max_file_bytes_, error);
    if (!text) {
      errors_.items.push_back(ConfigError{path.string(), 0, 0, "cannot read: " + error});
      return std::nullopt;
    }
    FileReport report(errors_, path.string(), std::move(*text));
    try {
      root = YAML::Load(report.text());
    } catch (const YAML::Exception& e) {
      report.at(e.mark, e.msg);
      return std::nullopt;
    }
    return report;
  }

  // A locale key, canonical, or "" after reporting it.
  std::string locale_key(const Entry& entry, const std::string& where, FileReport& report) {
    std::string locale = canonical_locale(entry.key);
    if (locale.empty()) {
      report.at(entry.key_node.Mark(),
                where + ": \"" + entry.key + "\" is not a locale (like sv or sv-SE)");
    }
    return locale;
  }

  // A Mustache text from a scalar; reports and returns nullopt when unusable.
  // Its tags are added to `tags`, when given.
  std::optional<std::string> text_at(const YAML::Node& node, const std::string& what,
                                     FileReport& report,
                                     std::set<std::string>* referenced = nullptr,
                                     std::vector<OutlineTag>* tags = nullptr) {
    if (!node.IsScalar()) {
      report.at(node.Mark(), what + " must be text");
      return std::nullopt;
    }
    auto problems = text_problems(node.Scalar(), partial_names_, referenced);
    for (auto& problem : problems) {
      report.in_scalar(node, problem.offset, what + ": " + problem.message);
    }
    if (!problems.empty()) return std::nullopt;
    if (tags) {
      *tags = outline_text(
          node.Scalar(), [&](std::size_t offset) { return report.where_in_scalar(node, offset); },
          errors_);
    }
    return node.Scalar();
  }

  void load_partials(const fs::path& path) {
    YAML::Node root;
    auto report = open(path, root);
    if (!report || root.IsNull()) return;
    if (!root.IsMap()) {
      report->at(root.Mark(), "partials.yaml is a map: partial name -> locale -> text");
      return;
    }
    auto entries = map_entries(root, *report);
    for (const auto& entry : entries) partial_names_.insert(entry.key);

    std::map<std::string, std::set<std::string>> includes;
    std::map<std::string, YAML::Mark> marks;
    for (const auto& entry : entries) {
      marks[entry.key] = entry.key_node.Mark();
      if (entry.key.find_first_of(" \t{}>") != std::string::npos) {
        report->at(entry.key_node.Mark(),
                   "partial name \"" + entry.key + "\" has spaces or braces");
      }
      if (!entry.value.IsMap()) {
        report->at(entry.value.Mark(), "partial " + entry.key + " must be a map of locale -> text");
        continue;
      }
      auto& texts = set_.partials[entry.key];
      for (const auto& localized : map_entries(entry.value, *report)) {
        std::string what = "partial " + entry.key + "." + localized.key;
        std::string locale = locale_key(localized, "partial " + entry.key, *report);
        std::vector<OutlineTag> tags;
        auto text = text_at(localized.value, what, *report, &includes[entry.key], &tags);
        if (locale.empty() || !text) continue;
        if (!texts.emplace(locale, *text).second) {
          report->at(localized.key_node.Mark(), what + ": locale " + locale + " given twice");
          continue;
        }
        set_.partial_outlines[entry.key][locale] = std::move(tags);
      }
    }
    report_cycles(includes, marks, *report);
  }

  // A partial that includes itself, directly or not, would never finish
  // rendering: report each cycle once and drop its partials.
  void report_cycles(const std::map<std::string, std::set<std::string>>& includes,
                     const std::map<std::string, YAML::Mark>& marks, FileReport& report) {
    enum class State { Fresh, Open, Done };
    std::map<std::string, State> state;
    std::vector<std::string> stack;
    std::set<std::string> cyclic;
    std::function<void(const std::string&)> visit = [&](const std::string& name) {
      state[name] = State::Open;
      stack.push_back(name);
      for (const auto& next : includes.at(name)) {
        if (!includes.count(next)) continue;  // undefined: reported already
        if (state[next] == State::Open) {
          auto first = std::find(stack.begin(), stack.end(), next);
          std::string path;
          for (auto it = first; it != stack.end(); ++it) {
            path += *it + " -> ";
            cyclic.insert(*it);
          }
          auto mark = marks.find(next);
          std::string message = "partial " + next + " includes itself: " + path + next;
          if (mark != marks.end()) {
            report.at(mark->second, std::move(message));
          } else {
            report.whole(std::move(message));
          }
        } else if (state[next] == State::Fresh) {
          visit(next);
        }
      }
      stack.pop_back();
      state[name] = State::Done;
    };
    for (const auto& [name, _] : includes) {
      if (state[name] == State::Fresh) visit(name);
    }
    for (const auto& name : cyclic) {
      set_.partials.erase(name);
      set_.partial_outlines.erase(name);
    }
  }

  void load_template(const fs::path& path) {
    const std::string name = path.stem().string();
    YAML::Node root;
    auto report = open(path, root);
    if (!report) return;
    if (root.IsNull()) {
      report->whole("template " + name + " is empty");
      return;
    }
    if (!root.IsMap()) {
      report->at(root.Mark(), "a template file is a map with sms: and/or email:");
      return;
    }
    const std::size_t errors_before = errors_.items.size();
    TemplateSet::Impl::Template tmpl;
    tmpl.file = report->where(YAML::Mark::null_mark());
    for (const auto& entry : map_entries(root, *report)) {
      if (entry.key == "sms") {
        tmpl.channel_keys[ChannelKind::Sms] = report->where(entry.key_node.Mark());
        load_sms(entry.value, tmpl, *report);
      } else if (entry.key == "email") {
        tmpl.channel_keys[ChannelKind::Email] = report->where(entry.key_node.Mark());
        load_email(entry.value, tmpl, *report);
      } else {
        report->at(entry.key_node.Mark(),
                   "unknown key \"" + entry.key + "\" (expected sms or email)");
      }
    }
    if (tmpl.sms.empty() && tmpl.email.empty()) {
      // Said only when nothing else explains it (an html_file's errors count).
      if (errors_.items.size() == errors_before) {
        report->at(root.Mark(), "template " + name + " has no sms or email");
      }
      return;
    }
    set_.templates[name] = std::move(tmpl);
  }

  void load_sms(const YAML::Node& node, TemplateSet::Impl::Template& tmpl, FileReport& report) {
    if (!node.IsMap()) {
      report.at(node.Mark(), "sms must be a map of locale -> text");
      return;
    }
    for (const auto& entry : map_entries(node, report)) {
      std::string locale = locale_key(entry, "sms", report);
      TemplateSet::Impl::TextOutline outline{"sms." + entry.key, locale, {}};
      auto text = text_at(entry.value, outline.what, report, nullptr, &outline.tags);
      if (locale.empty() || !text) continue;
      if (!tmpl.sms.emplace(locale, *text).second) {
        report.at(entry.key_node.Mark(), "sms: locale " + locale + " given twice");
        continue;
      }
      tmpl.outlines.push_back(std::move(outline));
    }
  }

  void load_email(const YAML::Node& node, TemplateSet::Impl::Template& tmpl, FileReport& report) {
    if (!node.IsMap()) {
      report.at(node.Mark(), "email must be a map of locale -> {subject, text, html}");
      return;
    }
    for (const auto& entry : map_entries(node, report)) {
      const std::string where = "email." + entry.key;
      std::string locale = locale_key(entry, "email", report);
      if (!entry.value.IsMap()) {
        report.at(entry.value.Mark(), where + " must be a map with subject, text and html");
        continue;
      }
      TemplateSet::Impl::Email email;
      bool usable = !locale.empty();
      std::set<std::string> given;
      YAML::Node html_file;
      std::vector<TemplateSet::Impl::TextOutline> outlines;
      for (const auto& field : map_entries(entry.value, report)) {
        const std::string what = where + "." + field.key;
        given.insert(field.key);
        std::optional<std::string> text;
        auto& outline = outlines.emplace_back(TemplateSet::Impl::TextOutline{what, locale, {}});
        if (field.key == "subject") {
          text = text_at(field.value, what, report, nullptr, &outline.tags);
          if (text && trim(*text).find_first_of("\r\n") != std::string::npos) {
            report.at(field.value.Mark(), what + " must be one line");
            text.reset();
          }
          if (text) email.subject = *text;
        } else if (field.key == "text") {
          text = text_at(field.value, what, report, nullptr, &outline.tags);
          if (text) email.text = *text;
        } else if (field.key == "html") {
          text = text_at(field.value, what, report, nullptr, &outline.tags);
          if (text) email.html = *text;
        } else if (field.key == "html_file") {
          html_file = field.value;
          text = html_from_file(field.value, what, report, outline.tags);
          if (text) email.html = *text;
        } else {
          report.at(field.key_node.Mark(), "unknown key \"" + field.key + "\" in " + where +
                                               " (expected subject, text, html or html_file)");
          continue;
        }
        usable = usable && text.has_value();
      }
      for (const char* required : {"subject", "text"}) {
        if (!given.count(required)) {
          report.at(entry.key_node.Mark(), where + " has no " + required);
          usable = false;
        }
      }
      if (given.count("html") && given.count("html_file")) {
        report.at(html_file.Mark(), where + ": give html or html_file, not both");
        usable = false;
      }
      if (!usable) continue;
      if (!tmpl.email.emplace(locale, std::move(email)).second) {
        report.at(entry.key_node.Mark(), "email: locale " + locale + " given twice");
        continue;
      }
      for (auto& outline : outlines) tmpl.outlines.push_back(std::move(outline));
    }
  }

  std::optional<std::string> html_from_file(const YAML::Node& node, const std::string& what,
                                            FileReport& report, std::vector<OutlineTag>& tags) {
    if (!node.IsScalar() || node.Scalar().empty()) {
      report.at(node.Mark(), what + " must be a file name");
      return std::nullopt;
    }
    fs::path path = dir_ / node.Scalar();
    std::string error;
    auto text = read_file(path, max_file_bytes_, error);
    if (!text) {
      report.at(node.Mark(), what + ": cannot read " + path.string() + ": " + error);
      return std::nullopt;
    }
    auto problems = text_problems(*text, partial_names_, nullptr);
    FileReport html_report(errors_, path.string(), *text);
    for (auto& problem : problems) html_report.at_byte(problem.offset, problem.message);
    if (!problems.empty()) return std::nullopt;
    tags = outline_text(
        *text, [&](std::size_t offset) { return html_report.where_byte(offset); }, errors_);
    return text;
  }

  TemplateSet::Impl& set_;
  fs::path dir_;
  ConfigErrors& errors_;
  std::size_t max_file_bytes_;
  std::set<std::string> partial_names_;
};

// -------------------------------------------------------------------- checking

// The values template_data adds to every event (besides shop.*).
const char* const kDerivedFields[] = {"locale",          "shop",          "customer.first_name",
                                      "delivery.window", "delivery.date", "delivery.day",
                                      "delivery.when",   "delivery.pickup_by", "optout_url"};

// What a template may name, from the event's fields (event.hpp), the
// derived ones and the config, and where each tag of a text leads.
class TemplateChecker {
 public:
  TemplateChecker(const TemplateSet::Impl& set, const Config& config, ConfigErrors& errors,
                  std::vector<ConfigError>& warnings)
      : set_(set), config_(config), errors_(errors), warnings_(warnings) {
    for (const auto& field : event_fields()) add_known(field);
    for (const char* field : kDerivedFields) add_known(field);
    for (const auto& [key, _] : config.shop.fields) add_known("shop." + key);
    if (config.data_fields) {
      for (const auto& field : *config.data_fields) add_known("data." + field);
    }
    default_chain_ = locale_chain(config.default_locale, {});
  }

  void check() {
    for (const auto& [name, tmpl] : set_.templates) {
      check_locales(name, tmpl);
      for (const auto& text : tmpl.outlines) {
        Scope scope{"template " + name + ", " + text.what, text.locale, {""}, {}};
        walk(text.tags, scope, 0);
      }
    }
    check_rules();
    if (!unchecked_data_.empty()) {
      std::string fields;
      for (const auto& field : unchecked_data_) fields += (fields.empty() ? "" : ", ") + field;
      warnings_.push_back(ConfigError{
          config_.path, 0, 0,
          "data: is not declared, so the templates' " + fields +
              " are not checked; list the fields the shop's events carry in data: (as in "
              "data: [total, items.name])"});
    }
  }

 private:
  enum class Found { Known, Unchecked, Unknown };

  // Where a tag is read: the text it is in, its locale, the contexts
  // sections have opened (paths from the event's root, "" the root
  // itself) and the shop keys sections have found set.
  struct Scope {
    std::string text;
    std::string locale;
    std::vector<std::string> contexts;
    std::vector<std::string> guarded;
  };

  void add_known(const std::string& path) {
    for (auto dot = path.find('.'); dot != std::string::npos; dot = path.find('.', dot + 1)) {
      known_.insert(path.substr(0, dot));
    }
    known_.insert(path);
  }

  static bool within(const std::string& path, const std::string& prefix) {
    return path == prefix ||
           (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
            path[prefix.size()] == '.');
  }

  Found classify(const std::string& path, const Scope& scope) const {
    if (known_.count(path)) return Found::Known;
    for (const auto& guarded : scope.guarded) {
      if (within(path, guarded)) return Found::Known;
    }
    if (!config_.data_fields && within(path, "data")) return Found::Unchecked;
    return Found::Unknown;
  }

  // The path a name stands for where it is read, as Mustache looks it up:
  // in the innermost section's value first, then outwards. A known path
  // wins over one that cannot be checked ({{order_id}} inside a section
  // over undeclared data is the event's).
  std::pair<Found, std::string> resolve(const std::string& name, const Scope& scope) const {
    if (name == ".") {
      if (scope.contexts.size() > 1) return {Found::Known, scope.contexts.back()};
      return {Found::Unknown, name};
    }
    std::optional<std::string> unchecked;
    for (auto it = scope.contexts.rbegin(); it != scope.contexts.rend(); ++it) {
      std::string path = it->empty() ? name : *it + "." + name;
      Found found = classify(path, scope);
      if (found == Found::Known) return {found, path};
      if (found == Found::Unchecked) unchecked = path;  // the outermost: the likeliest
    }
    if (unchecked) return {Found::Unchecked, *unchecked};
    return {Found::Unknown, name};
  }

  static std::string shown(const OutlineTag& tag) {
    switch (tag.kind) {
      case OutlineTag::Kind::Section:
        return "{{#" + tag.name + "}}";
      case OutlineTag::Kind::Inverted:
        return "{{^" + tag.name + "}}";
      case OutlineTag::Kind::Partial:
        return "{{> " + tag.name + "}}";
      default:
        return "{{" + tag.name + "}}";
    }
  }

  // The fields one level below `parent` ("" for the root).
  std::vector<std::string> children_of(const std::string& parent) const {
    std::vector<std::string> names;
    for (const auto& path : known_) {
      if (parent.empty()) {
        if (path.find('.') == std::string::npos) names.push_back(path);
      } else if (within(path, parent) && path != parent &&
                 path.find('.', parent.size() + 1) == std::string::npos) {
        names.push_back(path.substr(parent.size() + 1));
      }
    }
    return names;
  }

  std::string why_unknown(const OutlineTag& tag, const Scope& scope) const {
    const std::string& name = tag.name;
    if (name.empty()) return "an empty tag names nothing";
    if (name == ".") return "{{.}} outside a section stands for the whole event";
    std::string hint;
    auto hint_from = [&hint](const std::string& word, const std::vector<std::string>& options,
                             const std::string& prefix) {
      if (!hint.empty()) return;
      if (auto best = closest_word(word, options)) hint = " (did you mean " + prefix + *best + "?)";
    };
    // Inside sections, the name was looked up in each of their values too.
    std::string sections;
    for (std::size_t i = scope.contexts.size(); i-- > 1;) {
      sections += (sections.empty() ? "" : ", ") + scope.contexts[i];
      if (hint.empty()) hint_from(name, children_of(scope.contexts[i]), "");
    }
    const auto dot = name.find('.');
    const std::string head = name.substr(0, dot);
    const std::string rest = dot == std::string::npos ? std::string() : name.substr(dot + 1);
    std::string why;
    if (head == "shop" && !rest.empty()) {
      why = "the config's shop: block has no " + rest;
      hint_from(rest, children_of("shop"), "shop.");
    } else if (head == "data" && !rest.empty() && config_.data_fields) {
      why = "data." + rest + " is not declared in the config's data: list";
      std::vector<std::string> declared;
      for (const auto& path : known_) {
        if (within(path, "data") && path != "data") declared.push_back(path.substr(5));
      }
      hint_from(rest, declared, "data.");
    } else {
      why = "no event has " + name;
      std::vector<std::string> all(known_.begin(), known_.end());
      hint_from(name, all, "");
    }
    if (!sections.empty()) why = "no field " + name + " in " + sections + ", and " + why;
    return why + hint;
  }

  void error(const OutlineTag& tag, const Scope& scope, const std::string& message) {
    add(errors_.items, tag.where, scope.text + ": " + shown(tag) + ": " + message);
  }

  // The same partial is walked from many templates: each problem once.
  void add(std::vector<ConfigError>& to, ConfigError where, std::string message) {
    where.message = std::move(message);
    if (reported_.insert(where.to_string()).second) to.push_back(std::move(where));
  }

  void walk(const std::vector<OutlineTag>& tags, Scope& scope, int partial_depth) {
    for (const auto& tag : tags) {
      if (tag.kind == OutlineTag::Kind::Partial) {
        walk_partial(tag, scope, partial_depth);
        continue;
      }
      auto [found, path] = resolve(tag.name, scope);
      if (found == Found::Unchecked) unchecked_data_.insert(path);
      const bool section = tag.kind == OutlineTag::Kind::Section;
      std::size_t guards = scope.guarded.size();
      if (found == Found::Unknown) {
        const auto dot = tag.name.find('.');
        const bool shop_key = tag.kind != OutlineTag::Kind::Variable &&
                              tag.name.compare(0, dot, "shop") == 0 && dot == 4 &&
                              tag.name.find('.', dot + 1) == std::string::npos;
        if (shop_key) {
          // {{#shop.returns_url}}...{{/shop.returns_url}}: a template made
          // for shops with and without the key. Said, not refused.
          add(warnings_, tag.where,
              scope.text + ": " + shown(tag) + ": the config's shop: block has no " +
                  tag.name.substr(dot + 1) + ", so this section is " +
                  (section ? "never shown" : "always shown"));
          if (section) scope.guarded.push_back(tag.name);
        } else {
          error(tag, scope, why_unknown(tag, scope));
        }
      }
      if (tag.kind == OutlineTag::Kind::Variable) continue;
      // A section's value is the innermost context of what it holds; an
      // inverted section shows only when there is no value to look into.
      if (section) scope.contexts.push_back(found == Found::Unknown ? tag.name : path);
      walk(tag.children, scope, partial_depth);
      if (section) scope.contexts.pop_back();
      scope.guarded.resize(guards);
    }
  }

  // A partial is read where it is included, with the sections around it,
  // in the locale render picks for the including text.
  void walk_partial(const OutlineTag& tag, Scope& scope, int partial_depth) {
    auto texts = set_.partials.find(tag.name);
    auto outlines = set_.partial_outlines.find(tag.name);
    // Undefined, or dropped for a cycle: the load has said so.
    if (texts == set_.partials.end() || outlines == set_.partial_outlines.end()) return;
    std::string chosen;
    if (!find_localized(texts->second, locale_chain(scope.locale, config_.default_locale),
                        &chosen)) {
      error(tag, scope,
            "partial " + tag.name + " has no text for " + scope.locale + " or the default locale " +
                config_.default_locale + ", so this text cannot be rendered in " + scope.locale);
      return;
    }
    auto outline = outlines->second.find(chosen);
    if (outline == outlines->second.end() || partial_depth >= kMaxPartialDepth) return;
    Scope inner{"partial " + tag.name + "." + chosen, scope.locale, scope.contexts, scope.guarded};
    walk(outline->second, inner, partial_depth + 1);
  }

  // The shop's locales: declared, or those the templates have between them.
  std::set<std::string> shop_locales() const {
    std::set<std::string> locales;
    if (!config_.supported_locales.empty()) {
      for (const auto& locale : config_.supported_locales) {
        std::string canonical = canonical_locale(locale);
        if (!canonical.empty()) locales.insert(canonical);
      }
      return locales;
    }
    for (const auto& [_, tmpl] : set_.templates) {
      for (const auto& [locale, _] : tmpl.sms) locales.insert(locale);
      for (const auto& [locale, _] : tmpl.email) locales.insert(locale);
    }
    return locales;
  }

  template <typename Texts>
  void check_locales(const std::string& name, const TemplateSet::Impl::Template& tmpl,
                     ChannelKind kind, const Texts& texts) {
    if (texts.empty()) return;
    const std::string channel = to_string(kind);
    auto key = tmpl.channel_keys.find(kind);
    const ConfigError where = key != tmpl.channel_keys.end() ? key->second : tmpl.file;
    const bool has_default = find_localized(texts, default_chain_) != nullptr;
    if (!has_default) {
      add(errors_.items, where,
          "template " + name + ": " + channel + " has no text for the default locale " +
              config_.default_locale + " (locale.default), so a message to a customer in " +
              "a locale it lacks cannot be rendered");
    }
    auto language = [](const std::string& locale) { return locale.substr(0, locale.find('-')); };
    for (const auto& locale : shop_locales()) {
      // A customer in this locale gets words in its language, its own or
      // (sv for sv-SE) by fallback.
      std::string chosen;
      if (find_localized(texts, locale_chain(locale, config_.default_locale), &chosen) &&
          language(chosen) == language(locale)) {
        continue;
      }
      // Said once, above, when it is the default locale's language.
      if (!has_default && !default_chain_.empty() &&
          language(locale) == language(default_chain_.back())) {
        continue;
      }
      add(errors_.items, where,
          "template " + name + ": " + channel + " has no text for " + locale +
              (config_.supported_locales.empty()
                   ? " (other templates have it; locale.supported lists the shop's locales)"
                   : " (locale.supported)"));
    }
  }

  void check_locales(const std::string& name, const TemplateSet::Impl::Template& tmpl) {
    check_locales(name, tmpl, ChannelKind::Sms, tmpl.sms);
    check_locales(name, tmpl, ChannelKind::Email, tmpl.email);
  }

  // A rule that sends a template on a channel kind it has no text for
  // would fail every such message.
  void check_rules() {
    for (const auto& rule : config_.rules) {
      auto found = set_.templates.find(rule.template_name);
      if (found == set_.templates.end()) continue;  // the config or the load says why
      const auto& tmpl = found->second;
      std::vector<std::string> channels = rule.channels;
      if (!rule.fallback_channel.empty()) channels.push_back(rule.fallback_channel);
      for (const auto& channel_name : channels) {
        const ChannelConfig* channel = config_.channel(channel_name);
        if (!channel) continue;
        bool has = channel->kind == ChannelKind::Sms ? !tmpl.sms.empty() : !tmpl.email.empty();
        if (has) continue;
        add(errors_.items, tmpl.file,
            "template " + rule.template_name + " has no " + to_string(channel->kind) +
                ", but rule " + rule.name + " sends it on channel " + channel_name);
      }
    }
  }

  static constexpr int kMaxPartialDepth = 16;

  const TemplateSet::Impl& set_;
  const Config& config_;
  ConfigErrors& errors_;
  std::vector<ConfigError>& warnings_;
  std::set<std::string> known_;
  std::vector<std::string> default_chain_;
  std::set<std::string> unchecked_data_;
  std::set<std::string> reported_;
};

RenderResult failure(std::string error) {
  return RenderResult{std::nullopt, std::move(error)};
}

}  // namespace

TemplateSet::TemplateSet() : impl_(std::make_unique<Impl>()) {}
TemplateSet::~TemplateSet() = default;

std::shared_ptr<const TemplateSet> TemplateSet::load(const std::string& dir, ConfigErrors& errors,
                                                     std::size_t max_file_bytes) {
  auto set = std::make_shared<TemplateSet>();
  Loader(*set->impl_, dir, errors, max_file_bytes).load();
  return set;
}

void TemplateSet::check(const Config& config, ConfigErrors& errors,
                        std::vector<ConfigError>& warnings) const {
  TemplateChecker(*impl_, config, errors, warnings).check();
}

bool TemplateSet::has(const std::string& name) const {
  return impl_->templates.count(name) > 0;
}

std::vector<std::string> TemplateSet::names() const {
  std::vector<std::string> names;
  for (const auto& [name, _] : impl_->templates) names.push_back(name);
  return names;
}

std::vector<std::string> TemplateSet::locales(const std::string& name, ChannelKind kind) const {
  std::vector<std::string> locales;
  auto it = impl_->templates.find(name);
  if (it == impl_->templates.end()) return locales;
  if (kind == ChannelKind::Sms) {
    for (const auto& [locale, _] : it->second.sms) locales.push_back(locale);
  } else {
    for (const auto& [locale, _] : it->second.email) locales.push_back(locale);
  }
  return locales;
}

ConfigError TemplateSet::where(const std::string& name, ChannelKind kind) const {
  auto it = impl_->templates.find(name);
  if (it == impl_->templates.end()) return {};
  auto key = it->second.channel_keys.find(kind);
  return key != it->second.channel_keys.end() ? key->second : it->second.file;
}

RenderResult TemplateSet::render(const std::string& name, ChannelKind kind,
                                 const nlohmann::json& event, const std::string& locale,
                                 const RenderContext& context) const {
  // The data path never sees an exception from here (STYLE.md).
  try {
    return impl_->render(name, kind, event, locale, context);
  } catch (const std::exception& e) {
    return failure("template " + name + ": rendering failed: " + e.what());
  } catch (...) {
    return failure("template " + name + ": rendering failed");
  }
}

namespace {

// template_data, with dates written in dates_locale.
nlohmann::json derived_data(const nlohmann::json& event, const std::string& locale,
                            const std::string& dates, const RenderContext& context) {
  nlohmann::json data = event.is_object() ? event : nlohmann::json::object();

  std::string timezone = context.default_timezone;
  auto customer = data.find("customer");
  if (customer != data.end() && customer->is_object()) {
    // A first name the shop sends wins over our guess from the full name.
    std::string name = string_field(*customer, "name");
    auto start = name.find_first_not_of(kWhitespace);
    if (string_field(*customer, "first_name").empty() && start != std::string::npos) {
      auto end = name.find_first_of(kWhitespace, start);
      (*customer)["first_name"] = name.substr(start, end - start);
    }
    std::string customer_zone = string_field(*customer, "timezone");
    if (find_time_zone(customer_zone)) timezone = customer_zone;
  }

  auto delivery = data.find("delivery");
  if (delivery != data.end() && delivery->is_object()) {
    std::string start = string_field(*delivery, "window_start");
    std::string end = string_field(*delivery, "window_end");
    std::string window = format_delivery_window(start, end, dates, timezone);
    if (!window.empty()) (*delivery)["window"] = window;
    if (auto start_ms = parse_rfc3339_ms(start)) {
      auto zone = zone_or_utc(timezone);
      const icu::Locale date_locale = icu_locale(dates);
      const auto from = static_cast<double>(*start_ms);
      std::string day = format_day(from, date_locale, *zone);
      if (!day.empty()) (*delivery)["date"] = day;
      // Said from the moment of rendering; with none, as a date.
      std::string relative;
      if (context.now_ms != 0) {
        relative = relative_day(from, static_cast<double>(context.now_ms), date_locale, *zone);
      }
      if (!relative.empty() || !day.empty()) (*delivery)["day"] = relative.empty() ? day : relative;
      if (!window.empty()) {
        std::string hours;
        if (!relative.empty()) {
          auto end_ms = parse_rfc3339_ms(end);
          hours = format_window(from, static_cast<double>(*end_ms), date_locale, *zone, true);
        }
        (*delivery)["when"] = hours.empty() ? window : relative + " " + hours;
      }
    }
  }

  // A locker's deadline as people say it: "lördag 28 november kl. 09:15".
  if (delivery != data.end() && delivery->is_object()) {
    if (auto until = parse_rfc3339_ms(string_field(*delivery, "pickup_deadline"))) {
      auto zone = zone_or_utc(timezone);
      std::string by = format_day_time(static_cast<double>(*until), icu_locale(dates), *zone);
      if (!by.empty()) (*delivery)["pickup_by"] = by;
    }
  }

  // The shop's facts come from the config only, never from the event.
  nlohmann::json shop = nlohmann::json::object();
  for (const auto& [key, value] : context.shop) shop[key] = value;
  data["shop"] = std::move(shop);
  data["locale"] = locale;
  // The signed opt-out link is tack's, never the event's.
  data["optout_url"] = context.optout_url;
  return data;
}

}  // namespace

RenderResult TemplateSet::Impl::render(const std::string& name, ChannelKind kind,
                                       const nlohmann::json& event, const std::string& locale,
                                       const RenderContext& context) const {
  auto found = templates.find(name);
  if (found == templates.end()) return failure("no template " + name);
  const Template& tmpl = found->second;
  const char* channel = kind == ChannelKind::Sms ? "sms" : "email";

  const auto chain = locale_chain(locale, context.default_locale);
  std::string chosen;
  const std::string* sms = nullptr;
  const Email* email = nullptr;
  if (kind == ChannelKind::Sms) {
    sms = find_localized(tmpl.sms, chain, &chosen);
  } else {
    email = find_localized(tmpl.email, chain, &chosen);
  }
  if (!sms && !email) {
    return failure("template " + name + " has no " + channel + " text for locale " +
                   (locale.empty() ? "(none)" : locale) + " or the default " +
                   context.default_locale);
  }

  // Dates follow the customer's (or the default) regional locale when it
  // is of the template's language: "en-GB" writes an "en" template's dates.
  std::string dates_locale = chosen;
  for (const std::string* tag : {&locale, &context.default_locale}) {
    std::string canonical = canonical_locale(*tag);
    if (canonical.substr(0, canonical.find('-')) == chosen.substr(0, chosen.find('-'))) {
      dates_locale = canonical;
      break;
    }
  }
  const mustache::data data = to_mustache(derived_data(event, chosen, dates_locale, context), 0);
  PartialTexts partial_texts;
  for (const auto& [partial, texts] : partials) {
    if (const std::string* text = find_localized(texts, chain)) {
      partial_texts.emplace(partial, mustache::data(*text));
    }
  }
  std::string error;
  auto render_part = [&](const std::string& source, const char* part, bool html) {
    if (!error.empty()) return std::string();
    TextRendering rendering =
        render_text(source, data, partial_texts, html, context.max_output_bytes);
    if (!rendering.error.empty()) {
      error = "template " + name + ", " + part + " (" + chosen + "): " + rendering.error;
    }
    return std::move(rendering.text);
  };

  RenderedMessage message;
  message.kind = kind;
  message.locale = chosen;
  if (sms) {
    message.text = trim(render_part(*sms, "sms", false));
    if (error.empty() && message.text.empty()) {
      error = "template " + name + ", sms (" + chosen + "): renders empty";
    }
  } else {
    message.subject = trim(render_part(email->subject, "email subject", false));
    if (error.empty() && message.subject.find_first_of("\r\n") != std::string::npos) {
      error = "template " + name + ", email subject (" + chosen +
              "): holds a line break (refused: header injection)";
    }
    if (error.empty() && message.subject.empty()) {
      error = "template " + name + ", email subject (" + chosen + "): renders empty";
    }
    message.text = trim(render_part(email->text, "email text", false));
    if (!message.text.empty()) message.text += '\n';
    if (!email->html.empty()) message.html = render_part(email->html, "email html", true);
  }
  if (!error.empty()) return failure(std::move(error));
  return RenderResult{std::move(message), {}};
}

nlohmann::json template_data(const nlohmann::json& event, const std::string& locale,
                             const RenderContext& context) {
  return derived_data(event, locale, locale, context);
}

std::string format_delivery_window(const std::string& start_rfc3339, const std::string& end_rfc3339,
                                   const std::string& locale, const std::string& timezone) {
  auto start = parse_rfc3339_ms(start_rfc3339);
  auto end = parse_rfc3339_ms(end_rfc3339);
  if (!start || !end || *end <= *start) return {};
  // template_data has already put an unknown zone back to the default; here
  // UTC is the only neutral choice left.
  auto zone = zone_or_utc(timezone);
  return format_window(static_cast<double>(*start), static_cast<double>(*end), icu_locale(locale),
                       *zone);
}

}  // namespace tack
