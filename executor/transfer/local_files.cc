#include "executor/transfer/local_files.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <random>
#include <set>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

#include "fmt/format.h"

#include "executor/log.h"
#include "executor/paths.h"
#include "executor/transfer/url.h"

namespace safeflow::executor::transfer::detail {
namespace {

constexpr size_t kCopyBufferSize = 1 << 20;
constexpr int kMaxTreeDepth = 128;

absl::Status ErrnoStatus(int err, std::string_view what) {
  const std::string msg = fmt::format("{}: {}", what, std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
    case ELOOP:
      return absl::PermissionDeniedError(msg);
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
      return absl::ResourceExhaustedError(msg);
    case EEXIST:
    case ENOTEMPTY:
      return absl::AlreadyExistsError(msg);
    case ENOTDIR:
    case EISDIR:
      return absl::FailedPreconditionError(msg);
    case ENAMETOOLONG:
      return absl::InvalidArgumentError(msg);
    default:
      return absl::InternalError(msg);
  }
}

struct FreeDeleter {
  void operator()(char* p) const { std::free(p); }
};

// realpath(3); the errno on failure.
absl::StatusOr<std::string> RealPath(const std::string& path, int& err) {
  std::unique_ptr<char, FreeDeleter> resolved(::realpath(path.c_str(), nullptr));
  if (resolved == nullptr) {
    err = errno;
    return ErrnoStatus(err, path);
  }
  err = 0;
  return std::string(resolved.get());
}

// Configured roots, normalized; invalid ones (relative, "..") are dropped: they never match.
std::vector<std::string> NormalizedRoots(const std::vector<std::string>& roots) {
  std::vector<std::string> out;
  for (const std::string& root : roots) {
    absl::StatusOr<std::string> n = NormalizeAbsolutePath(root);
    if (n.ok()) out.push_back(*std::move(n));
  }
  return out;
}

// Real paths of the roots that exist.
std::vector<std::string> RealRoots(const std::vector<std::string>& roots) {
  std::vector<std::string> out;
  for (const std::string& root : NormalizedRoots(roots)) {
    int err = 0;
    absl::StatusOr<std::string> real = RealPath(root, err);
    if (real.ok()) out.push_back(*std::move(real));
  }
  return out;
}

bool UnderAny(std::string_view path, const std::vector<std::string>& roots) {
  return std::any_of(roots.begin(), roots.end(),
                     [&](const std::string& root) { return PathIsUnder(path, root); });
}

// The longest configured root that `path` is lexically under; empty when none.
std::string LexicalRoot(std::string_view path, const std::vector<std::string>& roots) {
  std::string best;
  for (const std::string& root : NormalizedRoots(roots)) {
    if (PathIsUnder(path, root) && (best.empty() || root.size() > best.size())) best = root;
  }
  return best;
}

std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

// Checks that the descriptor's real path lies under one of `real_roots`.
absl::Status CheckFdUnder(int fd, const std::vector<std::string>& real_roots, std::string_view what,
                          std::string_view roots_name) {
  absl::StatusOr<std::string> real = FdPath(fd);
  if (!real.ok()) return real.status();
  if (!UnderAny(*real, real_roots)) {
    return absl::PermissionDeniedError(
        fmt::format("{} resolves outside the {} (symlink?)", what, roots_name));
  }
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, const char* data, size_t n, std::string_view what) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, fmt::format("writing {}", what));
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

std::string RandomSuffix() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}", rd(), rd());
}

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

// Names in the directory `dirfd` (without "." and ".."), sorted.
absl::StatusOr<std::vector<std::string>> ListDir(int dirfd, std::string_view what) {
  const int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return ErrnoStatus(errno, what);
  std::unique_ptr<DIR, DirCloser> dir(::fdopendir(dup));
  if (dir == nullptr) {
    const int err = errno;
    ::close(dup);
    return ErrnoStatus(err, what);
  }
  ::rewinddir(dir.get());
  std::vector<std::string> names;
  while (true) {
    errno = 0;
    const dirent* entry = ::readdir(dir.get());
    if (entry == nullptr) {
      if (errno != 0) return ErrnoStatus(errno, what);
      break;
    }
    const std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    names.emplace_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

struct TreeCopy {
  const std::vector<std::string>& real_roots;
  const Deadline& deadline;
  std::uint64_t budget;  // bytes still allowed
  std::uint64_t limit;   // for messages
  std::uint64_t copied = 0;
  std::set<std::pair<dev_t, ino_t>> ancestors;  // directories on the current path
};

absl::Status CopyTree(TreeCopy& c, int src_dirfd, const std::string& dst_dir,
                      const std::string& rel_dir, int depth) {
  if (depth > kMaxTreeDepth) {
    return absl::InvalidArgumentError(
        fmt::format("input directory is deeper than {} levels", kMaxTreeDepth));
  }
  absl::StatusOr<std::vector<std::string>> names =
      ListDir(src_dirfd, rel_dir.empty() ? std::string(".") : rel_dir);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    if (c.deadline.Expired()) {
      return absl::DeadlineExceededError(
          "copying the input directory took longer than the timeout");
    }
    const std::string rel = rel_dir.empty() ? name : fmt::format("{}/{}", rel_dir, name);
    struct stat st {};
    if (::fstatat(src_dirfd, name.c_str(), &st, 0) != 0) {  // follows symlinks
      const int err = errno;
      if (err == ENOENT) {
        return absl::NotFoundError(fmt::format("{}: dangling symlink or vanished entry", rel));
      }
      return ErrnoStatus(err, rel);
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
      Log().warn("transfer: skipping input entry {} (not a regular file or directory)", rel);
      continue;
    }
    const bool is_dir = S_ISDIR(st.st_mode);
    UniqueFd fd(
        ::openat(src_dirfd, name.c_str(),
                 O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | (is_dir ? O_DIRECTORY : 0)));
    if (!fd.valid()) return ErrnoStatus(errno, rel);
    if (absl::Status s = CheckFdUnder(fd.get(), c.real_roots, rel, "input roots"); !s.ok()) {
      return s;
    }
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, rel);
    const std::string dst = fmt::format("{}/{}", dst_dir, name);
    if (is_dir) {
      if (!S_ISDIR(st.st_mode)) return absl::AbortedError(fmt::format("{} changed type", rel));
      const std::pair<dev_t, ino_t> id{st.st_dev, st.st_ino};
      if (c.ancestors.count(id) != 0) {
        return absl::InvalidArgumentError(fmt::format("symlink cycle at {}", rel));
      }
      if (::mkdir(dst.c_str(), 0755) != 0 || ::chmod(dst.c_str(), 0755) != 0) {
        return ErrnoStatus(errno, dst);
      }
      c.ancestors.insert(id);
      absl::Status s = CopyTree(c, fd.get(), dst, rel, depth + 1);
      c.ancestors.erase(id);
      if (!s.ok()) return s;
      continue;
    }
    if (!S_ISREG(st.st_mode)) return absl::AbortedError(fmt::format("{} changed type", rel));
    if (static_cast<std::uint64_t>(st.st_size) > c.budget) {
      return absl::ResourceExhaustedError(
          fmt::format("input directory is larger than the limit of {} bytes", c.limit));
    }
    UniqueFd out(::open(dst.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!out.valid()) return ErrnoStatus(errno, dst);
    if (::fchmod(out.get(), 0644) != 0) return ErrnoStatus(errno, dst);
    absl::StatusOr<std::uint64_t> n = CopyFd(fd.get(), out.get(), c.budget, c.deadline, rel);
    if (!n.ok()) {
      if (absl::IsResourceExhausted(n.status())) {
        return absl::ResourceExhaustedError(
            fmt::format("input directory is larger than the limit of {} bytes", c.limit));
      }
      return n.status();
    }
    c.budget -= *n;
    c.copied += *n;
  }
  return absl::OkStatus();
}

}  // namespace

std::chrono::milliseconds Deadline::Remaining() const {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      end_ - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

absl::StatusOr<std::string> FdPath(int fd) {
  const std::string link = fmt::format("/proc/self/fd/{}", fd);
  std::string buf(PATH_MAX + 1, '\0');
  const ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size());
  if (n < 0) return ErrnoStatus(errno, fmt::format("readlink {}", link));
  if (static_cast<size_t>(n) >= buf.size()) return absl::InternalError("path too long");
  buf.resize(static_cast<size_t>(n));
  return buf;
}

absl::StatusOr<std::string> ResolveInputPath(const TransferConfig& config,
                                             const std::string& path) {
  if (config.input_roots.empty()) {
    return absl::PermissionDeniedError("file:// inputs are disabled (no input roots configured)");
  }
  if (LexicalRoot(path, config.input_roots).empty()) {
    return absl::PermissionDeniedError(fmt::format("{} is not under an input root", path));
  }
  const std::vector<std::string> real_roots = RealRoots(config.input_roots);
  int err = 0;
  absl::StatusOr<std::string> real = RealPath(path, err);
  if (real.ok()) {
    if (!UnderAny(*real, real_roots)) {
      return absl::PermissionDeniedError(
          fmt::format("{} resolves outside the input roots (symlink?)", path));
    }
    return real;
  }
  if (err != ENOENT && err != ENOTDIR) return real.status();
  // Missing: make sure that what does exist on the way does not lead out of the roots.
  std::string ancestor = path;
  while (ancestor != "/") {
    ancestor = Parent(ancestor);
    absl::StatusOr<std::string> a = RealPath(ancestor, err);
    if (a.ok()) {
      if (!UnderAny(*a, real_roots)) {
        return absl::PermissionDeniedError(
            fmt::format("{} resolves outside the input roots (symlink?)", path));
      }
      break;
    }
    if (err != ENOENT && err != ENOTDIR) return a.status();
  }
  return absl::NotFoundError(fmt::format("input {} does not exist", path));
}

absl::Status CheckOutputPath(const TransferConfig& config, const std::string& path) {
  if (config.output_roots.empty()) {
    return absl::PermissionDeniedError("file:// outputs are disabled (no output roots configured)");
  }
  const std::string root = LexicalRoot(path, config.output_roots);
  if (root.empty()) {
    return absl::PermissionDeniedError(fmt::format("{} is not under an output root", path));
  }
  if (root == path) {
    return absl::InvalidArgumentError(
        fmt::format("output {} must name a file below the output root", path));
  }
  int err = 0;
  if (absl::StatusOr<std::string> r = RealPath(root, err); !r.ok()) {
    return absl::FailedPreconditionError(
        fmt::format("output root {} is not usable: {}", root, std::strerror(err)));
  }
  const std::vector<std::string> real_roots = RealRoots(config.output_roots);
  std::string existing = path;
  while (true) {
    absl::StatusOr<std::string> real = RealPath(existing, err);
    if (real.ok()) {
      if (!UnderAny(*real, real_roots)) {
        return absl::PermissionDeniedError(
            fmt::format("{} resolves outside the output roots (symlink?)", path));
      }
      return absl::OkStatus();
    }
    if ((err != ENOENT && err != ENOTDIR) || existing == root) return real.status();
    existing = Parent(existing);
  }
}

absl::StatusOr<std::uint64_t> CopyFd(int in, int out, std::uint64_t limit, const Deadline& deadline,
                                     std::string_view what) {
  std::vector<char> buf(kCopyBufferSize);
  std::uint64_t total = 0;
  while (true) {
    if (deadline.Expired()) {
      return absl::DeadlineExceededError(
          fmt::format("copying {} took longer than the timeout", what));
    }
    const ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, fmt::format("reading {}", what));
    }
    if (n == 0) return total;
    if (static_cast<std::uint64_t>(n) > limit - total) {
      return absl::ResourceExhaustedError(
          fmt::format("{} is larger than the limit of {} bytes", what, limit));
    }
    if (absl::Status s = WriteAll(out, buf.data(), static_cast<size_t>(n), what); !s.ok()) {
      return s;
    }
    total += static_cast<std::uint64_t>(n);
  }
}

absl::StatusOr<UniqueFd> OpenOutputSource(const std::string& src, std::uint64_t& size) {
  absl::StatusOr<std::string> norm = NormalizeAbsolutePath(src);
  if (!norm.ok()) return norm.status();
  UniqueFd fd(::open(norm->c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) {
    if (errno == ELOOP) {
      return absl::PermissionDeniedError(fmt::format("output {} is a symlink", src));
    }
    return ErrnoStatus(errno, fmt::format("output {}", src));
  }
  absl::StatusOr<std::string> real = FdPath(fd.get());
  if (!real.ok()) return real.status();
  if (*real != *norm) {
    return absl::PermissionDeniedError(fmt::format("output {} is reached through a symlink", src));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, src);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(fmt::format("output {} is not a regular file", src));
  }
  size = static_cast<std::uint64_t>(st.st_size);
  return fd;
}

absl::Status CheckCleanRelativePath(std::string_view relative, bool allow_trailing_slash) {
  if (relative.empty()) return absl::InvalidArgumentError("empty relative path");
  if (relative.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("NUL byte in a path");
  }
  if (allow_trailing_slash && relative.back() == '/') relative.remove_suffix(1);
  for (std::string_view segment : SplitSlash(relative)) {
    if (segment.empty() || segment == "." || segment == "..") {
      return absl::InvalidArgumentError(
          fmt::format("'{}' cannot be a local path (empty, '.' or '..' segment)", relative));
    }
    if (segment.size() > NAME_MAX) {
      return absl::InvalidArgumentError(
          fmt::format("'{}' has a segment longer than {} bytes", relative, NAME_MAX));
    }
  }
  return absl::OkStatus();
}

absl::Status CreateDirBelow(const std::string& dir, std::string_view relative) {
  if (!relative.empty() && relative.back() == '/') relative.remove_suffix(1);
  std::string path = dir;
  for (std::string_view segment : SplitSlash(relative)) {
    path = fmt::format("{}/{}", path, segment);
    if (::mkdir(path.c_str(), 0755) != 0) {
      if (errno != EEXIST) return ErrnoStatus(errno, path);
      struct stat st {};
      if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return absl::FailedPreconditionError(
            fmt::format("{} is both a file and a directory in the input", relative));
      }
    } else if (::chmod(path.c_str(), 0755) != 0) {
      return ErrnoStatus(errno, path);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> CreateFileBelow(const std::string& dir, std::string_view relative) {
  const size_t slash = relative.rfind('/');
  if (slash != std::string_view::npos) {
    if (absl::Status s = CreateDirBelow(dir, relative.substr(0, slash)); !s.ok()) return s;
  }
  const std::string path = fmt::format("{}/{}", dir, relative);
  UniqueFd fd(::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    if (errno == EEXIST || errno == EISDIR || errno == ENOTDIR) {
      return absl::FailedPreconditionError(
          fmt::format("{} is both a file and a directory in the input", relative));
    }
    return ErrnoStatus(errno, path);
  }
  if (::fchmod(fd.get(), 0644) != 0) return ErrnoStatus(errno, path);
  return fd;
}

StagedDest::StagedDest(std::string dest, std::string temp, bool directory, UniqueFd fd)
    : dest_(std::move(dest)), temp_(std::move(temp)), directory_(directory), fd_(std::move(fd)) {}

StagedDest::StagedDest(StagedDest&& other) noexcept
    : dest_(std::move(other.dest_)),
      temp_(std::exchange(other.temp_, std::string())),
      directory_(other.directory_),
      fd_(std::move(other.fd_)) {}

StagedDest::~StagedDest() {
  if (temp_.empty()) return;
  fd_.Reset();
  std::error_code ec;
  std::filesystem::remove_all(temp_, ec);
  if (ec) Log().warn("transfer: cannot remove {}: {}", temp_, ec.message());
}

absl::StatusOr<StagedDest> StagedDest::Create(const std::string& dest, bool directory) {
  absl::StatusOr<std::string> norm = NormalizeAbsolutePath(dest);
  if (!norm.ok()) return norm.status();
  if (*norm == "/") return absl::InvalidArgumentError("cannot fetch into /");
  // Fail before moving any data when Commit() could not replace what is there.
  std::error_code ec;
  if (std::filesystem::is_directory(std::filesystem::symlink_status(*norm, ec)) &&
      !std::filesystem::is_empty(*norm, ec)) {
    return absl::AlreadyExistsError(
        fmt::format("{} already exists and is not a file or an empty directory to replace", *norm));
  }
  const std::string parent = Parent(*norm);
  std::filesystem::create_directories(parent, ec);
  if (ec) return ErrnoStatus(ec.value(), fmt::format("creating {}", parent));
  const std::string base = norm->substr(parent.size() == 1 ? 1 : parent.size() + 1);
  std::string tmpl = fmt::format("{}/.{}.safeflow-XXXXXX", parent == "/" ? "" : parent,
                                 base.substr(0, std::min<size_t>(base.size(), 200)));
  if (directory) {
    if (::mkdtemp(tmpl.data()) == nullptr) return ErrnoStatus(errno, tmpl);
    return StagedDest(*norm, tmpl, true, UniqueFd());
  }
  UniqueFd fd(::mkostemp(tmpl.data(), O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, tmpl);
  return StagedDest(*norm, tmpl, false, std::move(fd));
}

absl::Status StagedDest::Commit() {
  if (temp_.empty()) return absl::FailedPreconditionError("nothing staged");
  if (directory_) {
    if (::chmod(temp_.c_str(), 0755) != 0) return ErrnoStatus(errno, temp_);
  } else {
    if (::fchmod(fd_.get(), 0644) != 0) return ErrnoStatus(errno, temp_);
    if (::close(fd_.Release()) != 0) return ErrnoStatus(errno, temp_);
  }
  if (::rename(temp_.c_str(), dest_.c_str()) != 0) {
    const int err = errno;
    if (err == EEXIST || err == ENOTEMPTY || err == EISDIR || err == ENOTDIR) {
      return absl::AlreadyExistsError(fmt::format(
          "{} already exists and is not a file or an empty directory to replace", dest_));
    }
    return ErrnoStatus(err, fmt::format("renaming into {}", dest_));
  }
  temp_.clear();
  return absl::OkStatus();
}

absl::StatusOr<std::uint64_t> FetchLocal(const TransferConfig& config, const std::string& path,
                                         const std::string& dest, bool is_directory,
                                         const Deadline& deadline) {
  absl::StatusOr<std::string> real = ResolveInputPath(config, path);
  if (!real.ok()) return real.status();
  const std::vector<std::string> real_roots = RealRoots(config.input_roots);
  struct stat st {};
  if (::stat(real->c_str(), &st) != 0) return ErrnoStatus(errno, path);
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        fmt::format("input {} is not a regular file or directory", path));
  }
  UniqueFd fd(::open(real->c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return ErrnoStatus(errno, path);
  if (absl::Status s = CheckFdUnder(fd.get(), real_roots, path, "input roots"); !s.ok()) return s;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, path);
  if (is_directory != S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        is_directory ? fmt::format("input {} is not a directory", path)
                     : fmt::format("input {} is a directory (declare it as DIRECTORY)", path));
  }
  absl::StatusOr<StagedDest> staged = StagedDest::Create(dest, is_directory);
  if (!staged.ok()) return staged.status();
  std::uint64_t copied = 0;
  if (is_directory) {
    TreeCopy c{.real_roots = real_roots,
               .deadline = deadline,
               .budget = config.max_input_bytes,
               .limit = config.max_input_bytes};
    c.ancestors.insert({st.st_dev, st.st_ino});
    if (absl::Status s = CopyTree(c, fd.get(), staged->path(), "", 0); !s.ok()) return s;
    copied = c.copied;
  } else {
    if (static_cast<std::uint64_t>(st.st_size) > config.max_input_bytes) {
      return absl::ResourceExhaustedError(fmt::format(
          "input {} is larger than the limit of {} bytes", path, config.max_input_bytes));
    }
    absl::StatusOr<std::uint64_t> n =
        CopyFd(fd.get(), staged->fd(), config.max_input_bytes, deadline, path);
    if (!n.ok()) return n.status();
    copied = *n;
  }
  if (absl::Status s = staged->Commit(); !s.ok()) return s;
  return copied;
}

absl::StatusOr<std::uint64_t> PutLocal(const TransferConfig& config, const std::string& src,
                                       const std::string& path, const Deadline& deadline) {
  if (absl::Status s = CheckOutputPath(config, path); !s.ok()) return s;
  const std::string root = LexicalRoot(path, config.output_roots);
  const std::vector<std::string> real_roots = RealRoots(config.output_roots);
  const std::string_view relative =
      std::string_view(path).substr(root == "/" ? 1 : root.size() + 1);
  std::vector<std::string_view> segments = SplitSlash(relative);
  const std::string name(segments.back());
  segments.pop_back();

  UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return ErrnoStatus(errno, root);
  if (absl::Status s = CheckFdUnder(dir.get(), real_roots, root, "output roots"); !s.ok()) return s;
  std::string walked = root;
  for (std::string_view segment : segments) {
    const std::string seg(segment);
    walked = fmt::format("{}/{}", walked == "/" ? "" : walked, seg);
    if (::mkdirat(dir.get(), seg.c_str(), 0750) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, walked);
    }
    UniqueFd next(::openat(dir.get(), seg.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!next.valid()) return ErrnoStatus(errno, walked);
    if (absl::Status s = CheckFdUnder(next.get(), real_roots, walked, "output roots"); !s.ok()) {
      return s;
    }
    dir = std::move(next);
  }

  std::uint64_t size = 0;
  absl::StatusOr<UniqueFd> in = OpenOutputSource(src, size);
  if (!in.ok()) return in.status();

  std::string temp;
  UniqueFd out;
  for (int attempt = 0; attempt < 10 && !out.valid(); ++attempt) {
    temp = fmt::format(".{}.safeflow-{}", name.substr(0, std::min<size_t>(name.size(), 200)),
                       RandomSuffix());
    out.Reset(::openat(dir.get(), temp.c_str(),
                       O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0640));
    if (!out.valid() && errno != EEXIST) return ErrnoStatus(errno, path);
  }
  if (!out.valid()) return absl::InternalError(fmt::format("no temporary name for {}", path));
  // Removes the temporary file unless it was renamed into place.
  struct Unlinker {
    int dirfd;
    const std::string& name;
    bool armed = true;
    ~Unlinker() {
      if (armed && ::unlinkat(dirfd, name.c_str(), 0) != 0) {
        Log().warn("transfer: cannot remove temporary output {}: {}", name, std::strerror(errno));
      }
    }
  } unlinker{dir.get(), temp};

  if (::fchmod(out.get(), 0640) != 0) return ErrnoStatus(errno, path);
  absl::StatusOr<std::uint64_t> n =
      CopyFd(in->get(), out.get(), UINT64_MAX, deadline, fmt::format("output {}", src));
  if (!n.ok()) return n.status();
  if (::fsync(out.get()) != 0) return ErrnoStatus(errno, fmt::format("syncing {}", path));
  if (::close(out.Release()) != 0) return ErrnoStatus(errno, fmt::format("closing {}", path));
  if (::renameat(dir.get(), temp.c_str(), dir.get(), name.c_str()) != 0) {
    const int err = errno;
    if (err == EISDIR || err == ENOTEMPTY || err == EEXIST) {
      return absl::AlreadyExistsError(fmt::format("output {} is an existing directory", path));
    }
    return ErrnoStatus(err, fmt::format("renaming into {}", path));
  }
  unlinker.armed = false;
  // Persists the rename; a failure here leaves a complete file that may not survive a crash.
  if (::fsync(dir.get()) != 0) {
    Log().warn("transfer: fsync of the directory of {} failed: {}", path, std::strerror(errno));
  }
  return *n;
}

}  // namespace safeflow::executor::transfer::detail
