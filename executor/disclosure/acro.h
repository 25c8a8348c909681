// executor/disclosure/acro.h. ACRO output bundles (the SACRO project's `acro` Python package:
// `acro.finalise(dir)` writes the outputs, a results.json recording each output's status,
// type, files and any exception request, and a checksums/ folder with each file's SHA-256).
// The bundle's declared status is read (fail without an exception -> fail; fail with an
// exception or review -> review) and every checksum verified (missing, malformed or wrong ->
// fail); each file then goes through the normal chain as well.
#ifndef SAFEFLOW_EXECUTOR_DISCLOSURE_ACRO_H_
#define SAFEFLOW_EXECUTOR_DISCLOSURE_ACRO_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "executor/disclosure/filter.h"

namespace safeflow::executor::disclosure {

// Whether `dir` looks like an ACRO bundle (holds a results.json with a "results" object).
bool IsAcroBundle(const std::string& dir);

// One report per file of the bundle (results.json and checksums/ themselves are not outputs).
// NotFound / InvalidArgument when `dir` is not a readable bundle at all.
[[nodiscard]] absl::StatusOr<std::vector<FileReport>> CheckAcroBundle(
    const std::string& dir, const Profile& profile, const std::vector<ReleasedTable>& history);

}  // namespace safeflow::executor::disclosure

#endif  // SAFEFLOW_EXECUTOR_DISCLOSURE_ACRO_H_
