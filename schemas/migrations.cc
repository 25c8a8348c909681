#include "schemas/migrations.h"

#include <string>

namespace safeflow::schemas {

absl::Status CheckMigrationSequence(const std::vector<Migration>& migrations) {
  int expected = 1;
  for (const Migration& m : migrations) {
    if (m.version != expected) {
      return absl::FailedPreconditionError("migration " + std::to_string(m.version) + "_" +
                                           std::string(m.name) + ": expected version " +
                                           std::to_string(expected));
    }
    if (m.sql.find_first_not_of(" \t\r\n") == std::string_view::npos) {
      return absl::FailedPreconditionError("migration " + std::to_string(m.version) + " is empty");
    }
    ++expected;
  }
  return absl::OkStatus();
}

const std::vector<Migration>& Migrations() { return detail::EmbeddedMigrations(); }

}  // namespace safeflow::schemas
