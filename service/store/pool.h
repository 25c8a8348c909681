// service/store/pool.h. A fixed-size pool of libpqxx connections (libpqxx: one connection per
// thread at a time). Internal to service/store/: the only place pqxx appears. Thread-safe.
// Connections open lazily; a connection that broke is dropped and reopened on next use.
#ifndef SAFEFLOW_SERVICE_STORE_POOL_H_
#define SAFEFLOW_SERVICE_STORE_POOL_H_

#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pqxx/pqxx"

namespace safeflow::service::store {

struct PoolOptions {
  std::string dsn;
  int size = 8;
  int connect_timeout_seconds = 5;
  int acquire_timeout_ms = 2000;
  int statement_timeout_ms = 30000;
  std::string application_name = "safeflowd";
};

struct PoolStats {
  int size = 0;    // configured maximum
  int open = 0;    // connections currently open
  int in_use = 0;  // leased right now
};

class ConnectionPool {
 public:
  explicit ConnectionPool(PoolOptions options);
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Runs `fn` with a pooled connection. libpqxx exceptions become status values:
  // broken connections and connection-class SQLSTATEs -> Unavailable (the connection is
  // dropped), other SQL errors -> Internal with the SQLSTATE, pool exhausted -> Unavailable.
  [[nodiscard]] absl::Status Run(const std::function<void(pqxx::connection&)>& fn);

  PoolStats Stats() const;
  // The DSN with connect_timeout and application_name added when absent.
  const std::string& effective_dsn() const { return dsn_; }

 private:
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Acquire();
  void Release(std::unique_ptr<pqxx::connection> conn, bool broken);

  const PoolOptions options_;
  const std::string dsn_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;  // guarded by mu_
  int open_ = 0;                                         // guarded by mu_ (idle + leased)
  int in_use_ = 0;                                       // guarded by mu_
  int opening_ = 0;                                      // guarded by mu_
};

// Converts an exception thrown by libpqxx (or anything else) into a status. `broken` is set
// when the connection should be discarded.
absl::Status StatusFromException(const std::exception& e, bool& broken);

}  // namespace safeflow::service::store

#endif  // SAFEFLOW_SERVICE_STORE_POOL_H_
