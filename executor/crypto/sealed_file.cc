#include "executor/crypto/sealed_file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "executor/crypto/aead.h"
#include "executor/crypto/hkdf.h"
#include "executor/crypto/key_wrap.h"
#include "executor/crypto/openssl_util.h"
#include "executor/crypto/x25519.h"
#include "executor/sandbox/unique_fd.h"

namespace safeflow::executor::crypto {
namespace {

// Header layout (README.md): offsets of the fixed part.
constexpr std::size_t kVersionAt = 8;
constexpr std::size_t kSuiteAt = 9;
constexpr std::size_t kChunkBytesAt = 10;
constexpr std::size_t kFileIdAt = 14;
constexpr std::size_t kKeyIdLenAt = 30;
constexpr std::size_t kFixedBytes = 32;  // everything up to and including key_id_len

void PutU16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}
void PutU32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}
void PutU64(unsigned char* out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(v >> (56 - 8 * i));
}
std::uint32_t GetU(std::string_view b, std::size_t at, std::size_t n) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = v << 8 | static_cast<unsigned char>(b[at + i]);
  return v;
}

bool PrintableKeyId(std::string_view key_id) {
  for (const char c : key_id) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

absl::Status CheckKeyId(std::string_view key_id) {
  if (key_id.empty() || key_id.size() > kMaxKeyIdBytes || !PrintableKeyId(key_id)) {
    return absl::InvalidArgumentError("seal: the key id must be 1..255 printable ASCII characters");
  }
  return absl::OkStatus();
}

absl::Status CheckChunkBytes(std::uint32_t chunk_bytes) {
  if (chunk_bytes < kMinChunkBytes || chunk_bytes > kMaxChunkBytes) {
    return absl::InvalidArgumentError(absl::StrCat("seal: chunk_bytes ", chunk_bytes, " outside ",
                                                   kMinChunkBytes, "..", kMaxChunkBytes));
  }
  return absl::OkStatus();
}

absl::Status IoError(const std::string& what, int err) {
  const std::string msg = what + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

// Waits until `fd` is ready after EAGAIN (a non-blocking descriptor).
absl::Status WaitFor(int fd, short events, const std::string& what) {
  pollfd p{.fd = fd, .events = events, .revents = 0};
  while (::poll(&p, 1, -1) < 0) {
    if (errno != EINTR) return IoError(what, errno);
  }
  return absl::OkStatus();
}

// Reads until `n` bytes or EOF; returns the count.
absl::StatusOr<std::size_t> ReadUpTo(int fd, unsigned char* buf, std::size_t n) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t r = ::read(fd, buf + done, n - done);
    if (r > 0) {
      done += static_cast<std::size_t>(r);
    } else if (r == 0) {
      break;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (absl::Status s = WaitFor(fd, POLLIN, "read"); !s.ok()) return s;
    } else if (errno != EINTR) {
      return IoError("read", errno);
    }
  }
  return done;
}

absl::Status WriteAll(int fd, const unsigned char* buf, std::size_t n) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t w = ::write(fd, buf + done, n - done);
    if (w >= 0) {
      done += static_cast<std::size_t>(w);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (absl::Status s = WaitFor(fd, POLLOUT, "write"); !s.ok()) return s;
    } else if (errno != EINTR) {
      return IoError("write", errno);
    }
  }
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, std::string_view s) {
  return WriteAll(fd, reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

// The per-chunk IV and AAD.
class ChunkParams {
 public:
  explicit ChunkParams(std::string_view header_raw) {
    const std::string hash = Sha256(header_raw);
    std::memcpy(aad_, hash.data(), kSha256Bytes);
  }
  void Set(std::uint64_t index, bool final_chunk) {
    PutU64(iv_ + 4, index);
    PutU64(aad_ + kSha256Bytes, index);
    aad_[kSha256Bytes + 8] = final_chunk ? 1 : 0;
  }
  std::string_view iv() const { return {reinterpret_cast<const char*>(iv_), sizeof iv_}; }
  std::string_view aad() const { return {reinterpret_cast<const char*>(aad_), sizeof aad_}; }

 private:
  unsigned char iv_[kAeadIvBytes] = {};
  unsigned char aad_[kSha256Bytes + 8 + 1] = {};
};

// A new header for `key_id` with a fresh DEK wrapped to `dataset_public_key`.
struct NewHeader {
  std::string raw;
  SecretBytes dek;
};

absl::StatusOr<NewHeader> MakeHeader(std::string_view key_id, std::string_view dataset_public_key,
                                     std::uint32_t chunk_bytes) {
  if (absl::Status s = CheckKeyId(key_id); !s.ok()) return s;
  if (absl::Status s = CheckChunkBytes(chunk_bytes); !s.ok()) return s;
  if (dataset_public_key.size() != kX25519KeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "seal: the dataset public key must be 32 bytes, not ", dataset_public_key.size()));
  }
  unsigned char file_id[kSealedFileIdBytes];
  if (RAND_bytes(file_id, sizeof file_id) != 1) {
    return absl::InternalError("RAND_bytes: " + OpenSslError());
  }
  NewHeader h;
  h.raw.reserve(SealedHeaderBytes(key_id.size()));
  h.raw.append(kSealedMagic);
  h.raw.push_back(static_cast<char>(kSealedVersion));
  h.raw.push_back(static_cast<char>(kSealedSuite));
  PutU32(h.raw, chunk_bytes);
  h.raw.append(reinterpret_cast<const char*>(file_id), sizeof file_id);
  PutU16(h.raw, static_cast<std::uint16_t>(key_id.size()));
  h.raw.append(key_id);
  absl::StatusOr<SecretBytes> dek = SecretBytes::Random(kAeadKeyBytes);
  if (!dek.ok()) return dek.status();
  absl::StatusOr<WrappedSecret> wrapped =
      WrapToPublicKey(dataset_public_key, *dek, kSealedDekInfo, h.raw);
  if (!wrapped.ok()) return wrapped.status();
  h.raw.append(wrapped->ephemeral_public_key);
  h.raw.append(wrapped->ciphertext);
  h.dek = *std::move(dek);
  return h;
}

// Writes `raw` and then the chunks of everything `in_fd` yields.
absl::StatusOr<SealStats> SealChunks(int in_fd, int out_fd, const std::string& raw,
                                     const SecretBytes& dek, std::uint32_t chunk_bytes) {
  absl::StatusOr<AeadCipher> cipher = AeadCipher::Create(dek);
  if (!cipher.ok()) return cipher.status();
  if (absl::Status s = WriteAll(out_fd, raw); !s.ok()) return s;
  SealStats stats{.sealed_bytes = raw.size()};
  ChunkParams params(raw);
  // One byte beyond the chunk tells whether another chunk follows (needed for the final flag
  // without seeking); plaintext is encrypted in place, so the buffer is secret.
  const std::size_t cap = std::size_t{chunk_bytes} + 1;
  SecretBytes buf(cap);
  unsigned char tag[kAeadTagBytes];
  std::size_t have = 0;
  for (std::uint64_t index = 0;; ++index) {
    absl::StatusOr<std::size_t> got = ReadUpTo(in_fd, buf.data() + have, cap - have);
    if (!got.ok()) return got.status();
    have += *got;
    const bool more = have == cap;
    const std::size_t n = more ? chunk_bytes : have;
    params.Set(index, !more);
    const std::span<unsigned char> chunk(buf.data(), n);
    if (absl::Status s = cipher->Encrypt(params.iv(), params.aad(), chunk, chunk, tag); !s.ok()) {
      return s;
    }
    if (absl::Status s = WriteAll(out_fd, buf.data(), n); !s.ok()) return s;
    if (absl::Status s = WriteAll(out_fd, tag, sizeof tag); !s.ok()) return s;
    stats.plaintext_bytes += n;
    stats.sealed_bytes += n + kAeadTagBytes;
    ++stats.chunks;
    if (!more) break;
    buf.data()[0] = buf.data()[chunk_bytes];
    OPENSSL_cleanse(buf.data() + chunk_bytes, 1);
    have = 1;
  }
  return stats;
}

absl::StatusOr<SecretBytes> UnwrapDek(const SealedHeader& h, const SecretBytes& private_key) {
  if (private_key.size() != kX25519KeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("unseal: the dataset private key must be 32 bytes, not ", private_key.size()));
  }
  const std::size_t wrap_aad_bytes = h.raw.size() - kX25519KeyBytes - kWrappedDekBytes;
  absl::StatusOr<SecretBytes> dek = UnwrapWithPrivateKey(
      private_key, {.ephemeral_public_key = h.ephemeral_public_key, .ciphertext = h.wrapped_dek},
      kSealedDekInfo, std::string_view(h.raw).substr(0, wrap_aad_bytes));
  if (!dek.ok()) {
    if (!absl::IsDataLoss(dek.status())) return dek.status();
    return absl::DataLossError("the data key could not be unwrapped with key " + h.key_id +
                               ": wrong key or tampered header");
  }
  if (dek->size() != kAeadKeyBytes) {
    return absl::DataLossError("bad sealed-file header: the data key is not 32 bytes");
  }
  return dek;
}

absl::Status ChunkAuthError(std::uint64_t index, const char* extra) {
  return absl::DataLossError(absl::StrCat(
      "chunk ", index, " failed authentication: the file was tampered with or its chunks reordered",
      extra));
}

absl::StatusOr<SealStats> UnsealChunks(int in_fd, const SealedHeader& h, const SecretBytes& dek,
                                       const PlaintextSink& sink) {
  absl::StatusOr<AeadCipher> cipher = AeadCipher::Create(dek);
  if (!cipher.ok()) return cipher.status();
  SealStats stats{.sealed_bytes = h.raw.size()};
  ChunkParams params(h.raw);
  const std::size_t chunk_bytes = h.chunk_bytes;
  // A whole sealed chunk plus one byte to tell whether another follows. The ciphertext is kept
  // apart from the plaintext so that a failure can be diagnosed by a second attempt.
  const std::size_t cap = chunk_bytes + kAeadTagBytes + 1;
  std::vector<unsigned char> in(cap);
  SecretBytes plain(chunk_bytes);
  std::size_t have = 0;
  for (std::uint64_t index = 0;; ++index) {
    absl::StatusOr<std::size_t> got = ReadUpTo(in_fd, in.data() + have, cap - have);
    if (!got.ok()) return got.status();
    have += *got;
    const bool more = have == cap;
    const std::size_t len = more ? cap - 1 : have;
    if (len == 0) {
      return absl::DataLossError(
          absl::StrCat("truncated: no final chunk after ", index, " chunks"));
    }
    if (len < kAeadTagBytes) {
      return absl::DataLossError(absl::StrCat("truncated: chunk ", index, " holds ", len,
                                              " bytes, fewer than its 16-byte tag"));
    }
    const std::size_t n = len - kAeadTagBytes;
    const std::span<const unsigned char> ct(in.data(), n);
    const std::span<const unsigned char> tag(in.data() + n, kAeadTagBytes);
    const std::span<unsigned char> out(plain.data(), n);
    auto attempt = [&](bool final_chunk) {
      params.Set(index, final_chunk);
      return cipher->Decrypt(params.iv(), params.aad(), ct, tag, out);
    };
    if (absl::Status s = attempt(!more); !s.ok()) {
      if (!absl::IsDataLoss(s)) return s;
      // Diagnose: a whole chunk that authenticates with the other final flag means data after
      // the final chunk, or a file cut at a chunk boundary. Its plaintext is not written.
      if (more && attempt(true).ok()) {
        OPENSSL_cleanse(out.data(), out.size());
        return absl::DataLossError(
            absl::StrCat("trailing bytes after the final chunk (chunk ", index, ")"));
      }
      if (!more && n == chunk_bytes && attempt(false).ok()) {
        OPENSSL_cleanse(out.data(), out.size());
        return absl::DataLossError(
            absl::StrCat("truncated: no final chunk after ", index + 1, " chunks"));
      }
      return ChunkAuthError(index,
                            more ? "" : " (or truncated or extended inside this, its last chunk)");
    }
    if (absl::Status s = sink(std::string_view(reinterpret_cast<const char*>(plain.data()), n));
        !s.ok()) {
      return s;
    }
    stats.plaintext_bytes += n;
    stats.sealed_bytes += len;
    ++stats.chunks;
    if (!more) break;
    in[0] = in[cap - 1];
    have = 1;
  }
  return stats;
}

absl::StatusOr<UniqueFd> OpenInput(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    const std::string msg = absl::StrCat("open ", path, ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(msg);
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
    return absl::InternalError(msg);
  }
  return fd;
}

absl::StatusOr<UniqueFd> CreateOutput(const std::string& path, mode_t mode) {
  UniqueFd fd(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 07777));
  if (!fd.valid()) {
    const int err = errno;
    const std::string msg = absl::StrCat("create ", path, ": ", std::strerror(err));
    if (err == EEXIST) return absl::AlreadyExistsError(msg);
    if (err == ENOENT) return absl::NotFoundError(msg);
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
    return absl::InternalError(msg);
  }
  return fd;
}

absl::Status Prefixed(const std::string& prefix, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(prefix, ": ", s.message()));
}

// Runs `body` on a freshly created `out_path`, which is removed unless `body` succeeds.
template <typename Body>
absl::StatusOr<SealStats> WithOutput(const std::string& out_path, mode_t mode, Body body) {
  absl::StatusOr<UniqueFd> out = CreateOutput(out_path, mode);
  if (!out.ok()) return out.status();
  absl::StatusOr<SealStats> stats = body(out->get());
  bool close_ok = true;
  if (stats.ok()) close_ok = ::close(out->Release()) == 0;
  if (!stats.ok() || !close_ok) {
    const int err = errno;
    out->Reset();
    (void)::unlink(out_path.c_str());
    if (stats.ok()) return IoError(absl::StrCat("close ", out_path), err);
  }
  return stats;
}

}  // namespace

bool LooksSealed(std::string_view first_bytes) {
  return first_bytes.size() >= kSealedMagic.size() &&
         first_bytes.substr(0, kSealedMagic.size()) == kSealedMagic;
}

std::size_t SealedHeaderBytes(std::size_t key_id_bytes) {
  return kFixedBytes + key_id_bytes + kX25519KeyBytes + kWrappedDekBytes;
}

std::uint64_t SealedFileBytes(std::uint64_t plaintext_bytes, std::uint32_t chunk_bytes,
                              std::size_t key_id_bytes) {
  const std::uint64_t chunks =
      plaintext_bytes == 0 ? 1 : (plaintext_bytes + chunk_bytes - 1) / chunk_bytes;
  return SealedHeaderBytes(key_id_bytes) + plaintext_bytes + chunks * kAeadTagBytes;
}

absl::StatusOr<SealedHeader> ParseSealedHeader(std::string_view bytes) {
  auto incomplete = [&](std::size_t need) {
    return absl::NotFoundError(absl::StrCat("incomplete sealed-file header: ", bytes.size(),
                                            " bytes, need at least ", need));
  };
  if (bytes.size() < kSealedMagic.size()) {
    if (kSealedMagic.substr(0, bytes.size()) != bytes) {
      return absl::DataLossError("not a SafeFlow sealed file (bad magic)");
    }
    return incomplete(SealedHeaderBytes(1));
  }
  if (!LooksSealed(bytes)) return absl::DataLossError("not a SafeFlow sealed file (bad magic)");
  if (bytes.size() <= kSuiteAt) return incomplete(SealedHeaderBytes(1));
  const int version = static_cast<unsigned char>(bytes[kVersionAt]);
  if (version != kSealedVersion) {
    return absl::DataLossError(absl::StrCat("unsupported sealed-file version ", version,
                                            " (this build reads version ", kSealedVersion, ")"));
  }
  const int suite = static_cast<unsigned char>(bytes[kSuiteAt]);
  if (suite != kSealedSuite) {
    return absl::DataLossError(absl::StrCat("unsupported sealed-file suite ", suite,
                                            " (this build reads suite ", kSealedSuite,
                                            ": X25519-HKDF-SHA256 key wrap, AES-256-GCM chunks)"));
  }
  if (bytes.size() < kFixedBytes) return incomplete(SealedHeaderBytes(1));
  const std::uint32_t chunk_bytes = GetU(bytes, kChunkBytesAt, 4);
  if (chunk_bytes < kMinChunkBytes || chunk_bytes > kMaxChunkBytes) {
    return absl::DataLossError(absl::StrCat("bad sealed-file header: chunk_bytes ", chunk_bytes,
                                            " outside ", kMinChunkBytes, "..", kMaxChunkBytes));
  }
  const std::size_t key_id_len = GetU(bytes, kKeyIdLenAt, 2);
  if (key_id_len == 0 || key_id_len > kMaxKeyIdBytes) {
    return absl::DataLossError(
        absl::StrCat("bad sealed-file header: key id length ", key_id_len, " outside 1..255"));
  }
  const std::size_t total = SealedHeaderBytes(key_id_len);
  if (bytes.size() < total) return incomplete(total);
  SealedHeader h;
  h.version = version;
  h.chunk_bytes = chunk_bytes;
  h.file_id = std::string(bytes.substr(kFileIdAt, kSealedFileIdBytes));
  h.key_id = std::string(bytes.substr(kFixedBytes, key_id_len));
  if (!PrintableKeyId(h.key_id)) {
    return absl::DataLossError("bad sealed-file header: the key id is not printable ASCII");
  }
  h.ephemeral_public_key = std::string(bytes.substr(kFixedBytes + key_id_len, kX25519KeyBytes));
  h.wrapped_dek =
      std::string(bytes.substr(kFixedBytes + key_id_len + kX25519KeyBytes, kWrappedDekBytes));
  h.raw = std::string(bytes.substr(0, total));
  return h;
}

absl::StatusOr<SealedHeader> ReadSealedHeader(int fd) {
  std::string buf(kFixedBytes, '\0');
  auto* p = reinterpret_cast<unsigned char*>(buf.data());
  absl::StatusOr<std::size_t> got = ReadUpTo(fd, p, kFixedBytes);
  if (!got.ok()) return got.status();
  if (*got == 0) return absl::DataLossError("not a SafeFlow sealed file (empty input)");
  buf.resize(*got);
  absl::StatusOr<SealedHeader> h = ParseSealedHeader(buf);
  if (absl::IsNotFound(h.status()) && *got == kFixedBytes) {
    const std::size_t total = SealedHeaderBytes(GetU(buf, kKeyIdLenAt, 2));
    buf.resize(total);
    p = reinterpret_cast<unsigned char*>(buf.data());
    got = ReadUpTo(fd, p + kFixedBytes, total - kFixedBytes);
    if (!got.ok()) return got.status();
    buf.resize(kFixedBytes + *got);
    h = ParseSealedHeader(buf);
  }
  if (absl::IsNotFound(h.status())) {
    return absl::DataLossError(
        absl::StrCat("truncated sealed-file header: the input ends after ", buf.size(), " bytes"));
  }
  return h;
}

absl::StatusOr<SealStats> SealStream(int in_fd, int out_fd, std::string_view key_id,
                                     std::string_view dataset_public_key,
                                     std::uint32_t chunk_bytes) {
  absl::StatusOr<NewHeader> h = MakeHeader(key_id, dataset_public_key, chunk_bytes);
  if (!h.ok()) return h.status();
  return SealChunks(in_fd, out_fd, h->raw, h->dek, chunk_bytes);
}

namespace {
PlaintextSink FdSink(int out_fd) {
  return [out_fd](std::string_view bytes) { return WriteAll(out_fd, bytes); };
}
}  // namespace

absl::StatusOr<SealStats> UnsealStream(int in_fd, const SealedHeader& header,
                                       const SecretBytes& dataset_private_key, int out_fd) {
  return UnsealStream(in_fd, header, dataset_private_key, FdSink(out_fd));
}

absl::StatusOr<SealStats> UnsealStream(int in_fd, const SealedHeader& header,
                                       const SecretBytes& dataset_private_key,
                                       const PlaintextSink& sink) {
  // Trust only the raw bytes (they are what the chunks authenticate), not the parsed fields.
  absl::StatusOr<SealedHeader> h = ParseSealedHeader(header.raw);
  if (absl::IsNotFound(h.status()) || (h.ok() && h->raw.size() != header.raw.size())) {
    return absl::InvalidArgumentError("unseal: header.raw is not exactly one sealed-file header");
  }
  if (!h.ok()) return h.status();
  absl::StatusOr<SecretBytes> dek = UnwrapDek(*h, dataset_private_key);
  if (!dek.ok()) return dek.status();
  return UnsealChunks(in_fd, *h, *dek, sink);
}

absl::StatusOr<SealStats> SealFile(const std::string& in_path, const std::string& out_path,
                                   std::string_view key_id, std::string_view dataset_public_key,
                                   std::uint32_t chunk_bytes) {
  return SealFile(in_path, out_path, key_id, dataset_public_key, chunk_bytes, 0600);
}

absl::StatusOr<SealStats> SealFile(const std::string& in_path, const std::string& out_path,
                                   std::string_view key_id, std::string_view dataset_public_key,
                                   std::uint32_t chunk_bytes, mode_t mode) {
  const std::string prefix = "seal " + in_path;
  absl::StatusOr<NewHeader> h = MakeHeader(key_id, dataset_public_key, chunk_bytes);
  if (!h.ok()) return Prefixed(prefix, h.status());
  absl::StatusOr<UniqueFd> in = OpenInput(in_path);
  if (!in.ok()) return in.status();
  absl::StatusOr<SealStats> stats = WithOutput(out_path, mode, [&](int out_fd) {
    return SealChunks(in->get(), out_fd, h->raw, h->dek, chunk_bytes);
  });
  if (!stats.ok()) return Prefixed(prefix, stats.status());
  return stats;
}

absl::StatusOr<SealStats> UnsealFile(const std::string& in_path, const std::string& out_path,
                                     const SecretBytes& dataset_private_key) {
  return UnsealFile(in_path, out_path, dataset_private_key, 0600);
}

absl::StatusOr<SealStats> UnsealFile(const std::string& in_path, const std::string& out_path,
                                     const SecretBytes& dataset_private_key, mode_t mode) {
  const std::string prefix = "unseal " + in_path;
  absl::StatusOr<UniqueFd> in = OpenInput(in_path);
  if (!in.ok()) return in.status();
  absl::StatusOr<SealedHeader> h = ReadSealedHeader(in->get());
  if (!h.ok()) return Prefixed(prefix, h.status());
  absl::StatusOr<SecretBytes> dek = UnwrapDek(*h, dataset_private_key);
  if (!dek.ok()) return Prefixed(prefix, dek.status());
  absl::StatusOr<SealStats> stats = WithOutput(out_path, mode, [&](int out_fd) {
    return UnsealChunks(in->get(), *h, *dek, FdSink(out_fd));
  });
  if (!stats.ok()) return Prefixed(prefix, stats.status());
  return stats;
}

}  // namespace safeflow::executor::crypto
