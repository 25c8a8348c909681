#include "executor/log.h"

#include "spdlog/spdlog.h"

namespace safeflow::executor {

spdlog::logger& Log() {
  // main() configures the default logger's sinks before any module logs; clone it once.
  static const std::shared_ptr<spdlog::logger> logger = [] {
    std::shared_ptr<spdlog::logger> l = spdlog::get("executor");
    if (!l) {
      l = spdlog::default_logger()->clone("executor");
      spdlog::register_logger(l);
    }
    return l;
  }();
  return *logger;
}

}  // namespace safeflow::executor
