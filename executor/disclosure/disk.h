// executor/disclosure/disk.h. Internal to the disclosure library: reading output files from
// disk for the offline check (offline.cc) and ACRO bundles (acro.cc). Not part of the
// library's contract; include it from executor/disclosure/*.cc only. No state, thread-safe.
#ifndef SAFEFLOW_EXECUTOR_DISCLOSURE_DISK_H_
#define SAFEFLOW_EXECUTOR_DISCLOSURE_DISK_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

#include "executor/disclosure/profile.h"
#include "executor/disclosure/report.h"

namespace safeflow::executor::disclosure::detail {

struct FileBytes {
  std::string content;           // empty when too_large
  std::uint64_t size_bytes = 0;  // the file's size (at least what was read)
  bool too_large = false;        // more than `limit` bytes: content was not kept
  std::string sha256;            // lower-case hex of the whole file, when hash_whole was set
};

// Reads the file at `path` (following links), keeping at most `limit` bytes: a larger file
// yields too_large and its size without its content. With `hash_whole`, the whole file is
// read through (never more than 64 KiB held beyond `limit`) and its SHA-256 set, so that a
// file too large to check still has its digest; without, reading stops at the limit.
// NotFound, PermissionDenied or Internal (naming `path`) when it cannot be opened or read.
[[nodiscard]] absl::StatusOr<FileBytes> ReadFileBounded(const std::filesystem::path& path,
                                                        std::uint64_t limit,
                                                        bool hash_whole = false);

// Lower-case hex SHA-256 of `data`, or "" if OpenSSL fails.
std::string Sha256Hex(std::string_view data);

// The report for something that is checked but not read: a directory entry that is not a
// regular file, a path that leaves its bundle, a file that is missing. One finding of `rule`
// with outcome fail and `message`; the verdict fail; sha256 that of nothing read.
FileReport UnreadableReport(const std::string& path, const Profile& profile, std::string rule,
                            std::string message);

}  // namespace safeflow::executor::disclosure::detail

#endif  // SAFEFLOW_EXECUTOR_DISCLOSURE_DISK_H_
