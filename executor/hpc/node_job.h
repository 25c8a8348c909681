// executor/hpc/node_job.h. The contract between a batch backend (executor/slurm/) and
// safeflow-node, the host agent a batch job runs on a compute node:
//   - NodeJob: everything the node needs to run one attempt, written by the backend as
//     <job dir>/job.json (mode 0600, the job directory 0700) on a filesystem the nodes share;
//   - the events file <job dir>/events.jsonl: safeflow-node appends one JSON object per line
//     (started, running, progress, finished) and the backend reads them as it polls. A line is
//     written with a single write(2) on an O_APPEND descriptor, so a reader sees whole lines or
//     an unterminated tail it leaves for later; "finished" is fsync'ed.
// The node runs the attempt with executor/local/attempt_runner.h: the same staging, sandbox,
// measured worker and attestation as the local backend, with the verifier and key broker
// reached over HTTP (executor/attestation/http_authority.h) using a relay token that is valid
// for this attempt only. Pure code (no I/O but the events file helpers).
#ifndef SAFEFLOW_EXECUTOR_HPC_NODE_JOB_H_
#define SAFEFLOW_EXECUTOR_HPC_NODE_JOB_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "executor/backend.h"
#include "executor/transfer/transfer.h"
#include "schemas/tes/task.h"

namespace safeflow::executor::hpc {

inline constexpr int kNodeJobVersion = 1;

struct NodeRelay {
  std::string base_url;     // safeflowd as the node reaches it, e.g. "https://tre.example:8443"
  std::string relay_token;  // bearer credential for this attempt's relay calls
  std::string ca_bundle;    // CA file for an https base_url; empty: the system store
  int timeout_seconds = 30;
  std::string output_key_id;      // the project's outputs key (empty: outputs stay plain)
  std::string output_public_key;  // raw 32 bytes
};

struct NodeJob {
  int version = kNodeJobVersion;
  TaskAttempt attempt;  // task_id, attempt, project, backend, task
  // Node-local scratch under which the attempt's directory is made (staging, sandbox binds).
  std::string scratch_dir;
  std::string events_path;  // <job dir>/events.jsonl
  std::string claim_path;   // <job dir>/claimed: created O_EXCL, so an attempt never runs twice

  // How to run the attempt (LocalBackendConfig on the node).
  std::string worker_path;
  std::string run_as_user;  // the sandbox user, looked up on the node; empty: none
  std::map<std::string, std::string> images;  // approved image name -> environment root
  int max_task_seconds = 86400;
  double default_disk_gb = 2;
  double default_ram_gb = 4;
  std::uint64_t log_tail_bytes = 64 * 1024;
  bool keep_task_dirs = false;
  transfer::TransferConfig transfer;
  std::vector<std::string> extra_env;

  // Enclave mode: the node quotes with its platform key and relays to safeflowd.
  bool enclave = false;
  std::string platform_key_file;
  bool debug_workers = false;
  bool seal_outputs = true;
  int attest_timeout_seconds = 60;
  NodeRelay relay;
};

// JSON text of `job` (secrets included: the file must be private).
std::string SerializeNodeJob(const NodeJob& job);
// InvalidArgument naming the first bad field; FailedPrecondition for another version.
[[nodiscard]] absl::StatusOr<NodeJob> ParseNodeJob(std::string_view text);

// --- events -------------------------------------------------------------------------------
struct NodeStarted {
  std::string host;
  long pid = 0;
};
struct NodeRunning {};
struct NodeProgress {
  schemas::tes::TaskLog log;
};
struct NodeFinished {
  schemas::tes::State state = schemas::tes::State::kSystemError;
  schemas::tes::TaskLog log;
};
using NodeEvent = std::variant<NodeStarted, NodeRunning, NodeProgress, NodeFinished>;

// One line, without the newline.
std::string NodeEventToLine(const NodeEvent& event);
[[nodiscard]] absl::StatusOr<NodeEvent> ParseNodeEventLine(std::string_view line);

// Appends one event line to `path` (created 0600). fsyncs when `sync`.
[[nodiscard]] absl::Status AppendNodeEvent(const std::string& path, const NodeEvent& event,
                                           bool sync);

// Reads the complete lines of `path` after byte `offset` and advances `offset` past them (an
// unterminated tail is left for the next call). A missing file is no events. Malformed lines
// are skipped and counted in `bad_lines`. Reads at most max_bytes per call.
[[nodiscard]] absl::StatusOr<std::vector<NodeEvent>> ReadNodeEvents(
    const std::string& path, std::uint64_t& offset, int& bad_lines,
    std::uint64_t max_bytes = 64u << 20);

}  // namespace safeflow::executor::hpc

#endif  // SAFEFLOW_EXECUTOR_HPC_NODE_JOB_H_
