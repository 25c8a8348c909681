// Checking files on disk: sidecar declarations and evidence, directories in path order,
// sidecars never reported as outputs, links not followed, size limits, ACRO bundles inside.
#include "executor/disclosure/offline.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdlib.h>
#include <string>
#include <system_error>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/disclosure/disk.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::executor::disclosure {
namespace {

namespace fs = std::filesystem;
using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class OfflineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "offline_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string Write(const std::string& name, const std::string& content) {
    const fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << content;
    return path.string();
  }

  std::vector<FileReport> CheckOk(const std::string& path) {
    absl::StatusOr<std::vector<FileReport>> reports = CheckPath(path, profile_);
    EXPECT_THAT(reports, IsOk());
    return reports.ok() ? *reports : std::vector<FileReport>{};
  }

  static bool AnyMessageContains(const FileReport& report, const std::string& text) {
    return std::any_of(report.findings.begin(), report.findings.end(),
                       [&](const Finding& f) { return f.message.find(text) != std::string::npos; });
  }

  fs::path dir_;
  Profile profile_;
};

TEST(IsSidecarNameTest, Suffixes) {
  EXPECT_TRUE(IsSidecarName("t.csv.disclosure.json"));
  EXPECT_TRUE(IsSidecarName("out/t.csv.evidence.json"));
  EXPECT_TRUE(IsSidecarName(".disclosure.json"));
  EXPECT_FALSE(IsSidecarName("t.csv"));
  EXPECT_FALSE(IsSidecarName("disclosure.json"));
  EXPECT_FALSE(IsSidecarName("t.disclosure.json.bak"));
  EXPECT_FALSE(IsSidecarName("t.csv.Disclosure.JSON"));
  EXPECT_FALSE(IsSidecarName("t.disclosure.json/x.csv"));
}

TEST_F(OfflineTest, UndeclaredFileIsReportedUnderThePathAsGiven) {
  const std::string path = Write("t.csv", "region,count\nNorth,12\n");
  const std::vector<FileReport> reports = CheckOk(path);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].name, path);
  EXPECT_EQ(reports[0].path, path);
  EXPECT_EQ(reports[0].type, "undeclared");
  EXPECT_EQ(reports[0].size_bytes, 22u);
  EXPECT_EQ(reports[0].sha256, detail::Sha256Hex("region,count\nNorth,12\n"));
  EXPECT_NE(reports[0].verdict, Verdict::kPass);  // undeclared: review at best
}

TEST_F(OfflineTest, SidecarDeclaresTheType) {
  const std::string path = Write("t.csv", "region,n\nNorth,12\nSouth,15\n");
  Write("t.csv.disclosure.json", R"({"type": "frequency_table", "table": {"counts": ["n"]}})");
  const std::vector<FileReport> reports = CheckOk(path);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].type, "frequency_table");
  EXPECT_EQ(reports[0].path, path);
}

TEST_F(OfflineTest, InvalidSidecarsAreErrorsNamingTheFile) {
  const std::string path = Write("t.csv", "region,n\nNorth,12\n");
  Write("t.csv.disclosure.json", "{\"type\": ");
  absl::StatusOr<std::vector<FileReport>> reports = CheckPath(path, profile_);
  EXPECT_THAT(reports, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(reports.status().message()), HasSubstr("t.csv.disclosure.json"));

  Write("t.csv.disclosure.json", R"({"type": "frequency_table", "colour": "red"})");
  reports = CheckPath(path, profile_);
  EXPECT_THAT(reports, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(reports.status().message()), HasSubstr("t.csv.disclosure.json"));
  EXPECT_THAT(std::string(reports.status().message()), HasSubstr("colour"));

  fs::remove(dir_ / "t.csv.disclosure.json");
  fs::create_directory(dir_ / "t.csv.disclosure.json");
  EXPECT_THAT(CheckPath(path, profile_), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(OfflineTest, MissingPathsAndSidecarsGivenDirectly) {
  EXPECT_THAT(CheckPath((dir_ / "nope.csv").string(), profile_),
              StatusIs(absl::StatusCode::kNotFound));
  const std::string sidecar = Write("t.csv.disclosure.json", "{}");
  EXPECT_THAT(CheckPath(sidecar, profile_), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(OfflineTest, DeclaredEvidenceIsReadRelativeToTheFile) {
  const std::string path = Write("out/costs.csv", "region,total_cost\nNorth,3400.5\n");
  Write("out/costs.csv.disclosure.json",
        R"({"type": "magnitude_table", "table": {"keys": ["region"],
            "statistics": ["total_cost"]}, "evidence": "ev/costs.json"})");
  std::vector<FileReport> reports = CheckOk(path);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].type, "magnitude_table");
  EXPECT_TRUE(AnyMessageContains(reports[0], "ev/costs.json does not exist"));

  Write("out/ev/costs.json", R"({"version": 1, "cells": [{"row": 0, "column": "total_cost",
        "n": 12, "sum": 3400.5, "largest": [800, 650], "negatives": 0}]})");
  reports = CheckOk(path);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_FALSE(AnyMessageContains(reports[0], "no usable evidence"));

  Write("out/ev/costs.json", R"({"version": 1, "cells": "many"})");
  reports = CheckOk(path);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(AnyMessageContains(reports[0], "costs.json"));
}

TEST_F(OfflineTest, DirectoriesInPathOrderWithoutSidecarsOrLinks) {
  Write("b.txt", "text\n");
  Write("a/z.csv", "region,count\nNorth,12\n");
  Write("a.csv", "region,count\nNorth,12\n");
  Write("a.csv.disclosure.json", R"({"type": "frequency_table", "table": {"counts": ["count"]}})");
  Write("c.txt.evidence.json", "{}");
  fs::create_symlink("/etc/passwd", dir_ / "passwd.txt");
  const std::string shown = dir_.string() + "/";
  const std::vector<FileReport> reports = CheckOk(shown);
  std::vector<std::string> paths;
  for (const FileReport& report : reports) paths.push_back(report.path);
  EXPECT_THAT(paths, ElementsAre(shown + "a.csv", shown + "a/z.csv", shown + "b.txt",
                                 shown + "passwd.txt"));
  EXPECT_EQ(reports[0].type, "frequency_table");
  EXPECT_EQ(reports[3].verdict, Verdict::kFail);
  EXPECT_THAT(reports[3].findings.at(0).message, HasSubstr("symbolic link"));
}

TEST_F(OfflineTest, LargeFilesAreNotRead) {
  profile_.max_file_bytes = 8;
  const std::string path = Write("t.csv", "region,count\nNorth,12\n");
  const std::vector<FileReport> reports = CheckOk(path);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].size_bytes, 22u);
  EXPECT_EQ(reports[0].verdict, Verdict::kFail);
}

TEST_F(OfflineTest, AcroBundleInsideADirectory) {
  Write("bundle/output_0_0.csv", ",count\nNorth,12\n");
  Write("bundle/results.json", R"({"version": "0.4.12", "results": {"output_0": {
      "uid": "output_0", "status": "pass", "type": "table",
      "files": [{"name": "output_0_0.csv", "sdc": {}}], "exception": ""}}})");
  Write("bundle/checksums/output_0_0.csv.txt", detail::Sha256Hex(",count\nNorth,12\n"));
  Write("readme.txt", "hello\n");
  const std::vector<FileReport> reports = CheckOk(dir_.string());
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].path, (dir_ / "bundle" / "output_0_0.csv").string());
  EXPECT_EQ(reports[0].rules_applied.at(0), "acro_status");
  EXPECT_EQ(reports[0].findings.at(1).outcome, Verdict::kPass);  // checksum
  EXPECT_EQ(reports[1].path, (dir_ / "readme.txt").string());
}

TEST_F(OfflineTest, ReadFileBoundedReportsSizeAndErrors) {
  const std::string path = Write("f.bin", std::string(100, 'x'));
  absl::StatusOr<detail::FileBytes> bytes = detail::ReadFileBounded(path, 100);
  ASSERT_THAT(bytes, IsOk());
  EXPECT_FALSE(bytes->too_large);
  EXPECT_EQ(bytes->content.size(), 100u);
  bytes = detail::ReadFileBounded(path, 99);
  ASSERT_THAT(bytes, IsOk());
  EXPECT_TRUE(bytes->too_large);
  EXPECT_TRUE(bytes->content.empty());
  EXPECT_EQ(bytes->size_bytes, 100u);
  EXPECT_THAT(detail::ReadFileBounded(dir_ / "missing", 10), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(OfflineTest, AFileTooLargeToCheckStillGetsItsWholeDigest) {
  std::string big;
  for (int i = 0; i < 300000; ++i) big.push_back(static_cast<char>('a' + i % 26));
  const std::string path = Write("big.txt", big);
  absl::StatusOr<detail::FileBytes> bytes = detail::ReadFileBounded(path, 1000, true);
  ASSERT_THAT(bytes, IsOk());
  EXPECT_TRUE(bytes->too_large);
  EXPECT_TRUE(bytes->content.empty());
  EXPECT_EQ(bytes->size_bytes, big.size());
  EXPECT_EQ(bytes->sha256, detail::Sha256Hex(big));
  // Without hash_whole, reading stops at the limit and there is no digest.
  bytes = detail::ReadFileBounded(path, 1000);
  ASSERT_THAT(bytes, IsOk());
  EXPECT_TRUE(bytes->sha256.empty());
  // Within the limit, the digest is of the content kept.
  bytes = detail::ReadFileBounded(path, big.size(), true);
  ASSERT_THAT(bytes, IsOk());
  EXPECT_FALSE(bytes->too_large);
  EXPECT_EQ(bytes->sha256, detail::Sha256Hex(big));

  // check-outputs reports the real digest of an oversized file, not that of nothing.
  Profile small = profile_;
  small.max_file_bytes = 1000;
  absl::StatusOr<std::vector<FileReport>> reports = CheckPath(path, small);
  ASSERT_THAT(reports, IsOk());
  ASSERT_EQ(reports->size(), 1u);
  EXPECT_EQ((*reports)[0].verdict, Verdict::kFail);
  EXPECT_EQ((*reports)[0].sha256, detail::Sha256Hex(big));
  EXPECT_EQ((*reports)[0].size_bytes, big.size());
}

}  // namespace
}  // namespace safeflow::executor::disclosure
