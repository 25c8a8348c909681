// The implementation of executor/worker/protocol.h. It lives here rather than in worker/
// because worker/*.cc build only the safeflow-worker program, while the host (and the unit
// tests) need the protocol from the safeflow_executor library.
#include "executor/worker/protocol.h"

#include <cstring>
#include <ctime>
#include <initializer_list>
#include <type_traits>

#include "absl/strings/escaping.h"
#include "fmt/format.h"

#include "executor/paths.h"

namespace safeflow::executor::worker {
namespace {

using json = nlohmann::json;
using Errors = std::vector<std::string>;

constexpr std::int64_t kMaxLogTailBytes = 64ll << 20;

// Relative, no empty/"."/".." components, no NUL: stays below the directory it is joined to.
bool IsSafeRelative(std::string_view p) {
  if (p.empty() || p[0] == '/') return false;
  return IsNormalizedAbsolute(fmt::format("/{}", p));
}

std::string Join(const Errors& errors) {
  std::string out;
  for (const std::string& e : errors) {
    if (!out.empty()) out += "; ";
    out += e;
  }
  return out;
}

std::string At(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

const json* Field(const json& obj, std::string_view key) {
  const auto it = obj.find(std::string(key));
  return it == obj.end() ? nullptr : &*it;
}

void CheckKeys(const json& obj, const std::string& path,
               std::initializer_list<std::string_view> allowed, Errors& errors) {
  for (const auto& [key, value] : obj.items()) {
    bool known = false;
    for (std::string_view a : allowed) known = known || key == a;
    if (!known) errors.push_back(fmt::format("{}: unknown key", At(path, key)));
  }
}

std::optional<std::string> ReadString(const json& obj, const std::string& path,
                                      std::string_view key, bool required, Errors& errors) {
  const json* v = Field(obj, key);
  if (v == nullptr || (v->is_null() && !required)) {
    if (required) errors.push_back(fmt::format("{}: required", At(path, key)));
    return std::nullopt;
  }
  if (!v->is_string()) {
    errors.push_back(fmt::format("{}: must be a string", At(path, key)));
    return std::nullopt;
  }
  return v->get<std::string>();
}

std::optional<std::int64_t> ReadInt(const json& obj, const std::string& path, std::string_view key,
                                    bool required, Errors& errors) {
  const json* v = Field(obj, key);
  if (v == nullptr || (v->is_null() && !required)) {
    if (required) errors.push_back(fmt::format("{}: required", At(path, key)));
    return std::nullopt;
  }
  if (v->is_number_unsigned()) {
    const auto u = v->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) {
      errors.push_back(fmt::format("{}: out of range", At(path, key)));
      return std::nullopt;
    }
    return static_cast<std::int64_t>(u);
  }
  if (!v->is_number_integer()) {
    errors.push_back(fmt::format("{}: must be an integer", At(path, key)));
    return std::nullopt;
  }
  return v->get<std::int64_t>();
}

std::optional<int> ReadSmallInt(const json& obj, const std::string& path, std::string_view key,
                                bool required, std::int64_t min, Errors& errors) {
  std::optional<std::int64_t> v = ReadInt(obj, path, key, required, errors);
  if (!v) return std::nullopt;
  if (*v < min || *v > INT32_MAX) {
    errors.push_back(fmt::format("{}: out of range", At(path, key)));
    return std::nullopt;
  }
  return static_cast<int>(*v);
}

std::optional<bool> ReadBool(const json& obj, const std::string& path, std::string_view key,
                             Errors& errors) {
  const json* v = Field(obj, key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (!v->is_boolean()) {
    errors.push_back(fmt::format("{}: must be a boolean", At(path, key)));
    return std::nullopt;
  }
  return v->get<bool>();
}

std::vector<std::string> ReadStringArray(const json& obj, const std::string& path,
                                         std::string_view key, bool required, Errors& errors) {
  std::vector<std::string> out;
  const json* v = Field(obj, key);
  if (v == nullptr || (v->is_null() && !required)) {
    if (required) errors.push_back(fmt::format("{}: required", At(path, key)));
    return out;
  }
  if (!v->is_array()) {
    errors.push_back(fmt::format("{}: must be an array of strings", At(path, key)));
    return out;
  }
  for (std::size_t i = 0; i < v->size(); ++i) {
    const json& item = (*v)[i];
    if (!item.is_string()) {
      errors.push_back(fmt::format("{}[{}]: must be a string", At(path, key), i));
      continue;
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

void CheckPath(std::string_view what, const std::optional<std::string>& p, Errors& errors) {
  if (p && !IsNormalizedAbsolute(*p)) {
    errors.push_back(fmt::format("{}: \"{}\" must be an absolute, normalised path", what, *p));
  }
}

Errors Validate(const WorkerSpec& spec) {
  Errors errors;
  if (spec.task_id.empty() || HasNul(spec.task_id)) errors.push_back("task_id: required");
  for (std::size_t i = 0; i < spec.executors.size(); ++i) {
    const ExecutorSpec& e = spec.executors[i];
    const std::string path = fmt::format("executors[{}]", i);
    if (e.command.empty()) errors.push_back(fmt::format("{}.command: required", path));
    for (std::size_t k = 0; k < e.command.size(); ++k) {
      if (HasNul(e.command[k])) {
        errors.push_back(fmt::format("{}.command[{}]: contains NUL", path, k));
      }
    }
    if (!e.command.empty() && e.command[0].empty()) {
      errors.push_back(fmt::format("{}.command[0]: empty", path));
    }
    CheckPath(path + ".workdir", e.workdir, errors);
    CheckPath(path + ".stdin", e.stdin_path, errors);
    CheckPath(path + ".stdout", e.stdout_path, errors);
    CheckPath(path + ".stderr", e.stderr_path, errors);
    for (const auto& [name, value] : e.env) {
      if (name.empty() || name.find('=') != std::string::npos || HasNul(name) || HasNul(value)) {
        errors.push_back(fmt::format("{}.env: bad variable name \"{}\"", path, name));
      }
    }
  }
  for (std::size_t i = 0; i < spec.outputs.size(); ++i) {
    const OutputSpec& o = spec.outputs[i];
    const std::string path = fmt::format("outputs[{}]", i);
    if (o.index < 0) errors.push_back(fmt::format("{}.index: must be >= 0", path));
    if (!IsNormalizedAbsolute(o.path) || o.path == "/") {
      errors.push_back(
          fmt::format("{}.path: \"{}\" must be an absolute, normalised path", path, o.path));
    }
    if (o.path_prefix) {
      std::string prefix = *o.path_prefix;
      while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
      if (!IsNormalizedAbsolute(prefix)) {
        errors.push_back(
            fmt::format("{}.path_prefix: \"{}\" must be an absolute path", path, *o.path_prefix));
      }
    }
  }
  if (spec.executor_memory_bytes < 0) {
    errors.push_back("executor_memory_bytes: must not be negative");
  }
  if (spec.log_tail_bytes < 0 || spec.log_tail_bytes > kMaxLogTailBytes) {
    errors.push_back(fmt::format("log_tail_bytes: must be in [0, {}]", kMaxLogTailBytes));
  }
  if (spec.enclave) {
    const EnclaveSpec& e = *spec.enclave;
    if (e.control_fd < 3) errors.push_back("enclave.control_fd: must be >= 3");
    for (std::size_t i = 0; i < e.sealed_inputs.size(); ++i) {
      const SealedInputSpec& in = e.sealed_inputs[i];
      if (!IsNormalizedAbsolute(in.sealed) || !IsNormalizedAbsolute(in.path) || in.path == "/") {
        errors.push_back(fmt::format("enclave.sealed_inputs[{}]: paths must be absolute", i));
      }
      if (std::find(e.key_ids.begin(), e.key_ids.end(), in.key_id) == e.key_ids.end()) {
        errors.push_back(fmt::format("enclave.sealed_inputs[{}].key_id: not in key_ids", i));
      }
    }
    if (e.output_key_id.empty() != e.output_public_key.empty()) {
      errors.push_back("enclave: output_key_id and output_public_key go together");
    }
    if (e.attest_timeout_seconds < 1) {
      errors.push_back("enclave.attest_timeout_seconds: must be >= 1");
    }
  }
  if (spec.outbox_fd) {
    if (*spec.outbox_fd < 3) errors.push_back("outbox_fd: must be >= 3");
  } else if (!IsNormalizedAbsolute(spec.outbox) || spec.outbox == "/") {
    errors.push_back(
        fmt::format("outbox: \"{}\" must be an absolute, normalised path", spec.outbox));
  }
  return errors;
}

const char* OutputTypeName(OutputType t) { return t == OutputType::kFile ? "FILE" : "DIRECTORY"; }

// ---- UTF-8 ---------------------------------------------------------------------------------

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid.
std::size_t ValidSequenceLength(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  }
  return n;
}

bool IsContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

}  // namespace

// ---- spec ----------------------------------------------------------------------------------

bool HasWildcard(std::string_view path) {
  return path.find_first_of("*?[") != std::string_view::npos;
}

absl::Status ValidateWorkerSpec(const WorkerSpec& spec) {
  Errors errors = Validate(spec);
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(Join(errors));
}

json ToJson(const WorkerSpec& spec) {
  json j;
  j["task_id"] = spec.task_id;
  j["executors"] = json::array();
  for (const ExecutorSpec& e : spec.executors) {
    json x;
    x["command"] = e.command;
    if (e.workdir) x["workdir"] = *e.workdir;
    if (e.stdin_path) x["stdin"] = *e.stdin_path;
    if (e.stdout_path) x["stdout"] = *e.stdout_path;
    if (e.stderr_path) x["stderr"] = *e.stderr_path;
    x["env"] = json::object();
    for (const auto& [k, v] : e.env) x["env"][k] = v;
    x["ignore_error"] = e.ignore_error;
    j["executors"].push_back(std::move(x));
  }
  j["outputs"] = json::array();
  for (const OutputSpec& o : spec.outputs) {
    json x;
    x["index"] = o.index;
    x["path"] = o.path;
    if (o.path_prefix) x["path_prefix"] = *o.path_prefix;
    x["type"] = OutputTypeName(o.type);
    j["outputs"].push_back(std::move(x));
  }
  j["log_tail_bytes"] = spec.log_tail_bytes;
  if (spec.executor_memory_bytes > 0) j["executor_memory_bytes"] = spec.executor_memory_bytes;
  j["outbox"] = spec.outbox;
  if (spec.outbox_fd) j["outbox_fd"] = *spec.outbox_fd;
  if (spec.enclave) {
    const EnclaveSpec& e = *spec.enclave;
    json x = {{"control_fd", e.control_fd},
              {"debug", e.debug},
              {"key_ids", e.key_ids},
              {"sealed_inputs", json::array()},
              {"output_key_id", e.output_key_id},
              {"output_public_key", e.output_public_key},
              {"attest_timeout_seconds", e.attest_timeout_seconds}};
    for (const SealedInputSpec& in : e.sealed_inputs) {
      x["sealed_inputs"].push_back(
          {{"sealed", in.sealed}, {"path", in.path}, {"key_id", in.key_id}});
    }
    j["enclave"] = std::move(x);
  }
  return j;
}

std::string SerializeWorkerSpec(const WorkerSpec& spec) {
  return ToJson(spec).dump(-1, ' ', false, json::error_handler_t::replace);
}

absl::StatusOr<WorkerSpec> WorkerSpecFromJson(const json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("spec: must be a JSON object");
  Errors errors;
  WorkerSpec spec;
  CheckKeys(j, "",
            {"task_id", "executors", "outputs", "log_tail_bytes", "executor_memory_bytes", "outbox",
             "outbox_fd", "enclave"},
            errors);
  spec.task_id = ReadString(j, "", "task_id", true, errors).value_or("");
  if (const json* execs = Field(j, "executors"); execs == nullptr || !execs->is_array()) {
    errors.push_back("executors: required (an array)");
  } else {
    for (std::size_t i = 0; i < execs->size(); ++i) {
      const json& x = (*execs)[i];
      const std::string path = fmt::format("executors[{}]", i);
      if (!x.is_object()) {
        errors.push_back(fmt::format("{}: must be an object", path));
        continue;
      }
      CheckKeys(x, path, {"command", "workdir", "stdin", "stdout", "stderr", "env", "ignore_error"},
                errors);
      ExecutorSpec e;
      e.command = ReadStringArray(x, path, "command", true, errors);
      e.workdir = ReadString(x, path, "workdir", false, errors);
      e.stdin_path = ReadString(x, path, "stdin", false, errors);
      e.stdout_path = ReadString(x, path, "stdout", false, errors);
      e.stderr_path = ReadString(x, path, "stderr", false, errors);
      if (const json* env = Field(x, "env"); env != nullptr && !env->is_null()) {
        if (!env->is_object()) {
          errors.push_back(fmt::format("{}.env: must be an object", path));
        } else {
          for (const auto& [k, v] : env->items()) {
            if (!v.is_string()) {
              errors.push_back(fmt::format("{}.env.{}: must be a string", path, k));
              continue;
            }
            e.env[k] = v.get<std::string>();
          }
        }
      }
      e.ignore_error = ReadBool(x, path, "ignore_error", errors).value_or(false);
      spec.executors.push_back(std::move(e));
    }
  }
  if (const json* outs = Field(j, "outputs"); outs != nullptr && !outs->is_null()) {
    if (!outs->is_array()) {
      errors.push_back("outputs: must be an array");
    } else {
      for (std::size_t i = 0; i < outs->size(); ++i) {
        const json& x = (*outs)[i];
        const std::string path = fmt::format("outputs[{}]", i);
        if (!x.is_object()) {
          errors.push_back(fmt::format("{}: must be an object", path));
          continue;
        }
        CheckKeys(x, path, {"index", "path", "path_prefix", "type"}, errors);
        OutputSpec o;
        o.index = ReadSmallInt(x, path, "index", true, 0, errors).value_or(0);
        o.path = ReadString(x, path, "path", true, errors).value_or("");
        o.path_prefix = ReadString(x, path, "path_prefix", false, errors);
        const std::string type = ReadString(x, path, "type", false, errors).value_or("FILE");
        if (type == "FILE") {
          o.type = OutputType::kFile;
        } else if (type == "DIRECTORY") {
          o.type = OutputType::kDirectory;
        } else {
          errors.push_back(fmt::format("{}.type: must be FILE or DIRECTORY", path));
        }
        spec.outputs.push_back(std::move(o));
      }
    }
  }
  spec.log_tail_bytes = ReadInt(j, "", "log_tail_bytes", false, errors).value_or(65536);
  spec.executor_memory_bytes = ReadInt(j, "", "executor_memory_bytes", false, errors).value_or(0);
  spec.outbox_fd = ReadSmallInt(j, "", "outbox_fd", false, 0, errors);
  spec.outbox = ReadString(j, "", "outbox", !spec.outbox_fd.has_value(), errors).value_or("");
  if (const json* enc = Field(j, "enclave"); enc != nullptr && !enc->is_null()) {
    if (!enc->is_object()) {
      errors.push_back("enclave: must be an object");
    } else {
      CheckKeys(*enc, "enclave",
                {"control_fd", "debug", "key_ids", "sealed_inputs", "output_key_id",
                 "output_public_key", "attest_timeout_seconds"},
                errors);
      EnclaveSpec e;
      e.control_fd = ReadSmallInt(*enc, "enclave", "control_fd", true, 0, errors).value_or(-1);
      e.debug = ReadBool(*enc, "enclave", "debug", errors).value_or(false);
      e.key_ids = ReadStringArray(*enc, "enclave", "key_ids", false, errors);
      e.output_key_id = ReadString(*enc, "enclave", "output_key_id", false, errors).value_or("");
      e.output_public_key =
          ReadString(*enc, "enclave", "output_public_key", false, errors).value_or("");
      e.attest_timeout_seconds =
          ReadSmallInt(*enc, "enclave", "attest_timeout_seconds", false, 1, errors).value_or(60);
      if (const json* ins = Field(*enc, "sealed_inputs"); ins != nullptr && !ins->is_null()) {
        if (!ins->is_array()) {
          errors.push_back("enclave.sealed_inputs: must be an array");
        } else {
          for (std::size_t i = 0; i < ins->size(); ++i) {
            const json& x = (*ins)[i];
            const std::string path = fmt::format("enclave.sealed_inputs[{}]", i);
            if (!x.is_object()) {
              errors.push_back(path + ": must be an object");
              continue;
            }
            CheckKeys(x, path, {"sealed", "path", "key_id"}, errors);
            e.sealed_inputs.push_back({ReadString(x, path, "sealed", true, errors).value_or(""),
                                       ReadString(x, path, "path", true, errors).value_or(""),
                                       ReadString(x, path, "key_id", true, errors).value_or("")});
          }
        }
      }
      spec.enclave = std::move(e);
    }
  }
  if (errors.empty()) errors = Validate(spec);
  if (!errors.empty()) return absl::InvalidArgumentError(Join(errors));
  return spec;
}

absl::StatusOr<WorkerSpec> ParseWorkerSpec(std::string_view text) {
  const json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("spec: not valid JSON");
  return WorkerSpecFromJson(j);
}

// ---- events --------------------------------------------------------------------------------

std::string_view FinalStateName(FinalState state) {
  switch (state) {
    case FinalState::kComplete:
      return "COMPLETE";
    case FinalState::kExecutorError:
      return "EXECUTOR_ERROR";
    case FinalState::kSystemError:
      return "SYSTEM_ERROR";
  }
  return "SYSTEM_ERROR";
}

json ToJson(const WorkerEvent& event) {
  return std::visit(
      [](const auto& e) -> json {
        using T = std::decay_t<decltype(e)>;
        json j;
        if constexpr (std::is_same_v<T, RunningEvent>) {
          j["type"] = "running";
          j["time"] = e.time;
        } else if constexpr (std::is_same_v<T, ExecutorStartedEvent>) {
          j["type"] = "executor_started";
          j["index"] = e.index;
          j["time"] = e.time;
        } else if constexpr (std::is_same_v<T, ExecutorFinishedEvent>) {
          j["type"] = "executor_finished";
          j["index"] = e.index;
          j["exit_code"] = e.exit_code;
          j["start_time"] = e.start_time;
          j["end_time"] = e.end_time;
          j["stdout"] = e.stdout_tail;
          j["stderr"] = e.stderr_tail;
        } else if constexpr (std::is_same_v<T, OutputEvent>) {
          j["type"] = "output";
          j["index"] = e.index;
          j["path"] = e.path;
          j["relative"] = e.relative;
          j["outbox"] = e.outbox;
          j["size_bytes"] = e.size_bytes;
          if (e.sealed) j["sealed"] = true;
        } else if constexpr (std::is_same_v<T, AttestHelloEvent>) {
          j["type"] = "attest_hello";
          j["public_key"] = e.public_key;
        } else if constexpr (std::is_same_v<T, AttestReportEvent>) {
          j["type"] = "attest_report";
          j["report_data"] = e.report_data;
        } else {
          j["type"] = "finished";
          j["state"] = std::string(FinalStateName(e.state));
          j["system_logs"] = e.system_logs;
        }
        return j;
      },
      event);
}

std::string EventToLine(const WorkerEvent& event) {
  std::string line = ToJson(event).dump(-1, ' ', false, json::error_handler_t::replace);
  line += '\n';
  return line;
}

absl::StatusOr<WorkerEvent> EventFromJson(const json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("event: must be a JSON object");
  Errors errors;
  const std::string type = ReadString(j, "", "type", true, errors).value_or("");
  if (!errors.empty()) return absl::InvalidArgumentError(Join(errors));
  auto time = [&](std::string_view key) {
    std::string t = ReadString(j, "", key, true, errors).value_or("");
    if (!t.empty() && !IsRfc3339Utc(t)) {
      errors.push_back(fmt::format("{}: \"{}\" is not an RFC 3339 UTC time", key, t));
    }
    return t;
  };
  auto index = [&] { return ReadSmallInt(j, "", "index", true, 0, errors).value_or(0); };
  WorkerEvent event;
  if (type == "running") {
    event = RunningEvent{.time = time("time")};
  } else if (type == "executor_started") {
    ExecutorStartedEvent e;
    e.index = index();
    e.time = time("time");
    event = e;
  } else if (type == "executor_finished") {
    ExecutorFinishedEvent e;
    e.index = index();
    e.exit_code = ReadSmallInt(j, "", "exit_code", true, INT32_MIN, errors).value_or(0);
    e.start_time = time("start_time");
    e.end_time = time("end_time");
    e.stdout_tail = ReadString(j, "", "stdout", true, errors).value_or("");
    e.stderr_tail = ReadString(j, "", "stderr", true, errors).value_or("");
    event = std::move(e);
  } else if (type == "output") {
    OutputEvent e;
    e.index = index();
    e.path = ReadString(j, "", "path", true, errors).value_or("");
    e.relative = ReadString(j, "", "relative", true, errors).value_or("");
    e.outbox = ReadString(j, "", "outbox", true, errors).value_or("");
    std::optional<std::int64_t> size = ReadInt(j, "", "size_bytes", true, errors);
    if (size && *size < 0) errors.push_back("size_bytes: must be >= 0");
    e.size_bytes = size && *size > 0 ? static_cast<std::uint64_t>(*size) : 0;
    e.sealed = ReadBool(j, "", "sealed", errors).value_or(false);
    if (errors.empty() && (e.path.empty() || e.path[0] != '/')) {
      errors.push_back("path: must be absolute");
    }
    if (errors.empty() && !IsSafeRelative(e.outbox)) {
      errors.push_back("outbox: must be a relative path without \"..\"");
    }
    event = std::move(e);
  } else if (type == "finished") {
    FinishedEvent e;
    const std::string state = ReadString(j, "", "state", true, errors).value_or("");
    if (state == "COMPLETE") {
      e.state = FinalState::kComplete;
    } else if (state == "EXECUTOR_ERROR") {
      e.state = FinalState::kExecutorError;
    } else if (state == "SYSTEM_ERROR") {
      e.state = FinalState::kSystemError;
    } else if (errors.empty()) {
      errors.push_back(fmt::format("state: unknown \"{}\"", state));
    }
    e.system_logs = ReadStringArray(j, "", "system_logs", true, errors);
    event = std::move(e);
  } else if (type == "attest_hello") {
    event = AttestHelloEvent{ReadString(j, "", "public_key", true, errors).value_or("")};
  } else if (type == "attest_report") {
    event = AttestReportEvent{ReadString(j, "", "report_data", true, errors).value_or("")};
  } else {
    errors.push_back(fmt::format("type: unknown \"{}\"", type));
  }
  if (!errors.empty()) return absl::InvalidArgumentError(Join(errors));
  return event;
}

absl::StatusOr<WorkerEvent> ParseEventLine(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (line.find('\n') != std::string_view::npos) {
    return absl::InvalidArgumentError("event: more than one line");
  }
  const json j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("event: not valid JSON");
  return EventFromJson(j);
}

// ---- helpers -------------------------------------------------------------------------------

std::string FormatTime(std::chrono::system_clock::time_point t) {
  const std::int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::int64_t secs = ms / 1000;
  std::int64_t milli = ms % 1000;
  if (milli < 0) {
    milli += 1000;
    secs -= 1;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
}

bool IsRfc3339Utc(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.f+]Z
  if (s.size() < 20) return false;
  if (!AllDigits(s.substr(0, 4)) || s[4] != '-' || !AllDigits(s.substr(5, 2)) || s[7] != '-' ||
      !AllDigits(s.substr(8, 2)) || (s[10] != 'T' && s[10] != 't') || !AllDigits(s.substr(11, 2)) ||
      s[13] != ':' || !AllDigits(s.substr(14, 2)) || s[16] != ':' || !AllDigits(s.substr(17, 2))) {
    return false;
  }
  const int month = (s[5] - '0') * 10 + (s[6] - '0');
  const int day = (s[8] - '0') * 10 + (s[9] - '0');
  const int hour = (s[11] - '0') * 10 + (s[12] - '0');
  const int minute = (s[14] - '0') * 10 + (s[15] - '0');
  const int second = (s[17] - '0') * 10 + (s[18] - '0');
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return false;
  }
  std::string_view rest = s.substr(19);
  if (!rest.empty() && rest[0] == '.') {
    std::size_t n = 1;
    while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
    if (n == 1) return false;
    rest.remove_prefix(n);
  }
  return rest == "Z" || rest == "z";
}

std::string SanitizeUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t i = 0;
  while (i < bytes.size()) {
    const std::size_t n = ValidSequenceLength(bytes, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(bytes.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string Utf8Tail(std::string_view bytes, std::size_t max_bytes) {
  if (max_bytes == 0 || bytes.empty()) return "";
  std::size_t start = bytes.size() > max_bytes ? bytes.size() - max_bytes : 0;
  if (start > 0) {
    // Do not start in the middle of a character cut by the tail.
    for (int k = 0; k < 3 && start < bytes.size() && IsContinuation(bytes[start]); ++k) ++start;
  }
  std::string out = SanitizeUtf8(bytes.substr(start));
  if (out.size() > max_bytes) {
    // Replacements grew it: drop whole characters from the front.
    std::size_t cut = out.size() - max_bytes;
    while (cut < out.size() && IsContinuation(out[cut])) ++cut;
    out.erase(0, cut);
  }
  return out;
}

// ---- control messages ----------------------------------------------------------------------

namespace {

std::string B64(std::string_view raw) {
  std::string out;
  absl::WebSafeBase64Escape(absl::string_view(raw.data(), raw.size()), &out);
  return out;
}

std::optional<std::string> UnB64(const json& j, const char* key, Errors& errors) {
  std::optional<std::string> text = ReadString(j, "", key, true, errors);
  if (!text) return std::nullopt;
  std::string raw;
  if (text->find('=') != std::string::npos ||
      !absl::WebSafeBase64Unescape(absl::string_view(*text), &raw)) {
    errors.push_back(fmt::format("{}: not base64url", key));
    return std::nullopt;
  }
  return raw;
}

}  // namespace

std::string ControlToLine(const ControlMessage& m) {
  json j = {{"type", m.type}};
  if (m.type == "challenge") {
    j["nonce"] = B64(m.nonce);
  } else if (m.type == "keys") {
    j["token_id"] = m.token_id;
    j["mr_enclave"] = m.mr_enclave;
    j["keys"] = json::array();
    for (const ControlKey& k : m.keys) {
      j["keys"].push_back({{"key_id", k.key_id},
                           {"ephemeral_public_key", B64(k.ephemeral_public_key)},
                           {"ciphertext", B64(k.ciphertext)}});
    }
  } else {
    j["msg"] = m.msg;
  }
  std::string line = j.dump(-1, ' ', false, json::error_handler_t::replace);
  line += '\n';
  return line;
}

absl::StatusOr<ControlMessage> ParseControlLine(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  const json j = json::parse(line.begin(), line.end(), nullptr, false);
  if (!j.is_object()) return absl::InvalidArgumentError("control: not a JSON object");
  Errors errors;
  ControlMessage m;
  m.type = ReadString(j, "", "type", true, errors).value_or("");
  if (m.type == "challenge") {
    m.nonce = UnB64(j, "nonce", errors).value_or("");
  } else if (m.type == "keys") {
    m.token_id = ReadString(j, "", "token_id", true, errors).value_or("");
    m.mr_enclave = ReadString(j, "", "mr_enclave", true, errors).value_or("");
    const json* keys = Field(j, "keys");
    if (keys == nullptr || !keys->is_array()) {
      errors.push_back("keys: required (an array)");
    } else {
      for (const json& k : *keys) {
        if (!k.is_object()) {
          errors.push_back("keys: entries must be objects");
          break;
        }
        ControlKey c;
        c.key_id = ReadString(k, "keys", "key_id", true, errors).value_or("");
        c.ephemeral_public_key = UnB64(k, "ephemeral_public_key", errors).value_or("");
        c.ciphertext = UnB64(k, "ciphertext", errors).value_or("");
        m.keys.push_back(std::move(c));
      }
    }
  } else if (m.type == "refused") {
    m.msg = ReadString(j, "", "msg", true, errors).value_or("");
  } else if (errors.empty()) {
    errors.push_back(fmt::format("type: unknown \"{}\"", m.type));
  }
  if (!errors.empty()) return absl::InvalidArgumentError(Join(errors));
  return m;
}

}  // namespace safeflow::executor::worker
