#include "service/api/wes_api.h"

#include <algorithm>
#include <set>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "schemas/tes/task.h"
#include "service/api/json_io.h"
#include "service/api/multipart.h"
#include "service/api/paging.h"
#include "service/api/request_context.h"
#include "service/log.h"
#include "service/registry/json_schema.h"
#include "service/store/task_store.h"
#include "service/version.h"
#include "service/wes/run_task.h"

namespace safeflow::service {
namespace tes = schemas::tes;
using nlohmann::json;

namespace {

constexpr const char* kPrefix = "/ga4gh/wes/v1";
const std::string kSafeflowScheme = "safeflow:";
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

// The form fields of a RunRequest (WES 1.1: every field a string; three are JSON-encoded).
constexpr std::string_view kScalarFields[] = {"workflow_type",
                                              "workflow_type_version",
                                              "workflow_url",
                                              "workflow_engine",
                                              "workflow_engine_version",
                                              "workflow_params",
                                              "tags",
                                              "workflow_engine_parameters"};

struct RunForm {
  std::map<std::string, std::string> fields;
  json params = json::object();
  json tags = json::object();
  json engine_parameters = json::object();
  std::vector<registry::BundleFile> attachments;
};

// Decodes the multipart body into a RunForm; 400/413/415 on anything malformed.
absl::StatusOr<RunForm> ParseRunForm(const HttpRequest& req, const WesApiOptions& opts) {
  std::optional<std::string> ct = req.Header("content-type");
  if (!ct) return absl::InvalidArgumentError("Content-Type must be multipart/form-data");
  absl::StatusOr<std::string> boundary = MultipartBoundary(*ct);
  if (!boundary.ok()) return boundary.status();
  MultipartLimits limits;
  limits.max_parts = opts.limits.max_files + std::size(kScalarFields);
  limits.max_field_bytes = opts.max_params_bytes;
  limits.max_file_bytes = opts.limits.max_file_bytes;
  RunForm form;
  std::vector<std::string> problems;
  std::set<std::string> paths;
  size_t attached_bytes = 0;
  absl::StatusOr<std::vector<MultipartPart>> parts = ParseMultipart(req.body, *boundary, limits);
  if (!parts.ok()) return parts.status();
  for (MultipartPart& p : *parts) {
    if (p.name == "workflow_attachment") {
      if (!p.filename) {
        problems.push_back("workflow_attachment: every part needs a filename (its relative path)");
        continue;
      }
      absl::StatusOr<std::string> path = SafeRelativePath(*p.filename);
      if (!path.ok()) {
        problems.push_back(
            absl::StrCat("workflow_attachment '", *p.filename, "': ", path.status().message()));
        continue;
      }
      if (!paths.insert(*path).second) {
        problems.push_back(absl::StrCat("workflow_attachment '", *path, "': attached twice"));
        continue;
      }
      attached_bytes += p.data.size();
      form.attachments.push_back({*path, std::move(p.data)});
      continue;
    }
    if (std::find(std::begin(kScalarFields), std::end(kScalarFields), p.name) ==
        std::end(kScalarFields)) {
      problems.push_back(absl::StrCat("'", p.name, "' is not a RunRequest field"));
      continue;
    }
    if (!form.fields.emplace(p.name, std::move(p.data)).second) {
      problems.push_back(absl::StrCat(p.name, ": given more than once"));
    }
  }
  if (form.attachments.size() > opts.limits.max_files) {
    return absl::ResourceExhaustedError(
        absl::StrCat("workflow_attachment: more than ", opts.limits.max_files, " files"));
  }
  if (attached_bytes > opts.limits.max_total_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("workflow_attachment: more than ",
                                                     opts.limits.max_total_bytes, " bytes in all"));
  }
  for (const char* f : {"workflow_type", "workflow_type_version", "workflow_url"}) {
    if (!form.fields.contains(f) || form.fields[f].empty()) {
      problems.push_back(absl::StrCat(f, ": required"));
    }
  }
  for (auto [field, out, strings] :
       {std::tuple{"workflow_params", &form.params, false}, std::tuple{"tags", &form.tags, true},
        std::tuple{"workflow_engine_parameters", &form.engine_parameters, true}}) {
    auto it = form.fields.find(field);
    if (it == form.fields.end()) continue;
    json j = json::parse(it->second, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      problems.push_back(absl::StrCat(field, ": must be a JSON-encoded object"));
      continue;
    }
    if (strings) {
      for (const auto& [k, v] : j.items()) {
        if (!v.is_string()) {
          problems.push_back(absl::StrCat(field, ".", k, ": must be a string"));
        }
      }
    }
    *out = std::move(j);
  }
  if (!problems.empty()) return absl::InvalidArgumentError(absl::StrJoin(problems, "; "));
  return form;
}

std::string WesState(tes::State s) {
  return s == tes::State::kUnknown ? "UNKNOWN" : std::string(tes::StateName(s));
}

// The base of the URLs we hand out (log links, tes_uri).
std::string BaseUrl(const HttpRequest& req, const WesApiOptions& opts) {
  if (!opts.public_url.empty()) {
    std::string u = opts.public_url;
    while (u.ends_with('/')) u.pop_back();
    return u;
  }
  std::string proto = absl::AsciiStrToLower(req.Header("x-forwarded-proto").value_or("http"));
  if (proto != "https") proto = "http";
  // nginx sets X-Forwarded-Host to the Host the client used (port included).
  std::string host =
      req.Header("x-forwarded-host").value_or(req.Header("host").value_or("localhost"));
  host.erase(std::remove_if(host.begin(), host.end(),
                            [](char c) { return c == ' ' || c == '/' || c == '\\' || c < 0x21; }),
             host.end());
  return absl::StrCat(proto, "://", host.empty() ? "localhost" : host);
}

const tes::TaskLog* LastAttempt(const store::StoredRun& run) {
  return run.task.task.logs.empty() ? nullptr : &run.task.task.logs.back();
}

const tes::ExecutorLog* EngineLog(const store::StoredRun& run) {
  const tes::TaskLog* a = LastAttempt(run);
  return a == nullptr || a->logs.empty() ? nullptr : &a->logs.front();
}

std::string RunUrl(const std::string& base, const std::string& id) {
  return absl::StrCat(base, kPrefix, "/runs/", id);
}

// The engine task as a WES TaskLog (also the run's Log).
json EngineTaskLog(const store::StoredRun& run, const std::string& base) {
  const tes::Task& t = run.task.task;
  json log = {{"id", t.id},
              {"name", absl::StrCat(run.workflow_name, "@", run.workflow_version)},
              {"stdout", RunUrl(base, run.id) + "/logs/stdout"},
              {"stderr", RunUrl(base, run.id) + "/logs/stderr"},
              {"tes_uri", absl::StrCat(base, "/ga4gh/tes/v1/tasks/", t.id)}};
  if (!t.executors.empty()) log["cmd"] = t.executors.front().command;
  if (const tes::TaskLog* a = LastAttempt(run)) {
    if (a->start_time) log["start_time"] = *a->start_time;
    if (a->end_time) log["end_time"] = *a->end_time;
    log["system_logs"] = a->system_logs;
  }
  if (const tes::ExecutorLog* e = EngineLog(run); e != nullptr && e->end_time) {
    log["exit_code"] = e->exit_code;
  }
  return log;
}

// Every TaskLog of a run: the engine task, then the steps its log reports.
std::vector<json> RunTaskLogs(const store::StoredRun& run, const std::string& base) {
  std::vector<json> out = {EngineTaskLog(run, base)};
  const tes::ExecutorLog* e = EngineLog(run);
  if (e == nullptr || !e->stderr_text) return out;
  const std::string engine = run.request.value("workflow_engine", std::string());
  std::vector<wes::EngineStep> steps = wes::ParseEngineSteps(engine, *e->stderr_text);
  const std::string tes_uri = absl::StrCat(base, "/ga4gh/tes/v1/tasks/", run.task.task.id);
  const bool ended = tes::IsTerminal(run.task.task.state);
  const tes::TaskLog* attempt = LastAttempt(run);
  for (size_t i = 0; i < steps.size(); ++i) {
    wes::EngineStep& s = steps[i];
    if (ended && s.state == "RUNNING") {  // killed with the engine (failure or cancel)
      s.state = absl::StrCat("ended with the run (", WesState(run.task.task.state), ")");
      if (!s.end_time && attempt != nullptr && attempt->end_time) s.end_time = attempt->end_time;
    }
    json log = {{"id", absl::StrCat(run.task.task.id, ".", i + 1)},
                {"name", s.name},
                {"tes_uri", tes_uri},
                {"system_logs", json::array({absl::StrCat("engine job ", s.id, ": ", s.state)})}};
    if (!s.cmd.empty()) log["cmd"] = s.cmd;
    if (s.start_time) log["start_time"] = *s.start_time;
    if (s.end_time) log["end_time"] = *s.end_time;
    if (s.exit_code) log["exit_code"] = *s.exit_code;
    out.push_back(std::move(log));
  }
  return out;
}

// A run's WES state: its engine task's, except that a COMPLETE engine is RUNNING until the
// airlock has decided on each declared output (the same rule as RunStore::List).
std::string RunState(const store::StoredRun& run) {
  if (run.task.task.state == tes::State::kComplete &&
      (!run.airlock.is_object() || run.airlock.value("state", "") != "decided")) {
    return "RUNNING";
  }
  return WesState(run.task.task.state);
}

json RunLogJson(const store::StoredRun& run, const std::string& base) {
  json request = run.request;
  request.erase("workflow_digest");
  // Released outputs only; every output's airlock status is listed under "airlock".
  json outputs = json::object();
  json airlock = nullptr;
  if (run.airlock.is_object()) {
    const std::string id = run.airlock.value("id", "");
    json files = json::array();
    for (const json& f : run.airlock["files"]) {
      const std::string name = f.value("name", "");
      json entry = f;
      entry["report_url"] = absl::StrCat(base, "/airlock/v1/requests/", id);
      if (f.value("status", "") == "released") {
        const std::string url =
            absl::StrCat(base, "/airlock/v1/requests/", id, "/files/", name, "/content");
        entry["content_url"] = url;
        outputs[name] = {{"location", url},
                         {"path", f.value("path", "")},
                         {"type", f.value("type", "")},
                         {"sha256", f.value("sha256", "")},
                         {"size_bytes", f.value("size_bytes", 0LL)}};
      }
      files.push_back(std::move(entry));
    }
    airlock = {{"request_id", id}, {"state", run.airlock.value("state", "")}, {"files", files}};
  }
  json run_log = EngineTaskLog(run, base);
  run_log.erase("id");
  run_log.erase("tes_uri");
  return {{"run_id", run.id},
          {"request", request},
          {"state", RunState(run)},
          {"run_log", run_log},
          {"task_logs_url", RunUrl(base, run.id) + "/tasks"},
          {"outputs", outputs},
          {"airlock", airlock}};
}

// Page tokens of /runs/{id}/tasks: an offset bound to the run.
std::string TaskPageToken(const std::string& run_id, size_t offset) {
  return absl::WebSafeBase64Escape(json{{"r", run_id}, {"o", offset}}.dump());
}

absl::StatusOr<size_t> TaskPageOffset(const std::string& run_id, const std::string& token) {
  const absl::Status bad = absl::InvalidArgumentError("page_token is not valid for this query");
  std::string raw;
  if (token.size() > 512 || !absl::WebSafeBase64Unescape(token, &raw)) return bad;
  json j = json::parse(raw, nullptr, false);
  if (!j.is_object() || !j.contains("r") || j["r"] != run_id || !j.contains("o") ||
      !j["o"].is_number_unsigned()) {
    return bad;
  }
  return j["o"].get<size_t>();
}

const wes::EngineInfo* FindEngine(const WesApiOptions& opts, const std::string& engine) {
  for (const wes::EngineInfo& e : opts.engines) {
    if (e.engine == engine) return &e;
  }
  return nullptr;
}

// Everything POST /runs needs to admit a run, and the run it makes.
class RunAdmission {
 public:
  RunAdmission(HttpRequest& req, store::RegistryStore& registry, store::AuditStore& audit,
               const Config& config, const WesApiOptions& opts)
      : req_(req), registry_(registry), audit_(audit), config_(config), opts_(opts) {}

  // The run to create, or the error response (already audited).
  std::variant<store::NewRun, HttpResponse> Admit() {
    absl::StatusOr<RunForm> form = ParseRunForm(req_, opts_);
    if (!form.ok()) {
      if (absl::IsResourceExhausted(form.status())) {
        return Refuse(413, "invalid", std::string(form.status().message()));
      }
      return Refuse(400, "invalid", std::string(form.status().message()));
    }
    form_ = *std::move(form);
    const std::string& url = form_.fields["workflow_url"];
    detail_workflow_ = url;

    // Which approved workflow: by name, or by the digest of the attached bundle.
    absl::StatusOr<store::RegistryItem> item = absl::NotFoundError("");
    std::vector<registry::BundleFile> files;
    if (url.starts_with(kSafeflowScheme)) {
      if (!form_.attachments.empty()) {
        return Refuse(400, "invalid",
                      "workflow_attachment must not be given with a safeflow: workflow_url");
      }
      const std::string ref = url.substr(kSafeflowScheme.size());
      if (ref.find('@') == std::string::npos || ref.starts_with("sha256:")) {
        return Refuse(400, "invalid",
                      absl::StrCat("workflow_url '", url, "' must be safeflow:<name>@<version>"));
      }
      item = registry_.Get(store::RegistryKind::kWorkflow, ref);
      if (absl::IsNotFound(item.status())) {
        return Refuse(403, "denied",
                      absl::StrCat("workflow '", ref, "' is not an approved workflow"));
      }
    } else if (!form_.attachments.empty()) {
      const std::string digest = registry::BundleDigest(form_.attachments);
      detail_digest_ = digest;
      item = registry_.Get(store::RegistryKind::kWorkflow, digest);
      if (absl::IsNotFound(item.status())) {
        return Refuse(403, "denied",
                      absl::StrCat("the attached bundle (", digest,
                                   ") is not an approved workflow: its files differ from every "
                                   "registered bundle"));
      }
    } else {
      return Refuse(403, "denied",
                    absl::StrCat("workflow_url '", url,
                                 "' is not an approved workflow: use safeflow:<name>@<version> "
                                 "or attach an approved bundle (URLs are never fetched)"));
    }
    if (!item.ok()) return Error(item.status());
    const std::string ref = absl::StrCat(item->name, "@", item->version);
    detail_workflow_ = ref;
    detail_digest_ = item->digest;
    if (item->state != "approved") {
      return Refuse(
          403, "denied",
          item->state == "revoked"
              ? absl::StrCat("workflow '", ref, "' was revoked",
                             item->revoke_reason && !item->revoke_reason->empty()
                                 ? absl::StrCat(": ", *item->revoke_reason)
                                 : std::string())
              : absl::StrCat("workflow '", ref, "' is not approved yet (", item->state, ")"));
    }
    if (!form_.attachments.empty()) {
      files = form_.attachments;
    } else {
      absl::StatusOr<std::vector<registry::BundleFile>> stored = registry_.Files(item->digest);
      if (!stored.ok()) return Error(stored.status());
      files = *std::move(stored);
    }
    std::vector<std::string> paths;
    for (const registry::BundleFile& f : files) paths.push_back(f.path);
    absl::StatusOr<registry::WorkflowManifest> manifest =
        registry::ParseWorkflowManifest(item->manifest, paths);
    if (!manifest.ok()) return Error(manifest.status());
    const registry::WorkflowManifest& m = *manifest;

    std::vector<std::string> problems;
    if (!form_.attachments.empty() && url != m.entry_point) {
      problems.push_back(absl::StrCat(
          "workflow_url: '", url, "' must name the bundle's entry point '", m.entry_point, "'"));
    }
    if (form_.fields["workflow_type"] != m.workflow_type) {
      problems.push_back(absl::StrCat("workflow_type: '", form_.fields["workflow_type"], "' but ",
                                      ref, " is ", m.workflow_type));
    }
    if (form_.fields["workflow_type_version"] != m.workflow_type_version) {
      problems.push_back(absl::StrCat("workflow_type_version: '",
                                      form_.fields["workflow_type_version"], "' but ", ref, " is ",
                                      m.workflow_type, " ", m.workflow_type_version));
    }
    const wes::EngineInfo* engine = FindEngine(opts_, m.engine);
    if (auto it = form_.fields.find("workflow_engine");
        it != form_.fields.end() && !it->second.empty() && it->second != m.engine) {
      problems.push_back(
          absl::StrCat("workflow_engine: '", it->second, "' but ", ref, " runs on ", m.engine));
    }
    if (auto it = form_.fields.find("workflow_engine_version");
        it != form_.fields.end() && !it->second.empty() && engine != nullptr &&
        it->second != engine->version) {
      problems.push_back(absl::StrCat("workflow_engine_version: '", it->second, "' but this ",
                                      "service has ", m.engine, " ", engine->version));
    }
    // Engine parameters: the manifest's fixed ones, plus those it lets callers set.
    std::map<std::string, std::string> engine_parameters = m.engine_parameters;
    std::vector<std::string> allowed;
    for (const auto& [k, schema] : m.caller_engine_parameters) allowed.push_back(k);
    for (const auto& [k, v] : form_.engine_parameters.items()) {
      auto rule = m.caller_engine_parameters.find(k);
      if (rule == m.caller_engine_parameters.end()) {
        problems.push_back(absl::StrCat(
            "workflow_engine_parameters.", k, ": not allowed by workflow ", ref,
            m.engine_parameters.contains(k) ? " (fixed by its approval)" : "",
            allowed.empty() ? std::string(" (it allows none)")
                            : absl::StrCat(" (allowed: ", absl::StrJoin(allowed, ", "), ")")));
        continue;
      }
      absl::StatusOr<std::shared_ptr<const registry::CompiledSchema>> schema =
          registry::CompiledSchema::Compile(rule->second);
      if (!schema.ok()) return Error(schema.status());
      for (const std::string& p : (*schema)->Validate(v)) {
        // "/: why" is the value itself.
        problems.push_back(absl::StrCat("workflow_engine_parameters.", k,
                                        p.starts_with("/:") ? p.substr(1) : " " + p));
      }
      engine_parameters[k] = v.get<std::string>();
    }
    // Params: the approved schema.
    absl::StatusOr<std::shared_ptr<const registry::CompiledSchema>> schema =
        registry::CompiledSchema::Compile(m.params_schema);
    if (!schema.ok()) return Error(schema.status());
    for (const std::string& p : (*schema)->Validate(form_.params)) {
      problems.push_back(absl::StrCat("workflow_params", p.starts_with("/:") ? p.substr(1) : p));
    }
    for (const auto& [k, v] : form_.tags.items()) {
      if (k.empty() || k.size() > 256 || v.get<std::string>().size() > 4096) {
        problems.push_back(absl::StrCat("tags: keys must be 1..256 bytes, values at most 4096"));
        break;
      }
    }
    if (!problems.empty()) return Refuse(400, "invalid", absl::StrJoin(problems, "; "));
    if (opts_.outputs_dir.empty()) {
      return Refuse(503, "error",
                    "WES runs need somewhere to write outputs: set storage.output_roots "
                    "(or wes.outputs_dir)");
    }
    if (engine == nullptr) {
      return Refuse(503, "error",
                    absl::StrCat("workflow ", ref, " needs ", m.engine,
                                 ", which is not installed on this service"));
    }
    // Project, backend, and the engine task.
    const Principal& who = *req_.principal;
    std::map<std::string, std::string> tags;
    for (const auto& [k, v] : form_.tags.items()) tags[k] = v.get<std::string>();
    std::string project = tags.contains("project") && !tags["project"].empty()
                              ? tags["project"]
                              : who.DefaultProject();
    project_ = project;
    if (project.empty() || !who.InProject(project)) {
      return Refuse(403, "denied",
                    project.empty()
                        ? std::string("you are not a member of any project")
                        : absl::StrCat("you are not a member of project '", project, "'"));
    }
    tags["project"] = project;
    std::string backend = tags.contains("backend") ? tags["backend"] : "";
    if (backend.empty()) {
      auto p = opts_.tes.project_backends.find(project);
      backend = p != opts_.tes.project_backends.end() ? p->second : opts_.tes.default_backend;
    }
    store::NewRun run;
    run.id = store::NewTaskId();
    wes::RunTaskInput in;
    in.run_id = run.id;
    in.workflow_ref = ref;
    in.manifest = &m;
    in.files = &files;
    in.workflow_params = form_.params;
    in.engine_parameters = engine_parameters;
    in.engine = engine;
    in.tags = tags;
    in.outputs_url = absl::StrCat("file://", opts_.outputs_dir, "/", project, "/", run.id);
    in.backend = backend;
    absl::StatusOr<wes::RunTask> task = wes::BuildRunTask(in);
    if (!task.ok()) return Refuse(400, "invalid", std::string(task.status().message()));
    if (absl::Status s = AdmitTask(task->task, project, config_, opts_.tes); !s.ok()) {
      return Refuse(absl::IsPermissionDenied(s) ? 403 : 400,
                    absl::IsPermissionDenied(s) ? "denied" : "invalid",
                    absl::StrCat("the run's task is not admissible: ", s.message()));
    }
    run.task = store::NewTask{task->task, project, who.subject, backend};
    run.workflow_digest = item->digest;
    run.workflow_name = item->name;
    run.workflow_version = item->version;
    run.outputs = task->outputs;
    json request = {{"workflow_params", form_.params},
                    {"workflow_type", m.workflow_type},
                    {"workflow_type_version", m.workflow_type_version},
                    {"workflow_url", url},
                    {"workflow_engine", m.engine},
                    {"workflow_engine_version", engine->version},
                    {"tags", form_.tags},
                    {"workflow_engine_parameters", form_.engine_parameters}};
    if (!form_.attachments.empty()) {
      json names = json::array();
      for (const registry::BundleFile& f : form_.attachments) names.push_back(f.path);
      request["workflow_attachment"] = names;
    }
    run.request = std::move(request);
    return run;
  }

  std::string project() const { return project_; }

 private:
  HttpResponse Refuse(int status, const std::string& outcome, const std::string& msg) {
    store::AuditEntry e = AuditOf(req_, "run.create", outcome);
    e.object_type = "workflow";
    e.object_id = detail_digest_;
    e.project = project_;
    e.details["workflow"] = detail_workflow_.substr(0, 512);
    e.details["reason"] = msg.substr(0, 2048);
    if (absl::Status s = audit_.Append(e); !s.ok()) {
      Log().warn("request_id={} auditing a refused run: {}", req_.request_id, s.message());
    }
    Log().info("request_id={} run refused ({}): {}", req_.request_id, status, msg);
    return ErrorResponse(status, msg);
  }
  HttpResponse Error(const absl::Status& s) {
    Log().error("request_id={} admitting a run: {}", req_.request_id, s.message());
    return ErrorResponse(s);
  }

  HttpRequest& req_;
  store::RegistryStore& registry_;
  store::AuditStore& audit_;
  const Config& config_;
  const WesApiOptions& opts_;
  RunForm form_;
  std::string detail_workflow_, detail_digest_, project_;
};

}  // namespace

json WesServiceInfo(const Config& config, const WesApiOptions& options,
                    const std::map<std::string, long long>& counts) {
  const ServiceInfoConfig& si = config.service_info;
  json types = json::object(), engines = json::object(), defaults = json::array();
  for (const wes::EngineInfo& e : options.engines) {
    json& versions = types[e.workflow_type]["workflow_type_version"];
    if (!versions.is_array()) versions = json::array();
    for (const std::string& v : e.workflow_type_versions) versions.push_back(v);
    engines[e.engine] = {{"workflow_engine_version", json::array({e.version})}};
    for (const registry::EngineParameter& p : registry::EngineParameters(e.engine)) {
      defaults.push_back({{"name", p.name}, {"type", p.type}, {"default_value", p.default_value}});
    }
  }
  std::set<std::string> protocols = {"file"};
  if (!config.storage.s3.endpoint.empty()) protocols.insert("s3");
  if (!config.storage.http_allow_hosts.empty()) protocols.insert({"http", "https"});
  json state_counts = json::object();
  for (tes::State s : tes::AllStates()) {
    auto it = counts.find(std::string(tes::StateName(s)));
    state_counts[WesState(s)] = it == counts.end() ? 0 : it->second;
  }
  json info = {
      {"id", si.id + ".wes"},
      {"name", si.name},
      {"type", {{"group", "org.ga4gh"}, {"artifact", "wes"}, {"version", "1.1.0"}}},
      {"description", si.description},
      {"organization", {{"name", si.organization_name}, {"url", si.organization_url}}},
      {"contactUrl", si.contact_url},
      {"createdAt", options.tes.started_at},
      {"updatedAt", options.tes.started_at},
      {"environment", si.environment},
      {"version", kVersion},
      {"workflow_type_versions", types},
      {"supported_wes_versions", json::array({"1.1.0"})},
      {"supported_filesystem_protocols",
       json(std::vector<std::string>(protocols.begin(), protocols.end()))},
      {"workflow_engine_versions", engines},
      {"default_workflow_engine_parameters", defaults},
      {"system_state_counts", state_counts},
      {"auth_instructions_url",
       si.documentation_url.empty() ? si.contact_url : si.documentation_url},
      {"tags",
       {{"safeflow_workflows",
         "admin-approved only: workflow_url safeflow:<name>@<version> or an "
         "attached approved bundle"}}},
  };
  if (!si.documentation_url.empty()) info["documentationUrl"] = si.documentation_url;
  return info;
}

absl::Status RegisterWesRoutes(HttpServer& server, store::RunStore& runs,
                               store::RegistryStore& registry, store::AuditStore& audit,
                               const Config& config, WesApiOptions options) {
  auto opts = std::make_shared<const WesApiOptions>(std::move(options));

  Handler create = [&runs, &registry, &audit, &config, opts](HttpRequest& req) -> HttpResponse {
    RunAdmission admission(req, registry, audit, config, *opts);
    std::variant<store::NewRun, HttpResponse> admitted = admission.Admit();
    if (auto* refused = std::get_if<HttpResponse>(&admitted)) return *refused;
    store::NewRun& run = std::get<store::NewRun>(admitted);
    absl::StatusOr<std::string> id = runs.Create(run, AuditOf(req, "run.create"));
    if (!id.ok()) {
      Log().error("request_id={} creating run: {}", req.request_id, id.status().message());
      return ErrorResponse(id.status());
    }
    Log().info("request_id={} run={} created workflow={}@{} project={} backend={}", req.request_id,
               *id, run.workflow_name, run.workflow_version, run.task.project, run.task.backend);
    return JsonOk(json{{"run_id", *id}});
  };

  auto get_run = [&runs](HttpRequest& req) -> absl::StatusOr<store::StoredRun> {
    absl::StatusOr<store::StoredRun> run = runs.Get(req.path_params.at("id"), ScopeOf(req));
    if (!run.ok() && !absl::IsNotFound(run.status()) && !absl::IsUnavailable(run.status())) {
      Log().error("request_id={} get run: {}", req.request_id, run.status().message());
    }
    return run;
  };

  Handler get = [get_run, opts](HttpRequest& req) -> HttpResponse {
    absl::StatusOr<store::StoredRun> run = get_run(req);
    if (!run.ok()) return ErrorResponse(run.status());
    return JsonOk(RunLogJson(*run, BaseUrl(req, *opts)));
  };

  Handler status = [get_run](HttpRequest& req) -> HttpResponse {
    absl::StatusOr<store::StoredRun> run = get_run(req);
    if (!run.ok()) return ErrorResponse(run.status());
    return JsonOk(json{{"run_id", run->id}, {"state", RunState(*run)}});
  };

  Handler list = [&runs](HttpRequest& req) -> HttpResponse {
    absl::StatusOr<int> size =
        ParsePageSize(req.Query("page_size"), kDefaultPageSize, kMaxPageSize);
    if (!size.ok()) return ErrorResponse(size.status());
    absl::StatusOr<store::RunPage> page =
        runs.List(ScopeOf(req), *size, req.Query("page_token").value_or(""));
    if (!page.ok()) return ErrorResponse(page.status());
    json out = {{"runs", json::array()}, {"next_page_token", page->next_page_token}};
    for (const store::RunSummaryRow& r : page->runs) {
      json s = {{"run_id", r.id}, {"state", WesState(r.state)}, {"tags", r.tags}};
      if (r.start_time) s["start_time"] = *r.start_time;
      if (r.end_time) s["end_time"] = *r.end_time;
      out["runs"].push_back(std::move(s));
    }
    return JsonOk(out);
  };

  Handler cancel = [&runs](HttpRequest& req) -> HttpResponse {
    const std::string& id = req.path_params.at("id");
    absl::StatusOr<tes::State> state = runs.Cancel(id, ScopeOf(req), AuditOf(req, "run.cancel"));
    if (!state.ok()) return ErrorResponse(state.status());
    Log().info("request_id={} run={} cancel: now {}", req.request_id, id, tes::StateName(*state));
    return JsonOk(json{{"run_id", id}});
  };

  Handler tasks = [get_run, opts](HttpRequest& req) -> HttpResponse {
    absl::StatusOr<int> size =
        ParsePageSize(req.Query("page_size"), kDefaultPageSize, kMaxPageSize);
    if (!size.ok()) return ErrorResponse(size.status());
    absl::StatusOr<store::StoredRun> run = get_run(req);
    if (!run.ok()) return ErrorResponse(run.status());
    size_t offset = 0;
    if (std::optional<std::string> token = req.Query("page_token"); token && !token->empty()) {
      absl::StatusOr<size_t> o = TaskPageOffset(run->id, *token);
      if (!o.ok()) return ErrorResponse(o.status());
      offset = *o;
    }
    std::vector<json> all = RunTaskLogs(*run, BaseUrl(req, *opts));
    json out = {{"task_logs", json::array()}, {"next_page_token", ""}};
    for (size_t i = offset; i < all.size() && i < offset + static_cast<size_t>(*size); ++i) {
      out["task_logs"].push_back(all[i]);
    }
    if (offset + static_cast<size_t>(*size) < all.size()) {
      out["next_page_token"] = TaskPageToken(run->id, offset + static_cast<size_t>(*size));
    }
    return JsonOk(out);
  };

  Handler task = [get_run, opts](HttpRequest& req) -> HttpResponse {
    absl::StatusOr<store::StoredRun> run = get_run(req);
    if (!run.ok()) return ErrorResponse(run.status());
    const std::string& task_id = req.path_params.at("task_id");
    for (json& t : RunTaskLogs(*run, BaseUrl(req, *opts))) {
      if (t["id"] == task_id) return JsonOk(t);
    }
    return ErrorResponse(404, absl::StrCat("task ", task_id, " not found in run ", run->id));
  };

  Handler logs = [get_run](HttpRequest& req) -> HttpResponse {
    const std::string& stream = req.path_params.at("stream");
    if (stream != "stdout" && stream != "stderr") {
      return ErrorResponse(404, "logs are /logs/stdout and /logs/stderr");
    }
    absl::StatusOr<store::StoredRun> run = get_run(req);
    if (!run.ok()) return ErrorResponse(run.status());
    std::string text;
    if (const tes::ExecutorLog* e = EngineLog(*run)) {
      const std::optional<std::string>& t = stream == "stdout" ? e->stdout_text : e->stderr_text;
      text = t.value_or("");
    }
    return HttpResponse::Text(200, std::move(text), "text/plain; charset=utf-8");
  };

  Handler info = [&runs, &config, opts](HttpRequest& req) -> HttpResponse {
    absl::StatusOr<std::map<std::string, long long>> counts = runs.CountByState();
    if (!counts.ok()) {
      Log().warn("request_id={} service-info counts: {}", req.request_id,
                 counts.status().message());
      return ErrorResponse(counts.status());
    }
    return JsonOk(WesServiceInfo(config, *opts, *counts));
  };

  const Access read = Access::Read({Role::kResearcher, Role::kAuditor});
  const Access write = Access::Write({Role::kResearcher});
  const std::string p(kPrefix);
  return server.HandleAll({
      {"GET", p + "/service-info", info, Access::Public()},
      {"GET", p + "/runs", list, read},
      {"POST", p + "/runs", create, write},
      {"GET", p + "/runs/{id}", get, read},
      {"GET", p + "/runs/{id}/status", status, read},
      {"POST", p + "/runs/{id}/cancel", cancel, write},
      {"GET", p + "/runs/{id}/tasks", tasks, read},
      {"GET", p + "/runs/{id}/tasks/{task_id}", task, read},
      {"GET", p + "/runs/{id}/logs/{stream}", logs, read},
  });
}

}  // namespace safeflow::service
