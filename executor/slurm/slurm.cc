#include "executor/slurm/slurm.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace safeflow::executor::slurm {
namespace {

using schemas::tes::State;

// Scheduler output quoted in an error message: escaped, at most this many bytes of it.
constexpr std::size_t kQuoteLimit = 200;
constexpr std::size_t kMaxPathBytes = 4096;
constexpr std::uint64_t kMaxMemMiB = std::uint64_t{1} << 40;

std::string Quote(std::string_view text) {
  const bool cut = text.size() > kQuoteLimit;
  return absl::StrCat("\"", absl::CEscape(std::string(text.substr(0, kQuoteLimit))), "\"",
                      cut ? "..." : "");
}

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

// [A-Za-z0-9._-]{1,max}
bool IsValidName(std::string_view s, std::size_t max) {
  return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), IsNameChar);
}

bool HasControlChar(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

absl::Status CheckPath(std::string_view field, std::string_view path) {
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(field), ": required"));
  }
  if (path.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(field), ": must be absolute, got ", Quote(path)));
  }
  if (path.size() > kMaxPathBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(field), ": longer than ", kMaxPathBytes, " bytes"));
  }
  if (HasControlChar(path)) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(field), ": contains a control character: ", Quote(path)));
  }
  return absl::OkStatus();
}

// Debian's abseil has its own string_view, so its string functions do not take
// std::string_view: these small helpers do.
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Splits `s` at every character in `seps`, dropping empty pieces when `skip_empty`.
std::vector<std::string_view> Split(std::string_view s, std::string_view seps, bool skip_empty) {
  std::vector<std::string_view> pieces;
  while (true) {
    const std::size_t at = s.find_first_of(seps);
    const std::string_view piece = s.substr(0, at);
    if (!piece.empty() || !skip_empty) pieces.push_back(piece);
    if (at == std::string_view::npos) return pieces;
    s.remove_prefix(at + 1);
  }
}

// The whole of `s` as a decimal integer (an optional '-' for signed types).
template <typename Int>
bool ParseInt(std::string_view s, Int& out) {
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out);
  return !s.empty() && ec == std::errc() && ptr == end;
}

std::string ToUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = absl::ascii_toupper(static_cast<unsigned char>(c));
  return out;
}

// ----- Key=Value records (scontrol show job, jobcomp/filetxt) ---------------------------------

struct Field {
  std::string_view key;
  std::string value;
};
using Record = std::vector<Field>;

// A word that starts a new field: Key=..., where Key is a letter followed by letters, digits
// and "_:/" (scontrol prints keys such as "MCS_label", "CPUs/Task", "ReqB:S:C:T").
bool StartsField(std::string_view word, std::string_view& key, std::string_view& value) {
  const std::size_t eq = word.find('=');
  if (eq == 0 || eq == std::string_view::npos) return false;
  if (!absl::ascii_isalpha(static_cast<unsigned char>(word[0]))) return false;
  for (std::size_t i = 1; i < eq; ++i) {
    const auto c = static_cast<unsigned char>(word[i]);
    if (!absl::ascii_isalnum(c) && c != '_' && c != ':' && c != '/') return false;
  }
  key = word.substr(0, eq);
  value = word.substr(eq + 1);
  return true;
}

// Splits `text` into records. A record starts at every field whose key is `first_key`; words
// without '=' continue the previous field's value (joined by one space). Words before the first
// record are ignored.
std::vector<Record> SplitRecords(std::string_view text, std::string_view first_key) {
  std::vector<Record> records;
  for (std::string_view word : Split(text, " \t\r\n\v\f", /*skip_empty=*/true)) {
    std::string_view key;
    std::string_view value;
    if (StartsField(word, key, value)) {
      if (key == first_key) records.emplace_back();
      if (!records.empty()) records.back().push_back(Field{key, std::string(value)});
    } else if (!records.empty() && !records.back().empty()) {
      absl::StrAppend(&records.back().back().value, " ", std::string(word));
    }
  }
  return records;
}

// The first field named `key`, or nullptr.
const std::string* Find(const Record& r, std::string_view key) {
  for (const Field& f : r) {
    if (f.key == key) return &f.value;
  }
  return nullptr;
}

std::string NormaliseState(std::string_view raw) {
  const StateInfo* info = LookupState(raw);
  return info != nullptr ? std::string(info->name) : std::string(TrimSpace(raw));
}

// "a:b" -> exit code a, and signal b when non-zero. Leaves both unset when malformed.
void ParseExitCode(std::string_view text, JobInfo& job) {
  const std::size_t colon = text.find(':');
  int code = 0;
  int sig = 0;
  if (colon == std::string_view::npos || !ParseInt(text.substr(0, colon), code) ||
      !ParseInt(text.substr(colon + 1), sig)) {
    return;
  }
  job.exit_code = code;
  if (sig != 0) job.signal = sig;
}

// The fields of `r` that scontrol and jobcomp share. `name_key` is "JobName" or "Name".
std::optional<JobInfo> JobFromRecord(const Record& r, std::string_view name_key) {
  const std::string* id = Find(r, "JobId");
  const std::string* state = Find(r, "JobState");
  if (id == nullptr || id->empty() || state == nullptr || state->empty()) return std::nullopt;
  JobInfo job;
  job.job_id = *id;
  job.state = NormaliseState(*state);
  if (const std::string* v = Find(r, name_key)) job.name = *v;
  if (const std::string* v = Find(r, "Reason")) job.reason = *v;
  if (const std::string* v = Find(r, "ExitCode")) ParseExitCode(*v, job);
  if (const std::string* v = Find(r, "NodeList")) job.nodes = *v;
  if (const std::string* v = Find(r, "TimeLimit")) job.time_limit = *v;
  if (const std::string* v = Find(r, "RunTime")) job.run_time = *v;
  return job;
}

bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle) {
  return ToUpper(haystack).find(ToUpper(needle)) != std::string::npos;
}

std::vector<std::string> SqueueBase(const std::string& squeue) {
  return {squeue, "--noheader", "--states=all"};
}

}  // namespace

// ----- States -------------------------------------------------------------------------------

const std::vector<StateInfo>& StateTable() {
  static const std::vector<StateInfo> kTable = {
      {"PENDING", Phase::kQueued, State::kInitializing, "the job is waiting for resources"},
      {"CONFIGURING", Phase::kQueued, State::kInitializing,
       "the job has its nodes and is waiting for them to become ready"},
      {"REQUEUED", Phase::kQueued, State::kInitializing, "the job is being put back in the queue"},
      {"REQUEUE_HOLD", Phase::kQueued, State::kInitializing,
       "the job was put back in the queue and is held"},
      {"REQUEUE_FED", Phase::kQueued, State::kInitializing,
       "the job is being put back in the queue by a federation"},
      {"RESV_DEL_HOLD", Phase::kQueued, State::kInitializing,
       "the job is held because its reservation was deleted"},
      {"RUNNING", Phase::kRunning, State::kRunning, "the job is running"},
      {"COMPLETING", Phase::kRunning, State::kRunning,
       "the job is finishing and its nodes are being cleaned up"},
      {"RESIZING", Phase::kRunning, State::kRunning, "the job is about to change size"},
      {"SIGNALING", Phase::kRunning, State::kRunning, "the job is being sent a signal"},
      {"STAGE_OUT", Phase::kRunning, State::kRunning, "the job is staging out its files"},
      {"SUSPENDED", Phase::kSuspended, State::kPaused,
       "the job was suspended and its CPUs released to other jobs"},
      {"STOPPED", Phase::kSuspended, State::kPaused,
       "the job was stopped (SIGSTOP) and keeps its CPUs"},
      {"COMPLETED", Phase::kEnded, State::kComplete, "the job finished with exit code 0"},
      {"FAILED", Phase::kEnded, State::kExecutorError,
       "the job ended with a non-zero exit code or another failure"},
      {"SPECIAL_EXIT", Phase::kEnded, State::kExecutorError,
       "the job ended with an exit value the site treats specially"},
      {"TIMEOUT", Phase::kEnded, State::kExecutorError, "the job reached its time limit (--time)"},
      {"OUT_OF_MEMORY", Phase::kEnded, State::kExecutorError,
       "the job used more memory than it requested (--mem)"},
      {"DEADLINE", Phase::kEnded, State::kExecutorError, "the job reached its deadline"},
      {"NODE_FAIL", Phase::kEnded, State::kSystemError, "a node the job ran on failed"},
      {"BOOT_FAIL", Phase::kEnded, State::kSystemError,
       "the job could not start because a node failed to boot"},
      {"REVOKED", Phase::kEnded, State::kSystemError,
       "the job was removed because another cluster of the federation started it"},
      {"PREEMPTED", Phase::kEnded, State::kPreempted,
       "the job was stopped to make room for a higher-priority job"},
      {"CANCELLED", Phase::kEnded, State::kSystemError,
       "the job was cancelled outside SafeFlow (by a user or an administrator)"},
  };
  return kTable;
}

const StateInfo* LookupState(std::string_view state) {
  std::string_view s = TrimSpace(state);
  s = s.substr(0, s.find_first_of(" \t"));                // "CANCELLED by 0"
  if (!s.empty() && s.back() == '+') s.remove_suffix(1);  // sacct's "CANCELLED+"
  const std::string upper = ToUpper(s);
  for (const StateInfo& info : StateTable()) {
    if (info.name == upper) return &info;
  }
  return nullptr;
}

// ----- sbatch -------------------------------------------------------------------------------

absl::StatusOr<std::vector<std::string>> SbatchArgv(const std::string& sbatch,
                                                    const SubmitOptions& o) {
  if (sbatch.empty()) return absl::InvalidArgumentError("sbatch: program path required");
  if (!IsValidName(o.job_name, 128)) {
    return absl::InvalidArgumentError(
        absl::StrCat("job_name: must match [A-Za-z0-9._-]{1,128}, got ", Quote(o.job_name)));
  }
  for (auto [field, path] :
       {std::pair<std::string_view, const std::string&>{"script_path", o.script_path},
        {"work_dir", o.work_dir},
        {"output_path", o.output_path}}) {
    if (absl::Status s = CheckPath(field, path); !s.ok()) return s;
  }
  if (o.output_path.find_first_of("%\\") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "output_path: '%' and '\\' are sbatch filename patterns, got ", Quote(o.output_path)));
  }
  if (o.cpus_per_task < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cpus_per_task: must be at least 1, got ", o.cpus_per_task));
  }
  if (o.mem_mib < 1) {
    return absl::InvalidArgumentError(
        "mem_mib: must be at least 1 (SLURM reads --mem=0 as the whole node)");
  }
  if (o.time_minutes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("time_minutes: must be at least 1, got ", o.time_minutes));
  }
  for (auto [field, value] :
       {std::pair<std::string_view, const std::string&>{"partition", o.partition},
        {"account", o.account},
        {"qos", o.qos}}) {
    if (!value.empty() && !IsValidName(value, 64)) {
      return absl::InvalidArgumentError(absl::StrCat(
          std::string(field), ": must match [A-Za-z0-9._-]{1,64}, got ", Quote(value)));
    }
  }
  std::vector<std::string> argv = {sbatch,
                                   "--parsable",
                                   absl::StrCat("--job-name=", o.job_name),
                                   absl::StrCat("--cpus-per-task=", o.cpus_per_task),
                                   absl::StrCat("--mem=", o.mem_mib, "M"),
                                   absl::StrCat("--time=", o.time_minutes),
                                   absl::StrCat("--chdir=", o.work_dir),
                                   absl::StrCat("--output=", o.output_path),
                                   "--no-requeue"};
  if (!o.partition.empty()) argv.push_back(absl::StrCat("--partition=", o.partition));
  if (!o.account.empty()) argv.push_back(absl::StrCat("--account=", o.account));
  if (!o.qos.empty()) argv.push_back(absl::StrCat("--qos=", o.qos));
  argv.push_back(o.script_path);
  return argv;
}

absl::StatusOr<std::string> ParseJobId(std::string_view sbatch_stdout) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("sbatch --parsable output ", std::string(why), ": ", Quote(sbatch_stdout)));
  };
  const std::string_view text = TrimSpace(sbatch_stdout);
  if (text.empty()) return bad("is empty");
  const std::size_t semicolon = text.find(';');
  const std::string_view id = text.substr(0, semicolon);
  if (semicolon != std::string_view::npos) {
    const std::string_view cluster = text.substr(semicolon + 1);
    if (cluster.empty() ||
        std::any_of(cluster.begin(), cluster.end(), [](char c) { return !IsNameChar(c); })) {
      return bad("has a malformed cluster name");
    }
  }
  std::uint64_t value = 0;
  if (id.empty() || id.size() > 10 ||
      !std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      !ParseInt(id, value) || value == 0 || value > 0xffffffffULL) {
    return bad("is not a job id");
  }
  return absl::StrCat(value);
}

std::uint64_t MemMiB(double ram_gb) {
  if (!std::isfinite(ram_gb) || ram_gb <= 0) return 1;
  const double mib = std::ceil(ram_gb * 1024.0);  // exact: 1024 is a power of two
  if (mib >= static_cast<double>(kMaxMemMiB)) return kMaxMemMiB;
  return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(mib));
}

// ----- squeue, scontrol, jobcomp, scancel ---------------------------------------------------

std::vector<std::string> SqueueArgv(const std::string& squeue,
                                    const std::vector<std::string>& job_ids) {
  std::vector<std::string> argv = SqueueBase(squeue);
  argv.push_back(absl::StrCat("--jobs=", absl::StrJoin(job_ids, ",")));
  argv.push_back(absl::StrCat("--format=", std::string(kSqueueFormat)));
  return argv;
}

std::vector<std::string> SqueueByNameArgv(const std::string& squeue, const std::string& job_name) {
  std::vector<std::string> argv = SqueueBase(squeue);
  argv.push_back(absl::StrCat("--name=", job_name));
  argv.push_back(absl::StrCat("--format=", std::string(kSqueueFormat)));
  return argv;
}

absl::StatusOr<std::vector<JobInfo>> ParseSqueue(std::string_view out) {
  std::vector<JobInfo> jobs;
  for (std::string_view line : Split(out, "\n", /*skip_empty=*/true)) {
    if (TrimSpace(line).empty()) continue;
    // id|state|reason|name|nodes: the name is whatever lies between the third '|' and the
    // last one, so a name containing '|' survives.
    const std::size_t p1 = line.find('|');
    const std::size_t p2 = p1 == std::string_view::npos ? p1 : line.find('|', p1 + 1);
    const std::size_t p3 = p2 == std::string_view::npos ? p2 : line.find('|', p2 + 1);
    const std::size_t p4 = line.rfind('|');
    if (p3 == std::string_view::npos || p4 <= p3) {
      if (IsControllerUnreachableMessage(line)) {
        return absl::UnavailableError(absl::StrCat("squeue: ", Quote(TrimSpace(line))));
      }
      return absl::InvalidArgumentError(
          absl::StrCat("squeue line does not have 5 '|'-separated fields: ", Quote(line)));
    }
    JobInfo job;
    job.job_id = std::string(TrimSpace(line.substr(0, p1)));
    job.state = NormaliseState(line.substr(p1 + 1, p2 - p1 - 1));
    job.reason = std::string(TrimSpace(line.substr(p2 + 1, p3 - p2 - 1)));
    job.name = std::string(line.substr(p3 + 1, p4 - p3 - 1));
    job.nodes = std::string(TrimSpace(line.substr(p4 + 1)));
    if (job.job_id.empty() || job.state.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("squeue line without a job id or state: ", Quote(line)));
    }
    jobs.push_back(std::move(job));
  }
  return jobs;
}

std::vector<std::string> ScontrolShowJobArgv(const std::string& scontrol,
                                             const std::string& job_id) {
  return {scontrol, "--oneliner", "show", "job", job_id};
}

absl::StatusOr<JobInfo> ParseScontrolShowJob(std::string_view out) {
  const std::vector<Record> records = SplitRecords(out, "JobId");
  if (records.empty()) {
    // Error texts are looked for only here, so that a job record mentioning them (in a comment
    // or path) is still a record.
    if (IsInvalidJobIdMessage(out)) {
      return absl::NotFoundError(absl::StrCat("scontrol: ", Quote(TrimSpace(out))));
    }
    if (IsControllerUnreachableMessage(out)) {
      return absl::UnavailableError(absl::StrCat("scontrol: ", Quote(TrimSpace(out))));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("scontrol show job output has no job record: ", Quote(out)));
  }
  std::optional<JobInfo> job = JobFromRecord(records.front(), "JobName");
  if (!job) {
    return absl::InvalidArgumentError(
        absl::StrCat("scontrol show job record without JobId or JobState: ", Quote(out)));
  }
  return *std::move(job);
}

std::vector<JobInfo> ParseJobcomp(std::string_view content) {
  std::vector<JobInfo> jobs;
  for (std::string_view line : Split(content, "\n", /*skip_empty=*/true)) {
    const std::vector<Record> records = SplitRecords(line, "JobId");
    if (records.size() != 1) continue;  // blank, garbage, or two records glued together
    std::optional<JobInfo> job = JobFromRecord(records.front(), "Name");
    if (!job) continue;
    auto same = std::find_if(jobs.begin(), jobs.end(),
                             [&](const JobInfo& j) { return j.job_id == job->job_id; });
    if (same != jobs.end()) {
      *same = *std::move(job);
    } else {
      jobs.push_back(*std::move(job));
    }
  }
  return jobs;
}

std::vector<std::string> ScancelArgv(const std::string& scancel, const std::string& job_id) {
  return {scancel, job_id};
}

bool IsInvalidJobIdMessage(std::string_view text) {
  return ContainsIgnoreCase(text, "Invalid job id specified");
}

bool IsControllerUnreachableMessage(std::string_view text) {
  for (std::string_view needle :
       {"Unable to contact slurm controller", "Socket timed out", "Connection refused"}) {
    if (ContainsIgnoreCase(text, needle)) return true;
  }
  return false;
}

// ----- The batch script ---------------------------------------------------------------------

std::string ShellQuote(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

absl::StatusOr<std::string> RenderJobScript(const JobScript& s) {
  if (s.task_id.empty() || HasControlChar(s.task_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("task_id: required, without control characters, got ", Quote(s.task_id)));
  }
  for (auto [field, path] :
       {std::pair<std::string_view, const std::string&>{"node_program", s.node_program},
        {"job_file", s.job_file}}) {
    if (path.empty() || path.front() != '/' || path.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(field), ": must be an absolute path, got ", Quote(path)));
    }
  }
  std::string exports;
  for (const std::string& entry : s.env) {
    const std::size_t eq = entry.find('=');
    const std::string_view key = std::string_view(entry).substr(0, eq);
    const bool key_ok = eq != std::string::npos && !key.empty() &&
                        !absl::ascii_isdigit(static_cast<unsigned char>(key.front())) &&
                        std::all_of(key.begin(), key.end(), [](char c) {
                          return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
                        });
    if (!key_ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "env: entry must be K=V with K matching [A-Za-z_][A-Za-z0-9_]*, got ", Quote(entry)));
    }
    if (entry.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("env: NUL byte in ", Quote(entry)));
    }
    absl::StrAppend(&exports, "export ", std::string(key), "=",
                    ShellQuote(std::string_view(entry).substr(eq + 1)), "\n");
  }
  return absl::StrCat("#!/bin/sh\n",                                                            //
                      "# SafeFlow task ", ShellQuote(s.task_id), " attempt ", s.attempt, "\n",  //
                      "# Generated by SafeFlow: runs the node agent for this attempt.\n",       //
                      "set -eu\n",                                                              //
                      exports,                                                                  //
                      "exec ", ShellQuote(s.node_program), " run --job ", ShellQuote(s.job_file),
                      "\n");
}

}  // namespace safeflow::executor::slurm
