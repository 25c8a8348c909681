// tests/unit/disclosure/rules_test_util.h. Building files, declarations and evidence for the
// rule tests, and running one rule through CheckFile (so that tests see what the chain sees).
#ifndef SAFEFLOW_TESTS_UNIT_DISCLOSURE_RULES_TEST_UTIL_H_
#define SAFEFLOW_TESTS_UNIT_DISCLOSURE_RULES_TEST_UTIL_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "executor/disclosure/declaration.h"
#include "executor/disclosure/filter.h"
#include "executor/disclosure/profile.h"
#include "executor/disclosure/report.h"

namespace safeflow::executor::disclosure::testutil {

// A file and what was declared about it. Owns the content that FileInput only views.
struct TestFile {
  std::string path = "table.csv";
  std::string content;
  std::optional<Declaration> declaration;
  std::optional<Evidence> evidence;
  std::string evidence_error;

  FileInput Input() const {
    FileInput input;
    input.name = "output";
    input.path = path;
    input.content = content;
    input.size_bytes = content.size();
    input.declaration = declaration;
    input.evidence = evidence;
    input.evidence_error = evidence_error;
    return input;
  }
};

inline Declaration Declare(OutputType type, TableSpec table = {}) {
  Declaration d;
  d.name = "output";
  d.path = "table.csv";
  d.type = type;
  d.table = std::move(table);
  return d;
}

inline TestFile Frequency(std::string content, std::vector<std::string> keys,
                          std::vector<std::string> counts, std::string total_label = "") {
  TableSpec spec;
  spec.keys = std::move(keys);
  spec.counts = std::move(counts);
  spec.total_label = std::move(total_label);
  return TestFile{.content = std::move(content),
                  .declaration = Declare(OutputType::kFrequencyTable, std::move(spec))};
}

inline TestFile Magnitude(std::string content, std::vector<std::string> keys,
                          std::vector<std::string> statistics, std::vector<CellEvidence> cells,
                          std::string total_label = "",
                          OutputType type = OutputType::kMagnitudeTable) {
  TableSpec spec;
  spec.keys = std::move(keys);
  spec.statistics = std::move(statistics);
  spec.total_label = std::move(total_label);
  Declaration d = Declare(type, std::move(spec));
  d.evidence = "evidence.json";
  return TestFile{.content = std::move(content),
                  .declaration = std::move(d),
                  .evidence = Evidence{std::move(cells)}};
}

inline CellEvidence Ev(std::size_t row, std::string column, std::int64_t n, double sum,
                       std::vector<double> largest, std::int64_t negatives = 0) {
  return CellEvidence{.row = row,
                      .column = std::move(column),
                      .n = n,
                      .sum = sum,
                      .largest = std::move(largest),
                      .negatives = negatives};
}

inline Profile Builtin(std::string_view name) { return BuiltinProfile(name).value(); }

// A rule's finding, or none when it did not apply. Reading a finding that is not there is a
// test failure (never undefined behaviour), so that a broken rule fails tests cleanly.
class RuleResult {
 public:
  explicit RuleResult(std::optional<Finding> finding) : finding_(std::move(finding)) {}
  bool has_value() const { return finding_.has_value(); }
  const Finding& operator*() const { return Get(); }
  const Finding* operator->() const { return &Get(); }

 private:
  const Finding& Get() const {
    static const Finding kNotApplied = [] {
      Finding f;
      f.rule = "(the rule did not apply)";
      return f;
    }();
    if (!finding_) {
      ADD_FAILURE() << "the rule did not apply";
      return kNotApplied;
    }
    return *finding_;
  }
  std::optional<Finding> finding_;
};

// Runs `filter` alone over `file`.
inline RuleResult RunRule(std::unique_ptr<OutputFilter> filter, const TestFile& file,
                          const Profile& profile = Builtin("acro-default"),
                          const std::vector<ReleasedTable>& history = {}) {
  std::vector<std::unique_ptr<OutputFilter>> chain;
  chain.push_back(std::move(filter));
  FileReport report = CheckFile(file.Input(), profile, history, chain);
  if (report.findings.empty()) return RuleResult(std::nullopt);
  return RuleResult(report.findings.front());
}

// "row:column" for each listed cell, for compact expectations.
inline std::vector<std::string> CellRefs(const Finding& finding) {
  std::vector<std::string> refs;
  for (const Cell& cell : finding.cells) refs.push_back(absl::StrCat(cell.row, ":", cell.column));
  return refs;
}

}  // namespace safeflow::executor::disclosure::testutil

#endif  // SAFEFLOW_TESTS_UNIT_DISCLOSURE_RULES_TEST_UTIL_H_
