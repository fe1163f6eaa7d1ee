// Fuzz target: the event parser and validator (daemon/event.hpp) on any
// bytes, as a source or POST /v1/events hands them over, and the splitter
// `tackd emit` uses. Invariants: nothing throws or crashes; a valid event
// has its four required fields; a reason is readable UTF-8, since it is
// stored and printed as JSON (tackd log --rejected --json).
#include <string>

#include "event.hpp"
#include "fuzz.hpp"
#include "mime.hpp"

namespace {

void check_parse(std::string_view text) {
  static const tack::StatusOrder statuses;
  static const tack::Limits limits;
  const tack::EventParse parsed = tack::parse_event(text, statuses, limits);
  FUZZ_CHECK(parsed.event.has_value() == parsed.reason.empty());
  FUZZ_CHECK(tack::valid_utf8(parsed.reason));
  FUZZ_CHECK(tack::valid_utf8(parsed.event_id) && tack::valid_utf8(parsed.order_id));
  if (parsed.event) {
    const tack::Event& event = *parsed.event;
    FUZZ_CHECK(!event.event_id.empty() && event.event_id.size() <= 200);
    FUZZ_CHECK(!event.order_id.empty() && event.order_id.size() <= 200);
    FUZZ_CHECK(statuses.known(event.status));
    FUZZ_CHECK(event.doc.is_object());
    FUZZ_CHECK(tack::parse_rfc3339_ms(event.occurred_at) == event.occurred_at_ms);
    // What the templates and recipient resolution read must not throw.
    (void)event.phone();
    (void)event.email();
    (void)event.locale();
    (void)event.timezone();
    (void)event.doc.dump();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = tack::fuzz::as_text(data, size);
  check_parse(text);
  (void)tack::parse_rfc3339_ms(text);
  static const tack::Limits limits;
  for (const std::string& document : tack::split_event_documents(text, limits)) {
    check_parse(document);
  }
  return 0;
}
