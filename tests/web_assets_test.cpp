#include "web_assets.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>

namespace tack {
namespace {

std::string source_file(const std::string& relative) {
  std::ifstream in(std::string(TACK_SOURCE_DIR) + "/" + relative, std::ios::binary);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string body_of(std::string_view path) {
  auto asset = find_web_asset(path);
  REQUIRE(asset);
  return std::string(asset->body);
}

}  // namespace

TEST_CASE("/ is the support page, byte for byte the daemon/web/index.html it was built from",
          "[web_assets]") {
  auto page = find_web_asset("/");
  REQUIRE(page);
  CHECK(page->content_type == "text/html; charset=utf-8");
  CHECK(page->body == source_file("daemon/web/index.html"));
}

TEST_CASE("the page's script and style sheet are served with their types", "[web_assets]") {
  auto script = find_web_asset("/app.js");
  REQUIRE(script);
  CHECK(script->content_type == "text/javascript; charset=utf-8");
  CHECK(script->body == source_file("daemon/web/app.js"));

  auto style = find_web_asset("/app.css");
  REQUIRE(style);
  CHECK(style->content_type == "text/css; charset=utf-8");
  CHECK(style->body == source_file("daemon/web/app.css"));
}

TEST_CASE("the embedded bodies carry no trailing terminator", "[web_assets]") {
  for (const char* path : {"/", "/app.js", "/app.css"}) {
    auto asset = find_web_asset(path);
    REQUIRE(asset);
    REQUIRE_FALSE(asset->body.empty());
    CHECK(asset->body.back() != '\0');
  }
}

TEST_CASE("any other path is not an asset", "[web_assets]") {
  const std::string nul_suffixed("/app.js\0", 8);
  const std::string long_path = "/" + std::string(100000, 'a');
  for (std::string_view path :
       {std::string_view(""), std::string_view("app.js"), std::string_view("/index.html"),
        std::string_view("/app.js/"), std::string_view("//app.js"), std::string_view("/APP.JS"),
        std::string_view("/app.js?v=1"), std::string_view("/app.js#x"), std::string_view("/app"),
        std::string_view("/../daemon/web/app.js"), std::string_view("/web/app.js"),
        std::string_view("/favicon.ico"), std::string_view("/v1/orders/1042"),
        std::string_view("//"), std::string_view("/."), std::string_view(nul_suffixed),
        std::string_view(long_path)}) {
    INFO("path: " << std::string(path.substr(0, 40)));
    CHECK_FALSE(find_web_asset(path));
  }
}

// tackd serves the page with Content-Security-Policy: default-src 'self'
// (among others), which blocks inline scripts, inline styles and
// event-handler attributes; the page must not need them.
TEST_CASE("the page needs no inline script or style", "[web_assets]") {
  const std::string page = body_of("/");
  CHECK(page.find("<script src=\"/app.js\"") != std::string::npos);
  CHECK(page.find("<link rel=\"stylesheet\" href=\"/app.css\">") != std::string::npos);
  // Every <script> has a src and an empty body.
  const std::regex script_tag(R"(<script\b([^>]*)>([\s\S]*?)</script>)", std::regex::icase);
  int scripts = 0;
  for (std::sregex_iterator it(page.begin(), page.end(), script_tag), end; it != end; ++it) {
    ++scripts;
    CHECK((*it)[1].str().find("src=") != std::string::npos);
    CHECK((*it)[2].str().empty());
  }
  CHECK(scripts == 1);
  CHECK_FALSE(std::regex_search(page, std::regex(R"(<style\b)", std::regex::icase)));
  CHECK_FALSE(std::regex_search(page, std::regex(R"(\sstyle\s*=)", std::regex::icase)));
  CHECK_FALSE(std::regex_search(page, std::regex(R"(\son[a-z]+\s*=)", std::regex::icase)));
  CHECK_FALSE(std::regex_search(page, std::regex(R"(javascript:)", std::regex::icase)));
}

// Message texts, customer names and providers' answers are untrusted; the
// script must put them on the page as text (the browser test proves it for
// one hostile name, this guards every future line of the script).
TEST_CASE("the script never parses strings as HTML", "[web_assets]") {
  const std::string script = body_of("/app.js");
  for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                           "createContextualFragment", "DOMParser", "eval(", "new Function",
                           "setTimeout('", "setTimeout(\""}) {
    INFO("found " << sink);
    CHECK(script.find(sink) == std::string::npos);
  }
}

}  // namespace tack
