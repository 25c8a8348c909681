// service/data_dir.h. safeflowd's data directory: created when missing and locked (flock) for
// the life of the process, so that two safeflowd processes never share one (the embedded
// PostgreSQL, and later sealed data, live there). Not thread-safe; one per process.
#ifndef SAFEFLOW_SERVICE_DATA_DIR_H_
#define SAFEFLOW_SERVICE_DATA_DIR_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace safeflow::service {

class DataDirLock {
 public:
  // Creates `dir` (mode 0711 so that unprivileged service users can reach their own
  // subdirectories, which are 0700) and takes <dir>/safeflowd.lock. FailedPrecondition, naming
  // the holder's pid, when another process holds it.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<DataDirLock>> Acquire(const std::string& dir);
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;
  ~DataDirLock();

 private:
  DataDirLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  const int fd_;
  const std::string path_;
};

// Writes `content` to `path` atomically (temp file + rename).
[[nodiscard]] absl::Status WriteFileAtomically(const std::string& path, const std::string& content,
                                               int mode = 0644);

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_DATA_DIR_H_
