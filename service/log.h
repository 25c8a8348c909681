// service/log.h. Named loggers of the service module ("service", "store") and the process-wide
// logging setup main() does first. Never log tokens, passwords or workflow output contents.
#ifndef SAFEFLOW_SERVICE_LOG_H_
#define SAFEFLOW_SERVICE_LOG_H_

#include <memory>

#include "absl/status/status.h"
#include "spdlog/formatter.h"
#include "spdlog/logger.h"

#include "executor/log_format.h"
#include "service/config/config.h"

namespace safeflow::service {

spdlog::logger& Log();       // "service"
spdlog::logger& StoreLog();  // "store"

// Sets the default logger's sink (stderr or log.file), level and format (text, or one JSON
// object per line). Call once, before any module logs.
[[nodiscard]] absl::Status SetupLogging(const LogConfig& config);

// One JSON object per line: {"ts","level","logger","msg","thread"}. Exposed for tests.
std::unique_ptr<spdlog::formatter> NewJsonFormatter();

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_LOG_H_
