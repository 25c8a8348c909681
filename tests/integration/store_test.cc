// Store against a real PostgreSQL (SAFEFLOW_TEST_PG_DSN): migrations on fresh and migrated
// databases, concurrent replicas, refusals, and outages.
#include "service/store/store.h"

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"

#include "schemas/migrations.h"
#include "tests/testing/integration.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::service::store {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::safeflow::testing::TempDatabase;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::optional<std::string> dsn = safeflow::testing::TestPgDsn();
    if (!dsn) SAFEFLOW_SKIP_OR_FAIL("SAFEFLOW_TEST_PG_DSN is not set");
    absl::StatusOr<std::unique_ptr<TempDatabase>> db = TempDatabase::Create(*dsn);
    ASSERT_THAT(db, IsOk());
    db_ = *std::move(db);
  }

  std::unique_ptr<Store> Open() { return Store::Open(db_->dsn(), DatabaseConfig{}); }

  long long Count(const std::string& sql) {
    pqxx::connection c(db_->dsn());
    pqxx::nontransaction tx(c);
    return tx.exec1(sql)[0].as<long long>();
  }

  std::unique_ptr<TempDatabase> db_;
};

std::vector<int> AllVersions() {
  std::vector<int> v;
  for (const schemas::Migration& m : schemas::Migrations()) v.push_back(m.version);
  return v;
}

TEST_F(StoreTest, FreshDatabaseMigratesToTheLatestVersion) {
  auto store = Open();
  EXPECT_THAT(store->SchemaVersion(), ::safeflow::testing::IsOkAndHolds(0));
  absl::StatusOr<MigrationReport> r = store->Migrate(schemas::Migrations());
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->from_version, 0);
  EXPECT_EQ(r->to_version, schemas::Migrations().back().version);
  EXPECT_EQ(r->applied, AllVersions());
  EXPECT_THAT(store->SchemaVersion(),
              ::safeflow::testing::IsOkAndHolds(schemas::Migrations().back().version));
  EXPECT_EQ(Count("SELECT count(*) FROM instances"), 0);
}

TEST_F(StoreTest, MigratedDatabaseIsLeftAlone) {
  ASSERT_THAT(Open()->Migrate(schemas::Migrations()), IsOk());
  absl::StatusOr<MigrationReport> again = Open()->Migrate(schemas::Migrations());
  ASSERT_THAT(again, IsOk());
  EXPECT_THAT(again->applied, IsEmpty());
  EXPECT_EQ(again->from_version, again->to_version);
  EXPECT_EQ(Count("SELECT count(*) FROM schema_migrations"),
            static_cast<long long>(schemas::Migrations().size()));
}

TEST_F(StoreTest, ReplicasMigratingTogetherApplyEachMigrationOnce) {
  constexpr int kReplicas = 4;
  std::vector<absl::StatusOr<MigrationReport>> reports(kReplicas, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back([&, i] { reports[i] = Open()->Migrate(schemas::Migrations()); });
  }
  for (std::thread& t : threads) t.join();
  int appliers = 0;
  for (const auto& r : reports) {
    ASSERT_THAT(r, IsOk());
    if (!r->applied.empty()) ++appliers;
  }
  EXPECT_EQ(appliers, 1);
  EXPECT_EQ(Count("SELECT count(*) FROM schema_migrations"),
            static_cast<long long>(schemas::Migrations().size()));
}

TEST_F(StoreTest, ChangedMigrationIsRefused) {
  ASSERT_THAT(Open()->Migrate(schemas::Migrations()), IsOk());
  std::vector<schemas::Migration> edited = schemas::Migrations();
  edited[0].sql = "CREATE TABLE something_else (x int)";
  absl::StatusOr<MigrationReport> r = Open()->Migrate(edited);
  ASSERT_THAT(r, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("changed after"));
}

TEST_F(StoreTest, NewerDatabaseIsRefused) {
  std::vector<schemas::Migration> newer = schemas::Migrations();
  const int next = newer.back().version + 1;
  newer.push_back({next, "future", "CREATE TABLE future_table (x int)"});
  ASSERT_THAT(Open()->Migrate(newer), IsOk());
  absl::StatusOr<MigrationReport> r = Open()->Migrate(schemas::Migrations());
  ASSERT_THAT(r, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("upgrade safeflowd"));
}

TEST_F(StoreTest, FailingMigrationRollsBackTheWholeBatch) {
  std::vector<schemas::Migration> bad = schemas::Migrations();
  bad.push_back({bad.back().version + 1, "broken", "CREATE TABLE oops (x nonexistent_type)"});
  absl::StatusOr<MigrationReport> r = Open()->Migrate(bad);
  ASSERT_THAT(r, StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(Open()->SchemaVersion(), ::safeflow::testing::IsOkAndHolds(0));
  EXPECT_EQ(Count("SELECT count(*) FROM pg_tables WHERE tablename = 'instances'"), 0);
}

TEST_F(StoreTest, InstancesRegisterHeartbeatAndStop) {
  auto store = Open();
  ASSERT_THAT(store->Migrate(schemas::Migrations()), IsOk());
  const std::string id = "6f1c1f7e-8a8e-4a4e-9d5e-0c3c0b1b2a01";
  ASSERT_THAT(store->RegisterInstance({.id = id, .hostname = "h", .pid = 42, .version = "t"}),
              IsOk());
  ASSERT_THAT(store->HeartbeatInstance(id), IsOk());
  ASSERT_THAT(store->StopInstance(id), IsOk());
  EXPECT_EQ(Count("SELECT count(*) FROM instances WHERE stopped_at IS NOT NULL AND pid = 42"), 1);
  // A duplicate id is a database error, reported, not thrown.
  EXPECT_THAT(store->RegisterInstance({.id = id, .hostname = "h", .pid = 1, .version = "t"}),
              StatusIs(absl::StatusCode::kInternal));
}

TEST(StoreOutageTest, UnreachableDatabaseIsUnavailableNotACrash) {
  DatabaseConfig config;
  config.connect_timeout_seconds = 2;
  auto store = Store::Open("host=127.0.0.1 port=1 dbname=x user=x", config);
  EXPECT_THAT(store->Ping(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(store->Migrate(schemas::Migrations()), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(store->Usage().in_use, 0);
  EXPECT_EQ(store->Usage().open, 0);
}

}  // namespace
}  // namespace safeflow::service::store
