// executor/backend.h. A Backend runs TES task attempts somewhere: "local" (a sandbox on this
// host, executor/local/) or "slurm" (a batch job, executor/slurm/). The scheduler
// (service/scheduler/) claims work from the database and hands each attempt to a backend; the
// backend reports progress through a TaskEventSink. Backends never see the store.
// A durable backend's attempts outlive safeflowd (a SLURM job keeps running while safeflowd
// restarts): the backend reports the job id it submitted, and a later safeflowd adopts the
// attempt by that id instead of running it again. Implementations are thread-safe.
#ifndef SAFEFLOW_EXECUTOR_BACKEND_H_
#define SAFEFLOW_EXECUTOR_BACKEND_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

#include "schemas/tes/task.h"

namespace safeflow::executor {

// One attempt at a task, as the backend receives it.
struct TaskAttempt {
  std::string task_id;
  int attempt = 1;
  std::string project;
  std::string backend;      // the backend the task was assigned to at submission
  schemas::tes::Task task;  // the validated task as submitted
  // For Adopt: the job id the backend reported for this attempt (OnSubmitted); may be empty
  // when safeflowd died between submitting and recording it.
  std::string backend_job_id;
};

// Whether a backend can take and track work now (service-info, /readyz).
struct BackendHealth {
  bool ok = true;
  std::string detail;  // why not, e.g. "slurmctld does not answer: ..."
};

// Receives a running attempt's progress. Called from backend threads; must be thread-safe and
// must not block for long (it writes to the database).
class TaskEventSink {
 public:
  virtual ~TaskEventSink() = default;
  // The sandbox is up and the executors are about to run (state RUNNING).
  virtual void OnRunning(const std::string& task_id) = 0;
  // The attempt's log so far (after each executor, and when outputs are known).
  virtual void OnProgress(const std::string& task_id, const schemas::tes::TaskLog& log) = 0;
  // The attempt ended with `state` (COMPLETE, EXECUTOR_ERROR or SYSTEM_ERROR). Not called
  // for an attempt that was canceled through Backend::Cancel.
  virtual void OnFinished(const std::string& task_id, schemas::tes::State state,
                          const schemas::tes::TaskLog& log) = 0;
  // A durable backend submitted the attempt as `job_id`; returns once that is stored with the
  // task (an error is logged by the backend, which goes on: adoption can still find the job
  // by its name).
  [[nodiscard]] virtual absl::Status OnSubmitted(const std::string& task_id,
                                                 const std::string& job_id) = 0;
  // The attempt was suspended (state PAUSED) for `reason`; OnRunning resumes it.
  virtual void OnPaused(const std::string& task_id, const std::string& reason) = 0;
  // A durable backend's job of a canceled attempt is gone (the batch system confirmed the
  // cancel, or the job had already ended): nothing of the attempt runs any more.
  virtual void OnJobClosed(const std::string& task_id) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Starts the attempt and returns at once; progress goes to `sink` (which must outlive it).
  [[nodiscard]] virtual absl::Status Start(TaskAttempt attempt, TaskEventSink& sink) = 0;
  // Kills the attempt if this backend runs it; OK when it does not (already ended).
  [[nodiscard]] virtual absl::Status Cancel(const std::string& task_id) = 0;
  // Ids of the attempts running now.
  virtual std::vector<std::string> Running() const = 0;
  // Kills every running attempt and waits for their threads; no sink calls after it returns.
  // A durable backend stops tracking instead and leaves its jobs running.
  virtual void Shutdown() = 0;

  // Whether attempts outlive this process (see the top of this file).
  virtual bool Durable() const { return false; }
  // Resumes tracking an attempt started earlier, by this or a dead safeflowd, reporting to
  // `sink` as Start does. attempt.backend_job_id may be empty: the backend then looks the job
  // up by its name. NotFound when the backend has no trace of the attempt (it never started
  // and may be run again); Unavailable when it cannot tell now (try again later).
  [[nodiscard]] virtual absl::Status Adopt(TaskAttempt attempt, TaskEventSink& sink);
  virtual BackendHealth Health() const { return {}; }
};

inline absl::Status Backend::Adopt(TaskAttempt attempt, TaskEventSink& /*sink*/) {
  return absl::UnimplementedError("backend " + name() + " cannot adopt task " + attempt.task_id);
}

}  // namespace safeflow::executor

#endif  // SAFEFLOW_EXECUTOR_BACKEND_H_
