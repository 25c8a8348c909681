#include "executor/disclosure/declaration.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "tests/testing/status_matchers.h"

namespace safeflow::executor::disclosure {
namespace {

using nlohmann::json;
using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

json Frequency() {
  return json::parse(R"({"name": "counts", "path": "counts.csv", "type": "frequency_table",
                         "table": {"keys": ["age_band", "sex"], "counts": ["count"]}})");
}

json Magnitude() {
  return json::parse(R"({"name": "costs", "path": "costs_by_region.csv",
                         "type": "magnitude_table", "description": "costs per region",
                         "table": {"keys": ["region"], "statistics": ["total_cost"],
                                   "total_label": "Total"},
                         "evidence": "evidence/costs_by_region.json"})");
}

// The message of a failed parse (or "" when it succeeded).
std::string Problems(const json& j, bool require_name_and_path = true) {
  absl::StatusOr<Declaration> d = ParseDeclaration(j, require_name_and_path);
  return d.ok() ? "" : std::string(d.status().message());
}

TEST(OutputTypeTest, NamesRoundTripInDeclarationOrder) {
  EXPECT_THAT(OutputTypeNames(), ElementsAre("frequency_table", "magnitude_table", "mean_table",
                                             "regression", "histogram", "survival_table", "figure",
                                             "text", "data_extract", "other"));
  for (std::string_view name : OutputTypeNames()) {
    std::optional<OutputType> t = ParseOutputType(name);
    ASSERT_TRUE(t.has_value()) << name;
    EXPECT_EQ(OutputTypeName(*t), name);
  }
  EXPECT_EQ(ParseOutputType("frequency-table"), std::nullopt);
  EXPECT_EQ(ParseOutputType("Frequency_Table"), std::nullopt);
  EXPECT_EQ(ParseOutputType(""), std::nullopt);
  EXPECT_EQ(OutputTypeName(OutputType::kMeanTable), "mean_table");
}

TEST(ParseDeclarationTest, FrequencyTable) {
  absl::StatusOr<Declaration> d = ParseDeclaration(Frequency());
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->name, "counts");
  EXPECT_EQ(d->path, "counts.csv");
  EXPECT_EQ(d->type, OutputType::kFrequencyTable);
  EXPECT_THAT(d->table.keys, ElementsAre("age_band", "sex"));
  EXPECT_THAT(d->table.counts, ElementsAre("count"));
  EXPECT_TRUE(d->table.statistics.empty());
  EXPECT_EQ(d->table.delimiter, ',');
  EXPECT_EQ(d->table.rounding, 0);
  EXPECT_EQ(d->evidence, "");
}

TEST(ParseDeclarationTest, MagnitudeTableWithEvidence) {
  absl::StatusOr<Declaration> d = ParseDeclaration(Magnitude());
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->type, OutputType::kMagnitudeTable);
  EXPECT_EQ(d->description, "costs per region");
  EXPECT_THAT(d->table.statistics, ElementsAre("total_cost"));
  EXPECT_EQ(d->table.total_label, "Total");
  EXPECT_EQ(d->evidence, "evidence/costs_by_region.json");
}

TEST(ParseDeclarationTest, EveryTypeRoundTrips) {
  const json examples[] = {
      Frequency(),
      Magnitude(),
      json::parse(R"({"name": "m", "path": "m.tsv", "type": "mean_table",
                      "table": {"statistics": ["mean", "sd"], "keys": ["variable"],
                                "counts": ["n"], "delimiter": "\t", "rounding": 5},
                      "evidence": "m.evidence.json"})"),
      json::parse(R"({"name": "model", "path": "model.json", "type": "regression"})"),
      json::parse(R"({"name": "h", "path": "h.csv", "type": "histogram",
                      "table": {"keys": ["bin"], "counts": ["n"], "rounding": 1000}})"),
      json::parse(R"({"name": "km", "path": "km.csv", "type": "survival_table",
                      "table": {"time": "t", "at_risk": "n.risk", "events": "n.event",
                                "censored": "n.censor", "keys": ["arm"]}})"),
      json::parse(R"({"name": "plot", "path": "plots/a.png", "type": "figure"})"),
      json::parse(R"({"name": "log", "path": "log.txt", "type": "text",
                      "description": "the run's notes"})"),
      json::parse(R"({"name": "rows", "path": "rows.csv", "type": "data_extract"})"),
      json::parse(R"({"name": "x", "path": "x.bin", "type": "other"})"),
  };
  for (const json& j : examples) {
    absl::StatusOr<Declaration> d = ParseDeclaration(j);
    ASSERT_THAT(d, IsOk()) << j.dump();
    EXPECT_EQ(ToJson(*d), j) << j.dump();
    absl::StatusOr<Declaration> again = ParseDeclaration(ToJson(*d));
    ASSERT_THAT(again, IsOk());
    EXPECT_EQ(ToJson(*again), ToJson(*d));
  }
}

TEST(ParseDeclarationTest, NotAnObject) {
  EXPECT_THAT(ParseDeclaration(json::array()), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseDeclaration(json("counts.csv")), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseDeclarationTest, ReportsEveryProblemOnePerLine) {
  json j = json::parse(R"({"name": "-bad", "path": "../x.csv", "type": "frequency-table",
                           "disclosure": "frequency-table", "evidence": 3})");
  EXPECT_EQ(Problems(j),
            "disclosure: unknown member\n"
            "name: '-bad' is not a name of 1 to 64 characters [A-Za-z0-9._-] starting with a "
            "letter or digit\n"
            "path: must not contain '..' segments\n"
            "type: 'frequency-table' is not one of frequency_table, magnitude_table, mean_table, "
            "regression, histogram, survival_table, figure, text, data_extract, other\n"
            "evidence: must be a string (the sidecar's path)");
}

TEST(ParseDeclarationTest, RequiredMembers) {
  EXPECT_EQ(Problems(json::object()), "name: required\npath: required\ntype: required");
  // FILE.disclosure.json: the file gives the name and path.
  EXPECT_EQ(Problems(json::object(), false), "type: required");
  absl::StatusOr<Declaration> d = ParseDeclaration(json{{"type", "figure"}}, false);
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->name, "");
  EXPECT_EQ(ToJson(*d), (json{{"type", "figure"}}));
  // Given anyway, they are still checked.
  EXPECT_EQ(Problems(json{{"type", "figure"}, {"path", "/etc/passwd"}}, false),
            "path: must be relative, not absolute");
}

TEST(ParseDeclarationTest, NameBoundaries) {
  auto with_name = [](const json& name) {
    json j = json::parse(R"({"path": "a.txt", "type": "text"})");
    j["name"] = name;
    return j;
  };
  EXPECT_EQ(Problems(with_name("a")), "");
  EXPECT_EQ(Problems(with_name("0")), "");
  EXPECT_EQ(Problems(with_name("A.b_c-9")), "");
  EXPECT_EQ(Problems(with_name(std::string(64, 'a'))), "");
  EXPECT_THAT(Problems(with_name(std::string(65, 'a'))), HasSubstr("name: "));
  EXPECT_THAT(Problems(with_name("")), HasSubstr("name: "));
  EXPECT_THAT(Problems(with_name("_a")), HasSubstr("name: "));
  EXPECT_THAT(Problems(with_name(".a")), HasSubstr("name: "));
  EXPECT_THAT(Problems(with_name("a b")), HasSubstr("name: "));
  EXPECT_THAT(Problems(with_name("a/b")), HasSubstr("name: "));
  EXPECT_EQ(Problems(with_name(7)), "name: must be a string");
}

TEST(ParseDeclarationTest, PathBoundaries) {
  auto with_path = [](const json& path) {
    json j = json::parse(R"({"name": "a", "type": "text"})");
    j["path"] = path;
    return j;
  };
  EXPECT_EQ(Problems(with_path("a.txt")), "");
  EXPECT_EQ(Problems(with_path("dir/sub/a.txt")), "");
  EXPECT_EQ(Problems(with_path("..a/b..")), "");  // dots inside a segment are fine
  EXPECT_EQ(Problems(with_path(std::string(255, 'p'))), "");
  EXPECT_EQ(Problems(with_path(std::string(256, 'p'))), "path: longer than 255 bytes");
  EXPECT_EQ(Problems(with_path("")), "path: must not be empty");
  EXPECT_EQ(Problems(with_path("/abs.txt")), "path: must be relative, not absolute");
  EXPECT_EQ(Problems(with_path("..")), "path: must not contain '..' segments");
  EXPECT_EQ(Problems(with_path("a/../b")), "path: must not contain '..' segments");
  EXPECT_EQ(Problems(with_path("./a")), "path: must not contain '.' segments");
  EXPECT_EQ(Problems(with_path("a/./b")), "path: must not contain '.' segments");
  EXPECT_THAT(Problems(with_path("a//b")), HasSubstr("path: must not contain empty segments"));
  EXPECT_THAT(Problems(with_path("a/")), HasSubstr("path: must not contain empty segments"));
  EXPECT_THAT(Problems(with_path("a\\b")), HasSubstr("path: must not contain a backslash"));
  EXPECT_THAT(Problems(with_path(std::string("a\0b", 3))),
              HasSubstr("path: must not contain control characters"));
  EXPECT_EQ(Problems(with_path(json::array())), "path: must be a string");
}

TEST(ParseDeclarationTest, DescriptionBoundaries) {
  json j = Frequency();
  j["description"] = std::string(4096, 'd');
  EXPECT_EQ(Problems(j), "");
  j["description"] = std::string(4097, 'd');
  EXPECT_EQ(Problems(j), "description: longer than 4096 bytes");
  j["description"] = 1;
  EXPECT_EQ(Problems(j), "description: must be a string");
}

TEST(ParseDeclarationTest, PerTypeRequirements) {
  // Tables need their table.
  EXPECT_EQ(Problems(json::parse(R"({"name": "a", "path": "a.csv", "type": "frequency_table"})")),
            "table: required for type frequency_table");
  EXPECT_EQ(
      Problems(json::parse(
          R"({"name": "a", "path": "a.csv", "type": "histogram", "table": {"keys": ["bin"]}})")),
      "table.counts: required for type histogram (at least one count column)");
  EXPECT_EQ(Problems(json::parse(R"({"name": "a", "path": "a.csv", "type": "mean_table",
                                     "table": {"keys": ["g"], "counts": ["n"]}})")),
            "evidence: required for type mean_table (the per-cell evidence sidecar the workflow "
            "writes)\n"
            "table.statistics: required for type mean_table (at least one statistics column)");
  EXPECT_EQ(Problems(json::parse(R"({"name": "a", "path": "a.csv", "type": "survival_table",
                                     "table": {"time": "t", "censored": "c"}})")),
            "table.at_risk: required for type survival_table (the number at risk)\n"
            "table.events: required for type survival_table (the number of events)");
  EXPECT_EQ(
      Problems(json::parse(
          R"({"name": "a", "path": "a.csv", "type": "frequency_table", "table": {"counts": []}})")),
      "table.counts: required for type frequency_table (at least one count column)");
  EXPECT_EQ(Problems(json::parse(R"({"name": "a", "path": "a.csv", "type": "magnitude_table"})")),
            "evidence: required for type magnitude_table (the per-cell evidence sidecar the "
            "workflow writes)\n"
            "table: required for type magnitude_table");
  // Non-tables have neither table nor evidence.
  EXPECT_EQ(Problems(json::parse(R"({"name": "a", "path": "a.json", "type": "regression",
                                     "table": {"counts": ["n"]}, "evidence": "e.json"})")),
            "table: not allowed for type regression (only frequency_table, magnitude_table, "
            "mean_table, histogram and survival_table have a table)\n"
            "evidence: not allowed for type regression (only tables have evidence)");
  // Evidence is optional for the other tables.
  json f = Frequency();
  f["evidence"] = "counts.evidence.json";
  absl::StatusOr<Declaration> d = ParseDeclaration(f);
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->evidence, "counts.evidence.json");
  EXPECT_EQ(ToJson(*d), f);
}

TEST(ParseDeclarationTest, EvidencePath) {
  json j = Magnitude();
  j["evidence"] = "../outside.json";
  EXPECT_EQ(Problems(j), "evidence: must not contain '..' segments");
  j["evidence"] = j["path"];
  EXPECT_EQ(Problems(j), "evidence: must differ from path");
  j["evidence"] = "";
  EXPECT_EQ(Problems(j), "evidence: must not be empty");
}

TEST(ParseDeclarationTest, TableMembers) {
  json j = Frequency();
  j["table"] = json::parse(R"({"keys": ["a", "a", ""], "counts": "n", "statistics": [1],
                               "total_label": "", "rounding": 1001, "time": 5,
                               "delimiter": ";", "weights": ["w"]})");
  EXPECT_EQ(Problems(j),
            "table.weights: unknown member\n"
            "table.keys[1]: 'a' is listed twice\n"
            "table.keys[2]: must be a column name of 1 to 255 bytes\n"
            "table.counts: must be an array of column names\n"
            "table.statistics[0]: must be a column name of 1 to 255 bytes\n"
            "table.total_label: must be a column name of 1 to 255 bytes\n"
            "table.rounding: must be an integer from 0 to 1000 (0: not rounded)\n"
            "table.time: must be a string\n"
            "table.delimiter: must be \",\" or \"\\t\"");
  j["table"] = "keys";
  EXPECT_EQ(Problems(j), "table: must be an object {keys, counts, statistics, ...}");
}

TEST(ParseDeclarationTest, TableBoundaries) {
  json j = Frequency();
  j["table"]["rounding"] = 0;
  EXPECT_EQ(Problems(j), "");
  j["table"]["rounding"] = 1000;
  EXPECT_EQ(Problems(j), "");
  j["table"]["rounding"] = -1;
  EXPECT_THAT(Problems(j), HasSubstr("table.rounding: "));
  j["table"]["rounding"] = 5.0;
  EXPECT_THAT(Problems(j), HasSubstr("table.rounding: "));
  j["table"]["rounding"] = true;
  EXPECT_THAT(Problems(j), HasSubstr("table.rounding: "));
  j["table"].erase("rounding");

  json keys = json::array();
  for (int i = 0; i < 64; ++i) keys.push_back("k" + std::to_string(i));
  j["table"]["keys"] = keys;
  EXPECT_EQ(Problems(j), "");
  keys.push_back("k64");
  j["table"]["keys"] = keys;
  EXPECT_EQ(Problems(j), "table.keys: more than 64 columns");
  j["table"]["keys"] = {std::string(255, 'c')};
  EXPECT_EQ(Problems(j), "");
  j["table"]["keys"] = {std::string(256, 'c')};
  EXPECT_EQ(Problems(j), "table.keys[0]: must be a column name of 1 to 255 bytes");
  j["table"]["keys"] = json::array();
  EXPECT_EQ(Problems(j), "");  // a table may have no key columns
}

TEST(ParseDeclarationTest, ColumnsPlayOneRole) {
  json j = Magnitude();
  j["table"]["counts"] = {"region"};
  j["table"]["statistics"] = {"total_cost", "region"};
  EXPECT_EQ(Problems(j),
            "table.counts: 'region' is also a key column\n"
            "table.statistics: 'region' is also a key or count column");
  json s = json::parse(R"({"name": "km", "path": "km.csv", "type": "survival_table",
                           "table": {"time": "t", "at_risk": "t", "events": "e"}})");
  EXPECT_EQ(Problems(s), "table.at_risk: 't' is already another survival column");
}

TEST(ParseDeclarationTest, TabDelimiter) {
  json j = Frequency();
  j["table"]["delimiter"] = "\t";
  absl::StatusOr<Declaration> d = ParseDeclaration(j);
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->table.delimiter, '\t');
  EXPECT_EQ(ToJson(*d)["table"]["delimiter"], "\t");
  j["table"]["delimiter"] = ",";
  d = ParseDeclaration(j);
  ASSERT_THAT(d, IsOk());
  EXPECT_FALSE(ToJson(*d)["table"].contains("delimiter"));  // the default is left out
}

// --- Evidence ---

json Cell(int row, const std::string& column, int n, double sum, json largest) {
  return json{{"row", row}, {"column", column}, {"n", n}, {"sum", sum}, {"largest", largest}};
}

std::string EvidenceProblems(const json& j) {
  absl::StatusOr<Evidence> e = ParseEvidence(j);
  return e.ok() ? "" : std::string(e.status().message());
}

TEST(ParseEvidenceTest, HeaderExample) {
  absl::StatusOr<Evidence> e = ParseEvidence(json::parse(
      R"({"version": 1, "cells": [{"row": 0, "column": "total_cost", "n": 12, "sum": 3400.5,
          "largest": [800, 650], "negatives": 0},
          {"row": 1, "column": "total_cost", "n": 1, "sum": -2, "largest": [2], "negatives": 1}]})"));
  ASSERT_THAT(e, IsOk());
  ASSERT_EQ(e->cells.size(), 2u);
  EXPECT_EQ(e->cells[0].row, 0u);
  EXPECT_EQ(e->cells[0].column, "total_cost");
  EXPECT_EQ(e->cells[0].n, 12);
  EXPECT_DOUBLE_EQ(e->cells[0].sum, 3400.5);
  EXPECT_THAT(e->cells[0].largest, ElementsAre(800, 650));
  EXPECT_EQ(e->cells[0].negatives, 0);
  EXPECT_EQ(e->cells[1].negatives, 1);
}

TEST(ParseEvidenceTest, EmptyAndOptionalNegatives) {
  EXPECT_EQ(EvidenceProblems(json::parse(R"({"version": 1, "cells": []})")), "");
  absl::StatusOr<Evidence> e =
      ParseEvidence(json{{"version", 1}, {"cells", {Cell(3, "c", 0, 0, json::array())}}});
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ(e->cells[0].negatives, 0);
  EXPECT_TRUE(e->cells[0].largest.empty());
}

TEST(ParseEvidenceTest, TopLevel) {
  EXPECT_EQ(EvidenceProblems(json::array()), "evidence: must be a JSON object {version, cells}");
  EXPECT_EQ(EvidenceProblems(json::object()), "version: required (1)\ncells: required");
  EXPECT_EQ(EvidenceProblems(json::parse(R"({"version": 2, "cells": {}, "extra": 1})")),
            "extra: unknown member\nversion: must be 1\ncells: must be an array of cells");
  EXPECT_EQ(EvidenceProblems(json::parse(R"({"version": "1", "cells": []})")),
            "version: must be 1");
  EXPECT_EQ(EvidenceProblems(json::parse(R"({"version": 1.0, "cells": []})")),
            "version: must be 1");
}

TEST(ParseEvidenceTest, CellProblems) {
  json cells = json::array();
  cells.push_back(json::parse(
      R"({"row": -1, "column": "", "n": 1.5, "sum": "x", "largest": 3, "negatives": 0, "w": 1})"));
  cells.push_back(json::parse(R"({})"));
  cells.push_back("cell");
  EXPECT_EQ(EvidenceProblems(json{{"version", 1}, {"cells", cells}}),
            "cells[0].w: unknown member\n"
            "cells[0].row: must be an integer >= 0 (a 0-based data row)\n"
            "cells[0].column: must be a non-empty string (a statistics column)\n"
            "cells[0].n: must be an integer >= 0 (contributors to the cell)\n"
            "cells[0].sum: must be a finite number\n"
            "cells[0].largest: must be an array of numbers, descending\n"
            "cells[1].row: required\n"
            "cells[1].column: required\n"
            "cells[1].n: required\n"
            "cells[1].sum: required\n"
            "cells[1].largest: required\n"
            "cells[2]: must be an object {row, column, n, sum, largest, negatives}");
}

TEST(ParseEvidenceTest, LargestBoundaries) {
  auto problems = [](int n, json largest) {
    return EvidenceProblems(json{{"version", 1}, {"cells", {Cell(0, "c", n, 100, largest)}}});
  };
  EXPECT_EQ(problems(3, {50, 30, 20}), "");
  EXPECT_EQ(problems(3, {50, 50}), "");  // ties are non-increasing
  EXPECT_EQ(problems(5, {50, 30}), "");
  EXPECT_EQ(problems(1, {100}), "");
  EXPECT_EQ(problems(0, json::array()), "");
  EXPECT_EQ(problems(2, {50, 30, 20}), "cells[0].largest: 3 contributions listed but n is 2");
  EXPECT_EQ(problems(0, {1}), "cells[0].largest: 1 contributions listed but n is 0");
  EXPECT_EQ(problems(3, {30, 50}),
            "cells[0].largest[1]: larger than the one before (must be descending)");
  EXPECT_EQ(problems(3, {50}),
            "cells[0].largest: must list the 2 largest contributions at least (n is 3)");
  EXPECT_EQ(problems(1, json::array()),
            "cells[0].largest: must list the 1 largest contributions at least (n is 1)");
  EXPECT_EQ(problems(3, {50, "x"}), "cells[0].largest[1]: must be a finite number");
  // nlohmann::json stores NaN but dumps it as null; a parsed document cannot hold one.
  EXPECT_EQ(problems(3, {50, std::nan("")}), "cells[0].largest[1]: must be a finite number");
}

TEST(ParseEvidenceTest, NegativesBoundaries) {
  auto problems = [](json negatives) {
    json c = Cell(0, "c", 4, 100, {50, 20});
    c["negatives"] = negatives;
    return EvidenceProblems(json{{"version", 1}, {"cells", {c}}});
  };
  EXPECT_EQ(problems(0), "");
  EXPECT_EQ(problems(4), "");
  EXPECT_EQ(problems(5), "cells[0].negatives: must be an integer from 0 to n");
  EXPECT_EQ(problems(-1), "cells[0].negatives: must be an integer from 0 to n");
  EXPECT_EQ(problems(1.0), "cells[0].negatives: must be an integer from 0 to n");
}

TEST(ParseEvidenceTest, DuplicateCellsRefused) {
  json cells = {Cell(0, "mean", 3, 9, {4, 3}), Cell(0, "sd", 3, 9, {4, 3}),
                Cell(1, "mean", 3, 9, {4, 3}), Cell(0, "mean", 3, 9, {4, 3})};
  EXPECT_EQ(EvidenceProblems(json{{"version", 1}, {"cells", cells}}),
            "cells[3]: row 0 column 'mean' is given twice");
}

TEST(ParseEvidenceTest, HugeNumbersRefused) {
  json c = Cell(0, "c", 3, 9, {4, 3});
  c["n"] = std::numeric_limits<std::uint64_t>::max();
  EXPECT_THAT(EvidenceProblems(json{{"version", 1}, {"cells", {c}}}),
              HasSubstr("cells[0].n: must be an integer >= 0"));
  c["n"] = 3;
  c["row"] = std::numeric_limits<std::uint64_t>::max();
  EXPECT_THAT(EvidenceProblems(json{{"version", 1}, {"cells", {c}}}),
              HasSubstr("cells[0].row: must be an integer >= 0"));
}

TEST(ParseEvidenceTest, CellCountLimit) {
  json evidence = {{"version", 1}};
  evidence["cells"] = json::array_t(1000001);  // nulls; refused before any is looked at
  EXPECT_EQ(EvidenceProblems(evidence), "cells: more than 1000000 cells");
}

TEST(ParseEvidenceTest, ProblemListIsBounded) {
  json cells = json::array();
  for (int i = 0; i < 500; ++i) cells.push_back(nullptr);
  std::string problems = EvidenceProblems(json{{"version", 1}, {"cells", cells}});
  EXPECT_EQ(std::count(problems.begin(), problems.end(), '\n'), 100);
  EXPECT_THAT(problems, HasSubstr("(400 more problems)"));
  EXPECT_THAT(problems, Not(HasSubstr("cells[100]")));
}

}  // namespace
}  // namespace safeflow::executor::disclosure
