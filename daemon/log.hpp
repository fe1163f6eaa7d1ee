// log: the daemon's own log lines, written to stderr, one event per line.
// Thread-safe.
//
// Two forms, chosen by where stderr goes (stderr_form): when it is the
// journal (systemd sets JOURNAL_STREAM to the "device:inode" of the stream
// it connected to stderr, and fstat(2) of fd 2 still names it), each line
// carries the "<N>" syslog priority prefix journald reads; anywhere else (a
// terminal, a file, a pipe; or JOURNAL_STREAM inherited by a shell and no
// longer ours) a person reads it: "warning: ...". Levels: an error needs
// someone to act (a gateway refusing tack's credentials, a store that
// cannot write); a warning is one message or event that did not go well
// (a send failure, a rejected event); info is news.
//
// RepeatedProblem keeps a problem that persists (a missing outbox table,
// polled every second) to one line, a reminder every few minutes, and one
// line when it ends.
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

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace tack::log {

enum class Level { Error = 3, Warning = 4, Notice = 5, Info = 6, Debug = 7 };

void set_level(Level level);
bool set_level(std::string_view name);  // false for an unknown name
bool enabled(Level level);
void write(Level level, std::string_view line);
// The bytes written to the journal for `line`: "<N>", the escaped line, "\n".
std::string journal_line(Level level, std::string_view line);
// The bytes written to a terminal or a file: "warning: ", the escaped line, "\n".
std::string plain_line(Level level, std::string_view line);
// "error", "warning", "notice", "info", "debug".
std::string_view level_name(Level level);

enum class Form { Journal, Plain };
// Whether JOURNAL_STREAM's value ("device:inode", decimal) names the stream
// with this device and inode. Anything malformed names none.
bool journal_stream_names(std::string_view journal_stream, dev_t device, ino_t inode);
// Journal when $JOURNAL_STREAM names what fd 2 is now (fstat(2)), else Plain.
Form stderr_form();
// The form write() uses; stderr_form() until set.
void set_form(Form form);

// Says a persisting problem once, then again at most every `interval`
// while it lasts, and reports once when it ends. Not thread-safe: one per
// loop that polls. Times are handed in.
class RepeatedProblem {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RepeatedProblem(Clock::duration interval) : interval_(interval) {}
  // True when `problem` should be logged now: it is a different problem
  // from the last one said, or the same one said `interval` ago or more.
  bool should_say(const std::string& problem, Clock::time_point now);
  // True once after a problem was said, when things work again.
  bool ended();
  const Clock::duration& interval() const { return interval_; }

 private:
  Clock::duration interval_;
  std::string problem_;
  Clock::time_point said_at_{};
  bool active_ = false;
};

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
