// Residual degrees of freedom: each model-summary format, several models per file, and the
// "residual_dof" rule's limits (exactly at the minimum passes) and its parameter ratio.
#include "executor/disclosure/regression.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/disclosure/filter.h"

namespace safeflow::executor::disclosure {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Optional;

constexpr std::string_view kRLm = R"(
Call:
lm(formula = mpg ~ wt + hp, data = mtcars)

Coefficients:
            Estimate Std. Error t value Pr(>|t|)
(Intercept) 37.22727    1.59879  23.285  < 2e-16 ***
wt          -3.87783    0.63273  -6.129 1.12e-06 ***
hp          -0.03177    0.00903  -3.519  0.00145 **
---
Residual standard error: 2.593 on 29 degrees of freedom
Multiple R-squared:  0.8268,	Adjusted R-squared:  0.8148
F-statistic: 69.21 on 2 and 29 DF,  p-value: 9.109e-12
)";

constexpr std::string_view kRGlm = R"(
(Dispersion parameter for binomial family taken to be 1)

    Null deviance: 43.230  on 31  degrees of freedom
Residual deviance: 15.323  on 29  degrees of freedom
AIC: 21.323
)";

constexpr std::string_view kStatsmodels = R"(
                            OLS Regression Results
==============================================================================
Dep. Variable:                      y   R-squared:                       0.933
Model:                            OLS   Adj. R-squared:                  0.928
Method:                 Least Squares   F-statistic:                     211.8
Date:                Fri, 21 Feb 2020   Prob (F-statistic):           6.30e-27
Time:                        13:35:02   Log-Likelihood:                -34.438
No. Observations:                  50   AIC:                             76.88
Df Residuals:                      46   BIC:                             84.52
Df Model:                           3
Covariance Type:            nonrobust
==============================================================================
)";

constexpr std::string_view kStataRegress = R"(
. regress price mpg weight

      Source |       SS           df       MS      Number of obs   =        74
-------------+----------------------------------   F(2, 71)        =     14.74
       Model |   186321280         2  93160639.9   Prob > F        =    0.0000
    Residual |   448744116        71  6320339.67   R-squared       =    0.2934
-------------+----------------------------------   Adj R-squared   =    0.2735
       Total |   635065396        73  8699525.97   Root MSE        =      2514
)";

constexpr std::string_view kStataLogit = R"(
Logistic regression                                     Number of obs =     74
                                                        LR chi2(2)    =  35.72
                                                        Prob > chi2   = 0.0000
Log likelihood = -27.175156                             Pseudo R2     = 0.3966
)";

constexpr std::string_view kStataRobust = R"(
Linear regression                               Number of obs     =      1,234
                                                F(3, 1230)        =      73.81
                                                Prob > F          =     0.0000
)";

TEST(FindModelsInTextTest, RLmWithParametersFromTheFStatistic) {
  const std::vector<ModelDof> models = FindModelsInText(kRLm);
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].dof, 29);
  EXPECT_EQ(models[0].source, "R lm");
  EXPECT_THAT(models[0].parameters, Optional(3.0));
  EXPECT_THAT(models[0].n, Optional(32.0));
  EXPECT_EQ(models[0].row, 11u);
  EXPECT_EQ(models[0].text, "Residual standard error: 2.593 on 29 degrees of freedom");
}

TEST(FindModelsInTextTest, RLmWithOneDegreeAndNoFStatistic) {
  const std::vector<ModelDof> models =
      FindModelsInText("Residual standard error: NaN on 1 degree of freedom\n");
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].dof, 1);
  EXPECT_EQ(models[0].n, std::nullopt);
}

TEST(FindModelsInTextTest, RGlmUsesTheNullDeviance) {
  const std::vector<ModelDof> models = FindModelsInText(kRGlm);
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].dof, 29);
  EXPECT_EQ(models[0].source, "R glm");
  EXPECT_THAT(models[0].n, Optional(32.0));
  EXPECT_THAT(models[0].parameters, Optional(3.0));
}

TEST(FindModelsInTextTest, Statsmodels) {
  const std::vector<ModelDof> models = FindModelsInText(kStatsmodels);
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].dof, 46);
  EXPECT_EQ(models[0].source, "statsmodels");
  EXPECT_THAT(models[0].n, Optional(50.0));
  EXPECT_THAT(models[0].parameters, Optional(4.0));
}

TEST(FindModelsInTextTest, StatsmodelsWithoutObservationsUsesDfModel) {
  const std::vector<ModelDof> models = FindModelsInText("Df Residuals:   7\nDf Model:   2\n");
  ASSERT_EQ(models.size(), 1u);
  EXPECT_THAT(models[0].parameters, Optional(3.0));
  EXPECT_THAT(models[0].n, Optional(10.0));
}

TEST(FindModelsInTextTest, StataRegressReadsTheResidualRow) {
  const std::vector<ModelDof> models = FindModelsInText(kStataRegress);
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].dof, 71);
  EXPECT_EQ(models[0].source, "Stata");
  EXPECT_THAT(models[0].n, Optional(74.0));
  EXPECT_THAT(models[0].parameters, Optional(3.0));
  EXPECT_THAT(models[0].text, HasSubstr("Residual |"));
}

TEST(FindModelsInTextTest, StataLogitUsesTheChiSquaredDegrees) {
  const std::vector<ModelDof> models = FindModelsInText(kStataLogit);
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].dof, 71);  // 74 - 2 - 1
  EXPECT_THAT(models[0].parameters, Optional(3.0));
}

TEST(FindModelsInTextTest, StataRobustUsesTheFDenominatorAndThousandsSeparators) {
  const std::vector<ModelDof> models = FindModelsInText(kStataRobust);
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].dof, 1230);
  EXPECT_THAT(models[0].n, Optional(1234.0));
}

TEST(FindModelsInTextTest, SeveralModelsInOrder) {
  const std::string text =
      std::string(kStataRegress) + std::string(kRLm) + std::string(kStatsmodels);
  const std::vector<ModelDof> models = FindModelsInText(text);
  ASSERT_EQ(models.size(), 3u);
  EXPECT_EQ(models[0].source, "Stata");
  EXPECT_EQ(models[1].source, "R lm");
  EXPECT_EQ(models[2].source, "statsmodels");
  EXPECT_LT(models[0].row, models[1].row);
}

TEST(FindModelsInTextTest, NoModelsInOtherText) {
  EXPECT_THAT(FindModelsInText("region,count\nNorth,12\n"), IsEmpty());
  EXPECT_THAT(FindModelsInText("Residual standard error: 2.5 on many degrees of freedom"),
              IsEmpty());
  EXPECT_THAT(FindModelsInText("Df Residuals: nan"), IsEmpty());
  EXPECT_THAT(FindModelsInText("Residual | text"), IsEmpty());
  EXPECT_THAT(FindModelsInText(""), IsEmpty());
}

TEST(FindModelsInJsonTest, AnyDepthWithObservationsAndModelDf) {
  const nlohmann::json json = nlohmann::json::parse(R"({
    "models": [
      {"name": "m1", "df_resid": 5, "nobs": 8},
      {"name": "m2", "summary": {"Df Residuals": "40", "No. Observations": 44}},
      {"name": "m3", "DF_RESIDUAL": 12, "df_model": 2}
    ],
    "df.residual": 100
  })");
  const std::vector<ModelDof> models = FindModelsInJson(json);
  ASSERT_EQ(models.size(), 4u);
  EXPECT_EQ(models[0].dof, 100);
  EXPECT_EQ(models[0].column, "/df.residual");
  EXPECT_EQ(models[1].dof, 5);
  EXPECT_EQ(models[1].column, "/models/0/df_resid");
  EXPECT_THAT(models[1].parameters, Optional(3.0));
  EXPECT_EQ(models[2].dof, 40);
  EXPECT_EQ(models[2].column, "/models/1/summary/Df Residuals");
  EXPECT_THAT(models[2].n, Optional(44.0));
  EXPECT_EQ(models[3].dof, 12);
  EXPECT_THAT(models[3].parameters, Optional(3.0));
}

TEST(FindModelsInJsonTest, IgnoresNonNumericValuesAndEscapesPointers) {
  const nlohmann::json json = nlohmann::json::parse(
      R"({"a/b~c": {"df_resid": 9}, "x": {"df_resid": "many"}, "y": {"df_resid": null}})");
  const std::vector<ModelDof> models = FindModelsInJson(json);
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].column, "/a~1b~0c/df_resid");
  EXPECT_THAT(FindModelsInJson(nlohmann::json(3)), IsEmpty());
}

TEST(FindModelsInJsonTest, DeepNestingDoesNotOverflowTheStack) {
  nlohmann::json json = {{"df_resid", 3}};
  for (int i = 0; i < 20000; ++i) {
    nlohmann::json wrapper = nlohmann::json::array();
    wrapper.push_back(std::move(json));
    json = std::move(wrapper);
  }
  const std::vector<ModelDof> models = FindModelsInJson(json);
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].dof, 3);
}

TEST(FindModelsInTableTest, OneModelPerRow) {
  Table table;
  table.header = {"model", "df.residual", "nobs"};
  table.rows = {{"a", "29", "32"}, {"b", "NA", "10"}, {"c", "4", ""}};
  const std::vector<ModelDof> models = FindModelsInTable(table);
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].row, 0u);
  EXPECT_EQ(models[0].column, "df.residual");
  EXPECT_THAT(models[0].parameters, Optional(3.0));
  EXPECT_EQ(models[1].row, 2u);
  EXPECT_EQ(models[1].dof, 4);
  EXPECT_EQ(models[1].n, std::nullopt);
  table.header = {"model", "residual", "nobs"};
  EXPECT_THAT(FindModelsInTable(table), IsEmpty());
}

// ---- the rule -----------------------------------------------------------------------------------

class ResidualDofRuleTest : public ::testing::Test {
 protected:
  std::optional<Finding> Run(std::string path, std::string content, bool declared,
                             const Table* table = nullptr) {
    content_ = std::move(content);
    input_.name = path;
    input_.path = std::move(path);
    input_.content = content_;
    input_.size_bytes = content_.size();
    input_.declaration.reset();
    if (declared) {
      Declaration declaration;
      declaration.name = "model";
      declaration.path = input_.path;
      declaration.type = OutputType::kRegression;
      input_.declaration = declaration;
    }
    return filter_->Apply({input_, profile_, table, "", history_});
  }

  static std::string Lm(int dof) {
    return "Residual standard error: 1.5 on " + std::to_string(dof) + " degrees of freedom\n";
  }

  const std::unique_ptr<OutputFilter> filter_ = NewResidualDofFilter();
  Profile profile_;
  std::string content_;
  FileInput input_;
  const std::vector<ReleasedTable> history_;
};

TEST_F(ResidualDofRuleTest, ExactlyAtTheMinimumPassesOneBelowDoesNot) {
  EXPECT_EQ(filter_->Name(), "residual_dof");
  std::optional<Finding> finding = Run("m.txt", Lm(10), true);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->rule, "residual_dof");
  EXPECT_EQ(finding->outcome, Verdict::kPass);
  EXPECT_EQ(finding->parameters["min_dof"], 10);
  EXPECT_EQ(finding->parameters["max_params_ratio"], 0.0);

  finding = Run("m.txt", Lm(9), true);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kReview);  // acro-default: statistical -> review
  EXPECT_THAT(finding->message, HasSubstr("smallest residual dof is 9, below the minimum 10"));
  ASSERT_EQ(finding->cells.size(), 1u);
  EXPECT_EQ(finding->cells[0].row, 1u);
  EXPECT_THAT(finding->cells[0].note, HasSubstr("below the minimum 10"));

  profile_.statistical_outcome = Verdict::kFail;
  finding = Run("m.txt", Lm(9), true);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kFail);
}

TEST_F(ResidualDofRuleTest, TheSmallestOfSeveralModelsDecides) {
  const std::optional<Finding> finding = Run("m.txt", Lm(50) + Lm(3) + Lm(20), true);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kReview);
  EXPECT_EQ(finding->cells.size(), 3u);
  EXPECT_EQ(finding->cells[1].row, 2u);
  EXPECT_THAT(finding->message, HasSubstr("3 models; the smallest residual dof is 3"));
}

TEST_F(ResidualDofRuleTest, ParameterRatio) {
  profile_.residual_dof = 1;
  profile_.max_params_ratio = 0.33;
  profile_.statistical_outcome = Verdict::kFail;
  // 4 parameters for 12 observations: 0.333... > 0.33.
  std::optional<Finding> finding = Run("m.txt", "Df Residuals: 8\nNo. Observations: 12\n", false);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kFail);
  EXPECT_THAT(finding->message, HasSubstr("parameters per observation"));
  // 4 for 13: 0.307.
  finding = Run("m.txt", "Df Residuals: 9\nNo. Observations: 13\n", false);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kPass);
  // Unknown n: only the dof counts.
  finding = Run("m.txt", "Df Residuals: 2\n", false);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kPass);
}

TEST_F(ResidualDofRuleTest, DeclaredRegressionWithoutDofNeedsReview) {
  std::optional<Finding> finding = Run("m.txt", "coefficients only\n", true);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kReview);
  EXPECT_THAT(finding->message, HasSubstr("No residual degrees of freedom found"));
  finding = Run("coefplot.png", "\x89PNG", true);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kReview);
}

TEST_F(ResidualDofRuleTest, UndeclaredFilesOnlyWhenAModelIsDetected) {
  EXPECT_FALSE(Run("notes.txt", "nothing to see\n", false).has_value());
  EXPECT_FALSE(Run("plot.png", Lm(3), false).has_value());
  const std::optional<Finding> finding = Run("log.txt", std::string(kStataLogit), false);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kPass);
}

TEST_F(ResidualDofRuleTest, JsonAndTables) {
  std::optional<Finding> finding =
      Run("m.json", R"({"fits": [{"df_resid": 40}, {"df_resid": 4}]})", false);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kReview);
  ASSERT_EQ(finding->cells.size(), 2u);
  EXPECT_EQ(finding->cells[1].column, "/fits/1/df_resid");

  EXPECT_FALSE(Run("bad.json", "{\"df_resid\": ", false).has_value());
}

TEST_F(ResidualDofRuleTest, DeeplyNestedJsonIsNotBuiltInMemory) {
  const auto nested = [](int depth) {
    return std::string(depth, '[') + "{\"df_resid\": 4, \"s\": \"[[[[\"}" + std::string(depth, ']');
  };
  EXPECT_TRUE(Run("m.json", nested(200), false).has_value());
  EXPECT_FALSE(Run("m.json", nested(300), false).has_value());
  const std::optional<Finding> finding = Run("m.json", nested(100000), true);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kReview);
}

TEST_F(ResidualDofRuleTest, Tables) {
  Table table;
  table.header = {"term", "df_resid"};
  table.rows = {{"a", "12"}};
  const std::optional<Finding> finding = Run("m.csv", "term,df_resid\na,12\n", false, &table);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kPass);
  EXPECT_THAT(finding->cells, ::testing::SizeIs(1));
}

TEST_F(ResidualDofRuleTest, UnreadDeclaredFileNeedsReview) {
  content_.clear();
  input_.path = "m.txt";
  input_.content = content_;
  input_.size_bytes = 1ull << 40;
  Declaration declaration;
  declaration.type = OutputType::kRegression;
  input_.declaration = declaration;
  const std::optional<Finding> finding = filter_->Apply({input_, profile_, nullptr, "", history_});
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kReview);
  EXPECT_THAT(finding->message, HasSubstr("not read"));
}

TEST_F(ResidualDofRuleTest, CellTextIsValidUtf8AndBounded) {
  const std::string line =
      "Residual standard error: 1 on 3 degrees of freedom " + std::string(300, 'x') + "\xff";
  std::optional<Finding> finding = Run("m.txt", "caf\xe9 " + line, true);
  ASSERT_TRUE(finding.has_value());
  ASSERT_EQ(finding->cells.size(), 1u);
  EXPECT_LE(finding->cells[0].value.size(), 200u);
  EXPECT_NO_THROW((void)ToJson(*finding).dump());
}

}  // namespace
}  // namespace safeflow::executor::disclosure
