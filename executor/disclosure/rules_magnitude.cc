// executor/disclosure/rules_magnitude.cc. The rules that read magnitude and mean tables'
// evidence: dominance_nk, p_percent and negative_contributions.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"

#include "executor/disclosure/filter.h"
#include "executor/disclosure/rules_common.h"

namespace safeflow::executor::disclosure {
namespace {

using detail::ClearlyGreater;
using detail::FormatNumber;
using detail::NewFinding;
using detail::TypeIs;

bool IsMagnitude(const FileContext& file) {
  return TypeIs(file, {OutputType::kMagnitudeTable, OutputType::kMeanTable});
}

// A fail finding when the evidence cannot be used, else nullopt.
std::optional<Finding> EvidenceUnusable(std::string_view rule, const FileContext& file,
                                        const nlohmann::json& params) {
  if (file.input.evidence && file.input.evidence_error.empty()) return std::nullopt;
  Finding f = NewFinding(rule, params);
  f.outcome = Verdict::kFail;
  f.message = absl::StrCat(
      "Not checked: no usable evidence (",
      file.input.evidence_error.empty() ? std::string("not provided") : file.input.evidence_error,
      ").");
  return f;
}

// Evidence for a published cell is judged; a cell the table suppresses is not published.
bool Published(const FileContext& file, const CellEvidence& e) {
  if (file.table == nullptr || e.row >= file.table->rows.size()) return true;
  const int column = file.table->Column(e.column);
  if (column < 0) return true;
  return !IsSuppressed(file.table->rows[e.row][static_cast<std::size_t>(column)]);
}

std::string Ratio(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.4g", v);
  return buffer;
}

class DominanceFilter final : public OutputFilter {
 public:
  std::string_view Name() const override { return "dominance_nk"; }
  std::optional<Finding> Apply(const FileContext& file) const override {
    if (!IsMagnitude(file) || file.profile.dominance_n <= 0) return std::nullopt;
    const int n = file.profile.dominance_n;
    const double k = file.profile.dominance_k;
    const nlohmann::json params = {{"n", n}, {"k", k}};
    if (auto unusable = EvidenceUnusable(Name(), file, params)) return unusable;
    Finding f = NewFinding(Name(), params);
    std::size_t dominated = 0, incomplete = 0;
    for (const CellEvidence& e : file.input.evidence->cells) {
      if (e.n <= 0 || !Published(file, e)) continue;
      const std::string value = detail::CellText(file.table, e.row, e.column);
      if (e.n < n) {
        ++dominated;
        f.AddCell({e.row, e.column, value,
                   absl::StrCat("only ", e.n, e.n == 1 ? " contributor" : " contributors",
                                " (fewer than ", n, "): dominated")});
        continue;
      }
      if (e.largest.size() < static_cast<std::size_t>(n)) {
        ++incomplete;
        f.AddCell({e.row, e.column, value,
                   absl::StrCat("evidence lists ", e.largest.size(),
                                " largest contributions; the rule needs ", n)});
        continue;
      }
      double top = 0;
      for (int i = 0; i < n; ++i) top += e.largest[static_cast<std::size_t>(i)];
      if (ClearlyGreater(top, k * e.sum)) {
        ++dominated;
        f.AddCell({e.row, e.column, value,
                   absl::StrCat("sum of top ", n, " = ",
                                e.sum > 0 ? Ratio(top / e.sum) : std::string("all"),
                                " of the cell total (limit ", Ratio(k), ")")});
      }
    }
    if (incomplete > 0) {
      f.outcome = Verdict::kFail;
      f.message = absl::StrCat("The evidence does not list the ", n, " largest contributions for ",
                               detail::Count(incomplete, "cell", "cells"), ".");
      if (dominated > 0) {
        absl::StrAppend(&f.message, " ", detail::Count(dominated, "other cell is", "others are"),
                        " dominated.");
      }
      return f;
    }
    if (dominated > 0) {
      f.outcome = file.profile.statistical_outcome;
      f.message = absl::StrCat(detail::Count(dominated, "cell is", "cells are"), " dominated: the ",
                               n, " largest contributions exceed ", Ratio(k),
                               " of the total, or there are fewer than ", n, " contributors.");
      return f;
    }
    f.message = absl::StrCat("In every cell the ", n, " largest contributions are at most ",
                             Ratio(k), " of the total.");
    return f;
  }
};

class PPercentFilter final : public OutputFilter {
 public:
  std::string_view Name() const override { return "p_percent"; }
  std::optional<Finding> Apply(const FileContext& file) const override {
    if (!IsMagnitude(file) || file.profile.p_percent <= 0) return std::nullopt;
    const double p = file.profile.p_percent;
    const nlohmann::json params = {{"p", p}};
    if (auto unusable = EvidenceUnusable(Name(), file, params)) return unusable;
    Finding f = NewFinding(Name(), params);
    std::size_t risky = 0, incomplete = 0;
    for (const CellEvidence& e : file.input.evidence->cells) {
      if (e.n <= 0 || !Published(file, e)) continue;
      const std::string value = detail::CellText(file.table, e.row, e.column);
      if (e.n == 1) {
        ++risky;
        f.AddCell({e.row, e.column, value, "a single contributor: the cell is their value"});
        continue;
      }
      if (e.largest.size() < 2) {
        ++incomplete;
        f.AddCell({e.row, e.column, value, "evidence does not list the 2 largest contributions"});
        continue;
      }
      const double largest = e.largest[0];
      const double rest = e.sum - e.largest[0] - e.largest[1];
      if (ClearlyGreater(p * largest, rest)) {
        ++risky;
        f.AddCell({e.row, e.column, value,
                   absl::StrCat("the second largest contributor can estimate the largest (",
                                FormatNumber(largest), ") to within ", FormatNumber(rest),
                                ", less than ", Ratio(p), " of it")});
      }
    }
    if (incomplete > 0) {
      f.outcome = Verdict::kFail;
      f.message = absl::StrCat("The evidence does not list the 2 largest contributions for ",
                               detail::Count(incomplete, "cell", "cells"), ".");
      return f;
    }
    if (risky > 0) {
      f.outcome = file.profile.statistical_outcome;
      f.message = absl::StrCat(
          detail::Count(risky, "cell fails", "cells fail"), " the p% rule (p = ", Ratio(p),
          "): the total minus the two largest contributions is less than p of the largest.");
      return f;
    }
    f.message = absl::StrCat("Every cell satisfies the p% rule (p = ", Ratio(p), ").");
    return f;
  }
};

class NegativesFilter final : public OutputFilter {
 public:
  std::string_view Name() const override { return "negative_contributions"; }
  std::optional<Finding> Apply(const FileContext& file) const override {
    if (!IsMagnitude(file)) return std::nullopt;
    if (auto unusable = EvidenceUnusable(Name(), file, nlohmann::json::object())) {
      return unusable;
    }
    Finding f = NewFinding(Name());
    for (const CellEvidence& e : file.input.evidence->cells) {
      if (e.negatives <= 0 || !Published(file, e)) continue;
      f.AddCell({e.row, e.column, detail::CellText(file.table, e.row, e.column),
                 absl::StrCat(e.negatives, " negative ",
                              e.negatives == 1 ? "contribution" : "contributions")});
    }
    if (f.cells_total == 0) {
      f.message = "No cell has negative contributions.";
      return f;
    }
    // Whatever the profile: the dominance rules are unreliable with negative values.
    f.outcome = Verdict::kReview;
    f.message = absl::StrCat(detail::Count(f.cells_total, "cell has", "cells have"),
                             " negative contributions, for which the dominance rules are "
                             "unreliable: a checker must review them.");
    return f;
  }
};

}  // namespace

std::unique_ptr<OutputFilter> NewDominanceFilter() { return std::make_unique<DominanceFilter>(); }
std::unique_ptr<OutputFilter> NewPPercentFilter() { return std::make_unique<PPercentFilter>(); }
std::unique_ptr<OutputFilter> NewNegativesFilter() { return std::make_unique<NegativesFilter>(); }

}  // namespace safeflow::executor::disclosure
