// executor/sandbox/unique_fd.h. UniqueFd owns one file descriptor and closes it on destruction.
// Move-only. Not thread-safe (like any value type).
#ifndef SAFEFLOW_EXECUTOR_SANDBOX_UNIQUE_FD_H_
#define SAFEFLOW_EXECUTOR_SANDBOX_UNIQUE_FD_H_

#include <unistd.h>
#include <utility>

namespace safeflow::executor {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership without closing.
  [[nodiscard]] int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace safeflow::executor

#endif  // SAFEFLOW_EXECUTOR_SANDBOX_UNIQUE_FD_H_
