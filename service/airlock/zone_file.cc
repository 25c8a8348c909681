#include "service/airlock/zone_file.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

#include "executor/crypto/hkdf.h"
#include "executor/transfer/url.h"

namespace safeflow::service {
namespace {

namespace crypto = executor::crypto;

absl::Status ErrnoStatus(const std::string& what) {
  const int e = errno;
  if (e == ENOENT) return absl::NotFoundError(absl::StrCat(what, ": no such file"));
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(e)));
}

}  // namespace

absl::StatusOr<std::uint64_t> ZoneFile::Read(const crypto::PlaintextSink& sink) {
  if (header_) {
    const off_t body = static_cast<off_t>(header_->raw.size());
    if (::lseek(fd_.get(), body, SEEK_SET) != body) return ErrnoStatus(path_);
    absl::StatusOr<crypto::SealStats> stats = crypto::UnsealStream(fd_.get(), *header_, key_, sink);
    if (!stats.ok()) return stats.status();
    return stats->plaintext_bytes;
  }
  if (::lseek(fd_.get(), 0, SEEK_SET) != 0) return ErrnoStatus(path_);
  std::vector<char> buf(1 << 16);
  std::uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd_.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(path_);
    if (n == 0) return total;
    if (absl::Status s = sink(std::string_view(buf.data(), static_cast<std::size_t>(n))); !s.ok()) {
      return s;
    }
    total += static_cast<std::uint64_t>(n);
  }
}

absl::StatusOr<ZoneDigest> ZoneFile::Digest() {
  crypto::Sha256Hasher hasher;
  absl::StatusOr<std::uint64_t> n = Read([&](std::string_view bytes) {
    hasher.Update(bytes);
    return absl::OkStatus();
  });
  if (!n.ok()) return n.status();
  return ZoneDigest{crypto::HexEncode(hasher.Final()), *n};
}

absl::Status ZoneFile::ReadVerified(const ZoneDigest& expect, const crypto::PlaintextSink& sink,
                                    std::uint64_t first, std::uint64_t count) {
  if (first > expect.size_bytes || (first == expect.size_bytes && expect.size_bytes > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("byte ", first, " is past the end of ", path_));
  }
  const std::uint64_t end =
      count > expect.size_bytes - first ? expect.size_bytes : first + count;  // exclusive
  crypto::Sha256Hasher hasher;
  std::uint64_t pos = 0;  // plaintext offset of the next piece
  std::string held;       // the range's bytes read last, handed on when more (or the end) is good
  absl::StatusOr<std::uint64_t> read = Read([&](std::string_view bytes) {
    hasher.Update(bytes);
    const std::uint64_t at = pos;
    pos += bytes.size();
    const std::uint64_t lo = std::max(at, first), hi = std::min(pos, end);
    if (lo >= hi) return absl::OkStatus();
    if (!held.empty()) {
      if (absl::Status s = sink(held); !s.ok()) return s;
    }
    held.assign(bytes.substr(lo - at, hi - lo));
    return absl::OkStatus();
  });
  if (!read.ok()) return read.status();
  if (*read != expect.size_bytes || crypto::HexEncode(hasher.Final()) != expect.sha256) {
    return absl::DataLossError(absl::StrCat(path_, " changed since it was hashed"));
  }
  return held.empty() ? absl::OkStatus() : sink(held);
}

absl::StatusOr<ZoneFile> OpenZoneFile(const std::string& location, const std::string& project,
                                      const OutputKeyLookup& key_for) {
  absl::StatusOr<executor::transfer::TransferUrl> u =
      executor::transfer::ParseTransferUrl(location);
  if (!u.ok()) return u.status();
  if (u->scheme != executor::transfer::Scheme::kFile) {
    return absl::UnimplementedError("the airlock reads file:// locations only");
  }
  ZoneFile f;
  f.path_ = u->path;
  f.fd_ = executor::UniqueFd(::open(u->path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (f.fd_.get() < 0) return ErrnoStatus(u->path);
  struct stat st {};
  if (::fstat(f.fd_.get(), &st) != 0) return ErrnoStatus(u->path);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(u->path, " is not a regular file"));
  }
  f.disk_bytes_ = static_cast<std::uint64_t>(st.st_size);
  char magic[8] = {};
  const ssize_t got = ::pread(f.fd_.get(), magic, sizeof magic, 0);
  if (got != static_cast<ssize_t>(sizeof magic) ||
      !crypto::LooksSealed(std::string_view(magic, sizeof magic))) {
    return f;
  }
  absl::StatusOr<crypto::SealedHeader> h = crypto::ReadSealedHeader(f.fd_.get());
  if (!h.ok()) return h.status();
  if (!key_for) {
    return absl::FailedPreconditionError("sealed outputs need the enclave's key broker");
  }
  absl::StatusOr<crypto::SecretBytes> key = key_for(h->key_id, project);
  if (!key.ok()) return key.status();
  f.header_ = *std::move(h);
  f.key_ = *std::move(key);
  return f;
}

}  // namespace safeflow::service
