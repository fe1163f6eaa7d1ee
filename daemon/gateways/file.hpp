// gateways/file: "sends" a message by appending it to a file as one JSON
// line, so tack runs end to end with no credentials at all (development,
// demos, and the integration tests).
//
// Each line: {"id", "idempotency_key", "order_id", "channel", "kind", "to",
// "subject", "text", "html", "locale", "template", "sent_at"}. The provider
// id is "file:<byte offset of the line>". The file is opened for each
// message (O_APPEND, mode 0600: it holds PII), so it may be rotated or
// removed at any time. A failed open or write is a retry; an fsync that
// fails after a full write is unknown, since the line is probably there.
//
// The write is synchronous on the calling thread: it is a local append,
// and with fsync off it does not wait for the disk.
#pragma once

#include <string>

#include "gateways/gateway.hpp"

namespace tack {

struct FileGatewayOptions {
  std::string path;  // the registry resolves a relative one against the config folder
  bool fsync = false;
};

class FileGateway final : public Gateway {
 public:
  explicit FileGateway(FileGatewayOptions options);

  asio::awaitable<Outcome> send(const OutboundMessage& message) override;
  bool supports(ChannelKind) const override { return true; }

  // What send does, without the coroutine.
  Outcome append(const OutboundMessage& message);

 private:
  FileGatewayOptions options_;
};

// The JSON line written for a message (without the newline).
std::string file_gateway_line(const OutboundMessage& message, const std::string& sent_at);

// The "file" kind for the registry: its config keys and factory.
GatewayKind file_gateway_kind();

}  // namespace tack
