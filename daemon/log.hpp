// log: the daemon's own log lines, written to stderr in the form journald
// understands: "<N>" syslog priority prefix, one event per line. Thread-safe.
//
// Lines carry text from events and providers' answers, so journal_line()
// (the one place a line is made) escapes what could end a journal entry or
// drive a terminal: every byte below 0x20, 0x7f, the C1 controls and every
// byte that is not well-formed UTF-8 become \n, \r, \t or \xNN. A NUL or a
// newline in a field can never start a second entry with its own priority.
//
// Never pass a phone number or e-mail address here unmasked (phone.hpp has
// mask_phone/mask_email), and never a secret: the delivery log in the store
// is the place for personal data, behind auth.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace tack::log {

enum class Level { Error = 3, Warning = 4, Notice = 5, Info = 6, Debug = 7 };

void set_level(Level level);
bool set_level(std::string_view name);  // false for an unknown name
bool enabled(Level level);
void write(Level level, std::string_view line);
// The bytes write() puts on stderr for `line`: "<N>", the escaped line, "\n".
std::string journal_line(Level level, std::string_view line);

template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::Error, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void warning(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::Warning, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::Info)) write(Level::Info, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::Debug)) write(Level::Debug, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace tack::log
