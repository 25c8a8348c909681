// service/store/store.h. safeflowd's access to PostgreSQL, the only state. Owns the connection
// pool; applies migrations; registers this process as an instance. Thread-safe. No pqxx type
// appears here: every failure is a status (Unavailable when the database cannot be reached).
#ifndef SAFEFLOW_SERVICE_STORE_STORE_H_
#define SAFEFLOW_SERVICE_STORE_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "schemas/migrations.h"
#include "service/config/config.h"

namespace safeflow::service::store {

class ConnectionPool;

struct MigrationReport {
  int from_version = 0;
  int to_version = 0;
  std::vector<int> applied;  // versions applied by this call, in order
};

struct InstanceInfo {
  std::string id;  // uuid
  std::string hostname;
  int pid = 0;
  std::string version;
  std::string data_dir;
};

struct PoolUsage {
  int size = 0;
  int open = 0;
  int in_use = 0;
};

class Store {
 public:
  // Does not connect: connections open on first use.
  static std::unique_ptr<Store> Open(const std::string& dsn, const DatabaseConfig& config);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // SELECT 1 on a pooled connection; retries once on a fresh connection when the pooled one
  // went stale (e.g. PostgreSQL restarted).
  [[nodiscard]] absl::Status Ping();

  // Applies every pending migration of `migrations` in one transaction under an advisory lock,
  // so that replicas starting together migrate once. Fails (FailedPrecondition) when an applied
  // migration's checksum differs from ours or the database has versions we do not know.
  [[nodiscard]] absl::StatusOr<MigrationReport> Migrate(
      const std::vector<schemas::Migration>& migrations);
  // Highest applied version; 0 for an empty database.
  [[nodiscard]] absl::StatusOr<int> SchemaVersion();

  // Registers this process. Earlier instances recorded with the same hostname and data_dir are
  // marked stopped: holding the data-dir lock proves they are gone. Returns their ids.
  [[nodiscard]] absl::StatusOr<std::vector<std::string>> RegisterInstance(const InstanceInfo& info);
  [[nodiscard]] absl::Status HeartbeatInstance(const std::string& id);
  [[nodiscard]] absl::Status StopInstance(const std::string& id);

  PoolUsage Usage() const;
  // For the other store classes (service/store/ only).
  ConnectionPool& pool() { return *pool_; }

 private:
  explicit Store(std::unique_ptr<ConnectionPool> pool);
  std::unique_ptr<ConnectionPool> pool_;
};

// Hex SHA-256 of a migration's SQL, as stored in schema_migrations.sha256.
std::string MigrationChecksum(std::string_view sql);

}  // namespace safeflow::service::store

#endif  // SAFEFLOW_SERVICE_STORE_STORE_H_
