// executor/disclosure/rules_common.cc. Helpers shared by the rules.
#include "executor/disclosure/rules_common.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"

namespace safeflow::executor::disclosure::detail {

bool HasTableSpec(OutputType type) { return IsTableType(type); }

bool TypeIs(const FileContext& file, std::initializer_list<OutputType> types) {
  const std::optional<OutputType> type = file.type();
  if (!type) return false;
  for (OutputType t : types) {
    if (*type == t) return true;
  }
  return false;
}

Finding NewFinding(std::string_view rule, nlohmann::json parameters) {
  Finding finding;
  finding.rule = std::string(rule);
  finding.outcome = Verdict::kPass;
  finding.parameters = std::move(parameters);
  return finding;
}

Finding TableUnreadable(std::string_view rule, const FileContext& file, nlohmann::json parameters) {
  Finding finding = NewFinding(rule, std::move(parameters));
  finding.outcome = Verdict::kFail;
  finding.message =
      absl::StrCat("Not checked: the table could not be read (",
                   file.table_error.empty() ? std::string("no table") : file.table_error, ").");
  return finding;
}

std::vector<ColumnRef> PresentColumns(const Table& table, const std::vector<std::string>& names) {
  std::vector<ColumnRef> columns;
  std::set<std::string> seen;
  for (const std::string& name : names) {
    const int index = table.Column(name);
    if (index < 0 || !seen.insert(name).second) continue;
    columns.push_back({static_cast<std::size_t>(index), name});
  }
  return columns;
}

std::vector<std::string> CountColumnNames(const TableSpec& spec) {
  std::vector<std::string> names = spec.counts;
  for (const std::string* name : {&spec.at_risk, &spec.events, &spec.censored}) {
    if (!name->empty()) names.push_back(*name);
  }
  return names;
}

bool IsMarginRow(const Table& table, const TableSpec& spec, std::size_t row) {
  if (spec.total_label.empty() || row >= table.rows.size()) return false;
  for (const std::string& key : spec.keys) {
    const int index = table.Column(key);
    if (index >= 0 && table.rows[row][static_cast<std::size_t>(index)] == spec.total_label) {
      return true;
    }
  }
  return false;
}

std::vector<bool> MarginRows(const Table& table, const TableSpec& spec) {
  std::vector<bool> margins(table.rows.size(), false);
  if (spec.total_label.empty()) return margins;
  const std::vector<ColumnRef> keys = PresentColumns(table, spec.keys);
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    for (const ColumnRef& key : keys) {
      if (table.rows[r][key.index] == spec.total_label) {
        margins[r] = true;
        break;
      }
    }
  }
  return margins;
}

std::string RowKey(const std::vector<std::string>& row, const std::vector<ColumnRef>& columns,
                   std::optional<std::size_t> skip) {
  std::string key;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (skip && *skip == i) continue;
    const std::string& value = row[columns[i].index];
    absl::StrAppend(&key, value.size(), ":", value);
  }
  return key;
}

std::optional<double> CellValue(std::string_view cell) {
  if (IsSuppressed(cell)) return std::nullopt;
  return ParseNumber(cell);
}

bool IsWhole(double v) {
  if (!std::isfinite(v) || std::fabs(v) > 9007199254740992.0) return false;
  return std::fabs(v - std::round(v)) <= 1e-9;
}

std::string FormatNumber(double v) {
  if (IsWhole(v)) return absl::StrCat(static_cast<std::int64_t>(std::llround(v)));
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.10g", v);
  return buffer;
}

bool ClearlyGreater(double a, double b) {
  const double scale = std::max({std::fabs(a), std::fabs(b), 1e-300});
  return a - b > 1e-9 * scale;
}

std::string Count(std::size_t n, std::string_view singular, std::string_view plural) {
  return absl::StrCat(n, " ", std::string(n == 1 ? singular : plural));
}

std::string CellText(const Table* table, std::size_t row, std::string_view column) {
  if (table == nullptr || row >= table->rows.size()) return "";
  const int index = table->Column(column);
  if (index < 0) return "";
  return table->rows[row][static_cast<std::size_t>(index)];
}

const TableSpec& Spec(const FileContext& file) {
  static const auto* const kEmpty = new TableSpec();
  return file.input.declaration ? file.input.declaration->table : *kEmpty;
}

}  // namespace safeflow::executor::disclosure::detail
