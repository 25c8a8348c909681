// executor/disclosure/rules_differencing.cc. differencing: a frequency table or histogram that
// differs from one the project already released by only a few people lets anyone subtract the
// two and learn about that small group.
//
// D, the difference to a release, is the sum of |a - b| over the detail count cells of rows
// matched by their keys (by row order when there are no keys); a row only one table has counts
// fully. Margins (total rows, the total column) are left out, since they repeat the detail
// differences. Cells suppressed in either table are skipped: their difference is not known.
#include <cmath>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
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
using detail::TypeIs;

char DelimiterFor(const ReleasedTable& release) {
  const std::string& path = release.path;
  const bool tsv = path.size() >= 4 && (path.compare(path.size() - 4, 4, ".tsv") == 0 ||
                                        path.compare(path.size() - 4, 4, ".TSV") == 0);
  const char declared = release.declaration.table.delimiter;
  return (tsv && declared == ',') ? '\t' : declared;
}

struct Comparison {
  double difference = 0;
  std::vector<Cell> cells;  // where the tables differ
};

std::string ReleaseName(const ReleasedTable& release) {
  return absl::StrCat(release.request_id, "/", release.name);
}

class DifferencingFilter final : public OutputFilter {
 public:
  std::string_view Name() const override { return "differencing"; }
  std::optional<Finding> Apply(const FileContext& file) const override {
    if (!TypeIs(file, {OutputType::kFrequencyTable, OutputType::kHistogram})) return std::nullopt;
    const int threshold = file.profile.differencing_threshold;
    const nlohmann::json params = {{"threshold", threshold}};
    if (file.table == nullptr) return detail::TableUnreadable(Name(), file, params);
    const OutputType type = *file.type();
    Finding f = NewFinding(Name(), params);

    std::size_t comparable = 0;
    std::vector<const ReleasedTable*> identical;
    std::vector<std::pair<const ReleasedTable*, Comparison>> close;
    for (const ReleasedTable& release : file.history) {
      if (release.declaration.type != type) continue;
      absl::StatusOr<Table> released =
          ParseTable(release.content, DelimiterFor(release), file.profile.max_rows);
      if (!released.ok() || released->header != file.table->header) continue;
      ++comparable;
      Comparison c = Compare(file, *released, release);
      if (c.difference == 0) {
        identical.push_back(&release);
      } else if (c.difference < threshold) {
        close.emplace_back(&release, std::move(c));
      }
    }

    if (!close.empty()) {
      f.outcome = file.profile.statistical_outcome;
      const auto& [first, comparison] = close.front();
      f.message =
          absl::StrCat("The table differs from the released ", ReleaseName(*first), " by only ",
                       FormatNumber(comparison.difference), " (fewer than ", threshold,
                       "): subtracting one from the other reveals a small group.");
      if (close.size() > 1) {
        absl::StrAppend(&f.message, " ", close.size() - 1, " other release",
                        close.size() == 2 ? " is" : "s are", " as close.");
      }
      for (auto& [release, c] : close) {
        for (Cell& cell : c.cells) f.AddCell(std::move(cell));
      }
      return f;
    }
    if (comparable == 0) {
      f.message = "No comparable earlier release (same type and header).";
    } else if (!identical.empty()) {
      f.message = absl::StrCat("Identical to the released ", ReleaseName(*identical.front()),
                               " in every compared count.");
    } else {
      f.message =
          absl::StrCat("Differs from each of ",
                       detail::Count(comparable, "comparable release", "comparable releases"),
                       " by at least ", threshold, ".");
    }
    return f;
  }

 private:
  static Comparison Compare(const FileContext& file, const Table& released,
                            const ReleasedTable& release) {
    const Table& table = *file.table;
    const TableSpec& spec = Spec(file);
    const std::vector<ColumnRef> keys = PresentColumns(table, spec.keys);
    std::vector<ColumnRef> counts;
    for (const ColumnRef& c : PresentColumns(table, spec.counts)) {
      if (spec.total_label.empty() || c.name != spec.total_label) counts.push_back(c);
    }
    // The k-th current row with a key matches the k-th released row with it.
    auto key_of = [&](const Table& t, std::size_t r) {
      return keys.empty() ? absl::StrCat(r) : detail::RowKey(t.rows[r], keys);
    };
    const std::vector<bool> old_margins = detail::MarginRows(released, spec);
    struct Candidates {
      std::vector<std::size_t> rows;
      std::size_t next = 0;
    };
    std::unordered_map<std::string, Candidates> old_rows;
    for (std::size_t r = 0; r < released.rows.size(); ++r) {
      if (!old_margins[r]) old_rows[key_of(released, r)].rows.push_back(r);
    }
    std::vector<bool> matched(released.rows.size(), false);
    const std::vector<bool> margins = detail::MarginRows(table, spec);
    const std::string from = ReleaseName(release);
    Comparison result;
    for (std::size_t r = 0; r < table.rows.size(); ++r) {
      if (margins[r]) continue;
      std::optional<std::size_t> old;
      if (auto it = old_rows.find(key_of(table, r));
          it != old_rows.end() && it->second.next < it->second.rows.size()) {
        old = it->second.rows[it->second.next++];
        matched[*old] = true;
      }
      for (const ColumnRef& c : counts) {
        const std::string& text = table.rows[r][c.index];
        const std::optional<double> a = CellValue(text);
        if (!a) continue;
        if (!old) {
          if (*a == 0) continue;
          result.difference += std::fabs(*a);
          result.cells.push_back({r, c.name, text, absl::StrCat("row not in ", from)});
          continue;
        }
        const std::optional<double> b = CellValue(released.rows[*old][c.index]);
        if (!b || *a == *b) continue;
        result.difference += std::fabs(*a - *b);
        result.cells.push_back(
            {r, c.name, text, absl::StrCat("released as ", FormatNumber(*b), " in ", from)});
      }
    }
    for (std::size_t o = 0; o < released.rows.size(); ++o) {
      if (matched[o] || old_margins[o]) continue;
      for (const ColumnRef& c : counts) {
        const std::string& text = released.rows[o][c.index];
        const std::optional<double> b = CellValue(text);
        if (!b || *b == 0) continue;
        result.difference += std::fabs(*b);
        result.cells.push_back(
            {o, c.name, text,
             absl::StrCat("only in ", from, " (its row ", o, "); not in this table")});
      }
    }
    return result;
  }
};

}  // namespace

std::unique_ptr<OutputFilter> NewDifferencingFilter() {
  return std::make_unique<DifferencingFilter>();
}

}  // namespace safeflow::executor::disclosure
