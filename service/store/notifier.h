// service/store/notifier.h. LISTEN on a PostgreSQL channel over a dedicated connection and wait
// for notifications (the scheduler's wake-up: "queued:<id>", "cancel:<id>"). Reconnects after
// the database comes back. Not thread-safe: one owner thread.
#ifndef SAFEFLOW_SERVICE_STORE_NOTIFIER_H_
#define SAFEFLOW_SERVICE_STORE_NOTIFIER_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace safeflow::service::store {

class Notifier {
 public:
  Notifier(std::string dsn, std::string channel);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Waits up to `timeout` for notifications and returns their payloads (possibly none).
  // Unavailable when the database cannot be reached (the caller should poll meanwhile).
  [[nodiscard]] absl::StatusOr<std::vector<std::string>> Wait(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace safeflow::service::store

#endif  // SAFEFLOW_SERVICE_STORE_NOTIFIER_H_
