#include "log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace tack::log {

namespace {
std::atomic<int> g_level{static_cast<int>(Level::Info)};
std::mutex g_mutex;
// -1: not decided yet (stderr_form() at the first write).
std::atomic<int> g_form{-1};
}  // namespace

void set_level(Level level) { g_level = static_cast<int>(level); }

bool set_level(std::string_view name) {
  if (name == "debug") set_level(Level::Debug);
  else if (name == "info") set_level(Level::Info);
  else if (name == "notice") set_level(Level::Notice);
  else if (name == "warning") set_level(Level::Warning);
  else if (name == "error") set_level(Level::Error);
  else return false;
  return true;
}

bool enabled(Level level) { return static_cast<int>(level) <= g_level.load(); }

namespace {

// The length of the well-formed UTF-8 sequence at the start of `rest`, or 0
// when it is not one (a stray continuation byte, a truncated or overlong
// sequence, a surrogate, a code point past U+10FFFF).
std::size_t utf8_sequence_length(std::string_view rest) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(rest[i]); };
  const unsigned char lead = byte(0);
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xbf;  // the second byte's range
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) low = 0xa0;
    if (lead == 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) low = 0x90;
    if (lead == 0xf4) high = 0x8f;
  } else {
    return 0;
  }
  if (rest.size() < length) return 0;
  if (byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xbf) return 0;
  }
  return length;
}

void append_escaped(std::string& out, unsigned char byte) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out.push_back(kHex[byte >> 4]);
  out.push_back(kHex[byte & 0xf]);
}

// `prefix`, then `line` escaped, then "\n".
std::string escaped_line(std::string out, std::string_view line) {
  out.reserve(out.size() + line.size() + 1);
  // Text from events and providers' answers reaches here. journald ends an
  // entry at a newline or a NUL (and the "<N>" after it would set the next
  // entry's priority); ESC and the C1 controls drive a terminal. So every
  // control byte and every byte that is not well-formed UTF-8 is written as
  // an escape: one event, one line, printable.
  for (std::size_t i = 0; i < line.size();) {
    const auto byte = static_cast<unsigned char>(line[i]);
    if (byte >= 0x20 && byte < 0x7f) {
      out.push_back(line[i++]);
    } else if (byte == '\n') {
      out += "\\n";
      ++i;
    } else if (byte == '\r') {
      out += "\\r";
      ++i;
    } else if (byte == '\t') {
      out += "\\t";
      ++i;
    } else if (byte < 0x80) {
      append_escaped(out, byte);
      ++i;
    } else if (const std::size_t length = utf8_sequence_length(line.substr(i)); length == 0) {
      append_escaped(out, byte);
      ++i;
    } else if (byte == 0xc2 && static_cast<unsigned char>(line[i + 1]) < 0xa0) {
      // U+0080..U+009F, the C1 controls (U+009B is CSI).
      append_escaped(out, byte);
      append_escaped(out, static_cast<unsigned char>(line[i + 1]));
      i += 2;
    } else {
      out.append(line, i, length);
      i += length;
    }
  }
  out.push_back('\n');
  return out;
}

}  // namespace

std::string journal_line(Level level, std::string_view line) {
  return escaped_line("<" + std::to_string(static_cast<int>(level)) + ">", line);
}

std::string_view level_name(Level level) {
  switch (level) {
    case Level::Error:
      return "error";
    case Level::Warning:
      return "warning";
    case Level::Notice:
      return "notice";
    case Level::Info:
      return "info";
    case Level::Debug:
      return "debug";
  }
  return "info";
}

std::string plain_line(Level level, std::string_view line) {
  return escaped_line(std::string(level_name(level)) + ": ", line);
}

bool journal_stream_names(std::string_view value, dev_t device, ino_t inode) {
  const auto colon = value.find(':');
  if (colon == std::string_view::npos) return false;
  const auto number = [](std::string_view text, unsigned long long& out) {
    if (text.empty()) return false;
    const auto* end = text.data() + text.size();
    auto [at, error] = std::from_chars(text.data(), end, out);
    return error == std::errc() && at == end;
  };
  unsigned long long dev = 0, ino = 0;
  if (!number(value.substr(0, colon), dev) || !number(value.substr(colon + 1), ino)) return false;
  return dev == static_cast<unsigned long long>(device) &&
         ino == static_cast<unsigned long long>(inode);
}

Form stderr_form() {
  const char* value = std::getenv("JOURNAL_STREAM");
  if (!value || !*value) return Form::Plain;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return Form::Plain;
  return journal_stream_names(value, st.st_dev, st.st_ino) ? Form::Journal : Form::Plain;
}

void set_form(Form form) { g_form = static_cast<int>(form); }

bool RepeatedProblem::should_say(const std::string& problem, Clock::time_point now) {
  if (active_ && problem == problem_ && now - said_at_ < interval_) return false;
  problem_ = problem;
  said_at_ = now;
  active_ = true;
  return true;
}

bool RepeatedProblem::ended() {
  if (!active_) return false;
  active_ = false;
  problem_.clear();
  return true;
}

void write(Level level, std::string_view line) {
  if (!enabled(level)) return;
  int form = g_form.load();
  if (form < 0) {
    form = static_cast<int>(stderr_form());
    g_form = form;
  }
  const std::string out = form == static_cast<int>(Form::Journal) ? journal_line(level, line)
                                                                  : plain_line(level, line);
  std::lock_guard lock(g_mutex);
  std::fwrite(out.data(), 1, out.size(), stderr);
  std::fflush(stderr);
}

}  // namespace tack::log
