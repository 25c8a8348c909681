// service/store/embedded_pg.h. The embedded default: a private PostgreSQL cluster in
// <data_dir>/pg, created with initdb, started with pg_ctl on a unix socket in <data_dir>/pg-run
// (no TCP port), stopped on exit. As root it runs as a dedicated unprivileged system user
// (created when missing), since PostgreSQL refuses to run as root. A second start reuses the
// cluster; a postmaster left over by a killed safeflowd is stopped and restarted; a stale
// postmaster.pid whose process is gone (or is not this cluster's postmaster) is removed.
// Not thread-safe; one instance per data directory (the caller holds the data-dir lock).
#ifndef SAFEFLOW_SERVICE_STORE_EMBEDDED_PG_H_
#define SAFEFLOW_SERVICE_STORE_EMBEDDED_PG_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "executor/env.h"
#include "service/config/config.h"

namespace safeflow::service::store {

class EmbeddedPostgres {
 public:
  // Creates (first time) and starts the cluster, and creates database "safeflow" in it.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<EmbeddedPostgres>> Start(
      executor::Env& env, const std::string& data_dir, const EmbeddedPgConfig& config);
  EmbeddedPostgres(const EmbeddedPostgres&) = delete;
  EmbeddedPostgres& operator=(const EmbeddedPostgres&) = delete;
  ~EmbeddedPostgres();  // stops the server if still running

  // pg_ctl stop -m fast (then immediate if that fails). Idempotent.
  [[nodiscard]] absl::Status Stop();
  // pg_ctl start again after Stop() (tests use Stop/Restart to simulate an outage).
  [[nodiscard]] absl::Status Restart();

  // libpq key=value DSN for database "safeflow" over the unix socket.
  const std::string& dsn() const { return dsn_; }
  const std::string& pgdata() const { return pgdata_; }
  const std::string& socket_dir() const { return socket_dir_; }
  // True when initdb ran during Start() (a new cluster).
  bool created() const { return created_; }

 private:
  EmbeddedPostgres(executor::Env& env, EmbeddedPgConfig config);
  absl::Status Prepare(const std::string& data_dir);
  absl::Status InitIfNeeded();
  absl::Status WriteSettings();
  absl::Status RecoverStalePid();
  absl::Status StartServer();
  absl::Status EnsureDatabase();
  executor::Command PgCommand(std::vector<std::string> argv, int timeout_seconds) const;

  executor::Env& env_;
  const EmbeddedPgConfig config_;
  std::string bin_dir_;
  std::string pgdata_;
  std::string socket_dir_;
  std::string dsn_;
  std::optional<executor::UserIds> run_as_;  // set when we are root
  bool created_ = false;
  bool running_ = false;
};

// The newest /usr/lib/postgresql/<N>/bin that has initdb, pg_ctl and postgres.
[[nodiscard]] absl::StatusOr<std::string> FindPostgresBinDir();

}  // namespace safeflow::service::store

#endif  // SAFEFLOW_SERVICE_STORE_EMBEDDED_PG_H_
