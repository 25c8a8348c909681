// service/wes/run_task.h. The engine task of a WES run: one TES task that stages the approved
// bundle (/wes/wf), the run's params (/wes/params.json) and its data inputs (/wes/data), runs
// the engine in the workflow's approved environment, and sends each declared output to
// <outputs_url>/<output path> and each declared evidence sidecar to <outputs_url>/<evidence
// path>, where the airlock reads it. Pure; thread-safe.
#ifndef SAFEFLOW_SERVICE_WES_RUN_TASK_H_
#define SAFEFLOW_SERVICE_WES_RUN_TASK_H_

#include <map>
#include <string>
#include <string_view>
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

// Evidence sidecars are TES outputs of the task like the declared outputs, but they are not
// outputs of the run: they stay in the zone, where the airlock reads them to check their
// output, and are never released. Their TES output is named "<output name>.evidence" and
// described "disclosure evidence: <output name>".
inline constexpr std::string_view kEvidenceOutputSuffix = ".evidence";
inline constexpr std::string_view kEvidenceDescriptionPrefix = "disclosure evidence: ";

struct RunTask {
  schemas::tes::Task task;
  nlohmann::json outputs = nlohmann::json::object();  // declared output name -> URL
  // Evidence sidecars, not in `outputs`: "<output name>.evidence" -> URL.
  nlohmann::json evidence = nlohmann::json::object();
};

// Whether `output` (of a task BuildRunTask made) is an evidence sidecar, not a declared output.
bool IsEvidenceOutput(const schemas::tes::Output& output);

// InvalidArgument when a bundle file is not UTF-8 text, a data input's parameter is missing or
// not a URL, or the engine refuses an engine parameter.
[[nodiscard]] absl::StatusOr<RunTask> BuildRunTask(const RunTaskInput& in);

}  // namespace safeflow::service::wes

#endif  // SAFEFLOW_SERVICE_WES_RUN_TASK_H_
