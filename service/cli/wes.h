// service/cli/wes.h. `safeflow wes ...`: the researcher's commands on GA4GH WES runs (submit an
// approved workflow, optionally waiting for the end; status, show, list, cancel, logs, tasks).
#ifndef SAFEFLOW_SERVICE_CLI_WES_H_
#define SAFEFLOW_SERVICE_CLI_WES_H_

#include <string>
#include <vector>

namespace safeflow::cli {

// args: what follows "wes". Returns the process exit code (0 ok, 1 failure, 2 usage).
int WesCommand(const std::string& server, const std::vector<std::string>& args);

}  // namespace safeflow::cli

#endif  // SAFEFLOW_SERVICE_CLI_WES_H_
