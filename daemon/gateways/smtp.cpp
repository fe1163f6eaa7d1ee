#include "gateways/smtp.hpp"

#include "gateways/settings.hpp"

#include <random>
#include <stdexcept>

namespace tack {

namespace {

std::string random_seed() {
  std::random_device device;
  std::string seed;
  for (int i = 0; i < 4; ++i) seed += std::to_string(device());
  return seed;
}

// The server's reply that set the status (TransferResult.body holds the
// SMTP replies, one per line). Searched from the end, since after a
// failure libcurl may still say QUIT and get "221 Bye".
std::string reply_for(const TransferResult& result) {
  if (result.status <= 0) return {};
  const std::string code = std::to_string(result.status);
  std::string_view body = result.body;
  while (!body.empty()) {
    while (!body.empty() && body.back() == '\n') body.remove_suffix(1);
    const auto nl = body.rfind('\n');
    const std::string_view line = nl == std::string_view::npos ? body : body.substr(nl + 1);
    // Valid UTF-8 whatever the server sent: it is stored and served as JSON.
    if (line.substr(0, code.size()) == code) return replace_invalid_utf8(line);
    body = nl == std::string_view::npos ? std::string_view{} : body.substr(0, nl);
  }
  return {};
}

// libcurl's own words, without the reply it quotes (that leads the detail).
std::string curl_context(const TransferResult& result) {
  const std::string_view error = result.curl_error;
  const std::string_view text = error.substr(0, error.find(" (server: "));
  // libcurl calls any unexpected final reply "weird"; the reply says more.
  if (text == "Weird server reply") return {};
  return std::string(text);
}

}  // namespace

SmtpGateway::SmtpGateway(SmtpGatewayOptions options, CurlMulti& curl)
    : options_(std::move(options)), curl_(curl) {
  const std::string where = "gateway \"" + options_.name + "\": ";
  const bool smtps = options_.url.starts_with("smtps://");
  if (!smtps && !options_.url.starts_with("smtp://")) {
    throw std::runtime_error(where + "url must start with smtp:// or smtps://");
  }
  if (options_.tls == SmtpRequest::Tls::Implicit && !smtps) {
    throw std::runtime_error(where + "tls: implicit needs an smtps:// url");
  }
  if (options_.tls != SmtpRequest::Tls::Implicit && smtps) {
    throw std::runtime_error(where + "an smtps:// url needs tls: implicit");
  }
  // The From header is built from it for every message; fail at start, not
  // on each send.
  MimeInput probe;
  probe.from = options_.from;
  probe.to = options_.from;
  probe.reply_to = options_.reply_to;
  if (const MimeMessage built = build_mime_message(probe); !built.ok()) {
    throw std::runtime_error(where + built.error);
  }
}

asio::awaitable<Outcome> SmtpGateway::send(const OutboundMessage& message) {
  if (!supports(message.kind)) {
    co_return Outcome::rejected("gateway \"" + options_.name + "\" carries e-mail only");
  }
  const MailboxParse to = parse_mailbox(message.recipient);
  if (!to.mailbox) co_return Outcome::rejected("bad recipient: " + to.error);

  MimeInput input;
  input.from = options_.from;
  input.to = *to.mailbox;
  input.reply_to = options_.reply_to;
  input.subject = message.subject;
  input.text = message.text;
  input.html = message.html;
  input.idempotency_key = message.idempotency_key;
  input.unsubscribe_url = message.unsubscribe_url;
  input.message_id_seed = message.idempotency_key.empty() ? random_seed() : message.idempotency_key;
  input.date = std::chrono::system_clock::now();
  MimeMessage mime = build_mime_message(input);
  if (!mime.ok()) co_return Outcome::rejected("cannot build the e-mail: " + mime.error);

  SmtpRequest request;
  request.url = options_.url;
  request.tls = options_.tls;
  request.username = options_.username;
  request.password = options_.password;
  request.mail_from = options_.from.address;
  request.rcpt_to = {to.mailbox->address};
  request.message = std::move(mime.message);
  request.timeouts = options_.timeouts;
  request.verify_tls = options_.verify_tls;
  request.ca_file = options_.ca_file;
  const TransferResult result = co_await curl_.perform(std::move(request));
  co_return classify_smtp_result(result, mime.message_id);
}

Outcome classify_smtp_result(const TransferResult& result, const std::string& message_id) {
  if (result.ok()) return Outcome::sent(message_id, reply_for(result));
  // A negative reply is the server's word, whatever stage it came at.
  const long code = result.status;
  if (code >= 400 && code < 600) {
    std::string detail = reply_for(result);
    if (detail.empty()) detail = std::to_string(code);
    if (const std::string context = curl_context(result); !context.empty()) {
      detail += " (" + context + ")";
    }
    // Authentication refused or required (RFC 4954): tack's credentials,
    // not this message; the dispatcher holds the gateway.
    if (code == 530 || code == 534 || code == 535) {
      return Outcome::retry(detail).with(Outcome::Health::Refused);
    }
    if (code >= 500) return Outcome::rejected(detail);
    // 421: the server is closing the session, as one going down does. Any
    // other 4yz (greylisting's 451, a full mailbox's 452) is the server
    // answering about this message: it is up.
    return Outcome::retry(detail).with(code == 421 ? Outcome::Health::Down
                                                   : Outcome::Health::Answering);
  }
  // CURLE_LOGIN_DENIED without a reply code: the login failed all the same.
  if (result.curl_code == 67) {
    return Outcome::retry("login denied: " + result.curl_error).with(Outcome::Health::Refused);
  }
  if (result.connect_failed()) return Outcome::retry("connect failed: " + result.curl_error);
  if (!result.request_sent) {
    return Outcome::retry("failed before the message was sent: " + result.curl_error);
  }
  return Outcome::unknown("no reply after the message was sent: " + result.curl_error);
}

// ---- the kind: its config keys and its factory -----------------------------

namespace {

std::unique_ptr<Gateway> create(const GatewayConfig& config, GatewayContext& context) {
  const GatewaySettings settings(config);
  SmtpGatewayOptions options;
  options.name = config.name;
  options.url = settings.required("url");
  const std::string tls = settings.string("tls", "starttls");
  if (tls == "none") {
    options.tls = SmtpRequest::Tls::None;
  } else if (tls == "starttls") {
    options.tls = SmtpRequest::Tls::StartTls;
  } else if (tls == "implicit") {
    options.tls = SmtpRequest::Tls::Implicit;
  } else {
    settings.fail("tls", "must be none, starttls or implicit");
  }
  options.username = settings.string("username");
  options.password = settings.string("password");
  settings.required("from");
  options.from = settings.mailbox("from");
  if (settings.has("reply_to")) options.reply_to = settings.mailbox("reply_to");
  options.timeouts.connect = settings.duration("connect_timeout", options.timeouts.connect);
  options.timeouts.total = settings.duration("timeout", options.timeouts.total);
  options.verify_tls = settings.boolean("verify_tls", true);
  options.ca_file = settings.string("ca_file");
  return std::make_unique<SmtpGateway>(std::move(options), context.curl);
}

}  // namespace

GatewayKind smtp_gateway_kind() {
  return {"smtp",
          "sends e-mail through an SMTP server",
          {
              {"url", KeyType::String, true, false, "smtp://host:port or smtps://host:port"},
              {"tls", KeyType::String, false, false, "none, starttls (default) or implicit"},
              {"username", KeyType::String, false, false, "AUTH user"},
              {"password", KeyType::String, false, true, "AUTH password"},
              {"from", KeyType::String, true, false, "sender, like \"Shop <shop@example.se>\""},
              {"reply_to", KeyType::String, false, false, "Reply-To address"},
              connect_timeout_key(),
              {"timeout", KeyType::Duration, false, false, "limit for one message (default 60s)"},
              verify_tls_key(),
              ca_file_key(),
          },
          &create};
}

}  // namespace tack
