// executor/log.h. The executor module's named logger ("executor"). Internal to executor/.
#ifndef SAFEFLOW_EXECUTOR_LOG_H_
#define SAFEFLOW_EXECUTOR_LOG_H_

#include "spdlog/logger.h"

#include "executor/log_format.h"

namespace safeflow::executor {
spdlog::logger& Log();
}  // namespace safeflow::executor

#endif  // SAFEFLOW_EXECUTOR_LOG_H_
