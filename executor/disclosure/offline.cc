// executor/disclosure/offline.cc. Checking files on disk (`safeflow check-outputs`): sidecars,
// directories, ACRO bundles; and the disk helpers of disk.h. All filesystem calls use the
// std::error_code overloads: nothing here throws.
#include "executor/disclosure/offline.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include <openssl/evp.h>

#include "executor/disclosure/acro.h"
#include "executor/disclosure/declaration.h"
#include "executor/disclosure/disk.h"

namespace safeflow::executor::disclosure {

namespace fs = std::filesystem;

namespace detail {

absl::StatusOr<FileBytes> ReadFileBounded(const fs::path& path, std::uint64_t limit,
                                          bool hash_whole) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    const std::string what = absl::StrCat(path.string(), ": cannot open: ", std::strerror(error));
    if (error == ENOENT) return absl::NotFoundError(what);
    if (error == EACCES || error == EPERM) return absl::PermissionDeniedError(what);
    return absl::InternalError(what);
  }
  FileBytes bytes;
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(path, ec);
  if (!ec && size <= limit) bytes.content.reserve(static_cast<std::size_t>(size));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(nullptr, EVP_MD_CTX_free);
  if (hash_whole) {
    ctx.reset(EVP_MD_CTX_new());
    if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
      return absl::InternalError("SHA-256 is unavailable");
    }
  }
  std::array<char, 1 << 16> buffer;
  std::uint64_t total = 0;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::streamsize got = in.gcount();
    if (got <= 0) break;
    total += static_cast<std::uint64_t>(got);
    if (ctx != nullptr &&
        EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<std::size_t>(got)) != 1) {
      return absl::InternalError("SHA-256 failed");
    }
    if (total > limit) {
      if (!bytes.too_large) {
        bytes.too_large = true;
        bytes.content.clear();
        bytes.content.shrink_to_fit();
      }
      if (ctx == nullptr) break;
      continue;
    }
    bytes.content.append(buffer.data(), static_cast<std::size_t>(got));
  }
  if (in.bad()) return absl::InternalError(absl::StrCat(path.string(), ": read error"));
  if (ctx != nullptr) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(ctx.get(), digest.data(), &length) != 1) {
      return absl::InternalError("SHA-256 failed");
    }
    static constexpr std::string_view kHex = "0123456789abcdef";
    for (unsigned int i = 0; i < length; ++i) {
      bytes.sha256.push_back(kHex[digest[i] >> 4]);
      bytes.sha256.push_back(kHex[digest[i] & 0xF]);
    }
  }
  bytes.size_bytes = std::max<std::uint64_t>(total, ec ? 0 : static_cast<std::uint64_t>(size));
  return bytes;
}

std::string Sha256Hex(std::string_view data) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest.data(), &length) != 1) {
    return "";
  }
  static constexpr std::string_view kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xF]);
  }
  return hex;
}

FileReport UnreadableReport(const std::string& path, const Profile& profile, std::string rule,
                            std::string message) {
  FileReport report;
  report.name = path;
  report.path = path;
  report.sha256 = Sha256Hex("");  // of nothing read
  report.type = "undeclared";
  report.profile = profile.name;
  Finding finding;
  finding.rule = std::move(rule);
  finding.outcome = Verdict::kFail;
  finding.message = std::move(message);
  report.rules_applied.push_back(finding.rule);
  report.findings.push_back(std::move(finding));
  report.verdict = CombinedVerdict(report.findings);
  return report;
}

}  // namespace detail

namespace {

constexpr std::uint64_t kMaxSidecarBytes = 1 << 20;
constexpr std::string_view kDeclarationSuffix = ".disclosure.json";
constexpr std::string_view kEvidenceSuffix = ".evidence.json";

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// A JSON sidecar: nullopt when absent; InvalidArgument naming it when unreadable or not JSON.
absl::StatusOr<std::optional<nlohmann::json>> ReadJsonSidecar(const fs::path& path,
                                                              std::uint64_t limit) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) return std::optional<nlohmann::json>();
  const std::string name = path.string();
  if (!fs::is_regular_file(status)) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": not a regular file"));
  }
  absl::StatusOr<detail::FileBytes> bytes = detail::ReadFileBounded(path, limit);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": unreadable: ", std::string(bytes.status().message())));
  }
  if (bytes->too_large) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": larger than ", limit, " bytes"));
  }
  nlohmann::json json = nlohmann::json::parse(bytes->content, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": not valid JSON"));
  }
  return std::optional<nlohmann::json>(std::move(json));
}

// The evidence for a file: the declared sidecar (relative to the file's directory), else
// FILE.evidence.json. Problems go to input.evidence_error, for the rules to report.
void LoadEvidence(const fs::path& file, const Profile& profile, FileInput& input) {
  fs::path sidecar;
  if (input.declaration && !input.declaration->evidence.empty()) {
    sidecar = file.parent_path() / input.declaration->evidence;
    std::error_code ec;
    if (!fs::exists(sidecar, ec)) {
      input.evidence_error =
          absl::StrCat("the declared evidence ", input.declaration->evidence, " does not exist");
      return;
    }
  } else {
    sidecar = fs::path(file.string() + std::string(kEvidenceSuffix));
  }
  absl::StatusOr<std::optional<nlohmann::json>> json =
      ReadJsonSidecar(sidecar, std::max<std::uint64_t>(profile.max_file_bytes, kMaxSidecarBytes));
  if (!json.ok()) {
    input.evidence_error = std::string(json.status().message());
    return;
  }
  if (!json->has_value()) return;  // no FILE.evidence.json: none
  absl::StatusOr<Evidence> evidence;
  try {
    evidence = ParseEvidence(**json);
  } catch (const std::exception& e) {
    evidence = absl::InternalError(e.what());
  }
  if (!evidence.ok()) {
    input.evidence_error =
        absl::StrCat(sidecar.string(), ": ", std::string(evidence.status().message()));
    return;
  }
  input.evidence = *std::move(evidence);
}

// One regular file, shown as `shown` (the path as given, or below a directory as given).
absl::StatusOr<FileReport> CheckOneFile(const fs::path& file, const std::string& shown,
                                        const Profile& profile) {
  FileInput input;
  input.name = shown;
  input.path = shown;
  const fs::path declaration_path(file.string() + std::string(kDeclarationSuffix));
  absl::StatusOr<std::optional<nlohmann::json>> declaration_json =
      ReadJsonSidecar(declaration_path, kMaxSidecarBytes);
  if (!declaration_json.ok()) return declaration_json.status();
  if (declaration_json->has_value()) {
    absl::StatusOr<Declaration> declaration;
    try {
      declaration = ParseDeclaration(**declaration_json, /*require_name_and_path=*/false);
    } catch (const std::exception& e) {
      declaration = absl::InternalError(e.what());
    }
    if (!declaration.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(declaration_path.string(), ":\n",
                                                     std::string(declaration.status().message())));
    }
    const std::string file_name = file.filename().string();
    if (declaration->name.empty()) declaration->name = file_name;
    if (declaration->path.empty()) declaration->path = file_name;
    input.declaration = *std::move(declaration);
  }
  LoadEvidence(file, profile, input);

  absl::StatusOr<detail::FileBytes> bytes =
      detail::ReadFileBounded(file, profile.max_file_bytes, /*hash_whole=*/true);
  if (!bytes.ok()) return bytes.status();
  input.content = bytes->content;
  input.size_bytes = bytes->size_bytes;
  FileReport report = CheckFile(input, profile);
  // A file too large to check still gets its own digest (CheckFile saw none of it).
  if (bytes->too_large) report.sha256 = bytes->sha256;
  return report;
}

absl::Status ErrorFor(const std::error_code& ec, const std::string& path) {
  const std::string what = absl::StrCat(path, ": ", ec.message());
  if (ec == std::errc::no_such_file_or_directory) return absl::NotFoundError(what);
  if (ec == std::errc::permission_denied) return absl::PermissionDeniedError(what);
  return absl::InternalError(what);
}

std::string Join(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : absl::StrCat(dir, "/", name);
}

absl::Status CheckDirectory(const fs::path& dir, const std::string& shown, const Profile& profile,
                            std::vector<FileReport>& reports) {
  if (IsAcroBundle(dir.string())) {
    absl::StatusOr<std::vector<FileReport>> bundle = CheckAcroBundle(dir.string(), profile, {});
    if (!bundle.ok()) return bundle.status();
    for (FileReport& report : *bundle) {
      report.name = Join(shown, report.name);
      report.path = Join(shown, report.path);
      reports.push_back(std::move(report));
    }
    return absl::OkStatus();
  }
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return ErrorFor(ec, shown);
  std::vector<std::string> names;
  for (const fs::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) return ErrorFor(ec, shown);
    names.push_back(it->path().filename().string());
  }
  if (ec) return ErrorFor(ec, shown);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const fs::path entry = dir / name;
    const std::string entry_shown = Join(shown, name);
    const fs::file_status status = fs::symlink_status(entry, ec);
    if (ec) return ErrorFor(ec, entry_shown);
    if (fs::is_directory(status)) {
      if (absl::Status s = CheckDirectory(entry, entry_shown, profile, reports); !s.ok()) return s;
    } else if (fs::is_regular_file(status)) {
      if (IsSidecarName(name)) continue;
      absl::StatusOr<FileReport> report = CheckOneFile(entry, entry_shown, profile);
      if (!report.ok()) return report.status();
      reports.push_back(*std::move(report));
    } else {
      reports.push_back(detail::UnreadableReport(
          entry_shown, profile, "file_type",
          fs::is_symlink(status)
              ? "A symbolic link, not a regular file: links are neither followed nor released."
              : "Not a regular file (a device, pipe or socket): not read, never released."));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsSidecarName(const std::string& file_name) {
  const std::size_t slash = file_name.find_last_of('/');
  const std::string_view name = slash == std::string::npos
                                    ? std::string_view(file_name)
                                    : std::string_view(file_name).substr(slash + 1);
  return EndsWith(name, kDeclarationSuffix) || EndsWith(name, kEvidenceSuffix);
}

absl::StatusOr<std::vector<FileReport>> CheckPath(const std::string& path, const Profile& profile) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    if (ec && ec != std::errc::no_such_file_or_directory) return ErrorFor(ec, path);
    return absl::NotFoundError(absl::StrCat(path, ": no such file or directory"));
  }
  std::vector<FileReport> reports;
  if (fs::is_directory(status)) {
    if (absl::Status s = CheckDirectory(path, path, profile, reports); !s.ok()) return s;
    std::stable_sort(reports.begin(), reports.end(),
                     [](const FileReport& a, const FileReport& b) { return a.path < b.path; });
    return reports;
  }
  if (!fs::is_regular_file(status)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file or a directory"));
  }
  if (IsSidecarName(path)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path,
                     ": a sidecar (FILE.disclosure.json or FILE.evidence.json) describes "
                     "another file and is never an output; check that file instead"));
  }
  absl::StatusOr<FileReport> report = CheckOneFile(path, path, profile);
  if (!report.ok()) return report.status();
  reports.push_back(*std::move(report));
  return reports;
}

}  // namespace safeflow::executor::disclosure
