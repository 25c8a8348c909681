// executor/sandbox/memfd.h. Small in-memory files handed to bwrap by descriptor (the seccomp
// program, the synthesised /etc/passwd, ...). Thread-safe.
#ifndef SAFEFLOW_EXECUTOR_SANDBOX_MEMFD_H_
#define SAFEFLOW_EXECUTOR_SANDBOX_MEMFD_H_

#include <string_view>

#include "absl/status/statusor.h"

#include "executor/sandbox/unique_fd.h"

namespace safeflow::executor {

// A close-on-exec memfd named `name` that holds `data`, positioned at offset 0 and sealed
// against writes, growth and shrinking (so a reader that is not its creator cannot change it).
[[nodiscard]] absl::StatusOr<UniqueFd> MakeSealedMemfd(std::string_view name,
                                                       std::string_view data);

}  // namespace safeflow::executor

#endif  // SAFEFLOW_EXECUTOR_SANDBOX_MEMFD_H_
