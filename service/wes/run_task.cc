#include "service/wes/run_task.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#include "schemas/tes/decode.h"

namespace safeflow::service::wes {
namespace tes = schemas::tes;
using nlohmann::json;

bool IsEvidenceOutput(const tes::Output& output) {
  return output.description.value_or("").starts_with(kEvidenceDescriptionPrefix) &&
         output.name.value_or("").ends_with(kEvidenceOutputSuffix);
}

absl::StatusOr<RunTask> BuildRunTask(const RunTaskInput& in) {
  const registry::WorkflowManifest& m = *in.manifest;
  RunTask out;
  tes::Task& t = out.task;
  t.name = absl::StrCat("wes ", in.workflow_ref);
  t.description = absl::StrCat("WES run ", in.run_id, ": ", m.engine, " ", in.engine->version,
                               " running approved workflow ", in.workflow_ref);
  t.tags = in.tags;
  t.tags["wes_run"] = in.run_id;
  t.tags["workflow"] = in.workflow_ref;

  for (const registry::BundleFile& f : *in.files) {
    if (!tes::detail::IsValidUtf8(f.content)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bundle file '", f.path, "' is not UTF-8 text; bundles hold text only"));
    }
    tes::Input input;
    input.name = f.path;
    input.path = absl::StrCat(kBundleDir, "/", f.path);
    input.content = f.content;
    t.inputs.push_back(std::move(input));
  }
  for (const registry::DataInput& d : m.inputs) {
    const json* v = in.workflow_params.is_object() && in.workflow_params.contains(d.param)
                        ? &in.workflow_params.at(d.param)
                        : nullptr;
    if (v == nullptr || !v->is_string() || v->get<std::string>().find("://") == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "workflow_params.", d.param, ": must be the URL of a data file (e.g. file://...)"));
    }
    tes::Input input;
    input.name = d.param;
    input.url = v->get<std::string>();
    input.path = absl::StrCat(kDataDir, "/", d.path);
    t.inputs.push_back(std::move(input));
  }
  tes::Input params;
  params.name = "params";
  params.path = std::string(kParamsFile);
  params.content = EngineParams(m, in.workflow_params).dump(2);
  t.inputs.push_back(std::move(params));

  for (const executor::disclosure::Declaration& o : m.outputs) {
    tes::Output output;
    output.name = o.name;
    output.description =
        absl::StrCat("disclosure: ", std::string(executor::disclosure::OutputTypeName(o.type)));
    output.path = absl::StrCat(kOutputDir, "/", o.path);
    output.url = absl::StrCat(in.outputs_url, "/", o.path);
    out.outputs[o.name] = output.url;
    t.outputs.push_back(std::move(output));
  }
  // Each sidecar after the outputs, written beside them.
  for (const executor::disclosure::Declaration& o : m.outputs) {
    if (o.evidence.empty()) continue;
    const std::string name = absl::StrCat(o.name, std::string(kEvidenceOutputSuffix));
    tes::Output sidecar;
    sidecar.name = name;
    sidecar.description = absl::StrCat(std::string(kEvidenceDescriptionPrefix), o.name);
    sidecar.path = absl::StrCat(kOutputDir, "/", o.evidence);
    sidecar.url = absl::StrCat(in.outputs_url, "/", o.evidence);
    out.evidence[name] = sidecar.url;
    t.outputs.push_back(std::move(sidecar));
  }

  absl::StatusOr<std::vector<std::string>> cmd = EngineCommand(m, *in.engine, in.engine_parameters);
  if (!cmd.ok()) return cmd.status();
  tes::Executor e;
  e.image = m.environment;
  e.command = *std::move(cmd);
  e.workdir = std::string(kOutputDir);
  e.env = {
      {"HOME", "/tmp"}, {"TZ", "UTC"}, {"LC_ALL", "C.UTF-8"}, {"PYTHONDONTWRITEBYTECODE", "1"}};
  t.executors.push_back(std::move(e));

  tes::Resources r;
  r.cpu_cores = m.cpu_cores;
  if (!r.cpu_cores) {
    auto cores = in.engine_parameters.find("cores");
    int n = 0;
    if (cores != in.engine_parameters.end() && absl::SimpleAtoi(cores->second, &n) && n > 0) {
      r.cpu_cores = n;
    }
  }
  r.ram_gb = m.ram_gb;
  r.disk_gb = m.disk_gb;
  r.backend_parameters["backend"] = in.backend;
  if (in.backend == "slurm") {
    r.backend_parameters["time_minutes"] = absl::StrCat(m.max_run_minutes);
  }
  t.resources = std::move(r);
  return out;
}

}  // namespace safeflow::service::wes
