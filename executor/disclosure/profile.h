// executor/disclosure/profile.h. The parameters of the filter chain. Three built-in profiles;
// deploy config may define more by overriding members of one of them, and each project picks
// one (airlock.projects.<p>.profile). Pure data, no I/O.
//
//   acro-default  threshold 10, residual dof 10, dominance n=2 k=0.9, p% 0.1, zeros disclosive;
//                 statistical findings are `review` (the SDC handbook's principles-based mode,
//                 as in ACRO: a checker may accept them with a reason).
//   strict        threshold 10, dof 20, n=2 k=0.8, p 0.15, counts rounded to 5 required,
//                 statistical findings `fail`, every figure/text/other `review`.
//   datashield    DataSHIELD's defaults: nfilter.tab 3 (threshold), nfilter.glm 0.33 (a model
//                 may have at most 0.33 parameters per observation), zeros not disclosive,
//                 no dominance rule (DataSHIELD does not release magnitude tables), findings
//                 `fail` (DataSHIELD refuses rather than asks).
#ifndef SAFEFLOW_EXECUTOR_DISCLOSURE_PROFILE_H_
#define SAFEFLOW_EXECUTOR_DISCLOSURE_PROFILE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

#include "executor/disclosure/report.h"

namespace safeflow::executor::disclosure {

struct Profile {
  std::string name = "acro-default";
  // Outcome of a statistical finding (threshold, zeros, dominance, p%, dof, histogram,
  // survival, margins, rounding, differencing): kReview or kFail.
  Verdict statistical_outcome = Verdict::kReview;
  int threshold = 10;               // minimum people per cell / bin / survival step
  int residual_dof = 10;            // minimum residual degrees of freedom of a model
  double max_params_ratio = 0;      // >0: at most this many parameters per observation (DataSHIELD)
  int dominance_n = 2;              // (n,k) rule: the n largest contributions ...
  double dominance_k = 0.9;         // ... may not exceed k of the cell total; n = 0 disables
  double p_percent = 0.1;           // p% rule: total - largest - second >= p * largest; 0 disables
  bool zeros_disclosive = true;     // structural or sampling zeros in frequency tables: review
  int required_rounding = 0;        // >0: counts must be rounded to this base
  int differencing_threshold = 10;  // a table that differs from a released one by fewer people
  bool check_identifiers = true;
  bool allow_data_extract = false;  // false: data_extract outputs fail
  std::vector<std::string> allowed_extensions = {".csv",  ".tsv", ".txt", ".json", ".md",
                                                 ".html", ".png", ".svg", ".pdf",  ".log"};
  std::uint64_t max_file_bytes = 64ull << 20;  // larger files fail without being read
  std::uint64_t max_rows = 100000;             // tables with more data rows fail
};

[[nodiscard]] absl::StatusOr<Profile> BuiltinProfile(std::string_view name);
const std::vector<std::string_view>& BuiltinProfileNames();

// A profile from config: {"base": "acro-default", "threshold": 5, ...}. Members not given come
// from `base` (a built-in, default acro-default); unknown members and out-of-range values are
// refused (InvalidArgument listing every problem). `name` becomes the profile's name.
[[nodiscard]] absl::StatusOr<Profile> ProfileFromJson(std::string_view name,
                                                      const nlohmann::json& json);
nlohmann::json ToJson(const Profile& profile);

}  // namespace safeflow::executor::disclosure

#endif  // SAFEFLOW_EXECUTOR_DISCLOSURE_PROFILE_H_
