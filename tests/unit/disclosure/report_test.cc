#include "executor/disclosure/report.h"

#include <ostream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace safeflow::executor::disclosure {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::testing::HasSubstr;

Finding MakeFinding(std::string rule, Verdict outcome) {
  Finding f;
  f.rule = std::move(rule);
  f.outcome = outcome;
  return f;
}

FileReport SampleReport() {
  FileReport report;
  report.name = "counts";
  report.path = "out/counts.csv";
  report.sha256 = std::string(64, 'a');
  report.size_bytes = 1234;
  report.type = "frequency_table";
  report.profile = "acro-default";
  report.verdict = Verdict::kReview;
  report.rules_applied = {"size_limit", "min_cell_count"};
  report.findings.push_back(MakeFinding("size_limit", Verdict::kPass));
  Finding small = MakeFinding("min_cell_count", Verdict::kReview);
  small.message = "1 cell below the threshold";
  small.parameters = {{"threshold", 10}};
  small.AddCell({.row = 3, .column = "count", .value = "4", .note = "below 10"});
  report.findings.push_back(small);
  return report;
}

TEST(VerdictTest, NamesRoundTrip) {
  for (Verdict v : {Verdict::kPass, Verdict::kReview, Verdict::kFail}) {
    EXPECT_EQ(ParseVerdict(VerdictName(v)), v);
  }
  EXPECT_EQ(VerdictName(Verdict::kPass), "pass");
  EXPECT_EQ(VerdictName(Verdict::kReview), "review");
  EXPECT_EQ(VerdictName(Verdict::kFail), "fail");
  EXPECT_EQ(ParseVerdict("PASS"), std::nullopt);
  EXPECT_EQ(ParseVerdict(""), std::nullopt);
}

TEST(VerdictTest, WorstOrdersPassReviewFail) {
  EXPECT_EQ(Worst(Verdict::kPass, Verdict::kReview), Verdict::kReview);
  EXPECT_EQ(Worst(Verdict::kFail, Verdict::kReview), Verdict::kFail);
  EXPECT_EQ(Worst(Verdict::kPass, Verdict::kPass), Verdict::kPass);
}

TEST(CombinedVerdictTest, NoFindingsFails) { EXPECT_EQ(CombinedVerdict({}), Verdict::kFail); }

TEST(CombinedVerdictTest, WorstFindingWins) {
  EXPECT_EQ(CombinedVerdict({MakeFinding("a", Verdict::kPass)}), Verdict::kPass);
  EXPECT_EQ(CombinedVerdict({MakeFinding("a", Verdict::kPass), MakeFinding("b", Verdict::kReview)}),
            Verdict::kReview);
  EXPECT_EQ(CombinedVerdict({MakeFinding("a", Verdict::kFail), MakeFinding("b", Verdict::kReview),
                             MakeFinding("c", Verdict::kPass)}),
            Verdict::kFail);
}

TEST(FindingTest, AddCellListsAtMostTheLimitButCountsAll) {
  Finding f;
  for (std::size_t i = 0; i < kMaxCellsPerFinding - 1; ++i) f.AddCell({.row = i});
  EXPECT_EQ(f.cells.size(), kMaxCellsPerFinding - 1);
  f.AddCell({.row = 99});
  EXPECT_EQ(f.cells.size(), kMaxCellsPerFinding);
  EXPECT_EQ(f.cells_total, kMaxCellsPerFinding);
  f.AddCell({.row = 100});
  EXPECT_EQ(f.cells.size(), kMaxCellsPerFinding);
  EXPECT_EQ(f.cells_total, kMaxCellsPerFinding + 1);
  EXPECT_EQ(f.cells.back().row, 99u);
}

TEST(ReportJsonTest, ToJsonHasEveryMember) {
  nlohmann::json json = ToJson(SampleReport());
  EXPECT_EQ(json["name"], "counts");
  EXPECT_EQ(json["path"], "out/counts.csv");
  EXPECT_EQ(json["size_bytes"], 1234);
  EXPECT_EQ(json["verdict"], "review");
  EXPECT_EQ(json["type"], "frequency_table");
  EXPECT_EQ(json["profile"], "acro-default");
  EXPECT_EQ(json["rules_applied"], (nlohmann::json{"size_limit", "min_cell_count"}));
  ASSERT_EQ(json["findings"].size(), 2u);
  const nlohmann::json& f = json["findings"][1];
  EXPECT_EQ(f["rule"], "min_cell_count");
  EXPECT_EQ(f["outcome"], "review");
  EXPECT_EQ(f["parameters"]["threshold"], 10);
  EXPECT_EQ(f["cells_total"], 1);
  EXPECT_EQ(
      f["cells"][0],
      (nlohmann::json{{"row", 3}, {"column", "count"}, {"value", "4"}, {"note", "below 10"}}));
  EXPECT_EQ(json["findings"][0]["parameters"], nlohmann::json::object());
  EXPECT_EQ(json["findings"][0]["cells"], nlohmann::json::array());
}

TEST(ReportJsonTest, RoundTripsThroughText) {
  const FileReport report = SampleReport();
  auto back = FileReportFromJson(nlohmann::json::parse(ToJson(report).dump()));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(ToJson(*back), ToJson(report));
  EXPECT_EQ(back->findings[1].cells[0].note, "below 10");
  EXPECT_EQ(back->verdict, Verdict::kReview);
  EXPECT_EQ(back->size_bytes, 1234u);
}

TEST(ReportJsonTest, RefusesNonObject) {
  EXPECT_THAT(FileReportFromJson(nlohmann::json::array()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(FileReportFromJson(nlohmann::json()), StatusIs(absl::StatusCode::kInvalidArgument));
}

struct BadReportCase {
  const char* pointer;   // JSON pointer of the member changed
  nlohmann::json value;  // null: remove it
  const char* expected;  // in the message
};

void PrintTo(const BadReportCase& c, std::ostream* os) {
  *os << c.pointer << "=" << c.value.dump();
}

class BadReportTest : public ::testing::TestWithParam<BadReportCase> {};

TEST_P(BadReportTest, NamesTheMember) {
  nlohmann::json json = ToJson(SampleReport());
  const nlohmann::json::json_pointer pointer(GetParam().pointer);
  if (GetParam().value.is_null()) {
    json[pointer.parent_pointer()].erase(pointer.back());
  } else {
    json[pointer] = GetParam().value;
  }
  auto report = FileReportFromJson(json);
  EXPECT_THAT(report, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(report.status().message(), HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Members, BadReportTest,
    ::testing::Values(
        BadReportCase{"/name", nullptr, "name: required"},
        BadReportCase{"/sha256", 5, "sha256: must be a string"},
        BadReportCase{"/size_bytes", -1, "size_bytes: must be a non-negative"},
        BadReportCase{"/size_bytes", 1.5, "size_bytes: must be a non-negative"},
        BadReportCase{"/verdict", "ok", "verdict: must be"},
        BadReportCase{"/profile", nullptr, "profile: required"},
        BadReportCase{"/rules_applied", "x", "rules_applied: must be an array"},
        BadReportCase{"/rules_applied/1", 3, "rules_applied[1]: must be a string"},
        BadReportCase{"/findings", nullptr, "findings: required"},
        BadReportCase{"/findings/0", "x", "findings[0]: must be an object"},
        BadReportCase{"/findings/1/outcome", "bad", "findings[1].outcome: must be"},
        BadReportCase{"/findings/1/parameters", 1, "findings[1].parameters: must be an object"},
        BadReportCase{"/findings/1/cells/0/row", "3",
                      "findings[1].cells[0].row: must be a non-negative"},
        BadReportCase{"/findings/1/cells/0/note", nullptr, "findings[1].cells[0].note: required"},
        BadReportCase{"/findings/1/cells_total", 0, "findings[1].cells_total: smaller than"}));

TEST(ReportJsonTest, RefusesMoreCellsThanTheLimit) {
  nlohmann::json json = ToJson(SampleReport());
  nlohmann::json cell = json["findings"][1]["cells"][0];
  json["findings"][1]["cells"] = nlohmann::json::array();
  for (std::size_t i = 0; i <= kMaxCellsPerFinding; ++i)
    json["findings"][1]["cells"].push_back(cell);
  json["findings"][1]["cells_total"] = kMaxCellsPerFinding + 1;
  EXPECT_THAT(FileReportFromJson(json), StatusIs(absl::StatusCode::kInvalidArgument));
  json["findings"][1]["cells"].erase(0);
  EXPECT_THAT(FileReportFromJson(json), IsOk());
}

}  // namespace
}  // namespace safeflow::executor::disclosure
