// executor/disclosure/acro.cc. ACRO bundles: what `acro.finalise(path, "json")` of the SACRO
// project's acro package writes (read from AI-SDC/ACRO, acro/record.py and acro/acro.py):
//
//   path/results.json   {"version": "0.4.x", "results": {"<output id>": {"uid", "status":
//                       "pass"|"review"|"fail", "type", "properties", "files": [{"name":
//                       "<file in path>", "sdc": {...}}], "outcome", "command", "summary",
//                       "timestamp", "comments": [...], "exception": "<reason or ''>"}},
//                       "session_summary": {...}}
//   path/<files>        tables as output_N_0.csv, custom outputs and figures copied in
//   path/checksums/     <file>.txt holding the lower-case hex SHA-256 of each file that was
//                       in path when the checksums were written (results.json included)
//   path/config.json    ACRO's thresholds, written after the checksums
//
// Every file gets the normal chain plus two findings: "acro_status" (ACRO's own verdict and
// the researcher's exception request) and "acro_checksum" (the file is what ACRO wrote).
#include "executor/disclosure/acro.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

#include "executor/disclosure/disk.h"

namespace safeflow::executor::disclosure {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMaxResultsBytes = 64ull << 20;
constexpr std::uint64_t kMaxChecksumBytes = 1024;
constexpr std::size_t kMaxQuotedText = 500;
constexpr std::string_view kDoNotRelease = "DO_NOT_RELEASE";

// A recorded output that names a file.
struct Record {
  std::string uid;
  std::string status;     // as recorded ("" when missing or not a string)
  std::string exception;  // the researcher's exception request, "" when none
  std::string summary;    // ACRO's summary of its checks
};

struct Bundle {
  fs::path root;            // the directory as given
  fs::path canonical_root;  // symlinks resolved
  std::string results_sha256;
  // Files named by results.json, by their name as recorded, in name order.
  std::map<std::string, std::vector<Record>> files;
};

std::string Truncated(std::string text) {
  if (text.size() > kMaxQuotedText) {
    std::size_t cut = kMaxQuotedText;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0u) == 0x80u) --cut;
    text.resize(cut);
    text += "...";
  }
  return text;
}

std::string StringMember(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool IsBlank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

struct Results {
  nlohmann::json json;
  std::string sha256;  // of the bytes read
};

absl::StatusOr<Results> ReadResults(const fs::path& root) {
  const fs::path results = root / "results.json";
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(results, ec))) {
    return absl::NotFoundError(
        absl::StrCat(root.string(), ": not an ACRO bundle (no regular file results.json)"));
  }
  absl::StatusOr<detail::FileBytes> bytes = detail::ReadFileBounded(results, kMaxResultsBytes);
  if (!bytes.ok()) return bytes.status();
  if (bytes->too_large) {
    return absl::InvalidArgumentError(
        absl::StrCat(results.string(), ": larger than ", kMaxResultsBytes, " bytes"));
  }
  nlohmann::json json = nlohmann::json::parse(bytes->content, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(results.string(), ": not valid JSON"));
  }
  if (!json.is_object() || !json.contains("results") || !json["results"].is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(results.string(), ": no \"results\" object (not written by acro.finalise)"));
  }
  return Results{std::move(json), detail::Sha256Hex(bytes->content)};
}

// The records of results.json by file name; InvalidArgument listing every malformed entry.
absl::Status IndexFiles(const nlohmann::json& results, Bundle& bundle) {
  std::vector<std::string> problems;
  for (auto output = results.begin(); output != results.end(); ++output) {
    const std::string where = absl::StrCat("results.", output.key());
    if (!output->is_object()) {
      problems.push_back(absl::StrCat(where, ": must be an object"));
      continue;
    }
    Record record;
    record.uid = output.key();
    record.status = StringMember(*output, "status");
    record.exception = StringMember(*output, "exception");
    record.summary = StringMember(*output, "summary");
    const auto files = output->find("files");
    if (files == output->end()) continue;  // an output without files releases nothing
    if (!files->is_array()) {
      problems.push_back(absl::StrCat(where, ".files: must be an array"));
      continue;
    }
    for (std::size_t i = 0; i < files->size(); ++i) {
      const nlohmann::json& file = (*files)[i];
      const nlohmann::json* name = nullptr;
      if (file.is_string()) {
        name = &file;
      } else if (file.is_object() && file.contains("name")) {
        name = &file["name"];
      }
      if (name == nullptr || !name->is_string()) {
        problems.push_back(absl::StrCat(where, ".files[", i, "].name: must be a string"));
        continue;
      }
      bundle.files[name->get<std::string>()].push_back(record);
    }
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat((bundle.root / "results.json").string(), ":\n", absl::StrJoin(problems, "\n")));
}

// Why a recorded name may not be read, or "" when it names a place inside the bundle.
std::string PathProblem(const Bundle& bundle, const std::string& name) {
  if (name.empty()) return "an empty file name";
  if (name.find('\0') != std::string::npos) return "a file name with a NUL byte";
  if (name.front() == '/' || name.front() == '\\' ||
      (name.size() > 1 && name[1] == ':' && std::isalpha(static_cast<unsigned char>(name[0])))) {
    return "an absolute path";
  }
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find_first_of("/\\", start);
    if (end == std::string::npos) end = name.size();
    if (name.compare(start, end - start, "..") == 0 && end - start == 2) {
      return "a path with a '..' segment";
    }
    start = end + 1;
  }
  const fs::path relative = fs::path(name).lexically_normal();
  const std::string first = relative.begin() == relative.end() ? "" : relative.begin()->string();
  if (relative == "results.json" || first == "checksums") {
    return "the bundle's own metadata (results.json, checksums/), not an output";
  }
  std::error_code ec;
  const fs::path resolved = fs::weakly_canonical(bundle.root / relative, ec);
  if (ec) return "a path that cannot be resolved";
  const std::string root = bundle.canonical_root.string();
  const std::string target = resolved.string();
  if (target.size() <= root.size() || target.compare(0, root.size(), root) != 0 ||
      target[root.size()] != '/') {
    return "a link that leads outside the bundle";
  }
  return "";
}

// ACRO's verdict on one file, from every output that names it.
Finding StatusFinding(const std::vector<Record>& records, const std::string& name,
                      const std::optional<std::string>& bundle_problem) {
  Finding finding;
  finding.rule = "acro_status";
  finding.outcome = Verdict::kPass;
  nlohmann::json outputs = nlohmann::json::array();
  std::vector<std::string> sentences;
  for (const Record& record : records) {
    outputs.push_back({{"uid", Truncated(record.uid)},
                       {"status", Truncated(record.status)},
                       {"exception", Truncated(record.exception)},
                       {"summary", Truncated(record.summary)}});
    const std::string who = absl::StrCat("ACRO output ", Truncated(record.uid));
    if (record.status == "pass") {
      sentences.push_back(absl::StrCat(who, ": status pass."));
    } else if (record.status == "review") {
      finding.outcome = Worst(finding.outcome, Verdict::kReview);
      sentences.push_back(absl::StrCat(who, ": status review; a checker must look at it."));
    } else if (record.status == "fail" && !IsBlank(record.exception)) {
      finding.outcome = Worst(finding.outcome, Verdict::kReview);
      sentences.push_back(absl::StrCat(who, ": status fail with an exception request (\"",
                                       Truncated(record.exception), "\"); a checker must decide."));
    } else if (record.status == "fail") {
      finding.outcome = Verdict::kFail;
      sentences.push_back(absl::StrCat(who, ": status fail, and no exception was requested."));
    } else {
      finding.outcome = Verdict::kFail;
      sentences.push_back(absl::StrCat(who, ": no known status (\"", Truncated(record.status),
                                       "\"; expected pass, review or fail)."));
    }
  }
  const std::string file_name = fs::path(name).filename().string();
  if (file_name.compare(0, kDoNotRelease.size(), kDoNotRelease) == 0) {
    finding.outcome = Verdict::kFail;
    sentences.push_back(
        "ACRO wrote this file for output checkers only (DO_NOT_RELEASE): it never leaves.");
  }
  if (bundle_problem) {
    finding.outcome = Verdict::kFail;
    sentences.push_back(*bundle_problem);
  }
  finding.parameters = {{"outputs", outputs}};
  finding.message = absl::StrJoin(sentences, " ");
  return finding;
}

// The file is what ACRO wrote: its SHA-256 equals checksums/<name>.txt.
Finding ChecksumFinding(const Bundle& bundle, const std::string& name,
                        const std::optional<std::string>& actual) {
  const std::string relative = fs::path(name).lexically_normal().generic_string();
  const std::string checksum_name = absl::StrCat("checksums/", relative, ".txt");
  Finding finding;
  finding.rule = "acro_checksum";
  finding.parameters = {{"algorithm", "sha256"}, {"checksum_file", checksum_name}};
  finding.outcome = Verdict::kFail;
  if (!actual || actual->empty()) {
    finding.message = "The checksum was not verified: the file's SHA-256 could not be computed.";
    return finding;
  }
  const fs::path path = bundle.root / "checksums" / (relative + ".txt");
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(path, ec))) {
    finding.message = absl::StrCat("No checksum: ", checksum_name,
                                   " is missing (acro.finalise writes one for every file).");
    return finding;
  }
  absl::StatusOr<detail::FileBytes> bytes = detail::ReadFileBounded(path, kMaxChecksumBytes);
  std::string expected;
  if (bytes.ok() && !bytes->too_large) {
    expected = bytes->content;
    const std::size_t first = expected.find_first_not_of(" \t\r\n");
    const std::size_t last = expected.find_last_not_of(" \t\r\n");
    expected = first == std::string::npos ? "" : expected.substr(first, last - first + 1);
    for (char& c : expected) {
      if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    }
  }
  if (expected.size() != 64 ||
      expected.find_first_not_of("0123456789abcdef") != std::string::npos) {
    finding.message =
        absl::StrCat(checksum_name, " does not hold a SHA-256 (64 hexadecimal digits).");
    return finding;
  }
  if (expected != *actual) {
    finding.message = absl::StrCat("The file changed after acro.finalise: its SHA-256 is ", *actual,
                                   " but ", checksum_name, " records ", expected, ".");
    return finding;
  }
  finding.outcome = Verdict::kPass;
  finding.message = absl::StrCat("The SHA-256 matches ", checksum_name, ".");
  return finding;
}

// `findings` first, then the report's own; the verdict recombined.
void Prepend(FileReport& report, std::vector<Finding> findings) {
  std::vector<std::string> rules;
  for (const Finding& finding : findings) rules.push_back(finding.rule);
  report.rules_applied.insert(report.rules_applied.begin(), rules.begin(), rules.end());
  report.findings.insert(report.findings.begin(), std::make_move_iterator(findings.begin()),
                         std::make_move_iterator(findings.end()));
  report.verdict = CombinedVerdict(report.findings);
}

// A file of the bundle through the normal chain (undeclared), with `extra` findings first.
// `sha256` receives the file's digest (also when it is too large to check).
absl::StatusOr<FileReport> CheckBundleFile(const Bundle& bundle, const std::string& name,
                                           const Profile& profile,
                                           const std::vector<ReleasedTable>& history,
                                           std::optional<std::string>& sha256) {
  absl::StatusOr<detail::FileBytes> bytes =
      detail::ReadFileBounded(bundle.root / fs::path(name), profile.max_file_bytes,
                              /*hash_whole=*/true);
  if (!bytes.ok()) return bytes.status();
  FileInput input;
  input.name = name;
  input.path = name;
  input.content = bytes->content;
  input.size_bytes = bytes->size_bytes;
  sha256 = bytes->sha256;
  FileReport report = CheckFile(input, profile, history);
  if (bytes->too_large) report.sha256 = bytes->sha256;
  return report;
}

// Every entry below the bundle's root but results.json and checksums/, as relative generic
// paths, with whether it is a regular file. Links are listed, never followed.
absl::Status ListBundle(const fs::path& root, std::vector<std::pair<std::string, bool>>& entries) {
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec);
  if (ec) return absl::InternalError(absl::StrCat(root.string(), ": ", ec.message()));
  for (const fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
    if (ec) break;
    const fs::path relative = it->path().lexically_relative(root);
    const std::string generic = relative.generic_string();
    if (it.depth() == 0 && (generic == "results.json" || generic == "checksums")) {
      if (generic == "checksums") it.disable_recursion_pending();
      continue;
    }
    const fs::file_status status = it->symlink_status(ec);
    if (ec) break;
    if (fs::is_directory(status)) continue;
    entries.emplace_back(generic, fs::is_regular_file(status));
  }
  if (ec) return absl::InternalError(absl::StrCat(root.string(), ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace

bool IsAcroBundle(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(fs::status(dir, ec))) return false;
  return ReadResults(dir).ok();
}

absl::StatusOr<std::vector<FileReport>> CheckAcroBundle(const std::string& dir,
                                                        const Profile& profile,
                                                        const std::vector<ReleasedTable>& history) {
  std::error_code ec;
  if (!fs::is_directory(fs::status(dir, ec))) {
    return absl::NotFoundError(absl::StrCat(dir, ": not a directory"));
  }
  Bundle bundle;
  bundle.root = dir;
  bundle.canonical_root = fs::canonical(dir, ec);
  if (ec) return absl::NotFoundError(absl::StrCat(dir, ": ", ec.message()));
  absl::StatusOr<Results> results = ReadResults(bundle.root);
  if (!results.ok()) return results.status();
  bundle.results_sha256 = results->sha256;
  if (absl::Status s = IndexFiles(results->json["results"], bundle); !s.ok()) return s;

  // results.json itself: when ACRO's checksum of it is there, it must still match (a status
  // edited after finalise would otherwise pass).
  std::optional<std::string> bundle_problem;
  {
    const Finding results_checksum = ChecksumFinding(bundle, "results.json", bundle.results_sha256);
    const fs::path path = bundle.root / "checksums" / "results.json.txt";
    if (results_checksum.outcome != Verdict::kPass && fs::exists(fs::symlink_status(path, ec))) {
      bundle_problem = absl::StrCat(
          "results.json does not match its checksum, so no status in "
          "it can be trusted: ",
          results_checksum.message);
    }
  }

  std::vector<FileReport> reports;
  std::set<std::string> recorded;
  for (const auto& [name, records] : bundle.files) {
    const std::string shown = fs::path(name).lexically_normal().generic_string();
    recorded.insert(shown);
    if (const std::string problem = PathProblem(bundle, name); !problem.empty()) {
      FileReport report = detail::UnreadableReport(
          name, profile, "acro_status",
          absl::StrCat("results.json names ", problem, ": not read, never released."));
      reports.push_back(std::move(report));
      continue;
    }
    const fs::file_status status = fs::status(bundle.root / shown, ec);
    if (!fs::exists(status) || !fs::is_regular_file(status)) {
      reports.push_back(detail::UnreadableReport(
          shown, profile, "acro_status",
          fs::exists(status) ? "ACRO recorded this name, but it is not a regular file: not read."
                             : "ACRO recorded this file, but it is missing from the bundle."));
      continue;
    }
    std::optional<std::string> sha256;
    absl::StatusOr<FileReport> report = CheckBundleFile(bundle, shown, profile, history, sha256);
    if (!report.ok()) return report.status();
    Prepend(*report, {StatusFinding(records, shown, bundle_problem),
                      ChecksumFinding(bundle, shown, sha256)});
    reports.push_back(*std::move(report));
  }

  std::vector<std::pair<std::string, bool>> entries;
  if (absl::Status s = ListBundle(bundle.root, entries); !s.ok()) return s;
  for (const auto& [name, regular] : entries) {
    if (recorded.count(name) > 0) continue;
    const std::string not_recorded =
        name == "config.json"
            ? "config.json holds ACRO's settings (written by acro.finalise), not an output: it "
              "is not recorded in results.json and is never released."
            : "Not recorded by ACRO: results.json names no output with this file.";
    if (!regular) {
      reports.push_back(detail::UnreadableReport(
          name, profile, "acro_status",
          absl::StrCat(not_recorded, " Not a regular file either: not read.")));
      continue;
    }
    std::optional<std::string> sha256;
    absl::StatusOr<FileReport> report = CheckBundleFile(bundle, name, profile, history, sha256);
    if (!report.ok()) return report.status();
    Finding finding;
    finding.rule = "acro_status";
    finding.outcome = Verdict::kFail;
    finding.message = not_recorded;
    finding.parameters = {{"outputs", nlohmann::json::array()}};
    Prepend(*report, {std::move(finding)});
    reports.push_back(*std::move(report));
  }
  std::stable_sort(reports.begin(), reports.end(),
                   [](const FileReport& a, const FileReport& b) { return a.path < b.path; });
  return reports;
}

}  // namespace safeflow::executor::disclosure
