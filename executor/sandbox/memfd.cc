#include "executor/sandbox/memfd.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

#include "fmt/format.h"

namespace safeflow::executor {

absl::StatusOr<UniqueFd> MakeSealedMemfd(std::string_view name, std::string_view data) {
  const std::string n(name);
  UniqueFd fd(::memfd_create(n.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) {
    return absl::InternalError(fmt::format("memfd_create({}): {}", n, std::strerror(errno)));
  }
  std::string_view rest = data;
  while (!rest.empty()) {
    const ssize_t w = ::write(fd.get(), rest.data(), rest.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(fmt::format("write memfd {}: {}", n, std::strerror(errno)));
    }
    rest.remove_prefix(static_cast<std::size_t>(w));
  }
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) {
    return absl::InternalError(fmt::format("lseek memfd {}: {}", n, std::strerror(errno)));
  }
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) !=
      0) {
    return absl::InternalError(fmt::format("seal memfd {}: {}", n, std::strerror(errno)));
  }
  return fd;
}

}  // namespace safeflow::executor
