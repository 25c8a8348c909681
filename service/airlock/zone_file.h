// service/airlock/zone_file.h. Reading an output inside the secure zone as a stream: a sealed
// file is unsealed chunk by chunk with its project's outputs key, each chunk handed on only
// after it authenticated, so any size is read with one chunk in memory and the plaintext never
// touches a disk. What the airlock's check and its downloads share.
#ifndef SAFEFLOW_SERVICE_AIRLOCK_ZONE_FILE_H_
#define SAFEFLOW_SERVICE_AIRLOCK_ZONE_FILE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

#include "executor/crypto/sealed_file.h"
#include "executor/crypto/secure_memory.h"
#include "executor/sandbox/unique_fd.h"

namespace safeflow::service {

// The private key of a sealed output's key id, for `project` (EnclaveAuthority).
using OutputKeyLookup = std::function<absl::StatusOr<executor::crypto::SecretBytes>(
    const std::string& key_id, const std::string& project)>;

// The SHA-256 (lowercase hex) and size of a zone file's plaintext.
struct ZoneDigest {
  std::string sha256;
  std::uint64_t size_bytes = 0;
};

// A file in the zone, open for reading as a stream. Every read starts from the beginning of
// the same open file, so what was hashed is what is sent. One thread at a time.
class ZoneFile {
 public:
  // Hands the plaintext, from the start, to `sink` in pieces (a sealed chunk, or 64 KiB), each
  // only after it authenticated; the bytes handed. DataLoss when a sealed file does not
  // authenticate; a sink error stops the read and is returned.
  [[nodiscard]] absl::StatusOr<std::uint64_t> Read(const executor::crypto::PlaintextSink& sink);
  // The plaintext's digest, read through once.
  [[nodiscard]] absl::StatusOr<ZoneDigest> Digest();
  // Hands the plaintext to `sink` only as far as it is `expect`: each piece once the next has
  // authenticated, the last only once the whole file hashed to expect.sha256 with
  // expect.size_bytes bytes. DataLoss otherwise (the file changed since it was hashed): the
  // sink has then seen a strict prefix, never a complete wrong file.
  // With `first` and `count`, only those bytes of the plaintext reach `sink` (a byte range of
  // a download), under the same guarantee: the last of them only once the whole file matched.
  // InvalidArgument when the range is not inside expect.size_bytes.
  [[nodiscard]] absl::Status ReadVerified(const ZoneDigest& expect,
                                          const executor::crypto::PlaintextSink& sink,
                                          std::uint64_t first = 0,
                                          std::uint64_t count = UINT64_MAX);

  bool sealed() const { return header_.has_value(); }
  std::uint64_t disk_bytes() const { return disk_bytes_; }

 private:
  friend absl::StatusOr<ZoneFile> OpenZoneFile(const std::string&, const std::string&,
                                               const OutputKeyLookup&);
  ZoneFile() = default;
  executor::UniqueFd fd_;
  std::optional<executor::crypto::SealedHeader> header_;  // set when sealed
  executor::crypto::SecretBytes key_;                     // the outputs key, when sealed
  std::uint64_t disk_bytes_ = 0;
  std::string path_;
};

// Opens the file at `location` (a file:// URL; a regular file, never through a symlink),
// fetching `project`'s outputs key with `key_for` when it is sealed. NotFound when missing;
// DataLoss for a damaged sealed header; FailedPrecondition for a sealed file without
// `key_for`; the key broker's error when it refuses the key; Unimplemented for other schemes.
[[nodiscard]] absl::StatusOr<ZoneFile> OpenZoneFile(const std::string& location,
                                                    const std::string& project,
                                                    const OutputKeyLookup& key_for);

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_AIRLOCK_ZONE_FILE_H_
