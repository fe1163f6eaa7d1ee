// mime: builds the RFC 5322 / MIME message the SMTP gateway sends. Pure: no
// I/O, no clock, no randomness (the date and the Message-ID seed are
// passed in), so every byte of the output is testable.
//
// The message has CRLF line ends and no line above 78 characters in the
// headers or 76 in the bodies (well under the 998-octet limit), except
// List-Unsubscribe: a URL has no place to fold, so that line is as long
// as its URL (at most 900 characters). Non-ASCII
// subjects and display names become RFC 2047 encoded-words
// (=?UTF-8?B?...?=); bodies are UTF-8, quoted-printable; text plus HTML is
// multipart/alternative (text first, as RFC 2046 wants the plainest part
// first). Data that would break the header structure (CR or LF in a
// subject, a name or an address; invalid UTF-8) is an error returned as a
// value, never thrown: the gateway turns it into a rejection.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "text.hpp"

namespace tack {

struct Mailbox {
  std::string display_name;  // UTF-8, may be empty
  std::string address;       // local@domain, ASCII
};

struct MailboxParse {
  std::optional<Mailbox> mailbox;
  std::string error;
};

// Parses "Shop <shop@example.se>", "\"Shop, AB\" <shop@example.se>",
// "<shop@example.se>" or "shop@example.se".
MailboxParse parse_mailbox(std::string_view text);

struct MimeInput {
  Mailbox from;
  Mailbox to;
  std::optional<Mailbox> reply_to;
  std::string subject;          // UTF-8
  std::string text;             // UTF-8; \n, \r\n or \r line ends
  std::string html;             // UTF-8; empty for a text-only message
  std::string idempotency_key;  // sent as X-Tack-Idempotency-Key when set
  // Hashed into the Message-ID. Pass the idempotency key, so a retried
  // message keeps its Message-ID (mail clients fold duplicates by it), or
  // a random value when there is none.
  std::string message_id_seed;
  std::chrono::system_clock::time_point date;
  // A marketing e-mail's one-click unsubscribe URL (RFC 8058): sent as
  // List-Unsubscribe: <URL> and List-Unsubscribe-Post:
  // List-Unsubscribe=One-Click. Empty: neither header. It must be an
  // https:// (or http://) URL of printable ASCII without spaces or angle
  // brackets, at most 900 characters.
  std::string unsubscribe_url;
};

// The RFC 8058 headers for a marketing e-mail's one-click unsubscribe URL,
// for SMTP and the e-mail providers' APIs alike: List-Unsubscribe: <URL>
// and List-Unsubscribe-Post: List-Unsubscribe=One-Click. None for an empty
// URL; nullopt when the URL is not an http(s) URL of printable ASCII
// without spaces, quotes or angle brackets, at most 900 characters (it
// would break the header).
using HeaderList = std::vector<std::pair<std::string, std::string>>;
std::optional<HeaderList> unsubscribe_headers(std::string_view url);

struct MimeMessage {
  std::string message;     // the whole message, CRLF line ends
  std::string message_id;  // "<...@domain>", as in the header
  std::string error;       // set instead of the above when input is unusable
  bool ok() const { return error.empty(); }
};

MimeMessage build_mime_message(const MimeInput& input);

// The pieces, for tests and for anyone building other headers.
std::string format_rfc5322_date(
    std::chrono::system_clock::time_point time);  // "Sun, 22 Nov 2026 10:15:00 +0000"
// A whole "Name: value\r\n" header, the value as encoded-words when it is
// not plain ASCII, folded to 78 characters. Fails on CR, LF or bad UTF-8.
std::optional<std::string> unstructured_header(std::string_view name, std::string_view value);
std::string quoted_printable(std::string_view text);  // CRLF line ends, lines <= 76
// valid_utf8 and replace_invalid_utf8: text.hpp.

}  // namespace tack
