#include "executor/users.h"

#include <cerrno>
#include <cstring>
#include <pwd.h>
#include <unistd.h>
#include <vector>

#include "absl/strings/str_cat.h"

namespace safeflow::executor {

absl::StatusOr<UserIds> LookupUser(std::string_view name) {
  const std::string n(name);
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<std::size_t>(size) : 16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc = ::getpwnam_r(n.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0) return absl::InternalError(absl::StrCat("getpwnam(", n, "): ", std::strerror(rc)));
  if (found == nullptr) return absl::NotFoundError(absl::StrCat("no user named ", n));
  return UserIds{.uid = pw.pw_uid, .gid = pw.pw_gid, .name = n, .home = pw.pw_dir};
}

absl::StatusOr<UserIds> EnsureSystemUser(Env& env, std::string_view name) {
  absl::StatusOr<UserIds> user = LookupUser(name);
  if (absl::IsNotFound(user.status())) {
    Command cmd{.argv = {"useradd", "--system", "--user-group", "--no-create-home", "--home-dir",
                         "/nonexistent", "--shell", "/usr/sbin/nologin", "--comment",
                         "SafeFlow service account", std::string(name)}};
    cmd.timeout = std::chrono::seconds(30);
    absl::StatusOr<CommandResult> r = RunChecked(env, cmd);
    // Another process may have created it meanwhile (useradd exits 9): look again either way.
    user = LookupUser(name);
    if (!user.ok() && !r.ok()) return r.status();
  }
  if (!user.ok()) return user.status();
  if (user->uid == 0) {
    return absl::FailedPreconditionError(absl::StrCat("user ", std::string(name), " has uid 0"));
  }
  return user;
}

bool RunningAsRoot() { return ::geteuid() == 0; }

}  // namespace safeflow::executor
