// executor/transfer/local_files.h. The local-filesystem half of transfers: root checks that
// hold against symlinks and races (every opened descriptor's real path is checked through
// /proc/self/fd), staging of destinations under a temporary name, and bounded copies.
// Internal to executor/transfer/. Functions are thread-safe; StagedDest is a value type.
#ifndef SAFEFLOW_EXECUTOR_TRANSFER_LOCAL_FILES_H_
#define SAFEFLOW_EXECUTOR_TRANSFER_LOCAL_FILES_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "executor/sandbox/unique_fd.h"
#include "executor/transfer/transfer.h"

namespace safeflow::executor::transfer::detail {

// The end of one transfer's time budget (steady clock).
class Deadline {
 public:
  explicit Deadline(std::chrono::milliseconds budget)
      : end_(std::chrono::steady_clock::now() + budget) {}
  bool Expired() const { return std::chrono::steady_clock::now() >= end_; }
  // Time left, at least 0.
  std::chrono::milliseconds Remaining() const;

 private:
  const std::chrono::steady_clock::time_point end_;
};

// The real path an open descriptor refers to.
[[nodiscard]] absl::StatusOr<std::string> FdPath(int fd);

// Checks a file:// input path (normalized): lexically under an input root and resolving under
// one. Returns the resolved path; NotFound when it does not exist (after checking that its
// deepest existing ancestor resolves under a root).
[[nodiscard]] absl::StatusOr<std::string> ResolveInputPath(const TransferConfig& config,
                                                           const std::string& path);
// Checks a file:// output path (normalized): strictly below an output root that exists, and
// its deepest existing ancestor resolving under an output root.
[[nodiscard]] absl::Status CheckOutputPath(const TransferConfig& config, const std::string& path);

// Copies `in` to `out` until EOF; more than `limit` bytes is ResourceExhausted, passing the
// deadline DeadlineExceeded. `what` names the source in messages.
[[nodiscard]] absl::StatusOr<std::uint64_t> CopyFd(int in, int out, std::uint64_t limit,
                                                   const Deadline& deadline, std::string_view what);

// Opens task output `src` for reading: an absolute path to a regular file, reached without
// any symlink (PermissionDenied otherwise). Fills `size`.
[[nodiscard]] absl::StatusOr<UniqueFd> OpenOutputSource(const std::string& src,
                                                        std::uint64_t& size);

// Creates (O_EXCL, mode 0644) the file `relative` below the directory `dir`, creating
// intermediate directories (0755). `relative` must be a clean relative path.
[[nodiscard]] absl::StatusOr<UniqueFd> CreateFileBelow(const std::string& dir,
                                                       std::string_view relative);
// Creates the directory `relative` (and its parents) below `dir`.
[[nodiscard]] absl::Status CreateDirBelow(const std::string& dir, std::string_view relative);

// A destination being filled under a temporary name next to it (".NAME.safeflow-XXXXXX"),
// renamed into place by Commit() and removed by the destructor otherwise. Move-only.
class StagedDest {
 public:
  // Creates the parents of `dest` and the temporary file or directory.
  [[nodiscard]] static absl::StatusOr<StagedDest> Create(const std::string& dest, bool directory);
  StagedDest(StagedDest&& other) noexcept;
  StagedDest& operator=(StagedDest&&) = delete;
  StagedDest(const StagedDest&) = delete;
  StagedDest& operator=(const StagedDest&) = delete;
  ~StagedDest();

  const std::string& path() const { return temp_; }
  // The open temporary file (files only).
  int fd() const { return fd_.get(); }
  // Syncs, sets the final mode and renames over `dest` (which may be a file or an empty
  // directory; anything else is AlreadyExists).
  [[nodiscard]] absl::Status Commit();

 private:
  StagedDest(std::string dest, std::string temp, bool directory, UniqueFd fd);
  std::string dest_;
  std::string temp_;  // empty once committed or moved from
  bool directory_;
  UniqueFd fd_;
};

// file:// input at the normalized `path` into `dest`.
[[nodiscard]] absl::StatusOr<std::uint64_t> FetchLocal(const TransferConfig& config,
                                                       const std::string& path,
                                                       const std::string& dest, bool is_directory,
                                                       const Deadline& deadline);
// Task output `src` to the normalized file:// output `path`.
[[nodiscard]] absl::StatusOr<std::uint64_t> PutLocal(const TransferConfig& config,
                                                     const std::string& src,
                                                     const std::string& path,
                                                     const Deadline& deadline);

// Splits a relative key or path on '/'; InvalidArgument for empty, "." or ".." segments and
// for NUL bytes. A trailing '/' is allowed (a directory marker) when `allow_trailing_slash`.
[[nodiscard]] absl::Status CheckCleanRelativePath(std::string_view relative,
                                                  bool allow_trailing_slash);

}  // namespace safeflow::executor::transfer::detail

#endif  // SAFEFLOW_EXECUTOR_TRANSFER_LOCAL_FILES_H_
