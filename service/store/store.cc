#include "service/store/store.h"

#include <map>

#include "absl/strings/str_cat.h"
#include <openssl/evp.h>

#include "service/log.h"
#include "service/store/pool.h"

namespace safeflow::service::store {
namespace {

// Key of the advisory lock that serialises migrations across replicas ("safeflow" in ASCII).
constexpr long long kMigrationLockKey = 0x73616665666c6f77LL;

}  // namespace

std::string MigrationChecksum(std::string_view sql) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(sql.data(), sql.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::unique_ptr<Store> Store::Open(const std::string& dsn, const DatabaseConfig& config) {
  PoolOptions o;
  o.dsn = dsn;
  o.size = config.pool_size;
  o.connect_timeout_seconds = config.connect_timeout_seconds;
  o.acquire_timeout_ms = config.acquire_timeout_ms;
  o.statement_timeout_ms = config.statement_timeout_ms;
  return std::unique_ptr<Store>(new Store(std::make_unique<ConnectionPool>(std::move(o))));
}

Store::Store(std::unique_ptr<ConnectionPool> pool) : pool_(std::move(pool)) {}
Store::~Store() = default;

absl::Status Store::Ping() {
  auto ping = [](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec1("SELECT 1");
  };
  absl::Status s = pool_->Run(ping);
  if (absl::IsUnavailable(s)) s = pool_->Run(ping);  // the stale connection was dropped
  return s;
}

absl::StatusOr<MigrationReport> Store::Migrate(const std::vector<schemas::Migration>& migrations) {
  if (absl::Status s = schemas::CheckMigrationSequence(migrations); !s.ok()) return s;
  MigrationReport report;
  absl::Status logic;  // a refusal decided inside the transaction (rolls it back)
  absl::Status s = pool_->Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
    tx.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY,"
        " name text NOT NULL,"
        " sha256 text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())");
    std::map<int, std::pair<std::string, std::string>> applied;
    for (const pqxx::row& r : tx.exec("SELECT version, name, sha256 FROM schema_migrations")) {
      applied[r[0].as<int>()] = {r[1].as<std::string>(), r[2].as<std::string>()};
    }
    report.from_version = applied.empty() ? 0 : applied.rbegin()->first;
    const int ours = migrations.empty() ? 0 : migrations.back().version;
    if (report.from_version > ours) {
      logic = absl::FailedPreconditionError(
          absl::StrCat("database schema is at version ", report.from_version,
                       " but this safeflowd knows only up to ", ours, ": upgrade safeflowd"));
      return;  // rolls back
    }
    for (const schemas::Migration& m : migrations) {
      const std::string sum = MigrationChecksum(m.sql);
      auto it = applied.find(m.version);
      if (it != applied.end()) {
        if (it->second.second != sum) {
          logic = absl::FailedPreconditionError(
              absl::StrCat("migration ", m.version, "_", std::string(m.name),
                           " was changed after it was applied (checksum differs)"));
          return;
        }
        continue;
      }
      tx.exec(std::string(m.sql));
      tx.exec_params("INSERT INTO schema_migrations (version, name, sha256) VALUES ($1, $2, $3)",
                     m.version, std::string(m.name), sum);
      report.applied.push_back(m.version);
    }
    tx.commit();
    report.to_version = ours;
  });
  if (!s.ok()) return s;
  if (!logic.ok()) return logic;
  return report;
}

absl::StatusOr<int> Store::SchemaVersion() {
  int version = 0;
  absl::Status s = pool_->Run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    pqxx::row exists = tx.exec1("SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (!exists[0].as<bool>()) return;
    pqxx::row r = tx.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations");
    version = r[0].as<int>();
  });
  if (!s.ok()) return s;
  return version;
}

absl::StatusOr<std::vector<std::string>> Store::RegisterInstance(const InstanceInfo& info) {
  std::vector<std::string> dead;
  absl::Status s = pool_->Run([&](pqxx::connection& c) {
    dead.clear();
    pqxx::work tx(c);
    if (!info.data_dir.empty()) {
      for (const pqxx::row& r : tx.exec_params(
               "UPDATE instances SET stopped_at = now() WHERE hostname = $1 AND data_dir = $2 "
               "AND stopped_at IS NULL RETURNING id::text",
               info.hostname, info.data_dir)) {
        dead.push_back(r[0].as<std::string>());
      }
    }
    tx.exec_params(
        "INSERT INTO instances (id, hostname, pid, version, data_dir) "
        "VALUES ($1::uuid, $2, $3, $4, NULLIF($5, ''))",
        info.id, info.hostname, info.pid, info.version, info.data_dir);
    tx.commit();
  });
  if (!s.ok()) return s;
  return dead;
}

absl::Status Store::HeartbeatInstance(const std::string& id) {
  return pool_->Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("UPDATE instances SET last_seen = now() WHERE id = $1::uuid", id);
    tx.commit();
  });
}

absl::Status Store::StopInstance(const std::string& id) {
  return pool_->Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("UPDATE instances SET stopped_at = now(), last_seen = now() WHERE id = $1::uuid",
                   id);
    tx.commit();
  });
}

PoolUsage Store::Usage() const {
  PoolStats s = pool_->Stats();
  return PoolUsage{s.size, s.open, s.in_use};
}

}  // namespace safeflow::service::store
