#include "log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

using namespace tack;

TEST_CASE("a log line is one journald line with its priority prefix", "[log]") {
  CHECK(log::journal_line(log::Level::Warning, "store: 3 message(s) in flight") ==
        "<4>store: 3 message(s) in flight\n");
  CHECK(log::journal_line(log::Level::Error, "") == "<3>\n");
}

TEST_CASE("control characters in a log line are escaped, never written raw", "[log]") {
  using namespace std::string_literals;
  // A NUL ends a journal entry: what follows would be a second entry with
  // its own priority. A newline does the same; ESC drives a terminal.
  CHECK(log::journal_line(log::Level::Info, "reason: x\0<0>forged"s) ==
        "<6>reason: x\\x00<0>forged\n");
  CHECK(log::journal_line(log::Level::Info, "a\nb\rc\td") == "<6>a\\nb\\rc\\td\n");
  CHECK(log::journal_line(log::Level::Info, "\x1b[2J\x1b]0;owned\x07") ==
        "<6>\\x1b[2J\\x1b]0;owned\\x07\n");
  CHECK(log::journal_line(log::Level::Info, "del\x7f") == "<6>del\\x7f\n");
  std::string every_control;
  for (int c = 0; c < 0x20; ++c) every_control.push_back(static_cast<char>(c));
  every_control.push_back('\x7f');
  const std::string line = log::journal_line(log::Level::Info, every_control);
  REQUIRE(line.back() == '\n');
  for (char c : line.substr(0, line.size() - 1)) {
    const auto byte = static_cast<unsigned char>(c);
    CHECK((byte >= 0x20 && byte != 0x7f));
  }
}

TEST_CASE("valid UTF-8 stays as it is; invalid bytes and C1 controls are escaped", "[log]") {
  CHECK(log::journal_line(log::Level::Info, "Göteborg, Łódź, 日本, 🙂") ==
        "<6>Göteborg, Łódź, 日本, 🙂\n");
  // A lone continuation byte, a truncated sequence, an overlong '/', a
  // UTF-16 surrogate, a code point past U+10FFFF, bytes that never occur.
  CHECK(log::journal_line(log::Level::Info, "a\x80z") == "<6>a\\x80z\n");
  CHECK(log::journal_line(log::Level::Info, "a\xc3") == "<6>a\\xc3\n");
  CHECK(log::journal_line(log::Level::Info, "a\xe6\x97z") == "<6>a\\xe6\\x97z\n");
  CHECK(log::journal_line(log::Level::Info, "\xc0\xaf") == "<6>\\xc0\\xaf\n");
  CHECK(log::journal_line(log::Level::Info, "\xed\xa0\x80") == "<6>\\xed\\xa0\\x80\n");
  CHECK(log::journal_line(log::Level::Info, "\xf4\x90\x80\x80") == "<6>\\xf4\\x90\\x80\\x80\n");
  CHECK(log::journal_line(log::Level::Info, "\xfe\xff") == "<6>\\xfe\\xff\n");
  // U+009B is CSI to a terminal that honours 8-bit controls.
  CHECK(log::journal_line(log::Level::Info, "\xc2\x9b" "31m") == "<6>\\xc2\\x9b31m\n");
}

namespace {

// What `write` puts on stderr while it goes to a temp file; `during` runs
// with stderr redirected (fd 2 is the temp file).
template <class F>
std::string captured_stderr(F&& during) {
  std::FILE* capture = std::tmpfile();
  REQUIRE(capture != nullptr);
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  REQUIRE(saved >= 0);
  REQUIRE(::dup2(::fileno(capture), STDERR_FILENO) >= 0);
  during();
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::rewind(capture);
  std::string written;
  for (int c; (c = std::fgetc(capture)) != EOF;) written.push_back(static_cast<char>(c));
  std::fclose(capture);
  return written;
}

// Sets or unsets JOURNAL_STREAM for one scope.
struct JournalStreamEnv {
  explicit JournalStreamEnv(const char* value) {
    if (const char* old = std::getenv("JOURNAL_STREAM")) saved_ = old;
    if (value) {
      ::setenv("JOURNAL_STREAM", value, 1);
    } else {
      ::unsetenv("JOURNAL_STREAM");
    }
  }
  ~JournalStreamEnv() {
    if (saved_) {
      ::setenv("JOURNAL_STREAM", saved_->c_str(), 1);
    } else {
      ::unsetenv("JOURNAL_STREAM");
    }
    log::set_form(log::stderr_form());
  }
  std::optional<std::string> saved_;
};

std::string stream_of_fd(int fd) {
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

}  // namespace

TEST_CASE("write sends the escaped line to stderr, with the journal's prefix there", "[log]") {
  using namespace std::string_literals;
  JournalStreamEnv env(nullptr);
  log::set_form(log::Form::Journal);
  auto written = captured_stderr(
      [] { log::warning("gateway sms: {}", "HTTP 400: bad\0<0>emerg\n\x1b[31mred"s); });
  CHECK(written == "<4>gateway sms: HTTP 400: bad\\x00<0>emerg\\n\\x1b[31mred\n");
  log::set_form(log::Form::Plain);
  written = captured_stderr(
      [] { log::warning("gateway sms: {}", "HTTP 400: bad\0<0>emerg\n\x1b[31mred"s); });
  CHECK(written == "warning: gateway sms: HTTP 400: bad\\x00<0>emerg\\n\\x1b[31mred\n");
}

TEST_CASE("a plain line names its level in words and escapes like the journal's", "[log]") {
  using namespace std::string_literals;
  CHECK(log::plain_line(log::Level::Error, "gateway sms: credentials refused") ==
        "error: gateway sms: credentials refused\n");
  CHECK(log::plain_line(log::Level::Warning, "x") == "warning: x\n");
  CHECK(log::plain_line(log::Level::Notice, "x") == "notice: x\n");
  CHECK(log::plain_line(log::Level::Info, "x") == "info: x\n");
  CHECK(log::plain_line(log::Level::Debug, "x") == "debug: x\n");
  CHECK(log::plain_line(log::Level::Info, "a\0\n<0>b"s) == "info: a\\x00\\n<0>b\n");
}

TEST_CASE("JOURNAL_STREAM names a stream by device and inode, and nothing else", "[log]") {
  CHECK(log::journal_stream_names("8:1234", 8, 1234));
  CHECK(log::journal_stream_names("0:0", 0, 0));
  CHECK_FALSE(log::journal_stream_names("8:1235", 8, 1234));
  CHECK_FALSE(log::journal_stream_names("9:1234", 8, 1234));
  for (const char* junk : {"", ":", "8", "8:", ":1234", "8:1234:5", " 8:1234", "8:1234 ",
                           "+8:1234", "-8:1234", "8:-1234", "0x8:1234", "8;1234", "a:b",
                           "99999999999999999999999:1234", "8:99999999999999999999999"}) {
    CHECK_FALSE(log::journal_stream_names(junk, 8, 1234));
  }
  CHECK_FALSE(log::journal_stream_names(std::string(100000, '9') + ":1", 8, 1234));
}

TEST_CASE("stderr is the journal only when JOURNAL_STREAM names what fd 2 is now", "[log]") {
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  const std::string that_file = stream_of_fd(::fileno(file));
  std::string seen_as;
  {
    JournalStreamEnv env(that_file.c_str());
    // fd 2 is the file JOURNAL_STREAM names: the journal.
    captured_stderr([&] {
      ::dup2(::fileno(file), STDERR_FILENO);
      seen_as = log::stderr_form() == log::Form::Journal ? "journal" : "plain";
    });
    CHECK(seen_as == "journal");
    // fd 2 is another file (a shell under systemd ran tackd > file).
    captured_stderr(
        [&] { seen_as = log::stderr_form() == log::Form::Journal ? "journal" : "plain"; });
    CHECK(seen_as == "plain");
  }
  {
    JournalStreamEnv env(nullptr);
    captured_stderr([&] {
      ::dup2(::fileno(file), STDERR_FILENO);
      seen_as = log::stderr_form() == log::Form::Journal ? "journal" : "plain";
    });
    CHECK(seen_as == "plain");
  }
  {
    JournalStreamEnv env("garbage");
    captured_stderr([&] {
      ::dup2(::fileno(file), STDERR_FILENO);
      seen_as = log::stderr_form() == log::Form::Journal ? "journal" : "plain";
    });
    CHECK(seen_as == "plain");
  }
  std::fclose(file);
}

TEST_CASE("a persisting problem is said once, then every interval, and once when it ends",
          "[log]") {
  using namespace std::chrono_literals;
  log::RepeatedProblem problem(5min);
  const auto t0 = log::RepeatedProblem::Clock::time_point{} + 1h;
  CHECK_FALSE(problem.ended());  // nothing was said: nothing ends
  CHECK(problem.should_say("table outbox does not exist", t0));
  for (int second = 1; second < 300; ++second) {
    CHECK_FALSE(problem.should_say("table outbox does not exist", t0 + std::chrono::seconds(second)));
  }
  CHECK(problem.should_say("table outbox does not exist", t0 + 5min));
  CHECK_FALSE(problem.should_say("table outbox does not exist", t0 + 6min));
  // A different problem is news at once.
  CHECK(problem.should_say("database is locked", t0 + 6min + 1s));
  CHECK(problem.ended());
  CHECK_FALSE(problem.ended());
  // After it ended, the same problem again is news.
  CHECK(problem.should_say("database is locked", t0 + 6min + 2s));
}
