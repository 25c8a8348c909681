// executor/slurm/slurm_backend.h. Runs TES task attempts as SLURM batch jobs (Funnel's shape:
// the per-scheduler part is executor/slurm/slurm.h: commands, job-id parser, state table,
// script template; this file is the tracking around it).
//   Submit: the attempt's job directory <shared_dir>/<task>.<attempt> gets job.json (0600: the
//     NodeJob of executor/hpc/node_job.h, with a relay token valid for this attempt only) and
//     job.sh (exec safeflow-node run --job job.json); `sbatch --parsable` with --job-name
//     sf-<task>-<attempt>, --cpus-per-task, --mem in MiB (never 0), --time, --partition,
//     --account, --qos. The job id goes to the sink (stored with the task) before anything else.
//   Track: one poll thread. Each round makes one batched `squeue` call for every tracked job,
//     reads each job's events file (RUNNING, progress, the result safeflow-node wrote), asks
//     `scontrol show job` for the detail of a job that ended without a result, and reads the
//     jobcomp/filetxt file for jobs squeue has forgotten (MinJobAge). Every SLURM state maps to
//     a TES state; the reason goes to system_logs.
//   Every command has a timeout. When slurmctld does not answer, tasks stay as they are, the
//     backend reports itself degraded (Health) and keeps polling; results the nodes write are
//     still picked up, and submissions wait until slurmctld answers.
//   Cancel: `scancel` from the poll thread, retried until SLURM confirms.
//   Durable: Shutdown leaves jobs running; a later safeflowd adopts them by job id (Adopt), or
//     by job name when the id was never recorded. An attempt is never submitted twice: before
//     submitting, the backend looks the job name up in SLURM, and safeflow-node refuses an
//     attempt whose claim file exists.
// Thread-safe.
#ifndef SAFEFLOW_EXECUTOR_SLURM_SLURM_BACKEND_H_
#define SAFEFLOW_EXECUTOR_SLURM_SLURM_BACKEND_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "executor/attestation/authority.h"
#include "executor/backend.h"
#include "executor/env.h"
#include "executor/transfer/transfer.h"

namespace safeflow::executor {

struct SlurmBackendConfig {
  // SLURM client commands: bin_dir/sbatch etc.; empty bin_dir: looked up in PATH.
  std::string bin_dir;
  std::vector<std::string> command_env;  // e.g. "SLURM_CONF=/etc/slurm/slurm.conf"
  Env* env = nullptr;                    // runs the commands; null: DefaultEnv()
  std::chrono::milliseconds command_timeout{15000};
  std::chrono::milliseconds poll_interval{1000};
  // Job directories live here; it must be the same path on the nodes (a shared filesystem).
  std::string shared_dir;
  // Node-local scratch for the attempt's staging and sandbox, on the node.
  std::string scratch_dir;
  std::string node_program;  // safeflow-node, as the nodes see it
  std::string jobcomp_file;  // the jobcomp/filetxt log (JobCompLoc) if readable here, else empty
  // Defaults for every job; tasks may override those named in allowed_parameters.
  std::string partition, account, qos;
  int default_time_minutes = 60;
  int max_time_minutes = 1440;
  // A job SLURM has no record of (neither squeue nor jobcomp) is failed after this long.
  std::chrono::seconds lost_after{120};

  // How the node runs the attempt (the same settings as the local backend).
  std::string worker_path;
  std::string run_as_user;
  std::map<std::string, std::string> images;
  double default_disk_gb = 2;
  double default_ram_gb = 4;
  std::uint64_t log_tail_bytes = 64 * 1024;
  bool keep_task_dirs = false;
  transfer::TransferConfig transfer;
  std::vector<std::string> worker_env;  // passed to the worker (e.g. sanitizer options)
  std::vector<std::string> job_env;     // exported by the job script (e.g. sanitizer options)

  // Enclave mode: relay tokens and output keys come from `authority` (in process).
  attestation::Authority* authority = nullptr;  // null: no enclave mode
  std::string platform_key_file;                // the nodes' platform key
  bool debug_workers = false;
  bool seal_outputs = true;
  int attest_timeout_seconds = 60;
  // safeflowd as the nodes reach it, asked when a job is prepared (the listening port may be
  // known only once the server runs).
  std::function<std::string()> relay_url;
  std::string relay_ca_bundle;
  int relay_timeout_seconds = 30;
};

// The backend_parameters a task may set for this backend (besides "backend").
inline const std::set<std::string>& SlurmTaskParameters() {
  static const std::set<std::string> kParams = {"partition", "account", "qos", "time_minutes"};
  return kParams;
}

[[nodiscard]] absl::StatusOr<std::unique_ptr<Backend>> NewSlurmBackend(SlurmBackendConfig config);

}  // namespace safeflow::executor

#endif  // SAFEFLOW_EXECUTOR_SLURM_SLURM_BACKEND_H_
