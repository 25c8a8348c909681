// executor/disclosure/regression.cc. Residual degrees of freedom of model summaries and the
// "residual_dof" rule: a model fitted with few residual degrees of freedom (or with many
// parameters per observation) can reproduce individual records from its coefficients.
#include "executor/disclosure/regression.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

#include "executor/disclosure/filter.h"
#include "executor/disclosure/identifiers.h"

namespace safeflow::executor::disclosure {
namespace {

constexpr std::size_t kMaxCellText = 200;
// Model summaries are shallow; deeper documents are not built in memory.
constexpr std::size_t kMaxJsonDepth = 256;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

char ToLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ToLower(a[i]) != ToLower(b[i])) return false;
  }
  return true;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  return text;
}

std::vector<std::string_view> Words(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && IsSpace(text[i])) ++i;
    const std::size_t start = i;
    while (i < text.size() && !IsSpace(text[i])) ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

// A finite decimal number filling `word` (Stata's thousands commas allowed: "1,234").
std::optional<double> Number(std::string_view word) {
  std::string digits;
  for (char c : word) {
    if (c != ',') digits.push_back(c);
  }
  if (digits.empty() || digits.size() > 40) return std::nullopt;
  double value = 0;
  const char* end = digits.data() + digits.size();
  const auto [ptr, ec] = std::from_chars(digits.data(), end, value);
  if (ec != std::errc() || ptr != end || !std::isfinite(value)) return std::nullopt;
  return value;
}

// The first word after `label` in `line`, as a number.
std::optional<double> NumberAfter(std::string_view line, std::string_view label) {
  const std::size_t at = line.find(label);
  if (at == std::string_view::npos) return std::nullopt;
  const std::vector<std::string_view> words = Words(line.substr(at + label.size()));
  if (words.empty()) return std::nullopt;
  return Number(words[0]);
}

// Text safe to put in a report: at most kMaxCellText bytes, cut at a character boundary, any
// byte that is not UTF-8 replaced by '?'.
std::string CellText(std::string_view line) {
  std::string_view trimmed = Trim(line);
  if (trimmed.size() > kMaxCellText) {
    std::size_t cut = kMaxCellText;
    while (cut > 0 && (static_cast<unsigned char>(trimmed[cut]) & 0xC0u) == 0x80u) --cut;
    trimmed = trimmed.substr(0, cut);
  }
  std::string text(trimmed);
  while (std::optional<std::size_t> bad = FirstInvalidUtf8(text)) text[*bad] = '?';
  return text;
}

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// "Label: X on N degrees of freedom" (R): N.
std::optional<double> DegreesOfFreedomAfter(std::string_view line, std::string_view label) {
  const std::size_t at = line.find(label);
  if (at == std::string_view::npos) return std::nullopt;
  const std::vector<std::string_view> words = Words(line.substr(at + label.size()));
  if (words.size() < 4 || words[1] != "on" || words[3].substr(0, 6) != "degree") {
    return std::nullopt;
  }
  return Number(words[2]);
}

// An integer inside "name(" ... ")" such as "F(2, 71)" or "chi2(3)": the numbers in it.
std::vector<double> ParenthesisedNumbers(std::string_view line, std::string_view name) {
  for (std::size_t at = line.find(name); at != std::string_view::npos;
       at = line.find(name, at + 1)) {
    const bool word_start = at == 0 || !std::isalnum(static_cast<unsigned char>(line[at - 1]));
    if (!word_start) continue;
    const std::size_t open = at + name.size();
    const std::size_t close = line.find(')', open);
    if (close == std::string_view::npos) return {};
    std::string inner(line.substr(open, close - open));
    std::replace(inner.begin(), inner.end(), ',', ' ');
    std::vector<double> numbers;
    for (std::string_view word : Words(inner)) {
      std::optional<double> number = Number(word);
      if (!number) return {};
      numbers.push_back(*number);
    }
    return numbers;
  }
  return {};
}

// A Stata ANOVA "Residual |  SS  df  MS" row: df.
std::optional<double> StataResidualRow(std::string_view line) {
  const std::string_view trimmed = Trim(line);
  if (trimmed.substr(0, 8) != "Residual") return std::nullopt;
  const std::string_view rest = Trim(trimmed.substr(8));
  if (rest.empty() || rest.front() != '|') return std::nullopt;
  const std::vector<std::string_view> words = Words(rest.substr(1));
  if (words.size() < 3 || !Number(words[0]) || !Number(words[2])) return std::nullopt;
  return Number(words[1]);
}

ModelDof TextModel(double dof, std::string source, std::size_t line_index, std::string_view line) {
  ModelDof model;
  model.dof = dof;
  model.source = std::move(source);
  model.row = line_index + 1;
  model.text = CellText(line);
  return model;
}

void FindR(const std::vector<std::string_view>& lines, std::vector<ModelDof>& models) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (std::optional<double> dof = DegreesOfFreedomAfter(lines[i], "Residual standard error:")) {
      ModelDof model = TextModel(*dof, "R lm", i, lines[i]);
      for (std::size_t j = i + 1; j < lines.size() && j <= i + 3; ++j) {
        const std::size_t at = lines[j].find("F-statistic:");
        if (at == std::string_view::npos) continue;
        const std::vector<std::string_view> words = Words(lines[j].substr(at + 12));
        // "F-statistic: 66.79 on 2 and 71 DF,  p-value: ..."
        if (words.size() >= 5 && words[1] == "on" && words[3] == "and") {
          if (std::optional<double> k = Number(words[2])) {
            model.parameters = *k + 1;
            model.n = *dof + *k + 1;
          }
        }
        break;
      }
      models.push_back(std::move(model));
    } else if (std::optional<double> residual =
                   DegreesOfFreedomAfter(lines[i], "Residual deviance:")) {
      ModelDof model = TextModel(*residual, "R glm", i, lines[i]);
      for (std::size_t back = 1; back <= 3 && back <= i; ++back) {
        if (std::optional<double> null_dof =
                DegreesOfFreedomAfter(lines[i - back], "Null deviance:")) {
          model.n = *null_dof + 1;
          model.parameters = *null_dof - *residual + 1;
          break;
        }
      }
      models.push_back(std::move(model));
    }
  }
}

void FindStatsmodels(const std::vector<std::string_view>& lines, std::vector<ModelDof>& models) {
  constexpr std::size_t kWindow = 3;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::optional<double> dof = NumberAfter(lines[i], "Df Residuals:");
    if (!dof) continue;
    ModelDof model = TextModel(*dof, "statsmodels", i, lines[i]);
    std::optional<double> k;
    // The nearest lines first: summaries may follow one another.
    for (std::size_t distance = 1; distance <= kWindow; ++distance) {
      for (const std::size_t j : {i - distance, i + distance}) {
        if (distance > i && j == i - distance) continue;  // before the first line
        if (j >= lines.size()) continue;
        if (!model.n) {
          if (std::optional<double> n = NumberAfter(lines[j], "No. Observations:")) model.n = n;
        }
        if (!k) k = NumberAfter(lines[j], "Df Model:");
      }
    }
    if (model.n) {
      model.parameters = *model.n - *dof;
    } else if (k) {
      model.parameters = *k + 1;  // df_model leaves out the constant
      model.n = *dof + *k + 1;
    }
    models.push_back(std::move(model));
  }
}

void FindStata(const std::vector<std::string_view>& lines, std::vector<ModelDof>& models) {
  constexpr std::size_t kWindow = 12;
  std::vector<bool> used(lines.size(), false);
  const auto number_of_obs = [&](std::size_t i) -> std::optional<double> {
    const std::size_t at = lines[i].find("Number of obs");
    if (at == std::string_view::npos) return std::nullopt;
    const std::size_t equals = lines[i].find('=', at);
    if (equals == std::string_view::npos) return std::nullopt;
    const std::vector<std::string_view> words = Words(lines[i].substr(equals + 1));
    return words.empty() ? std::nullopt : Number(words[0]);
  };
  for (std::size_t a = 0; a < lines.size(); ++a) {
    const std::optional<double> n = number_of_obs(a);
    if (!n) continue;
    std::size_t end = std::min(lines.size(), a + kWindow + 1);
    for (std::size_t j = a + 1; j < end; ++j) {
      if (number_of_obs(j)) {
        end = j;
        break;
      }
    }
    std::optional<std::size_t> residual_line, f_line, chi2_line;
    std::vector<double> f, chi2;
    for (std::size_t j = a; j < end; ++j) {
      if (!residual_line && StataResidualRow(lines[j])) residual_line = j;
      if (!f_line) {
        if (std::vector<double> numbers = ParenthesisedNumbers(lines[j], "F(");
            numbers.size() == 2) {
          f_line = j;
          f = std::move(numbers);
        }
      }
      if (!chi2_line) {
        if (std::vector<double> numbers = ParenthesisedNumbers(lines[j], "chi2(");
            numbers.size() == 1) {
          chi2_line = j;
          chi2 = std::move(numbers);
        }
      }
    }
    if (residual_line) {
      const double dof = *StataResidualRow(lines[*residual_line]);
      ModelDof model = TextModel(dof, "Stata", *residual_line, lines[*residual_line]);
      model.n = n;
      model.parameters = *n - dof;
      used[*residual_line] = true;
      models.push_back(std::move(model));
    } else if (f_line) {
      ModelDof model = TextModel(f[1], "Stata", *f_line, lines[*f_line]);
      model.n = n;
      model.parameters = *n - f[1];
      models.push_back(std::move(model));
    } else if (chi2_line) {
      const double k = chi2[0];
      ModelDof model = TextModel(*n - k - 1, "Stata", *chi2_line, lines[*chi2_line]);
      model.n = n;
      model.parameters = k + 1;
      models.push_back(std::move(model));
    }
  }
  // ANOVA tables without a "Number of obs" header (anova, or a cut summary).
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (used[i]) continue;
    if (std::optional<double> dof = StataResidualRow(lines[i])) {
      models.push_back(TextModel(*dof, "Stata", i, lines[i]));
    }
  }
}

bool IsDofName(std::string_view name) {
  for (std::string_view known :
       {"df_resid", "df_residual", "residual_df", "residual_dof", "df.residual", "Df Residuals"}) {
    if (EqualsNoCase(Trim(name), known)) return true;
  }
  return false;
}

bool IsObservationsName(std::string_view name) {
  for (std::string_view known : {"nobs", "n_obs", "No. Observations"}) {
    if (EqualsNoCase(Trim(name), known)) return true;
  }
  return false;
}

bool IsModelDfName(std::string_view name) {
  for (std::string_view known : {"df_model", "Df Model"}) {
    if (EqualsNoCase(Trim(name), known)) return true;
  }
  return false;
}

std::optional<double> JsonNumber(const nlohmann::json& value) {
  if (value.is_number()) {
    const double number = value.get<double>();
    return std::isfinite(number) ? std::optional<double>(number) : std::nullopt;
  }
  if (value.is_string()) return Number(Trim(value.get_ref<const std::string&>()));
  return std::nullopt;
}

std::string PointerToken(std::string_view key) {
  std::string token;
  for (char c : key) {
    if (c == '~') {
      token += "~0";
    } else if (c == '/') {
      token += "~1";
    } else {
      token.push_back(c);
    }
  }
  return token;
}

void ModelParameters(ModelDof& model, std::optional<double> k) {
  if (model.n) {
    model.parameters = *model.n - model.dof;
  } else if (k) {
    model.parameters = *k + 1;
    model.n = model.dof + *k + 1;
  }
}

// The deepest nesting of arrays and objects in `text` read as JSON (strings skipped), stopping
// once it exceeds `limit`: a cheap guard before building a document in memory.
std::size_t JsonDepth(std::string_view text, std::size_t limit) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size() && deepest <= limit; ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::string FormatNumber(double value) {
  if (std::floor(value) == value && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<long long>(value));
  }
  return absl::StrCat(value);
}

// ---- the rule -----------------------------------------------------------------------------------

class ResidualDofFilter final : public OutputFilter {
 public:
  std::string_view Name() const override { return "residual_dof"; }

  std::optional<Finding> Apply(const FileContext& file) const override {
    const FileInput& input = file.input;
    const Profile& profile = file.profile;
    const bool declared = file.type() == OutputType::kRegression;
    const std::string extension = LowerCaseExtension(input.path);
    const bool read = !(input.content.empty() && input.size_bytes > 0);

    std::vector<ModelDof> models;
    if (read && IsTextExtension(extension)) {
      models = FindModelsInText(input.content);
      const std::string_view trimmed = Trim(input.content);
      const bool looks_json =
          !trimmed.empty() && (trimmed.front() == '{' || trimmed.front() == '[');
      if ((extension == ".json" || (declared && looks_json)) &&
          JsonDepth(input.content, kMaxJsonDepth) <= kMaxJsonDepth) {
        nlohmann::json json;
        try {
          json = nlohmann::json::parse(input.content, nullptr, /*allow_exceptions=*/false);
        } catch (...) {  // parse reports errors by a discarded value; never let one escape
          json = nlohmann::json(nlohmann::json::value_t::discarded);
        }
        if (!json.is_discarded()) {
          std::vector<ModelDof> found = FindModelsInJson(json);
          models.insert(models.end(), found.begin(), found.end());
        }
      }
      if (file.table != nullptr) {
        std::vector<ModelDof> found = FindModelsInTable(*file.table);
        models.insert(models.end(), found.begin(), found.end());
      }
    }
    if (models.empty() && !declared) return std::nullopt;

    Finding finding;
    finding.rule = std::string(Name());
    finding.parameters = {{"min_dof", profile.residual_dof},
                          {"max_params_ratio", profile.max_params_ratio}};
    if (models.empty()) {
      finding.outcome = Verdict::kReview;
      finding.message =
          read ? "No residual degrees of freedom found in this regression output (R, "
                 "statsmodels, Stata, JSON or a df_resid column); a checker must confirm them."
               : "No residual degrees of freedom found: the file was not read (too large).";
      return finding;
    }

    double smallest = models.front().dof;
    bool too_few = false, too_many_parameters = false;
    for (const ModelDof& model : models) {
      smallest = std::min(smallest, model.dof);
      std::string note =
          absl::StrCat("residual dof ", FormatNumber(model.dof), " (", model.source, ")");
      if (model.dof < profile.residual_dof) {
        too_few = true;
        absl::StrAppend(&note, ": below the minimum ", profile.residual_dof);
      }
      if (profile.max_params_ratio > 0 && model.n && model.parameters && *model.n > 0) {
        const double ratio = *model.parameters / *model.n;
        absl::StrAppend(&note, "; ", FormatNumber(*model.parameters), " parameters for ",
                        FormatNumber(*model.n), " observations");
        if (ratio > profile.max_params_ratio) {
          too_many_parameters = true;
          absl::StrAppend(&note, ": more than ", profile.max_params_ratio,
                          " parameters per observation");
        }
      }
      finding.AddCell(
          {.row = model.row, .column = model.column, .value = model.text, .note = std::move(note)});
    }
    const std::string count =
        absl::StrCat(models.size(), models.size() == 1 ? " model" : " models");
    if (!too_few && !too_many_parameters) {
      finding.outcome = Verdict::kPass;
      finding.message =
          absl::StrCat(count, "; the smallest residual dof is ", FormatNumber(smallest),
                       " (minimum ", profile.residual_dof, ").");
      return finding;
    }
    finding.outcome = profile.statistical_outcome;
    std::vector<std::string> problems;
    if (too_few) {
      problems.push_back(absl::StrCat("the smallest residual dof is ", FormatNumber(smallest),
                                      ", below the minimum ", profile.residual_dof));
    }
    if (too_many_parameters) {
      problems.push_back(absl::StrCat("a model has more than ", profile.max_params_ratio,
                                      " parameters per observation"));
    }
    finding.message = absl::StrCat(count, "; ", problems.front(),
                                   problems.size() > 1 ? absl::StrCat("; ", problems[1]) : "",
                                   ". A model this close to its data can disclose records.");
    return finding;
  }
};

}  // namespace

std::vector<ModelDof> FindModelsInText(std::string_view text) {
  const std::vector<std::string_view> lines = Lines(text);
  std::vector<ModelDof> models;
  FindR(lines, models);
  FindStatsmodels(lines, models);
  FindStata(lines, models);
  std::stable_sort(models.begin(), models.end(),
                   [](const ModelDof& a, const ModelDof& b) { return a.row < b.row; });
  return models;
}

std::vector<ModelDof> FindModelsInJson(const nlohmann::json& json) {
  std::vector<ModelDof> models;
  // Depth-first, in document order, without recursion (the document may be deeply nested).
  // Each structured node remembers its parent and its key, so that a JSON pointer is only
  // built for the members that hold a model (building one per node would be quadratic).
  struct Node {
    const nlohmann::json* value;
    std::size_t parent;  // index into `nodes`; npos for the root
    std::string token;   // the key or index within the parent, escaped
  };
  constexpr std::size_t kRoot = static_cast<std::size_t>(-1);
  std::vector<Node> nodes = {{&json, kRoot, ""}};
  const auto pointer_of = [&](std::size_t index, std::string_view last) {
    std::vector<std::string_view> tokens = {last};
    for (std::size_t i = index; i != kRoot && nodes[i].parent != kRoot; i = nodes[i].parent) {
      tokens.push_back(nodes[i].token);
    }
    std::string pointer;
    for (auto it = tokens.rbegin(); it != tokens.rend(); ++it) {
      pointer.push_back('/');
      pointer.append(*it);
    }
    return pointer;
  };
  std::vector<std::size_t> stack = {0};
  while (!stack.empty()) {
    const std::size_t index = stack.back();
    stack.pop_back();
    const nlohmann::json& value = *nodes[index].value;
    const std::size_t first_child = nodes.size();
    if (value.is_object()) {
      std::optional<double> dof, n, k;
      std::string dof_key;
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (!dof && IsDofName(it.key())) {
          dof = JsonNumber(it.value());
          if (dof) dof_key = PointerToken(it.key());
        } else if (!n && IsObservationsName(it.key())) {
          n = JsonNumber(it.value());
        } else if (!k && IsModelDfName(it.key())) {
          k = JsonNumber(it.value());
        }
        if (it.value().is_structured()) {
          nodes.push_back({&it.value(), index, PointerToken(it.key())});
        }
      }
      if (dof) {
        ModelDof model;
        model.dof = *dof;
        model.n = n;
        model.source = "JSON";
        model.column = pointer_of(index, dof_key);
        model.text = FormatNumber(*dof);
        ModelParameters(model, k);
        models.push_back(std::move(model));
      }
    } else if (value.is_array()) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i].is_structured()) nodes.push_back({&value[i], index, absl::StrCat(i)});
      }
    }
    for (std::size_t child = nodes.size(); child > first_child; --child) {
      stack.push_back(child - 1);
    }
  }
  return models;
}

std::vector<ModelDof> FindModelsInTable(const Table& table) {
  std::optional<std::size_t> dof_column, n_column, k_column;
  for (std::size_t c = 0; c < table.header.size(); ++c) {
    const std::string& name = table.header[c];
    if (!dof_column && IsDofName(name)) dof_column = c;
    if (!n_column && IsObservationsName(name)) n_column = c;
    if (!k_column && IsModelDfName(name)) k_column = c;
  }
  std::vector<ModelDof> models;
  if (!dof_column) return models;
  const auto cell = [&](std::size_t row, std::optional<std::size_t> column) {
    const std::vector<std::string>& cells = table.rows[row];
    return column && *column < cells.size() ? ParseNumber(cells[*column]) : std::nullopt;
  };
  for (std::size_t row = 0; row < table.rows.size(); ++row) {
    const std::optional<double> dof = cell(row, dof_column);
    if (!dof || !std::isfinite(*dof)) continue;
    ModelDof model;
    model.dof = *dof;
    model.n = cell(row, n_column);
    model.source = "table";
    model.row = row;
    model.column = table.header[*dof_column];
    model.text = CellText(table.rows[row][*dof_column]);
    ModelParameters(model, cell(row, k_column));
    models.push_back(std::move(model));
  }
  return models;
}

std::unique_ptr<OutputFilter> NewResidualDofFilter() {
  return std::make_unique<ResidualDofFilter>();
}

}  // namespace safeflow::executor::disclosure
