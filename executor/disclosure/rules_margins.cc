// executor/disclosure/rules_margins.cc. margin_recovery: whether suppressed cells of a
// frequency or magnitude table can be recovered from its margins (totals).
//
// Each margin gives an equation "margin = sum of its detail cells": long format (a margin row
// has total_label in key column d; its details are the rows that agree with it on every other
// key), wide format (a count/statistic column named total_label; its details are the other
// value cells of the row), or both. An equation with exactly one unknown cell reveals it.
// Recovered cells become known, so recoveries chain (a work-list, linear in the table size).
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

#include "executor/disclosure/filter.h"
#include "executor/disclosure/rules_common.h"

namespace safeflow::executor::disclosure {
namespace {

using detail::ColumnRef;
using detail::FormatNumber;
using detail::NewFinding;
using detail::PresentColumns;
using detail::Spec;
using detail::TypeIs;

struct Equation {
  std::size_t margin = 0;            // cell id
  std::vector<std::size_t> details;  // cell ids
  std::string where;                 // "the total row 5" / "the row total"
};

class Grid {
 public:
  Grid(const Table& table, std::vector<ColumnRef> columns)
      : table_(table), columns_(std::move(columns)) {
    values_.resize(table.rows.size() * columns_.size());
    suppressed_.resize(values_.size());
    for (std::size_t r = 0; r < table.rows.size(); ++r) {
      for (std::size_t c = 0; c < columns_.size(); ++c) {
        const std::string& cell = table.rows[r][columns_[c].index];
        suppressed_[Id(r, c)] = IsSuppressed(cell);
        values_[Id(r, c)] = detail::CellValue(cell);
      }
    }
  }
  std::size_t Id(std::size_t row, std::size_t column) const {
    return row * columns_.size() + column;
  }
  std::size_t Row(std::size_t id) const { return id / columns_.size(); }
  const ColumnRef& Column(std::size_t id) const { return columns_[id % columns_.size()]; }
  const std::string& Text(std::size_t id) const { return table_.rows[Row(id)][Column(id).index]; }
  std::size_t size() const { return values_.size(); }
  std::size_t columns() const { return columns_.size(); }

  std::vector<std::optional<double>> values_;
  std::vector<bool> suppressed_;

 private:
  const Table& table_;
  const std::vector<ColumnRef> columns_;
};

class MarginsFilter final : public OutputFilter {
 public:
  std::string_view Name() const override { return "margin_recovery"; }
  std::optional<Finding> Apply(const FileContext& file) const override {
    if (!TypeIs(file, {OutputType::kFrequencyTable, OutputType::kMagnitudeTable})) {
      return std::nullopt;
    }
    const TableSpec& spec = Spec(file);
    const nlohmann::json params = {{"total_label", spec.total_label}};
    if (file.table == nullptr) return detail::TableUnreadable(Name(), file, params);
    const Table& table = *file.table;
    const bool frequency = TypeIs(file, {OutputType::kFrequencyTable});
    Grid grid(table, PresentColumns(table, frequency ? spec.counts : spec.statistics));
    bool any_suppressed = false;
    for (std::size_t id = 0; id < grid.size(); ++id) any_suppressed |= grid.suppressed_[id];
    if (!any_suppressed) return std::nullopt;

    Finding f = NewFinding(Name(), params);
    if (spec.total_label.empty()) {
      f.outcome = Verdict::kReview;
      f.message = "The table has suppressed cells but no declared margins: cannot check recovery.";
      return f;
    }
    const std::vector<Equation> equations = Equations(table, spec, grid);
    Solve(grid, equations, spec, f);
    if (f.cells_total == 0) {
      f.message = "No suppressed cell can be recovered from the margins.";
      return f;
    }
    f.outcome = file.profile.statistical_outcome;
    f.message = absl::StrCat(detail::Count(f.cells_total, "suppressed cell", "suppressed cells"),
                             " can be recovered by subtraction from the margins.");
    return f;
  }

 private:
  static std::vector<Equation> Equations(const Table& table, const TableSpec& spec,
                                         const Grid& grid) {
    std::vector<Equation> equations;
    const std::vector<ColumnRef> keys = PresentColumns(table, spec.keys);
    // Long format: for each key dimension d, rows grouped by their other keys.
    for (std::size_t d = 0; d < keys.size(); ++d) {
      struct Group {
        std::vector<std::size_t> margins, details;
      };
      std::map<std::string, Group> groups;  // ordered: reports must not depend on hashing
      for (std::size_t r = 0; r < table.rows.size(); ++r) {
        Group& g = groups[detail::RowKey(table.rows[r], keys, d)];
        (table.rows[r][keys[d].index] == spec.total_label ? g.margins : g.details).push_back(r);
      }
      for (const auto& [others, g] : groups) {
        if (g.details.empty()) continue;
        for (std::size_t m : g.margins) {
          for (std::size_t c = 0; c < grid.columns(); ++c) {
            Equation e;
            e.margin = grid.Id(m, c);
            for (std::size_t r : g.details) e.details.push_back(grid.Id(r, c));
            e.where = absl::StrCat("the ", keys[d].name, " total in row ", m);
            equations.push_back(std::move(e));
          }
        }
      }
    }
    // Wide format: a value column named total_label is each row's margin.
    std::optional<std::size_t> total;
    for (std::size_t c = 0; c < grid.columns(); ++c) {
      if (grid.Column(grid.Id(0, c)).name == spec.total_label) total = c;
    }
    if (total && grid.columns() > 1) {
      for (std::size_t r = 0; r < table.rows.size(); ++r) {
        Equation e;
        e.margin = grid.Id(r, *total);
        for (std::size_t c = 0; c < grid.columns(); ++c) {
          if (c != *total) e.details.push_back(grid.Id(r, c));
        }
        e.where = absl::StrCat("the ", spec.total_label, " column");
        equations.push_back(std::move(e));
      }
    }
    return equations;
  }

  static void Solve(Grid& grid, const std::vector<Equation>& equations, const TableSpec& spec,
                    Finding& f) {
    std::vector<std::vector<std::size_t>> cell_equations(grid.size());
    std::vector<std::size_t> unknown(equations.size(), 0);
    std::deque<std::size_t> ready;
    for (std::size_t e = 0; e < equations.size(); ++e) {
      auto visit = [&](std::size_t id) {
        cell_equations[id].push_back(e);
        if (!grid.values_[id]) ++unknown[e];
      };
      visit(equations[e].margin);
      for (std::size_t id : equations[e].details) visit(id);
      if (unknown[e] == 1) ready.push_back(e);
    }
    std::vector<bool> recovered(grid.size(), false);
    while (!ready.empty()) {
      const std::size_t e = ready.front();
      ready.pop_front();
      if (unknown[e] != 1) continue;
      const Equation& eq = equations[e];
      // margin = sum(details): solve for the one unknown cell.
      std::optional<std::size_t> target;
      double details_sum = 0;
      bool chained = false;
      for (std::size_t id : eq.details) {
        if (!grid.values_[id]) {
          target = id;
        } else {
          details_sum += *grid.values_[id];
          chained |= recovered[id];
        }
      }
      double value = 0;
      if (!target) {
        target = eq.margin;
        value = details_sum;
      } else {
        value = *grid.values_[eq.margin] - details_sum;
        chained |= recovered[eq.margin];
      }
      grid.values_[*target] = value;
      recovered[*target] = true;
      if (grid.suppressed_[*target]) {
        std::string note = absl::StrCat("recoverable as ", FormatNumber(value), " from ", eq.where);
        if (chained) absl::StrAppend(&note, ", after recovering other cells");
        if (spec.rounding > 0) {
          absl::StrAppend(&note, " (approximately: the table is rounded to base ", spec.rounding,
                          ")");
        }
        f.AddCell(
            {grid.Row(*target), grid.Column(*target).name, grid.Text(*target), std::move(note)});
      }
      for (std::size_t other : cell_equations[*target]) {
        if (--unknown[other] == 1) ready.push_back(other);
      }
    }
  }
};

}  // namespace

std::unique_ptr<OutputFilter> NewMarginsFilter() { return std::make_unique<MarginsFilter>(); }

}  // namespace safeflow::executor::disclosure
