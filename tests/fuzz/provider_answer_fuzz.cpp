// Fuzz target: what the HTTP gateway makes of a provider's answer
// (daemon/gateways/http.hpp): the status, the body (the message id at a
// JSON pointer) and the Retry-After and rate-limit reset headers. Input:
// line 1 the status, line 2 Retry-After, line 3 a rate-limit header as
// "name: value", the rest the body. Invariants: nothing throws or crashes;
// a wait is never negative; 2xx is sent, 408/429/5xx a retry, any other
// answer a rejection; the detail support sees is valid UTF-8 whatever the
// provider sent (it is stored and served as JSON).
#include <charconv>
#include <string>

#include "fuzz.hpp"
#include "gateways/http.hpp"
#include "mime.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto fields = tack::fuzz::split_fields(tack::fuzz::as_text(data, size), 4);
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1795342500));

  if (auto after = tack::parse_retry_after(fields[1], now)) FUZZ_CHECK(after->count() >= 0);
  const auto colon = fields[2].find(':');
  const std::string name(fields[2].substr(0, colon));
  const std::string_view value =
      colon == std::string_view::npos ? std::string_view() : fields[2].substr(colon + 1);
  if (auto reset = tack::parse_rate_limit_reset(name, value, now)) FUZZ_CHECK(reset->count() >= 0);

  tack::TransferResult result;
  long status = 0;
  std::from_chars(fields[0].data(), fields[0].data() + fields[0].size(), status);
  result.status = status;
  result.request_sent = true;
  result.headers = {{"retry-after", std::string(fields[1])}, {name, std::string(value)}};
  result.body = std::string(fields[3]);
  for (const std::string pointer : {"/sid", "/messages/0/id", "", "/id"}) {
    const tack::Outcome outcome = tack::classify_http_result(result, pointer, now);
    using Kind = tack::Outcome::Kind;
    if (status >= 200 && status < 300) {
      FUZZ_CHECK(outcome.kind == Kind::Sent);
    } else if (status == 408 || status == 429 || (status >= 500 && status < 600)) {
      FUZZ_CHECK(outcome.kind == Kind::Retry);
    } else if (status == 401 || status == 403 || status == 407) {
      // Credentials refused: the gateway is held and the message waits.
      FUZZ_CHECK(outcome.kind == Kind::Retry);
      FUZZ_CHECK(outcome.health == tack::Outcome::Health::Refused);
    } else {
      FUZZ_CHECK(outcome.kind == Kind::Rejected);
    }
    if (outcome.retry_after) FUZZ_CHECK(outcome.retry_after->count() >= 0);
    FUZZ_CHECK(tack::valid_utf8(outcome.detail));
    FUZZ_CHECK(tack::valid_utf8(outcome.provider_id));
  }
  // The transport failed: never a send, never a rejection.
  result.curl_code = 28;
  result.curl_error = std::string(fields[3].substr(0, 200));
  const tack::Outcome failed = tack::classify_http_result(result, "/sid", now);
  FUZZ_CHECK(failed.kind == tack::Outcome::Kind::Unknown ||
             failed.kind == tack::Outcome::Kind::Retry);
  return 0;
}
