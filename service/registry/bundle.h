// service/registry/bundle.h. What an admin registers: a workflow bundle (its files, one of which
// is the manifest `safeflow-manifest.json`) or an execution environment (a manifest only), and
// the digest that identifies it. Pure functions; thread-safe.
//
// Canonical bundle and digest. Files are sorted by path (bytewise); the digest is
//   "sha256:" + hex(SHA-256("safeflow-bundle-v1\n" +
//                           for each file: path + "\0" + decimal size + "\0" + hex sha256 + "\n"))
// so that a researcher who attaches the same files to a WES run (workflow_attachment) gets the
// same digest, and a one-byte change anywhere (manifest included) gives another. An
// environment's digest is the same construction over one file "environment.json" holding its
// canonical manifest (keys sorted, no spaces).
#ifndef SAFEFLOW_SERVICE_REGISTRY_BUNDLE_H_
#define SAFEFLOW_SERVICE_REGISTRY_BUNDLE_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

#include "executor/disclosure/declaration.h"

namespace safeflow::service::registry {

inline constexpr std::string_view kManifestPath = "safeflow-manifest.json";

// Limits on what may be registered or attached (documented in the README).
struct BundleLimits {
  size_t max_files = 256;
  size_t max_file_bytes = 4u << 20;    // one file
  size_t max_total_bytes = 16u << 20;  // all files
  size_t max_path_bytes = 255;
};

struct BundleFile {
  std::string path;     // relative, '/'-separated, no "." or ".." segments (SafeRelativePath)
  std::string content;  // raw bytes
};

// The digest described above. Files need not be sorted; paths must be unique.
std::string BundleDigest(const std::vector<BundleFile>& files);
// hex(SHA-256(data)).
std::string Sha256Hex(std::string_view data);

// A data input: the workflow parameter `param` holds the URL of a file (a dataset in the zone:
// file://, s3://, or a sealed file) that is staged read-only into the run at
// /wes/data/<path> and replaced in the params the engine sees by that path (Snakemake) or by a
// CWL File object (CWL).
struct DataInput {
  std::string param;
  std::string path;  // relative file name under /wes/data
};

// A declared output is an executor::disclosure::Declaration (schemas/disclosure/
// output-declaration.schema.json): the file the workflow writes at <output dir>/<path>, its
// output type and, for magnitude and mean tables, the evidence sidecar it writes beside it.
// Only declared outputs leave the run, each through the airlock, checked according to its type;
// evidence sidecars are read by the airlock inside the zone and never leave.

struct WorkflowManifest {
  std::string name;     // [a-z0-9][a-z0-9._-]{0,63}
  std::string version;  // [A-Za-z0-9][A-Za-z0-9._+-]{0,63}
  std::string description;
  std::string workflow_type;          // "SMK", "CWL" or "NFL"
  std::string workflow_type_version;  // e.g. "7.21" (SMK), "v1.2" (CWL)
  std::string engine;                 // "snakemake", "cwltool" or "nextflow" (from the type)
  std::string entry_point;            // the main file, a path in the bundle
  std::string environment = "host";   // an approved execution environment (TES image name)
  // Engine parameters fixed by the admin (e.g. {"cores": "2"}); callers may not change them.
  std::map<std::string, std::string> engine_parameters;
  // Engine parameters a caller may set: name -> JSON Schema of its (string) value.
  std::map<std::string, nlohmann::json> caller_engine_parameters;
  nlohmann::json params_schema = nlohmann::json::object();  // JSON Schema of workflow_params
  std::vector<DataInput> inputs;
  std::vector<executor::disclosure::Declaration> outputs;
  // Resources of the run's worker; absent: the backend's defaults.
  std::optional<int> cpu_cores;
  std::optional<double> ram_gb, disk_gb;
  int max_run_minutes = 60;  // wall clock of a run (SLURM --time; local max_task_seconds)
};

// The engine parameter names each engine understands, with their defaults (service-info
// default_workflow_engine_parameters). Anything else in a manifest is an error.
struct EngineParameter {
  std::string name, type, default_value, description;
};
const std::vector<EngineParameter>& EngineParameters(std::string_view engine);
// "snakemake" for SMK, "cwltool" for CWL, "nextflow" for NFL; empty for other types.
std::string EngineOfType(std::string_view workflow_type);

// Parses and checks a workflow manifest against its bundle's file paths (the entry point must
// be one of them; params_schema must be a JSON Schema valijson can compile; every input param
// must be a string property of the schema; each output a valid declaration (ParseDeclaration,
// its problems prefixed "manifest.outputs[i]."), output names and paths unique, evidence paths
// distinct from every output path and from each other). InvalidArgument listing every problem,
// "manifest.<field>: why", joined by "; ". ToJson writes each output with ToJson(Declaration).
[[nodiscard]] absl::StatusOr<WorkflowManifest> ParseWorkflowManifest(
    const nlohmann::json& manifest, const std::vector<std::string>& bundle_paths);
nlohmann::json ToJson(const WorkflowManifest& manifest);

// An approved execution environment, registered through the API (config `environments` are
// the built-in ones). Its name is a TES image name.
struct EnvironmentManifest {
  std::string name;
  std::string version;
  std::string description;
  std::string root = "/";            // absolute directory whose usr/ the sandbox binds
  std::vector<std::string> aliases;  // other image names meaning this environment
};
[[nodiscard]] absl::StatusOr<EnvironmentManifest> ParseEnvironmentManifest(
    const nlohmann::json& manifest);
nlohmann::json ToJson(const EnvironmentManifest& manifest);
std::string EnvironmentDigest(const EnvironmentManifest& manifest);

}  // namespace safeflow::service::registry

#endif  // SAFEFLOW_SERVICE_REGISTRY_BUNDLE_H_
