#include "mime.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <vector>

namespace tack {

namespace {

constexpr std::size_t kFoldAt = 78;    // RFC 5322 2.1.1: SHOULD
constexpr std::size_t kMaxLine = 998;  // RFC 5322 2.1.1: MUST
constexpr std::size_t kQpLine = 76;    // RFC 2045 6.7 (5)
// An encoded-word is at most 75 characters (RFC 2047 2); 39 bytes of UTF-8
// make 52 base64 characters, so "Subject: " plus one word stays under 78.
constexpr std::size_t kWordPayload = 39;

bool has_line_break(std::string_view text) {
  return text.find_first_of("\r\n") != std::string_view::npos;
}

bool is_printable_ascii(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

std::string base64(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const std::uint32_t n = (static_cast<unsigned char>(data[i]) << 16) |
                            (static_cast<unsigned char>(data[i + 1]) << 8) |
                            static_cast<unsigned char>(data[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (const std::size_t rest = data.size() - i; rest > 0) {
    std::uint32_t n = static_cast<unsigned char>(data[i]) << 16;
    if (rest == 2) n |= static_cast<unsigned char>(data[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Length of the UTF-8 sequence starting with this byte (input is valid).
std::size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xe) return 3;
  return 4;
}

// RFC 2047 B encoded-words; a word never splits a character, since each
// must decode on its own.
std::vector<std::string> encoded_words(std::string_view text) {
  std::vector<std::string> words;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = start;
    while (end < text.size()) {
      const std::size_t n = utf8_length(static_cast<unsigned char>(text[end]));
      if (end + n - start > kWordPayload) break;
      end += n;
    }
    words.push_back("=?UTF-8?B?" + base64(text.substr(start, end - start)) + "?=");
    start = end;
  }
  return words;
}

std::vector<std::string> split_on_spaces(std::string_view text) {
  std::vector<std::string> tokens;
  std::size_t start = 0;
  for (;;) {
    const std::size_t space = text.find(' ', start);
    tokens.emplace_back(
        text.substr(start, space == std::string_view::npos ? space : space - start));
    if (space == std::string_view::npos) break;
    start = space + 1;
  }
  return tokens;
}

// "Name: t1 t2 ..." with CRLF+space put in place of a separating space
// wherever the line would pass 78 characters. Unfolding gives back the
// tokens joined by single spaces. Never folds before an empty token: a
// folded line of only whitespace is not allowed.
std::string fold(std::string_view name, const std::vector<std::string>& tokens) {
  std::string out(name);
  out += ':';
  std::size_t line = out.size();
  bool first = true;
  for (const auto& token : tokens) {
    if (!first && !token.empty() && line + 1 + token.size() > kFoldAt) {
      out += "\r\n";
      line = 0;
    }
    out += ' ';
    out += token;
    line += 1 + token.size();
    first = false;
  }
  out += "\r\n";
  return out;
}

std::size_t longest_line(std::string_view text) {
  std::size_t longest = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find("\r\n", start);
    if (end == std::string_view::npos) end = text.size();
    longest = std::max(longest, end - start);
    start = end + 2;
  }
  return longest;
}

bool is_atext_phrase(std::string_view text) {
  // RFC 5322 atext plus the spaces between words.
  static constexpr std::string_view kSpecials = "!#$%&'*+-/=?^_`{|}~";
  if (text.empty() || text.front() == ' ' || text.back() == ' ') return false;
  if (text.find("  ") != std::string_view::npos) return false;
  for (char c : text) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && c != ' ' && kSpecials.find(c) == std::string_view::npos) return false;
  }
  return text.find("=?") == std::string_view::npos;
}

std::string quoted_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::optional<std::string> check_address(std::string_view address, std::string& error) {
  if (address.empty()) {
    error = "empty e-mail address";
    return std::nullopt;
  }
  if (has_line_break(address)) {
    error = "e-mail address contains a line break";
    return std::nullopt;
  }
  for (unsigned char c : address) {
    if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' ||
        c == ';' || c == ':' || c == '"' || c == '\\' || c == '[' || c == ']') {
      error = "e-mail address \"" + std::string(address) + "\" has a character that is not allowed";
      return std::nullopt;
    }
  }
  const std::size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size() ||
      address.find('@') != at) {
    error = "\"" + std::string(address) + "\" is not an e-mail address";
    return std::nullopt;
  }
  return std::string(address.substr(at + 1));
}

std::optional<std::string> address_header(std::string_view name, const Mailbox& mailbox,
                                          std::string& error) {
  if (!check_address(mailbox.address, error)) return std::nullopt;
  const std::string& display = mailbox.display_name;
  if (display.empty()) return fold(name, {mailbox.address});
  if (has_line_break(display)) {
    error = std::string(name) + " name contains a line break";
    return std::nullopt;
  }
  if (!valid_utf8(display)) {
    error = std::string(name) + " name is not valid UTF-8";
    return std::nullopt;
  }
  std::vector<std::string> tokens;
  if (is_atext_phrase(display)) {
    tokens = split_on_spaces(display);
  } else if (is_printable_ascii(display) && display.find("=?") == std::string::npos) {
    tokens.push_back(quoted_string(display));
  } else {
    tokens = encoded_words(display);
  }
  tokens.push_back("<" + mailbox.address + ">");
  std::string header = fold(name, tokens);
  if (longest_line(header) > kMaxLine) {
    error = std::string(name) + " is too long";
    return std::nullopt;
  }
  return header;
}

std::uint64_t fnv1a(std::string_view text, std::uint64_t basis) {
  std::uint64_t hash = basis;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::string hex64(std::uint64_t value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = kHex[value & 0xf];
    value >>= 4;
  }
  return out;
}

// 128 bits from two differently seeded FNV-1a hashes: not cryptographic,
// only unique enough that two keys never share a Message-ID or boundary.
std::string digest(std::string_view seed) {
  return hex64(fnv1a(seed, 0xcbf29ce484222325ULL)) + hex64(fnv1a(seed, 0x84222325cbf29ce4ULL));
}

std::string crlf_lines(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string text_part_headers(std::string_view subtype) {
  return "Content-Type: text/" + std::string(subtype) +
         "; charset=UTF-8\r\n"
         "Content-Transfer-Encoding: quoted-printable\r\n";
}

// A multipart body part ends with the CRLF before its delimiter, and that
// CRLF belongs to the delimiter (RFC 2046 5.1.1): it is always added, so a
// text that ends in a line break keeps it.
std::string part_body(std::string_view text) {
  return quoted_printable(text) + "\r\n";
}

}  // namespace

MailboxParse parse_mailbox(std::string_view text) {
  auto trim = [](std::string_view s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string_view::npos) return std::string_view{};
    return s.substr(first, s.find_last_not_of(" \t") - first + 1);
  };
  MailboxParse parse;
  if (has_line_break(text)) {
    parse.error = "address contains a line break";
    return parse;
  }
  text = trim(text);
  Mailbox mailbox;
  if (!text.empty() && text.back() == '>') {
    const std::size_t open = text.rfind('<');
    if (open == std::string_view::npos) {
      parse.error = "unbalanced <> in \"" + std::string(text) + "\"";
      return parse;
    }
    mailbox.address = std::string(trim(text.substr(open + 1, text.size() - open - 2)));
    std::string_view name = trim(text.substr(0, open));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
      name = name.substr(1, name.size() - 2);
      for (std::size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '\\' && i + 1 < name.size()) ++i;
        mailbox.display_name += name[i];
      }
    } else {
      mailbox.display_name = std::string(name);
    }
  } else {
    mailbox.address = std::string(text);
  }
  std::string error;
  if (!check_address(mailbox.address, error)) {
    parse.error = error;
    return parse;
  }
  parse.mailbox = std::move(mailbox);
  return parse;
}

std::string format_rfc5322_date(std::chrono::system_clock::time_point time) {
  static constexpr std::array<const char*, 7> kDays{"Sun", "Mon", "Tue", "Wed",
                                                    "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  // Built by hand: strftime's %a and %b follow the process locale.
  char out[64];
  std::snprintf(out, sizeof out, "%s, %02d %s %04d %02d:%02d:%02d +0000",
                kDays[static_cast<std::size_t>(tm.tm_wday)], tm.tm_mday,
                kMonths[static_cast<std::size_t>(tm.tm_mon)], tm.tm_year + 1900, tm.tm_hour,
                tm.tm_min, tm.tm_sec);
  return out;
}

std::optional<std::string> unstructured_header(std::string_view name, std::string_view value) {
  if (has_line_break(value) || !valid_utf8(value)) return std::nullopt;
  // Plain ASCII is folded at its spaces; anything else, or text a decoder
  // could mistake for an encoded-word, is encoded whole.
  if (is_printable_ascii(value) && value.find("=?") == std::string_view::npos) {
    std::string header = fold(name, split_on_spaces(value));
    if (longest_line(header) <= kFoldAt) return header;
  }
  return fold(name, encoded_words(value));
}

std::string quoted_printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const std::string lines = crlf_lines(text);
  std::string out;
  out.reserve(lines.size() + lines.size() / 8);
  std::size_t start = 0;
  while (start <= lines.size()) {
    std::size_t end = lines.find("\r\n", start);
    const bool last = end == std::string::npos;
    if (last) end = lines.size();
    std::size_t column = 0;
    for (std::size_t i = start; i < end; ++i) {
      const auto c = static_cast<unsigned char>(lines[i]);
      // Trailing whitespace is encoded: transports may strip it.
      const bool trailing_space = (c == ' ' || c == '\t') && i + 1 == end;
      std::string token;
      if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !trailing_space)) {
        token = static_cast<char>(c);
      } else {
        token = {'=', kHex[c >> 4], kHex[c & 0xf]};
      }
      // Leave room for the "=" of a soft line break.
      if (column + token.size() > kQpLine - 1) {
        out += "=\r\n";
        column = 0;
      }
      out += token;
      column += token.size();
    }
    if (last) break;
    out += "\r\n";
    start = end + 2;
  }
  return out;
}

MimeMessage build_mime_message(const MimeInput& input) {
  MimeMessage result;
  auto fail = [&](std::string error) {
    result = MimeMessage{};
    result.error = std::move(error);
    return result;
  };

  std::string error;
  const std::optional<std::string> domain = check_address(input.from.address, error);
  if (!domain) return fail("From: " + error);
  const auto from = address_header("From", input.from, error);
  if (!from) return fail(error);
  const auto to = address_header("To", input.to, error);
  if (!to) return fail(error);
  std::optional<std::string> reply_to;
  if (input.reply_to) {
    reply_to = address_header("Reply-To", *input.reply_to, error);
    if (!reply_to) return fail(error);
  }
  if (has_line_break(input.subject)) return fail("subject contains a line break");
  const auto subject = unstructured_header("Subject", input.subject);
  if (!subject) return fail("subject is not valid UTF-8");
  if (!valid_utf8(input.text)) return fail("text body is not valid UTF-8");
  if (!valid_utf8(input.html)) return fail("HTML body is not valid UTF-8");
  if (!input.idempotency_key.empty() &&
      (!is_printable_ascii(input.idempotency_key) || input.idempotency_key.size() > 900)) {
    return fail("idempotency key is not short printable ASCII");
  }

  const auto unsubscribe = unsubscribe_headers(input.unsubscribe_url);
  if (!unsubscribe) return fail("unsubscribe URL is not a short http(s) URL of printable ASCII");

  const std::string seed =
      input.message_id_seed.empty() ? input.idempotency_key : input.message_id_seed;
  const std::string id = digest(seed);
  result.message_id = "<" + id + ".tack@" + *domain + ">";

  std::string& m = result.message;
  m += "Date: " + format_rfc5322_date(input.date) + "\r\n";
  m += *from;
  m += *to;
  if (reply_to) m += *reply_to;
  m += *subject;
  m += "Message-ID: " + result.message_id + "\r\n";
  m += "MIME-Version: 1.0\r\n";
  if (!input.idempotency_key.empty()) {
    m += "X-Tack-Idempotency-Key: " + input.idempotency_key + "\r\n";
  }
  for (const auto& [name, value] : *unsubscribe) m += name + ": " + value + "\r\n";
  if (input.html.empty()) {
    m += text_part_headers("plain");
    m += "\r\n";
    // The message must end in CRLF; a text that does not gets one more.
    m += quoted_printable(input.text);
    if (m.compare(m.size() - 2, 2, "\r\n") != 0) m += "\r\n";
    return result;
  }
  // "=_" never occurs in quoted-printable output ("=" is always followed by
  // two hex digits or a line break), so no body can contain the boundary.
  const std::string boundary = "=_tack_" + id;
  m += "Content-Type: multipart/alternative;\r\n boundary=\"" + boundary + "\"\r\n";
  m += "\r\n";
  m += "This is a multi-part message in MIME format.\r\n";
  m += "--" + boundary + "\r\n";
  m += text_part_headers("plain");
  m += "\r\n";
  m += part_body(input.text);
  m += "--" + boundary + "\r\n";
  m += text_part_headers("html");
  m += "\r\n";
  m += part_body(input.html);
  m += "--" + boundary + "--\r\n";
  return result;
}


std::optional<HeaderList> unsubscribe_headers(std::string_view url) {
  if (url.empty()) return HeaderList{};
  const bool scheme = url.starts_with("https://") || url.starts_with("http://");
  if (!scheme || url.size() > 900 || !is_printable_ascii(url) ||
      url.find_first_of(" <>\"") != std::string_view::npos) {
    return std::nullopt;
  }
  // RFC 8058: a one-click POST to the URL unsubscribes, with no page to
  // confirm on (mail providers send it for the reader).
  return HeaderList{{"List-Unsubscribe", "<" + std::string(url) + ">"},
                    {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"}};
}
}  // namespace tack
