// executor/backend.h. A Backend runs TES task attempts somewhere (the local sandbox now; SLURM
// later). The scheduler (service/scheduler/) claims work from the database and hands each
// attempt to a backend; the backend reports progress through a TaskEventSink. Backends never
// see the store. Implementations are safe to call from multiple threads.
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
  virtual void Shutdown() = 0;
};

}  // namespace safeflow::executor

#endif  // SAFEFLOW_EXECUTOR_BACKEND_H_
