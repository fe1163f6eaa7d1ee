#include "address_range.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace tack {

namespace {

struct Address {
  std::array<unsigned char, 16> bytes{};
  bool v6 = false;
};

std::optional<Address> parse_address(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  const std::string copy(text);
  Address out;
  if (inet_pton(AF_INET, copy.c_str(), out.bytes.data()) == 1) return out;
  if (inet_pton(AF_INET6, copy.c_str(), out.bytes.data()) != 1) return std::nullopt;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(out.bytes.data(), kMapped, 12) == 0) {
    std::memmove(out.bytes.data(), out.bytes.data() + 12, 4);
    std::memset(out.bytes.data() + 4, 0, 12);
    return out;
  }
  out.v6 = true;
  return out;
}

}  // namespace

std::optional<AddressRange> parse_address_range(std::string_view text) {
  const auto slash = text.find('/');
  auto address = parse_address(text.substr(0, slash));
  if (!address) return std::nullopt;
  AddressRange range;
  range.bytes = address->bytes;
  range.v6 = address->v6;
  const int bits = range.v6 ? 128 : 32;
  range.prefix = bits;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    int prefix = -1;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() ||
        prefix < 0 || prefix > bits) {
      return std::nullopt;
    }
    range.prefix = prefix;
  }
  range.text = std::string(text);
  return range;
}

bool range_contains(const AddressRange& range, std::string_view text) {
  auto address = parse_address(text);
  if (!address || address->v6 != range.v6) return false;
  int left = range.prefix;
  for (std::size_t i = 0; left > 0; ++i, left -= 8) {
    const unsigned char mask = left >= 8 ? 0xff : static_cast<unsigned char>(0xff << (8 - left));
    if ((address->bytes[i] & mask) != (range.bytes[i] & mask)) return false;
  }
  return true;
}

}  // namespace tack
