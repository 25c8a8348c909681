#include "executor/crypto/secure_memory.h"

#include <cstdint>
#include <string>
#include <sys/resource.h>
#include <unistd.h>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace safeflow::executor::crypto {
namespace {

using ::safeflow::testing::IsOk;

TEST(SecretBytesTest, DefaultIsEmpty) {
  SecretBytes s;
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(s.data(), nullptr);
  EXPECT_TRUE(s.view().empty());
  EXPECT_FALSE(s.locked());
}

TEST(SecretBytesTest, SizedIsZeroedAndPageAligned) {
  SecretBytes s(100);
  ASSERT_EQ(s.size(), 100u);
  EXPECT_EQ(s.view(), std::string(100, '\0'));
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(s.data()) % page, 0u);
}

TEST(SecretBytesTest, CopyHoldsTheBytes) {
  const std::string bytes("k\0ey", 4);
  SecretBytes s = SecretBytes::Copy(bytes);
  EXPECT_EQ(s.view(), bytes);
  EXPECT_TRUE(SecretBytes::Copy("").empty());
}

TEST(SecretBytesTest, RandomBytesDiffer) {
  absl::StatusOr<SecretBytes> a = SecretBytes::Random(32);
  absl::StatusOr<SecretBytes> b = SecretBytes::Random(32);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_NE(a->view(), b->view());
}

TEST(SecretBytesTest, MoveLeavesSourceEmpty) {
  SecretBytes a = SecretBytes::Copy("secret");
  const unsigned char* p = a.data();
  SecretBytes b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.view(), "secret");

  SecretBytes c = SecretBytes::Copy("other");
  c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(c.view(), "secret");
}

TEST(SecretBytesTest, ClearEmpties) {
  SecretBytes s = SecretBytes::Copy("secret");
  s.Clear();
  EXPECT_TRUE(s.empty());
  EXPECT_FALSE(s.locked());
}

TEST(SecretBytesTest, LocksWhenTheLimitAllows) {
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_MEMLOCK, &lim), 0);
  SecretBytes s(32);
  if (lim.rlim_cur < 64 * 1024) GTEST_SKIP() << "RLIMIT_MEMLOCK is " << lim.rlim_cur;
  EXPECT_TRUE(s.locked());
}

TEST(ConstantTimeEqualsTest, ComparesContentsAndSizes) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
}

}  // namespace
}  // namespace safeflow::executor::crypto
