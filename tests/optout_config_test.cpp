// Tests for the opt-out part of daemon/config.cpp: opt_out.keywords,
// http.optout_secret and a rule's ignore_opt_out, each error at its
// file:line:column.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "config.hpp"
#include "support/temp_dir.hpp"

using namespace tack;

namespace {

class Dir {
 public:
  Dir() {
    std::filesystem::create_directory(dir_.path() / "templates");
    std::ofstream(dir_.file("templates/shipped.yaml")) << "sms:\n  en: hi\n";
  }
  ConfigLoad load(const std::string& text) const {
    std::ofstream(dir_.file("tack.yaml"), std::ios::binary) << text;
    return load_config(dir_.file("tack.yaml"));
  }

 private:
  testing::TempDir dir_;
};

bool has_error(const ConfigLoad& load, int line, int column, const std::string& part) {
  for (const auto& e : load.errors.items) {
    if (e.line == line && e.column == column && e.message.find(part) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// 11 lines; a rule appended starts on line 12.
const std::string kBase = R"(gateways:
  - name: file
    type: file
    path: out.jsonl
channels:
  sms: { kind: sms, gateways: [file] }
rules:
  - name: news
    on: shipped
    template: shipped
    channels: [sms]
)";

}  // namespace

TEST_CASE("without opt_out the default keywords apply", "[config][optout]") {
  Dir dir;
  auto load = dir.load(kBase);
  REQUIRE(load.errors.items.empty());
  CHECK(load.config->opt_out_keywords == default_opt_out_keywords());
  CHECK_FALSE(load.config->rules[0].ignore_opt_out);
}

TEST_CASE("configured keywords replace the defaults", "[config][optout]") {
  Dir dir;
  auto load = dir.load(kBase + "opt_out:\n  keywords:\n    sv: [AVSLUTA, STOPP]\n    pl: NIE\n");
  INFO(load.errors.to_string());
  REQUIRE(load.errors.items.empty());
  CHECK(load.config->opt_out_keywords ==
        OptOutKeywords{{"sv", {"AVSLUTA", "STOPP"}}, {"pl", {"NIE"}}});
}

TEST_CASE("malformed keywords are errors at their line and column", "[config][optout]") {
  Dir dir;
  auto load = dir.load(kBase +
                       "opt_out:\n"                            // 12
                       "  keywords:\n"                         // 13
                       "    sv: [STOP NOW, \"\"]\n"            // 14
                       "    \"x y\": [STOP]\n"                 // 15
                       "    en: []\n"                          // 16
                       "    pl: {a: b}\n"                      // 17
                       "    de: [" + std::string(40, 'A') + "]\n"  // 18
                       "  keyword: [STOP]\n");                 // 19
  INFO(load.errors.to_string());
  CHECK(has_error(load, 14, 10, "opt_out.keywords.sv: 'STOP NOW' is not a keyword"));
  CHECK(has_error(load, 14, 20, "is not a keyword"));
  CHECK(has_error(load, 15, 5, "'x y' is not a locale"));
  CHECK(has_error(load, 16, 9, "opt_out.keywords.en names no keyword"));
  CHECK(has_error(load, 17, 9, "opt_out.keywords.pl expects a list"));
  CHECK(has_error(load, 18, 10, "at most 32 bytes"));
  CHECK(has_error(load, 19, 3, "keyword"));
  auto not_a_map = dir.load(kBase + "opt_out:\n  keywords: [STOP]\n");
  CHECK(has_error(not_a_map, 13, 13, "opt_out.keywords expects a map of locales"));
}

TEST_CASE("ignore_opt_out is for transactional rules; marketing never ignores an opt-out",
          "[config][optout]") {
  Dir dir;
  auto fine = dir.load(kBase + "    ignore_opt_out: true\n");
  INFO(fine.errors.to_string());
  REQUIRE(fine.errors.items.empty());
  CHECK(fine.config->rules[0].ignore_opt_out);

  auto load = dir.load(kBase +
                       "  - name: offer\n"            // 12
                       "    on: shipped\n"            // 13
                       "    template: shipped\n"      // 14
                       "    channels: [sms]\n"        // 15
                       "    purpose: marketing\n"     // 16
                       "    ignore_opt_out: true\n"   // 17
                       "  - name: third\n"            // 18
                       "    on: shipped\n"            // 19
                       "    template: shipped\n"      // 20
                       "    channels: [sms]\n"        // 21
                       "    ignore_opt_out: maybe\n");  // 22
  INFO(load.errors.to_string());
  CHECK(has_error(load, 17, 21, "marketing never ignores an opt-out"));
  CHECK(has_error(load, 22, 21, "ignore_opt_out"));
}

TEST_CASE("the opt-out secret is long enough, and required for marketing with a public URL",
          "[config][optout]") {
  Dir dir;
  const std::string marketing = kBase + "    purpose: marketing\n";  // line 12
  auto short_secret = dir.load(marketing +
                               "http:\n"                                          // 13
                               "  public_url: https://tack.example.se\n"         // 14
                               "  optout_secret: tooshort\n");                    // 15
  INFO(short_secret.errors.to_string());
  CHECK(has_error(short_secret, 15, 18, "optout_secret is shorter than 16 characters"));

  auto missing = dir.load(marketing + "http:\n  public_url: https://tack.example.se\n");
  INFO(missing.errors.to_string());
  CHECK(has_error(missing, 14, 15, "http.optout_secret (or optout_secret_file) is required"));

  // No public URL: no links to sign, nothing required.
  CHECK(dir.load(marketing + "http:\n  listen: 127.0.0.1:0\n").errors.items.empty());

  auto good = dir.load(marketing +
                       "http:\n  public_url: https://tack.example.se\n  optout_secret: "
                       "0123456789abcdef0123\n");
  INFO(good.errors.to_string());
  REQUIRE(good.errors.items.empty());
  CHECK(good.config->http->optout_secret == "0123456789abcdef0123");
}
