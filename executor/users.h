// executor/users.h. Unprivileged system users for the processes SafeFlow starts as root
// (the embedded PostgreSQL now; sandboxed workers later). Thread-safe.
#ifndef SAFEFLOW_EXECUTOR_USERS_H_
#define SAFEFLOW_EXECUTOR_USERS_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

#include "executor/env.h"

namespace safeflow::executor {

// NotFound when there is no such user.
[[nodiscard]] absl::StatusOr<UserIds> LookupUser(std::string_view name);

// Returns the user `name`, creating it first as a locked system account (own group, no home,
// no login shell) with `useradd` when it does not exist. Refuses uid 0.
[[nodiscard]] absl::StatusOr<UserIds> EnsureSystemUser(Env& env, std::string_view name);

// True when the effective user is root.
bool RunningAsRoot();

}  // namespace safeflow::executor

#endif  // SAFEFLOW_EXECUTOR_USERS_H_
