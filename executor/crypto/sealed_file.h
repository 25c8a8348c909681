// executor/crypto/sealed_file.h. The SafeFlow sealed-file format (version 1, specified byte by
// byte in executor/crypto/README.md): a file encrypted at rest for one dataset key, streamed
// fd to fd in chunks so that memory use is bounded by one chunk, and so that a reader never
// sees a byte that did not authenticate.
//
//   header: magic "\x89SFSEAL\n" | version 1 | suite 1 | chunk_bytes u32 | file_id 16 |
//           key_id_len u16 | key_id | ephemeral public key 32 | wrapped data key 48
//   chunks: AES-256-GCM(data key, iv = 0^4 || u64 index,
//                       aad = SHA-256(header) || u64 index || u8 final) || tag 16
//
// Every file has a fresh random 32-byte data key (DEK), wrapped to the dataset's X25519 public
// key with WrapToPublicKey(info = "sealed-file-dek", aad = the header bytes before the
// ephemeral key). Chunk indices and the final flag are authenticated, so reordering,
// duplicating, dropping or appending chunks, and truncation, are detected.
//
// Unsealing writes a chunk's plaintext only after that chunk authenticated, but a stream that
// fails part way has written the chunks before the failure: on any error the partial output is
// the caller's to discard (UnsealFile removes its own output file). All I/O retries short
// reads and writes and EINTR, waits on EAGAIN, and never seeks, so pipes and sockets work.
// Errors: DataLoss for anything wrong with a sealed file (with a message naming the problem),
// InvalidArgument for bad arguments, Internal/ResourceExhausted for I/O failures.
// Functions are thread-safe (they share no state).
#ifndef SAFEFLOW_EXECUTOR_CRYPTO_SEALED_FILE_H_
#define SAFEFLOW_EXECUTOR_CRYPTO_SEALED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "absl/status/statusor.h"

#include "executor/crypto/secure_memory.h"

namespace safeflow::executor::crypto {

inline constexpr std::uint32_t kDefaultChunkBytes = 1u << 20;
inline constexpr std::uint32_t kMinChunkBytes = 4096;
inline constexpr std::uint32_t kMaxChunkBytes = 16u << 20;
inline constexpr std::string_view kSealedMagic = "\x89SFSEAL\n";
inline constexpr int kSealedVersion = 1;
inline constexpr int kSealedSuite = 1;  // X25519-HKDF-SHA256 key wrap, AES-256-GCM chunks
inline constexpr std::size_t kSealedFileIdBytes = 16;
inline constexpr std::size_t kMaxKeyIdBytes = 255;
inline constexpr std::size_t kWrappedDekBytes = 48;  // 32-byte DEK + 16-byte tag
inline constexpr std::string_view kSealedDekInfo = "sealed-file-dek";

// Whether `first_bytes` starts with the 8-byte magic.
bool LooksSealed(std::string_view first_bytes);

struct SealedHeader {
  int version = 0;
  std::uint32_t chunk_bytes = 0;
  std::string file_id;               // 16 raw bytes
  std::string key_id;                // printable ASCII, 1..255 bytes
  std::string ephemeral_public_key;  // 32 raw bytes
  std::string wrapped_dek;           // 48 raw bytes
  std::string raw;                   // the exact header bytes
};

// Bytes in a header whose key id has `key_id_bytes` bytes (112 + key_id_bytes).
std::size_t SealedHeaderBytes(std::size_t key_id_bytes);
// Bytes in a sealed file of `plaintext_bytes` (header + plaintext + 16 per chunk).
std::uint64_t SealedFileBytes(std::uint64_t plaintext_bytes, std::uint32_t chunk_bytes,
                              std::size_t key_id_bytes);

// Parses the header at the start of `bytes`, which may be longer than the header. NotFound
// when `bytes` is a consistent but incomplete prefix of a header (read more and retry);
// DataLoss when it is not a header: "not a SafeFlow sealed file", "unsupported sealed-file
// version/suite", "bad sealed-file header: ...".
[[nodiscard]] absl::StatusOr<SealedHeader> ParseSealedHeader(std::string_view bytes);
// Reads exactly the header from `fd`'s current position, leaving the fd just after it. As
// ParseSealedHeader, but EOF inside the header is DataLoss ("truncated sealed-file header").
[[nodiscard]] absl::StatusOr<SealedHeader> ReadSealedHeader(int fd);

struct SealStats {
  std::uint64_t plaintext_bytes = 0;
  std::uint64_t sealed_bytes = 0;  // header included
  std::uint64_t chunks = 0;
};

// Seals everything `in_fd` yields until EOF to `out_fd` for `dataset_public_key` (32 raw X25519
// bytes), recording `key_id` (printable ASCII, 1..255 bytes) in the header. InvalidArgument for
// a bad key id, public key or chunk size (kMinChunkBytes..kMaxChunkBytes).
[[nodiscard]] absl::StatusOr<SealStats> SealStream(int in_fd, int out_fd, std::string_view key_id,
                                                   std::string_view dataset_public_key,
                                                   std::uint32_t chunk_bytes = kDefaultChunkBytes);

// Unseals the chunks that follow `header` (from ReadSealedHeader) on `in_fd` to `out_fd`.
// dataset_private_key: 32 raw X25519 bytes (InvalidArgument otherwise). DataLoss:
//   "the data key could not be unwrapped with key <key_id>: wrong key or tampered header"
//   "chunk N failed authentication: the file was tampered with or its chunks reordered"
//   "truncated: no final chunk after N chunks", "truncated: chunk N holds K bytes, ..."
//   "trailing bytes after the final chunk (chunk N)"
// Trailing bytes after a final chunk shorter than chunk_bytes cannot be told apart from a
// modified last chunk (the format has no length field) and are reported as the failed
// authentication of that chunk.
[[nodiscard]] absl::StatusOr<SealStats> UnsealStream(int in_fd, const SealedHeader& header,
                                                     const SecretBytes& dataset_private_key,
                                                     int out_fd);
// Receives each chunk's plaintext, in order, once it has authenticated; an error stops the
// unsealing and is returned as is. The view is valid only during the call.
using PlaintextSink = std::function<absl::Status(std::string_view)>;
// As above, but hands each authenticated chunk to `sink` instead of writing it to an fd: for
// readers that hash or send the plaintext without holding all of it (memory: one chunk).
[[nodiscard]] absl::StatusOr<SealStats> UnsealStream(int in_fd, const SealedHeader& header,
                                                     const SecretBytes& dataset_private_key,
                                                     const PlaintextSink& sink);

// Path conveniences. The output is created with O_CREAT|O_EXCL|O_NOFOLLOW (AlreadyExists when
// it exists, symlinks included), mode 0600 or `mode` (subject to the umask), and removed
// again on any failure. UnsealFile checks the header and the key before creating the output.
// Neither fsyncs. Messages start with the input path.
[[nodiscard]] absl::StatusOr<SealStats> SealFile(const std::string& in_path,
                                                 const std::string& out_path,
                                                 std::string_view key_id,
                                                 std::string_view dataset_public_key,
                                                 std::uint32_t chunk_bytes = kDefaultChunkBytes);
[[nodiscard]] absl::StatusOr<SealStats> SealFile(const std::string& in_path,
                                                 const std::string& out_path,
                                                 std::string_view key_id,
                                                 std::string_view dataset_public_key,
                                                 std::uint32_t chunk_bytes, mode_t mode);
[[nodiscard]] absl::StatusOr<SealStats> UnsealFile(const std::string& in_path,
                                                   const std::string& out_path,
                                                   const SecretBytes& dataset_private_key);
[[nodiscard]] absl::StatusOr<SealStats> UnsealFile(const std::string& in_path,
                                                   const std::string& out_path,
                                                   const SecretBytes& dataset_private_key,
                                                   mode_t mode);

}  // namespace safeflow::executor::crypto

#endif  // SAFEFLOW_EXECUTOR_CRYPTO_SEALED_FILE_H_
