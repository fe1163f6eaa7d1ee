// process: what tests need to run the fixture servers in tests/fixtures/
// (http_sink.py, smtp_sink.py) and helper scripts as child processes.
//
// Process spawns with posix_spawn and reads the child's stdout through a
// pipe; every wait is bounded, so a test fails instead of hanging when a
// child misbehaves. Destroying a Process sends SIGTERM, waits briefly, then
// SIGKILLs and reaps it. start_fixture() runs a fixture with TACK_TEST_PY
// and returns once it printed "PORT n".
//
// Header-only: tests/CMakeLists.txt compiles only *_test.cpp files.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

extern char** environ;

namespace tack::testing {

#ifndef TACK_SOURCE_DIR
#error "TACK_SOURCE_DIR must be defined by the build"
#endif
#ifndef TACK_TEST_PY
#define TACK_TEST_PY "/usr/bin/python3"
#endif

inline std::string fixture_path(const std::string& name) {
  return std::string(TACK_SOURCE_DIR) + "/tests/fixtures/" + name;
}

class Process {
 public:
  // Starts argv[0] (a path) with the parent's environment, stdout piped to
  // us and stderr inherited (so a fixture's traceback shows in test output).
  explicit Process(const std::vector<std::string>& argv) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
      throw std::system_error(errno, std::generic_category(), "pipe2");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      throw std::system_error(rc, std::generic_category(), "posix_spawn " + argv[0]);
    }
    out_ = fds[0];
  }

  ~Process() {
    if (out_ >= 0) ::close(out_);
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    if (!wait_exit(std::chrono::seconds(3))) {
      ::kill(pid_, SIGKILL);
      wait_exit(std::chrono::seconds(3));
    }
  }

  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }

  // The next line of the child's stdout, without "\n"; nullopt on EOF or
  // when the timeout passes first.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      if (!read_some(deadline)) return std::nullopt;
    }
  }

  // Everything the child writes until it closes stdout (normally: exits).
  std::optional<std::string> read_all(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (read_some(deadline)) {
    }
    if (!eof_) return std::nullopt;
    return std::exchange(buffer_, {});
  }

  // Reaps the child; false if it is still running at the timeout. The exit
  // status is in exit_code() (-signal when killed by a signal).
  bool wait_exit(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return true;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      const pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_ || (done < 0 && errno == ECHILD)) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        pid_ = -1;
        return true;
      }
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  int exit_code() const { return exit_code_; }

 private:
  bool read_some(std::chrono::steady_clock::time_point deadline) {
    if (eof_) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{out_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) return true;
    if (ready <= 0) return false;
    char chunk[4096];
    const ssize_t n = ::read(out_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  bool eof_ = false;
  int exit_code_ = -1;
  std::string buffer_;
};

// A fixture server from tests/fixtures/ that announced its port.
struct Fixture {
  std::unique_ptr<Process> process;
  int port = 0;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

// Runs TACK_TEST_PY tests/fixtures/<script> args... and waits (bounded) for
// its "PORT n" line. Throws when it does not come.
inline Fixture start_fixture(const std::string& script, std::vector<std::string> args) {
  args.insert(args.begin(), {TACK_TEST_PY, fixture_path(script)});
  auto process = std::make_unique<Process>(args);
  const auto line = process->read_line(std::chrono::seconds(10));
  if (!line || line->rfind("PORT ", 0) != 0) {
    throw std::runtime_error(script + " did not announce its port (got \"" +
                             line.value_or("<nothing>") + "\")");
  }
  Fixture fixture;
  fixture.port = std::stoi(line->substr(5));
  fixture.process = std::move(process);
  return fixture;
}

// Runs a command to completion and returns its stdout; throws on a timeout
// or a non-zero exit.
inline std::string run_and_capture(const std::vector<std::string>& argv,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  Process process(argv);
  auto out = process.read_all(timeout);
  if (!out) throw std::runtime_error(argv.at(0) + " did not finish in time");
  if (!process.wait_exit(std::chrono::seconds(5)) || process.exit_code() != 0) {
    throw std::runtime_error(argv.at(0) + " failed with exit code " +
                             std::to_string(process.exit_code()));
  }
  return *out;
}

// A port on 127.0.0.1 where nothing listens: bound, then closed again, so
// a connect there is refused (the kernel does not hand it out again soon).
inline int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// The complete JSON lines of a file a fixture appends to: a last line
// without its "\n" is still being written and is left out. A missing file
// is an empty list.
inline std::vector<nlohmann::json> read_json_lines(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    if (nl > start) lines.push_back(nlohmann::json::parse(text.substr(start, nl - start)));
  }
  return lines;
}

// Parses mail with tests/fixtures/mail_parse.py (Python's email package).
inline nlohmann::json parse_mail_file(const std::string& path, bool smtp_sink_jsonl) {
  std::vector<std::string> argv{TACK_TEST_PY, fixture_path("mail_parse.py")};
  if (smtp_sink_jsonl) argv.push_back("--jsonl");
  argv.push_back(path);
  return nlohmann::json::parse(run_and_capture(argv));
}

}  // namespace tack::testing
