// Tests for daemon/gateways/file.cpp, and the registry's list of kinds.
#include "gateways/file.hpp"

#include <catch2/catch.hpp>
#include <fstream>

#include "../support/coro.hpp"
#include "../support/process.hpp"
#include "../support/temp_dir.hpp"
#include "curl.hpp"

using namespace tack;
using tack::testing::TempDir;

namespace {

OutboundMessage sms() {
  OutboundMessage m;
  m.id = 7;
  m.event_id = "shop-7f3a9c";
  m.order_id = "1042";
  m.channel = "sms";
  m.kind = ChannelKind::Sms;
  m.template_name = "shipped";
  m.locale = "sv";
  m.recipient = "+46701234567";
  m.text = "Hej Anna! Order \"1042\" är skickad.\nSpåra: https://t.example/XYZ";
  m.idempotency_key = "shop-7f3a9c:shipped:sms";
  return m;
}

OutboundMessage email() {
  OutboundMessage m = sms();
  m.id = 8;
  m.channel = "email";
  m.kind = ChannelKind::Email;
  m.recipient = "anna@example.se";
  m.subject = "Din beställning är skickad";
  m.html = "<p>Hej \\ Anna</p>";
  m.idempotency_key = "shop-7f3a9c:shipped:email";
  return m;
}

GatewayConfig file_config(const std::string& yaml) {
  GatewayConfig config;
  config.name = "outbox";
  config.type = "file";
  config.settings = plugin_settings_from_yaml(yaml);
  return config;
}

}  // namespace

TEST_CASE("file gateway: each message is one JSON line that parses back", "[gateway][file]") {
  TempDir dir;
  FileGateway gateway({dir.file("sent.jsonl"), false});
  asio::io_context io;

  const auto first = tack::testing::run_task(io, gateway.send(sms()));
  const auto second = tack::testing::run_task(io, gateway.send(email()));
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->kind == Outcome::Kind::Sent);
  CHECK(second->kind == Outcome::Kind::Sent);

  const auto lines = tack::testing::read_json_lines(dir.file("sent.jsonl"));
  REQUIRE(lines.size() == 2);
  const auto& line = lines[0];
  CHECK(line["id"] == 7);
  CHECK(line["idempotency_key"] == "shop-7f3a9c:shipped:sms");
  CHECK(line["order_id"] == "1042");
  CHECK(line["channel"] == "sms");
  CHECK(line["kind"] == "sms");
  CHECK(line["to"] == "+46701234567");
  CHECK(line["text"] == sms().text);  // quotes, newline and UTF-8 survive
  CHECK(line["locale"] == "sv");
  CHECK(line["template"] == "shipped");
  CHECK(line["sent_at"].get<std::string>().size() == 24);  // 2026-11-22T10:15:00.000Z
  CHECK(lines[1]["kind"] == "email");
  CHECK(lines[1]["subject"] == "Din beställning är skickad");
  CHECK(lines[1]["html"] == "<p>Hej \\ Anna</p>");

  // The provider id is the byte offset where the line starts.
  CHECK(first->provider_id == "file:0");
  std::ifstream in(dir.file("sent.jsonl"));
  std::string first_line;
  std::getline(in, first_line);
  CHECK(second->provider_id == "file:" + std::to_string(first_line.size() + 1));
}

TEST_CASE("file gateway: invalid UTF-8 is replaced, the line still parses", "[gateway][file]") {
  TempDir dir;
  FileGateway gateway({dir.file("sent.jsonl"), true});
  auto message = sms();
  message.text = "broken \xff\xfe byte";
  CHECK(gateway.append(message).kind == Outcome::Kind::Sent);
  const auto lines = tack::testing::read_json_lines(dir.file("sent.jsonl"));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["text"].get<std::string>().rfind("broken ", 0) == 0);
}

TEST_CASE("file gateway: a path it cannot open is a retry that says why", "[gateway][file]") {
  TempDir dir;
  FileGateway gateway({dir.file("missing-folder/sent.jsonl"), false});
  const Outcome outcome = gateway.append(sms());
  CHECK(outcome.kind == Outcome::Kind::Retry);
  CHECK(outcome.detail.find("missing-folder/sent.jsonl") != std::string::npos);
  CHECK(outcome.detail.find("No such file or directory") != std::string::npos);
}

TEST_CASE("registry: lists file, http and smtp with their keys", "[gateway][registry]") {
  const auto& kinds = gateway_kinds();
  REQUIRE(kinds.size() >= 3);  // the named providers follow these three
  CHECK(kinds[0].type == "file");
  CHECK(kinds[1].type == "http");
  CHECK(kinds[2].type == "smtp");
  for (const auto& kind : kinds) {
    CHECK(kind.create);
    CHECK_FALSE(kind.summary.empty());
    CHECK(find_gateway_kind(kind.type) == &kind);
  }
  CHECK(find_gateway_kind("carrier-pigeon") == nullptr);

  auto key = [](const GatewayKind& kind, const std::string& name) -> const ConfigKey* {
    for (const auto& k : kind.keys) {
      if (k.name == name) return &k;
    }
    return nullptr;
  };
  REQUIRE(key(kinds[0], "path"));
  CHECK(key(kinds[0], "path")->required);
  REQUIRE(key(kinds[1], "password"));
  CHECK(key(kinds[1], "password")->secret);
  CHECK(key(kinds[1], "bearer_token")->secret);
  CHECK(key(kinds[1], "headers")->type == KeyType::StringMap);
  CHECK(key(kinds[1], "kinds")->type == KeyType::StringList);
  CHECK(key(kinds[1], "timeout")->type == KeyType::Duration);
  CHECK(key(kinds[2], "password")->secret);
  CHECK(key(kinds[2], "from")->required);
}

TEST_CASE("registry: a file gateway's relative path is the config folder's",
          "[gateway][registry]") {
  TempDir dir;
  asio::io_context io;
  CurlMulti curl(io);
  GatewayContext context{io, curl, dir.path().string()};

  auto gateway =
      find_gateway_kind("file")->create(file_config("path: out.jsonl\nfsync: true"), context);
  REQUIRE(gateway);
  CHECK(gateway->supports(ChannelKind::Sms));
  CHECK(gateway->supports(ChannelKind::Email));
  const auto outcome = tack::testing::run_task(io, gateway->send(sms()));
  REQUIRE(outcome);
  CHECK(outcome->kind == Outcome::Kind::Sent);
  CHECK(tack::testing::read_json_lines(dir.file("out.jsonl")).size() == 1);

  CHECK_THROWS_WITH(find_gateway_kind("file")->create(file_config("fsync: true"), context),
                    Catch::Contains("outbox") && Catch::Contains("path"));
  CHECK_THROWS_WITH(
      find_gateway_kind("file")->create(file_config("path: x\nfsync: perhaps"), context),
      Catch::Contains("fsync"));
}
