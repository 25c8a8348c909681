// executor/disclosure/rules_tables.cc. The count rules: min_cell_count, zeros, rounding,
// histogram_bins and survival_steps.
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

#include "executor/disclosure/filter.h"
#include "executor/disclosure/rules_common.h"

namespace safeflow::executor::disclosure {
namespace {

using detail::CellValue;
using detail::ColumnRef;
using detail::FormatNumber;
using detail::NewFinding;
using detail::PresentColumns;
using detail::Spec;
using detail::TableUnreadable;
using detail::TypeIs;

bool Below(double v, int threshold) { return v > 0 && v < threshold; }

// Whether the evidence can be used; the reason when not.
std::optional<std::string> EvidenceUnusable(const FileContext& file) {
  if (!file.input.evidence_error.empty()) return file.input.evidence_error;
  if (!file.input.evidence) return std::string("not provided");
  return std::nullopt;
}

class MinCellCountFilter final : public OutputFilter {
 public:
  std::string_view Name() const override { return "min_cell_count"; }
  std::optional<Finding> Apply(const FileContext& file) const override {
    const int threshold = file.profile.threshold;
    const nlohmann::json params = {{"threshold", threshold}};
    if (TypeIs(file, {OutputType::kFrequencyTable})) {
      if (file.table == nullptr) return TableUnreadable(Name(), file, params);
      Finding f = NewFinding(Name(), params);
      const Table& table = *file.table;
      const std::vector<ColumnRef> counts = PresentColumns(table, Spec(file).counts);
      for (std::size_t r = 0; r < table.rows.size(); ++r) {
        for (const ColumnRef& c : counts) {
          const std::optional<double> v = CellValue(table.rows[r][c.index]);
          if (v && Below(*v, threshold)) {
            f.AddCell({r, c.name, table.rows[r][c.index],
                       absl::StrCat("fewer than ", threshold, " people")});
          }
        }
      }
      Conclude(file, f, "cell", "cells");
      return f;
    }
    if (TypeIs(file, {OutputType::kMagnitudeTable, OutputType::kMeanTable})) {
      Finding f = NewFinding(Name(), params);
      if (std::optional<std::string> why = EvidenceUnusable(file)) {
        f.outcome = Verdict::kFail;
        f.message = absl::StrCat("Not checked: no usable evidence (", *why, ").");
        return f;
      }
      for (const CellEvidence& e : file.input.evidence->cells) {
        const std::string value = detail::CellText(file.table, e.row, e.column);
        if (file.table != nullptr && e.row < file.table->rows.size() && IsSuppressed(value) &&
            file.table->Column(e.column) >= 0) {
          continue;
        }
        if (e.n > 0 && e.n < threshold) {
          f.AddCell({e.row, e.column, value,
                     absl::StrCat(e.n, e.n == 1 ? " contributor" : " contributors")});
        }
      }
      Conclude(file, f, "cell", "cells");
      return f;
    }
    return std::nullopt;
  }

 private:
  static void Conclude(const FileContext& file, Finding& f, std::string_view one,
                       std::string_view many) {
    const int threshold = file.profile.threshold;
    if (f.cells_total == 0) {
      f.message = absl::StrCat("Every cell is 0 or counts at least ", threshold, " people.");
      return;
    }
    f.outcome = file.profile.statistical_outcome;
    f.message = absl::StrCat(detail::Count(f.cells_total, one, many), " count",
                             f.cells_total == 1 ? "s" : "", " between 1 and ", threshold - 1,
                             " people (the threshold is ", threshold, ").");
  }
};

class ZerosFilter final : public OutputFilter {
 public:
  std::string_view Name() const override { return "zeros"; }
  std::optional<Finding> Apply(const FileContext& file) const override {
    if (!TypeIs(file, {OutputType::kFrequencyTable})) return std::nullopt;
    const nlohmann::json params = {{"zeros_disclosive", file.profile.zeros_disclosive}};
    Finding f = NewFinding(Name(), params);
    if (!file.profile.zeros_disclosive) {
      f.message = absl::StrCat("Zeros are not treated as disclosive under profile ",
                               file.profile.name, ".");
      return f;
    }
    if (file.table == nullptr) return TableUnreadable(Name(), file, params);
    const Table& table = *file.table;
    const std::vector<ColumnRef> counts = PresentColumns(table, Spec(file).counts);
    for (std::size_t r = 0; r < table.rows.size(); ++r) {
      for (const ColumnRef& c : counts) {
        const std::optional<double> v = CellValue(table.rows[r][c.index]);
        if (v && *v == 0) {
          f.AddCell({r, c.name, table.rows[r][c.index],
                     "a zero can show that everyone in a group shares an attribute"});
        }
      }
    }
    if (f.cells_total == 0) {
      f.message = "No count is zero.";
    } else {
      f.outcome = file.profile.statistical_outcome;
      f.message = absl::StrCat(detail::Count(f.cells_total, "count is", "counts are"),
                               " zero (structural or sampling zeros can be disclosive).");
    }
    return f;
  }
};

bool IsMultiple(double v, int base) {
  if (!detail::IsWhole(v)) return false;
  return std::llround(v) % base == 0;
}

class RoundingFilter final : public OutputFilter {
 public:
  std::string_view Name() const override { return "rounding"; }
  std::optional<Finding> Apply(const FileContext& file) const override {
    if (!TypeIs(file, {OutputType::kFrequencyTable, OutputType::kHistogram})) return std::nullopt;
    const int required = file.profile.required_rounding;
    const int declared = Spec(file).rounding;
    if (required <= 0 && declared == 0) return std::nullopt;
    const nlohmann::json params = {{"required", required}, {"declared", declared}};
    Finding f = NewFinding(Name(), params);
    if (declared < 0) {
      f.outcome = Verdict::kFail;
      f.message = absl::StrCat("The declared rounding base ", declared, " is negative.");
      return f;
    }
    if (file.table == nullptr) return TableUnreadable(Name(), file, params);
    // Counts rounded to a multiple of the required base are multiples of it too.
    const bool check_required = required > 0 && (declared == 0 || declared % required != 0);
    std::size_t wrong_declared = 0, unrounded = 0;
    const Table& table = *file.table;
    for (std::size_t r = 0; r < table.rows.size(); ++r) {
      for (const ColumnRef& c : PresentColumns(table, Spec(file).counts)) {
        const std::string& cell = table.rows[r][c.index];
        const std::optional<double> v = CellValue(cell);
        if (!v) continue;
        if (declared > 0 && !IsMultiple(*v, declared)) {
          ++wrong_declared;
          f.AddCell(
              {r, c.name, cell, absl::StrCat("not a multiple of the declared base ", declared)});
        } else if (check_required && !IsMultiple(*v, required)) {
          ++unrounded;
          f.AddCell(
              {r, c.name, cell, absl::StrCat("not a multiple of the required base ", required)});
        }
      }
    }
    if (wrong_declared > 0) {
      f.outcome = Verdict::kFail;
      f.message = absl::StrCat("The table was declared rounded to base ", declared, " but ",
                               detail::Count(wrong_declared, "count is", "counts are"),
                               " not multiples of it.");
      return f;
    }
    if (unrounded > 0) {
      f.outcome = file.profile.statistical_outcome;
      f.message =
          absl::StrCat("Profile ", file.profile.name, " requires counts rounded to base ", required,
                       "; ", detail::Count(unrounded, "count is", "counts are"), " not.");
      return f;
    }
    f.message = declared > 0
                    ? absl::StrCat("Every count is a multiple of the declared base ", declared, ".")
                    : absl::StrCat("Every count is a multiple of ", required, ".");
    return f;
  }
};

class HistogramFilter final : public OutputFilter {
 public:
  std::string_view Name() const override { return "histogram_bins"; }
  std::optional<Finding> Apply(const FileContext& file) const override {
    if (!TypeIs(file, {OutputType::kHistogram})) return std::nullopt;
    const int threshold = file.profile.threshold;
    const nlohmann::json params = {{"threshold", threshold}};
    if (file.table == nullptr) return TableUnreadable(Name(), file, params);
    Finding f = NewFinding(Name(), params);
    const Table& table = *file.table;
    const TableSpec& spec = Spec(file);
    std::vector<std::size_t> bins;  // data rows that are bins, not totals
    const std::vector<bool> margins = detail::MarginRows(table, spec);
    for (std::size_t r = 0; r < table.rows.size(); ++r) {
      if (!margins[r]) bins.push_back(r);
    }
    for (std::size_t i = 0; i < bins.size(); ++i) {
      const std::size_t r = bins[i];
      for (const ColumnRef& c : PresentColumns(table, spec.counts)) {
        const std::optional<double> v = CellValue(table.rows[r][c.index]);
        if (!v || !Below(*v, threshold)) continue;
        std::string note = absl::StrCat("fewer than ", threshold, " people in the bin");
        if (i == 0 || i + 1 == bins.size()) {
          absl::StrAppend(&note, i == 0 ? "; first" : "; last",
                          " bin: an open-ended extreme bin reveals outliers");
        }
        f.AddCell({r, c.name, table.rows[r][c.index], std::move(note)});
      }
    }
    if (f.cells_total == 0) {
      f.message = absl::StrCat("Every bin is empty or counts at least ", threshold, " people.");
    } else {
      f.outcome = file.profile.statistical_outcome;
      f.message = absl::StrCat(detail::Count(f.cells_total, "bin counts", "bins count"),
                               " between 1 and ", threshold - 1, " people.");
    }
    return f;
  }
};

class SurvivalFilter final : public OutputFilter {
 public:
  std::string_view Name() const override { return "survival_steps"; }
  std::optional<Finding> Apply(const FileContext& file) const override {
    if (!TypeIs(file, {OutputType::kSurvivalTable})) return std::nullopt;
    const int threshold = file.profile.threshold;
    const nlohmann::json params = {{"threshold", threshold}};
    if (file.table == nullptr) return TableUnreadable(Name(), file, params);
    Finding f = NewFinding(Name(), params);
    const Table& table = *file.table;
    const TableSpec& spec = Spec(file);
    const int time = spec.time.empty() ? -1 : table.Column(spec.time);
    const int at_risk = spec.at_risk.empty() ? -1 : table.Column(spec.at_risk);
    const int events = spec.events.empty() ? -1 : table.Column(spec.events);
    if (time < 0 || at_risk < 0 || events < 0) {
      f.outcome = Verdict::kFail;
      f.message = "Not checked: the declared time, at_risk or events column is missing.";
      return f;
    }
    // Strata: rows that agree on every key (one stratum when there are no keys).
    const std::vector<ColumnRef> keys = PresentColumns(table, spec.keys);
    std::map<std::string, std::vector<std::size_t>> strata;
    for (std::size_t r = 0; r < table.rows.size(); ++r) {
      strata[detail::RowKey(table.rows[r], keys)].push_back(r);
    }
    std::size_t bad_time = 0, small = 0;
    for (const auto& [key, rows] : strata) {
      std::optional<double> previous_time, previous_at_risk;
      for (std::size_t r : rows) {
        const std::vector<std::string>& row = table.rows[r];
        const std::string& time_cell = row[static_cast<std::size_t>(time)];
        const std::optional<double> t = ParseNumber(time_cell);
        if (!t) {
          ++bad_time;
          f.AddCell({r, spec.time, time_cell, "time is not a number"});
        } else if (previous_time && *t < *previous_time) {
          ++bad_time;
          f.AddCell(
              {r, spec.time, time_cell,
               absl::StrCat("time decreases (previous row: ", FormatNumber(*previous_time), ")")});
        }
        if (t) previous_time = t;
        const std::string& risk_cell = row[static_cast<std::size_t>(at_risk)];
        const std::optional<double> a = CellValue(risk_cell);
        if (a && Below(*a, threshold)) {
          ++small;
          f.AddCell({r, spec.at_risk, risk_cell,
                     absl::StrCat("fewer than ", threshold, " people at risk")});
        }
        if (a && previous_at_risk && Below(*previous_at_risk - *a, threshold)) {
          ++small;
          f.AddCell({r, spec.at_risk, risk_cell,
                     absl::StrCat("at risk drops by ", FormatNumber(*previous_at_risk - *a),
                                  ": the step reveals individual event or censoring times")});
        }
        if (a) previous_at_risk = a;
        const std::string& events_cell = row[static_cast<std::size_t>(events)];
        const std::optional<double> e = CellValue(events_cell);
        if (e && Below(*e, threshold)) {
          ++small;
          f.AddCell(
              {r, spec.events, events_cell, absl::StrCat("fewer than ", threshold, " events")});
        }
      }
    }
    if (bad_time > 0) {
      f.outcome = Verdict::kFail;
      f.message = absl::StrCat("The time column must be numeric and non-decreasing; ",
                               detail::Count(bad_time, "cell is", "cells are"), " not.");
      if (small > 0) {
        absl::StrAppend(&f.message, " ", detail::Count(small, "step", "steps"), " also involve",
                        small == 1 ? "s" : "", " fewer than ", threshold, " people.");
      }
      return f;
    }
    if (small > 0) {
      f.outcome = file.profile.statistical_outcome;
      f.message = absl::StrCat(detail::Count(small, "number at risk, event count or step",
                                             "numbers at risk, event counts or steps"),
                               " involve", small == 1 ? "s" : "", " between 1 and ", threshold - 1,
                               " people.");
      return f;
    }
    f.message = absl::StrCat("Every number at risk, event count and step involves 0 or at least ",
                             threshold, " people.");
    return f;
  }
};

}  // namespace

std::unique_ptr<OutputFilter> NewMinCellCountFilter() {
  return std::make_unique<MinCellCountFilter>();
}
std::unique_ptr<OutputFilter> NewZerosFilter() { return std::make_unique<ZerosFilter>(); }
std::unique_ptr<OutputFilter> NewRoundingFilter() { return std::make_unique<RoundingFilter>(); }
std::unique_ptr<OutputFilter> NewHistogramFilter() { return std::make_unique<HistogramFilter>(); }
std::unique_ptr<OutputFilter> NewSurvivalFilter() { return std::make_unique<SurvivalFilter>(); }

}  // namespace safeflow::executor::disclosure
