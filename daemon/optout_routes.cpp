#include "optout_routes.hpp"

#include <memory>
#include <mutex>

#include "gateways/reports.hpp"
#include "http/router.hpp"
#include "log.hpp"
#include "metrics.hpp"
#include "optout.hpp"
#include "phone.hpp"
#include "store/store.hpp"

namespace tack {

namespace {

using beast_http::field;
using beast_http::status;
using beast_http::verb;

constexpr std::uint64_t kMaxPostBody = 1024;
constexpr int kRefusalsLoggedPerMinute = 20;

const std::string kPlaceholder = "{address}";

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string with_address(std::string text, const std::string& address) {
  if (auto at = text.find(kPlaceholder); at != std::string::npos) {
    text.replace(at, kPlaceholder.size(), "<strong>" + html_escape(address) + "</strong>");
  }
  return text;
}

std::string page(const std::string& lang, const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html lang=\"" + html_escape(lang) +
         "\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
         "content=\"width=device-width, initial-scale=1\">\n<meta name=\"robots\" "
         "content=\"noindex\">\n<title>" +
         html_escape(title) + "</title>\n</head>\n<body>\n<main>\n<h1>" + html_escape(title) +
         "</h1>\n" + body + "</main>\n</body>\n</html>\n";
}

ServerResponse html_response(status code, std::string body) {
  ServerResponse response{code, 11};
  response.set(field::content_type, "text/html; charset=utf-8");
  response.body() = std::move(body);
  return response;
}

ServerResponse invalid_link(status code) {
  return html_response(
      code, page("en", "This link is not valid",
                 "<p>This opt-out link is not valid: it may be cut short. Copy the whole link "
                 "from the message, or reply STOP to a text message.</p>\n"));
}

std::string lang_of(const std::string& locale) {
  const std::string lang = locale.substr(0, locale.find_first_of("-_"));
  return lang == "sv" || lang == "pl" ? lang : "en";
}

std::string masked(const OptOutToken& token) {
  return token.kind == ChannelKind::Sms ? mask_phone(token.address) : mask_email(token.address);
}

// Shared by the two routes: what they need, and the refusal log's budget.
struct State {
  explicit State(OptOutRouteContext c) : context(std::move(c)) {}
  OptOutRouteContext context;
  std::mutex mutex;
  std::int64_t minute = 0;
  int logged = 0;

  void count(const std::string& result) {
    if (context.metrics) context.metrics->opt_out("link", result);
  }
  void refused(const std::string& client, const std::string& why) {
    std::lock_guard lock(mutex);
    const std::int64_t now = context.now_ms() / 60000;
    if (now != minute) {
      if (logged > kRefusalsLoggedPerMinute) {
        log::warning("optout: {} more refused opt-out links in the last minute (not logged each)",
                     logged - kRefusalsLoggedPerMinute);
      }
      minute = now;
      logged = 0;
    }
    if (++logged <= kRefusalsLoggedPerMinute) {
      log::warning("optout: refused an opt-out link from {}: {}", client, why);
    }
  }
};

struct Checked {
  std::optional<OptOutToken> token;
  std::optional<ServerResponse> answer;  // set: answer this instead
};

Checked check_link(State& state, const RouteRequest& call) {
  Checked checked;
  const std::string secret = state.context.secret();
  if (secret.empty()) {
    checked.answer = error_response(status::not_found, "opt-out links are not configured");
    return checked;
  }
  const std::string_view target(call.request.target().data(), call.request.target().size());
  const auto query = parse_query(target);
  std::string token;
  if (query) {
    if (auto it = query->find("t"); it != query->end()) token = it->second;
  }
  const auto verified = verify_opt_out_token(token, secret);
  if (!verified.token) {
    state.count(verified.forged ? "forged" : "refused");
    state.refused(call.client, query ? verified.error : "a malformed query");
    checked.answer = invalid_link(verified.forged ? status::forbidden : status::bad_request);
    return checked;
  }
  checked.token = verified.token;
  return checked;
}

Route show_route(std::shared_ptr<State> state) {
  Route route;
  route.method = verb::get;
  route.path = kOptOutPath;
  route.auth = RouteAuth::Own;
  route.admit = [](const ServerRequestHeader&) {
    Admission admission;
    admission.max_body = 0;
    return admission;
  };
  route.handle = [state](RouteRequest call) -> asio::awaitable<ServerResponse> {
    Checked checked = check_link(*state, call);
    if (checked.answer) co_return std::move(*checked.answer);
    const OptOutToken& token = *checked.token;
    const auto& words = opt_out_words(token.locale);
    const std::string& question =
        token.kind == ChannelKind::Sms ? words.question_sms : words.question_email;
    // The form posts back to this very URL (its token in the query); a
    // relative action keeps it on tackd, as the CSP's form-action wants.
    const std::string action =
        std::string(kOptOutPath) + "?t=" + sign_opt_out_token(token, state->context.secret());
    const std::string body = "<p>" + with_address(question, masked(token)) +
                             "</p>\n<form method=\"post\" action=\"" + html_escape(action) +
                             "\">\n<button type=\"submit\">" + html_escape(words.button) +
                             "</button>\n</form>\n";
    co_return html_response(status::ok, page(lang_of(token.locale), words.title, body));
  };
  return route;
}

Route act_route(std::shared_ptr<State> state) {
  Route route;
  route.method = verb::post;
  route.path = kOptOutPath;
  route.auth = RouteAuth::Own;
  route.admit = [](const ServerRequestHeader&) {
    Admission admission;
    admission.max_body = kMaxPostBody;
    return admission;
  };
  route.refused = [state](const std::string& client, bool, const std::string& reason) {
    state->count("refused");
    state->refused(client, reason);
  };
  route.handle = [state](RouteRequest call) -> asio::awaitable<ServerResponse> {
    Checked checked = check_link(*state, call);
    if (checked.answer) co_return std::move(*checked.answer);
    const OptOutToken token = *checked.token;
    // The page's form posts nothing of note; a mail provider posts RFC
    // 8058's List-Unsubscribe=One-Click. Anything else is not a form.
    const auto form = parse_form(call.request.body());
    std::string source = "link";
    if (!form) {
      state->count("refused");
      state->refused(call.client, "a body that is not a form");
      co_return error_response(status::bad_request, "the body is not a form");
    }
    if (auto it = form->find("List-Unsubscribe"); it != form->end()) {
      if (it->second != "One-Click") {
        state->count("refused");
        state->refused(call.client, "List-Unsubscribe is not One-Click");
        co_return error_response(status::bad_request,
                                 "List-Unsubscribe must be One-Click (RFC 8058)");
      }
      source = "one-click link";
    }
    const std::int64_t now = state->context.now_ms();
    auto executor = co_await asio::this_coro::executor;
    std::string error;
    std::function<SuppressResult(StoreTx&)> work = [token, source, now](StoreTx& tx) {
      return tx.suppress(token.kind, token.address, source, "customer (" + source + ")", now);
    };
    auto result = co_await state->context.store.call<SuppressResult>(executor, std::move(work),
                                                                       &error);
    if (!result) {
      state->count("failed");
      log::error("optout: an opt-out by link for {} {}: not recorded: {}", to_string(token.kind),
                 masked(token), error);
      co_return store_unavailable(error);
    }
    state->count(result->added ? "suppressed" : "already");
    log::info("optout: {} {} opted out by {}; {} waiting message(s) suppressed",
              to_string(token.kind), masked(token), source, result->suppressed.size());
    const auto& words = opt_out_words(token.locale);
    const std::string& done = token.kind == ChannelKind::Sms ? words.done_sms : words.done_email;
    co_return html_response(
        status::ok, page(lang_of(token.locale), words.title,
                         "<p>" + with_address(done, masked(token)) + "</p>\n"));
  };
  return route;
}

}  // namespace

const OptOutWords& opt_out_words(const std::string& locale) {
  static const OptOutWords sv{"Avsluta utskick",
                              "Vill du inte längre få sms från oss till {address}?",
                              "Vill du inte längre få e-post från oss till {address}?",
                              "Avsluta",
                              "Klart. Vi skickar inga fler sms till {address}.",
                              "Klart. Vi skickar ingen mer e-post till {address}."};
  static const OptOutWords pl{"Rezygnacja z wiadomości",
                              "Czy nie chcesz już otrzymywać od nas SMS-ów na {address}?",
                              "Czy nie chcesz już otrzymywać od nas e-maili na {address}?",
                              "Wypisz mnie",
                              "Gotowe. Nie wyślemy już SMS-ów na {address}.",
                              "Gotowe. Nie wyślemy już e-maili na {address}."};
  static const OptOutWords en{"Unsubscribe",
                              "Do you no longer want text messages from us at {address}?",
                              "Do you no longer want e-mail from us at {address}?",
                              "Unsubscribe",
                              "Done. We will send no more text messages to {address}.",
                              "Done. We will send no more e-mail to {address}."};
  const std::string lang = lang_of(locale);
  if (lang == "sv") return sv;
  if (lang == "pl") return pl;
  return en;
}

std::vector<Route> opt_out_routes(OptOutRouteContext context) {
  auto state = std::make_shared<State>(std::move(context));
  return {show_route(state), act_route(state)};
}

}  // namespace tack
