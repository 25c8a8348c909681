#include "executor/disclosure/declaration.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace safeflow::executor::disclosure {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxNameBytes = 64;
constexpr std::size_t kMaxPathBytes = 255;
constexpr std::size_t kMaxDescriptionBytes = 4096;
constexpr std::size_t kMaxColumns = 64;       // entries of keys, counts, statistics
constexpr std::size_t kMaxColumnBytes = 255;  // one column name
constexpr std::int64_t kMaxRounding = 1000;
constexpr std::size_t kMaxEvidenceCells = 1000000;
constexpr std::size_t kMaxProblems = 100;  // listed; the rest are counted

struct TypeEntry {
  OutputType type;
  std::string_view name;
};
constexpr std::array<TypeEntry, 10> kTypes = {{
    {OutputType::kFrequencyTable, "frequency_table"},
    {OutputType::kMagnitudeTable, "magnitude_table"},
    {OutputType::kMeanTable, "mean_table"},
    {OutputType::kRegression, "regression"},
    {OutputType::kHistogram, "histogram"},
    {OutputType::kSurvivalTable, "survival_table"},
    {OutputType::kFigure, "figure"},
    {OutputType::kText, "text"},
    {OutputType::kDataExtract, "data_extract"},
    {OutputType::kOther, "other"},
}};

// "frequency_table, magnitude_table, ...".
std::string TypeList() {
  std::string out;
  for (const TypeEntry& e : kTypes) {
    if (!out.empty()) out += ", ";
    out += e.name;
  }
  return out;
}

// Collects "<where>: why" lines; lists the first kMaxProblems and counts the rest.
class Problems {
 public:
  void Add(const std::string& where, const std::string& why) {
    if (lines_.size() < kMaxProblems) {
      lines_.push_back(absl::StrCat(where, ": ", why));
    } else {
      ++more_;
    }
  }
  bool empty() const { return lines_.empty(); }
  absl::Status Status() const {
    std::string text = absl::StrJoin(lines_, "\n");
    if (more_ > 0) absl::StrAppend(&text, "\n(", more_, " more problems)");
    return absl::InvalidArgumentError(text);
  }

 private:
  std::vector<std::string> lines_;
  std::size_t more_ = 0;
};

// At most 80 bytes of `s`, quoted, for echoing input in messages.
std::string Quote(const std::string& s) {
  return absl::StrCat("'", s.substr(0, 80), s.size() > 80 ? "...'" : "'");
}

void CheckMembers(const json& object, std::initializer_list<std::string_view> known,
                  const std::string& prefix, Problems& problems) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      problems.Add(absl::StrCat(prefix, key), "unknown member");
    }
  }
}

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  auto alnum = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name[0])) return false;
  for (char c : name) {
    if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

// Why `path` is not a safe relative file path, or "" when it is.
std::string PathProblem(std::string_view path) {
  if (path.empty()) return "must not be empty";
  if (path.size() > kMaxPathBytes) return absl::StrCat("longer than ", kMaxPathBytes, " bytes");
  if (path.front() == '/') return "must be relative, not absolute";
  for (char c : path) {
    if (c == '\\') return "must not contain a backslash (use '/')";
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return "must not contain control characters";
    }
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t end = path.find('/', start);
    const std::string_view segment =
        path.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (segment.empty()) return "must not contain empty segments ('//' or a trailing '/')";
    if (segment == ".") return "must not contain '.' segments";
    if (segment == "..") return "must not contain '..' segments";
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return "";
}

// A string member; nullopt (with a problem unless absent and optional) otherwise.
std::optional<std::string> StringMember(const json& object, const char* key,
                                        const std::string& prefix, bool required,
                                        Problems& problems) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (required) problems.Add(absl::StrCat(prefix, key), "required");
    return std::nullopt;
  }
  if (!it->is_string()) {
    problems.Add(absl::StrCat(prefix, key), "must be a string");
    return std::nullopt;
  }
  return it->get<std::string>();
}

// A non-negative integer that fits int64, or nullopt.
std::optional<std::int64_t> NonNegativeInteger(const json& v) {
  if (v.is_number_unsigned()) {
    if (v.get<std::uint64_t>() >
        static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(v.get<std::uint64_t>());
  }
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return v.get<std::int64_t>();
  return std::nullopt;
}

std::optional<double> FiniteNumber(const json& v) {
  if (!v.is_number()) return std::nullopt;
  const double d = v.get<double>();
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

// A column name member of a table: a non-empty string of at most kMaxColumnBytes.
std::optional<std::string> ColumnMember(const json& table, const char* key, Problems& problems) {
  std::optional<std::string> v = StringMember(table, key, "table.", false, problems);
  if (!v) return std::nullopt;
  if (v->empty() || v->size() > kMaxColumnBytes) {
    problems.Add(absl::StrCat("table.", key),
                 absl::StrCat("must be a column name of 1 to ", kMaxColumnBytes, " bytes"));
    return std::nullopt;
  }
  return v;
}

// An array of unique column names.
std::vector<std::string> ColumnList(const json& table, const char* key, Problems& problems) {
  std::vector<std::string> out;
  auto it = table.find(key);
  if (it == table.end()) return out;
  const std::string where = absl::StrCat("table.", key);
  if (!it->is_array()) {
    problems.Add(where, "must be an array of column names");
    return out;
  }
  if (it->size() > kMaxColumns) {
    problems.Add(where, absl::StrCat("more than ", kMaxColumns, " columns"));
    return out;
  }
  std::set<std::string> seen;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& v = (*it)[i];
    const std::string item = absl::StrCat(where, "[", i, "]");
    if (!v.is_string() || v.get_ref<const std::string&>().empty() ||
        v.get_ref<const std::string&>().size() > kMaxColumnBytes) {
      problems.Add(item, absl::StrCat("must be a column name of 1 to ", kMaxColumnBytes, " bytes"));
      continue;
    }
    const std::string& name = v.get_ref<const std::string&>();
    if (!seen.insert(name).second) {
      problems.Add(item, absl::StrCat(Quote(name), " is listed twice"));
      continue;
    }
    out.push_back(name);
  }
  return out;
}

TableSpec ParseTable(const json& table, Problems& problems) {
  TableSpec spec;
  CheckMembers(table,
               {"keys", "counts", "statistics", "total_label", "rounding", "time", "at_risk",
                "events", "censored", "delimiter"},
               "table.", problems);
  spec.keys = ColumnList(table, "keys", problems);
  spec.counts = ColumnList(table, "counts", problems);
  spec.statistics = ColumnList(table, "statistics", problems);

  // A column plays one role.
  std::set<std::string> roles(spec.keys.begin(), spec.keys.end());
  for (const std::string& c : spec.counts) {
    if (!roles.insert(c).second) {
      problems.Add("table.counts", absl::StrCat(Quote(c), " is also a key column"));
    }
  }
  for (const std::string& c : spec.statistics) {
    if (!roles.insert(c).second) {
      problems.Add("table.statistics", absl::StrCat(Quote(c), " is also a key or count column"));
    }
  }

  if (auto v = ColumnMember(table, "total_label", problems)) spec.total_label = *v;
  if (auto it = table.find("rounding"); it != table.end()) {
    std::optional<std::int64_t> rounding = NonNegativeInteger(*it);
    if (!rounding || *rounding > kMaxRounding) {
      problems.Add("table.rounding", absl::StrCat("must be an integer from 0 to ", kMaxRounding,
                                                  " (0: not rounded)"));
    } else {
      spec.rounding = static_cast<int>(*rounding);
    }
  }

  // Survival columns: each names a different column.
  std::set<std::string> survival;
  auto survival_column = [&](const char* key, std::string& out) {
    std::optional<std::string> v = ColumnMember(table, key, problems);
    if (!v) return;
    if (!survival.insert(*v).second) {
      problems.Add(absl::StrCat("table.", key),
                   absl::StrCat(Quote(*v), " is already another survival column"));
      return;
    }
    out = *v;
  };
  survival_column("time", spec.time);
  survival_column("at_risk", spec.at_risk);
  survival_column("events", spec.events);
  survival_column("censored", spec.censored);

  if (auto v = StringMember(table, "delimiter", "table.", false, problems)) {
    if (*v == ",") {
      spec.delimiter = ',';
    } else if (*v == "\t") {
      spec.delimiter = '\t';
    } else {
      problems.Add("table.delimiter", "must be \",\" or \"\\t\"");
    }
  }
  return spec;
}

// Whether table member `key` is absent or an empty array (a member given in another wrong form
// has been reported already).
bool Missing(const json& table, const char* key) {
  auto it = table.find(key);
  return it == table.end() || (it->is_array() && it->empty());
}

// The per-type requirements of ParseDeclaration. `table` is the "table" member (nullptr when
// absent).
void CheckTypeRequirements(OutputType output_type, const json* table, bool has_evidence,
                           Problems& problems) {
  const std::string type(OutputTypeName(output_type));
  if (!IsTableType(output_type)) {
    if (table != nullptr) {
      problems.Add("table",
                   absl::StrCat("not allowed for type ", type,
                                " (only frequency_table, magnitude_table, mean_table, histogram "
                                "and survival_table have a table)"));
    }
    if (has_evidence) {
      problems.Add("evidence",
                   absl::StrCat("not allowed for type ", type, " (only tables have evidence)"));
    }
    return;
  }
  if ((output_type == OutputType::kMagnitudeTable || output_type == OutputType::kMeanTable) &&
      !has_evidence) {
    problems.Add("evidence", absl::StrCat("required for type ", type,
                                          " (the per-cell evidence sidecar the workflow writes)"));
  }
  if (table == nullptr) {
    problems.Add("table", absl::StrCat("required for type ", type));
    return;
  }
  if (!table->is_object()) return;  // reported already
  switch (output_type) {
    case OutputType::kFrequencyTable:
    case OutputType::kHistogram:
      if (Missing(*table, "counts")) {
        problems.Add("table.counts",
                     absl::StrCat("required for type ", type, " (at least one count column)"));
      }
      break;
    case OutputType::kMagnitudeTable:
    case OutputType::kMeanTable:
      if (Missing(*table, "statistics")) {
        problems.Add("table.statistics",
                     absl::StrCat("required for type ", type, " (at least one statistics column)"));
      }
      break;
    case OutputType::kSurvivalTable:
      if (Missing(*table, "time")) {
        problems.Add("table.time", absl::StrCat("required for type ", type, " (the time column)"));
      }
      if (Missing(*table, "at_risk")) {
        problems.Add("table.at_risk",
                     absl::StrCat("required for type ", type, " (the number at risk)"));
      }
      if (Missing(*table, "events")) {
        problems.Add("table.events",
                     absl::StrCat("required for type ", type, " (the number of events)"));
      }
      break;
    default:
      break;
  }
}

// One evidence cell; nullopt when it has a problem (already recorded).
std::optional<CellEvidence> ParseCell(const json& c, const std::string& where, Problems& problems) {
  if (!c.is_object()) {
    problems.Add(where, "must be an object {row, column, n, sum, largest, negatives}");
    return std::nullopt;
  }
  const std::string prefix = absl::StrCat(where, ".");
  bool good = true;
  for (const auto& [key, value] : c.items()) {
    if (key != "row" && key != "column" && key != "n" && key != "sum" && key != "largest" &&
        key != "negatives") {
      problems.Add(absl::StrCat(prefix, key), "unknown member");
      good = false;
    }
  }
  CellEvidence cell;
  auto required = [&](const char* key) -> const json* {
    auto it = c.find(key);
    if (it == c.end()) {
      problems.Add(absl::StrCat(prefix, key), "required");
      good = false;
      return nullptr;
    }
    return &*it;
  };
  if (const json* v = required("row")) {
    if (std::optional<std::int64_t> row = NonNegativeInteger(*v)) {
      cell.row = static_cast<std::size_t>(*row);
    } else {
      problems.Add(prefix + "row", "must be an integer >= 0 (a 0-based data row)");
      good = false;
    }
  }
  if (const json* v = required("column")) {
    if (!v->is_string() || v->get_ref<const std::string&>().empty()) {
      problems.Add(prefix + "column", "must be a non-empty string (a statistics column)");
      good = false;
    } else {
      cell.column = v->get<std::string>();
    }
  }
  bool n_ok = false;
  if (const json* v = required("n")) {
    if (std::optional<std::int64_t> n = NonNegativeInteger(*v)) {
      cell.n = *n;
      n_ok = true;
    } else {
      problems.Add(prefix + "n", "must be an integer >= 0 (contributors to the cell)");
      good = false;
    }
  }
  if (const json* v = required("sum")) {
    if (std::optional<double> sum = FiniteNumber(*v)) {
      cell.sum = *sum;
    } else {
      problems.Add(prefix + "sum", "must be a finite number");
      good = false;
    }
  }
  if (const json* v = required("largest")) {
    if (!v->is_array()) {
      problems.Add(prefix + "largest", "must be an array of numbers, descending");
      good = false;
    } else {
      bool largest_ok = true;
      for (std::size_t i = 0; i < v->size() && largest_ok; ++i) {
        std::optional<double> x = FiniteNumber((*v)[i]);
        if (!x) {
          problems.Add(absl::StrCat(prefix, "largest[", i, "]"), "must be a finite number");
          largest_ok = false;
        } else if (!cell.largest.empty() && *x > cell.largest.back()) {
          problems.Add(absl::StrCat(prefix, "largest[", i, "]"),
                       "larger than the one before (must be descending)");
          largest_ok = false;
        } else {
          cell.largest.push_back(*x);
        }
      }
      if (largest_ok && n_ok) {
        const std::uint64_t size = v->size();
        const std::int64_t at_least = std::min<std::int64_t>(cell.n, 2);
        if (size > static_cast<std::uint64_t>(cell.n)) {
          problems.Add(prefix + "largest",
                       absl::StrCat(size, " contributions listed but n is ", cell.n));
          largest_ok = false;
        } else if (size < static_cast<std::uint64_t>(at_least)) {
          problems.Add(prefix + "largest",
                       absl::StrCat("must list the ", at_least,
                                    " largest contributions at least (n is ", cell.n, ")"));
          largest_ok = false;
        }
      }
      good = good && largest_ok;
    }
  }
  if (auto it = c.find("negatives"); it != c.end()) {
    std::optional<std::int64_t> negatives = NonNegativeInteger(*it);
    if (!negatives || (n_ok && *negatives > cell.n)) {
      problems.Add(prefix + "negatives", "must be an integer from 0 to n");
      good = false;
    } else {
      cell.negatives = *negatives;
    }
  }
  if (!good) return std::nullopt;
  return cell;
}

}  // namespace

bool IsTableType(OutputType type) {
  switch (type) {
    case OutputType::kFrequencyTable:
    case OutputType::kMagnitudeTable:
    case OutputType::kMeanTable:
    case OutputType::kHistogram:
    case OutputType::kSurvivalTable:
      return true;
    default:
      return false;
  }
}

std::string_view OutputTypeName(OutputType type) {
  for (const TypeEntry& e : kTypes) {
    if (e.type == type) return e.name;
  }
  return "other";
}

std::optional<OutputType> ParseOutputType(std::string_view name) {
  for (const TypeEntry& e : kTypes) {
    if (e.name == name) return e.type;
  }
  return std::nullopt;
}

const std::vector<std::string_view>& OutputTypeNames() {
  static const std::vector<std::string_view> kNames = [] {
    std::vector<std::string_view> names;
    for (const TypeEntry& e : kTypes) names.push_back(e.name);
    return names;
  }();
  return kNames;
}

absl::StatusOr<Declaration> ParseDeclaration(const json& json_value, bool require_name_and_path) {
  if (!json_value.is_object()) {
    return absl::InvalidArgumentError(
        "declaration: must be a JSON object {name, path, type, description, table, evidence}");
  }
  Problems problems;
  Declaration d;
  CheckMembers(json_value, {"name", "path", "type", "description", "table", "evidence"}, "",
               problems);

  if (auto v = StringMember(json_value, "name", "", require_name_and_path, problems)) {
    if (!ValidName(*v)) {
      problems.Add("name", absl::StrCat(Quote(*v),
                                        " is not a name of 1 to 64 characters [A-Za-z0-9._-] "
                                        "starting with a letter or digit"));
    } else {
      d.name = *v;
    }
  }
  if (auto v = StringMember(json_value, "path", "", require_name_and_path, problems)) {
    if (std::string why = PathProblem(*v); !why.empty()) {
      problems.Add("path", why);
    } else {
      d.path = *v;
    }
  }
  bool type_ok = false;
  if (auto v = StringMember(json_value, "type", "", true, problems)) {
    if (std::optional<OutputType> t = ParseOutputType(*v)) {
      d.type = *t;
      type_ok = true;
    } else {
      problems.Add("type", absl::StrCat(Quote(*v), " is not one of ", TypeList()));
    }
  }
  if (auto v = StringMember(json_value, "description", "", false, problems)) {
    if (v->size() > kMaxDescriptionBytes) {
      problems.Add("description", absl::StrCat("longer than ", kMaxDescriptionBytes, " bytes"));
    } else {
      d.description = *v;
    }
  }
  const json* table = nullptr;
  if (auto it = json_value.find("table"); it != json_value.end()) {
    table = &*it;
    if (!it->is_object()) {
      problems.Add("table", "must be an object {keys, counts, statistics, ...}");
    } else {
      d.table = ParseTable(*it, problems);
    }
  }
  bool has_evidence = false;
  if (auto it = json_value.find("evidence"); it != json_value.end()) {
    has_evidence = true;
    if (!it->is_string()) {
      problems.Add("evidence", "must be a string (the sidecar's path)");
    } else if (std::string why = PathProblem(it->get_ref<const std::string&>()); !why.empty()) {
      problems.Add("evidence", why);
    } else if (!d.path.empty() && it->get_ref<const std::string&>() == d.path) {
      problems.Add("evidence", "must differ from path");
    } else {
      d.evidence = it->get<std::string>();
    }
  }
  if (type_ok) CheckTypeRequirements(d.type, table, has_evidence, problems);

  if (!problems.empty()) return problems.Status();
  return d;
}

json ToJson(const Declaration& declaration) {
  json out = json::object();
  if (!declaration.name.empty()) out["name"] = declaration.name;
  if (!declaration.path.empty()) out["path"] = declaration.path;
  out["type"] = std::string(OutputTypeName(declaration.type));
  if (!declaration.description.empty()) out["description"] = declaration.description;
  if (IsTableType(declaration.type)) {
    const TableSpec& t = declaration.table;
    json table = json::object();
    if (!t.keys.empty()) table["keys"] = t.keys;
    if (!t.counts.empty()) table["counts"] = t.counts;
    if (!t.statistics.empty()) table["statistics"] = t.statistics;
    if (!t.total_label.empty()) table["total_label"] = t.total_label;
    if (t.rounding != 0) table["rounding"] = t.rounding;
    if (!t.time.empty()) table["time"] = t.time;
    if (!t.at_risk.empty()) table["at_risk"] = t.at_risk;
    if (!t.events.empty()) table["events"] = t.events;
    if (!t.censored.empty()) table["censored"] = t.censored;
    if (t.delimiter != ',') table["delimiter"] = std::string(1, t.delimiter);
    out["table"] = std::move(table);
  }
  if (!declaration.evidence.empty()) out["evidence"] = declaration.evidence;
  return out;
}

absl::StatusOr<Evidence> ParseEvidence(const json& json_value) {
  if (!json_value.is_object()) {
    return absl::InvalidArgumentError("evidence: must be a JSON object {version, cells}");
  }
  Problems problems;
  CheckMembers(json_value, {"version", "cells"}, "", problems);
  if (auto it = json_value.find("version"); it == json_value.end()) {
    problems.Add("version", "required (1)");
  } else if (!it->is_number_integer() || it->get<std::int64_t>() != 1) {
    problems.Add("version", "must be 1");
  }
  Evidence evidence;
  auto it = json_value.find("cells");
  if (it == json_value.end()) {
    problems.Add("cells", "required");
  } else if (!it->is_array()) {
    problems.Add("cells", "must be an array of cells");
  } else if (it->size() > kMaxEvidenceCells) {
    problems.Add("cells", absl::StrCat("more than ", kMaxEvidenceCells, " cells"));
  } else {
    evidence.cells.reserve(it->size());
    std::set<std::pair<std::size_t, std::string>> seen;
    for (std::size_t i = 0; i < it->size(); ++i) {
      const std::string where = absl::StrCat("cells[", i, "]");
      std::optional<CellEvidence> cell = ParseCell((*it)[i], where, problems);
      if (!cell) continue;
      if (!seen.emplace(cell->row, cell->column).second) {
        problems.Add(where, absl::StrCat("row ", cell->row, " column ", Quote(cell->column),
                                         " is given twice"));
        continue;
      }
      evidence.cells.push_back(std::move(*cell));
    }
  }
  if (!problems.empty()) return problems.Status();
  return evidence;
}

}  // namespace safeflow::executor::disclosure
