// executor/disclosure/offline.h. Checking files on disk, as `safeflow check-outputs` does and
// as checkers re-run it: a file's declaration is FILE.disclosure.json beside it (else it is
// undeclared), its evidence the declaration's "evidence" path resolved against the file's
// directory (else FILE.evidence.json when present), and a directory is an ACRO bundle or else
// every regular file in it (sidecars excluded), recursively, in path order.
#ifndef SAFEFLOW_EXECUTOR_DISCLOSURE_OFFLINE_H_
#define SAFEFLOW_EXECUTOR_DISCLOSURE_OFFLINE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "executor/disclosure/filter.h"

namespace safeflow::executor::disclosure {

// Reports for `path` (a file or a directory). Reads at most profile.max_file_bytes of a file.
// NotFound for a missing path; InvalidArgument for an unreadable or invalid FILE.disclosure.json
// (the message names the file and every problem).
[[nodiscard]] absl::StatusOr<std::vector<FileReport>> CheckPath(const std::string& path,
                                                                const Profile& profile);

// Whether a file name is a sidecar (".disclosure.json", ".evidence.json"), never an output.
bool IsSidecarName(const std::string& file_name);

}  // namespace safeflow::executor::disclosure

#endif  // SAFEFLOW_EXECUTOR_DISCLOSURE_OFFLINE_H_
