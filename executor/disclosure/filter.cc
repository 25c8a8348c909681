// executor/disclosure/filter.cc. Running the chain over one file, and the two rules every file
// meets first: size_limit and declaration.
#include "executor/disclosure/filter.h"

#include <algorithm>
#include <exception>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include <openssl/evp.h>

#include "executor/disclosure/rules_common.h"

namespace safeflow::executor::disclosure {
namespace {

using detail::CellValue;
using detail::ColumnRef;
using detail::IsWhole;
using detail::NewFinding;
using detail::PresentColumns;

// Lower-case hex SHA-256, or "" if OpenSSL fails (then CheckFile fails the file).
std::string Sha256Hex(std::string_view data) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, &length) != 1) {
    return "";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xF]);
  }
  return hex;
}

// The lower-cased extension of the path's last component, with its dot (".csv"), or "".
std::string Extension(std::string_view path) {
  const std::size_t slash = path.find_last_of('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const std::size_t dot = base.find_last_of('.');
  if (dot == std::string_view::npos || dot == 0) return "";
  std::string ext(base.substr(dot));
  for (char& c : ext) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return ext;
}

bool IsTabular(const FileInput& input) {
  if (input.declaration && (detail::HasTableSpec(input.declaration->type) ||
                            input.declaration->type == OutputType::kDataExtract)) {
    return true;
  }
  // Other types (a regression's coefficients, an undeclared file) are tables when they are
  // CSV/TSV files, so that column rules (identifiers, a df_resid column) see their cells.
  const std::string ext = Extension(input.path);
  return ext == ".csv" || ext == ".tsv";
}

// The declaration's delimiter; '\t' for a .tsv whose declaration left the default ','.
char Delimiter(const FileInput& input) {
  const bool tsv = Extension(input.path) == ".tsv";
  if (!input.declaration) return tsv ? '\t' : ',';
  const char declared = input.declaration->table.delimiter;
  return (tsv && declared == ',') ? '\t' : declared;
}

// The size the rules judge: the larger of the stated size and the bytes given.
std::uint64_t EffectiveSize(const FileInput& input) {
  return std::max<std::uint64_t>(input.size_bytes, input.content.size());
}

class SizeLimitFilter final : public OutputFilter {
 public:
  std::string_view Name() const override { return "size_limit"; }
  std::optional<Finding> Apply(const FileContext& file) const override {
    Finding f = NewFinding(Name(), {{"max_file_bytes", file.profile.max_file_bytes},
                                    {"max_rows", file.profile.max_rows}});
    const std::uint64_t size = EffectiveSize(file.input);
    if (size > file.profile.max_file_bytes) {
      f.outcome = Verdict::kFail;
      f.message = absl::StrCat("The file has ", size, " bytes, more than the limit of ",
                               file.profile.max_file_bytes, "; it was not read.");
      return f;
    }
    if (file.table_error.rfind(detail::kTooManyRowsPrefix, 0) == 0) {
      f.outcome = Verdict::kFail;
      f.message = absl::StrCat("The table has more than the limit of ", file.profile.max_rows,
                               " data rows.");
      return f;
    }
    f.message = absl::StrCat(
        "The file has ", size, " bytes",
        file.table ? absl::StrCat(" and ", file.table->rows.size(), " rows") : std::string(),
        ", within the limits.");
    return f;
  }
};

// What the declaration check found, by kind, for the message.
struct Problems {
  std::vector<std::string> kinds;
  void Add(std::string kind) {
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) kinds.push_back(kind);
  }
};

bool IsCountCell(std::string_view cell) {
  if (IsSuppressed(cell)) return true;
  const std::optional<double> v = ParseNumber(cell);
  return v && *v >= 0 && IsWhole(*v);
}

bool IsStatisticCell(std::string_view cell) {
  return IsSuppressed(cell) || ParseNumber(cell).has_value();
}

// Problems with one cell's evidence itself (beyond naming the cell), or "".
std::string EvidenceInconsistency(const CellEvidence& e) {
  if (e.n < 0) return "n is negative";
  if (e.negatives < 0 || e.negatives > e.n) return "negatives is not between 0 and n";
  if (!(e.sum >= 0)) return "sum (of absolute values) is negative";
  if (static_cast<std::int64_t>(e.largest.size()) > e.n) return "more largest values than n";
  if (e.largest.size() < static_cast<std::size_t>(std::min<std::int64_t>(e.n, 2))) {
    return "largest must list the 2 largest contributions (1 when n is 1)";
  }
  double top = 0;
  for (std::size_t i = 0; i < e.largest.size(); ++i) {
    if (!(e.largest[i] >= 0)) return "largest holds a negative value";
    if (i > 0 && e.largest[i] > e.largest[i - 1]) return "largest is not in descending order";
    top += e.largest[i];
  }
  if (detail::ClearlyGreater(top, e.sum)) return "largest values add up to more than sum";
  return "";
}

void CheckTableAgainstDeclaration(const FileContext& file, Finding& f) {
  const Declaration& decl = *file.input.declaration;
  const TableSpec& spec = decl.table;
  const Table& table = *file.table;
  Problems problems;

  std::vector<std::string> missing;
  std::vector<std::string> declared = spec.keys;
  for (const std::string& name : detail::CountColumnNames(spec)) declared.push_back(name);
  for (const std::string& name : spec.statistics) declared.push_back(name);
  if (!spec.time.empty()) declared.push_back(spec.time);
  for (const std::string& name : declared) {
    if (table.Column(name) < 0 &&
        std::find(missing.begin(), missing.end(), name) == missing.end()) {
      missing.push_back(name);
    }
  }
  if (!missing.empty()) {
    problems.Add(
        absl::StrCat("declared columns missing from the header: ", absl::StrJoin(missing, ", ")));
  }

  const std::vector<ColumnRef> counts = PresentColumns(table, detail::CountColumnNames(spec));
  const std::vector<ColumnRef> statistics = PresentColumns(table, spec.statistics);
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    for (const ColumnRef& c : counts) {
      const std::string& cell = table.rows[r][c.index];
      if (!IsCountCell(cell)) {
        problems.Add("count cells that are not non-negative integers or suppression markers");
        f.AddCell({r, c.name, cell, "not a count"});
      }
    }
    for (const ColumnRef& c : statistics) {
      const std::string& cell = table.rows[r][c.index];
      if (!IsStatisticCell(cell)) {
        problems.Add("statistic cells that are not numbers or suppression markers");
        f.AddCell({r, c.name, cell, "not a number"});
      }
    }
  }

  if (decl.type == OutputType::kMagnitudeTable || decl.type == OutputType::kMeanTable) {
    if (!file.input.evidence || !file.input.evidence_error.empty()) {
      problems.Add(absl::StrCat("no usable evidence (",
                                file.input.evidence_error.empty() ? std::string("not provided")
                                                                  : file.input.evidence_error,
                                ")"));
    } else {
      const std::set<std::string> declared_statistics(spec.statistics.begin(),
                                                      spec.statistics.end());
      std::set<std::pair<std::size_t, std::string>> covered;
      for (const CellEvidence& e : file.input.evidence->cells) {
        const std::string value = detail::CellText(file.table, e.row, e.column);
        if (e.row >= table.rows.size()) {
          problems.Add("evidence for rows the table does not have");
          f.AddCell({e.row, e.column, "", "evidence names no such row"});
        } else if (declared_statistics.count(e.column) == 0 || table.Column(e.column) < 0) {
          problems.Add("evidence for columns that are not declared statistics");
          f.AddCell({e.row, e.column, value, "evidence names no declared statistics column"});
        } else if (!covered.insert({e.row, e.column}).second) {
          problems.Add("cells with more than one evidence entry");
          f.AddCell({e.row, e.column, value, "evidence given twice"});
        } else if (std::string why = EvidenceInconsistency(e); !why.empty()) {
          problems.Add("inconsistent evidence");
          f.AddCell({e.row, e.column, value, absl::StrCat("evidence: ", why)});
        }
      }
      for (std::size_t r = 0; r < table.rows.size(); ++r) {
        for (const ColumnRef& c : statistics) {
          const std::string& cell = table.rows[r][c.index];
          if (!IsSuppressed(cell) && covered.count({r, c.name}) == 0) {
            problems.Add("statistic cells without evidence");
            f.AddCell({r, c.name, cell, "no evidence for this cell"});
          }
        }
      }
    }
  }

  if (problems.kinds.empty()) {
    f.message = absl::StrCat("The table matches its declaration as ",
                             std::string(OutputTypeName(decl.type)), ".");
    return;
  }
  f.outcome = Verdict::kFail;
  f.message = absl::StrCat("The file does not match its declaration as ",
                           std::string(OutputTypeName(decl.type)), ": ",
                           absl::StrJoin(problems.kinds, "; "), ".");
}

class DeclarationFilter final : public OutputFilter {
 public:
  std::string_view Name() const override { return "declaration"; }
  std::optional<Finding> Apply(const FileContext& file) const override {
    Finding f = NewFinding(Name());
    if (!file.input.declaration) {
      f.parameters = {{"type", "undeclared"}};
      f.outcome = Verdict::kReview;
      f.message =
          "The output's type was not declared, so it cannot be checked automatically: a "
          "checker must review it.";
      return f;
    }
    const OutputType type = file.input.declaration->type;
    const std::string type_name(OutputTypeName(type));
    f.parameters = {{"type", type_name}};
    switch (type) {
      case OutputType::kFigure:
      case OutputType::kText:
      case OutputType::kOther:
        f.outcome = Verdict::kReview;
        f.message = absl::StrCat("A ", type_name,
                                 " output cannot be checked automatically: a checker must "
                                 "review it.");
        return f;
      case OutputType::kDataExtract:
        f.parameters["allow_data_extract"] = file.profile.allow_data_extract;
        if (file.profile.allow_data_extract) {
          f.outcome = Verdict::kReview;
          f.message = absl::StrCat("Profile ", file.profile.name,
                                   " allows data extracts, but a checker must review each.");
        } else {
          f.outcome = Verdict::kFail;
          f.message = absl::StrCat(
              "Data extracts (row-level data) may not leave the zone under "
              "profile ",
              file.profile.name, ".");
        }
        return f;
      case OutputType::kRegression:
        f.message = "Declared as a regression (checked by residual_dof).";
        return f;
      default:
        break;
    }
    if (file.table == nullptr) {
      f.outcome = Verdict::kFail;
      f.message = absl::StrCat(
          "The file was declared as ", type_name, " but could not be read as a table (",
          file.table_error.empty() ? std::string("not parsed") : file.table_error, ").");
      return f;
    }
    CheckTableAgainstDeclaration(file, f);
    return f;
  }
};

}  // namespace

std::unique_ptr<OutputFilter> NewSizeLimitFilter() { return std::make_unique<SizeLimitFilter>(); }
std::unique_ptr<OutputFilter> NewDeclarationFilter() {
  return std::make_unique<DeclarationFilter>();
}

std::vector<std::unique_ptr<OutputFilter>> DefaultChain() {
  std::vector<std::unique_ptr<OutputFilter>> chain;
  chain.push_back(NewSizeLimitFilter());
  chain.push_back(NewFileTypeFilter());
  chain.push_back(NewDeclarationFilter());
  chain.push_back(NewIdentifierFilter());
  chain.push_back(NewIdentifierColumnFilter());
  chain.push_back(NewMinCellCountFilter());
  chain.push_back(NewZerosFilter());
  chain.push_back(NewDominanceFilter());
  chain.push_back(NewPPercentFilter());
  chain.push_back(NewNegativesFilter());
  chain.push_back(NewMarginsFilter());
  chain.push_back(NewRoundingFilter());
  chain.push_back(NewHistogramFilter());
  chain.push_back(NewSurvivalFilter());
  chain.push_back(NewResidualDofFilter());
  chain.push_back(NewDifferencingFilter());
  return chain;
}

FileReport CheckFile(const FileInput& input, const Profile& profile,
                     const std::vector<ReleasedTable>& history,
                     const std::vector<std::unique_ptr<OutputFilter>>& chain) {
  FileReport report;
  report.name = input.name;
  report.path = input.path;
  report.size_bytes = input.size_bytes;
  report.type =
      input.declaration ? std::string(OutputTypeName(input.declaration->type)) : "undeclared";
  report.profile = profile.name;

  // Oversized files are not looked at, whatever the caller passed.
  const bool oversized = EffectiveSize(input) > profile.max_file_bytes;
  const std::string_view content = oversized ? std::string_view() : input.content;
  report.sha256 = Sha256Hex(content);

  std::optional<Table> table;
  std::string table_error;
  if (IsTabular(input)) {
    if (oversized) {
      table_error =
          absl::StrCat("not read: the file is larger than ", profile.max_file_bytes, " bytes");
    } else {
      absl::StatusOr<Table> parsed = ParseTable(content, Delimiter(input), profile.max_rows);
      if (parsed.ok()) {
        table = *std::move(parsed);
      } else {
        table_error = absl::StrCat(absl::StatusCodeToString(parsed.status().code()), ": ",
                                   std::string(parsed.status().message()));
      }
    }
  }
  // The rules see the content only when it was within the limit.
  std::optional<FileInput> unread;
  if (oversized) {
    unread = input;
    unread->content = {};
  }
  const FileContext context{unread ? *unread : input, profile, table ? &*table : nullptr,
                            table_error, history};

  for (const std::unique_ptr<OutputFilter>& filter : chain) {
    if (filter == nullptr) continue;
    const std::string name(filter->Name());
    std::optional<Finding> finding;
    try {
      finding = filter->Apply(context);
    } catch (const std::exception& e) {
      // A rule that breaks must not let the file through, nor take the service down.
      finding = NewFinding(name);
      finding->outcome = Verdict::kFail;
      finding->message = absl::StrCat("The rule failed internally (", e.what(), ").");
    } catch (...) {
      finding = NewFinding(name);
      finding->outcome = Verdict::kFail;
      finding->message = "The rule failed internally.";
    }
    if (!finding) continue;
    finding->rule = name;
    report.rules_applied.push_back(name);
    report.findings.push_back(*std::move(finding));
  }
  if (report.sha256.empty()) {
    Finding f = NewFinding("sha256");
    f.outcome = Verdict::kFail;
    f.message = "The file's SHA-256 could not be computed.";
    report.rules_applied.push_back(f.rule);
    report.findings.push_back(std::move(f));
  }
  report.verdict = CombinedVerdict(report.findings);
  return report;
}

FileReport CheckFile(const FileInput& input, const Profile& profile,
                     const std::vector<ReleasedTable>& history) {
  return CheckFile(input, profile, history, DefaultChain());
}

}  // namespace safeflow::executor::disclosure
