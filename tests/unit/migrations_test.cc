#include "schemas/migrations.h"

#include "gtest/gtest.h"

#include "service/store/store.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::schemas {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;

TEST(MigrationsTest, EmbeddedMigrationsAreASequenceFromOne) {
  ASSERT_FALSE(Migrations().empty());
  EXPECT_EQ(Migrations().front().version, 1);
  EXPECT_THAT(CheckMigrationSequence(Migrations()), IsOk());
}

TEST(MigrationsTest, GapsDuplicatesAndEmptyFilesAreRejected) {
  EXPECT_THAT(CheckMigrationSequence({{1, "a", "SELECT 1"}, {3, "b", "SELECT 1"}}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(CheckMigrationSequence({{1, "a", "SELECT 1"}, {1, "b", "SELECT 1"}}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(CheckMigrationSequence({{1, "a", " \n"}}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(MigrationsTest, ChecksumIsSha256OfTheSql) {
  // SHA-256("abc"), FIPS 180-2 example.
  EXPECT_EQ(service::store::MigrationChecksum("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace safeflow::schemas
