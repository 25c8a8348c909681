#include "schemas/tes/task.h"

#include <array>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

#include "schemas/tes/decode.h"
#include "schemas/tes/validate.h"

namespace safeflow::schemas::tes {
namespace {

using nlohmann::json;

struct StateEntry {
  State state;
  std::string_view name;
};

// In enum order.
constexpr std::array<StateEntry, 11> kStates = {{
    {State::kUnknown, "UNKNOWN"},
    {State::kQueued, "QUEUED"},
    {State::kInitializing, "INITIALIZING"},
    {State::kRunning, "RUNNING"},
    {State::kPaused, "PAUSED"},
    {State::kComplete, "COMPLETE"},
    {State::kExecutorError, "EXECUTOR_ERROR"},
    {State::kSystemError, "SYSTEM_ERROR"},
    {State::kCanceled, "CANCELED"},
    {State::kCanceling, "CANCELING"},
    {State::kPreempted, "PREEMPTED"},
}};

void PutOptional(json& j, const char* key, const std::optional<std::string>& value) {
  if (value) j[key] = *value;
}

void PutStrings(json& j, const char* key, const std::vector<std::string>& values) {
  if (!values.empty()) j[key] = values;
}

void PutMap(json& j, const char* key, const std::map<std::string, std::string>& values) {
  if (!values.empty()) j[key] = values;
}

json InputJson(const Input& in, View view) {
  json j = json::object();
  PutOptional(j, "name", in.name);
  PutOptional(j, "description", in.description);
  PutOptional(j, "url", in.url);
  j["path"] = in.path;
  j["type"] = std::string(FileTypeName(in.type));
  if (view == View::kFull) PutOptional(j, "content", in.content);
  if (in.streamable) j["streamable"] = *in.streamable;
  return j;
}

json ExecutorLogJson(const ExecutorLog& log, View view) {
  json j = json::object();
  PutOptional(j, "start_time", log.start_time);
  PutOptional(j, "end_time", log.end_time);
  if (view == View::kFull) {
    PutOptional(j, "stdout", log.stdout_text);
    PutOptional(j, "stderr", log.stderr_text);
  }
  j["exit_code"] = log.exit_code;
  return j;
}

json TaskLogJson(const TaskLog& log, View view) {
  json j = json::object();
  json logs = json::array();
  for (const ExecutorLog& l : log.logs) logs.push_back(ExecutorLogJson(l, view));
  j["logs"] = std::move(logs);
  PutMap(j, "metadata", log.metadata);
  PutOptional(j, "start_time", log.start_time);
  PutOptional(j, "end_time", log.end_time);
  json outputs = json::array();
  for (const OutputFileLog& o : log.outputs) outputs.push_back(ToJson(o));
  j["outputs"] = std::move(outputs);
  if (view == View::kFull) PutStrings(j, "system_logs", log.system_logs);
  return j;
}

}  // namespace

std::string_view StateName(State state) {
  for (const StateEntry& e : kStates) {
    if (e.state == state) return e.name;
  }
  return "UNKNOWN";
}

std::optional<State> ParseState(std::string_view name) {
  for (const StateEntry& e : kStates) {
    if (e.name == name) return e.state;
  }
  return std::nullopt;
}

bool IsTerminal(State state) {
  switch (state) {
    case State::kComplete:
    case State::kExecutorError:
    case State::kSystemError:
    case State::kCanceled:
    case State::kPreempted:
      return true;
    case State::kUnknown:
    case State::kQueued:
    case State::kInitializing:
    case State::kRunning:
    case State::kPaused:
    case State::kCanceling:
      return false;
  }
  return false;
}

const std::vector<State>& AllStates() {
  static const std::vector<State> kAll = [] {
    std::vector<State> all;
    for (const StateEntry& e : kStates) all.push_back(e.state);
    return all;
  }();
  return kAll;
}

std::string_view ViewName(View view) {
  switch (view) {
    case View::kMinimal:
      return "MINIMAL";
    case View::kBasic:
      return "BASIC";
    case View::kFull:
      return "FULL";
  }
  return "MINIMAL";
}

std::optional<View> ParseView(std::string_view name) {
  if (name == "MINIMAL") return View::kMinimal;
  if (name == "BASIC") return View::kBasic;
  if (name == "FULL") return View::kFull;
  return std::nullopt;
}

std::string_view FileTypeName(FileType type) {
  return type == FileType::kDirectory ? "DIRECTORY" : "FILE";
}

std::optional<FileType> ParseFileType(std::string_view name) {
  if (name == "FILE") return FileType::kFile;
  if (name == "DIRECTORY") return FileType::kDirectory;
  return std::nullopt;
}

json ToJson(const Input& input) { return InputJson(input, View::kFull); }

json ToJson(const Output& output) {
  json j = json::object();
  PutOptional(j, "name", output.name);
  PutOptional(j, "description", output.description);
  j["url"] = output.url;
  j["path"] = output.path;
  PutOptional(j, "path_prefix", output.path_prefix);
  j["type"] = std::string(FileTypeName(output.type));
  return j;
}

json ToJson(const Executor& executor) {
  json j = json::object();
  j["image"] = executor.image;
  j["command"] = executor.command;
  PutOptional(j, "workdir", executor.workdir);
  PutOptional(j, "stdin", executor.stdin_path);
  PutOptional(j, "stdout", executor.stdout_path);
  PutOptional(j, "stderr", executor.stderr_path);
  PutMap(j, "env", executor.env);
  if (executor.ignore_error) j["ignore_error"] = *executor.ignore_error;
  return j;
}

json ToJson(const Resources& resources) {
  json j = json::object();
  if (resources.cpu_cores) j["cpu_cores"] = *resources.cpu_cores;
  if (resources.preemptible) j["preemptible"] = *resources.preemptible;
  if (resources.ram_gb) j["ram_gb"] = *resources.ram_gb;
  if (resources.disk_gb) j["disk_gb"] = *resources.disk_gb;
  PutStrings(j, "zones", resources.zones);
  PutMap(j, "backend_parameters", resources.backend_parameters);
  if (resources.backend_parameters_strict) {
    j["backend_parameters_strict"] = *resources.backend_parameters_strict;
  }
  return j;
}

json ToJson(const ExecutorLog& log) { return ExecutorLogJson(log, View::kFull); }

json ToJson(const OutputFileLog& log) {
  return json{{"url", log.url}, {"path", log.path}, {"size_bytes", log.size_bytes}};
}

json ToJson(const TaskLog& log) { return TaskLogJson(log, View::kFull); }

json ToJson(const Task& task, View view) {
  json j = json::object();
  j["id"] = task.id;
  j["state"] = std::string(StateName(task.state));
  if (view == View::kMinimal) return j;

  PutOptional(j, "name", task.name);
  PutOptional(j, "description", task.description);
  if (!task.inputs.empty()) {
    json inputs = json::array();
    for (const Input& in : task.inputs) inputs.push_back(InputJson(in, view));
    j["inputs"] = std::move(inputs);
  }
  if (!task.outputs.empty()) {
    json outputs = json::array();
    for (const Output& out : task.outputs) outputs.push_back(ToJson(out));
    j["outputs"] = std::move(outputs);
  }
  if (task.resources) j["resources"] = ToJson(*task.resources);
  json executors = json::array();
  for (const Executor& e : task.executors) executors.push_back(ToJson(e));
  j["executors"] = std::move(executors);
  PutStrings(j, "volumes", task.volumes);
  PutMap(j, "tags", task.tags);
  if (!task.logs.empty()) {
    json logs = json::array();
    for (const TaskLog& log : task.logs) logs.push_back(TaskLogJson(log, view));
    j["logs"] = std::move(logs);
  }
  PutOptional(j, "creation_time", task.creation_time);
  return j;
}

json ToStoredJson(const Task& task) { return ToJson(task, View::kFull); }

absl::StatusOr<Task> FromStoredJson(const json& j) {
  constexpr std::size_t kUnlimited = std::numeric_limits<std::size_t>::max();
  ValidationLimits unlimited;
  unlimited.max_executors = unlimited.max_inputs = unlimited.max_outputs = kUnlimited;
  unlimited.max_command_args = unlimited.max_tags = unlimited.max_env = kUnlimited;
  unlimited.max_volumes = unlimited.max_string_bytes = unlimited.max_content_bytes = kUnlimited;
  unlimited.max_zones = unlimited.max_backend_parameters = unlimited.max_errors = kUnlimited;
  try {
    detail::Decoded decoded = detail::DecodeTask(j, detail::DecodeMode::kStored, unlimited);
    if (!decoded.errors.empty()) {
      const FieldError& e = decoded.errors.front();
      return absl::InvalidArgumentError("stored task: " + FormatErrors({e}));
    }
    return std::move(decoded.task);
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(std::string("stored task: ") + e.what());
  }
}

absl::StatusOr<TaskLog> TaskLogFromStoredJson(const json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("stored task log: must be an object");
  absl::StatusOr<Task> t = FromStoredJson(json{{"logs", json::array({j})}});
  if (!t.ok()) return t.status();
  if (t->logs.size() != 1) return absl::InvalidArgumentError("stored task log: missing");
  return std::move(t->logs.front());
}

}  // namespace safeflow::schemas::tes
