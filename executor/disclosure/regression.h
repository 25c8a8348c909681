// executor/disclosure/regression.h. Finding the residual degrees of freedom of the models in a
// regression output: the pure extraction behind the "residual_dof" rule (filter.h), exposed so
// that each format can be tested on its own. No I/O, no state: safe from any thread.
//
// Formats read (a file may hold several models, of several formats):
//   R lm       "Residual standard error: X on N degrees of freedom"; parameters from
//              "F-statistic: F on K and N DF" below it (K + 1, an intercept assumed).
//   R glm      "Residual deviance: X on N degrees of freedom"; with "Null deviance: X on N0
//              degrees of freedom" above it, n = N0 + 1 and parameters N0 - N + 1.
//   statsmodels "Df Residuals: N", with "No. Observations: n" and "Df Model: k" nearby.
//   Stata      the "Residual | SS df MS" row of an ANOVA table; else "F(k, N)" (dof N); else
//              "LR chi2(k)" / "Wald chi2(k)" with "Number of obs = n" (dof n - k - 1).
//   JSON       any object with a numeric member df_resid, df_residual, residual_df,
//              residual_dof, df.residual or "Df Residuals" (names compared ignoring case); n
//              from nobs / n_obs / "No. Observations", k from df_model / "Df Model" in the
//              same object.
//   tables     a column of one of the JSON names (n and k from columns of those names).
// When n and the dof are known, the parameters are n - dof (exact: dof = n - rank).
#ifndef SAFEFLOW_EXECUTOR_DISCLOSURE_REGRESSION_H_
#define SAFEFLOW_EXECUTOR_DISCLOSURE_REGRESSION_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"

#include "executor/disclosure/table.h"

namespace safeflow::executor::disclosure {

struct ModelDof {
  double dof = 0;                    // residual degrees of freedom
  std::optional<double> n;           // observations, when known
  std::optional<double> parameters;  // estimated parameters (intercept included), when known
  std::string source;                // "R lm", "R glm", "statsmodels", "Stata", "JSON", "table"
  // Where: text: 1-based line and the line's text (trimmed, at most 200 bytes); JSON: row 0 and
  // the member's JSON pointer in `column`; table: 0-based data row and the column name.
  std::size_t row = 0;
  std::string column;
  std::string text;
};

// The models in a text summary (R, statsmodels, Stata), in order of appearance.
std::vector<ModelDof> FindModelsInText(std::string_view text);

// The models in a parsed JSON document, in document order.
std::vector<ModelDof> FindModelsInJson(const nlohmann::json& json);

// The models in a table: one per row with a numeric residual-dof cell.
std::vector<ModelDof> FindModelsInTable(const Table& table);

}  // namespace safeflow::executor::disclosure

#endif  // SAFEFLOW_EXECUTOR_DISCLOSURE_REGRESSION_H_
