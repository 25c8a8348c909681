#include "executor/hpc/node_job.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

#include "executor/sandbox/unique_fd.h"

namespace safeflow::executor::hpc {
namespace {

namespace tes = schemas::tes;
using nlohmann::json;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string B64(const std::string& raw) {
  std::string out;
  absl::WebSafeBase64Escape(raw, &out);
  return out;
}

json TransferJson(const transfer::TransferConfig& t) {
  json j = {{"input_roots", t.input_roots},           {"output_roots", t.output_roots},
            {"http_allow_hosts", t.http_allow_hosts}, {"max_input_bytes", t.max_input_bytes},
            {"timeout_seconds", t.timeout.count()},   {"ca_bundle", t.ca_bundle}};
  if (t.s3) {
    j["s3"] = {
        {"endpoint", t.s3->endpoint},           {"region", t.s3->region},
        {"access_key_id", t.s3->access_key_id}, {"secret_access_key", t.s3->secret_access_key},
        {"path_style", t.s3->path_style},       {"list_page_size", t.s3->list_page_size}};
  }
  return j;
}

// Reads members with type checks; the first problem is kept.
class Reader {
 public:
  explicit Reader(const json& j, std::string path) : j_(j), path_(std::move(path)) {}

  template <typename T>
  void Get(const char* key, T& out) {
    if (!status_.ok()) return;
    if (!j_.is_object() || !j_.contains(key)) {
      status_ = absl::InvalidArgumentError(absl::StrCat("node job: ", path_, key, ": missing"));
      return;
    }
    try {
      out = j_.at(key).get<T>();
    } catch (const json::exception&) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat("node job: ", path_, key, ": has the wrong type"));
    }
  }
  const json& Object(const char* key) {
    static const json kEmpty = json::object();
    if (!status_.ok()) return kEmpty;
    if (!j_.is_object() || !j_.contains(key) || !j_.at(key).is_object()) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat("node job: ", path_, key, ": missing or not an object"));
      return kEmpty;
    }
    return j_.at(key);
  }
  void Merge(const absl::Status& s) {
    if (status_.ok() && !s.ok()) status_ = s;
  }
  const absl::Status& status() const { return status_; }

 private:
  const json& j_;
  std::string path_;
  absl::Status status_;
};

}  // namespace

std::string SerializeNodeJob(const NodeJob& job) {
  const TaskAttempt& a = job.attempt;
  json j = {
      {"version", job.version},
      {"attempt",
       {{"task_id", a.task_id},
        {"attempt", a.attempt},
        {"project", a.project},
        {"backend", a.backend},
        {"task", tes::ToStoredJson(a.task)}}},
      {"scratch_dir", job.scratch_dir},
      {"events_path", job.events_path},
      {"claim_path", job.claim_path},
      {"worker_path", job.worker_path},
      {"run_as_user", job.run_as_user},
      {"images", job.images},
      {"max_task_seconds", job.max_task_seconds},
      {"default_disk_gb", job.default_disk_gb},
      {"default_ram_gb", job.default_ram_gb},
      {"log_tail_bytes", job.log_tail_bytes},
      {"keep_task_dirs", job.keep_task_dirs},
      {"transfer", TransferJson(job.transfer)},
      {"extra_env", job.extra_env},
      {"enclave", job.enclave},
      {"platform_key_file", job.platform_key_file},
      {"debug_workers", job.debug_workers},
      {"seal_outputs", job.seal_outputs},
      {"attest_timeout_seconds", job.attest_timeout_seconds},
      {"relay",
       {{"base_url", job.relay.base_url},
        {"relay_token", job.relay.relay_token},
        {"ca_bundle", job.relay.ca_bundle},
        {"timeout_seconds", job.relay.timeout_seconds},
        {"output_key_id", job.relay.output_key_id},
        {"output_public_key", B64(job.relay.output_public_key)}}},
  };
  return Dump(j);
}

absl::StatusOr<NodeJob> ParseNodeJob(std::string_view text) {
  const json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return absl::InvalidArgumentError("node job: not a JSON object");
  NodeJob job;
  Reader r(j, "");
  r.Get("version", job.version);
  if (r.status().ok() && job.version != kNodeJobVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "node job: version ", job.version, "; this safeflow-node reads version ", kNodeJobVersion,
        " (safeflowd and safeflow-node must come from the same release)"));
  }
  const json& a = r.Object("attempt");
  Reader ra(a, "attempt.");
  ra.Get("task_id", job.attempt.task_id);
  ra.Get("attempt", job.attempt.attempt);
  ra.Get("project", job.attempt.project);
  ra.Get("backend", job.attempt.backend);
  if (ra.status().ok()) {
    absl::StatusOr<tes::Task> task = tes::FromStoredJson(a.contains("task") ? a["task"] : json());
    if (!task.ok()) {
      ra.Merge(absl::InvalidArgumentError(
          absl::StrCat("node job: attempt.task: ", task.status().message())));
    } else {
      job.attempt.task = *std::move(task);
    }
  }
  r.Merge(ra.status());
  r.Get("scratch_dir", job.scratch_dir);
  r.Get("events_path", job.events_path);
  r.Get("claim_path", job.claim_path);
  r.Get("worker_path", job.worker_path);
  r.Get("run_as_user", job.run_as_user);
  r.Get("images", job.images);
  r.Get("max_task_seconds", job.max_task_seconds);
  r.Get("default_disk_gb", job.default_disk_gb);
  r.Get("default_ram_gb", job.default_ram_gb);
  r.Get("log_tail_bytes", job.log_tail_bytes);
  r.Get("keep_task_dirs", job.keep_task_dirs);
  r.Get("extra_env", job.extra_env);
  r.Get("enclave", job.enclave);
  r.Get("platform_key_file", job.platform_key_file);
  r.Get("debug_workers", job.debug_workers);
  r.Get("seal_outputs", job.seal_outputs);
  r.Get("attest_timeout_seconds", job.attest_timeout_seconds);

  const json& t = r.Object("transfer");
  Reader rt(t, "transfer.");
  rt.Get("input_roots", job.transfer.input_roots);
  rt.Get("output_roots", job.transfer.output_roots);
  rt.Get("http_allow_hosts", job.transfer.http_allow_hosts);
  rt.Get("max_input_bytes", job.transfer.max_input_bytes);
  long long timeout = 0;
  rt.Get("timeout_seconds", timeout);
  job.transfer.timeout = std::chrono::seconds(timeout);
  rt.Get("ca_bundle", job.transfer.ca_bundle);
  if (rt.status().ok() && t.contains("s3")) {
    transfer::S3Config s3;
    Reader rs(t["s3"], "transfer.s3.");
    rs.Get("endpoint", s3.endpoint);
    rs.Get("region", s3.region);
    rs.Get("access_key_id", s3.access_key_id);
    rs.Get("secret_access_key", s3.secret_access_key);
    rs.Get("path_style", s3.path_style);
    rs.Get("list_page_size", s3.list_page_size);
    rt.Merge(rs.status());
    job.transfer.s3 = std::move(s3);
  }
  r.Merge(rt.status());

  const json& rel = r.Object("relay");
  Reader rr(rel, "relay.");
  rr.Get("base_url", job.relay.base_url);
  rr.Get("relay_token", job.relay.relay_token);
  rr.Get("ca_bundle", job.relay.ca_bundle);
  rr.Get("timeout_seconds", job.relay.timeout_seconds);
  rr.Get("output_key_id", job.relay.output_key_id);
  std::string pub;
  rr.Get("output_public_key", pub);
  if (rr.status().ok() && !absl::WebSafeBase64Unescape(pub, &job.relay.output_public_key)) {
    rr.Merge(absl::InvalidArgumentError("node job: relay.output_public_key: not base64url"));
  }
  r.Merge(rr.status());
  if (!r.status().ok()) return r.status();
  return job;
}

std::string NodeEventToLine(const NodeEvent& event) {
  json j;
  if (const auto* s = std::get_if<NodeStarted>(&event)) {
    j = {{"event", "started"}, {"host", s->host}, {"pid", s->pid}};
  } else if (std::holds_alternative<NodeRunning>(event)) {
    j = {{"event", "running"}};
  } else if (const auto* p = std::get_if<NodeProgress>(&event)) {
    j = {{"event", "progress"}, {"log", tes::ToJson(p->log)}};
  } else if (const auto* f = std::get_if<NodeFinished>(&event)) {
    j = {{"event", "finished"},
         {"state", std::string(tes::StateName(f->state))},
         {"log", tes::ToJson(f->log)}};
  }
  return Dump(j);
}

absl::StatusOr<NodeEvent> ParseNodeEventLine(std::string_view line) {
  const json j = json::parse(line, nullptr, false);
  if (!j.is_object() || !j.contains("event") || !j["event"].is_string()) {
    return absl::InvalidArgumentError("node event: not an object with an \"event\" name");
  }
  const std::string name = j["event"].get<std::string>();
  auto log_of = [&]() -> absl::StatusOr<tes::TaskLog> {
    if (!j.contains("log")) return absl::InvalidArgumentError("node event: log missing");
    return tes::TaskLogFromStoredJson(j["log"]);
  };
  if (name == "started") {
    NodeStarted s;
    if (j.contains("host") && j["host"].is_string()) s.host = j["host"].get<std::string>();
    if (j.contains("pid") && j["pid"].is_number_integer()) s.pid = j["pid"].get<long>();
    return NodeEvent(s);
  }
  if (name == "running") return NodeEvent(NodeRunning{});
  if (name == "progress") {
    absl::StatusOr<tes::TaskLog> log = log_of();
    if (!log.ok()) return log.status();
    return NodeEvent(NodeProgress{*std::move(log)});
  }
  if (name == "finished") {
    absl::StatusOr<tes::TaskLog> log = log_of();
    if (!log.ok()) return log.status();
    std::optional<tes::State> st;
    if (j.contains("state") && j["state"].is_string()) {
      st = tes::ParseState(j["state"].get<std::string>());
    }
    if (!st || (*st != tes::State::kComplete && *st != tes::State::kExecutorError &&
                *st != tes::State::kSystemError)) {
      return absl::InvalidArgumentError("node event: finished without a final state");
    }
    return NodeEvent(NodeFinished{*st, *std::move(log)});
  }
  return absl::InvalidArgumentError(absl::StrCat("node event: unknown event '", name, "'"));
}

absl::Status AppendNodeEvent(const std::string& path, const NodeEvent& event, bool sync) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) {
    return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  }
  const std::string line = NodeEventToLine(event) + "\n";
  const ssize_t n = ::write(fd.get(), line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size())) {
    return absl::InternalError(absl::StrCat("write ", path, ": ", std::strerror(errno)));
  }
  if (sync && ::fsync(fd.get()) != 0) {
    return absl::InternalError(absl::StrCat("fsync ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<NodeEvent>> ReadNodeEvents(const std::string& path,
                                                      std::uint64_t& offset, int& bad_lines,
                                                      std::uint64_t max_bytes) {
  std::vector<NodeEvent> out;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    if (errno == ENOENT) return out;
    return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  }
  std::string data;
  char buf[65536];
  std::uint64_t at = offset;
  while (data.size() < max_bytes) {
    const ssize_t n = ::pread(fd.get(), buf, sizeof buf, static_cast<off_t>(at));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("read ", path, ": ", std::strerror(errno)));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    at += static_cast<std::uint64_t>(n);
  }
  size_t start = 0, nl;
  while ((nl = data.find('\n', start)) != std::string::npos) {
    absl::StatusOr<NodeEvent> ev =
        ParseNodeEventLine(std::string_view(data).substr(start, nl - start));
    if (ev.ok()) {
      out.push_back(*std::move(ev));
    } else {
      ++bad_lines;
    }
    start = nl + 1;
  }
  if (start == 0 && data.size() >= max_bytes) {
    // One line longer than max_bytes: skip it rather than stall forever.
    ++bad_lines;
    start = data.size();
  }
  offset += start;
  return out;
}

}  // namespace safeflow::executor::hpc
