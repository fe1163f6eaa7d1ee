// sms_cost: what an SMS will cost on its channel, and whether tack sends it
// at all. Each segment is billed, so a channel has a budget (its
// max_segments, default 3, and any lower max_segments of its gateways: a
// message may leave through any of them), and may transliterate the texts
// of some languages to GSM-7 (`transliterate: [pl]`), 160 characters a part
// instead of UCS-2's 70.
//
// fit_sms runs after rendering, before the message is stored: the text
// stored and sent is the transliterated one, and a text over the budget is
// refused with the reason ("SMS needs 4 segments (UCS-2, 201 characters);
// channel sms allows 3"): the message fails, as one to an invalid number
// does, before any provider sees (and bills) it. Intake calls it for what it
// renders, the scheduler for what it renders when due, `tackd check` (lint)
// for the samples. Pure.
#pragma once

#include <string>

#include "config.hpp"
#include "sms.hpp"

namespace tack {

struct SmsBudget {
  int max_segments = 3;
  std::string set_by;  // "channel sms" or "gateway elks": whose limit it is
};

// The smallest max_segments of the channel and its gateways.
SmsBudget sms_budget(const Config& config, const ChannelConfig& channel);

// Whether the channel transliterates texts in `locale` (a template locale
// such as "pl" or "pl-PL"): its transliterate list names the language.
bool transliterates(const ChannelConfig& channel, const std::string& locale);

struct SmsFit {
  std::string text;            // to store and send
  SmsInfo info;                // of that text
  bool transliterated = false;  // the channel transliterated it (it may not have changed)
  std::string refusal;         // non-empty: over the budget, and why
};

// An SMS rendered in `locale` (the template's locale) for `channel`.
SmsFit fit_sms(std::string text, const std::string& locale, const Config& config,
               const ChannelConfig& channel);

// "4 segments (UCS-2, 201 characters)".
std::string describe_sms(const SmsInfo& info);

}  // namespace tack
