// Fuzz target: template rendering (daemon/render.hpp) of the bundled
// templates with hostile event data. Input: line 1 the customer's locale,
// line 2 their time zone, lines 3 and 4 the delivery window's start and
// end, the rest either a whole event (JSON) or one hostile string that is
// put into every field a template reads (Mustache delimiters, HTML, line
// breaks, huge or odd text). Invariants: nothing throws or crashes; a
// rendering stays within RenderContext::max_output_bytes, a subject never holds a line
// break, HTML bodies never carry the data's markup unescaped, and output is
// valid UTF-8 whenever the data is.
#include <memory>
#include <string>

#include "fuzz.hpp"
#include "mime.hpp"
#include "render.hpp"

namespace {

const tack::TemplateSet& bundled() {
  static const std::shared_ptr<const tack::TemplateSet> set = [] {
    tack::ConfigErrors errors;
    auto loaded = tack::TemplateSet::load(TACK_FUZZ_TEMPLATE_DIR, errors);
    if (!errors.empty()) {
      std::fprintf(stderr, "render_fuzz: the bundled templates do not load:\n%s\n",
                   errors.to_string().c_str());
      std::abort();
    }
    return loaded;
  }();
  return *set;
}

nlohmann::json hostile_event(const std::string& text, const std::string& locale,
                             const std::string& timezone, const std::string& start,
                             const std::string& end) {
  return {
      {"event_id", text},
      {"order_id", text},
      {"status", "shipped"},
      {"occurred_at", "2026-11-22T10:15:00Z"},
      {"customer",
       {{"name", text},
        {"first_name", text},
        {"phone", text},
        {"email", text},
        {"locale", locale},
        {"timezone", timezone}}},
      {"delivery",
       {{"carrier", text}, {"tracking_url", text}, {"window_start", start}, {"window_end", end}}},
      {"data", {{"total", text}, {"currency", text}, {"items", {text, text}}}}};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto fields = tack::fuzz::split_fields(tack::fuzz::as_text(data, size), 5);
  const std::string locale(fields[0]);
  const std::string timezone(fields[1]);
  const std::string start(fields[2]);
  const std::string end(fields[3]);
  const std::string rest(fields[4]);
  // Event data arrives as JSON, which is UTF-8 by definition (the parser
  // refuses anything else); so do the fields above in a real event.
  for (const auto& field : fields) {
    if (!tack::valid_utf8(field)) return 0;
  }

  (void)tack::format_delivery_window(start, end, locale, timezone);

  nlohmann::json event = nlohmann::json::parse(rest, nullptr, false);
  if (event.is_discarded() || !event.is_object()) {
    event = hostile_event(rest, locale, timezone, start, end);
  }

  tack::RenderContext context;
  context.default_locale = "en";
  context.default_timezone = timezone;
  context.shop = {{"name", "Fuzz & <Co>"}, {"support_email", "help@example.se"}};

  const tack::TemplateSet& set = bundled();
  for (const std::string& name : set.names()) {
    for (auto kind : {tack::ChannelKind::Sms, tack::ChannelKind::Email}) {
      const tack::RenderResult result = set.render(name, kind, event, locale, context);
      FUZZ_CHECK(result.message.has_value() == result.error.empty());
      if (!result.message) continue;
      const tack::RenderedMessage& message = *result.message;
      FUZZ_CHECK(message.text.size() <= context.max_output_bytes + 1);
      FUZZ_CHECK(message.html.size() <= context.max_output_bytes);
      FUZZ_CHECK(message.subject.size() <= context.max_output_bytes);
      FUZZ_CHECK(message.subject.find_first_of("\r\n") == std::string::npos);
      FUZZ_CHECK(tack::valid_utf8(message.text));
      FUZZ_CHECK(tack::valid_utf8(message.subject));
      FUZZ_CHECK(tack::valid_utf8(message.html));
      FUZZ_CHECK(message.html.find("<script") == std::string::npos);
      FUZZ_CHECK(message.html.find("<Co>") == std::string::npos);
    }
  }
  return 0;
}
