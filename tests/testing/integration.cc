#include "tests/testing/integration.h"

#include <cstdlib>
#include <filesystem>
#include <random>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "pqxx/pqxx"

namespace safeflow::testing {

std::optional<std::string> TestPgDsn() {
  const char* v = std::getenv("SAFEFLOW_TEST_PG_DSN");
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

bool IntegrationRequired() {
  const char* v = std::getenv("SAFEFLOW_REQUIRE_INTEGRATION");
  return v != nullptr && std::string(v) == "1";
}

absl::StatusOr<std::unique_ptr<TempDatabase>> TempDatabase::Create(const std::string& server_dsn) {
  std::random_device rd;
  const std::string name = absl::StrCat("sf_test_", ::getpid(), "_", rd() % 1000000000);
  try {
    pqxx::connection c(server_dsn);
    pqxx::nontransaction tx(c);
    tx.exec("CREATE DATABASE " + tx.quote_name(name));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot create test database: ", e.what()));
  }
  return std::unique_ptr<TempDatabase>(new TempDatabase(server_dsn, name));
}

TempDatabase::TempDatabase(std::string server_dsn, std::string name)
    : server_dsn_(std::move(server_dsn)),
      name_(std::move(name)),
      dsn_(absl::StrCat(server_dsn_, " dbname=", name_)) {}

TempDatabase::~TempDatabase() {
  try {
    pqxx::connection c(server_dsn_);
    pqxx::nontransaction tx(c);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  } catch (const std::exception&) {
    // Best effort: a leftover test database does no harm.
  }
}

TempDir::TempDir() {
  std::string tmpl = "/tmp/safeflow-test-XXXXXX";
  char* p = ::mkdtemp(tmpl.data());
  if (p == nullptr) std::abort();
  path_ = p;
  ::chmod(path_.c_str(), 0711);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace safeflow::testing
