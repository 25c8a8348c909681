// executor/attestation/platform.h. The emulated TEE platform, SafeFlow's stand-in for the
// hardware root of SGX/TDX: an ECDSA P-256 key that only the host-side quoting code holds (it
// never enters a sandbox) and that signs quotes (quote.h) over what the host measured
// (measurement.h). A real TEE replaces this module; nothing outside executor/attestation/
// knows that the platform is emulated.
//
// The key lives in a PKCS#8 PEM file, owned by us and readable by nobody else. Thread-safe.
#ifndef SAFEFLOW_EXECUTOR_ATTESTATION_PLATFORM_H_
#define SAFEFLOW_EXECUTOR_ATTESTATION_PLATFORM_H_

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

#include "executor/attestation/quote.h"

namespace safeflow::executor::attestation {

class Platform {
 public:
  // Loads the PKCS#8 PEM private key at `key_path` (opened O_NOFOLLOW; an EC P-256 key), or
  // creates one when the file is missing: the missing parent directories are created with mode
  // 0700, the key is written to a temporary file (mode 0600) in the same directory, synced,
  // and linked into place without replacing a file that appeared meanwhile (then that one is
  // loaded). FailedPrecondition for a key file that is not a regular file, not owned by our
  // effective uid, or readable/writable by group or others; InvalidArgument for a file that
  // holds no P-256 private key; Internal for other failures.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Platform>> LoadOrCreate(
      const std::string& key_path);

  ~Platform();
  Platform(const Platform&) = delete;
  Platform& operator=(const Platform&) = delete;

  // Hex SHA-256 of the DER SubjectPublicKeyInfo of the platform key.
  const std::string& platform_id() const { return platform_id_; }
  // PEM SubjectPublicKeyInfo: what verifiers trust (QuoteVerifier::Create).
  const std::string& public_key_pem() const { return public_key_pem_; }

  // A quote (the envelope text) over `enclave` and `report_data_hex`, timed now.
  // InvalidArgument unless report_data_hex, enclave.mr_enclave and enclave.config_id are 64
  // lowercase hex, security_version and attempt are >= 0 and task_id is valid UTF-8.
  [[nodiscard]] absl::StatusOr<std::string> Quote(const EnclaveIdentity& enclave,
                                                  std::string_view report_data_hex) const;
  // The same with the given time (whole seconds, UTC).
  [[nodiscard]] absl::StatusOr<std::string> QuoteAt(
      const EnclaveIdentity& enclave, std::string_view report_data_hex,
      std::chrono::system_clock::time_point now) const;

  // Signs `body_json` as it is, without any check, into a quote envelope naming this
  // platform: for tests of the verifier's handling of malformed but signed bodies.
  [[nodiscard]] absl::StatusOr<std::string> SignBodyForTest(std::string_view body_json) const;

 private:
  struct Key;  // the OpenSSL key, kept out of this header
  Platform(std::unique_ptr<Key> key, std::string platform_id, std::string public_key_pem);
  [[nodiscard]] absl::StatusOr<std::string> Sign(std::string_view body_json) const;

  const std::unique_ptr<Key> key_;
  const std::string platform_id_;
  const std::string public_key_pem_;
  // Serialises signing with the one EVP_PKEY (cheap; avoids relying on OpenSSL's rules for
  // sharing a key object between threads).
  mutable std::mutex mu_;
};

}  // namespace safeflow::executor::attestation

#endif  // SAFEFLOW_EXECUTOR_ATTESTATION_PLATFORM_H_
