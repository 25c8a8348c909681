// `safeflow data`: the data owner's commands, run as the real CLI binary.
#include <filesystem>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "tests/integration/tes_api/tes_fixture.h"
#include "tests/testing/integration.h"
#include "tests/testing/process.h"

namespace safeflow::testing {
namespace {

TEST(DataCliTest, KeygenSealUnsealAndTamperDetection) {
  TempDir d;
  const std::string key = d.path() + "/owner.jwk", in = d.path() + "/cohort.csv",
                    sealed = d.path() + "/cohort.csv.sealed", back = d.path() + "/back.csv";
  std::string plain;
  for (int i = 0; i < 5000; ++i) plain += std::to_string(i) + ",F,1970\n";
  WriteAll(in, plain);
  std::string out;
  ASSERT_EQ(RunProgram({SAFEFLOW_CLI_PATH, "data", "keygen", key}, out), 0) << out;
  EXPECT_EQ(std::filesystem::status(key).permissions() & std::filesystem::perms::group_all,
            std::filesystem::perms::none);
  ASSERT_EQ(RunProgram({SAFEFLOW_CLI_PATH, "data", "seal", "--key-file", key, "--key-id",
                        "ds_0123456789abcdef", "--chunk-bytes", "4096", in, sealed},
                       out),
            0)
      << out;
  EXPECT_EQ(ReadAll(sealed).find("1970"), std::string::npos);
  ASSERT_EQ(RunProgram({SAFEFLOW_CLI_PATH, "data", "unseal", "--key-file", key, sealed, back}, out),
            0)
      << out;
  EXPECT_EQ(ReadAll(back), plain);

  std::string bytes = ReadAll(sealed);
  bytes[bytes.size() / 2] ^= 0x40;
  WriteAll(sealed + ".bad", bytes);
  EXPECT_EQ(RunProgram({SAFEFLOW_CLI_PATH, "data", "unseal", "--key-file", key, sealed + ".bad",
                        d.path() + "/bad.csv"},
                       out),
            1);
  EXPECT_NE(out.find("failed authentication"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(d.path() + "/bad.csv"));

  const std::string other = d.path() + "/other.jwk";
  ASSERT_EQ(RunProgram({SAFEFLOW_CLI_PATH, "data", "keygen", other}, out), 0);
  EXPECT_EQ(RunProgram({SAFEFLOW_CLI_PATH, "data", "unseal", "--key-file", other, sealed,
                        d.path() + "/wrong.csv"},
                       out),
            1);
  EXPECT_NE(out.find("wrong key"), std::string::npos) << out;
  EXPECT_EQ(RunProgram({SAFEFLOW_CLI_PATH, "data", "seal", in}, out), 2);
}

TEST(DataCliTest, ImportRegistersTheDatasetAndSealsIntoTheZone) {
  if (!IntegrationRequired() && ::geteuid() != 0) GTEST_SKIP() << "needs root";
  TesServer server;
  ASSERT_TRUE(server.Start()) << server.process->log();
  const std::string key = server.tmp->path() + "/owner.jwk";
  WriteAll(server.tmp->path() + "/a.csv", "x,y\n1,2\n");
  std::string out;
  ASSERT_EQ(RunProgram({SAFEFLOW_CLI_PATH, "--server", server.process->url(), "data", "import",
                        "--project", "default", "--name", "trial", "--key-file", key, "--dest",
                        server.in_root + "/trial", server.tmp->path() + "/a.csv"},
                       out, {"SAFEFLOW_TOKEN=unused-with-auth-none"}),
            0)
      << out;
  EXPECT_NE(out.find("dataset ds_"), std::string::npos) << out;
  // The owner's key file can open what was imported; the broker holds the same key.
  ASSERT_EQ(RunProgram({SAFEFLOW_CLI_PATH, "data", "unseal", "--key-file", key,
                        server.in_root + "/trial/a.csv.sealed", server.tmp->path() + "/a.back"},
                       out),
            0)
      << out;
  EXPECT_EQ(ReadAll(server.tmp->path() + "/a.back"), "x,y\n1,2\n");
  const nlohmann::json t = server.client->WaitFor(
      server.client->CreateOk(
          {{"inputs",
            {{{"url", "file://" + server.in_root + "/trial/a.csv.sealed"}, {"path", "/d/a.csv"}}}},
           {"executors", {{{"image", "ubuntu"}, {"command", {"cat", "/d/a.csv"}}}}}}),
      {}, std::chrono::seconds(60));
  ASSERT_EQ(t["state"], "COMPLETE") << t.dump(2);
  EXPECT_EQ(t["logs"][0]["logs"][0]["stdout"], "x,y\n1,2\n");
}

}  // namespace
}  // namespace safeflow::testing
