// executor/worker/protocol.h. What the host and safeflow-worker say to each other.
//
// The host writes a WorkerSpec (JSON) to a file that the sandbox sees read-only and starts
//   safeflow-worker run --spec FILE --events-fd N
// The worker writes WorkerEvents to descriptor N, one JSON object per line:
//   {"type":"running","time":T}
//   {"type":"executor_started","index":i,"time":T}
//   {"type":"executor_finished","index":i,"exit_code":n,"start_time":T,"end_time":T,
//    "stdout":tail,"stderr":tail}
//   {"type":"output","index":k,"path":P,"relative":R,"outbox":O,"size_bytes":n}
//   {"type":"finished","state":"COMPLETE"|"EXECUTOR_ERROR"|"SYSTEM_ERROR","system_logs":[...]}
// T is RFC 3339 UTC with milliseconds ("2026-11-21T10:00:00.123Z"). Log tails are valid UTF-8
// (bad bytes replaced by U+FFFD) of at most log_tail_bytes. "finished" is always the last line;
// a worker that ends without it has failed (treat as SYSTEM_ERROR).
// Output events: k is OutputSpec::index, P the file's path inside the sandbox, R the URL
// suffix ("" for a plain FILE output; for a DIRECTORY or wildcard output the path relative to
// the directory / to path_prefix with "/" separators, or the file name when a wildcard has no
// path_prefix), O the copy's path relative to the outbox ("<k>/<n>/<name>", ASCII only).
// When the outbox is a bind, the sandboxed code can write there too: only files named by
// output events are outputs, and the host must open them without following symlinks
// (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) and check the size it reads. The outbox
// descriptor (WorkerSpec::outbox_fd) avoids the problem.
// The host must keep reading the events: the worker blocks while the pipe is full.
//
// Pure functions; the parsers never throw and return InvalidArgument with a JSON path.
#ifndef SAFEFLOW_EXECUTOR_WORKER_PROTOCOL_H_
#define SAFEFLOW_EXECUTOR_WORKER_PROTOCOL_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace safeflow::executor::worker {

// ---- the spec ------------------------------------------------------------------------------

struct ExecutorSpec {
  std::vector<std::string> command;        // argv, exec'd directly (PATH lookup for argv[0])
  std::optional<std::string> workdir;      // created if missing; default "/"
  std::optional<std::string> stdin_path;   // JSON "stdin"; default /dev/null
  std::optional<std::string> stdout_path;  // JSON "stdout"; the stream is also kept as a tail
  std::optional<std::string> stderr_path;  // JSON "stderr"
  std::map<std::string, std::string> env;  // on top of PATH, HOME=/tmp, LANG=C.UTF-8
  bool ignore_error = false;

  friend bool operator==(const ExecutorSpec&, const ExecutorSpec&) = default;
};

enum class OutputType { kFile, kDirectory };

struct OutputSpec {
  int index = 0;     // the TES output's index, echoed in output events
  std::string path;  // container path; may hold glob(3) wildcards (*, ?, [...])
  std::optional<std::string> path_prefix;  // stripped from wildcard matches for "relative"
  OutputType type = OutputType::kFile;

  friend bool operator==(const OutputSpec&, const OutputSpec&) = default;
};

// A sealed input: the ciphertext as staged (bound read-only), decrypted by the worker into
// `path` (on the sandbox's tmpfs) with the key of `key_id`.
struct SealedInputSpec {
  std::string sealed;  // container path of the sealed file
  std::string path;    // container path of the plaintext
  std::string key_id;  // must equal the key id in the sealed header
  friend bool operator==(const SealedInputSpec&, const SealedInputSpec&) = default;
};

// Enclave mode: the worker attests before it runs anything (see executor/attestation/). The
// host answers the worker's attestation events with control messages on `control_fd`.
struct EnclaveSpec {
  int control_fd = -1;
  bool debug = false;                // launched in debug mode: stay dumpable
  std::vector<std::string> key_ids;  // dataset keys to ask for
  std::vector<SealedInputSpec> sealed_inputs;
  std::string output_key_id;      // non-empty: seal every output to this key
  std::string output_public_key;  // base64url of the 32-byte X25519 public key
  int attest_timeout_seconds = 60;
  friend bool operator==(const EnclaveSpec&, const EnclaveSpec&) = default;
};

struct WorkerSpec {
  std::string task_id;
  std::vector<ExecutorSpec> executors;
  std::vector<OutputSpec> outputs;
  std::int64_t log_tail_bytes = 65536;
  // RLIMIT_AS of every executor process (0: none). Applied by the worker to the executors, not
  // to itself: the worker is trusted code (and a sanitizer build of it cannot start under an
  // address-space limit).
  std::int64_t executor_memory_bytes = 0;
  std::string outbox;  // container dir where outputs are copied
  // Optional hardening: a directory descriptor inherited by the worker (passed through bwrap
  // with SandboxProcess keep_fds) used instead of `outbox`, so that the outbox need not be
  // bound into the sandbox at all and the executors can never see or fill it.
  std::optional<int> outbox_fd;
  std::optional<EnclaveSpec> enclave;

  friend bool operator==(const WorkerSpec&, const WorkerSpec&) = default;
};

// True when `path` holds glob(3) wildcard characters.
bool HasWildcard(std::string_view path);

// Structural checks (also run by the parsers): non-empty commands, absolute normalised paths,
// no NUL bytes, env names without '=', 0 <= log_tail_bytes <= 64 MiB, an outbox.
[[nodiscard]] absl::Status ValidateWorkerSpec(const WorkerSpec& spec);

nlohmann::json ToJson(const WorkerSpec& spec);
std::string SerializeWorkerSpec(const WorkerSpec& spec);  // ToJson(spec).dump()
// Unknown keys are errors (they are typos); absent optional keys take the defaults above.
[[nodiscard]] absl::StatusOr<WorkerSpec> WorkerSpecFromJson(const nlohmann::json& j);
[[nodiscard]] absl::StatusOr<WorkerSpec> ParseWorkerSpec(std::string_view text);

// ---- the events ----------------------------------------------------------------------------

enum class FinalState { kComplete, kExecutorError, kSystemError };
std::string_view FinalStateName(FinalState state);  // "COMPLETE", ...

struct RunningEvent {
  std::string time;
  friend bool operator==(const RunningEvent&, const RunningEvent&) = default;
};
struct ExecutorStartedEvent {
  int index = 0;
  std::string time;
  friend bool operator==(const ExecutorStartedEvent&, const ExecutorStartedEvent&) = default;
};
struct ExecutorFinishedEvent {
  int index = 0;
  int exit_code = 0;  // 128 + signal when killed by a signal
  std::string start_time;
  std::string end_time;
  std::string stdout_tail;  // JSON "stdout"
  std::string stderr_tail;  // JSON "stderr"
  friend bool operator==(const ExecutorFinishedEvent&, const ExecutorFinishedEvent&) = default;
};
struct OutputEvent {
  int index = 0;
  std::string path;
  std::string relative;
  std::string outbox;
  std::uint64_t size_bytes = 0;  // of the file in the outbox (sealed size when sealed)
  bool sealed = false;
  friend bool operator==(const OutputEvent&, const OutputEvent&) = default;
};
struct FinishedEvent {
  FinalState state = FinalState::kSystemError;
  std::vector<std::string> system_logs;
  friend bool operator==(const FinishedEvent&, const FinishedEvent&) = default;
};
// Enclave mode, before anything runs: the worker's ephemeral X25519 public key (base64url), then
// report_data = hex SHA-256(public key || nonce) once the host has sent the verifier's nonce.
struct AttestHelloEvent {
  std::string public_key;
  friend bool operator==(const AttestHelloEvent&, const AttestHelloEvent&) = default;
};
struct AttestReportEvent {
  std::string report_data;
  friend bool operator==(const AttestReportEvent&, const AttestReportEvent&) = default;
};
using WorkerEvent = std::variant<RunningEvent, ExecutorStartedEvent, ExecutorFinishedEvent,
                                 OutputEvent, FinishedEvent, AttestHelloEvent, AttestReportEvent>;

nlohmann::json ToJson(const WorkerEvent& event);
// One line ending in '\n'; invalid UTF-8 in any string is replaced, so this never throws.
std::string EventToLine(const WorkerEvent& event);
// Parses one line (a trailing '\n' is allowed). Unknown extra keys are ignored; a missing or
// mistyped field, an unknown type or state, or a malformed time is InvalidArgument.
[[nodiscard]] absl::StatusOr<WorkerEvent> ParseEventLine(std::string_view line);
[[nodiscard]] absl::StatusOr<WorkerEvent> EventFromJson(const nlohmann::json& j);

// ---- control messages (host -> worker, enclave mode) ---------------------------------------
//   {"type":"challenge","nonce":B}                      answer to attest_hello
//   {"type":"keys","token_id":S,"mr_enclave":H,"keys":[{"key_id":S,"ephemeral_public_key":B,
//    "ciphertext":B}]}                                  answer to attest_report
//   {"type":"refused","msg":S}                          attestation or key release refused
// B is base64url without padding.
struct ControlKey {
  std::string key_id, ephemeral_public_key, ciphertext;  // raw bytes once parsed
  friend bool operator==(const ControlKey&, const ControlKey&) = default;
};
struct ControlMessage {
  std::string type;   // challenge | keys | refused
  std::string nonce;  // raw bytes
  std::string token_id, mr_enclave;
  std::vector<ControlKey> keys;
  std::string msg;
  friend bool operator==(const ControlMessage&, const ControlMessage&) = default;
};
std::string ControlToLine(const ControlMessage& message);
[[nodiscard]] absl::StatusOr<ControlMessage> ParseControlLine(std::string_view line);

// ---- helpers shared by both sides ----------------------------------------------------------

// "2026-11-21T10:00:00.123Z".
std::string FormatTime(std::chrono::system_clock::time_point t);
// Accepts "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (what FormatTime writes, and close relatives).
bool IsRfc3339Utc(std::string_view s);
// Replaces every invalid UTF-8 sequence by U+FFFD.
std::string SanitizeUtf8(std::string_view bytes);
// The last (at most) max_bytes of `bytes` as valid UTF-8 that is itself at most max_bytes long;
// never starts in the middle of a character.
std::string Utf8Tail(std::string_view bytes, std::size_t max_bytes);

}  // namespace safeflow::executor::worker

#endif  // SAFEFLOW_EXECUTOR_WORKER_PROTOCOL_H_
