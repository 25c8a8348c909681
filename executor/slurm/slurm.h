// executor/slurm/slurm.h. The pure part of the SLURM backend, in Funnel's shape: the argv of
// each command (sbatch, squeue, scontrol, scancel), parsers for their output and for the
// jobcomp/filetxt log, the table of SLURM job states with the TES state each one means, and
// the batch script template. No I/O here: the backend runs the argv through Env (executor/env.h)
// and hands the output to the parsers. Every function is pure and safe to call from any thread.
//
// Formats are those of SLURM 22.05 (Debian 12); real outputs, and what they show (states
// reached, exit codes, the behaviour with unknown ids and with slurmctld down), are in
// tests/unit/slurm/testdata/. Nothing here asserts on scheduler output: what cannot be parsed
// is an InvalidArgument quoting a bounded prefix of it.
#ifndef SAFEFLOW_EXECUTOR_SLURM_SLURM_H_
#define SAFEFLOW_EXECUTOR_SLURM_SLURM_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

#include "schemas/tes/task.h"

namespace safeflow::executor::slurm {

// ---------------------------------------------------------------------------------------------
// Job states

// Where a job is in its life, independent of how it ended.
enum class Phase { kQueued, kRunning, kSuspended, kEnded };

struct StateInfo {
  std::string_view name;     // SLURM's name, upper case: "TIMEOUT"
  Phase phase;               // kEnded for every final state
  schemas::tes::State tes;   // the TES state this SLURM state means
  std::string_view meaning;  // one sentence for users: "the job reached its time limit (--time)"
};

// Every SLURM job state (the base states and the flag-only states squeue can print), in a
// fixed order. The TES mapping:
//   PENDING CONFIGURING REQUEUED REQUEUE_HOLD REQUEUE_FED RESV_DEL_HOLD    INITIALIZING  kQueued
//   RUNNING COMPLETING RESIZING SIGNALING STAGE_OUT                       RUNNING       kRunning
//   SUSPENDED STOPPED                                                     PAUSED        kSuspended
//   COMPLETED                                                             COMPLETE      kEnded
//   FAILED SPECIAL_EXIT                                                   EXECUTOR_ERROR
//   TIMEOUT OUT_OF_MEMORY DEADLINE (the task exceeded what it asked for)  EXECUTOR_ERROR
//   NODE_FAIL BOOT_FAIL REVOKED                                           SYSTEM_ERROR
//   PREEMPTED                                                             PREEMPTED
//   CANCELLED (outside SafeFlow: a TES cancel is recorded before scancel) SYSTEM_ERROR
const std::vector<StateInfo>& StateTable();

// The table entry for `state`, tolerating what the tools print around the name: "CANCELLED by
// 0" (scontrol, squeue), "CANCELLED+" (sacct), lower case, surrounding white space. nullptr
// for an unknown state.
const StateInfo* LookupState(std::string_view state);

// ---------------------------------------------------------------------------------------------
// sbatch

struct SubmitOptions {
  std::string job_name;       // required, [A-Za-z0-9._-]{1,128}
  std::string script_path;    // required, absolute
  std::string work_dir;       // --chdir, absolute, required
  std::string output_path;    // --output (stdout and stderr of the script), absolute, required,
                              // without '%' or '\' (sbatch expands "%j"-style patterns there)
  int cpus_per_task = 1;      // >= 1
  std::uint64_t mem_mib = 0;  // >= 1: SLURM reads --mem=0 as "the whole node", so 0 is refused
  int time_minutes = 0;       // >= 1
  std::string partition, account, qos;  // optional; [A-Za-z0-9._-]{1,64} when set
};

// {sbatch, "--parsable", "--job-name=N", "--cpus-per-task=C", "--mem=<M>M", "--time=<T>",
//  "--chdir=D", "--output=O", "--no-requeue", ["--partition=P"], ["--account=A"],
//  ["--qos=Q"], script}. The account is always "--account=" (never "-a", which is --array).
// InvalidArgument naming the first bad field ("job_name: ...") otherwise. Paths must be
// absolute, at most 4096 bytes, without control characters.
[[nodiscard]] absl::StatusOr<std::vector<std::string>> SbatchArgv(const std::string& sbatch,
                                                                  const SubmitOptions& o);

// The job id from `sbatch --parsable` stdout: "1234\n" or "1234;cluster\n" -> "1234"
// (surrounding white space is ignored). Anything else (empty, text, an array id "1234_1", an
// error message, several lines, an id outside 1..4294967295) is InvalidArgument quoting at
// most 200 bytes of it.
[[nodiscard]] absl::StatusOr<std::string> ParseJobId(std::string_view sbatch_stdout);

// TES ram_gb (GB taken as GiB, as Funnel does) in MiB for --mem: ceil(ram_gb * 1024), at least
// 1. A value <= 0, NaN or infinite gives 1 (the task asked for nothing usable; the scheduler's
// DefMemPerCPU does not apply because --mem is always given). Values above 2^40 MiB (1 EiB)
// give 2^40.
std::uint64_t MemMiB(double ram_gb);

// ---------------------------------------------------------------------------------------------
// squeue, scontrol, jobcomp

struct JobInfo {
  std::string job_id;                // "42" ("42_3" for an array task)
  std::string name;                  // the job name
  std::string state;                 // the table's name ("CANCELLED"); as printed if unknown
  std::string reason;                // "None", "Resources", "NonZeroExitCode"; empty if absent
  std::optional<int> exit_code;      // ExitCode=a:b -> a (scontrol, jobcomp)
  std::optional<int> signal;         // b, when non-zero (15 cancelled or timed out, 9 killed
                                     // for memory; jobcomp writes 0:0 for the first two)
  std::string nodes;                 // NodeList as printed: "" while pending (squeue,
                                     // scontrol), "(null)" in jobcomp for a job never started
  std::string time_limit, run_time;  // raw strings when present ("00:01:00", "UNLIMITED")
};

// The squeue output format: job id, state (long form), reason, name, node list.
inline constexpr std::string_view kSqueueFormat = "%i|%T|%r|%j|%N";

// {squeue, "--noheader", "--states=all", "--jobs=ID1,ID2", "--format=%i|%T|%r|%j|%N"}.
// slurmctld forgets a job MinJobAge (default 300 s) after it ends; then only the jobcomp log
// has it. With one id that slurmctld does not know, squeue prints "slurm_load_jobs error:
// Invalid job id specified" on stderr and exits 1 (IsInvalidJobIdMessage); with several ids it
// prints the known ones (sorted by state, not in --jobs order) and exits 0.
std::vector<std::string> SqueueArgv(const std::string& squeue,
                                    const std::vector<std::string>& job_ids);

// {squeue, "--noheader", "--states=all", "--name=NAME", "--format=%i|%T|%r|%j|%N"}: for finding
// a job whose id was not recorded (the service stopped between sbatch and the database write).
std::vector<std::string> SqueueByNameArgv(const std::string& squeue, const std::string& job_name);

// One JobInfo per non-empty line of squeue output in kSqueueFormat (only job_id, state, reason,
// name and nodes are set). A name containing '|' is kept whole. InvalidArgument on a line
// with fewer than five fields or an empty id or state; Unavailable when that line says
// slurmctld cannot be reached (IsControllerUnreachableMessage).
[[nodiscard]] absl::StatusOr<std::vector<JobInfo>> ParseSqueue(std::string_view out);

// {scontrol, "--oneliner", "show", "job", ID}.
std::vector<std::string> ScontrolShowJobArgv(const std::string& scontrol,
                                             const std::string& job_id);

// The first job record of `scontrol show job` output (one-line or multi-line form). The record
// is a list of Key=Value words; a word without '=' belongs to the value before it (a job name
// or path with spaces). Uses JobId, JobName, JobState, Reason, ExitCode, NodeList, TimeLimit
// and RunTime. When there is no record: NotFound if the text says "Invalid job id specified"
// (scontrol prints that to stderr, so pass stderr too), Unavailable if it says slurmctld cannot
// be reached, else InvalidArgument. InvalidArgument when the record lacks JobId or JobState.
[[nodiscard]] absl::StatusOr<JobInfo> ParseScontrolShowJob(std::string_view out);

// The jobcomp/filetxt log (JobCompType=jobcomp/filetxt, JobCompLoc=FILE): one "JobId=..
// Name=.. JobState=.. NodeList=.. TimeLimit=.. ExitCode=a:b .." record per line, appended when
// a job ends. One JobInfo per job id, in order of first appearance; a later record for the
// same id (a requeued job) replaces the earlier one. Lines without a JobId or JobState are
// skipped. reason and run_time are not in this log (empty).
std::vector<JobInfo> ParseJobcomp(std::string_view content);

// {scancel, ID}.
std::vector<std::string> ScancelArgv(const std::string& scancel, const std::string& job_id);

// True when a command's output says the job id is unknown to slurmctld ("slurm_load_jobs
// error: Invalid job id specified", scancel's "Invalid job id specified").
bool IsInvalidJobIdMessage(std::string_view text);
// True when a command's output says slurmctld cannot be reached ("Unable to contact slurm
// controller", "Socket timed out", "Connection refused"): retry later (Unavailable).
bool IsControllerUnreachableMessage(std::string_view text);

// ---------------------------------------------------------------------------------------------
// The batch script

struct JobScript {
  std::string task_id;
  int attempt = 1;               // task id and attempt go in the comment lines
  std::string node_program;      // absolute path of the node agent (safeflow-node)
  std::string job_file;          // absolute path of the job description (JSON)
  std::vector<std::string> env;  // "K=V", exported before exec
};

// A POSIX sh script:
//   #!/bin/sh
//   # SafeFlow task '<task_id>' attempt <attempt>
//   set -eu
//   export K='V'
//   exec '<node_program>' run --job '<job_file>'
// Every interpolated value is single-quoted, with ' written as '\''. InvalidArgument for an env
// entry without '=' or whose key is not [A-Za-z_][A-Za-z0-9_]*, for a relative node_program or
// job_file, and for a NUL byte anywhere or a newline in the task id.
[[nodiscard]] absl::StatusOr<std::string> RenderJobScript(const JobScript& s);

// `value` in single quotes, with each ' written as '\'' (exposed for tests and the backend).
std::string ShellQuote(std::string_view value);

}  // namespace safeflow::executor::slurm

#endif  // SAFEFLOW_EXECUTOR_SLURM_SLURM_H_
