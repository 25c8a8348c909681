// executor/disclosure/table.h. The CSV/TSV tables the filter reads: RFC 4180 (quoted fields,
// doubled quotes, CRLF or LF, quoted newlines), one header row, every row as wide as the
// header. Also the cell vocabulary shared by the rules: numbers and suppression markers.
// Pure code, no I/O.
#ifndef SAFEFLOW_EXECUTOR_DISCLOSURE_TABLE_H_
#define SAFEFLOW_EXECUTOR_DISCLOSURE_TABLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace safeflow::executor::disclosure {

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // data rows, each header.size() wide

  // Index of the column named `name` (exact match), or -1.
  int Column(std::string_view name) const;
};

// InvalidArgument naming the 1-based line for: an unterminated quote, a stray quote inside an
// unquoted field, a row of a different width than the header, an empty or duplicate header
// name, no header at all. ResourceExhausted when there are more than `max_rows` data rows.
// A UTF-8 BOM is skipped; a final line break is optional; blank lines are refused.
[[nodiscard]] absl::StatusOr<Table> ParseTable(std::string_view content, char delimiter,
                                               std::uint64_t max_rows);

// A plain decimal number ("12", "-3.5", "1e3", " 7 " trimmed; thousands separators "1,234"
// only when quoted fields made them one cell). nullopt for anything else, including "", "NA",
// "inf", "nan", hex.
std::optional<double> ParseNumber(std::string_view cell);

// Whether a cell marks a suppressed value: "", "*", "**", "c", "[c]", "x", "[x]", "-",
// "suppressed", "<N" / "< N" (N a number), "NA" is NOT suppression (missing).
bool IsSuppressed(std::string_view cell);

}  // namespace safeflow::executor::disclosure

#endif  // SAFEFLOW_EXECUTOR_DISCLOSURE_TABLE_H_
