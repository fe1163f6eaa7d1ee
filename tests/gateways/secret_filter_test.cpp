#include "gateways/secret_filter.hpp"

#include <catch2/catch.hpp>

#include "curl.hpp"
#include "support/coro.hpp"

namespace tack {
namespace {

GatewayConfig http_config(const std::string& yaml) {
  GatewayConfig config;
  config.name = "sms";
  config.type = "http";
  config.settings = plugin_settings_from_yaml(yaml);
  return config;
}

const std::vector<ConfigKey>& http_keys() {
  return find_gateway_kind("http")->keys;
}

// A gateway that answers what a careless provider or library would say.
class EchoingGateway : public Gateway {
 public:
  explicit EchoingGateway(std::string detail) : detail_(std::move(detail)) {}
  asio::awaitable<Outcome> send(const OutboundMessage&) override {
    co_return Outcome::rejected(detail_);
  }
  bool supports(ChannelKind) const override { return true; }

 private:
  std::string detail_;
};

}  // namespace

TEST_CASE("gateway_secrets finds secret keys, credential headers and URL credentials",
          "[gateways]") {
  auto secrets = gateway_secrets(http_config(R"(
url: "https://shop:p%40ss-w0rd@api.example/send?to={{to}}&api_key=k-123456&lang=sv"
password: "basic-pass-1"
bearer_token: "tok-abcdef"
headers:
  Authorization: "Basic c2hvcDpzZWNyZXQ="
  X-Api-Key: "xk-987654"
  Content-Type: "application/json"
  X-Sig: "{{idempotency_key}}"
)"),
                                 http_keys());
  auto has = [&](const std::string& s) {
    return std::find(secrets.begin(), secrets.end(), s) != secrets.end();
  };
  CHECK(has("basic-pass-1"));
  CHECK(has("tok-abcdef"));
  CHECK(has("Basic c2hvcDpzZWNyZXQ="));
  CHECK(has("c2hvcDpzZWNyZXQ="));
  CHECK(has("xk-987654"));
  CHECK(has("p%40ss-w0rd"));
  CHECK(has("p@ss-w0rd"));
  CHECK(has("k-123456"));
  CHECK_FALSE(has("application/json"));  // not a credential header
  CHECK_FALSE(has("sv"));
  CHECK_FALSE(has("{{idempotency_key}}"));  // a template is no secret
  // Longest first, so a token inside a longer value is not cut in two.
  CHECK(std::is_sorted(secrets.begin(), secrets.end(),
                       [](const auto& a, const auto& b) { return a.size() > b.size(); }));
}

TEST_CASE("hide_secrets replaces every occurrence and leaves short values alone", "[gateways]") {
  CHECK(hide_secrets("key k-123456 and again k-123456.", {"k-123456"}) == "key *** and again ***.");
  CHECK(hide_secrets("HTTP 401: bad", {"abc"}) == "HTTP 401: bad");
  CHECK(hide_secrets("", {"k-123456"}).empty());
  // Any URL's password, known or not; a URL without one is left alone.
  CHECK(hide_secrets("retry https://bob:pa55-w0rd@api.example/x and ftp://h:21/y", {}) ==
        "retry https://bob:***@api.example/x and ftp://h:21/y");
  CHECK(hide_secrets("see http://api.example/?u=a@b", {}) == "see http://api.example/?u=a@b");
}

TEST_CASE("SecretFilter keeps a gateway's credentials out of the outcome", "[gateways]") {
  const std::vector<std::string> secrets =
      gateway_secrets(http_config("url: \"https://u:hunter2-pw@api.example/?token=t0k3n-9\"\n"
                                  "bearer_token: \"sk-live-0123456789\"\n"),
                      http_keys());
  SecretFilter filter(
      std::make_unique<EchoingGateway>("HTTP 401: invalid key sk-live-0123456789 for "
                                       "https://u:hunter2-pw@api.example/?token=t0k3n-9"),
      secrets);
  asio::io_context io;
  auto outcome = testing::run_task(io, filter.send(OutboundMessage{}));
  REQUIRE(outcome);
  CHECK(outcome->kind == Outcome::Kind::Rejected);
  CHECK(outcome->detail == "HTTP 401: invalid key *** for https://u:***@api.example/?token=***");
}

TEST_CASE("the registry builds every gateway behind a SecretFilter", "[gateways]") {
  asio::io_context io;
  CurlMulti curl(io);
  GatewayContext context{io, curl, "/"};
  GatewayConfig file;
  file.name = "file";
  file.type = "file";
  file.settings = plugin_settings_from_yaml("path: /dev/null\n");
  auto gateway = find_gateway_kind("file")->create(file, context);
  CHECK(dynamic_cast<SecretFilter*>(gateway.get()) != nullptr);
  auto http = find_gateway_kind("http")->create(
      http_config("url: \"http://127.0.0.1:9/x\"\nbearer_token: \"sk-live-0123456789\"\n"
                  "form: { to: \"{{to}}\" }\n"),
      context);
  CHECK(dynamic_cast<SecretFilter*>(http.get()) != nullptr);
}

}  // namespace tack
