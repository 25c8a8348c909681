// service/wes/run_task.h. The engine task of a WES run: one TES task that stages the approved
// bundle (/wes/wf), the run's params (/wes/params.json) and its data inputs (/wes/data), runs
// the engine in the workflow's approved environment, and sends each declared output to
// <outputs_url>/<output path>. Pure; thread-safe.
#ifndef SAFEFLOW_SERVICE_WES_RUN_TASK_H_
#define SAFEFLOW_SERVICE_WES_RUN_TASK_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

#include "schemas/tes/task.h"
#include "service/registry/bundle.h"
#include "service/wes/engine.h"

namespace safeflow::service::wes {

struct RunTaskInput {
  std::string run_id;
  std::string workflow_ref;  // "<name>@<version>", for the task name and tags
  const registry::WorkflowManifest* manifest = nullptr;
  const std::vector<registry::BundleFile>* files = nullptr;  // the approved bundle
  nlohmann::json workflow_params;                            // validated against the schema
  std::map<std::string, std::string> engine_parameters;      // fixed merged with the caller's
  const EngineInfo* engine = nullptr;
  std::map<std::string, std::string> tags;  // the run's tags (project included)
  std::string outputs_url;                  // "file:///.../<project>/<run id>" (no trailing /)
  std::string backend;                      // the backend the run goes to
};

struct RunTask {
  schemas::tes::Task task;
  nlohmann::json outputs = nlohmann::json::object();  // declared output name -> URL
};

// InvalidArgument when a bundle file is not UTF-8 text, a data input's parameter is missing or
// not a URL, or the engine refuses an engine parameter.
[[nodiscard]] absl::StatusOr<RunTask> BuildRunTask(const RunTaskInput& in);

}  // namespace safeflow::service::wes

#endif  // SAFEFLOW_SERVICE_WES_RUN_TASK_H_
