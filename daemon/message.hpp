// message: one rendered notification to one recipient on one channel, and
// the outcome of one attempt to send it. Shared by store, dispatcher and
// gateways; plain values, no behaviour.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "channel.hpp"

namespace tack {

struct OutboundMessage {
  std::int64_t id = 0;
  std::string event_id;
  std::string order_id;
  std::string rule;
  std::string channel;
  ChannelKind kind = ChannelKind::Sms;
  std::string template_name;
  std::string locale;
  std::string recipient;  // E.164 phone or e-mail address
  std::string subject;    // e-mail only
  std::string text;       // SMS body or e-mail plain text
  std::string html;       // e-mail only, may be empty
  std::string idempotency_key;
  int attempts = 0;       // attempts made before this one
  // A marketing e-mail's signed one-click unsubscribe URL: an e-mail
  // gateway sends it as List-Unsubscribe with List-Unsubscribe-Post
  // (RFC 8058). Empty: no such headers.
  std::string unsubscribe_url;
};

// What a gateway says about one attempt. Only the dispatcher decides what
// happens next (retry, fall back, give up).
struct Outcome {
  enum class Kind {
    Sent,      // the provider accepted it; provider_id if it gave one
    Retry,     // transient: try again later, after retry_after if given
    Rejected,  // permanent: this gateway will never take it
    Unknown,   // the request may have reached the provider; no answer
  };
  // What the answer says about the gateway rather than this message, for
  // the dispatcher's circuit breaker and gateway holds (flow.hpp,
  // dispatcher.hpp). retry() and unknown() start as Down, sent() and
  // rejected() as Answering; a gateway that knows better says so.
  enum class Health {
    Answering,  // the provider answered about this message: it is up
    Down,       // no answer, a transport failure or a server error
    Refused,    // the provider refused tack's credentials or account
  };
  Kind kind = Kind::Retry;
  Health health = Health::Answering;
  std::string provider_id;
  std::optional<std::chrono::milliseconds> retry_after;
  std::string detail;  // the provider's answer or the error, for support
  // Requests of this attempt that went out before the one this outcome is
  // about and got no answer (the transport sent the request again by
  // itself: see TransferResult::requests): the provider may have acted on
  // each. Each is logged as an attempt of unknown outcome ahead of this one,
  // with this text as its detail.
  std::vector<std::string> unanswered;
  // Rejected because the recipient opted out with the provider (Twilio's
  // 21610: they replied STOP to it): the provider's code. The message is
  // then suppressed, tried on no other gateway, and the recipient is put on
  // tack's suppression list. "" otherwise.
  std::string opted_out;

  static Outcome sent(std::string provider_id, std::string detail = {});
  static Outcome retry(std::string detail,
                       std::optional<std::chrono::milliseconds> after = std::nullopt);
  static Outcome rejected(std::string detail);
  static Outcome unknown(std::string detail);
  // The same outcome with the gateway's health said explicitly.
  Outcome with(Health h) && {
    health = h;
    return std::move(*this);
  }
};

std::string to_string(Outcome::Kind kind);  // "sent", "retry", "rejected", "unknown"
inline constexpr std::array kAllOutcomeKinds = {Outcome::Kind::Sent, Outcome::Kind::Retry,
                                                Outcome::Kind::Rejected, Outcome::Kind::Unknown};

// What a provider reports about a message after it took it (a delivery
// receipt: Twilio's StatusCallback, a Vonage DLR, 46elks' whendelivered, an
// e-mail provider's event webhook). Parsed by the gateway that sent it;
// matched to the message by provider id (StoreTx::record_receipt).
enum class ReceiptKind : std::uint8_t {
  Progress,     // on its way (queued at the carrier, sent to the network): timeline only
  Delivered,    // on the phone, or accepted by the recipient's mail server
  Undelivered,  // the network gave up (an SMS): the rule's fallback goes out
  Bounced,      // the recipient's mail server refused it (an e-mail)
};
inline constexpr std::array kAllReceiptKinds = {ReceiptKind::Progress, ReceiptKind::Delivered,
                                                ReceiptKind::Undelivered, ReceiptKind::Bounced};
std::string to_string(ReceiptKind kind);  // "progress", "delivered", "undelivered", "bounced"
std::optional<ReceiptKind> parse_receipt_kind(std::string_view name);

struct Receipt {
  std::string gateway;      // the gateway instance's name (its route)
  std::string provider_id;  // the id its send answer carried
  ReceiptKind kind = ReceiptKind::Progress;
  std::string status;       // the provider's own word: "DELIVRD", "delivered", "bounce"
  std::string reason;       // the provider's error code or text; "" when none
  std::int64_t at_ms = 0;   // when the provider says it happened; 0: not said
  // The code says the recipient opted out (Vonage err-code 9, Twilio
  // 21610): the address is suppressed on this channel kind.
  bool opted_out = false;
};

// What tack made of a receipt (StoreTx::record_receipt); the route answers
// the provider by it.
enum class ReceiptVerdict : std::uint8_t {
  Applied,   // on the message's timeline, its state moved if the receipt moves it
  Repeated,  // the same receipt again (providers retry for hours): nothing changed
  Parked,    // the send's answer is not recorded yet: kept, applied when it is
  Unknown,   // no message this gateway sent has that provider id
};
std::string to_string(ReceiptVerdict verdict);  // "applied", "repeated", "parked", "unknown"

}  // namespace tack
