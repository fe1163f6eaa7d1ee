#include "gateways/secret_filter.hpp"
#include "text.hpp"

#include <algorithm>
#include <cctype>

namespace tack {

namespace {

// A header or query parameter whose name says it carries a credential.
bool credential_name(std::string_view name) {
  const std::string lower = lowercase(name);
  static const char* const kWords[] = {"auth",     "key",    "token",     "secret",
                                       "password", "passwd", "signature", "credential"};
  return lower == "sig" || std::any_of(std::begin(kWords), std::end(kWords), [&](const char* w) {
           return lower.find(w) != std::string::npos;
         });
}

void add(std::vector<std::string>& secrets, std::string value) {
  // A template ("{{to}}") is not a secret; its literal parts may be, but
  // those are caught whole below when the value has no tags.
  if (value.size() < 4 || value.find("{{") != std::string::npos) return;
  secrets.push_back(std::move(value));
}

// "Bearer abc", "Basic abc", "Token abc": the credential alone as well.
void add_with_scheme(std::vector<std::string>& secrets, const std::string& value) {
  add(secrets, value);
  const auto space = value.rfind(' ');
  if (space != std::string::npos) add(secrets, value.substr(space + 1));
}

std::string percent_decoded(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() &&
        std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// user:password@ and credential-like query values of a URL (template).
void add_url_secrets(std::vector<std::string>& secrets, const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme != std::string::npos) {
    const auto authority_end = url.find_first_of("/?#", scheme + 3);
    const std::string authority =
        url.substr(scheme + 3, authority_end == std::string::npos ? std::string::npos
                                                                  : authority_end - scheme - 3);
    const auto at = authority.rfind('@');
    if (at != std::string::npos) {
      const std::string userinfo = authority.substr(0, at);
      const auto colon = userinfo.find(':');
      if (colon != std::string::npos) {
        const std::string password = userinfo.substr(colon + 1);
        add(secrets, password);
        add(secrets, percent_decoded(password));
      }
    }
  }
  const auto question = url.find('?');
  if (question == std::string::npos) return;
  std::string_view query(url);
  query.remove_prefix(question + 1);
  query = query.substr(0, query.find('#'));
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = part.find('=');
    if (eq == std::string_view::npos || !credential_name(part.substr(0, eq))) continue;
    add(secrets, std::string(part.substr(eq + 1)));
    add(secrets, percent_decoded(part.substr(eq + 1)));
  }
}

}  // namespace

std::vector<std::string> gateway_secrets(const GatewayConfig& config,
                                         const std::vector<ConfigKey>& keys) {
  std::vector<std::string> secrets;
  for (const auto& key : keys) {
    const SettingValue* value = config.settings.find(key.name);
    if (!value) continue;
    const bool text = value->shape == SettingValue::Shape::Text;
    if (key.secret && text) add_with_scheme(secrets, value->text);
    if (key.name == "headers" && value->shape == SettingValue::Shape::Map) {
      for (const auto& [name, header] : value->map) {
        if (credential_name(name)) add_with_scheme(secrets, header);
      }
    }
    if (key.name == "url" && text) add_url_secrets(secrets, value->text);
  }
  // Longest first, so a token inside a longer header value is not cut in two.
  std::sort(secrets.begin(), secrets.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  secrets.erase(std::unique(secrets.begin(), secrets.end()), secrets.end());
  return secrets;
}

std::string hide_secrets(std::string_view text, const std::vector<std::string>& secrets) {
  std::string out(text);
  for (const auto& secret : secrets) {
    if (secret.size() < 4) continue;
    for (auto at = out.find(secret); at != std::string::npos; at = out.find(secret, at + 3)) {
      out.replace(at, secret.size(), "***");
    }
  }
  // Any URL's "user:password@", whoever's: a provider or libcurl may quote
  // a URL with credentials that are not this gateway's.
  for (auto scheme = out.find("://"); scheme != std::string::npos;
       scheme = out.find("://", scheme + 3)) {
    const std::size_t start = scheme + 3;
    const std::size_t end = out.find_first_of("/?# \t\r\n\"'<>", start);
    const std::size_t at = out.rfind('@', end == std::string::npos ? out.size() : end);
    if (at == std::string::npos || at < start) continue;
    const std::size_t colon = out.find(':', start);
    if (colon == std::string::npos || colon > at || at - colon - 1 == 0) continue;
    out.replace(colon + 1, at - colon - 1, "***");
  }
  return out;
}

SecretFilter::SecretFilter(std::unique_ptr<Gateway> inner, std::vector<std::string> secrets)
    : inner_(std::move(inner)), secrets_(std::move(secrets)) {}

asio::awaitable<Outcome> SecretFilter::send(const OutboundMessage& message) {
  Outcome outcome = co_await inner_->send(message);
  if (!secrets_.empty()) {
    outcome.detail = hide_secrets(outcome.detail, secrets_);
    outcome.provider_id = hide_secrets(outcome.provider_id, secrets_);
  }
  co_return outcome;
}

bool SecretFilter::supports(ChannelKind kind) const {
  return inner_->supports(kind);
}

}  // namespace tack
