// Tests for daemon/gateways/smtp.cpp against a real SMTP server
// (tests/fixtures/smtp_sink.py, aiosmtpd); received mail is read back with
// Python's email package (tests/fixtures/mail_parse.py). The TLS tests make
// a self-signed certificate with the openssl command line tool.
#include "gateways/smtp.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string_view>

#include "../support/coro.hpp"
#include "../support/process.hpp"
#include "../support/temp_dir.hpp"

using namespace tack;
using namespace std::chrono_literals;
using tack::testing::Fixture;
using tack::testing::TempDir;

namespace {

OutboundMessage email() {
  OutboundMessage m;
  m.id = 9;
  m.event_id = "shop-7f3a9c";
  m.order_id = "1042";
  m.channel = "email";
  m.kind = ChannelKind::Email;
  m.template_name = "shipped";
  m.locale = "sv-SE";
  m.recipient = "anna@example.se";
  m.subject = "Din beställning är skickad";
  m.text = "Hej Anna!\nDin order 1042 är på väg med PostNord.\n";
  m.html = "<p>Hej Anna!</p><p>Din order <b>1042</b> är på väg med PostNord.</p>";
  m.idempotency_key = "shop-7f3a9c:shipped:email";
  return m;
}

// The openssl command line tool, found on PATH (posix_spawn wants a path).
std::string openssl_path() {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    const auto colon = dirs.find(':');
    const std::filesystem::path candidate =
        std::filesystem::path(dirs.substr(0, colon)) / "openssl";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    dirs = colon == std::string_view::npos ? std::string_view{} : dirs.substr(colon + 1);
  }
  throw std::runtime_error(
      "the openssl command line tool is not on PATH (scripts/install-deps.sh --test installs it)");
}

// A fresh key and a self-signed certificate for 127.0.0.1 and localhost in
// dir, as key.pem and cert.pem: the sink's certificate and, for the
// gateway, its own CA. Two steps, since only genpkey can be told -quiet.
void make_certificate(const TempDir& dir) {
  const std::string openssl = openssl_path();
  tack::testing::run_and_capture({openssl, "genpkey", "-quiet", "-algorithm", "RSA", "-pkeyopt",
                                  "rsa_keygen_bits:2048", "-out", dir.file("key.pem")});
  tack::testing::run_and_capture({openssl, "req", "-x509", "-key", dir.file("key.pem"), "-out",
                                  dir.file("cert.pem"), "-days", "2", "-subj", "/CN=127.0.0.1",
                                  "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"});
}

// How the sink offers TLS.
enum class SinkTls { None, StartTls, RequireStartTls, Implicit };

struct Setup {
  explicit Setup(std::vector<std::string> args = {}, SinkTls tls = SinkTls::None) : curl(io) {
    args.insert(args.begin(), {"--out", dir.file("mail.jsonl")});
    if (tls != SinkTls::None) {
      make_certificate(dir);
      args.insert(args.end(), {"--tls-cert", cert(), "--tls-key", dir.file("key.pem")});
      if (tls == SinkTls::RequireStartTls) args.push_back("--require-starttls");
      if (tls == SinkTls::Implicit) args.push_back("--implicit-tls");
    }
    sink = tack::testing::start_fixture("smtp_sink.py", args);
  }

  std::string cert() const { return dir.file("cert.pem"); }

  SmtpGatewayOptions options() const {
    SmtpGatewayOptions o;
    o.name = "test-smtp";
    o.url = "smtp://127.0.0.1:" + std::to_string(sink.port);
    o.tls = SmtpRequest::Tls::None;
    o.from = {"Shöp AB", "shop@example.se"};
    o.timeouts.connect = 2s;
    o.timeouts.total = 5s;
    return o;
  }

  Outcome send(const SmtpGatewayOptions& options, const OutboundMessage& message = email()) {
    SmtpGateway gateway(options, curl);
    auto outcome = tack::testing::run_task(io, gateway.send(message));
    REQUIRE(outcome);
    return *outcome;
  }

  // options() for a sink started with TLS: verified against its certificate.
  SmtpGatewayOptions tls_options(SmtpRequest::Tls tls) const {
    SmtpGatewayOptions o = options();
    if (tls == SmtpRequest::Tls::Implicit) o.url = "smtps://127.0.0.1:" + std::to_string(sink.port);
    o.tls = tls;
    o.verify_tls = true;
    o.ca_file = cert();
    return o;
  }

  nlohmann::json received() const {
    return tack::testing::parse_mail_file(dir.file("mail.jsonl"), true);
  }

  // The sink's own JSON lines (tls, auth_login), not parsed as mail.
  std::vector<nlohmann::json> raw() const {
    return tack::testing::read_json_lines(dir.file("mail.jsonl"));
  }

  TempDir dir;
  Fixture sink;
  asio::io_context io;
  CurlMulti curl;
};

}  // namespace

TEST_CASE("smtp gateway: a UTF-8 e-mail with text and HTML arrives intact", "[gateway][smtp]") {
  Setup setup;
  auto options = setup.options();
  options.reply_to = Mailbox{"Kundtjänst", "support@example.se"};
  const Outcome outcome = setup.send(options);

  CHECK(outcome.kind == Outcome::Kind::Sent);
  CHECK(outcome.detail.rfind("250", 0) == 0);
  REQUIRE(outcome.provider_id.size() > 2);
  CHECK(outcome.provider_id.front() == '<');

  const auto mail = setup.received();
  REQUIRE(mail.size() == 1);
  const auto& m = mail[0];
  CHECK(m["accepted"] == true);
  CHECK(m["mail_from"] == "shop@example.se");
  CHECK(m["rcpt_tos"] == nlohmann::json::array({"anna@example.se"}));
  CHECK(m["defects"].empty());
  CHECK(m["subject"] == "Din beställning är skickad");
  CHECK(m["from"] == "Shöp AB <shop@example.se>");
  CHECK(m["to"] == "anna@example.se");
  CHECK(m["reply_to"] == "Kundtjänst <support@example.se>");
  CHECK(m["message_id"] == outcome.provider_id);
  CHECK(m["idempotency_key"] == "shop-7f3a9c:shipped:email");
  REQUIRE(m["date_iso"].is_string());  // a Date header that parses
  CHECK(m["content_type"] == "multipart/alternative");
  REQUIRE(m["parts"].size() == 2);
  CHECK(m["parts"][0]["content_type"] == "text/plain");
  CHECK(m["parts"][0]["content"].get<std::string>().find("är på väg") != std::string::npos);
  CHECK(m["parts"][1]["content_type"] == "text/html");
  CHECK(m["parts"][1]["content"].get<std::string>().find("<b>1042</b>") != std::string::npos);
}

TEST_CASE("smtp gateway: the same message keeps its Message-ID on a retry", "[gateway][smtp]") {
  Setup setup;
  const Outcome first = setup.send(setup.options());
  const Outcome second = setup.send(setup.options());
  CHECK(first.kind == Outcome::Kind::Sent);
  CHECK(second.kind == Outcome::Kind::Sent);
  CHECK(first.provider_id == second.provider_id);
  CHECK(setup.received().size() == 2);
}

TEST_CASE("smtp gateway: 451 is a retry, and the next message still goes", "[gateway][smtp]") {
  Setup setup({"--reply", "451 4.3.0 try later"});
  const Outcome later = setup.send(setup.options());
  CHECK(later.kind == Outcome::Kind::Retry);
  CHECK(later.detail.find("451 4.3.0 try later") != std::string::npos);

  const Outcome now = setup.send(setup.options());
  CHECK(now.kind == Outcome::Kind::Sent);
}

TEST_CASE("smtp gateway: 550 5.1.1 is rejected with the server's words", "[gateway][smtp]") {
  SECTION("after DATA") {
    Setup setup({"--reply", "550 5.1.1 user unknown"});
    const Outcome outcome = setup.send(setup.options());
    CHECK(outcome.kind == Outcome::Kind::Rejected);
    CHECK(outcome.detail.find("550 5.1.1 user unknown") != std::string::npos);
  }
  SECTION("at RCPT TO") {
    Setup setup({"--rcpt-reply", "550 5.1.1 <anna@example.se>: user unknown"});
    const Outcome outcome = setup.send(setup.options());
    CHECK(outcome.kind == Outcome::Kind::Rejected);
    CHECK(outcome.detail.find("5.1.1") != std::string::npos);
    CHECK(setup.received().empty());
  }
}

TEST_CASE("smtp gateway: a closed port is a retry", "[gateway][smtp]") {
  asio::io_context io;
  CurlMulti curl(io);
  SmtpGatewayOptions options;
  options.name = "down";
  options.url = "smtp://127.0.0.1:" + std::to_string(tack::testing::closed_port());
  options.tls = SmtpRequest::Tls::None;
  options.from = {"", "shop@example.se"};
  SmtpGateway gateway(options, curl);
  const auto outcome = tack::testing::run_task(io, gateway.send(email()));
  REQUIRE(outcome);
  CHECK(outcome->kind == Outcome::Kind::Retry);
  CHECK(outcome->detail.find("connect failed") != std::string::npos);
}

TEST_CASE("smtp gateway: no reply after the message was sent is unknown", "[gateway][smtp]") {
  // The server has the whole message; it may queue it and then go quiet.
  Setup setup({"--reply", "hang"});
  auto options = setup.options();
  options.timeouts.total = 500ms;
  const Outcome outcome = setup.send(options);
  CHECK(outcome.kind == Outcome::Kind::Unknown);
  CHECK(outcome.detail.find("after the message was sent") != std::string::npos);

  // That session is in an unknown state; the next message must not reuse
  // it (it would read the late reply as the answer to MAIL FROM).
  const Outcome next = setup.send(options);
  CHECK(next.kind == Outcome::Kind::Sent);
}

TEST_CASE("smtp gateway: a connection dropped at the end of DATA is unknown", "[gateway][smtp]") {
  Setup setup({"--reply", "close"});
  const Outcome outcome = setup.send(setup.options());
  CHECK(outcome.kind == Outcome::Kind::Unknown);
}

TEST_CASE("smtp gateway: AUTH with the configured credentials", "[gateway][smtp]") {
  Setup setup({"--auth", "shop:pa55word"});
  auto options = setup.options();
  options.username = "shop";
  options.password = "pa55word";
  CHECK(setup.send(options).kind == Outcome::Kind::Sent);
  const auto raw = tack::testing::read_json_lines(setup.dir.file("mail.jsonl"));
  REQUIRE(raw.size() == 1);
  CHECK(raw[0]["auth_login"] == "shop");

  options.password = "wrong";
  const Outcome denied = setup.send(options);
  // A wrong password is the gateway's problem: the dispatcher holds it.
  CHECK(denied.kind == Outcome::Kind::Retry);
  CHECK(denied.health == Outcome::Health::Refused);
  CHECK(denied.detail.find("535") != std::string::npos);
}

TEST_CASE("smtp gateway: STARTTLS required but not offered never sends in clear",
          "[gateway][smtp]") {
  Setup setup;
  auto options = setup.options();
  options.tls = SmtpRequest::Tls::StartTls;
  const Outcome outcome = setup.send(options);
  CHECK(outcome.kind == Outcome::Kind::Retry);
  CHECK(outcome.detail.find("before the message was sent") != std::string::npos);
  CHECK(setup.received().empty());
}

TEST_CASE("smtp gateway: STARTTLS with a verified certificate", "[gateway][smtp][tls]") {
  // The sink takes no mail before STARTTLS, so this cannot pass in clear.
  Setup setup({}, SinkTls::RequireStartTls);
  const Outcome outcome = setup.send(setup.tls_options(SmtpRequest::Tls::StartTls));
  CHECK(outcome.kind == Outcome::Kind::Sent);
  CHECK(outcome.detail.rfind("250", 0) == 0);

  const auto raw = setup.raw();
  REQUIRE(raw.size() == 1);
  CHECK(raw[0]["tls"] == true);
  CHECK(raw[0]["accepted"] == true);
  const auto mail = setup.received();
  REQUIRE(mail.size() == 1);
  CHECK(mail[0]["subject"] == "Din beställning är skickad");
  CHECK(mail[0]["message_id"] == outcome.provider_id);
}

TEST_CASE("smtp gateway: implicit TLS (smtps://) with a verified certificate",
          "[gateway][smtp][tls]") {
  Setup setup({}, SinkTls::Implicit);
  const Outcome outcome = setup.send(setup.tls_options(SmtpRequest::Tls::Implicit));
  CHECK(outcome.kind == Outcome::Kind::Sent);

  const auto raw = setup.raw();
  REQUIRE(raw.size() == 1);
  CHECK(raw[0]["tls"] == true);
  const auto mail = setup.received();
  REQUIRE(mail.size() == 1);
  CHECK(mail[0]["message_id"] == outcome.provider_id);
}

TEST_CASE("smtp gateway: an unverifiable certificate is a retry and sends nothing",
          "[gateway][smtp][tls]") {
  // verify_tls on and no ca_file: the self-signed certificate is checked
  // against the system's CAs only, and fails. Nothing reached the server, so
  // it is not "unknown"; and the message itself is fine, so it is not
  // "rejected": the fix is on the server or in the config (ca_file), after
  // which the same message must still go. Hence a retry, with a detail that
  // names the certificate.
  auto check_refused = [](SinkTls sink_tls, SmtpRequest::Tls tls) {
    Setup setup({}, sink_tls);
    auto options = setup.tls_options(tls);
    options.ca_file.clear();
    const Outcome outcome = setup.send(options);
    CHECK(outcome.kind == Outcome::Kind::Retry);
    CHECK(outcome.detail.find("connect failed") != std::string::npos);
    CHECK(outcome.detail.find("certificate") != std::string::npos);
    CHECK(setup.raw().empty());

    // The same server is fine once the certificate is trusted.
    options.ca_file = setup.cert();
    CHECK(setup.send(options).kind == Outcome::Kind::Sent);
    REQUIRE(setup.raw().size() == 1);
  };
  SECTION("STARTTLS") { check_refused(SinkTls::StartTls, SmtpRequest::Tls::StartTls); }
  SECTION("implicit TLS") { check_refused(SinkTls::Implicit, SmtpRequest::Tls::Implicit); }
}

TEST_CASE("smtp gateway: AUTH over STARTTLS", "[gateway][smtp][tls]") {
  // --require-starttls refuses AUTH before STARTTLS, and STARTTLS starts a
  // new session: a login recorded with the message was made over TLS.
  Setup setup({"--auth", "shop:pa55word"}, SinkTls::RequireStartTls);
  auto options = setup.tls_options(SmtpRequest::Tls::StartTls);
  options.username = "shop";
  options.password = "pa55word";
  CHECK(setup.send(options).kind == Outcome::Kind::Sent);
  const auto raw = setup.raw();
  REQUIRE(raw.size() == 1);
  CHECK(raw[0]["tls"] == true);
  CHECK(raw[0]["auth_login"] == "shop");

  options.password = "wrong";
  const Outcome denied = setup.send(options);
  // A wrong password is the gateway's problem: the dispatcher holds it.
  CHECK(denied.kind == Outcome::Kind::Retry);
  CHECK(denied.health == Outcome::Health::Refused);
  CHECK(denied.detail.find("535") != std::string::npos);
  CHECK(setup.raw().size() == 1);
}

TEST_CASE("smtp gateway: what it will not send", "[gateway][smtp]") {
  asio::io_context io;
  CurlMulti curl(io);
  SmtpGatewayOptions options;
  options.url = "smtp://127.0.0.1:1";
  options.from = {"", "shop@example.se"};
  SmtpGateway gateway(options, curl);
  CHECK(gateway.supports(ChannelKind::Email));
  CHECK_FALSE(gateway.supports(ChannelKind::Sms));

  auto sms = email();
  sms.kind = ChannelKind::Sms;
  CHECK(tack::testing::run_task(io, gateway.send(sms))->kind == Outcome::Kind::Rejected);

  auto bad_recipient = email();
  bad_recipient.recipient = "anna at example.se";
  const auto bad = tack::testing::run_task(io, gateway.send(bad_recipient));
  CHECK(bad->kind == Outcome::Kind::Rejected);
  CHECK(bad->detail.find("recipient") != std::string::npos);

  auto injected = email();
  injected.subject = "Hi\r\nBcc: everyone@example.se";
  CHECK(tack::testing::run_task(io, gateway.send(injected))->kind == Outcome::Kind::Rejected);
}

TEST_CASE("smtp gateway: built from config through the registry", "[gateway][smtp][registry]") {
  Setup setup;
  GatewayContext context{setup.io, setup.curl, setup.dir.path().string()};
  GatewayConfig config;
  config.name = "mail";
  config.type = "smtp";
  config.settings = plugin_settings_from_yaml("url: smtp://127.0.0.1:" + std::to_string(setup.sink.port) +
                               "\ntls: none\nfrom: \"Shop AB <shop@example.se>\"\n"
                               "reply_to: support@example.se\ntimeout: 5s\n");
  auto gateway = find_gateway_kind("smtp")->create(config, context);
  REQUIRE(gateway);
  const auto outcome = tack::testing::run_task(setup.io, gateway->send(email()));
  REQUIRE(outcome);
  CHECK(outcome->kind == Outcome::Kind::Sent);
  const auto mail = setup.received();
  REQUIRE(mail.size() == 1);
  CHECK(mail[0]["from"] == "Shop AB <shop@example.se>");
  CHECK(mail[0]["reply_to"] == "support@example.se");

  auto bad = [&](const std::string& yaml) {
    GatewayConfig c = config;
    c.settings = plugin_settings_from_yaml(yaml);
    return find_gateway_kind("smtp")->create(c, context);
  };
  CHECK_THROWS_WITH(bad("url: smtp://x:25\ntls: implicit\nfrom: a@b.se"),
                    Catch::Contains("smtps://"));
  CHECK_THROWS_WITH(bad("url: smtps://x:465\nfrom: a@b.se"), Catch::Contains("implicit"));
  CHECK_THROWS_WITH(bad("url: http://x\nfrom: a@b.se"), Catch::Contains("smtp://"));
  CHECK_THROWS_WITH(bad("url: smtp://x:25\nfrom: not-an-address"), Catch::Contains("from"));
  CHECK_THROWS_WITH(bad("url: smtp://x:25\nfrom: a@b.se\ntls: sometimes"), Catch::Contains("tls"));
  CHECK_THROWS_WITH(bad("url: smtp://x:25"), Catch::Contains("from"));
}

TEST_CASE("smtp: what a reply says about the server's health", "[gateway][smtp]") {
  using H = Outcome::Health;
  auto classify = [](long code, const std::string& reply, int curl_code = 56) {
    TransferResult result;
    result.curl_code = curl_code;
    result.curl_error = "failed";
    result.status = code;
    result.body = "220 hi\n" + reply + "\n";
    return classify_smtp_result(result, "<id@x>");
  };
  // Greylisting: the server answers about this message; it is up.
  const Outcome greylisted = classify(451, "451 4.7.1 greylisted, try again later");
  CHECK(greylisted.kind == Outcome::Kind::Retry);
  CHECK(greylisted.health == H::Answering);
  CHECK(classify(452, "452 4.2.2 mailbox full").health == H::Answering);
  CHECK(classify(550, "550 5.1.1 user unknown").health == H::Answering);
  // Closing the session: it may be going down.
  CHECK(classify(421, "421 4.3.2 shutting down").health == H::Down);
  // Authentication refused or required: tack's credentials.
  const Outcome refused = classify(535, "535 5.7.8 authentication credentials invalid", 67);
  CHECK(refused.kind == Outcome::Kind::Retry);
  CHECK(refused.health == H::Refused);
  CHECK(refused.detail.rfind("535 5.7.8", 0) == 0);
  CHECK(classify(530, "530 5.7.0 authentication required").health == H::Refused);
  CHECK(classify(0, "", 67).health == H::Refused);  // CURLE_LOGIN_DENIED, no code
  TransferResult down;
  down.curl_code = 7;
  down.curl_error = "Connection refused";
  CHECK(classify_smtp_result(down, "<id@x>").health == H::Down);
}

TEST_CASE("smtp: classification of finished transfers", "[gateway][smtp]") {
  TransferResult result;
  result.curl_code = 55;
  result.curl_error = "RCPT failed: 550";
  result.status = 550;
  result.body = "220 hi\n250 OK\n550 5.7.1 relay denied\n";
  const Outcome rejected = classify_smtp_result(result, "<id@x>");
  CHECK(rejected.kind == Outcome::Kind::Rejected);
  CHECK(rejected.detail.rfind("550 5.7.1 relay denied", 0) == 0);

  result.status = 421;
  result.body = "421 4.7.0 too busy\n";
  CHECK(classify_smtp_result(result, "<id@x>").kind == Outcome::Kind::Retry);

  TransferResult timeout;
  timeout.curl_code = 28;
  timeout.status = 354;  // DATA was accepted, the final reply never came
  timeout.request_sent = true;
  CHECK(classify_smtp_result(timeout, "<id@x>").kind == Outcome::Kind::Unknown);
  timeout.request_sent = false;
  timeout.status = 250;
  CHECK(classify_smtp_result(timeout, "<id@x>").kind == Outcome::Kind::Retry);

  TransferResult ok;
  ok.status = 250;
  ok.body = "250 2.0.0 queued as 12345\n";
  const Outcome sent = classify_smtp_result(ok, "<id@x>");
  CHECK(sent.kind == Outcome::Kind::Sent);
  CHECK(sent.provider_id == "<id@x>");
  CHECK(sent.detail == "250 2.0.0 queued as 12345");
}
