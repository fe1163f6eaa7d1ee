#include "secrets.hpp"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "support/temp_dir.hpp"

using namespace tack;
using tack::testing::TempDir;

namespace {

std::string secret_file(const TempDir& dir, const std::string& name, mode_t mode) {
  const std::string path = dir.file(name);
  std::ofstream(path) << "s3cret-value\n";
  REQUIRE(::chmod(path.c_str(), mode) == 0);
  return path;
}

}  // namespace

TEST_CASE("a secret file readable by group or others is reported with mode and fix", "[secrets]") {
  TempDir dir;
  SecretsPolicy policy;
  const std::string open = secret_file(dir, "token", 0644);
  const std::string group = secret_file(dir, "hmac", 0640);
  const std::string closed = secret_file(dir, "password", 0600);
  policy.files = {{open, "http.events token_file", false},
                  {group, "http.events hmac_secret_file", false},
                  {closed, "gateway 'sms' password_file", false}};
  auto found = readable_secret_files(policy);
  REQUIRE(found.size() == 2);
  CHECK(found[0].path == open);
  CHECK(found[0].mode == 0644);
  CHECK(found[0].message == "secrets: " + open +
                                " holds the secret http.events token_file and can be read by "
                                "its group and all users (mode 0644); run chmod 600 " +
                                open);
  CHECK(found[1].mode == 0640);
  CHECK_THAT(found[1].message, Catch::Contains("can be read by its group (mode 0640)"));
}

TEST_CASE("a config with inline secrets is one finding naming each secret", "[secrets]") {
  TempDir dir;
  const std::string config = secret_file(dir, "tack.yaml", 0604);
  SecretsPolicy policy;
  policy.files = {{config, "gateway 'sms' password", true}, {config, "http.events token", true}};
  auto found = readable_secret_files(policy);
  REQUIRE(found.size() == 1);
  CHECK_THAT(found[0].message,
             Catch::Contains("holds the secrets gateway 'sms' password, http.events token and "
                             "can be read by all users (mode 0604)"));
  CHECK_THAT(found[0].message, Catch::EndsWith("or move the secrets out of it into ${ENV} or "
                                               "*_file keys"));
  CHECK_THAT(found[0].message, !Catch::Contains("s3cret-value"));
}

TEST_CASE("private files and files that are gone are not reported", "[secrets]") {
  TempDir dir;
  SecretsPolicy policy;
  policy.files = {{secret_file(dir, "a", 0600), "a", false},
                  {secret_file(dir, "b", 0400), "b", false},
                  {dir.file("gone"), "c", false}};
  CHECK(readable_secret_files(policy).empty());
}

TEST_CASE("a store file readable by group or others is reported with mode and fix", "[secrets]") {
  TempDir dir;
  const std::string db = secret_file(dir, "tack.db", 0644);
  secret_file(dir, "tack.db-wal", 0600);
  const std::string shm = secret_file(dir, "tack.db-shm", 0640);
  auto found = readable_store_files(db);
  REQUIRE(found.size() == 2);
  CHECK(found[0].path == db);
  CHECK(found[0].mode == 0644);
  CHECK(found[0].message == "store: " + db +
                                " holds personal data (names, phone numbers, e-mail addresses, "
                                "events) and can be read by its group and all users (mode 0644); "
                                "run chmod 600 " +
                                db);
  CHECK(found[1].path == shm);
  CHECK_THAT(found[1].message, Catch::Contains("can be read by its group (mode 0640); run chmod "
                                               "600 " + shm));
}

TEST_CASE("a private store, and a store without -wal and -shm, are not reported", "[secrets]") {
  TempDir dir;
  const std::string db = secret_file(dir, "tack.db", 0600);
  CHECK(readable_store_files(db).empty());
  CHECK(readable_store_files(dir.file("missing.db")).empty());
}
