// render: turns a template and an event into the text that is sent. Loading
// (TemplateSet::load) reads the template files once; rendering is pure: the
// event, the locale and the RenderContext in, the text out, no I/O.
//
// Templates live in the template folder, one YAML file per template
// (NAME.yaml), holding per channel and per locale the Mustache text:
//
//   sms:
//     en: "Hi {{customer.first_name}}, order {{order_id}} has shipped."
//     sv: "Hej {{customer.first_name}}! ..."
//   email:
//     en:
//       subject: "Your order {{order_id}} has shipped"
//       text: |
//         ...
//       html: "<p>...</p>"            # optional
//       html_file: shipped.en.html    # or: the HTML beside it
//
// Shared pieces are Mustache partials ({{> signature}}) from
// partials.yaml in the same folder, per locale like the templates.
// Locale fallback: "sv-SE" -> "sv" -> the default locale; the chosen locale
// is returned with the rendering.
//
// The data a template sees is the event as it is, plus derived values:
// customer.first_name, delivery.window (e.g. sv "tisdag 24 november mellan
// 12 och 14", in the customer's time zone and regional locale; see
// format_delivery_window), delivery.date (the window's first day, "tisdag 24
// november"), delivery.day and delivery.when (the window's day said from
// the moment of rendering, RenderContext::now_ms, in the customer's zone
// and language: sv "i morgon", "på fredag", with the hours "i morgon
// mellan 12 och 14"; pl "jutro", "w piątek", "jutro między 12:00 a 14:00";
// en "tomorrow", "on Friday", "tomorrow between 12:00 and 14:00": today and
// tomorrow are ICU's relative day names, two to six days ahead the weekday;
// otherwise, or with no now, they are delivery.date and delivery.window; a
// window across days keeps delivery.window's words), delivery.pickup_by
// (a locker's delivery.pickup_deadline as people say it, "lördag 28
// november kl. 09:15"), shop.* from the config, locale, and optout_url (RenderContext). HTML bodies escape event data ({{x}}); SMS, subject
// and plain-text bodies are rendered unescaped.
// A subject whose rendering holds CR or LF is an error (header injection).
// Output above RenderContext::max_output_bytes is an error: that message
// fails, with the reason, and nothing else is affected.
//
// TemplateSet::load reads and parses every template file once; render only
// reads from it, so one TemplateSet may be shared by threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config.hpp"

namespace tack {

struct RenderedMessage {
  ChannelKind kind = ChannelKind::Sms;
  std::string locale;   // the locale actually used after fallback
  std::string subject;  // e-mail only
  std::string text;     // SMS body or e-mail plain text
  std::string html;     // e-mail only, may be empty
};

struct RenderResult {
  std::optional<RenderedMessage> message;
  std::string error;
};

struct RenderContext {
  std::string default_locale = "en";
  std::string default_timezone = "Europe/Stockholm";
  std::map<std::string, std::string> shop;  // config's shop: block
  // limits.max_message_bytes: one rendered text (SMS, subject, plain or
  // HTML body) larger than this fails the message.
  std::size_t max_output_bytes = 256 * 1024;
  // When the message is rendered (Unix ms), for delivery.day and
  // delivery.when; 0: unknown, they then say the date as delivery.date does.
  std::int64_t now_ms = 0;
  // {{optout_url}}: the recipient's signed one-click opt-out link
  // (optout.hpp), empty when http.public_url or http.optout_secret is not
  // set.
  std::string optout_url;
};

class TemplateSet {
 public:
  // Loads every *.yaml in dir (partials.yaml holds the partials). Problems
  // are added to errors with file:line:column and the set keeps what loaded.
  // A file larger than max_file_bytes (limits.max_template_bytes) is an
  // error, found before it is parsed.
  static std::shared_ptr<const TemplateSet> load(const std::string& dir, ConfigErrors& errors,
                                                 std::size_t max_file_bytes = 256 * 1024);

  // What would fail or send nonsense, found before any message is: each
  // problem is added to errors at its file:line:column. `tackd check`,
  // `tackd run` and a reload (SIGHUP) all refuse a set with errors.
  // - A variable, section or inverted section naming a field no event can
  //   have. An event has the fields of DESIGN.md "The event"
  //   (event_fields()), the derived ones above, shop.KEY for each key of
  //   the config's shop: block and data.FIELD for each field the config
  //   declares in data:. Inside a section, a name is looked up in the
  //   section's value first ({{#data.items}}{{name}}{{/data.items}} names
  //   data.items.name), then outwards, as Mustache does. Partials are read
  //   where they are included.
  // - A template without its own text, per channel it has, for the default
  //   locale and for each of the shop's locales (locale.supported; when not
  //   declared, every locale the folder's templates have between them).
  // - A partial without text for a locale a template includes it in.
  // - A rule sending a template on a channel kind it has no text for.
  // Added to warnings (check prints them, run and reload log them): data.*
  // names when the config declares no data: (they cannot be checked), and a
  // section over a shop key the config does not set (it is meant for shops
  // with and without it).
  void check(const Config& config, ConfigErrors& errors, std::vector<ConfigError>& warnings) const;

  bool has(const std::string& name) const;
  std::vector<std::string> names() const;
  // Locales a template defines for a channel kind (for `tackd check`).
  std::vector<std::string> locales(const std::string& name, ChannelKind kind) const;
  // Where a template's texts for a channel kind are (its sms: or email:
  // key; else the file), for warnings about them. No message.
  ConfigError where(const std::string& name, ChannelKind kind) const;

  RenderResult render(const std::string& name, ChannelKind kind, const nlohmann::json& event,
                      const std::string& locale, const RenderContext& context) const;

  struct Impl;
  ~TemplateSet();
  TemplateSet();

 private:
  std::unique_ptr<Impl> impl_;
};

// The values a template sees: the event plus derived fields (see above),
// with dates in the given locale. (render writes the dates of an "en"
// template in the customer's "en-GB" when that is what was asked for:
// "Tuesday, 24 November", not "Tuesday, November 24".)
nlohmann::json template_data(const nlohmann::json& event, const std::string& locale,
                             const RenderContext& context);

// A delivery window in words, built with ICU's date interval formats:
//   sv "tisdag 24 november mellan 12 och 14",
//      "mellan lördag 5 december kl. 22:00 och söndag 6 december kl. 01:00"
//   pl "wtorek, 24 listopada, między 12:00 a 14:00",
//      "między sobotą 5 grudnia 22:00 a niedzielą 6 grudnia 01:00"
//   en-GB "Tuesday, 24 November, between 12:00 and 14:00",
//      "between Saturday, 5 December at 22:00 and Sunday, 6 December at 01:00"
//   en "Tuesday, November 24, between 12:00 PM and 2:00 PM"
// other languages in ICU's own interval format. A window with an end in
// the hour that repeats when the clocks go back names each end's zone:
// "mellan söndag 25 oktober kl. 02:30 CEST och söndag 25 oktober kl. 02:30
// CET". Empty if a time does not parse or the end is not after the start.
std::string format_delivery_window(const std::string& start_rfc3339, const std::string& end_rfc3339,
                                   const std::string& locale, const std::string& timezone);

}  // namespace tack
