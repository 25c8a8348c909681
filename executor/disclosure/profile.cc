// executor/disclosure/profile.cc. The built-in profiles and profiles from config.
#include "executor/disclosure/profile.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace safeflow::executor::disclosure {
namespace {

Profile AcroDefault() { return Profile{}; }  // The struct's defaults are acro-default.

Profile Strict() {
  Profile p;
  p.name = "strict";
  p.statistical_outcome = Verdict::kFail;
  p.threshold = 10;
  p.residual_dof = 20;
  p.dominance_n = 2;
  p.dominance_k = 0.8;
  p.p_percent = 0.15;
  p.required_rounding = 5;
  return p;
}

Profile DataShield() {
  Profile p;
  p.name = "datashield";
  p.statistical_outcome = Verdict::kFail;
  p.threshold = 3;            // nfilter.tab
  p.max_params_ratio = 0.33;  // nfilter.glm
  p.zeros_disclosive = false;
  p.dominance_n = 0;  // DataSHIELD releases no magnitude tables: no dominance ...
  p.p_percent = 0;    // ... and no p% rule.
  return p;
}

// Reads JSON members into a Profile, collecting one "<member>: problem" per problem.
class Reader {
 public:
  explicit Reader(std::vector<std::string>& problems) : problems_(problems) {}

  void Int(const std::string& key, const nlohmann::json& value, std::int64_t min, std::int64_t max,
           int& out) {
    std::int64_t v = 0;
    if (!Integer(key, value, min, max, v)) return;
    out = static_cast<int>(v);
  }

  void PositiveU64(const std::string& key, const nlohmann::json& value, std::uint64_t& out) {
    if (value.is_number_unsigned() && value.get<std::uint64_t>() > 0) {
      out = value.get<std::uint64_t>();
    } else if (value.is_number_integer() && !value.is_number_unsigned() &&
               value.get<std::int64_t>() > 0) {
      out = static_cast<std::uint64_t>(value.get<std::int64_t>());
    } else {
      problems_.push_back(absl::StrCat(key, ": must be an integer greater than 0"));
    }
  }

  // A number in [min, max], with each end open or closed as said.
  void Double(const std::string& key, const nlohmann::json& value, double min, bool min_open,
              double max, bool max_open, double& out) {
    const std::string range =
        absl::StrCat(min_open ? "(" : "[", min, ", ", max, max_open ? ")" : "]");
    if (!value.is_number()) {
      problems_.push_back(absl::StrCat(key, ": must be a number in ", range));
      return;
    }
    const double v = value.get<double>();
    if ((min_open ? v <= min : v < min) || (max_open ? v >= max : v > max) || std::isnan(v)) {
      problems_.push_back(absl::StrCat(key, ": ", value.dump(), " is outside ", range));
      return;
    }
    out = v;
  }

  void Bool(const std::string& key, const nlohmann::json& value, bool& out) {
    if (!value.is_boolean()) {
      problems_.push_back(absl::StrCat(key, ": must be true or false"));
      return;
    }
    out = value.get<bool>();
  }

 private:
  bool Integer(const std::string& key, const nlohmann::json& value, std::int64_t min,
               std::int64_t max, std::int64_t& out) {
    const std::string range = absl::StrCat(min, "..", max);
    if (!value.is_number_integer()) {
      problems_.push_back(absl::StrCat(key, ": must be an integer in ", range));
      return false;
    }
    if (value.is_number_unsigned() &&
        value.get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      problems_.push_back(absl::StrCat(key, ": ", value.dump(), " is outside ", range));
      return false;
    }
    const std::int64_t v = value.get<std::int64_t>();
    if (v < min || v > max) {
      problems_.push_back(absl::StrCat(key, ": ", v, " is outside ", range));
      return false;
    }
    out = v;
    return true;
  }

  std::vector<std::string>& problems_;
};

}  // namespace

const std::vector<std::string_view>& BuiltinProfileNames() {
  static const auto* const kNames =
      new std::vector<std::string_view>{"acro-default", "strict", "datashield"};
  return *kNames;
}

absl::StatusOr<Profile> BuiltinProfile(std::string_view name) {
  if (name == "acro-default") return AcroDefault();
  if (name == "strict") return Strict();
  if (name == "datashield") return DataShield();
  std::string known;
  for (std::string_view builtin : BuiltinProfileNames()) {
    absl::StrAppend(&known, known.empty() ? "" : ", ", std::string(builtin));
  }
  return absl::NotFoundError(absl::StrCat("unknown disclosure profile \"", std::string(name),
                                          "\" (built-in: ", known, ")"));
}

absl::StatusOr<Profile> ProfileFromJson(std::string_view name_view, const nlohmann::json& json) {
  const std::string name(name_view);
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("profile \"", name, "\": must be an object"));
  }
  std::vector<std::string> problems;
  if (name.empty()) problems.push_back("name: must not be empty");

  Profile profile;
  if (auto it = json.find("base"); it != json.end()) {
    if (!it->is_string()) {
      problems.push_back("base: must be the name of a built-in profile");
    } else if (absl::StatusOr<Profile> base = BuiltinProfile(it->get<std::string>()); base.ok()) {
      profile = *std::move(base);
    } else {
      problems.push_back(absl::StrCat("base: ", base.status().message()));
    }
  }
  profile.name = name;

  Reader read(problems);
  for (const auto& [key, value] : json.items()) {
    if (key == "base") continue;
    if (key == "name") {
      // ToJson writes the name; reading it back is allowed when it agrees.
      if (!value.is_string() || value.get<std::string>() != name) {
        problems.push_back(absl::StrCat("name: must be \"", name, "\" (the profile's key)"));
      }
    } else if (key == "statistical_outcome") {
      if (value.is_string() && value.get<std::string>() == "review") {
        profile.statistical_outcome = Verdict::kReview;
      } else if (value.is_string() && value.get<std::string>() == "fail") {
        profile.statistical_outcome = Verdict::kFail;
      } else {
        problems.push_back("statistical_outcome: must be \"review\" or \"fail\"");
      }
    } else if (key == "threshold") {
      read.Int(key, value, 1, 1000, profile.threshold);
    } else if (key == "residual_dof") {
      read.Int(key, value, 0, 10000, profile.residual_dof);
    } else if (key == "max_params_ratio") {
      read.Double(key, value, 0, false, 1, false, profile.max_params_ratio);
    } else if (key == "dominance_n") {
      read.Int(key, value, 0, 10, profile.dominance_n);
    } else if (key == "dominance_k") {
      read.Double(key, value, 0, true, 1, false, profile.dominance_k);
    } else if (key == "p_percent") {
      read.Double(key, value, 0, false, 1, true, profile.p_percent);
    } else if (key == "zeros_disclosive") {
      read.Bool(key, value, profile.zeros_disclosive);
    } else if (key == "required_rounding") {
      read.Int(key, value, 0, 1000, profile.required_rounding);
    } else if (key == "differencing_threshold") {
      read.Int(key, value, 0, 1000, profile.differencing_threshold);
    } else if (key == "check_identifiers") {
      read.Bool(key, value, profile.check_identifiers);
    } else if (key == "allow_data_extract") {
      read.Bool(key, value, profile.allow_data_extract);
    } else if (key == "allowed_extensions") {
      if (!value.is_array()) {
        problems.push_back("allowed_extensions: must be an array of strings such as \".csv\"");
        continue;
      }
      std::vector<std::string> extensions;
      for (std::size_t i = 0; i < value.size(); ++i) {
        const nlohmann::json& e = value[i];
        if (!e.is_string() || e.get<std::string>().size() < 2 || e.get<std::string>()[0] != '.' ||
            e.get<std::string>().find_first_of("/\\") != std::string::npos) {
          problems.push_back(absl::StrCat("allowed_extensions[", i,
                                          "]: must be an extension starting with '.', e.g. "
                                          "\".csv\""));
          continue;
        }
        extensions.push_back(e.get<std::string>());
      }
      profile.allowed_extensions = std::move(extensions);
    } else if (key == "max_file_bytes") {
      read.PositiveU64(key, value, profile.max_file_bytes);
    } else if (key == "max_rows") {
      read.PositiveU64(key, value, profile.max_rows);
    } else {
      problems.push_back(absl::StrCat(key, ": unknown member"));
    }
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("profile \"", name, "\":\n", absl::StrJoin(problems, "\n")));
  }
  return profile;
}

nlohmann::json ToJson(const Profile& profile) {
  return nlohmann::json{
      {"name", profile.name},
      {"statistical_outcome", std::string(VerdictName(profile.statistical_outcome))},
      {"threshold", profile.threshold},
      {"residual_dof", profile.residual_dof},
      {"max_params_ratio", profile.max_params_ratio},
      {"dominance_n", profile.dominance_n},
      {"dominance_k", profile.dominance_k},
      {"p_percent", profile.p_percent},
      {"zeros_disclosive", profile.zeros_disclosive},
      {"required_rounding", profile.required_rounding},
      {"differencing_threshold", profile.differencing_threshold},
      {"check_identifiers", profile.check_identifiers},
      {"allow_data_extract", profile.allow_data_extract},
      {"allowed_extensions", profile.allowed_extensions},
      {"max_file_bytes", profile.max_file_bytes},
      {"max_rows", profile.max_rows}};
}

}  // namespace safeflow::executor::disclosure
