// sms: how an SMS body will travel: GSM-7 or UCS-2, and in how many parts.
//
// GSM 03.38: a body that uses only the basic set (and the extension table,
// whose characters count twice) is GSM-7: 160 septets in one part, 153 per
// part when concatenated. One character outside it makes the whole message
// UCS-2: 70 UTF-16 units in one part, 67 per part. Swedish (å ä ö é) stays
// GSM-7; Polish (ą ć ę ł ń ó ś ź ż) does not. Pure.
#pragma once

#include <string>
#include <string_view>

namespace tack {

enum class SmsEncoding { Gsm7, Ucs2 };

struct SmsInfo {
  SmsEncoding encoding = SmsEncoding::Gsm7;
  int characters = 0;  // code points in the body
  int units = 0;       // septets (GSM-7, extension chars count 2) or UTF-16 units
  int segments = 0;    // parts on the wire; 0 for an empty body
};

SmsInfo analyze_sms(std::string_view utf8);
// Every character GSM-7 carries: the basic set and the extension table.
std::u32string gsm7_alphabet();
std::string to_string(SmsEncoding encoding);  // "GSM-7" or "UCS-2"

}  // namespace tack
