// address_range: an IP address or a CIDR block ("127.0.0.1", "10.0.0.0/8",
// "::1", "fd00::/8") from the config, and whether a peer's address is in
// it. An IPv4 address seen as IPv6 (::ffff:192.0.2.7, a dual-stack
// listener) is compared as IPv4. Pure.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace tack {

struct AddressRange {
  std::array<unsigned char, 16> bytes{};  // the network; IPv4 in the first 4
  bool v6 = false;
  int prefix = 0;    // bits that must match
  std::string text;  // as written, for messages
  bool operator==(const AddressRange& other) const {
    return bytes == other.bytes && v6 == other.v6 && prefix == other.prefix;
  }
};

// Nothing when `text` is not an address or block; host bits set below the
// prefix ("10.0.0.1/8") are not an error: they are ignored.
std::optional<AddressRange> parse_address_range(std::string_view text);

// Whether `address` (an IP literal, as the listener reports peers) is in
// `range`; false for anything that is not an address.
bool range_contains(const AddressRange& range, std::string_view address);

}  // namespace tack
