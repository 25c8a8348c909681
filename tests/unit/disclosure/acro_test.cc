// ACRO bundles: small bundles written as acro.finalise(dir, "json") writes them, then
// tampered with: wrong, missing and malformed checksums, fail statuses with and without an
// exception request, unrecorded files and names that leave the bundle.
#include "executor/disclosure/acro.h"

#include <filesystem>
#include <fstream>
#include <stdlib.h>
#include <string>
#include <system_error>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "executor/disclosure/disk.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::executor::disclosure {
namespace {

namespace fs = std::filesystem;
using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kTable[] = ",count\nNorth,12\nSouth,15\n";
constexpr char kNotes[] = "Cohort defined by ICD-10 codes.\n";

class AcroBundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "acro_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    base_ = pattern;
    dir_ = base_ / "bundle";
    fs::create_directories(dir_ / "checksums");
    results_ = {{"version", "0.4.12"},
                {"results",
                 {{"output_0", Output("pass", "table", {"output_0_0.csv"}, "")},
                  {"output_1", Output("review", "custom", {"notes.txt"}, "")}}}};
    Write("output_0_0.csv", kTable);
    Write("notes.txt", kNotes);
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  static nlohmann::json Output(const std::string& status, const std::string& type,
                               const std::vector<std::string>& files,
                               const std::string& exception) {
    nlohmann::json entries = nlohmann::json::array();
    for (const std::string& file : files) {
      entries.push_back({{"name", file}, {"sdc", nlohmann::json::object()}});
    }
    return {{"uid", "x"},
            {"status", status},
            {"type", type},
            {"properties", {}},
            {"files", entries},
            {"outcome", {}},
            {"command", "acro.crosstab("},
            {"summary", status},
            {"timestamp", "2024-01-05T10:00:00"},
            {"comments", nlohmann::json::array()},
            {"exception", exception}};
  }

  void Write(const std::string& name, const std::string& content) {
    fs::create_directories((dir_ / name).parent_path());
    std::ofstream(dir_ / name, std::ios::binary) << content;
  }

  // What finalise does: results.json, a checksum for every top-level file, then config.json.
  void Finalise() {
    Write("results.json", results_.dump(4));
    for (const fs::directory_entry& entry : fs::directory_iterator(dir_)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      const std::string content((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
      Write("checksums/" + entry.path().filename().string() + ".txt", detail::Sha256Hex(content));
    }
    Write("config.json", R"({"safe_threshold": 10, "safe_dof_threshold": 10})");
  }

  std::vector<FileReport> Check() {
    absl::StatusOr<std::vector<FileReport>> reports = CheckAcroBundle(dir_.string(), profile_, {});
    EXPECT_THAT(reports, IsOk());
    return reports.ok() ? *reports : std::vector<FileReport>{};
  }

  static const FileReport& ReportFor(const std::vector<FileReport>& reports,
                                     const std::string& path) {
    for (const FileReport& report : reports) {
      if (report.path == path) return report;
    }
    ADD_FAILURE() << "no report for " << path;
    static const FileReport kNone;
    return kNone;
  }

  static const Finding& FindingOf(const FileReport& report, const std::string& rule) {
    for (const Finding& finding : report.findings) {
      if (finding.rule == rule) return finding;
    }
    ADD_FAILURE() << "no finding " << rule << " for " << report.path;
    static const Finding kNone;
    return kNone;
  }

  fs::path base_, dir_;
  nlohmann::json results_;
  Profile profile_;
};

TEST(Sha256Test, KnownVector) {
  EXPECT_EQ(detail::Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(AcroBundleTest, RecognisesBundles) {
  EXPECT_FALSE(IsAcroBundle(dir_.string()));  // no results.json yet
  Finalise();
  EXPECT_TRUE(IsAcroBundle(dir_.string()));
  EXPECT_FALSE(IsAcroBundle((dir_ / "notes.txt").string()));
  EXPECT_FALSE(IsAcroBundle((base_ / "missing").string()));
  Write("results.json", R"({"version": "0.4.12", "results": []})");
  EXPECT_FALSE(IsAcroBundle(dir_.string()));
  Write("results.json", "{not json");
  EXPECT_FALSE(IsAcroBundle(dir_.string()));
}

TEST_F(AcroBundleTest, ValidBundleReportsEveryFileWithStatusAndChecksumFirst) {
  Finalise();
  const std::vector<FileReport> reports = Check();
  std::vector<std::string> paths;
  for (const FileReport& report : reports) paths.push_back(report.path);
  EXPECT_THAT(paths, ElementsAre("config.json", "notes.txt", "output_0_0.csv"));

  const FileReport& table = ReportFor(reports, "output_0_0.csv");
  EXPECT_EQ(table.name, "output_0_0.csv");
  EXPECT_EQ(table.type, "undeclared");
  ASSERT_GE(table.rules_applied.size(), 3u);
  EXPECT_EQ(table.rules_applied[0], "acro_status");
  EXPECT_EQ(table.rules_applied[1], "acro_checksum");
  EXPECT_EQ(table.findings.size(), table.rules_applied.size());
  EXPECT_EQ(FindingOf(table, "acro_status").outcome, Verdict::kPass);
  EXPECT_EQ(FindingOf(table, "acro_status").parameters["outputs"][0]["uid"], "output_0");
  EXPECT_EQ(FindingOf(table, "acro_checksum").outcome, Verdict::kPass);
  EXPECT_EQ(FindingOf(table, "acro_checksum").parameters["checksum_file"],
            "checksums/output_0_0.csv.txt");
  EXPECT_EQ(table.sha256, detail::Sha256Hex(kTable));
  EXPECT_EQ(table.verdict, CombinedVerdict(table.findings));
  EXPECT_NE(table.rules_applied.end(),
            std::find(table.rules_applied.begin(), table.rules_applied.end(), "file_type"));

  const FileReport& notes = ReportFor(reports, "notes.txt");
  EXPECT_EQ(FindingOf(notes, "acro_status").outcome, Verdict::kReview);
  EXPECT_EQ(FindingOf(notes, "acro_checksum").outcome, Verdict::kPass);

  const FileReport& config = ReportFor(reports, "config.json");
  EXPECT_EQ(FindingOf(config, "acro_status").outcome, Verdict::kFail);
  EXPECT_THAT(FindingOf(config, "acro_status").message, HasSubstr("ACRO's settings"));
  EXPECT_EQ(config.verdict, Verdict::kFail);
}

TEST_F(AcroBundleTest, WrongMissingAndMalformedChecksumsFail) {
  Write("extra.csv", "a\n1\n");
  results_["results"]["output_2"] = Output("pass", "table", {"extra.csv"}, "");
  Finalise();
  Write("output_0_0.csv", ",count\nNorth,12\nSouth,16\n");  // changed after finalise
  fs::remove(dir_ / "checksums" / "notes.txt.txt");
  Write("checksums/extra.csv.txt", "not a checksum");
  const std::vector<FileReport> reports = Check();

  const Finding& changed = FindingOf(ReportFor(reports, "output_0_0.csv"), "acro_checksum");
  EXPECT_EQ(changed.outcome, Verdict::kFail);
  EXPECT_THAT(changed.message, HasSubstr("changed after acro.finalise"));
  EXPECT_EQ(ReportFor(reports, "output_0_0.csv").verdict, Verdict::kFail);

  const Finding& missing = FindingOf(ReportFor(reports, "notes.txt"), "acro_checksum");
  EXPECT_EQ(missing.outcome, Verdict::kFail);
  EXPECT_THAT(missing.message, HasSubstr("is missing"));

  const Finding& malformed = FindingOf(ReportFor(reports, "extra.csv"), "acro_checksum");
  EXPECT_EQ(malformed.outcome, Verdict::kFail);
  EXPECT_THAT(malformed.message, HasSubstr("does not hold a SHA-256"));
}

TEST_F(AcroBundleTest, ChecksumWithNewlineAndUpperCaseIsAccepted) {
  Finalise();
  Write("checksums/notes.txt.txt", " " + detail::Sha256Hex(kNotes) + "\n");
  std::string upper = detail::Sha256Hex(kTable);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  Write("checksums/output_0_0.csv.txt", upper);
  const std::vector<FileReport> reports = Check();
  EXPECT_EQ(FindingOf(ReportFor(reports, "notes.txt"), "acro_checksum").outcome, Verdict::kPass);
  EXPECT_EQ(FindingOf(ReportFor(reports, "output_0_0.csv"), "acro_checksum").outcome,
            Verdict::kPass);
}

TEST_F(AcroBundleTest, FailWithoutExceptionFailsAndWithExceptionNeedsReview) {
  Write("a.csv", "a\n1\n");
  Write("b.csv", "a\n1\n");
  Write("c.csv", "a\n1\n");
  Write("d.csv", "a\n1\n");
  results_["results"]["output_2"] = Output("fail", "table", {"a.csv"}, "");
  results_["results"]["output_3"] = Output("fail", "table", {"b.csv"}, "Needed for the paper");
  results_["results"]["output_4"] = Output("fail", "table", {"c.csv"}, "   ");
  results_["results"]["output_5"] = Output("approved", "table", {"d.csv"}, "");
  Finalise();
  const std::vector<FileReport> reports = Check();
  EXPECT_EQ(FindingOf(ReportFor(reports, "a.csv"), "acro_status").outcome, Verdict::kFail);
  EXPECT_EQ(ReportFor(reports, "a.csv").verdict, Verdict::kFail);
  const Finding& excepted = FindingOf(ReportFor(reports, "b.csv"), "acro_status");
  EXPECT_EQ(excepted.outcome, Verdict::kReview);
  EXPECT_THAT(excepted.message, HasSubstr("Needed for the paper"));
  EXPECT_EQ(FindingOf(ReportFor(reports, "c.csv"), "acro_status").outcome, Verdict::kFail);
  const Finding& unknown = FindingOf(ReportFor(reports, "d.csv"), "acro_status");
  EXPECT_EQ(unknown.outcome, Verdict::kFail);
  EXPECT_THAT(unknown.message, HasSubstr("no known status"));
}

TEST_F(AcroBundleTest, FileNamedByTwoOutputsTakesTheWorstStatus) {
  results_["results"]["output_2"] = Output("fail", "table", {"output_0_0.csv"}, "");
  Finalise();
  const std::vector<FileReport> reports = Check();
  const Finding& status = FindingOf(ReportFor(reports, "output_0_0.csv"), "acro_status");
  EXPECT_EQ(status.outcome, Verdict::kFail);
  EXPECT_EQ(status.parameters["outputs"].size(), 2u);
}

TEST_F(AcroBundleTest, UnrecordedFilesAndDoNotReleaseFilesFail) {
  Write("DO_NOT_RELEASE_session_summary.csv", "id,method\noutput_0,crosstab\n");
  results_["results"]["output_2"] =
      Output("review", "custom", {"DO_NOT_RELEASE_session_summary.csv"}, "");
  Finalise();
  Write("sub/late.csv", "a\n1\n");
  const std::vector<FileReport> reports = Check();
  const Finding& late = FindingOf(ReportFor(reports, "sub/late.csv"), "acro_status");
  EXPECT_EQ(late.outcome, Verdict::kFail);
  EXPECT_THAT(late.message, HasSubstr("Not recorded by ACRO"));
  EXPECT_EQ(ReportFor(reports, "sub/late.csv").verdict, Verdict::kFail);
  EXPECT_EQ(
      FindingOf(ReportFor(reports, "DO_NOT_RELEASE_session_summary.csv"), "acro_status").outcome,
      Verdict::kFail);
}

TEST_F(AcroBundleTest, NamesThatLeaveTheBundleFailWithoutBeingRead) {
  std::ofstream(base_ / "secret.csv") << "nhs_number\n9434765919\n";
  fs::create_symlink(base_ / "secret.csv", dir_ / "link.csv");
  results_["results"]["output_2"] = Output("pass", "table", {"../secret.csv"}, "");
  results_["results"]["output_3"] = Output("pass", "table", {"/etc/passwd"}, "");
  results_["results"]["output_4"] = Output("pass", "table", {"link.csv"}, "");
  results_["results"]["output_5"] = Output("pass", "table", {"checksums/notes.txt.txt"}, "");
  results_["results"]["output_6"] = Output("pass", "table", {"gone.csv"}, "");
  Finalise();
  const std::vector<FileReport> reports = Check();
  for (const char* path :
       {"../secret.csv", "/etc/passwd", "link.csv", "checksums/notes.txt.txt", "gone.csv"}) {
    const FileReport& report = ReportFor(reports, path);
    EXPECT_EQ(report.verdict, Verdict::kFail) << path;
    EXPECT_EQ(FindingOf(report, "acro_status").outcome, Verdict::kFail) << path;
    EXPECT_EQ(report.findings.size(), 1u) << path << ": not read, so no other rule";
    EXPECT_EQ(report.sha256, detail::Sha256Hex("")) << path;
  }
  EXPECT_THAT(FindingOf(ReportFor(reports, "../secret.csv"), "acro_status").message,
              HasSubstr("'..'"));
  EXPECT_THAT(FindingOf(ReportFor(reports, "/etc/passwd"), "acro_status").message,
              HasSubstr("absolute"));
  EXPECT_THAT(FindingOf(ReportFor(reports, "link.csv"), "acro_status").message,
              HasSubstr("outside the bundle"));
  EXPECT_THAT(FindingOf(ReportFor(reports, "gone.csv"), "acro_status").message,
              HasSubstr("missing"));
}

TEST_F(AcroBundleTest, EditedResultsJsonIsNotTrusted) {
  Finalise();
  results_["results"]["output_1"]["status"] = "pass";
  Write("results.json", results_.dump(4));  // after its checksum was written
  const std::vector<FileReport> reports = Check();
  const Finding& status = FindingOf(ReportFor(reports, "notes.txt"), "acro_status");
  EXPECT_EQ(status.outcome, Verdict::kFail);
  EXPECT_THAT(status.message, HasSubstr("results.json does not match its checksum"));
}

TEST_F(AcroBundleTest, NotABundle) {
  EXPECT_THAT(CheckAcroBundle((base_ / "missing").string(), profile_, {}),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(CheckAcroBundle(dir_.string(), profile_, {}), StatusIs(absl::StatusCode::kNotFound));
  Write("results.json", "{\"results\": ");
  EXPECT_THAT(CheckAcroBundle(dir_.string(), profile_, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  Write("results.json", R"({"version": "0.4.12", "results": {"o": {"files": [{"sdc": {}}]},
                          "p": {"files": "x.csv"}, "q": 3}})");
  const absl::StatusOr<std::vector<FileReport>> reports =
      CheckAcroBundle(dir_.string(), profile_, {});
  EXPECT_THAT(reports, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(reports.status().message()), HasSubstr("results.o.files[0].name"));
  EXPECT_THAT(std::string(reports.status().message()), HasSubstr("results.p.files"));
  EXPECT_THAT(std::string(reports.status().message()), HasSubstr("results.q"));
}

TEST_F(AcroBundleTest, TooLargeFilesFailTheSizeLimitButTheirChecksumsAreStillVerified) {
  Finalise();
  profile_.max_file_bytes = 10;
  std::vector<FileReport> reports = Check();
  const FileReport& table = ReportFor(reports, "output_0_0.csv");
  EXPECT_EQ(table.size_bytes, sizeof(kTable) - 1);
  EXPECT_EQ(table.sha256, detail::Sha256Hex(kTable));
  EXPECT_EQ(FindingOf(table, "acro_checksum").outcome, Verdict::kPass);
  EXPECT_EQ(FindingOf(table, "size_limit").outcome, Verdict::kFail);
  EXPECT_EQ(table.verdict, Verdict::kFail);
  // A too-large file that changed after finalise is caught all the same.
  Write("output_0_0.csv", std::string(kTable) + "extra,row,1\n");
  reports = Check();
  EXPECT_THAT(FindingOf(ReportFor(reports, "output_0_0.csv"), "acro_checksum").message,
              HasSubstr("changed after acro.finalise"));
}

}  // namespace
}  // namespace safeflow::executor::disclosure
