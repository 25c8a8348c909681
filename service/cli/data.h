// service/cli/data.h. `safeflow data ...`: the data owner's commands (key pairs, sealing,
// unsealing, importing a dataset into the secure zone).
#ifndef SAFEFLOW_SERVICE_CLI_DATA_H_
#define SAFEFLOW_SERVICE_CLI_DATA_H_

#include <string>
#include <vector>

namespace safeflow::cli {

// args: what follows "data". Returns the process exit code (0 ok, 1 failure, 2 usage).
int DataCommand(const std::string& server, const std::vector<std::string>& args);

}  // namespace safeflow::cli

#endif  // SAFEFLOW_SERVICE_CLI_DATA_H_
