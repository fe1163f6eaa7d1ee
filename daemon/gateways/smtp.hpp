// gateways/smtp: sends e-mail through an SMTP server (a relay, a provider's
// submission port, or a local MTA), STARTTLS, implicit TLS or plain.
//
// The message is built by mime (pure) with the idempotency key as the
// Message-ID seed, so a retried message keeps its Message-ID, which is also
// the provider id recorded in the delivery log.
//
// What the answer means (classify_smtp_result, RFC 5321 4.2.1): the final
// 250 after DATA -> sent; a 4yz reply or no connection -> retry; a 5yz
// reply -> rejected, keeping the server's text with its enhanced status
// code ("550 5.1.1 user unknown"); 530, 534, 535 (authentication required
// or refused, RFC 4954) -> retry with the gateway's health Refused, so the
// dispatcher holds the gateway; no reply after the message itself began
// to flow -> unknown, since the server may have queued it. For the circuit
// breaker only no connection, no reply and 421 say the server is down; any
// other 4yz (greylisting's "451 4.7.1") is the server answering.
#pragma once

#include <optional>
#include <string>

#include "curl.hpp"
#include "gateways/gateway.hpp"
#include "mime.hpp"

namespace tack {

struct SmtpGatewayOptions {
  std::string name;  // the gateway's name, for error messages
  std::string url;   // smtp://host:port or smtps://host:port
  SmtpRequest::Tls tls = SmtpRequest::Tls::StartTls;
  std::string username;
  std::string password;
  Mailbox from;
  std::optional<Mailbox> reply_to;
  Timeouts timeouts{std::chrono::seconds(10), std::chrono::seconds(60), 1,
                    std::chrono::seconds(30)};
  bool verify_tls = true;
  std::string ca_file;
};

class SmtpGateway final : public Gateway {
 public:
  // Throws std::runtime_error when the url's scheme does not fit `tls`.
  SmtpGateway(SmtpGatewayOptions options, CurlMulti& curl);

  asio::awaitable<Outcome> send(const OutboundMessage& message) override;
  bool supports(ChannelKind kind) const override { return kind == ChannelKind::Email; }

 private:
  SmtpGatewayOptions options_;
  CurlMulti& curl_;
};

Outcome classify_smtp_result(const TransferResult& result, const std::string& message_id);

// The "smtp" kind for the registry: its config keys and factory.
GatewayKind smtp_gateway_kind();

}  // namespace tack
