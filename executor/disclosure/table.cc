// executor/disclosure/table.cc. An RFC 4180 reader written as a small state machine over the
// bytes, and the cell vocabulary (numbers, suppression markers).
#include "executor/disclosure/table.h"

#include <charconv>
#include <cmath>
#include <cstddef>
#include <set>
#include <string>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace safeflow::executor::disclosure {
namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

std::string Printable(char c) {
  if (c == '\t') return "tab";
  if (c == ',') return "comma";
  return absl::StrCat("'", std::string(1, c), "'");
}

// Reads one record starting at `pos` (which is before the end of `text`) into `fields`. Moves
// `pos` past the record's line break and `line` to the line after it.
absl::Status ReadRecord(std::string_view text, char delimiter, std::size_t& pos, std::size_t& line,
                        std::vector<std::string>& fields) {
  fields.clear();
  const std::size_t start_line = line;
  std::string field;
  bool any = false;          // the record holds at least one byte before its line break
  bool in_quotes = false;    // inside a quoted field
  bool after_quote = false;  // a quoted field was closed: only a delimiter or EOL may follow
  while (pos < text.size()) {
    const char c = text[pos];
    if (in_quotes) {
      if (c == '"') {
        if (pos + 1 < text.size() && text[pos + 1] == '"') {
          field.push_back('"');
          pos += 2;
          continue;
        }
        in_quotes = false;
        after_quote = true;
        ++pos;
        continue;
      }
      if (c == '\n') ++line;
      field.push_back(c);
      ++pos;
      continue;
    }
    if (c == '\n' || c == '\r') {
      if (c == '\r' && !(pos + 1 < text.size() && text[pos + 1] == '\n')) {
        return absl::InvalidArgumentError(
            absl::StrCat("line ", line, ": carriage return without a line feed"));
      }
      if (!any) return absl::InvalidArgumentError(absl::StrCat("line ", line, ": blank line"));
      pos += (c == '\r') ? 2 : 1;
      ++line;
      fields.push_back(std::move(field));
      return absl::OkStatus();
    }
    any = true;
    if (c == delimiter) {
      fields.push_back(std::move(field));
      field.clear();
      after_quote = false;
      ++pos;
      continue;
    }
    if (after_quote) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line, ": text after the closing quote of a field (expected ",
                       Printable(delimiter), " or end of line)"));
    }
    if (c == '"') {
      if (!field.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("line ", line, ": quote inside an unquoted field"));
      }
      in_quotes = true;
      ++pos;
      continue;
    }
    field.push_back(c);
    ++pos;
  }
  if (in_quotes) {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", start_line, ": quoted field not terminated"));
  }
  fields.push_back(std::move(field));
  return absl::OkStatus();
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Accepts [+-]? digits ( ',' ddd )* ( '.' digits* )? ( [eE] [+-]? digits )? and the same with
// no integer digits (".5"). Returns the text with thousands separators removed, or nullopt.
std::optional<std::string> NormaliseNumber(std::string_view s) {
  std::size_t i = 0;
  std::string out;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    if (s[i] == '-') out.push_back('-');
    ++i;
  }
  std::size_t int_digits = 0;
  std::size_t group = 0;  // digits since the last separator
  bool separated = false;
  while (i < s.size() && (IsDigit(s[i]) || s[i] == ',')) {
    if (s[i] == ',') {
      // A separator needs 1-3 digits before the first one and exactly 3 between them.
      if (group == 0 || (separated ? group != 3 : group > 3)) return std::nullopt;
      separated = true;
      group = 0;
    } else {
      out.push_back(s[i]);
      ++int_digits;
      ++group;
    }
    ++i;
  }
  if (separated && group != 3) return std::nullopt;
  std::size_t frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    out.push_back('.');
    ++i;
    while (i < s.size() && IsDigit(s[i])) {
      out.push_back(s[i]);
      ++frac_digits;
      ++i;
    }
  }
  if (int_digits + frac_digits == 0) return std::nullopt;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    out.push_back('e');
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) out.push_back(s[i++]);
    std::size_t exp_digits = 0;
    while (i < s.size() && IsDigit(s[i])) {
      out.push_back(s[i]);
      ++exp_digits;
      ++i;
    }
    if (exp_digits == 0) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  return out;
}

}  // namespace

int Table::Column(std::string_view name) const {
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return static_cast<int>(i);
  }
  return -1;
}

absl::StatusOr<Table> ParseTable(std::string_view content, char delimiter, std::uint64_t max_rows) {
  if (delimiter == '"' || delimiter == '\n' || delimiter == '\r') {
    return absl::InvalidArgumentError(absl::StrCat("invalid delimiter ", Printable(delimiter)));
  }
  if (content.substr(0, kUtf8Bom.size()) == kUtf8Bom) content.remove_prefix(kUtf8Bom.size());
  if (content.empty()) return absl::InvalidArgumentError("line 1: no header row");
  Table table;
  std::size_t pos = 0;
  std::size_t line = 1;
  if (absl::Status s = ReadRecord(content, delimiter, pos, line, table.header); !s.ok()) {
    return s;
  }
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < table.header.size(); ++i) {
    if (table.header[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line 1: header column ", i + 1, " has no name"));
    }
    if (!names.insert(table.header[i]).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("line 1: duplicate header name \"", table.header[i], "\""));
    }
  }
  std::vector<std::string> fields;
  while (pos < content.size()) {
    const std::size_t record_line = line;
    if (absl::Status s = ReadRecord(content, delimiter, pos, line, fields); !s.ok()) return s;
    if (fields.size() != table.header.size()) {
      return absl::InvalidArgumentError(absl::StrCat("line ", record_line, ": ", fields.size(),
                                                     " fields where the header has ",
                                                     table.header.size()));
    }
    if (table.rows.size() >= max_rows) {
      return absl::ResourceExhaustedError(
          absl::StrCat("more than ", max_rows, " data rows (the limit)"));
    }
    table.rows.push_back(std::move(fields));
    fields = {};
  }
  return table;
}

std::optional<double> ParseNumber(std::string_view cell) {
  std::string_view s = Trim(cell);
  if (s.empty() || s.size() > 400) return std::nullopt;
  std::optional<std::string> normalised = NormaliseNumber(s);
  if (!normalised) return std::nullopt;
  double value = 0;
  const char* first = normalised->data();
  const char* last = first + normalised->size();
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec != std::errc() || ptr != last || !std::isfinite(value)) return std::nullopt;
  return value;
}

bool IsSuppressed(std::string_view cell) {
  std::string s(Trim(cell));
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (s.empty() || s == "*" || s == "**" || s == "c" || s == "[c]" || s == "x" || s == "[x]" ||
      s == "-" || s == "suppressed") {
    return true;
  }
  if (s[0] == '<') {
    std::string_view rest = Trim(std::string_view(s).substr(1));
    return !rest.empty() && rest[0] != '+' && rest[0] != '-' && ParseNumber(rest).has_value();
  }
  return false;
}

}  // namespace safeflow::executor::disclosure
