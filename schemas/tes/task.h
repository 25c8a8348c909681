// schemas/tes/task.h. The GA4GH TES 1.1 vocabulary (../shared/ga4gh/tes.openapi.yaml): the task
// document and its logs as plain structs, the State/View/FileType enums, and JSON serialisation.
// Pure code: no I/O, threads or logging. Every function is thread-safe (no shared state) and none
// throws. Validation of client input lives in schemas/tes/validate.h.
//
// JSON shape produced by ToJson():
//  - only fields the spec defines, with the spec's names (Executor::stdin_path -> "stdin",
//    ExecutorLog::stdout_text -> "stdout", ...);
//  - absent optionals are omitted, never null;
//  - empty arrays/maps are omitted, except those the schema requires: tesTask.executors,
//    tesExecutor.command, tesTaskLog.logs and tesTaskLog.outputs are always present;
//  - always present too: tesTask.id and .state, tesInput/tesOutput.type (the spec says the server
//    fills it in), tesExecutorLog.exit_code, and url/path/size_bytes of tesOutputFileLog.
#ifndef SAFEFLOW_SCHEMAS_TES_TASK_H_
#define SAFEFLOW_SCHEMAS_TES_TASK_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace safeflow::schemas::tes {

// tesState. kUnknown is the spec's default ("a missing field does not imply QUEUED").
enum class State {
  kUnknown,
  kQueued,
  kInitializing,
  kRunning,
  kPaused,
  kComplete,
  kExecutorError,
  kSystemError,
  kCanceled,
  kCanceling,
  kPreempted
};

// The spec's name: "UNKNOWN", "QUEUED", ..., "EXECUTOR_ERROR", "CANCELING", "PREEMPTED".
[[nodiscard]] std::string_view StateName(State state);
// Exact, case-sensitive spec names only ("queued" or " QUEUED" -> nullopt).
[[nodiscard]] std::optional<State> ParseState(std::string_view name);
// COMPLETE, EXECUTOR_ERROR, SYSTEM_ERROR, CANCELED and PREEMPTED. CANCELING is not terminal.
[[nodiscard]] bool IsTerminal(State state);
// All eleven states, in enum order (for tables and tests).
[[nodiscard]] const std::vector<State>& AllStates();

// The `view` query parameter of ListTasks/GetTask. The spec's default is MINIMAL.
enum class View { kMinimal, kBasic, kFull };
[[nodiscard]] std::string_view ViewName(View view);                  // "MINIMAL", "BASIC", "FULL"
[[nodiscard]] std::optional<View> ParseView(std::string_view name);  // exact names only

// tesFileType. The spec's default is FILE.
enum class FileType { kFile, kDirectory };
[[nodiscard]] std::string_view FileTypeName(FileType type);                  // "FILE", "DIRECTORY"
[[nodiscard]] std::optional<FileType> ParseFileType(std::string_view name);  // exact names only

// tesInput. `url` is required unless `content` is given (checked by ParseCreateTask).
struct Input {
  std::optional<std::string> name, description, url;
  std::string path;  // absolute path inside the container
  FileType type = FileType::kFile;
  std::optional<std::string> content;  // file content literal (UTF-8); only in the FULL view
  std::optional<bool> streamable;
  friend bool operator==(const Input&, const Input&) = default;
};

// tesOutput. `path` may contain POSIX glob characters; then `url` names a directory and
// `path_prefix` is removed from each match before appending it to `url`.
struct Output {
  std::optional<std::string> name, description;
  std::string url, path;
  std::optional<std::string> path_prefix;
  FileType type = FileType::kFile;
  friend bool operator==(const Output&, const Output&) = default;
};

// tesExecutor. JSON names: stdin_path -> "stdin", stdout_path -> "stdout", stderr_path -> "stderr".
struct Executor {
  std::string image;
  std::vector<std::string> command;  // argv; non-empty
  std::optional<std::string> workdir, stdin_path, stdout_path, stderr_path;
  std::map<std::string, std::string> env;
  std::optional<bool> ignore_error;
  friend bool operator==(const Executor&, const Executor&) = default;
};

// tesResources. backend_parameters_strict defaults to false in the spec when absent.
struct Resources {
  std::optional<std::int32_t> cpu_cores;
  std::optional<bool> preemptible;
  std::optional<double> ram_gb, disk_gb;  // may be fractional
  std::vector<std::string> zones;
  std::map<std::string, std::string> backend_parameters;
  std::optional<bool> backend_parameters_strict;
  friend bool operator==(const Resources&, const Resources&) = default;
};

// tesExecutorLog. JSON names: stdout_text -> "stdout", stderr_text -> "stderr" (FULL view only).
// Times are RFC 3339 strings. exit_code is required by the schema, so it is always emitted.
struct ExecutorLog {
  std::optional<std::string> start_time, end_time, stdout_text, stderr_text;
  std::int32_t exit_code = 0;
  friend bool operator==(const ExecutorLog&, const ExecutorLog&) = default;
};

// tesOutputFileLog. All three fields are required by the schema.
struct OutputFileLog {
  std::string url, path, size_bytes;  // size_bytes is a decimal string (int64) in the spec
  friend bool operator==(const OutputFileLog&, const OutputFileLog&) = default;
};

// tesTaskLog. One per attempt. system_logs are only in the FULL view.
struct TaskLog {
  std::vector<ExecutorLog> logs;
  std::map<std::string, std::string> metadata;
  std::optional<std::string> start_time, end_time;
  std::vector<OutputFileLog> outputs;
  std::vector<std::string> system_logs;
  friend bool operator==(const TaskLog&, const TaskLog&) = default;
};

// tesTask. id, state, logs and creation_time are set by the server (readOnly in the spec).
struct Task {
  std::string id;
  State state = State::kUnknown;
  std::optional<std::string> name, description;
  std::vector<Input> inputs;
  std::vector<Output> outputs;
  std::optional<Resources> resources;
  std::vector<Executor> executors;
  std::vector<std::string> volumes;
  std::map<std::string, std::string> tags;
  std::vector<TaskLog> logs;
  std::optional<std::string> creation_time;
  friend bool operator==(const Task&, const Task&) = default;
};

// The task as the spec's view defines it:
//   MINIMAL: only "id" and "state".
//   BASIC:   everything except logs[].logs[].stdout, logs[].logs[].stderr, inputs[].content and
//            logs[].system_logs.
//   FULL:    everything.
[[nodiscard]] nlohmann::json ToJson(const Task& task, View view);

// FULL forms of the parts, for callers that report logs on their own.
[[nodiscard]] nlohmann::json ToJson(const TaskLog& log);
[[nodiscard]] nlohmann::json ToJson(const ExecutorLog& log);
[[nodiscard]] nlohmann::json ToJson(const OutputFileLog& log);
[[nodiscard]] nlohmann::json ToJson(const Input& input);
[[nodiscard]] nlohmann::json ToJson(const Output& output);
[[nodiscard]] nlohmann::json ToJson(const Executor& executor);
[[nodiscard]] nlohmann::json ToJson(const Resources& resources);

// The task as stored: exactly ToJson(task, View::kFull).
[[nodiscard]] nlohmann::json ToStoredJson(const Task& task);

// Inverse of ToStoredJson: FromStoredJson(ToStoredJson(t)) == t for every task with finite
// ram_gb/disk_gb, also through dump() and parse(). No validation (paths, URLs, limits); missing
// fields take their defaults and JSON null counts as missing. A present field of the wrong JSON
// type, an unknown state or type name, or an out-of-range int32 is InvalidArgument naming the
// first such field ("stored task: logs[0].logs[1].exit_code: must be an integer").
[[nodiscard]] absl::StatusOr<Task> FromStoredJson(const nlohmann::json& j);
// One TaskLog as ToJson(log) wrote it, read with FromStoredJson's rules.
[[nodiscard]] absl::StatusOr<TaskLog> TaskLogFromStoredJson(const nlohmann::json& j);

}  // namespace safeflow::schemas::tes

#endif  // SAFEFLOW_SCHEMAS_TES_TASK_H_
