// service/cli/check_outputs.h. `safeflow check-outputs [--profile NAME | --profile-file FILE]
// [--json] PATH...`: the airlock's disclosure-control filter run offline, on files on disk, so
// that researchers (before they ask for a release) and output checkers (when they re-check one)
// get the answer safeflowd's airlock gives. No server, no token: it only reads the files named,
// their sidecars (FILE.disclosure.json, evidence) and the profile file.
//
// Output: one line per file and every finding that is not `pass`, then a summary line; or, with
// --json, only one JSON document on stdout: {"profile": ..., "files": [report...],
// "verdict": worst}. Exit status: 0 when every file passes, 1 when any file is `review` or
// `fail`, 2 on a usage error, an unknown or invalid profile, a missing or unreadable path, an
// invalid sidecar, or a path holding no file to check (then the message is on stderr and
// nothing is printed on stdout: a partial answer is never shown as a whole one).
#ifndef SAFEFLOW_SERVICE_CLI_CHECK_OUTPUTS_H_
#define SAFEFLOW_SERVICE_CLI_CHECK_OUTPUTS_H_

#include <string>
#include <vector>

namespace safeflow::cli {

// args: what follows "check-outputs". Returns the process exit code (see above).
[[nodiscard]] int CheckOutputsCommand(const std::vector<std::string>& args);

}  // namespace safeflow::cli

#endif  // SAFEFLOW_SERVICE_CLI_CHECK_OUTPUTS_H_
