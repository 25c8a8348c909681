// executor/disclosure/declaration.h. How a workflow declares an output that is to leave the
// zone (the entries of a manifest's "outputs", or FILE.disclosure.json beside a file checked
// offline), and the per-cell evidence sidecar a workflow writes inside the zone for magnitude
// and mean tables. JSON forms: schemas/disclosure/output-declaration.schema.json and
// schemas/disclosure/evidence.schema.json. Pure data, no I/O.
//
//   {"name": "costs", "path": "costs_by_region.csv", "type": "magnitude_table",
//    "table": {"keys": ["region"], "statistics": ["total_cost"], "total_label": "Total"},
//    "evidence": "evidence/costs_by_region.json"}
#ifndef SAFEFLOW_EXECUTOR_DISCLOSURE_DECLARATION_H_
#define SAFEFLOW_EXECUTOR_DISCLOSURE_DECLARATION_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace safeflow::executor::disclosure {

enum class OutputType {
  kFrequencyTable,  // counts of people per cell
  kMagnitudeTable,  // sums (costs, doses) per cell: needs evidence
  kMeanTable,       // means/medians per cell: needs evidence (n per cell at least)
  kRegression,      // a model summary (R, statsmodels, Stata text, or JSON)
  kHistogram,       // bin counts (a table with a count column)
  kSurvivalTable,   // life table / Kaplan-Meier: time, numbers at risk, events
  kFigure,          // PNG, SVG, PDF: never passes automatically
  kText,            // free text, logs
  kDataExtract,     // row-level data: fails unless the profile allows extracts
  kOther,
};
std::string_view OutputTypeName(OutputType type);  // "frequency_table", ...
std::optional<OutputType> ParseOutputType(std::string_view name);
// Whether the type has table metadata (frequency, magnitude, mean, histogram, survival).
bool IsTableType(OutputType type);
// All type names, in declaration order (for messages and schemas).
const std::vector<std::string_view>& OutputTypeNames();

// Table metadata (frequency, magnitude, mean, histogram and survival tables). Columns are
// named by their header. A table is CSV (or TSV when `delimiter` is '\t') with one header row.
struct TableSpec {
  std::vector<std::string> keys;        // classifying columns (row labels), may be empty
  std::vector<std::string> counts;      // count columns (frequency tables, histograms)
  std::vector<std::string> statistics;  // magnitude / mean value columns
  // A margin (total) is a row whose key cell equals total_label, or a count/statistic column
  // of that name. Empty: the table has no margins.
  std::string total_label;
  int rounding = 0;  // counts were rounded to this base (0: not rounded)
  // Survival tables: the time column, the number at risk, events and (optional) censored.
  std::string time, at_risk, events, censored;
  char delimiter = ',';
};

struct Declaration {
  std::string name;  // [A-Za-z0-9][A-Za-z0-9._-]{0,63}; the key in the WES RunLog.outputs
  std::string path;  // relative to the run's output directory (no "..", not absolute)
  OutputType type = OutputType::kOther;
  std::string description;
  TableSpec table;       // required members depend on the type (see ParseDeclaration)
  std::string evidence;  // sidecar path relative to the output directory; "" none
};

// Parses and checks one declaration, reporting every problem at once (InvalidArgument, one
// "<member>: problem" per line). Unknown members are refused. `require_name_and_path` is false
// for FILE.disclosure.json, where the file gives both. Per type:
//   frequency_table, histogram: table.counts non-empty;
//   magnitude_table, mean_table: table.statistics non-empty and evidence set;
//   survival_table: table.time, table.at_risk and table.events set;
//   others: no table.
[[nodiscard]] absl::StatusOr<Declaration> ParseDeclaration(const nlohmann::json& json,
                                                           bool require_name_and_path = true);
nlohmann::json ToJson(const Declaration& declaration);

// One cell's evidence: who contributed to a magnitude or mean cell. Produced inside the zone,
// read by the filter, never released.
struct CellEvidence {
  std::size_t row = 0;          // 0-based data row of the table
  std::string column;           // a statistics column
  std::int64_t n = 0;           // contributors (people) in the cell
  double sum = 0;               // sum of the contributions (absolute values for dominance)
  std::vector<double> largest;  // largest contributions, descending (at least 2 when n >= 2)
  std::int64_t negatives = 0;   // contributions below zero
};

struct Evidence {
  std::vector<CellEvidence> cells;
};

// {"version": 1, "cells": [{"row": 0, "column": "total_cost", "n": 12, "sum": 3400.5,
//   "largest": [800, 650], "negatives": 0}, ...]}. InvalidArgument listing every problem.
[[nodiscard]] absl::StatusOr<Evidence> ParseEvidence(const nlohmann::json& json);

}  // namespace safeflow::executor::disclosure

#endif  // SAFEFLOW_EXECUTOR_DISCLOSURE_DECLARATION_H_
