#include "schemas/tes/decode.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"

#include "schemas/tes/task.h"
#include "schemas/tes/validate.h"

namespace safeflow::schemas::tes::detail {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxKeyBytesInPath = 64;

bool HasWhitespaceOrControl(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return true;
  }
  return false;
}

bool IsPathPrefix(std::string_view prefix, std::string_view path) {
  if (prefix == "/") return !path.empty() && path.front() == '/';
  if (path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

// Walks a tesTask document. Every accessor returns nullopt (or an empty value) when the field is
// absent, null or invalid; invalid values are reported through Fail() with their path.
class Decoder {
 public:
  Decoder(DecodeMode mode, const ValidationLimits& limits) : mode_(mode), limits_(limits) {}

  Decoded Run(const json& j) {
    Decoded out;
    out.task = DecodeTask(j);
    out.errors = std::move(errors_);
    return out;
  }

 private:
  bool validating() const { return mode_ == DecodeMode::kCreateRequest; }

  void Fail(std::string path, std::string message) {
    if (mode_ == DecodeMode::kStored) {
      if (errors_.empty()) errors_.push_back({std::move(path), std::move(message)});
      return;
    }
    if (truncated_) return;
    if (errors_.size() >= limits_.max_errors) {
      truncated_ = true;
      errors_.push_back({"", "too many errors: only the first " +
                                 std::to_string(limits_.max_errors) + " are reported"});
      return;
    }
    errors_.push_back({std::move(path), std::move(message)});
  }

  // nullptr when `key` is absent or null (JSON null means "absent").
  static const json* Field(const json& obj, const char* key) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
  }

  // Checks a string's encoding and size (request mode only). False when reported.
  bool CheckString(std::string_view s, const std::string& path, std::size_t max_bytes,
                   std::string_view what = "") {
    if (!validating()) return true;
    if (!IsValidUtf8(s)) {
      Fail(path, std::string(what) + "must be valid UTF-8");
      return false;
    }
    if (s.size() > max_bytes) {
      Fail(path, std::string(what) + "must be at most " + std::to_string(max_bytes) +
                     " bytes (got " + std::to_string(s.size()) + ")");
      return false;
    }
    return true;
  }

  std::optional<std::string> AsString(const json& v, const std::string& path,
                                      std::size_t max_bytes) {
    if (!v.is_string()) {
      Fail(path, "must be a string");
      return std::nullopt;
    }
    const auto& s = v.get_ref<const std::string&>();
    if (!CheckString(s, path, max_bytes)) return std::nullopt;
    return s;
  }
  std::optional<std::string> AsString(const json& v, const std::string& path) {
    return AsString(v, path, limits_.max_string_bytes);
  }

  std::optional<std::string> OptString(const json& obj, const char* key,
                                       const std::string& parent) {
    const json* f = Field(obj, key);
    if (f == nullptr) return std::nullopt;
    return AsString(*f, JoinPath(parent, key));
  }

  // A required string: "required" when absent, "must not be empty" when "" and `non_empty`.
  std::optional<std::string> ReqString(const json& obj, const char* key, const std::string& parent,
                                       bool non_empty) {
    const json* f = Field(obj, key);
    const std::string path = JoinPath(parent, key);
    if (f == nullptr) {
      if (validating()) Fail(path, "required");
      return std::nullopt;
    }
    auto s = AsString(*f, path);
    if (s && non_empty && s->empty() && validating()) {
      Fail(path, "must not be empty");
      return std::nullopt;
    }
    return s;
  }

  std::optional<bool> OptBool(const json& obj, const char* key, const std::string& parent) {
    const json* f = Field(obj, key);
    if (f == nullptr) return std::nullopt;
    if (!f->is_boolean()) {
      Fail(JoinPath(parent, key), "must be a boolean");
      return std::nullopt;
    }
    return f->get<bool>();
  }

  std::optional<double> OptNumber(const json& obj, const char* key, const std::string& parent) {
    const json* f = Field(obj, key);
    if (f == nullptr) return std::nullopt;
    if (!f->is_number()) {
      Fail(JoinPath(parent, key), "must be a number");
      return std::nullopt;
    }
    const double d = f->get<double>();
    if (!std::isfinite(d)) {
      Fail(JoinPath(parent, key), "must be a finite number");
      return std::nullopt;
    }
    return d;
  }

  // An int32. An integral floating-point value (2.0) is accepted, as JSON Schema does.
  std::optional<std::int32_t> OptInt32(const json& obj, const char* key,
                                       const std::string& parent) {
    const json* f = Field(obj, key);
    if (f == nullptr) return std::nullopt;
    const std::string path = JoinPath(parent, key);
    constexpr auto kMin = std::numeric_limits<std::int32_t>::min();
    constexpr auto kMax = std::numeric_limits<std::int32_t>::max();
    const std::string range_error =
        "must be a 32-bit integer (" + std::to_string(kMin) + ".." + std::to_string(kMax) + ")";
    if (f->is_number_unsigned()) {
      const auto u = f->get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(kMax)) {
        Fail(path, range_error);
        return std::nullopt;
      }
      return static_cast<std::int32_t>(u);
    }
    if (f->is_number_integer()) {
      const auto i = f->get<std::int64_t>();
      if (i < kMin || i > kMax) {
        Fail(path, range_error);
        return std::nullopt;
      }
      return static_cast<std::int32_t>(i);
    }
    if (f->is_number_float()) {
      const double d = f->get<double>();
      if (!std::isfinite(d) || std::trunc(d) != d) {
        Fail(path, "must be an integer");
        return std::nullopt;
      }
      if (d < kMin || d > kMax) {
        Fail(path, range_error);
        return std::nullopt;
      }
      return static_cast<std::int32_t>(d);
    }
    Fail(path, "must be an integer");
    return std::nullopt;
  }

  // The array at obj[key] when present, an array and within `max_items`; else nullptr.
  const json* OptArray(const json& obj, const char* key, const std::string& parent,
                       std::size_t max_items) {
    const json* f = Field(obj, key);
    if (f == nullptr) return nullptr;
    const std::string path = JoinPath(parent, key);
    if (!f->is_array()) {
      Fail(path, "must be an array");
      return nullptr;
    }
    if (f->size() > max_items) {
      Fail(path, "must have at most " + std::to_string(max_items) + " items (got " +
                     std::to_string(f->size()) + ")");
      return nullptr;
    }
    return f;
  }

  // obj[key] as an array of strings; wrong elements are reported and skipped. `check` (request
  // mode only) returns "" or the reason an element is invalid.
  template <typename Check>
  std::vector<std::string> StringArray(const json& obj, const char* key, const std::string& parent,
                                       std::size_t max_items, Check check) {
    std::vector<std::string> out;
    const json* arr = OptArray(obj, key, parent, max_items);
    if (arr == nullptr) return out;
    const std::string path = JoinPath(parent, key);
    out.reserve(arr->size());
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const std::string item_path = IndexPath(path, i);
      auto s = AsString((*arr)[i], item_path);
      if (!s) continue;
      if (validating()) {
        if (std::string reason = check(*s); !reason.empty()) {
          Fail(item_path, std::move(reason));
          continue;
        }
      }
      out.push_back(std::move(*s));
    }
    return out;
  }
  std::vector<std::string> StringArray(const json& obj, const char* key, const std::string& parent,
                                       std::size_t max_items) {
    return StringArray(obj, key, parent, max_items,
                       [](const std::string&) { return std::string(); });
  }

  // obj[key] as a map of string to string. `check(key, value)` (request mode only) returns "" or
  // the reason an entry is invalid.
  template <typename Check>
  std::map<std::string, std::string> StringMap(const json& obj, const char* key,
                                               const std::string& parent, std::size_t max_entries,
                                               Check check) {
    std::map<std::string, std::string> out;
    const json* f = Field(obj, key);
    if (f == nullptr) return out;
    const std::string path = JoinPath(parent, key);
    if (!f->is_object()) {
      Fail(path, "must be an object mapping strings to strings");
      return out;
    }
    if (f->size() > max_entries) {
      Fail(path, "must have at most " + std::to_string(max_entries) + " entries (got " +
                     std::to_string(f->size()) + ")");
      return out;
    }
    for (const auto& item : f->items()) {
      const std::string& k = item.key();
      const json& v = item.value();
      const std::string entry_path = KeyPath(path, k);
      if (!CheckString(k, entry_path, limits_.max_string_bytes, "key ")) continue;
      auto s = AsString(v, entry_path);
      if (!s) continue;
      if (validating()) {
        if (std::string reason = check(k, *s); !reason.empty()) {
          Fail(entry_path, std::move(reason));
          continue;
        }
      }
      out.emplace(k, std::move(*s));
    }
    return out;
  }
  std::map<std::string, std::string> StringMap(const json& obj, const char* key,
                                               const std::string& parent, std::size_t max_entries) {
    return StringMap(obj, key, parent, max_entries,
                     [](const std::string&, const std::string&) { return std::string(); });
  }

  // Decodes obj[key], an array of objects, with `decode(element, path)`.
  template <typename T, typename DecodeFn>
  std::vector<T> ObjectArray(const json& obj, const char* key, const std::string& parent,
                             std::size_t max_items, DecodeFn decode) {
    std::vector<T> out;
    const json* arr = OptArray(obj, key, parent, max_items);
    if (arr == nullptr) return out;
    const std::string path = JoinPath(parent, key);
    out.reserve(arr->size());
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const std::string item_path = IndexPath(path, i);
      const json& item = (*arr)[i];
      if (!item.is_object()) {
        Fail(item_path, "must be an object");
        continue;
      }
      out.push_back(decode(item, item_path));
    }
    return out;
  }

  std::optional<FileType> OptFileType(const json& obj, const std::string& parent) {
    auto s = OptString(obj, "type", parent);
    if (!s) return std::nullopt;
    auto type = ParseFileType(*s);
    if (!type) Fail(JoinPath(parent, "type"), "must be one of FILE, DIRECTORY");
    return type;
  }

  // A container path field (request mode: checked with CheckContainerPath).
  std::optional<std::string> ContainerPath(const json& obj, const char* key,
                                           const std::string& parent, bool required) {
    auto s =
        required ? ReqString(obj, key, parent, /*non_empty=*/false) : OptString(obj, key, parent);
    if (!s || !validating()) return s;
    if (std::string reason = CheckContainerPath(*s); !reason.empty()) {
      Fail(JoinPath(parent, key), std::move(reason));
      return std::nullopt;
    }
    return s;
  }

  // A URL field (request mode: checked with CheckUrl).
  std::optional<std::string> Url(const json& obj, const char* key, const std::string& parent,
                                 bool required) {
    auto s =
        required ? ReqString(obj, key, parent, /*non_empty=*/false) : OptString(obj, key, parent);
    if (!s || !validating()) return s;
    std::string reason = CheckUrl(*s);
    if (!reason.empty() && limits_.allow_bare_path_urls && !s->empty() && s->front() == '/') {
      reason = CheckContainerPath(*s);
    }
    if (!reason.empty()) {
      Fail(JoinPath(parent, key), std::move(reason));
      return std::nullopt;
    }
    return s;
  }

  Input DecodeInput(const json& j, const std::string& path) {
    Input in;
    in.name = OptString(j, "name", path);
    in.description = OptString(j, "description", path);
    const bool has_content = Field(j, "content") != nullptr;
    const bool has_url = Field(j, "url") != nullptr;
    if (validating() && !has_url && !has_content) {
      Fail(JoinPath(path, "url"), "required unless content is given");
    } else if (validating() && has_url && has_content) {
      Fail(JoinPath(path, "url"), "must not be given together with content");
    } else {
      in.url = Url(j, "url", path, /*required=*/false);
    }
    in.path = ContainerPath(j, "path", path, /*required=*/true).value_or("");
    in.type = OptFileType(j, path).value_or(FileType::kFile);
    if (const json* c = Field(j, "content"); c != nullptr) {
      in.content = AsString(*c, JoinPath(path, "content"), limits_.max_content_bytes);
      if (validating() && in.content && in.type == FileType::kDirectory) {
        Fail(JoinPath(path, "content"), "is only allowed for type FILE");
      }
    }
    in.streamable = OptBool(j, "streamable", path);
    return in;
  }

  Output DecodeOutput(const json& j, const std::string& path) {
    Output out;
    out.name = OptString(j, "name", path);
    out.description = OptString(j, "description", path);
    out.url = Url(j, "url", path, /*required=*/true).value_or("");
    auto out_path = ContainerPath(j, "path", path, /*required=*/true);
    out.path = out_path.value_or("");
    out.path_prefix = ContainerPath(j, "path_prefix", path, /*required=*/false);
    if (validating() && out.path_prefix) {
      const std::string prefix_path = JoinPath(path, "path_prefix");
      if (IsWildcard(*out.path_prefix)) {
        Fail(prefix_path, "must not contain wildcards (* ? [)");
      } else if (out_path && !IsPathPrefix(*out.path_prefix, *out_path)) {
        Fail(prefix_path, "must be a prefix of path, ending at a '/' of it");
      }
    }
    out.type = OptFileType(j, path).value_or(FileType::kFile);
    return out;
  }

  Resources DecodeResources(const json& j, const std::string& path) {
    Resources r;
    r.cpu_cores = OptInt32(j, "cpu_cores", path);
    if (validating() && r.cpu_cores && *r.cpu_cores < 1) {
      Fail(JoinPath(path, "cpu_cores"), "must be at least 1");
    }
    r.preemptible = OptBool(j, "preemptible", path);
    r.ram_gb = OptNumber(j, "ram_gb", path);
    if (validating() && r.ram_gb && !(*r.ram_gb > 0)) {
      Fail(JoinPath(path, "ram_gb"), "must be greater than 0");
    }
    r.disk_gb = OptNumber(j, "disk_gb", path);
    if (validating() && r.disk_gb && !(*r.disk_gb > 0)) {
      Fail(JoinPath(path, "disk_gb"), "must be greater than 0");
    }
    r.zones = StringArray(j, "zones", path, limits_.max_zones);
    r.backend_parameters = StringMap(j, "backend_parameters", path, limits_.max_backend_parameters);
    r.backend_parameters_strict = OptBool(j, "backend_parameters_strict", path);
    return r;
  }

  Executor DecodeExecutor(const json& j, const std::string& path) {
    Executor e;
    if (auto image = ReqString(j, "image", path, /*non_empty=*/true)) {
      if (validating() && HasWhitespaceOrControl(*image)) {
        Fail(JoinPath(path, "image"), "must not contain whitespace or control characters");
      } else {
        e.image = std::move(*image);
      }
    }
    const std::string command_path = JoinPath(path, "command");
    if (const json* command = Field(j, "command"); command == nullptr) {
      if (validating()) Fail(command_path, "required");
    } else {
      if (validating() && command->is_array() && command->empty()) {
        Fail(command_path, "must not be empty");
      }
      e.command =
          StringArray(j, "command", path, limits_.max_command_args, [](const std::string& arg) {
            return arg.find('\0') == std::string::npos ? std::string()
                                                       : std::string("must not contain NUL");
          });
    }
    e.workdir = ContainerPath(j, "workdir", path, /*required=*/false);
    e.stdin_path = ContainerPath(j, "stdin", path, /*required=*/false);
    e.stdout_path = ContainerPath(j, "stdout", path, /*required=*/false);
    e.stderr_path = ContainerPath(j, "stderr", path, /*required=*/false);
    e.env = StringMap(j, "env", path, limits_.max_env,
                      [](const std::string& name, const std::string& value) -> std::string {
                        if (name.empty()) return "variable name must not be empty";
                        if (name.find('=') != std::string::npos) {
                          return "variable name must not contain '='";
                        }
                        if (name.find('\0') != std::string::npos) {
                          return "variable name must not contain NUL";
                        }
                        if (value.find('\0') != std::string::npos) {
                          return "value must not contain NUL";
                        }
                        return "";
                      });
    e.ignore_error = OptBool(j, "ignore_error", path);
    return e;
  }

  ExecutorLog DecodeExecutorLog(const json& j, const std::string& path) {
    ExecutorLog log;
    log.start_time = OptString(j, "start_time", path);
    log.end_time = OptString(j, "end_time", path);
    log.stdout_text = OptString(j, "stdout", path);
    log.stderr_text = OptString(j, "stderr", path);
    log.exit_code = OptInt32(j, "exit_code", path).value_or(0);
    return log;
  }

  OutputFileLog DecodeOutputFileLog(const json& j, const std::string& path) {
    OutputFileLog log;
    log.url = OptString(j, "url", path).value_or("");
    log.path = OptString(j, "path", path).value_or("");
    log.size_bytes = OptString(j, "size_bytes", path).value_or("");
    return log;
  }

  TaskLog DecodeTaskLog(const json& j, const std::string& path) {
    constexpr std::size_t kUnlimited = std::numeric_limits<std::size_t>::max();
    TaskLog log;
    log.logs = ObjectArray<ExecutorLog>(
        j, "logs", path, kUnlimited,
        [this](const json& e, const std::string& p) { return DecodeExecutorLog(e, p); });
    log.metadata = StringMap(j, "metadata", path, kUnlimited);
    log.start_time = OptString(j, "start_time", path);
    log.end_time = OptString(j, "end_time", path);
    log.outputs = ObjectArray<OutputFileLog>(
        j, "outputs", path, kUnlimited,
        [this](const json& e, const std::string& p) { return DecodeOutputFileLog(e, p); });
    log.system_logs = StringArray(j, "system_logs", path, kUnlimited);
    return log;
  }

  Task DecodeTask(const json& j) {
    Task task;
    if (!j.is_object()) {
      Fail("", "must be a JSON object (a tesTask)");
      return task;
    }
    const std::string root;
    if (!validating()) {
      task.id = OptString(j, "id", root).value_or("");
      if (auto state = OptString(j, "state", root)) {
        if (auto parsed = ParseState(*state)) {
          task.state = *parsed;
        } else {
          Fail("state", "unknown state \"" + *state + "\"");
        }
      }
    }
    task.name = OptString(j, "name", root);
    task.description = OptString(j, "description", root);
    task.inputs = ObjectArray<Input>(
        j, "inputs", root, limits_.max_inputs,
        [this](const json& e, const std::string& p) { return DecodeInput(e, p); });
    task.outputs = ObjectArray<Output>(
        j, "outputs", root, limits_.max_outputs,
        [this](const json& e, const std::string& p) { return DecodeOutput(e, p); });
    if (const json* r = Field(j, "resources"); r != nullptr) {
      if (r->is_object()) {
        task.resources = DecodeResources(*r, "resources");
      } else {
        Fail("resources", "must be an object");
      }
    }
    if (const json* executors = Field(j, "executors"); executors == nullptr) {
      if (validating()) Fail("executors", "required");
    } else {
      if (validating() && executors->is_array() && executors->empty()) {
        Fail("executors", "must not be empty");
      }
      task.executors = ObjectArray<Executor>(
          j, "executors", root, limits_.max_executors,
          [this](const json& e, const std::string& p) { return DecodeExecutor(e, p); });
    }
    task.volumes = StringArray(j, "volumes", root, limits_.max_volumes,
                               [](const std::string& v) { return CheckContainerPath(v); });
    task.tags = StringMap(j, "tags", root, limits_.max_tags);
    if (!validating()) {
      task.logs = ObjectArray<TaskLog>(
          j, "logs", root, std::numeric_limits<std::size_t>::max(),
          [this](const json& e, const std::string& p) { return DecodeTaskLog(e, p); });
      task.creation_time = OptString(j, "creation_time", root);
    }
    return task;
  }

  const DecodeMode mode_;
  const ValidationLimits& limits_;
  std::vector<FieldError> errors_;
  bool truncated_ = false;
};

}  // namespace

std::string JoinPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string out(parent);
  out += '.';
  out += key;
  return out;
}

std::string IndexPath(std::string_view parent, std::size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

std::string KeyPath(std::string_view parent, std::string_view key) {
  std::string shown(key.substr(0, kMaxKeyBytesInPath));
  if (key.size() > kMaxKeyBytesInPath) shown += "...";
  return std::string(parent) + "[" +
         json(shown).dump(-1, ' ', /*ensure_ascii=*/true, json::error_handler_t::replace) + "]";
}

bool IsValidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;  // continuation byte, overlong lead (c0, c1) or beyond U+10FFFF (f5..ff)
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += len;
  }
  return true;
}

Decoded DecodeTask(const nlohmann::json& j, DecodeMode mode, const ValidationLimits& limits) {
  return Decoder(mode, limits).Run(j);
}

}  // namespace safeflow::schemas::tes::detail
