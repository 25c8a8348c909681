#include "service/cli/check_outputs.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

#include "executor/disclosure/offline.h"
#include "executor/disclosure/profile.h"
#include "executor/disclosure/report.h"

namespace safeflow::cli {
namespace {

using nlohmann::json;
namespace disclosure = executor::disclosure;

constexpr std::string_view kDefaultProfile = "acro-default";
// Cells listed per finding in the human output (the JSON lists all the report holds).
constexpr std::size_t kCellsShown = 10;

constexpr const char* kUsage =
    R"usage(usage: safeflow check-outputs [--profile NAME | --profile-file FILE.json] [--json] PATH...
Runs the airlock's disclosure-control checks on files on disk, offline (no server, no token),
with the rules and profiles safeflowd's airlock uses: what passes here passes there.
  PATH               a file; or a directory: an ACRO bundle (a results.json written by
                     acro.finalise, whose checksums are verified), else every regular file
                     under it, recursively, in path order. Sidecars are never checked as outputs.
  --profile NAME     a built-in profile: {PROFILES} (default acro-default)
  --profile-file FILE.json
                     a profile as the airlock's config defines one, e.g.
                     {"base": "acro-default", "threshold": 5}; it is named after the file
                     (FILE). Not with --profile.
  --json             print only one JSON document on standard output:
                     {"profile": {...}, "files": [report, ...], "verdict": "pass|review|fail"}
Sidecars, beside each file FILE:
  FILE.disclosure.json  declares FILE as a workflow manifest's "outputs" entry does, without
                     "name" and "path", e.g. {"type": "frequency_table", "table": {"keys":
                     ["region"], "counts": ["n"]}}. Without it FILE is undeclared, which is
                     `review` at best (so are figures, text and other types).
  evidence           the declaration's "evidence" member, a path relative to FILE's directory;
                     else FILE.evidence.json when present: the per-cell contributions that
                     magnitude and mean tables need (the dominance and p% rules).
Output: per file "VERDICT  PATH  (TYPE, SHA-256 prefix)", then each finding that is not a
pass: rule, outcome, message, parameters, and up to 10 of the cells that decided it (direct
identifiers masked); last "N files: P pass, R review, F fail".
Exit status: 0 when every file passes; 1 when any file is review or fail; 2 on a usage error,
an unknown or invalid profile, a missing or unreadable path, an invalid sidecar, or a path with
no file to check (the message is on standard error and no report is printed).
)usage";

std::string UsageText() {
  std::string text = kUsage;
  const std::string placeholder = "{PROFILES}";
  const std::size_t at = text.find(placeholder);
  if (at != std::string::npos) {
    std::string names;
    for (std::string_view name : disclosure::BuiltinProfileNames()) {
      if (!names.empty()) names += ", ";
      names += name;
    }
    text.replace(at, placeholder.size(), names);
  }
  return text;
}

int Usage(const std::string& msg) {
  std::fprintf(stderr, "safeflow check-outputs: %s\n%s", msg.c_str(), UsageText().c_str());
  return 2;
}

void PrintError(const std::string& msg) {
  std::fprintf(stderr, "safeflow check-outputs: %s\n", msg.c_str());
}

int Error(const std::string& msg) {
  PrintError(msg);
  return 2;
}

struct Options {
  std::optional<std::string> profile_name;
  std::optional<std::string> profile_file;
  bool json = false;
  bool help = false;
  std::vector<std::string> paths;
};

// The options, or a usage error. "--" ends the options; "--profile=NAME" works too.
absl::StatusOr<Options> ParseOptions(const std::vector<std::string>& args) {
  Options options;
  bool only_paths = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (only_paths || a.size() < 2 || a[0] != '-') {
      if (a.empty()) return absl::InvalidArgumentError("an empty PATH");
      options.paths.push_back(a);
      continue;
    }
    if (a == "--") {
      only_paths = true;
      continue;
    }
    if (a == "--help" || a == "-h") {
      options.help = true;
      continue;
    }
    if (a == "--json") {
      options.json = true;
      continue;
    }
    const std::size_t eq = a.find('=');
    const std::string name = a.substr(0, eq);
    std::optional<std::string>* target = nullptr;
    if (name == "--profile") target = &options.profile_name;
    if (name == "--profile-file") target = &options.profile_file;
    if (target == nullptr) return absl::InvalidArgumentError("unknown option " + name);
    if (target->has_value()) return absl::InvalidArgumentError(name + " given twice");
    std::string value;
    if (eq != std::string::npos) {
      value = a.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(name + " needs a value");
    }
    if (value.empty()) return absl::InvalidArgumentError(name + " is empty");
    *target = std::move(value);
  }
  if (options.help) return options;
  if (options.profile_name && options.profile_file) {
    return absl::InvalidArgumentError("--profile and --profile-file exclude each other");
  }
  if (options.paths.empty()) return absl::InvalidArgumentError("missing PATH");
  return options;
}

// The profile file's JSON object, as ProfileFromJson takes it, named after the file's stem.
absl::StatusOr<disclosure::Profile> ProfileFromFile(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(file, ": cannot open the profile file"));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat(file, ": cannot read it"));
  const json parsed = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": not valid JSON"));
  }
  if (!parsed.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": a profile is a JSON object, not ", parsed.type_name()));
  }
  const std::string name = std::filesystem::path(file).stem().string();
  absl::StatusOr<disclosure::Profile> profile = disclosure::ProfileFromJson(name, parsed);
  if (!profile.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", profile.status().message()));
  }
  return profile;
}

absl::StatusOr<disclosure::Profile> LoadProfile(const Options& options) {
  if (options.profile_file) return ProfileFromFile(*options.profile_file);
  return disclosure::BuiltinProfile(options.profile_name.value_or(std::string(kDefaultProfile)));
}

// `text` safe to print on a terminal: control characters (C0, DEL, C1) and bytes that are not
// UTF-8 become \xNN escapes (a file's cells may hold anything).
std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto escape = [&out](unsigned char byte) {
    constexpr char kHex[] = "0123456789abcdef";
    out += "\\x";
    out += kHex[byte >> 4];
    out += kHex[byte & 0xf];
  };
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      if (lead < 0x20 || lead == 0x7f) {
        escape(lead);
      } else {
        out += static_cast<char>(lead);
      }
      ++i;
      continue;
    }
    // A multi-byte sequence: its length from the lead byte, then continuation bytes.
    std::size_t length = 0;
    std::uint32_t code = 0;
    if ((lead & 0xe0) == 0xc0) {
      length = 2;
      code = lead & 0x1f;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3;
      code = lead & 0x0f;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4;
      code = lead & 0x07;
    }
    bool valid = length != 0 && i + length <= text.size();
    for (std::size_t k = 1; valid && k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      valid = (next & 0xc0) == 0x80;
      code = (code << 6) | (next & 0x3f);
    }
    constexpr std::uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
    valid = valid && code >= kMinimum[length] && code <= 0x10ffff &&
            (code < 0xd800 || code > 0xdfff) && (code < 0x80 || code > 0x9f);
    if (!valid) {
      escape(lead);
      ++i;
      continue;
    }
    out.append(text.substr(i, length));
    i += length;
  }
  return out;
}

// Compact JSON that never throws (invalid UTF-8 from a file is replaced, not an exception).
std::string Dump(const json& value, int indent) {
  return value.dump(indent, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace);
}

std::string CellLine(const disclosure::Cell& cell) {
  // Table cells name their row and column; places in text files have no column and a 1-based
  // line number as their row.
  std::string line = cell.column.empty()
                         ? absl::StrCat("line ", cell.row)
                         : absl::StrCat("row ", cell.row, ", column ", Printable(cell.column));
  absl::StrAppend(&line, ": ", Printable(cell.value));
  if (!cell.note.empty()) absl::StrAppend(&line, " (", Printable(cell.note), ")");
  return line;
}

void PrintReport(const disclosure::FileReport& report, std::string& out) {
  const std::string& shown_path = report.path.empty() ? report.name : report.path;
  absl::StrAppend(&out, std::string(disclosure::VerdictName(report.verdict)),
                  report.verdict == disclosure::Verdict::kReview ? "" : "  ", "  ",
                  Printable(shown_path), "  (", Printable(report.type), ", ",
                  report.sha256.substr(0, 12), ")\n");
  bool listed = false;
  for (const disclosure::Finding& finding : report.findings) {
    if (finding.outcome == disclosure::Verdict::kPass) continue;
    listed = true;
    absl::StrAppend(&out, "  ", Printable(finding.rule), "  ",
                    std::string(disclosure::VerdictName(finding.outcome)), "  ",
                    Printable(finding.message));
    if (!finding.parameters.is_object() || !finding.parameters.empty()) {
      absl::StrAppend(&out, "  ", Printable(Dump(finding.parameters, -1)));
    }
    out += '\n';
    const std::size_t shown = std::min(finding.cells.size(), kCellsShown);
    for (std::size_t c = 0; c < shown; ++c) {
      absl::StrAppend(&out, "      ", CellLine(finding.cells[c]), "\n");
    }
    const std::size_t total = std::max(finding.cells_total, finding.cells.size());
    if (total > shown) absl::StrAppend(&out, "      ... and ", total - shown, " more\n");
  }
  if (!listed && report.verdict != disclosure::Verdict::kPass) {
    out += "  no rule passed this file (deny by default)\n";
  }
}

}  // namespace

int CheckOutputsCommand(const std::vector<std::string>& args) {
  absl::StatusOr<Options> options = ParseOptions(args);
  if (!options.ok()) return Usage(std::string(options.status().message()));
  if (options->help) {
    std::fputs(UsageText().c_str(), stdout);
    return 0;
  }
  absl::StatusOr<disclosure::Profile> profile = LoadProfile(*options);
  if (!profile.ok()) return Error(std::string(profile.status().message()));

  // Every path is checked before anything is printed: any error makes the whole answer an
  // error (exit 2), listing every path that failed.
  std::vector<disclosure::FileReport> reports;
  std::vector<std::string> errors;
  for (const std::string& path : options->paths) {
    absl::StatusOr<std::vector<disclosure::FileReport>> checked =
        disclosure::CheckPath(path, *profile);
    if (!checked.ok()) {
      std::string message(checked.status().message());
      if (message.find(path) == std::string::npos) message = path + ": " + message;
      errors.push_back(std::move(message));
    } else if (checked->empty()) {
      errors.push_back(path + ": no file to check (sidecars are not outputs)");
    } else {
      std::move(checked->begin(), checked->end(), std::back_inserter(reports));
    }
  }
  if (!errors.empty()) {
    for (const std::string& e : errors) PrintError(e);
    return 2;
  }

  disclosure::Verdict worst = disclosure::Verdict::kPass;
  std::size_t counts[3] = {0, 0, 0};
  for (const disclosure::FileReport& r : reports) {
    worst = disclosure::Worst(worst, r.verdict);
    ++counts[static_cast<int>(r.verdict)];
  }
  std::string out;
  if (options->json) {
    json files = json::array();
    for (const disclosure::FileReport& r : reports) files.push_back(disclosure::ToJson(r));
    const json document = {{"profile", disclosure::ToJson(*profile)},
                           {"files", std::move(files)},
                           {"verdict", std::string(disclosure::VerdictName(worst))}};
    out = Dump(document, 2) + "\n";
  } else {
    for (const disclosure::FileReport& r : reports) PrintReport(r, out);
    absl::StrAppend(&out, reports.size(), reports.size() == 1 ? " file: " : " files: ",
                    counts[static_cast<int>(disclosure::Verdict::kPass)], " pass, ",
                    counts[static_cast<int>(disclosure::Verdict::kReview)], " review, ",
                    counts[static_cast<int>(disclosure::Verdict::kFail)], " fail\n");
  }
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
    return Error("cannot write to standard output");
  }
  return worst == disclosure::Verdict::kPass ? 0 : 1;
}

}  // namespace safeflow::cli
