#include "service/store/pool.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "service/log.h"

namespace safeflow::service::store {
namespace {

bool IsUri(const std::string& dsn) {
  return absl::StartsWith(dsn, "postgresql://") || absl::StartsWith(dsn, "postgres://");
}

std::string AddParam(std::string dsn, const std::string& key, const std::string& value) {
  if (absl::StrContains(dsn, key + "=")) return dsn;
  if (IsUri(dsn)) {
    return absl::StrCat(dsn, absl::StrContains(dsn, "?") ? "&" : "?", key, "=", value);
  }
  return absl::StrCat(dsn, dsn.empty() ? "" : " ", key, "=", value);
}

}  // namespace

absl::Status StatusFromException(const std::exception& e, bool& broken) {
  broken = false;
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    broken = true;
    return absl::UnavailableError(absl::StrCat("database unreachable: ", e.what()));
  }
  if (const auto* in_doubt = dynamic_cast<const pqxx::in_doubt_error*>(&e)) {
    broken = true;
    return absl::UnavailableError(absl::StrCat(
        "database connection lost during commit (outcome unknown): ", in_doubt->what()));
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = sql->sqlstate();
    // Class 08: connection exception; 57P0x: admin/crash shutdown; 53: insufficient resources.
    if (absl::StartsWith(state, "08") || absl::StartsWith(state, "57P") ||
        absl::StartsWith(state, "53")) {
      broken = absl::StartsWith(state, "08") || absl::StartsWith(state, "57P");
      return absl::UnavailableError(absl::StrCat("database unavailable (", state, ")"));
    }
    if (state == "57014") return absl::DeadlineExceededError("statement timed out");
    if (state == "40001" || state == "40P01") {
      return absl::AbortedError(absl::StrCat("transaction conflict (", state, "), retry"));
    }
    return absl::InternalError(absl::StrCat("SQL error ", state, ": ", sql->what()));
  }
  return absl::InternalError(absl::StrCat("database error: ", e.what()));
}

ConnectionPool::ConnectionPool(PoolOptions options)
    : options_(std::move(options)),
      dsn_(AddParam(AddParam(options_.dsn, "connect_timeout",
                             std::to_string(options_.connect_timeout_seconds)),
                    "application_name", options_.application_name)) {}

absl::StatusOr<std::unique_ptr<pqxx::connection>> ConnectionPool::Acquire() {
  {
    std::unique_lock lock(mu_);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.acquire_timeout_ms);
    while (idle_.empty() && open_ + opening_ >= options_.size) {
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
          open_ + opening_ >= options_.size) {
        return absl::UnavailableError("database connection pool exhausted");
      }
    }
    if (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> c = std::move(idle_.back());
      idle_.pop_back();
      ++in_use_;
      return c;
    }
    ++opening_;
  }
  // Connect outside the lock: it can take up to connect_timeout.
  std::unique_ptr<pqxx::connection> conn;
  absl::Status status;
  try {
    conn = std::make_unique<pqxx::connection>(dsn_);
    if (options_.statement_timeout_ms > 0) {
      pqxx::nontransaction tx(*conn);
      tx.exec(absl::StrCat("SET statement_timeout = ", options_.statement_timeout_ms));
    }
  } catch (const std::exception& e) {
    bool broken = false;
    status = StatusFromException(e, broken);
    conn.reset();
  }
  std::scoped_lock lock(mu_);
  --opening_;
  if (!status.ok()) {
    cv_.notify_one();
    return status;
  }
  ++open_;
  ++in_use_;
  return conn;
}

void ConnectionPool::Release(std::unique_ptr<pqxx::connection> conn, bool broken) {
  {
    std::scoped_lock lock(mu_);
    --in_use_;
    if (broken || !conn->is_open()) {
      --open_;
      conn.reset();
    } else {
      idle_.push_back(std::move(conn));
    }
  }
  cv_.notify_one();
}

absl::Status ConnectionPool::Run(const std::function<void(pqxx::connection&)>& fn) {
  absl::StatusOr<std::unique_ptr<pqxx::connection>> conn = Acquire();
  if (!conn.ok()) return conn.status();
  bool broken = false;
  absl::Status status;
  try {
    fn(**conn);
  } catch (const std::exception& e) {
    status = StatusFromException(e, broken);
    if (broken) StoreLog().warn("dropping database connection: {}", status.message());
  }
  Release(std::move(*conn), broken);
  return status;
}

PoolStats ConnectionPool::Stats() const {
  std::scoped_lock lock(mu_);
  return PoolStats{options_.size, open_, in_use_};
}

}  // namespace safeflow::service::store
