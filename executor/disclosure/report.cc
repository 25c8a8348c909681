// executor/disclosure/report.cc. Verdicts, findings and their JSON form.
#include "executor/disclosure/report.h"

#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace safeflow::executor::disclosure {
namespace {

// Reading a report back: each accessor checks presence and type and names the member's path
// ("findings[2].cells[0].row") in the error. Nothing here throws.
const nlohmann::json* Member(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

absl::Status Missing(const std::string& path) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": required"));
}

absl::Status WrongType(const std::string& path, std::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": must be ", std::string(expected)));
}

absl::Status ReadString(const nlohmann::json& object, const char* key, const std::string& prefix,
                        std::string& out) {
  const std::string path = absl::StrCat(prefix, key);
  const nlohmann::json* value = Member(object, key);
  if (value == nullptr) return Missing(path);
  if (!value->is_string()) return WrongType(path, "a string");
  out = value->get_ref<const std::string&>();
  return absl::OkStatus();
}

absl::Status ReadUnsigned(const nlohmann::json& object, const char* key, const std::string& prefix,
                          std::uint64_t& out) {
  const std::string path = absl::StrCat(prefix, key);
  const nlohmann::json* value = Member(object, key);
  if (value == nullptr) return Missing(path);
  if (value->is_number_unsigned()) {
    out = value->get<std::uint64_t>();
    return absl::OkStatus();
  }
  if (value->is_number_integer() && value->get<std::int64_t>() >= 0) {
    out = static_cast<std::uint64_t>(value->get<std::int64_t>());
    return absl::OkStatus();
  }
  return WrongType(path, "a non-negative integer");
}

absl::Status ReadVerdict(const nlohmann::json& object, const char* key, const std::string& prefix,
                         Verdict& out) {
  std::string name;
  if (absl::Status s = ReadString(object, key, prefix, name); !s.ok()) return s;
  std::optional<Verdict> verdict = ParseVerdict(name);
  if (!verdict) return WrongType(absl::StrCat(prefix, key), "\"pass\", \"review\" or \"fail\"");
  out = *verdict;
  return absl::OkStatus();
}

absl::StatusOr<Cell> CellFromJson(const nlohmann::json& json, const std::string& prefix) {
  if (!json.is_object()) return WrongType(prefix.substr(0, prefix.size() - 1), "an object");
  Cell cell;
  std::uint64_t row = 0;
  if (absl::Status s = ReadUnsigned(json, "row", prefix, row); !s.ok()) return s;
  if (row > std::numeric_limits<std::size_t>::max()) {
    return WrongType(absl::StrCat(prefix, "row"), "a row number");
  }
  cell.row = static_cast<std::size_t>(row);
  if (absl::Status s = ReadString(json, "column", prefix, cell.column); !s.ok()) return s;
  if (absl::Status s = ReadString(json, "value", prefix, cell.value); !s.ok()) return s;
  if (absl::Status s = ReadString(json, "note", prefix, cell.note); !s.ok()) return s;
  return cell;
}

absl::StatusOr<Finding> FindingFromJson(const nlohmann::json& json, const std::string& prefix) {
  if (!json.is_object()) return WrongType(prefix.substr(0, prefix.size() - 1), "an object");
  Finding finding;
  if (absl::Status s = ReadString(json, "rule", prefix, finding.rule); !s.ok()) return s;
  if (absl::Status s = ReadVerdict(json, "outcome", prefix, finding.outcome); !s.ok()) return s;
  if (absl::Status s = ReadString(json, "message", prefix, finding.message); !s.ok()) return s;
  const nlohmann::json* parameters = Member(json, "parameters");
  if (parameters == nullptr) return Missing(absl::StrCat(prefix, "parameters"));
  if (!parameters->is_object()) return WrongType(absl::StrCat(prefix, "parameters"), "an object");
  finding.parameters = *parameters;
  const nlohmann::json* cells = Member(json, "cells");
  if (cells == nullptr) return Missing(absl::StrCat(prefix, "cells"));
  if (!cells->is_array()) return WrongType(absl::StrCat(prefix, "cells"), "an array");
  if (cells->size() > kMaxCellsPerFinding) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "cells: at most ", kMaxCellsPerFinding, " cells are listed"));
  }
  for (std::size_t i = 0; i < cells->size(); ++i) {
    absl::StatusOr<Cell> cell = CellFromJson((*cells)[i], absl::StrCat(prefix, "cells[", i, "]."));
    if (!cell.ok()) return cell.status();
    finding.cells.push_back(*std::move(cell));
  }
  std::uint64_t total = 0;
  if (absl::Status s = ReadUnsigned(json, "cells_total", prefix, total); !s.ok()) return s;
  if (total < finding.cells.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "cells_total: smaller than the number of cells listed"));
  }
  finding.cells_total = static_cast<std::size_t>(total);
  return finding;
}

}  // namespace

std::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kPass:
      return "pass";
    case Verdict::kReview:
      return "review";
    case Verdict::kFail:
      return "fail";
  }
  return "fail";  // Not reached for valid enumerators; never claim a pass.
}

std::optional<Verdict> ParseVerdict(std::string_view name) {
  if (name == "pass") return Verdict::kPass;
  if (name == "review") return Verdict::kReview;
  if (name == "fail") return Verdict::kFail;
  return std::nullopt;
}

void Finding::AddCell(Cell cell) {
  if (cells.size() < kMaxCellsPerFinding) cells.push_back(std::move(cell));
  ++cells_total;
}

nlohmann::json ToJson(const Cell& cell) {
  return nlohmann::json{
      {"row", cell.row}, {"column", cell.column}, {"value", cell.value}, {"note", cell.note}};
}

nlohmann::json ToJson(const Finding& finding) {
  nlohmann::json cells = nlohmann::json::array();
  for (const Cell& cell : finding.cells) cells.push_back(ToJson(cell));
  return nlohmann::json{{"rule", finding.rule},
                        {"outcome", std::string(VerdictName(finding.outcome))},
                        {"message", finding.message},
                        {"parameters", finding.parameters.is_object() ? finding.parameters
                                                                      : nlohmann::json::object()},
                        {"cells", std::move(cells)},
                        {"cells_total", finding.cells_total}};
}

nlohmann::json ToJson(const FileReport& report) {
  nlohmann::json findings = nlohmann::json::array();
  for (const Finding& finding : report.findings) findings.push_back(ToJson(finding));
  nlohmann::json rules = nlohmann::json::array();
  for (const std::string& rule : report.rules_applied) rules.push_back(rule);
  return nlohmann::json{{"name", report.name},
                        {"path", report.path},
                        {"sha256", report.sha256},
                        {"size_bytes", report.size_bytes},
                        {"type", report.type},
                        {"profile", report.profile},
                        {"verdict", std::string(VerdictName(report.verdict))},
                        {"rules_applied", std::move(rules)},
                        {"findings", std::move(findings)}};
}

absl::StatusOr<FileReport> FileReportFromJson(const nlohmann::json& json) {
  if (!json.is_object()) return WrongType("report", "an object");
  FileReport report;
  const std::string top;
  if (absl::Status s = ReadString(json, "name", top, report.name); !s.ok()) return s;
  if (absl::Status s = ReadString(json, "path", top, report.path); !s.ok()) return s;
  if (absl::Status s = ReadString(json, "sha256", top, report.sha256); !s.ok()) return s;
  if (absl::Status s = ReadUnsigned(json, "size_bytes", top, report.size_bytes); !s.ok()) return s;
  if (absl::Status s = ReadString(json, "type", top, report.type); !s.ok()) return s;
  if (absl::Status s = ReadString(json, "profile", top, report.profile); !s.ok()) return s;
  if (absl::Status s = ReadVerdict(json, "verdict", top, report.verdict); !s.ok()) return s;
  const nlohmann::json* rules = Member(json, "rules_applied");
  if (rules == nullptr) return Missing("rules_applied");
  if (!rules->is_array()) return WrongType("rules_applied", "an array of strings");
  for (std::size_t i = 0; i < rules->size(); ++i) {
    if (!(*rules)[i].is_string()) {
      return WrongType(absl::StrCat("rules_applied[", i, "]"), "a string");
    }
    report.rules_applied.push_back((*rules)[i].get<std::string>());
  }
  const nlohmann::json* findings = Member(json, "findings");
  if (findings == nullptr) return Missing("findings");
  if (!findings->is_array()) return WrongType("findings", "an array");
  for (std::size_t i = 0; i < findings->size(); ++i) {
    absl::StatusOr<Finding> finding =
        FindingFromJson((*findings)[i], absl::StrCat("findings[", i, "]."));
    if (!finding.ok()) return finding.status();
    report.findings.push_back(*std::move(finding));
  }
  return report;
}

Verdict CombinedVerdict(const std::vector<Finding>& findings) {
  if (findings.empty()) return Verdict::kFail;
  Verdict verdict = Verdict::kPass;
  for (const Finding& finding : findings) verdict = Worst(verdict, finding.outcome);
  return verdict;
}

}  // namespace safeflow::executor::disclosure
