// executor/disclosure/filter.h. The disclosure-control filter: a chain of OutputFilters, each
// one rule, run over one file. Deny by default: the verdict is the worst finding, a file that
// no rule passed is `fail`, and an output whose type was not declared (or cannot be checked
// automatically: figure, text, other) is `review` at best. Used in safeflowd's airlock and by
// `safeflow check-outputs`, so that researchers and checkers get the same answer offline.
// Thread-safe: filters hold no state.
#ifndef SAFEFLOW_EXECUTOR_DISCLOSURE_FILTER_H_
#define SAFEFLOW_EXECUTOR_DISCLOSURE_FILTER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "executor/disclosure/declaration.h"
#include "executor/disclosure/profile.h"
#include "executor/disclosure/report.h"
#include "executor/disclosure/table.h"

namespace safeflow::executor::disclosure {

// A table the project released before (for differencing).
struct ReleasedTable {
  std::string request_id, name, path, sha256;
  Declaration declaration;
  std::string content;
};

struct FileInput {
  std::string name;  // output name (or the path, offline)
  std::string path;  // file name with extension, relative
  // The whole file. Callers read at most profile.max_file_bytes: when size_bytes is larger,
  // content is empty and the file fails the size rule without being looked at.
  std::string_view content;
  std::uint64_t size_bytes = 0;
  std::optional<Declaration> declaration;  // nullopt: undeclared
  std::optional<Evidence> evidence;        // the declared sidecar, parsed
  std::string evidence_error;              // why the declared sidecar is missing or invalid
};

// What each filter sees. `table` is set when the file is tabular (a declared table type, or
// any other .csv/.tsv) and parsed; otherwise `table_error` says why not (empty for non-tabular
// files).
struct FileContext {
  const FileInput& input;
  const Profile& profile;
  const Table* table = nullptr;
  std::string table_error;
  const std::vector<ReleasedTable>& history;
  std::optional<OutputType> type() const {
    return input.declaration ? std::optional<OutputType>(input.declaration->type) : std::nullopt;
  }
};

// One rule. Implementations are final classes in anonymous namespaces behind the New*
// factories below.
class OutputFilter {
 public:
  virtual ~OutputFilter() = default;
  virtual std::string_view Name() const = 0;
  // A finding (with outcome pass when the rule holds) when the rule applies to this file;
  // nullopt when it does not apply (e.g. dominance on a frequency table).
  virtual std::optional<Finding> Apply(const FileContext& file) const = 0;
};

// The rules, by name (README.md describes each with its parameters):
std::unique_ptr<OutputFilter> NewSizeLimitFilter();         // "size_limit": bytes and rows
std::unique_ptr<OutputFilter> NewFileTypeFilter();          // "file_type": extension + content
std::unique_ptr<OutputFilter> NewDeclarationFilter();       // "declaration": type coverage
std::unique_ptr<OutputFilter> NewIdentifierFilter();        // "direct_identifiers": values
std::unique_ptr<OutputFilter> NewIdentifierColumnFilter();  // "identifier_columns": headers
std::unique_ptr<OutputFilter> NewMinCellCountFilter();      // "min_cell_count"
std::unique_ptr<OutputFilter> NewZerosFilter();             // "zeros"
std::unique_ptr<OutputFilter> NewDominanceFilter();         // "dominance_nk"
std::unique_ptr<OutputFilter> NewPPercentFilter();          // "p_percent"
std::unique_ptr<OutputFilter> NewNegativesFilter();         // "negative_contributions"
std::unique_ptr<OutputFilter> NewMarginsFilter();           // "margin_recovery"
std::unique_ptr<OutputFilter> NewRoundingFilter();          // "rounding"
std::unique_ptr<OutputFilter> NewHistogramFilter();         // "histogram_bins"
std::unique_ptr<OutputFilter> NewSurvivalFilter();          // "survival_steps"
std::unique_ptr<OutputFilter> NewResidualDofFilter();       // "residual_dof"
std::unique_ptr<OutputFilter> NewDifferencingFilter();      // "differencing"

// Every rule above, in the order listed.
std::vector<std::unique_ptr<OutputFilter>> DefaultChain();

// Runs `chain` over `input`: parses the table when tabular (delimiter from the declaration, or
// '\t' for .tsv), applies each filter, records sha256 of `content` (empty content: of nothing
// read, and the size rule fails), and combines the verdict.
FileReport CheckFile(const FileInput& input, const Profile& profile,
                     const std::vector<ReleasedTable>& history,
                     const std::vector<std::unique_ptr<OutputFilter>>& chain);
// With DefaultChain().
FileReport CheckFile(const FileInput& input, const Profile& profile,
                     const std::vector<ReleasedTable>& history = {});

// Masks an identifier for reports: the first 3 characters then '*' for the rest.
std::string MaskIdentifier(std::string_view value);

}  // namespace safeflow::executor::disclosure

#endif  // SAFEFLOW_EXECUTOR_DISCLOSURE_FILTER_H_
