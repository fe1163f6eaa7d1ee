#include "log.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
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

TEST_CASE("write sends the escaped line to stderr", "[log]") {
  using namespace std::string_literals;
  // stderr goes to a temp file for the duration of the write.
  std::FILE* capture = std::tmpfile();
  REQUIRE(capture != nullptr);
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  REQUIRE(saved >= 0);
  REQUIRE(::dup2(::fileno(capture), STDERR_FILENO) >= 0);
  log::warning("gateway sms: {}", "HTTP 400: bad\0<0>emerg\n\x1b[31mred"s);
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::rewind(capture);
  std::string written;
  for (int c; (c = std::fgetc(capture)) != EOF;) written.push_back(static_cast<char>(c));
  std::fclose(capture);
  CHECK(written == "<4>gateway sms: HTTP 400: bad\\x00<0>emerg\\n\\x1b[31mred\n");
}
