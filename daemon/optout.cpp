#include "optout.hpp"

#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <charconv>

#include "digest.hpp"
#include "text.hpp"

namespace tack {

namespace {

constexpr std::size_t kMaxKeywordReply = 64;
// optout_routes.hpp's path, the token in its query.
constexpr std::string_view kOptOutPathPrefix = "/v1/optout?t=";
constexpr std::size_t kMaxAddress = 320;
constexpr std::size_t kMaxLocale = 35;

// `text` case-folded, without surrounding white space and trailing
// punctuation.
std::string keyword_form(std::string_view text) {
  icu::UnicodeString u =
      icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  u.foldCase();
  int32_t start = 0;
  int32_t end = u.length();
  while (start < end && u_isUWhiteSpace(u.char32At(start))) start = u.moveIndex32(start, 1);
  while (end > start) {
    const int32_t before = u.moveIndex32(end, -1);
    const UChar32 c = u.char32At(before);
    if (!u_isUWhiteSpace(c) && !u_ispunct(c)) break;
    end = before;
  }
  std::string out;
  u.tempSubStringBetween(start, end).toUTF8String(out);
  return out;
}

bool has_control(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

std::string token_payload(const OptOutToken& t) {
  return "1\n" + to_string(t.kind) + "\n" + t.address + "\n" + t.locale + "\n" +
         std::to_string(t.issued_at_s);
}

}  // namespace

OptOutKeywords default_opt_out_keywords() {
  return {{"sv", {"STOPP", "STOP"}}, {"pl", {"STOP", "NIE"}}, {"en", {"STOP", "UNSUBSCRIBE"}}};
}

std::optional<std::string> opt_out_keyword(std::string_view text, const OptOutKeywords& keywords) {
  if (text.size() > kMaxKeywordReply || !valid_utf8(text)) return std::nullopt;
  const std::string reply = keyword_form(text);
  if (reply.empty()) return std::nullopt;
  for (const auto& [locale, words] : keywords) {
    for (const auto& word : words) {
      if (keyword_form(word) == reply) return word;
    }
  }
  return std::nullopt;
}

std::string sign_opt_out_token(const OptOutToken& token, std::string_view secret) {
  const std::string payload = base64url_encode(token_payload(token));
  return payload + "." + hmac_sha256_hex(secret, payload);
}

OptOutTokenCheck verify_opt_out_token(std::string_view text, std::string_view secret) {
  OptOutTokenCheck check;
  if (text.empty()) {
    check.error = "empty token";
    return check;
  }
  if (text.size() > kMaxOptOutToken) {
    check.error = "token of " + std::to_string(text.size()) + " bytes (at most " +
                  std::to_string(kMaxOptOutToken) + ")";
    return check;
  }
  const auto dot = text.find('.');
  if (dot == std::string_view::npos || text.find('.', dot + 1) != std::string_view::npos) {
    check.error = "token is not PAYLOAD.MAC";
    return check;
  }
  const auto payload = text.substr(0, dot);
  const auto mac = text.substr(dot + 1);
  if (mac.size() != 64) {
    check.error = "token's MAC is not 64 hex digits";
    return check;
  }
  // The MAC first: nothing of an unsigned payload is read.
  if (secret.empty() || !constant_time_equal(hmac_sha256_hex(secret, payload), mac)) {
    check.error = "token's signature does not match";
    check.forged = true;
    return check;
  }
  const auto decoded = base64url_decode(payload);
  if (!decoded) {
    check.error = "token's payload is not base64url";
    return check;
  }
  // Signed by us, so well formed unless the secret leaked or the format
  // changed; checked all the same.
  std::vector<std::string_view> fields;
  std::string_view rest = *decoded;
  while (fields.size() < 6) {
    const auto nl = rest.find('\n');
    fields.push_back(rest.substr(0, nl));
    if (nl == std::string_view::npos) break;
    rest = rest.substr(nl + 1);
  }
  if (fields.size() != 5 || fields[0] != "1") {
    check.error = "token's payload has an unknown form";
    return check;
  }
  OptOutToken token;
  if (fields[1] == "sms") {
    token.kind = ChannelKind::Sms;
  } else if (fields[1] == "email") {
    token.kind = ChannelKind::Email;
  } else {
    check.error = "token names no channel kind";
    return check;
  }
  if (fields[2].empty() || fields[2].size() > kMaxAddress || has_control(fields[2]) ||
      !valid_utf8(fields[2])) {
    check.error = "token's address is empty or malformed";
    return check;
  }
  if (fields[3].size() > kMaxLocale || has_control(fields[3])) {
    check.error = "token's locale is malformed";
    return check;
  }
  const auto& issued = fields[4];
  auto [end, ec] = std::from_chars(issued.data(), issued.data() + issued.size(), token.issued_at_s);
  if (ec != std::errc() || end != issued.data() + issued.size() || token.issued_at_s < 0) {
    check.error = "token's time is not a number";
    return check;
  }
  token.address = std::string(fields[2]);
  token.locale = std::string(fields[3]);
  check.token = std::move(token);
  return check;
}

std::string opt_out_url(const std::string& public_url, std::string_view secret,
                        const OptOutToken& token) {
  if (public_url.empty() || secret.empty()) return {};
  return public_url + std::string(kOptOutPathPrefix) + sign_opt_out_token(token, secret);
}

}  // namespace tack
