// service/wes/engine.h. The workflow engines a WES run can use (Snakemake 7.21, cwltool,
// Nextflow where installed): finding them, the command line of a run, the parameters the engine
// sees, and the steps it reports in its log. Pure functions except DetectEngines; thread-safe.
//
// Inside the run's worker (a TES task in a sandbox, see service/wes/run_task.h):
//   /wes/wf/<bundle files>     the approved bundle, exactly as registered
//   /wes/data/<input path>     the staged data inputs (manifest `inputs`)
//   /wes/params.json           the params the engine sees (EngineParams)
//   /wes/out/                  the engine's output directory; declared outputs are taken from here
//   HOME=/tmp                  (engines write caches under $HOME)
#ifndef SAFEFLOW_SERVICE_WES_ENGINE_H_
#define SAFEFLOW_SERVICE_WES_ENGINE_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

#include "executor/env.h"
#include "service/registry/bundle.h"

namespace safeflow::service::wes {

inline constexpr char kBundleDir[] = "/wes/wf";
inline constexpr char kDataDir[] = "/wes/data";
inline constexpr char kParamsFile[] = "/wes/params.json";
inline constexpr char kOutputDir[] = "/wes/out";

struct EngineInfo {
  std::string engine;                               // "snakemake", "cwltool", "nextflow"
  std::string workflow_type;                        // "SMK", "CWL", "NFL"
  std::string version;                              // e.g. "7.21.0"
  std::string program;                              // absolute path of the program
  std::vector<std::string> workflow_type_versions;  // e.g. {"v1.0", "v1.1", "v1.2"} for CWL
};

// Finds the engines installed on this host: for each engine, the first program of that name in
// `path`'s absolute directories (":"-separated; tried through env.Run, NotFound meaning "not
// here"), asked "--version" ("-version" for Nextflow) within the timeout. Engines that are
// missing, fail or print no version are left out.
std::vector<EngineInfo> DetectEngines(executor::Env& env, const std::string& path,
                                      std::chrono::milliseconds timeout);
// The version in an engine's "--version" output ("7.21.0\n";
// "/usr/bin/cwltool 3.1.20230209161050\n"; Nextflow's banner). nullopt when none is found.
std::optional<std::string> ParseEngineVersion(std::string_view engine, std::string_view output);

// The engine's command line (argv) for a run of `manifest`, with `engine_parameters` (the
// manifest's fixed ones merged with the caller's allowed ones, already validated).
// snakemake: snakemake --snakefile /wes/wf/<entry> --directory /wes/out --configfile
//   /wes/params.json --cores <cores> --nocolor --printshellcmds [--keep-going] ...
// cwltool: cwltool --disable-color --timestamps --no-container --outdir /wes/out
//   --tmpdir-prefix /tmp/cwl-tmp/ --tmp-outdir-prefix /tmp/cwl-out/ [--parallel]
//   /wes/wf/<entry> /wes/params.json
// nextflow (untested): nextflow -log /tmp/nextflow.log run /wes/wf/<entry> -params-file
//   /wes/params.json -work-dir /tmp/nf-work -ansi-log false
// InvalidArgument for an engine parameter the engine does not know.
[[nodiscard]] absl::StatusOr<std::vector<std::string>> EngineCommand(
    const registry::WorkflowManifest& manifest, const EngineInfo& engine,
    const std::map<std::string, std::string>& engine_parameters);

// The params the engine sees: each data input's parameter replaced by its staged path
// ("/wes/data/<path>" for Snakemake and Nextflow; {"class": "File", "path": ...} for CWL).
nlohmann::json EngineParams(const registry::WorkflowManifest& manifest,
                            const nlohmann::json& workflow_params);

// One step of a run as the engine's log reports it (a Snakemake job, a CWL step).
struct EngineStep {
  std::string id;                         // the engine's job id ("1") or step name
  std::string name;                       // rule or step name
  std::vector<std::string> cmd;           // the shell command, when the log shows it
  std::optional<std::string> start_time;  // RFC 3339 UTC, when the log shows it
  std::optional<std::string> end_time;
  std::optional<int> exit_code;  // 0 when finished successfully; the code when known
  std::string state;             // "RUNNING", "COMPLETE", "EXECUTOR_ERROR"
};
// Parses the engine's stderr (possibly only its tail; a step cut off at the start is still
// reported when its end is seen) into steps, in the order they started. "snakemake" and
// "cwltool" only (others: none). Snakemake's command is {<"Using shell:" or "bash">, "-c",
// <the line --printshellcmds prints>}; 7.21 prints no exit code for a failed job (nullopt).
// A job still RUNNING when the log ends was killed or cut off.
std::vector<EngineStep> ParseEngineSteps(std::string_view engine, std::string_view log);

}  // namespace safeflow::service::wes

#endif  // SAFEFLOW_SERVICE_WES_ENGINE_H_
