// `safeflow check-outputs ...` (the real CLI binary), offline: no server and no database, only
// files in a temporary directory. A declared frequency table with every count >= 10 passes
// (exit 0); a cell of 3 is `review` naming the cell (exit 1), and at most ten cells are listed
// per finding; an NHS number in a text file fails without being printed; --json is one document
// whose reports carry the files' real SHA-256; a profile file changes the threshold and names
// the profile; a directory checks every file in it but not the sidecars; unknown profiles,
// missing paths, invalid sidecars and bad options exit 2.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include <openssl/evp.h>

#include "tests/testing/integration.h"
#include "tests/testing/process.h"

namespace safeflow::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kTableDeclaration[] =
    R"({"type": "frequency_table", "table": {"keys": ["region", "sex"], "counts": ["count"]}})";
constexpr char kPassingTable[] =
    "region,sex,count\nNorth,F,120\nNorth,M,115\nSouth,F,98\nSouth,M,102\n";
// Row 1 (0-based data rows), column "count": 3 people.
constexpr char kSmallCellTable[] =
    "region,sex,count\nNorth,F,120\nNorth,M,3\nSouth,F,98\nSouth,M,102\n";
// 943 476 5919 is a valid NHS number (its modulus 11 check digit is 9).
constexpr char kNotes[] =
    "Cohort summary for the steering group.\n"
    "Follow up with patient 943 476 5919 before the next extract.\n";

std::string Sha256Hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    return "";
  }
  std::string hex;
  char byte[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(byte, sizeof byte, "%02x", digest[i]);
    hex += byte;
  }
  return hex;
}

// The lines of `out` that start with `prefix`.
std::vector<std::string> LinesStartingWith(const std::string& out, const std::string& prefix) {
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) lines.push_back(line);
  }
  return lines;
}

class CheckOutputsCliTest : public ::testing::Test {
 protected:
  // Writes `content` to `relative` under the temporary directory; returns the full path.
  std::string Write(const std::string& relative, const std::string& content) {
    const std::filesystem::path path = std::filesystem::path(tmp_.path()) / relative;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    EXPECT_TRUE(out) << "cannot write " << path;
    return path.string();
  }

  // A table with its FILE.disclosure.json beside it; returns the table's path.
  std::string WriteDeclaredTable(const std::string& relative, const std::string& content) {
    const std::string path = Write(relative, content);
    Write(relative + ".disclosure.json", kTableDeclaration);
    return path;
  }

  // Runs `safeflow check-outputs ARGS...` with no server anywhere; returns the exit code and
  // fills `out` (stdout and stderr).
  static int Check(const std::vector<std::string>& args, std::string& out) {
    std::vector<std::string> argv = {SAFEFLOW_CLI_PATH, "check-outputs"};
    argv.insert(argv.end(), args.begin(), args.end());
    out.clear();
    return RunProgram(argv, out, {"SAFEFLOW_SERVER=http://127.0.0.1:1"});
  }

  TempDir tmp_;
};

TEST_F(CheckOutputsCliTest, DeclaredTableWithLargeCountsPasses) {
  const std::string table = WriteDeclaredTable("counts.csv", kPassingTable);
  std::string out;
  ASSERT_EQ(Check({table}, out), 0) << out;
  const std::vector<std::string> lines = LinesStartingWith(out, "pass  ");
  ASSERT_EQ(lines.size(), 1u) << out;
  EXPECT_THAT(lines[0], HasSubstr(table));
  EXPECT_THAT(lines[0],
              HasSubstr("(frequency_table, " + Sha256Hex(kPassingTable).substr(0, 12) + ")"));
  EXPECT_THAT(out, HasSubstr("1 file: 1 pass, 0 review, 0 fail"));
}

TEST_F(CheckOutputsCliTest, ASmallCellIsReviewNamingTheCell) {
  const std::string table = WriteDeclaredTable("small.csv", kSmallCellTable);
  std::string out;
  ASSERT_EQ(Check({table}, out), 1) << out;
  EXPECT_THAT(out, StartsWith("review  " + table + "  (frequency_table, "));
  const std::vector<std::string> findings = LinesStartingWith(out, "  min_cell_count  review  ");
  ASSERT_EQ(findings.size(), 1u) << out;
  EXPECT_THAT(findings[0], HasSubstr("\"threshold\":10")) << out;
  EXPECT_THAT(out, HasSubstr("row 1, column count: 3")) << out;
  EXPECT_THAT(out, HasSubstr("1 file: 0 pass, 1 review, 0 fail"));
}

TEST_F(CheckOutputsCliTest, AtMostTenCellsArePrintedPerFinding) {
  std::string content = "region,sex,count\n";
  for (int i = 0; i < 12; ++i) content += "Area " + std::to_string(i) + ",F,2\n";
  const std::string table = WriteDeclaredTable("many.csv", content);
  std::string out;
  ASSERT_EQ(Check({table}, out), 1) << out;
  EXPECT_THAT(out, HasSubstr("row 9, column count: 2"));
  EXPECT_THAT(out, Not(HasSubstr("row 10, column count")));
  EXPECT_THAT(out, HasSubstr("      ... and 2 more\n"));
}

TEST_F(CheckOutputsCliTest, AnNhsNumberInTextFailsAndIsNotPrinted) {
  const std::string notes = Write("notes.txt", kNotes);
  std::string out;
  ASSERT_EQ(Check({notes}, out), 1) << out;
  EXPECT_THAT(out, StartsWith("fail    " + notes + "  ("));
  EXPECT_THAT(out, HasSubstr("  direct_identifiers  fail  "));
  EXPECT_THAT(out, HasSubstr("line 2: 943*"));
  EXPECT_THAT(out, Not(HasSubstr("943 476 5919")));
  EXPECT_THAT(out, Not(HasSubstr("4765919")));
  EXPECT_THAT(out, HasSubstr("1 file: 0 pass, 0 review, 1 fail"));
}

TEST_F(CheckOutputsCliTest, JsonIsOneDocumentWithVerdictsAndRealSha256) {
  const std::string pass = WriteDeclaredTable("a/counts.csv", kPassingTable);
  const std::string small = WriteDeclaredTable("a/small.csv", kSmallCellTable);
  const std::string notes = Write("a/notes.txt", kNotes);
  std::string out;
  ASSERT_EQ(Check({"--json", pass, small, notes}, out), 1) << out;
  const json doc = json::parse(out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(doc.is_object()) << out;
  EXPECT_EQ(doc.value("verdict", ""), "fail");
  ASSERT_TRUE(doc["profile"].is_object()) << out;
  EXPECT_EQ(doc["profile"].value("name", ""), "acro-default");
  ASSERT_TRUE(doc["files"].is_array()) << out;
  ASSERT_EQ(doc["files"].size(), 3u) << out;
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"pass", kPassingTable}, {"review", kSmallCellTable}, {"fail", kNotes}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const json& file = doc["files"][i];
    EXPECT_EQ(file.value("verdict", ""), expected[i].first) << file.dump(2);
    EXPECT_EQ(file.value("sha256", ""), Sha256Hex(expected[i].second)) << file.dump(2);
    EXPECT_EQ(file.value("size_bytes", 0u), expected[i].second.size()) << file.dump(2);
    EXPECT_EQ(file.value("profile", ""), "acro-default");
  }
  EXPECT_EQ(doc["files"][0].value("type", ""), "frequency_table");
  EXPECT_EQ(doc["files"][2].value("type", ""), "undeclared");
  EXPECT_THAT(out, Not(HasSubstr("943 476 5919")));
}

TEST_F(CheckOutputsCliTest, AProfileFileSetsTheThresholdAndIsNamedAfterTheFile) {
  const std::string small = WriteDeclaredTable("small.csv", kSmallCellTable);
  const std::string profile = Write("lenient.json", R"({"base": "acro-default", "threshold": 3})");
  std::string out;
  ASSERT_EQ(Check({"--profile-file", profile, "--json", small}, out), 0) << out;
  const json doc = json::parse(out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(doc.is_object()) << out;
  EXPECT_EQ(doc["profile"].value("name", ""), "lenient");
  EXPECT_EQ(doc["profile"].value("threshold", 0), 3);
  EXPECT_EQ(doc.value("verdict", ""), "pass");
  EXPECT_EQ(doc["files"][0].value("profile", ""), "lenient");
  // The built-in strict profile keeps the threshold of 10.
  ASSERT_EQ(Check({"--profile=strict", small}, out), 1) << out;
  EXPECT_THAT(out, HasSubstr("min_cell_count"));
  // An invalid profile file is a usage-level error.
  const std::string bad = Write("bad.json", R"({"threshold": "ten"})");
  EXPECT_EQ(Check({"--profile-file", bad, small}, out), 2) << out;
  EXPECT_THAT(out, HasSubstr("bad.json"));
}

TEST_F(CheckOutputsCliTest, ADirectoryChecksEveryFileButNotTheSidecars) {
  WriteDeclaredTable("outputs/counts.csv", kPassingTable);
  Write("outputs/sub/notes.txt", kNotes);
  std::string out;
  ASSERT_EQ(Check({tmp_.path() + "/outputs"}, out), 1) << out;
  EXPECT_EQ(LinesStartingWith(out, "pass  ").size(), 1u) << out;
  EXPECT_EQ(LinesStartingWith(out, "fail  ").size(), 1u) << out;
  EXPECT_THAT(out, HasSubstr("counts.csv  (frequency_table, "));
  EXPECT_THAT(out, HasSubstr("notes.txt  ("));
  EXPECT_THAT(out, Not(HasSubstr(".disclosure.json  (")));
  EXPECT_THAT(out, HasSubstr("2 files: 1 pass, 0 review, 1 fail"));
}

TEST_F(CheckOutputsCliTest, UnknownProfileMissingPathAndInvalidSidecarExitTwo) {
  const std::string table = WriteDeclaredTable("counts.csv", kPassingTable);
  std::string out;
  EXPECT_EQ(Check({"--profile", "nonesuch", table}, out), 2) << out;
  EXPECT_THAT(out, HasSubstr("nonesuch"));

  EXPECT_EQ(Check({table, tmp_.path() + "/missing.csv"}, out), 2) << out;
  EXPECT_THAT(out, HasSubstr("missing.csv"));
  // Nothing is reported for the good file when another path fails.
  EXPECT_THAT(out, Not(HasSubstr("pass  ")));

  const std::string odd = Write("odd.csv", kPassingTable);
  Write("odd.csv.disclosure.json", R"({"type": "no_such_type"})");
  EXPECT_EQ(Check({odd}, out), 2) << out;
  EXPECT_THAT(out, HasSubstr("odd.csv.disclosure.json"));

  std::filesystem::create_directories(tmp_.path() + "/empty");
  EXPECT_EQ(Check({tmp_.path() + "/empty"}, out), 2) << out;
  EXPECT_THAT(out, HasSubstr("no file to check"));
}

TEST_F(CheckOutputsCliTest, UsageErrorsExitTwoAndHelpDescribesSidecars) {
  std::string out;
  EXPECT_EQ(Check({}, out), 2) << out;
  EXPECT_THAT(out, HasSubstr("missing PATH"));
  EXPECT_EQ(Check({"--frobnicate", "x.csv"}, out), 2) << out;
  EXPECT_THAT(out, HasSubstr("unknown option --frobnicate"));
  EXPECT_EQ(Check({"--profile", "strict", "--profile-file", "p.json", "x.csv"}, out), 2) << out;
  EXPECT_EQ(Check({"x.csv", "--profile"}, out), 2) << out;
  EXPECT_THAT(out, HasSubstr("--profile needs a value"));

  ASSERT_EQ(Check({"--help"}, out), 0) << out;
  EXPECT_THAT(out, HasSubstr("FILE.disclosure.json"));
  EXPECT_THAT(out, HasSubstr("FILE.evidence.json"));
  EXPECT_THAT(out, HasSubstr("acro-default"));
  EXPECT_THAT(out, HasSubstr("Exit status"));
}

}  // namespace
}  // namespace safeflow::testing
