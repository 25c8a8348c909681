// executor/disclosure/report.h. What the disclosure filter says about one file: a verdict
// (pass < review < fail, the worst finding wins) and one finding per rule applied, each with
// the rule's parameters, its outcome and the cells that decided it. The report is what the
// airlock stores, what checkers read and what `safeflow check-outputs --json` prints; its JSON
// form is specified by schemas/disclosure/report.schema.json. Pure data, no I/O.
#ifndef SAFEFLOW_EXECUTOR_DISCLOSURE_REPORT_H_
#define SAFEFLOW_EXECUTOR_DISCLOSURE_REPORT_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace safeflow::executor::disclosure {

enum class Verdict { kPass = 0, kReview = 1, kFail = 2 };

std::string_view VerdictName(Verdict verdict);  // "pass", "review", "fail"
std::optional<Verdict> ParseVerdict(std::string_view name);
inline Verdict Worst(Verdict a, Verdict b) { return a > b ? a : b; }

// At most this many cells are listed per finding; `cells_total` counts them all.
inline constexpr std::size_t kMaxCellsPerFinding = 100;

// A cell of a table (row: 0-based data row, the header not counted; column: its header name)
// or a place in a text file (row: 1-based line number, column: empty). `value` is the text
// found there, except for identifiers, whose value is masked ("943*******") so that the report
// itself never discloses them.
struct Cell {
  std::size_t row = 0;
  std::string column;
  std::string value;
  std::string note;  // e.g. "recoverable as 7 from the row total", "sum of top 2 = 0.93"
};

struct Finding {
  std::string rule;  // e.g. "min_cell_count", one of the names in README.md
  Verdict outcome = Verdict::kPass;
  std::string message;                                   // one sentence for people
  nlohmann::json parameters = nlohmann::json::object();  // e.g. {"threshold": 10}
  std::vector<Cell> cells;                               // at most kMaxCellsPerFinding
  std::size_t cells_total = 0;

  // Appends `cell` while fewer than kMaxCellsPerFinding are listed; always counts it.
  void AddCell(Cell cell);
};

struct FileReport {
  std::string name;    // the output's name (WES) or the file's path as given (offline)
  std::string path;    // the file's path relative to its output directory, or as given
  std::string sha256;  // lower-case hex of the bytes checked
  std::uint64_t size_bytes = 0;
  std::string type;     // declared output type, or "undeclared"
  std::string profile;  // the profile's name
  Verdict verdict = Verdict::kFail;
  std::vector<std::string> rules_applied;  // in order; one finding each
  std::vector<Finding> findings;
};

nlohmann::json ToJson(const Cell& cell);
nlohmann::json ToJson(const Finding& finding);
nlohmann::json ToJson(const FileReport& report);
// InvalidArgument naming the first member that is missing or of the wrong type.
[[nodiscard]] absl::StatusOr<FileReport> FileReportFromJson(const nlohmann::json& json);

// The verdict as the worst of the findings' outcomes; kFail when there are none (deny by
// default: a file no rule looked at never passes).
Verdict CombinedVerdict(const std::vector<Finding>& findings);

}  // namespace safeflow::executor::disclosure

#endif  // SAFEFLOW_EXECUTOR_DISCLOSURE_REPORT_H_
