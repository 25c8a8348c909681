// schemas/migrations.h. The SQL migrations of schemas/sql/, embedded in the binary at build time.
// Pure data: applying them is service/store/'s job. Thread-safe (immutable after first use).
#ifndef SAFEFLOW_SCHEMAS_MIGRATIONS_H_
#define SAFEFLOW_SCHEMAS_MIGRATIONS_H_

#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace safeflow::schemas {

struct Migration {
  int version;            // from the file name NNNN_*.sql; strictly increasing, starting at 1
  std::string_view name;  // the rest of the file name, e.g. "init"
  std::string_view sql;   // the whole file, run in the migrating transaction
};

// All migrations, ordered by version. Checked once: versions must be 1, 2, 3, ... with no gap.
const std::vector<Migration>& Migrations();

// Checks that `migrations` are numbered 1..N without gaps or duplicates and are non-empty.
[[nodiscard]] absl::Status CheckMigrationSequence(const std::vector<Migration>& migrations);

namespace detail {
const std::vector<Migration>& EmbeddedMigrations();
}  // namespace detail

}  // namespace safeflow::schemas

#endif  // SAFEFLOW_SCHEMAS_MIGRATIONS_H_
