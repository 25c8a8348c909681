#include "executor/local/local_backend.h"

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "absl/strings/str_cat.h"

#include "executor/attestation/measurement.h"
#include "executor/local/attempt_runner.h"
#include "executor/log.h"

namespace safeflow::executor {
namespace {

namespace fs = std::filesystem;
namespace tes = schemas::tes;

std::string TopDir(const std::string& path) {
  if (path.size() < 2 || path[0] != '/') return "";
  const size_t slash = path.find('/', 1);
  return path.substr(0, slash);
}

// The non-wildcard leading part of a glob path.
std::string GlobBase(const std::string& path) {
  const size_t w = path.find_first_of("*?[");
  if (w == std::string::npos) return path;
  const size_t slash = path.rfind('/', w);
  return slash == 0 ? "/" : path.substr(0, slash);
}

class LocalBackend final : public Backend {
 public:
  explicit LocalBackend(LocalBackendConfig config) : config_(std::move(config)) {}
  ~LocalBackend() override { Shutdown(); }

  std::string name() const override { return "local"; }

  absl::Status Start(TaskAttempt attempt, TaskEventSink& sink) override {
    auto run = std::make_shared<AttemptControl>();
    run->id = attempt.task_id;
    {
      std::scoped_lock lock(mu_);
      if (shutting_down_) return absl::UnavailableError("local backend is shutting down");
      if (runs_.contains(run->id)) {
        return absl::AlreadyExistsError(absl::StrCat("task ", run->id, " is already running"));
      }
      runs_[run->id] = run;
    }
    std::thread([this, run, attempt = std::move(attempt), &sink]() mutable {
      const std::string dir =
          absl::StrCat(config_.work_dir, "/", attempt.task_id, ".", attempt.attempt);
      RunAttempt(config_, attempt, dir, *run, sink);
      std::scoped_lock lock(mu_);
      runs_.erase(run->id);
      cv_.notify_all();
    }).detach();
    return absl::OkStatus();
  }

  absl::Status Cancel(const std::string& task_id) override {
    std::shared_ptr<AttemptControl> run;
    {
      std::scoped_lock lock(mu_);
      auto it = runs_.find(task_id);
      if (it == runs_.end()) return absl::OkStatus();
      run = it->second;
    }
    run->Kill();
    Log().info("task={} canceled: sandbox killed", task_id);
    return absl::OkStatus();
  }

  std::vector<std::string> Running() const override {
    std::scoped_lock lock(mu_);
    std::vector<std::string> ids;
    for (const auto& [id, run] : runs_) ids.push_back(id);
    return ids;
  }

  void Shutdown() override {
    std::unique_lock lock(mu_);
    shutting_down_ = true;
    for (auto& [id, run] : runs_) run->Kill();
    cv_.wait(lock, [this] { return runs_.empty(); });
  }

 private:
  const LocalBackendConfig config_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<AttemptControl>> runs_;  // guarded by mu_
  bool shutting_down_ = false;                                   // guarded by mu_
};

}  // namespace

SandboxPolicy BaseSandboxPolicy(const LocalBackendConfig& config, const std::string& env_root) {
  SandboxPolicy policy;
  policy.env_root = env_root;
  policy.run_as = config.run_as;
  policy.extra_env = config.extra_env;
  return policy;
}

absl::StatusOr<std::vector<std::string>> LocalWorkerMeasurements(const LocalBackendConfig& config) {
  absl::StatusOr<attestation::MeasuredImage> image =
      attestation::LoadMeasuredImage(config.worker_path);
  if (!image.ok()) return image.status();
  std::set<std::string> roots;
  for (const auto& [name, root] : config.images) roots.insert(root);
  std::vector<std::string> out;
  for (const std::string& root : roots) {
    absl::StatusOr<std::string> mr =
        attestation::MrEnclave(image->sha256_hex, BaseSandboxPolicy(config, root));
    if (!mr.ok()) return mr.status();
    out.push_back(*mr);
  }
  return out;
}

std::vector<std::string> TaskWritableDirs(const tes::Task& task) {
  std::set<std::string> dirs;
  auto add = [&](const std::string& path) {
    std::string top = TopDir(GlobBase(path));
    if (!top.empty() && top != "/tmp") dirs.insert(top);
  };
  for (const tes::Input& i : task.inputs) add(i.path);
  for (const tes::Output& o : task.outputs) add(o.path);
  for (const tes::Executor& e : task.executors) {
    for (const auto& p : {e.workdir, e.stdin_path, e.stdout_path, e.stderr_path}) {
      if (p) add(*p);
    }
  }
  for (const std::string& v : task.volumes) add(v);
  return {dirs.begin(), dirs.end()};
}

absl::StatusOr<std::unique_ptr<Backend>> NewLocalBackend(LocalBackendConfig config) {
  if (config.work_dir.empty() || config.work_dir[0] != '/') {
    return absl::InvalidArgumentError("local backend: work_dir must be an absolute path");
  }
  if (::access(config.worker_path.c_str(), X_OK) != 0) {
    return absl::NotFoundError(
        absl::StrCat("local backend: safeflow-worker not found at '", config.worker_path, "'"));
  }
  std::error_code ec;
  fs::create_directories(config.work_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("mkdir ", config.work_dir, ": ", ec.message()));
  ::chmod(config.work_dir.c_str(), 0711);
  return std::unique_ptr<Backend>(std::make_unique<LocalBackend>(std::move(config)));
}

}  // namespace safeflow::executor
