// executor/local/local_backend.h. Runs TES task attempts on this host, each on its own thread
// and in its own bubblewrap sandbox running safeflow-worker; what one attempt goes through is
// in executor/local/attempt_runner.h.
// Enclave mode (enclave.platform and enclave.authority set): the worker binary is loaded into
// a sealed memfd, measured (mr_enclave = image + sandbox policy, executor/attestation/) and
// executed from that memfd; the worker attests through this backend, which relays its
// evidence to the Authority and quotes with the Platform, and gets its dataset keys wrapped
// to its own ephemeral key. Sealed inputs are staged as ciphertext and decrypted by the worker
// on the sandbox's tmpfs; outputs are sealed by the worker to the project's outputs key.
// Thread-safe.
#ifndef SAFEFLOW_EXECUTOR_LOCAL_LOCAL_BACKEND_H_
#define SAFEFLOW_EXECUTOR_LOCAL_LOCAL_BACKEND_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "executor/attestation/authority.h"
#include "executor/attestation/platform.h"
#include "executor/backend.h"
#include "executor/env.h"
#include "executor/sandbox/sandbox.h"
#include "executor/transfer/transfer.h"

namespace safeflow::executor {

struct LocalEnclaveConfig {
  attestation::Platform* platform = nullptr;    // null: no enclave mode
  attestation::Authority* authority = nullptr;  // verifier + key broker (outlives the backend)
  bool debug_workers = false;                   // launch workers in debug mode
  bool seal_outputs = true;                     // seal outputs to the project's outputs key
  int attest_timeout_seconds = 60;
};

struct LocalBackendConfig {
  std::string work_dir;                       // task directories live here
  std::string worker_path;                    // host path of safeflow-worker
  std::optional<UserIds> run_as;              // the sandbox user (required when we are root)
  std::map<std::string, std::string> images;  // approved image name -> environment root
  int max_task_seconds = 86400;
  double default_disk_gb = 2;
  double default_ram_gb = 4;
  std::uint64_t log_tail_bytes = 64 * 1024;
  bool keep_task_dirs = false;
  transfer::TransferConfig transfer;
  std::vector<std::string> extra_env;  // passed to the worker (e.g. sanitizer options)
  LocalEnclaveConfig enclave;
};

[[nodiscard]] absl::StatusOr<std::unique_ptr<Backend>> NewLocalBackend(LocalBackendConfig config);

// The sandbox policy of every task in environment `env_root`, before per-task binds and limits.
SandboxPolicy BaseSandboxPolicy(const LocalBackendConfig& config, const std::string& env_root);

// The mr_enclave values of this backend's worker: one per configured environment root (the
// reference values the verifier allows).
[[nodiscard]] absl::StatusOr<std::vector<std::string>> LocalWorkerMeasurements(
    const LocalBackendConfig& config);

// The top-level directories (e.g. "/work", "/outputs") under which a task reads or writes, so
// that each gets a sized tmpfs in the sandbox. "/tmp" is left out (it always has one).
std::vector<std::string> TaskWritableDirs(const schemas::tes::Task& task);

}  // namespace safeflow::executor

#endif  // SAFEFLOW_EXECUTOR_LOCAL_LOCAL_BACKEND_H_
