// executor/disclosure/rules_common.h. Internal to the disclosure library: small helpers the
// table rules (filter.cc, rules_*.cc) share. Not part of the library's contract; include it
// from executor/disclosure/*.cc only. Pure functions, thread-safe.
#ifndef SAFEFLOW_EXECUTOR_DISCLOSURE_RULES_COMMON_H_
#define SAFEFLOW_EXECUTOR_DISCLOSURE_RULES_COMMON_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"

#include "executor/disclosure/declaration.h"
#include "executor/disclosure/filter.h"
#include "executor/disclosure/report.h"
#include "executor/disclosure/table.h"

namespace safeflow::executor::disclosure::detail {

// CheckFile writes table_error as "<CODE>: <message>" (e.g. "RESOURCE_EXHAUSTED: more than 10
// data rows"), so that rules can tell a too-long table from a malformed one.
inline constexpr std::string_view kTooManyRowsPrefix = "RESOURCE_EXHAUSTED: ";

// Types declared with table metadata (TableSpec): frequency, magnitude, mean, histogram, survival.
bool HasTableSpec(OutputType type);

// Whether the context's declared type is one of `types`.
bool TypeIs(const FileContext& file, std::initializer_list<OutputType> types);

// A finding for `rule` with outcome pass and the given parameters.
Finding NewFinding(std::string_view rule, nlohmann::json parameters = nlohmann::json::object());

// The finding of a rule that applies to the file but cannot check it because the table was not
// parsed: fail (deny by default), naming the parse error.
Finding TableUnreadable(std::string_view rule, const FileContext& file,
                        nlohmann::json parameters = nlohmann::json::object());

// A declared column that is present in the table.
struct ColumnRef {
  std::size_t index = 0;
  std::string name;
};
// The columns among `names` that the table has, in the order given, without duplicates.
std::vector<ColumnRef> PresentColumns(const Table& table, const std::vector<std::string>& names);

// Every count column of a declaration: counts, and for survival tables at_risk, events and
// censored (those set). Statistics columns are `spec.statistics`.
std::vector<std::string> CountColumnNames(const TableSpec& spec);

// Whether any key column of `row` equals spec.total_label (never when the label is empty).
bool IsMarginRow(const Table& table, const TableSpec& spec, std::size_t row);
// IsMarginRow for every row, computed once.
std::vector<bool> MarginRows(const Table& table, const TableSpec& spec);

// An unambiguous key of the cells of `row` in `columns` (all but `skip`, when given), for
// grouping rows: each value prefixed by its length.
std::string RowKey(const std::vector<std::string>& row, const std::vector<ColumnRef>& columns,
                   std::optional<std::size_t> skip = std::nullopt);

// The number in a cell that is not suppressed; nullopt for suppressed or non-numeric cells.
std::optional<double> CellValue(std::string_view cell);

// Whether v is a whole number (within 1e-9) that fits the exact range of a double.
bool IsWhole(double v);

// "12" for whole numbers, else up to 10 significant digits ("0.9333333333").
std::string FormatNumber(double v);

// a > b beyond a relative tolerance of 1e-9 (so that "exactly at the limit" passes despite
// rounding in k * sum).
bool ClearlyGreater(double a, double b);

// "1 cell" / "3 cells".
std::string Count(std::size_t n, std::string_view singular, std::string_view plural);

// The text of table cell (row, column name), or "" when either does not exist.
std::string CellText(const Table* table, std::size_t row, std::string_view column);

// The declaration's table spec (an empty spec when undeclared).
const TableSpec& Spec(const FileContext& file);

}  // namespace safeflow::executor::disclosure::detail

#endif  // SAFEFLOW_EXECUTOR_DISCLOSURE_RULES_COMMON_H_
