#include "service/api/tes_api.h"

#include <algorithm>
#include <memory>
#include <regex>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

#include "executor/disclosure/declaration.h"
#include "executor/transfer/transfer.h"
#include "schemas/tes/validate.h"
#include "service/api/json_io.h"
#include "service/api/multipart.h"
#include "service/api/paging.h"
#include "service/api/request_context.h"
#include "service/log.h"
#include "service/version.h"

namespace safeflow::service {
namespace tes = schemas::tes;
using nlohmann::json;

namespace {

constexpr int kDefaultPageSize = 256;
constexpr int kMaxPageSize = 2047;
// Container paths a task may not use: the sandbox's read-only system and its own mounts.
constexpr std::string_view kReservedDirs[] = {"/usr",   "/bin",       "/sbin", "/lib",  "/lib32",
                                              "/lib64", "/libx32",    "/etc",  "/proc", "/dev",
                                              "/sys",   "/.safeflow", "/run"};

std::string ReservedPathProblem(const std::string& path) {
  if (path == "/") return "must not be the root directory";
  for (std::string_view d : kReservedDirs) {
    if (path == d ||
        (path.size() > d.size() && path.compare(0, d.size(), d) == 0 && path[d.size()] == '/')) {
      return absl::StrCat("must not be under ", std::string(d),
                          " (the sandbox's read-only system)");
    }
  }
  return "";
}

bool IsJsonContentType(const std::optional<std::string>& ct) {
  if (!ct) return true;  // clients that send none are not wrong, just terse
  std::string media = absl::AsciiStrToLower(ct->substr(0, ct->find(';')));
  media = std::string(absl::StripAsciiWhitespace(media));
  return media == "application/json" ||
         (media.starts_with("application/") && media.ends_with("+json"));
}

const EnvironmentConfig* FindEnvironment(const Config& config, const std::string& image) {
  for (const EnvironmentConfig& e : config.environments) {
    if (e.name == image) return &e;
    if (std::find(e.aliases.begin(), e.aliases.end(), image) != e.aliases.end()) return &e;
  }
  return nullptr;
}

std::vector<std::string> ImageNames(const Config& config) {
  std::vector<std::string> names;
  for (const EnvironmentConfig& e : config.environments) {
    names.push_back(e.name);
    names.insert(names.end(), e.aliases.begin(), e.aliases.end());
  }
  return names;
}

absl::StatusOr<tes::View> ParseViewParam(const HttpRequest& req) {
  std::optional<std::string> v = req.Query("view");
  if (!v) return tes::View::kMinimal;
  std::optional<tes::View> view = tes::ParseView(*v);
  if (!view) return absl::InvalidArgumentError("view must be MINIMAL, BASIC or FULL");
  return *view;
}

}  // namespace

std::string ProjectOf(const tes::Task& task, const Principal& caller) {
  auto it = task.tags.find("project");
  return it == task.tags.end() || it->second.empty() ? caller.DefaultProject() : it->second;
}

std::string BackendOf(const tes::Task& task, const std::string& project,
                      const TesApiOptions& options) {
  if (task.resources) {
    auto it = task.resources->backend_parameters.find("backend");
    if (it != task.resources->backend_parameters.end()) return it->second;
  }
  auto p = options.project_backends.find(project);
  if (p != options.project_backends.end()) return p->second;
  return options.default_backend;
}

absl::Status AdmitTask(const tes::Task& task, const std::string& project, const Config& config,
                       const TesApiOptions& options) {
  std::vector<std::string> problems;
  bool only_permission = true;
  auto problem = [&](std::string p, bool permission = false) {
    problems.push_back(std::move(p));
    only_permission &= permission;
  };
  const EnvironmentConfig* first_env = nullptr;
  for (size_t i = 0; i < task.executors.size(); ++i) {
    const tes::Executor& e = task.executors[i];
    const EnvironmentConfig* env = FindEnvironment(config, e.image);
    if (env != nullptr && first_env != nullptr && env->root != first_env->root) {
      problem(absl::StrCat("executors[", i, "].image: '", e.image, "' is environment '", env->name,
                           "' but executors[0] uses '", first_env->name,
                           "'; all executors of a task run in one environment"));
    }
    if (first_env == nullptr) first_env = env;
    if (env == nullptr) {
      problem(absl::StrCat("executors[", i, "].image: '", e.image,
                           "' is not an approved execution environment (approved: ",
                           absl::StrJoin(ImageNames(config), ", "), ")"));
    } else if (options.check_image) {
      if (absl::Status s = options.check_image(e.image); !s.ok()) {
        problem(absl::StrCat("executors[", i, "].image: ", s.message()),
                absl::IsPermissionDenied(s));
      }
    }
    for (const auto& [field, path] :
         {std::pair{"workdir", e.workdir}, std::pair{"stdin", e.stdin_path},
          std::pair{"stdout", e.stdout_path}, std::pair{"stderr", e.stderr_path}}) {
      if (path) {
        if (std::string why = ReservedPathProblem(*path); !why.empty()) {
          problem(absl::StrCat("executors[", i, "].", field, ": ", why));
        }
      }
    }
  }
  for (size_t i = 0; i < task.inputs.size(); ++i) {
    const tes::Input& in = task.inputs[i];
    if (std::string why = ReservedPathProblem(in.path); !why.empty()) {
      problem(absl::StrCat("inputs[", i, "].path: ", why));
    }
    if (in.url && !in.content) {
      if (absl::Status s = options.check_input_url(*in.url); !s.ok()) {
        problem(absl::StrCat("inputs[", i, "].url: ", std::string(s.message())),
                absl::IsPermissionDenied(s));
      }
    }
  }
  for (size_t i = 0; i < task.outputs.size(); ++i) {
    const tes::Output& out = task.outputs[i];
    if (std::string why = ReservedPathProblem(out.path); !why.empty()) {
      problem(absl::StrCat("outputs[", i, "].path: ", why));
    }
    if (out.url.starts_with(kAirlockScheme)) {
      const std::string where = absl::StrCat("outputs[", i, "].url: ");
      if (options.airlock_staging_dir.empty()) {
        problem(where + "airlock outputs are not enabled here");
      } else if (out.type != tes::FileType::kFile || out.path_prefix) {
        problem(where + "an airlock output must be a single FILE (no path_prefix)");
      } else if (absl::StatusOr<std::string> rel =
                     SafeRelativePath(out.url.substr(kAirlockScheme.size()));
                 !rel.ok()) {
        problem(absl::StrCat(
            where, "'airlock:' must be followed by a relative path: ", rel.status().message()));
      }
      if (out.description && out.description->starts_with("{")) {
        json d = json::parse(*out.description, nullptr, false);
        absl::StatusOr<executor::disclosure::Declaration> decl =
            d.is_discarded() ? absl::InvalidArgumentError("not valid JSON")
                             : executor::disclosure::ParseDeclaration(d, false);
        if (!decl.ok()) {
          problem(absl::StrCat("outputs[", i, "].description: the disclosure declaration: ",
                               decl.status().message()));
        }
      }
      continue;
    }
    if (absl::Status s = options.check_output_url(out.url); !s.ok()) {
      problem(absl::StrCat("outputs[", i, "].url: ", std::string(s.message())),
              absl::IsPermissionDenied(s));
    }
  }
  for (size_t i = 0; i < task.volumes.size(); ++i) {
    if (std::string why = ReservedPathProblem(task.volumes[i]); !why.empty()) {
      problem(absl::StrCat("volumes[", i, "]: ", why));
    }
  }
  const std::string backend = BackendOf(task, project, options);
  auto backend_it = options.backends.find(backend);
  if (backend_it == options.backends.end()) {
    std::vector<std::string> names;
    for (const auto& [n, p] : options.backends) names.push_back(n);
    problem(absl::StrCat("resources.backend_parameters.backend: '", backend,
                         "' is not available (available: ", absl::StrJoin(names, ", "), ")"));
  }
  if (task.resources) {
    const tes::Resources& r = *task.resources;
    const int max_cpus = config.local.max_cpu_cores > 0 ? config.local.max_cpu_cores : options.cpus;
    if (backend == "local" && r.cpu_cores && *r.cpu_cores > max_cpus) {
      problem(
          absl::StrCat("resources.cpu_cores: ", *r.cpu_cores, " exceeds the limit of ", max_cpus));
    }
    if (r.ram_gb && *r.ram_gb > config.local.max_ram_gb) {
      problem(absl::StrCat("resources.ram_gb: ", *r.ram_gb, " exceeds the limit of ",
                           config.local.max_ram_gb));
    }
    if (r.disk_gb && *r.disk_gb > config.local.max_disk_gb) {
      problem(absl::StrCat("resources.disk_gb: ", *r.disk_gb, " exceeds the limit of ",
                           config.local.max_disk_gb));
    }
    if (auto check = options.check_backend_parameters.find(backend);
        check != options.check_backend_parameters.end() && check->second) {
      for (std::string& p : check->second(r.backend_parameters)) problem(std::move(p));
    }
    if (r.backend_parameters_strict.value_or(false) && backend_it != options.backends.end()) {
      std::set<std::string> allowed(backend_it->second.begin(), backend_it->second.end());
      allowed.insert("backend");
      for (const auto& [k, v] : r.backend_parameters) {
        if (!allowed.contains(k)) {
          problem(absl::StrCat("resources.backend_parameters.", k, ": not supported by backend '",
                               backend, "' (supported: ", absl::StrJoin(allowed, ", "), ")"));
        }
      }
    }
  }
  if (problems.empty()) return absl::OkStatus();
  const std::string msg = absl::StrJoin(problems, "; ");
  return only_permission ? absl::PermissionDeniedError(msg) : absl::InvalidArgumentError(msg);
}

json TesServiceInfo(const Config& config, const TesApiOptions& options) {
  const ServiceInfoConfig& si = config.service_info;
  json storage = json::array();
  for (const std::string& r : config.storage.input_roots) storage.push_back("file://" + r);
  for (const std::string& r : config.storage.output_roots) {
    if (std::find(storage.begin(), storage.end(), "file://" + r) == storage.end()) {
      storage.push_back("file://" + r);
    }
  }
  if (!config.storage.s3.endpoint.empty()) storage.push_back("s3://");
  std::set<std::string> params = {"backend"};
  for (const auto& [name, p] : options.backends) params.insert(p.begin(), p.end());
  json info = {
      {"id", si.id},
      {"name", si.name},
      {"type", {{"group", "org.ga4gh"}, {"artifact", "tes"}, {"version", "1.1.0"}}},
      {"description", si.description},
      {"organization", {{"name", si.organization_name}, {"url", si.organization_url}}},
      {"contactUrl", si.contact_url},
      {"createdAt", options.started_at},
      {"updatedAt", options.started_at},
      {"environment", si.environment},
      {"version", kVersion},
      {"storage", storage},
      {"tesResources_backend_parameters",
       json(std::vector<std::string>(params.begin(), params.end()))},
      {"safeflow_attestation", options.attestation},
  };
  if (options.backends_info) info["safeflow_backends"] = options.backends_info();
  if (!si.documentation_url.empty()) info["documentationUrl"] = si.documentation_url;
  return info;
}

absl::Status RegisterTesRoutes(HttpServer& server, store::TaskStore& tasks,
                               store::AuditStore& audit, const Config& config,
                               TesApiOptions options) {
  auto opts = std::make_shared<const TesApiOptions>(std::move(options));
  tes::ValidationLimits limits;

  Handler create = [&tasks, &audit, &config, opts, limits](HttpRequest& req) -> HttpResponse {
    if (!IsJsonContentType(req.Header("content-type"))) {
      return ErrorResponse(415, "Content-Type must be application/json");
    }
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded()) return ErrorResponse(400, "request body is not valid JSON");
    if (!body.is_object())
      return ErrorResponse(400, "request body must be a JSON object (a tesTask)");
    tes::ParseResult parsed = tes::ParseCreateTask(body, limits);
    if (!parsed.task) return ErrorResponse(400, tes::FormatErrors(parsed.errors));
    const Principal& who = *req.principal;
    const std::string project = ProjectOf(*parsed.task, who);
    if (absl::Status s = AdmitTask(*parsed.task, project, config, *opts); !s.ok()) {
      return ErrorResponse(s);
    }
    if (project.empty() || !who.InProject(project)) {
      store::AuditEntry denied = AuditOf(req, "task.create", "denied");
      denied.project = project;
      denied.object_type = "task";
      if (absl::Status s = audit.Append(denied); !s.ok()) return ErrorResponse(s);
      return ErrorResponse(
          403, project.empty() ? std::string("you are not a member of any project")
                               : absl::StrCat("you are not a member of project '", project, "'"));
    }
    store::NewTask t{*parsed.task, project, who.subject, BackendOf(*parsed.task, project, *opts),
                     nullptr};
    // Airlock outputs are written to a staging place in the zone and leave only through the
    // airlock (service/airlock/), which makes a release request when the task completes.
    const std::string staging =
        absl::StrCat("file://", opts->airlock_staging_dir, "/", project, "/", store::NewTaskId());
    std::set<std::string> names;
    for (size_t i = 0; i < t.task.outputs.size(); ++i) {
      tes::Output& out = t.task.outputs[i];
      if (!out.url.starts_with(kAirlockScheme)) continue;
      const std::string rel = *SafeRelativePath(out.url.substr(kAirlockScheme.size()));
      // The file's name in the release request (a URL path segment): the output's name when
      // it is a plain unique one, else "output-<index>".
      static const std::regex kName("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
      std::string name = absl::StrCat("output-", i);
      if (out.name && std::regex_match(*out.name, kName) && !names.contains(*out.name)) {
        name = *out.name;
      }
      names.insert(name);
      json entry = {{"url", out.url},
                    {"name", name},
                    {"path", rel},
                    {"location", executor::transfer::JoinUrl(staging, rel)}};
      if (out.description && out.description->starts_with("{")) {
        json d = json::parse(*out.description, nullptr, false);
        absl::StatusOr<executor::disclosure::Declaration> decl =
            executor::disclosure::ParseDeclaration(d, false);
        if (decl.ok()) {
          decl->name = entry["name"].get<std::string>();
          decl->path = rel;
          entry["declaration"] = executor::disclosure::ToJson(*decl);
        }
      }
      out.url = entry["location"].get<std::string>();
      if (t.airlock_outputs.is_null()) t.airlock_outputs = json::array();
      t.airlock_outputs.push_back(std::move(entry));
    }
    absl::StatusOr<std::string> id = tasks.Create(t, AuditOf(req, "task.create"));
    if (!id.ok()) {
      Log().error("request_id={} creating task: {}", req.request_id, id.status().message());
      return ErrorResponse(id.status());
    }
    Log().info("request_id={} task={} created project={} backend={}", req.request_id, *id,
               t.project, t.backend);
    return JsonOk(json{{"id", *id}});
  };

  Handler get = [&tasks](HttpRequest& req) -> HttpResponse {
    absl::StatusOr<tes::View> view = ParseViewParam(req);
    if (!view.ok()) return ErrorResponse(view.status());
    absl::StatusOr<store::StoredTask> t = tasks.Get(req.path_params.at("id"), ScopeOf(req));
    if (!t.ok()) {
      if (!absl::IsNotFound(t.status()) && !absl::IsUnavailable(t.status())) {
        Log().error("request_id={} get task: {}", req.request_id, t.status().message());
      }
      return ErrorResponse(t.status());
    }
    return JsonOk(tes::ToJson(t->task, *view));
  };

  Handler list = [&tasks](HttpRequest& req) -> HttpResponse {
    store::ListFilter f;
    std::vector<std::string> problems;
    absl::StatusOr<tes::View> view = ParseViewParam(req);
    if (!view.ok()) problems.emplace_back(view.status().message());
    absl::StatusOr<int> size =
        ParsePageSize(req.Query("page_size"), kDefaultPageSize, kMaxPageSize);
    if (!size.ok()) problems.emplace_back(size.status().message());
    if (std::optional<std::string> st = req.Query("state")) {
      f.state = tes::ParseState(*st);
      if (!f.state) problems.push_back(absl::StrCat("state '", *st, "' is not a TES state"));
    }
    f.name_prefix = req.Query("name_prefix");
    std::vector<std::string> keys, values;
    for (const auto& [k, v] : req.query) {
      if (k == "tag_key") keys.push_back(v);
      if (k == "tag_value") values.push_back(v);
    }
    if (values.size() > keys.size()) {
      problems.push_back("every tag_value needs a tag_key at the same position");
    }
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i].empty()) problems.push_back("tag_key must not be empty");
      f.tags.emplace_back(keys[i], i < values.size() ? values[i] : "");
    }
    if (!problems.empty()) return ErrorResponse(400, absl::StrJoin(problems, "; "));
    f.view = *view;
    f.scope = ScopeOf(req);
    f.page_size = *size;
    f.page_token = req.Query("page_token").value_or("");
    absl::StatusOr<store::TaskPage> page = tasks.List(f);
    if (!page.ok()) {
      if (!absl::IsInvalidArgument(page.status()) && !absl::IsUnavailable(page.status())) {
        Log().error("request_id={} list tasks: {}", req.request_id, page.status().message());
      }
      return ErrorResponse(page.status());
    }
    json out = {{"tasks", json::array()}};
    for (const tes::Task& t : page->tasks) out["tasks"].push_back(tes::ToJson(t, f.view));
    if (!page->next_page_token.empty()) out["next_page_token"] = page->next_page_token;
    return JsonOk(out);
  };

  Handler cancel = [&tasks](HttpRequest& req) -> HttpResponse {
    const std::string& id = req.path_params.at("id");
    absl::StatusOr<tes::State> state = tasks.Cancel(id, ScopeOf(req), AuditOf(req, "task.cancel"));
    if (!state.ok()) return ErrorResponse(state.status());
    Log().info("request_id={} task={} cancel: now {}", req.request_id, id, tes::StateName(*state));
    return JsonOk(json::object());
  };

  Handler info = [&config, opts](HttpRequest&) -> HttpResponse {
    return JsonOk(TesServiceInfo(config, *opts));
  };

  const Access read = Access::Read({Role::kResearcher, Role::kAuditor});
  const Access write = Access::Write({Role::kResearcher});
  for (const char* prefix : {"/ga4gh/tes/v1", "/v1"}) {
    const std::string p = prefix;
    for (auto [method, path, handler, dispatch, access] :
         {std::tuple{"POST", p + "/tasks", create, Dispatch::kPool, write},
          std::tuple{"GET", p + "/tasks", list, Dispatch::kPool, read},
          std::tuple{"GET", p + "/tasks/{id}", get, Dispatch::kPool, read},
          std::tuple{"POST", p + "/tasks/{id}:cancel", cancel, Dispatch::kPool, write},
          std::tuple{"GET", p + "/service-info", info, Dispatch::kInline, Access::Public()}}) {
      if (absl::Status s = server.Handle(method, path, handler, dispatch, access); !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace safeflow::service
