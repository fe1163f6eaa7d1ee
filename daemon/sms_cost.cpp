#include "sms_cost.hpp"

#include <algorithm>
#include <cctype>

#include "transliterate.hpp"

namespace tack {

SmsBudget sms_budget(const Config& config, const ChannelConfig& channel) {
  SmsBudget budget{channel.max_segments, "channel " + channel.name};
  for (const auto& name : channel.gateways) {
    const GatewayConfig* gateway = config.gateway(name);
    if (gateway && gateway->max_segments > 0 && gateway->max_segments < budget.max_segments) {
      budget = {gateway->max_segments, "gateway " + gateway->name};
    }
  }
  return budget;
}

bool transliterates(const ChannelConfig& channel, const std::string& locale) {
  std::string language = locale.substr(0, locale.find_first_of("-_"));
  std::transform(language.begin(), language.end(), language.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::find(channel.transliterate.begin(), channel.transliterate.end(), language) !=
         channel.transliterate.end();
}

SmsFit fit_sms(std::string text, const std::string& locale, const Config& config,
               const ChannelConfig& channel) {
  SmsFit fit;
  fit.transliterated = transliterates(channel, locale);
  fit.text = fit.transliterated ? transliterate_to_gsm7(text) : std::move(text);
  fit.info = analyze_sms(fit.text);
  const SmsBudget budget = sms_budget(config, channel);
  if (fit.info.segments > budget.max_segments) {
    fit.refusal = "SMS needs " + describe_sms(fit.info) +
                  (fit.transliterated ? " even transliterated" : "") + "; " + budget.set_by +
                  " allows " + std::to_string(budget.max_segments);
  }
  return fit;
}

std::string describe_sms(const SmsInfo& info) {
  return std::to_string(info.segments) + (info.segments == 1 ? " segment (" : " segments (") +
         to_string(info.encoding) + ", " + std::to_string(info.characters) +
         (info.characters == 1 ? " character)" : " characters)");
}

}  // namespace tack
