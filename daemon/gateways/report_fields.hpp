// gateways/report_fields: reading the fields of a provider's form callback
// (46elks, Twilio, Vonage): what counts as a usable id or status word. The
// body is untrusted: parse_form (gateways/reports.hpp) has checked its
// encoding; these check each value's shape before it reaches the store.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <string_view>

namespace tack {

inline bool has_control_char(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// A value that names something (an id, a status, a number): not empty, at
// most `max` bytes, one line.
inline bool is_report_word(std::string_view text, std::size_t max) {
  return !text.empty() && text.size() <= max && !has_control_char(text);
}

// The value of `name`, "" when absent.
inline std::string report_field(const std::map<std::string, std::string>& fields,
                                const std::string& name) {
  const auto it = fields.find(name);
  return it == fields.end() ? std::string() : it->second;
}

// Why a callback that should be a form is refused.
inline constexpr const char* kNotAForm = "not a form body (x-www-form-urlencoded, UTF-8)";

// Limits shared by the SMS providers' callbacks.
inline constexpr std::size_t kMaxProviderIdBytes = 100;  // ids are 16-40 characters
inline constexpr std::size_t kMaxReportWordBytes = 64;   // statuses, codes, numbers
// A reply is a few hundred characters; a long concatenated one a few
// thousand bytes.
inline constexpr std::size_t kMaxReplyTextBytes = 16 * 1024;

}  // namespace tack
