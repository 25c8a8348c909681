// service/cli/workflow.h. `safeflow workflow ...`: the workflow admin's commands on the registry
// of approved workflows (register a bundle directory, approve, revoke, list, show).
#ifndef SAFEFLOW_SERVICE_CLI_WORKFLOW_H_
#define SAFEFLOW_SERVICE_CLI_WORKFLOW_H_

#include <string>
#include <vector>

namespace safeflow::cli {

// args: what follows "workflow". Returns the process exit code (0 ok, 1 failure, 2 usage).
int WorkflowCommand(const std::string& server, const std::vector<std::string>& args);

}  // namespace safeflow::cli

#endif  // SAFEFLOW_SERVICE_CLI_WORKFLOW_H_
