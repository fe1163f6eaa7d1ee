#include "gateways/file.hpp"

#include "gateways/settings.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <ctime>
#include <nlohmann/json.hpp>

namespace tack {

namespace {

std::string utc_now_rfc3339() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms.count()));
  return out;
}

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// Closes on every path out of append().
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::string file_gateway_line(const OutboundMessage& message, const std::string& sent_at) {
  nlohmann::ordered_json line = {
      {"id", message.id},
      {"idempotency_key", message.idempotency_key},
      {"order_id", message.order_id},
      {"channel", message.channel},
      {"kind", to_string(message.kind)},
      {"to", message.recipient},
      {"subject", message.subject},
      {"text", message.text},
      {"html", message.html},
      {"locale", message.locale},
      {"template", message.template_name},
      {"sent_at", sent_at},
  };
  // Invalid UTF-8 is replaced rather than thrown: the data path never throws.
  return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

FileGateway::FileGateway(FileGatewayOptions options) : options_(std::move(options)) {}

asio::awaitable<Outcome> FileGateway::send(const OutboundMessage& message) {
  co_return append(message);
}

Outcome FileGateway::append(const OutboundMessage& message) {
  const std::string line = file_gateway_line(message, utc_now_rfc3339()) + "\n";
  Fd file{::open(options_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)};
  if (file.fd < 0) return Outcome::retry(errno_text("cannot open", options_.path));
  const off_t offset = ::lseek(file.fd, 0, SEEK_END);
  // One write() per line: with O_APPEND, lines from concurrent writers do
  // not interleave.
  std::size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(file.fd, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Outcome::retry(errno_text("cannot write", options_.path));
    written += static_cast<std::size_t>(n);
  }
  if (options_.fsync && ::fsync(file.fd) != 0) {
    return Outcome::unknown(errno_text("written but fsync failed for", options_.path));
  }
  return Outcome::sent("file:" + std::to_string(offset), "appended to " + options_.path);
}

// ---- the kind: its config keys and its factory -----------------------------

namespace {

std::unique_ptr<Gateway> create(const GatewayConfig& config, GatewayContext& context) {
  const GatewaySettings settings(config);
  FileGatewayOptions options;
  std::filesystem::path path = settings.required("path");
  if (path.is_relative() && !context.config_dir.empty()) path = context.config_dir / path;
  options.path = path.string();
  options.fsync = settings.boolean("fsync", false);
  return std::make_unique<FileGateway>(std::move(options));
}

}  // namespace

GatewayKind file_gateway_kind() {
  return {"file",
          "appends each message to a file as one JSON line (no credentials needed)",
          {
              {"path", KeyType::String, true, false,
               "file to append to; relative to the config's folder"},
              {"fsync", KeyType::Bool, false, false, "fsync after each message (default false)"},
          },
          &create};
}

}  // namespace tack
