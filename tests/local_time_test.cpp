#include "local_time.hpp"

#include <catch2/catch.hpp>
#include <climits>
#include <limits>
#include <vector>

#include "event.hpp"

namespace tack {
namespace {

// 2026: the clocks go forward on Sunday 29 March at 01:00Z and back on
// Sunday 25 October at 01:00Z in both Europe/Stockholm and Europe/Warsaw
// (CET +1, CEST +2).
std::int64_t utc(const char* rfc3339) {
  auto ms = parse_rfc3339_ms(rfc3339);
  REQUIRE(ms);
  return *ms;
}

constexpr std::int64_t kMs = 1;
const DailyWindow kDay{8 * 60, 21 * 60};
const DailyWindow kNight{21 * 60, 8 * 60};

TEST_CASE("a daily window parses from HH:MM-HH:MM", "[local_time]") {
  CHECK(parse_daily_window("08:00-21:00") == DailyWindow{480, 1260});
  CHECK(parse_daily_window("21:00-08:00") == DailyWindow{1260, 480});
  CHECK(parse_daily_window("00:00-24:00") == DailyWindow{0, 1440});
  CHECK(parse_daily_window("8:30-9:15") == DailyWindow{510, 555});
  CHECK(parse_daily_window("23:59-00:00") == DailyWindow{1439, 0});
}

TEST_CASE("a malformed, empty or absurd daily window is refused", "[local_time]") {
  for (std::string text : {"",
                           "08:00",
                           "08:00-08:00",
                           "00:00-00:00",
                           "08:00 - 21:00",
                           " 08:00-21:00",
                           "08:00-21:00 ",
                           "24:00-08:00",
                           "08:00-24:01",
                           "08:00-25:00",
                           "08:60-21:00",
                           "08:00-21:60",
                           "08:00-21:00x",
                           "x08:00-21:00",
                           "08:00--21:00",
                           "-08:00-21:00",
                           "08.00-21.00",
                           "08:00–21:00",
                           "08:00-",
                           "-21:00",
                           "-",
                           "99999999999:00-21:00",
                           "08:00-21:00-22:00",
                           "0x8:00-21:00",
                           "+8:00-21:00",
                           "08:0-21:00",
                           "008:00-21:00"}) {
    INFO(text);
    CHECK_FALSE(parse_daily_window(text));
  }
  CHECK_FALSE(parse_daily_window(std::string("08:00\0-21:00", 12)));
  CHECK_FALSE(parse_daily_window(std::string(100000, '9')));
  CHECK_FALSE(parse_daily_window(std::string(50000, '0') + ":00-21:00"));
}

TEST_CASE("a time of day parses from H:MM or HH:MM, 00:00 to 23:59", "[local_time]") {
  CHECK(parse_time_of_day("10:00") == 600);
  CHECK(parse_time_of_day("7:05") == 425);
  CHECK(parse_time_of_day("07:05") == 425);
  CHECK(parse_time_of_day("00:00") == 0);
  CHECK(parse_time_of_day("23:59") == 1439);
  for (std::string text : {"24:00",  "10",     "10:60",  " 10:00", "10:00 ",
                           "",       ":",      "10:",    ":00",    "10:0",
                           "10:000", "100:00", "-1:00",  "+1:00",  "1a:00",
                           "007:00", "10h00",  "10:00Z", "٠٨:٠٠",  "99999999999999999999:00"}) {
    INFO(text);
    CHECK_FALSE(parse_time_of_day(text));
  }
  CHECK_FALSE(parse_time_of_day(std::string(100000, '1')));
}

TEST_CASE("a time of day formats as HH:MM", "[local_time]") {
  CHECK(format_time_of_day(600) == "10:00");
  CHECK(format_time_of_day(0) == "00:00");
  CHECK(format_time_of_day(425) == "07:05");
  CHECK(format_time_of_day(1439) == "23:59");
  CHECK(format_time_of_day(1440) == "24:00");
  CHECK(format_time_of_day(1441) == "00:01");
  CHECK(format_time_of_day(-1) == "23:59");
  CHECK(format_time_of_day(INT_MAX).size() == 5);
  CHECK(format_time_of_day(INT_MIN).size() == 5);
  for (int minute : {0, 1, 59, 60, 425, 600, 1439}) {
    CHECK(parse_time_of_day(format_time_of_day(minute)) == minute);
  }
}

TEST_CASE("a time zone is valid when the tz database has it", "[local_time]") {
  CHECK(valid_timezone("Europe/Stockholm"));
  CHECK(valid_timezone("Europe/Warsaw"));
  CHECK(valid_timezone("Europe/London"));
  CHECK(valid_timezone("America/New_York"));
  CHECK(valid_timezone("UTC"));
  for (std::string name :
       {"", "Mars/Base", "../etc", "../../etc/passwd", "/etc/passwd", "Europe/../Europe/Stockholm",
        "Europe/Stockholm/", "europe/stockholm", " Europe/Stockholm", "Europe", "Europe/", "/", ".",
        "..", "Europe/Stockholm\n"}) {
    INFO(name);
    CHECK_FALSE(valid_timezone(name));
  }
  CHECK_FALSE(valid_timezone(std::string("Europe/Stockholm\0x", 18)));
  CHECK_FALSE(valid_timezone(std::string(100000, 'a')));
}

TEST_CASE("quiet hours: the edges of a day window", "[local_time]") {
  const std::string zone = "Europe/Stockholm";
  // Saturday 5 December 2026, CET: 08:00 local is 07:00Z, 21:00 is 20:00Z.
  const std::int64_t opens = utc("2026-12-05T07:00:00Z");
  const std::int64_t closes = utc("2026-12-05T20:00:00Z");
  CHECK(in_window(opens, kDay, zone));
  CHECK(next_in_window(opens, kDay, zone) == opens);
  CHECK_FALSE(in_window(opens - kMs, kDay, zone));
  CHECK(next_in_window(opens - kMs, kDay, zone) == opens);
  CHECK(in_window(closes - kMs, kDay, zone));
  CHECK(next_in_window(closes - kMs, kDay, zone) == closes - kMs);
  CHECK_FALSE(in_window(closes, kDay, zone));
  CHECK(next_in_window(closes, kDay, zone) == utc("2026-12-06T07:00:00Z"));
  // 03:00 local waits for 08:00 the same day.
  CHECK(next_in_window(utc("2026-12-05T02:00:00Z"), kDay, zone) == opens);
  // 23:30 local (22:30Z) waits for the next morning.
  CHECK(next_in_window(utc("2026-12-05T22:30:00Z"), kDay, zone) == utc("2026-12-06T07:00:00Z"));
  // The same instants are inside the window an hour later in London.
  CHECK(in_window(closes, kDay, "Europe/London"));
  CHECK_FALSE(in_window(opens, kDay, "Europe/London"));
  CHECK(next_in_window(opens, kDay, "Europe/London") == utc("2026-12-05T08:00:00Z"));
}

TEST_CASE("quiet hours: a window that wraps past midnight", "[local_time]") {
  const std::string zone = "Europe/Stockholm";
  const std::int64_t opens = utc("2026-12-05T20:00:00Z");   // 21:00 local
  const std::int64_t closes = utc("2026-12-06T07:00:00Z");  // 08:00 local
  CHECK(in_window(opens, kNight, zone));
  CHECK_FALSE(in_window(opens - kMs, kNight, zone));
  CHECK(next_in_window(opens - kMs, kNight, zone) == opens);
  CHECK(in_window(utc("2026-12-05T23:30:00Z"), kNight, zone));  // 00:30 local
  CHECK(in_window(closes - kMs, kNight, zone));
  CHECK_FALSE(in_window(closes, kNight, zone));
  CHECK(next_in_window(closes, kNight, zone) == utc("2026-12-06T20:00:00Z"));
  CHECK(next_in_window(utc("2026-12-05T12:00:00Z"), kNight, zone) == opens);
}

TEST_CASE("quiet hours: a whole-day window is always open, a one-minute one once a day",
          "[local_time]") {
  const DailyWindow all{0, 1440};
  for (const char* at : {"2026-12-05T00:00:00Z", "2026-12-05T22:59:59.999Z", "2026-03-29T01:00:00Z",
                         "2026-10-25T00:30:00Z"}) {
    CHECK(in_window(utc(at), all, "Europe/Stockholm"));
    CHECK(next_in_window(utc(at), all, "Europe/Stockholm") == utc(at));
  }
  const DailyWindow minute{12 * 60, 12 * 60 + 1};
  CHECK(next_in_window(utc("2026-12-05T11:01:00Z"), minute, "Europe/Stockholm") ==
        utc("2026-12-06T11:00:00Z"));
  CHECK(next_in_window(utc("2026-12-05T11:00:59.999Z"), minute, "Europe/Stockholm") ==
        utc("2026-12-05T11:00:59.999Z"));
}

TEST_CASE("quiet hours on the nights the clocks change, Stockholm and Warsaw", "[local_time]") {
  for (const std::string zone : {"Europe/Stockholm", "Europe/Warsaw"}) {
    INFO(zone);
    // 08:00 the day before the spring change is CET, on the day CEST.
    CHECK(next_in_window(utc("2026-03-27T23:00:00Z"), kDay, zone) == utc("2026-03-28T07:00:00Z"));
    CHECK(next_in_window(utc("2026-03-28T22:00:00Z"), kDay, zone) == utc("2026-03-29T06:00:00Z"));
    CHECK_FALSE(in_window(utc("2026-03-29T05:59:59.999Z"), kDay, zone));
    CHECK(in_window(utc("2026-03-29T06:00:00Z"), kDay, zone));
    CHECK(in_window(utc("2026-03-29T18:59:59.999Z"), kDay, zone));
    CHECK_FALSE(in_window(utc("2026-03-29T19:00:00Z"), kDay, zone));
    CHECK(next_in_window(utc("2026-03-29T19:00:00Z"), kDay, zone) == utc("2026-03-30T06:00:00Z"));
    // Autumn: 08:00 CEST the day before, 08:00 CET on the day.
    CHECK(next_in_window(utc("2026-10-23T22:00:00Z"), kDay, zone) == utc("2026-10-24T06:00:00Z"));
    CHECK(next_in_window(utc("2026-10-24T22:00:00Z"), kDay, zone) == utc("2026-10-25T07:00:00Z"));
    CHECK_FALSE(in_window(utc("2026-10-25T06:59:59.999Z"), kDay, zone));
    CHECK(in_window(utc("2026-10-25T19:59:59.999Z"), kDay, zone));
    CHECK_FALSE(in_window(utc("2026-10-25T20:00:00Z"), kDay, zone));
    // A night window across the spring change: 21:00 CET to 08:00 CEST.
    CHECK(in_window(utc("2026-03-29T00:59:59.999Z"), kNight, zone));
    CHECK(in_window(utc("2026-03-29T01:00:00Z"), kNight, zone));
    CHECK_FALSE(in_window(utc("2026-03-29T06:00:00Z"), kNight, zone));
  }
}

TEST_CASE("next_in_window agrees with a minute-by-minute scan over the DST weekends",
          "[local_time]") {
  constexpr std::int64_t kMinute = 60 * 1000;
  const DailyWindow windows[] = {kDay, kNight, {2 * 60 + 30, 5 * 60}, {0, 2 * 60 + 30}};
  for (const char* from : {"2026-03-28T00:00:00Z", "2026-10-24T00:00:00Z"}) {
    for (const std::string zone : {"Europe/Stockholm", "Europe/Warsaw"}) {
      for (const DailyWindow& window : windows) {
        for (std::int64_t t = utc(from); t < utc(from) + 2 * 24 * 60 * kMinute;
             t += 97 * kMinute + 1234) {
          // The local time only changes minute (and so window) on a minute
          // boundary, offsets change on whole minutes.
          std::int64_t scan = t;
          while (!in_window(scan, window, zone)) scan = (scan / kMinute + 1) * kMinute;
          INFO(zone << " " << window.start_minute << "-" << window.end_minute << " t=" << t);
          CHECK(next_in_window(t, window, zone) == scan);
        }
      }
    }
  }
}

TEST_CASE("quiet hours: a window opening in the spring gap opens when the gap ends",
          "[local_time]") {
  const DailyWindow from_half_two{2 * 60 + 30, 5 * 60};
  // 00:00 CET on 29 March; 02:30 never happens, 03:00 CEST (01:00Z) does.
  CHECK(next_in_window(utc("2026-03-28T23:00:00Z"), from_half_two, "Europe/Stockholm") ==
        utc("2026-03-29T01:00:00Z"));
  CHECK(in_window(utc("2026-03-29T01:00:00Z"), from_half_two, "Europe/Stockholm"));
  CHECK_FALSE(in_window(utc("2026-03-29T00:59:59.999Z"), from_half_two, "Europe/Stockholm"));
}

TEST_CASE("quiet hours: the autumn clock change can reopen a window", "[local_time]") {
  const DailyWindow until_half_two{0, 2 * 60 + 30};
  // 02:45 CEST is outside; an hour and a quarter later it is 02:00 CET, inside.
  CHECK_FALSE(in_window(utc("2026-10-25T00:45:00Z"), until_half_two, "Europe/Warsaw"));
  CHECK(next_in_window(utc("2026-10-25T00:45:00Z"), until_half_two, "Europe/Warsaw") ==
        utc("2026-10-25T01:00:00Z"));
}

TEST_CASE("a time of day: the first such instant at or after a time", "[local_time]") {
  const std::string zone = "Europe/Stockholm";
  CHECK(next_time_of_day(utc("2026-12-05T08:00:00Z"), 600, zone) == utc("2026-12-05T09:00:00Z"));
  CHECK(next_time_of_day(utc("2026-12-05T09:00:00Z"), 600, zone) == utc("2026-12-05T09:00:00Z"));
  CHECK(next_time_of_day(utc("2026-12-05T09:00:00.001Z"), 600, zone) ==
        utc("2026-12-06T09:00:00Z"));
  CHECK(next_time_of_day(utc("2026-12-05T22:59:59.999Z"), 0, zone) == utc("2026-12-05T23:00:00Z"));
  CHECK(next_time_of_day(utc("2026-12-05T08:00:00Z"), 600, "Europe/London") ==
        utc("2026-12-05T10:00:00Z"));
  // Summer time.
  CHECK(next_time_of_day(utc("2026-06-30T09:00:00Z"), 600, zone) == utc("2026-07-01T08:00:00Z"));
}

TEST_CASE("a time of day on the nights the clocks change", "[local_time]") {
  for (const std::string zone : {"Europe/Stockholm", "Europe/Warsaw"}) {
    INFO(zone);
    // 10:00 the day after a time on the Saturday before each change.
    CHECK(next_time_of_day(utc("2026-03-28T12:00:00Z"), 600, zone) == utc("2026-03-29T08:00:00Z"));
    CHECK(next_time_of_day(utc("2026-10-24T12:00:00Z"), 600, zone) == utc("2026-10-25T09:00:00Z"));
    // Spring: 02:00 to 03:00 does not happen; a time in it means 03:00 CEST.
    const std::int64_t midnight = utc("2026-03-28T23:00:00Z");
    CHECK(next_time_of_day(midnight, 150, zone) == utc("2026-03-29T01:00:00Z"));
    CHECK(next_time_of_day(midnight, 120, zone) == utc("2026-03-29T01:00:00Z"));
    CHECK(next_time_of_day(midnight, 180, zone) == utc("2026-03-29T01:00:00Z"));
    CHECK(next_time_of_day(midnight, 60, zone) == utc("2026-03-29T00:00:00Z"));
    CHECK(next_time_of_day(midnight, 179, zone) == utc("2026-03-29T01:00:00Z"));
    CHECK(next_time_of_day(midnight, 181, zone) == utc("2026-03-29T01:01:00Z"));
    // The next night 02:30 happens again, in CEST.
    CHECK(next_time_of_day(utc("2026-03-29T02:00:00Z"), 150, zone) == utc("2026-03-30T00:30:00Z"));
    // Autumn: 02:30 happens twice; the first is meant, then the second.
    CHECK(next_time_of_day(utc("2026-10-24T22:00:00Z"), 150, zone) == utc("2026-10-25T00:30:00Z"));
    CHECK(next_time_of_day(utc("2026-10-25T00:30:00.001Z"), 150, zone) ==
          utc("2026-10-25T01:30:00Z"));
    CHECK(next_time_of_day(utc("2026-10-25T01:30:00.001Z"), 150, zone) ==
          utc("2026-10-26T01:30:00Z"));
    CHECK(next_time_of_day(utc("2026-10-24T22:00:00Z"), 180, zone) == utc("2026-10-25T02:00:00Z"));
  }
}

TEST_CASE("an unknown zone is UTC", "[local_time]") {
  for (const std::string zone : {"", "Mars/Base", "../etc"}) {
    CHECK(next_time_of_day(utc("2026-12-05T08:00:00Z"), 600, zone) == utc("2026-12-05T10:00:00Z"));
    CHECK(next_in_window(utc("2026-12-05T07:30:00Z"), kDay, zone) == utc("2026-12-05T08:00:00Z"));
    CHECK(in_window(utc("2026-12-05T20:59:00Z"), kDay, zone));
    CHECK(format_local_short(utc("2026-12-05T23:30:00Z"), utc("2026-12-05T10:00:00Z"), zone) ==
          "23:30");
  }
}

TEST_CASE("times before 1970 and absurd ones neither throw nor go backwards", "[local_time]") {
  // 1 January 1970 began at 23:00Z the day before in Stockholm (CET).
  CHECK(next_time_of_day(-1, 60, "Europe/Stockholm") == 0);
  CHECK(next_in_window(-1, kDay, "Europe/Stockholm") == 7 * 3600 * 1000);
  CHECK(in_window(-3600 * 1000, DailyWindow{0, 60}, "Europe/Stockholm"));
  const std::vector<std::int64_t> absurd = {std::numeric_limits<std::int64_t>::min(),
                                            std::numeric_limits<std::int64_t>::min() + 1,
                                            -62135596800001,
                                            253402300800000,
                                            std::numeric_limits<std::int64_t>::max() - 1,
                                            std::numeric_limits<std::int64_t>::max()};
  for (std::int64_t t : absurd) {
    INFO(t);
    CHECK(next_in_window(t, kDay, "Europe/Stockholm") >= t);
    CHECK(next_in_window(t, kNight, "Europe/Warsaw") >= t);
    CHECK(next_time_of_day(t, 600, "Europe/Stockholm") >= t);
    CHECK_NOTHROW(in_window(t, kDay, "Europe/Stockholm"));
    CHECK_NOTHROW(format_local_short(t, 0, "Europe/Stockholm"));
    CHECK_NOTHROW(format_local_short(0, t, "Europe/Stockholm"));
  }
  CHECK(next_in_window(std::numeric_limits<std::int64_t>::max(), kDay, "Europe/Stockholm") ==
        std::numeric_limits<std::int64_t>::max());
  // Out-of-range minutes and windows are taken modulo a day, never thrown on.
  const std::int64_t t = utc("2026-12-05T08:00:00Z");
  CHECK(next_time_of_day(t, 600 + 1440, "Europe/Stockholm") == utc("2026-12-05T09:00:00Z"));
  CHECK(next_time_of_day(t, -1440 + 600, "Europe/Stockholm") == utc("2026-12-05T09:00:00Z"));
  CHECK(next_time_of_day(t, INT_MIN, "Europe/Stockholm") >= t);
  CHECK(next_time_of_day(t, INT_MAX, "Europe/Stockholm") >= t);
  CHECK(next_in_window(t, DailyWindow{INT_MIN, INT_MAX}, "Europe/Stockholm") >= t);
  CHECK(next_in_window(t, DailyWindow{500, 500}, "Europe/Stockholm") >= t);
}

TEST_CASE("a country's zone when it has exactly one", "[local_time]") {
  CHECK(country_timezone("SE") == "Europe/Stockholm");
  CHECK(country_timezone("se") == "Europe/Stockholm");
  CHECK(country_timezone("PL") == "Europe/Warsaw");
  CHECK(country_timezone("pL") == "Europe/Warsaw");
  CHECK(country_timezone("GB") == "Europe/London");
  CHECK(country_timezone("FI") == "Europe/Helsinki");
  for (const char* country : {"SE", "PL", "GB", "NO", "FI", "DK"}) {
    auto zone = country_timezone(country);
    REQUIRE(zone);
    CHECK(valid_timezone(*zone));
  }
  for (std::string country :
       {"US", "RU", "AU", "XX", "", "S", "SWE", "S1", "..", "\xc5\x9e", " SE", "SE "}) {
    INFO(country);
    CHECK_FALSE(country_timezone(country));
  }
  CHECK_FALSE(country_timezone(std::string("S\0", 2)));
  CHECK_FALSE(country_timezone(std::string(100000, 'S')));
}

TEST_CASE("a time in a note: the hour today, the day and hour otherwise", "[local_time]") {
  const std::string zone = "Europe/Stockholm";
  const std::int64_t now = utc("2026-12-05T10:00:00Z");  // Saturday 11:00 CET
  CHECK(format_local_short(utc("2026-12-05T07:00:00Z"), now, zone) == "08:00");
  CHECK(format_local_short(utc("2026-12-05T22:59:00Z"), now, zone) == "23:59");
  CHECK(format_local_short(utc("2026-12-06T07:00:00Z"), now, zone) == "Sun 6 Dec 08:00");
  CHECK(format_local_short(utc("2026-12-05T23:30:00Z"), now, zone) == "Sun 6 Dec 00:30");
  CHECK(format_local_short(utc("2026-12-04T07:00:00Z"), now, zone) == "Fri 4 Dec 08:00");
  CHECK(format_local_short(utc("2027-12-05T07:00:00Z"), now, zone) == "Sun 5 Dec 08:00");
  // The local day, not the UTC one: 23:30Z on the 5th is the 6th in Stockholm.
  CHECK(format_local_short(utc("2026-12-05T23:30:00Z"), utc("2026-12-06T05:00:00Z"), zone) ==
        "00:30");
  CHECK(format_local_short(utc("2026-03-29T06:00:00Z"), utc("2026-03-28T23:30:00Z"),
                           "Europe/Warsaw") == "08:00");
  CHECK(format_local_short(utc("2026-03-29T06:00:00Z"), utc("2026-03-28T22:30:00Z"),
                           "Europe/Warsaw") == "Sun 29 Mar 08:00");
}

}  // namespace
}  // namespace tack

TEST_CASE("time_of_day_on: that time on the instant's own local day, across the DST nights",
          "[local_time]") {
  using tack::time_of_day_on;
  // 2026-12-05 15:00 in Stockholm (14:00Z): 10:00 that day is 09:00Z, before it.
  const std::int64_t afternoon = 1796479200000;
  CHECK(time_of_day_on(afternoon, 10 * 60, "Europe/Stockholm") == 1796461200000);
  CHECK(time_of_day_on(afternoon, 23 * 60, "Europe/Stockholm") == 1796508000000);
  // 00:30 local on 29 March 2026 (23:30Z on the 28th): that Sunday's 10:00
  // is summer time already, 08:00Z.
  const std::int64_t early_sunday = 1774740600000;
  CHECK(time_of_day_on(early_sunday, 10 * 60, "Europe/Stockholm") == 1774771200000);
  // 02:30 does not exist that night: the end of the gap, 03:00 CEST (01:00Z).
  CHECK(time_of_day_on(early_sunday, 2 * 60 + 30, "Europe/Stockholm") == 1774746000000);
  // 25 October 2026 in Warsaw, late evening: 10:00 that day is 09:00Z (winter).
  const std::int64_t sunday_evening = 1792962000000;
  CHECK(time_of_day_on(sunday_evening, 10 * 60, "Europe/Warsaw") == 1792918800000);
}
