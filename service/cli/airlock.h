// service/cli/airlock.h. `safeflow airlock ...`: release requests for researchers (list, show,
// download) and output checkers and admins (review, override), over /airlock/v1.
#ifndef SAFEFLOW_SERVICE_CLI_AIRLOCK_H_
#define SAFEFLOW_SERVICE_CLI_AIRLOCK_H_

#include <string>
#include <vector>

namespace safeflow::cli {

// Runs `safeflow airlock ARGS...` against `server`; returns the exit status.
int AirlockCommand(const std::string& server, const std::vector<std::string>& args);

}  // namespace safeflow::cli

#endif  // SAFEFLOW_SERVICE_CLI_AIRLOCK_H_
