// tests/testing/integration.h. What integration tests need: the shared test PostgreSQL
// (SAFEFLOW_TEST_PG_DSN, a libpq key=value DSN), fresh databases on it, and temporary
// directories that unprivileged service users can enter. Without the DSN a test is skipped,
// unless SAFEFLOW_REQUIRE_INTEGRATION=1 (as in CI), which makes it a failure.
#ifndef SAFEFLOW_TESTS_TESTING_INTEGRATION_H_
#define SAFEFLOW_TESTS_TESTING_INTEGRATION_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace safeflow::testing {

std::optional<std::string> TestPgDsn();
bool IntegrationRequired();

// Skips the test, or fails it when integration tests are required.
#define SAFEFLOW_SKIP_OR_FAIL(why)                        \
  do {                                                    \
    if (::safeflow::testing::IntegrationRequired()) {     \
      FAIL() << "integration test cannot run: " << (why); \
    } else {                                              \
      GTEST_SKIP() << (why);                              \
    }                                                     \
  } while (0)

// A database created on the test server for one test and dropped after it.
class TempDatabase {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<TempDatabase>> Create(
      const std::string& server_dsn);
  ~TempDatabase();
  const std::string& dsn() const { return dsn_; }
  const std::string& name() const { return name_; }

 private:
  TempDatabase(std::string server_dsn, std::string name);
  const std::string server_dsn_;
  const std::string name_;
  const std::string dsn_;
};

// A fresh directory under /tmp, mode 0711 so that service users can reach subdirectories we
// create for them; removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace safeflow::testing

#endif  // SAFEFLOW_TESTS_TESTING_INTEGRATION_H_
