#include "service/api/registry_api.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

#include "schemas/tes/decode.h"
#include "service/api/json_io.h"
#include "service/api/multipart.h"
#include "service/api/refusal.h"
#include "service/api/request_context.h"
#include "service/log.h"

namespace safeflow::service {
namespace {

using nlohmann::json;
using store::RegistryKind;

constexpr std::size_t kMaxReason = 1024;
constexpr std::size_t kMaxMultipartOverhead = 1u << 20;  // headers, boundaries, epilogue

// Whether the caller sees every item (workflow admins, auditors) or only approved ones.
bool SeesAll(const HttpRequest& req) {
  return req.principal &&
         (req.principal->Has(Role::kWorkflowAdmin) || req.principal->Has(Role::kAuditor));
}

// Records a refused change to an item of `kind` in the audit log.
void AuditRefusal(store::AuditStore& audit, const HttpRequest& req, RegistryKind kind,
                  const std::string& action, const absl::Status& why, const std::string& object_id,
                  const json& details = json::object()) {
  service::AuditRefusal(audit, req, action, why, std::string(store::RegistryKindName(kind)),
                        object_id, details);
}

// The refused-request answer: 413 for a limit, else the status's own code.
HttpResponse RefusalResponse(const HttpRequest& req, const absl::Status& s) {
  if (absl::IsResourceExhausted(s)) return ErrorResponse(413, std::string(s.message()));
  return FailResponse(req, s);
}

// The files of a multipart/form-data bundle upload, checked against `limits`.
absl::StatusOr<std::vector<registry::BundleFile>> ReadBundle(const HttpRequest& req,
                                                             const registry::BundleLimits& limits) {
  std::optional<std::string> content_type = req.Header("content-type");
  if (!content_type) {
    return absl::InvalidArgumentError(
        "Content-Type: required (multipart/form-data with one workflow_attachment part per "
        "file)");
  }
  absl::StatusOr<std::string> boundary = MultipartBoundary(*content_type);
  if (!boundary.ok()) return boundary.status();
  MultipartLimits mp;
  mp.max_parts = limits.max_files + 1;  // one more, to say which limit was exceeded
  mp.max_header_bytes = 16 * 1024;
  mp.max_field_bytes = 64 * 1024;
  mp.max_file_bytes = limits.max_file_bytes;
  mp.max_total_bytes = limits.max_total_bytes + kMaxMultipartOverhead;
  std::vector<registry::BundleFile> files;
  std::set<std::string> seen;
  std::size_t total = 0;
  MultipartParser parser(*boundary, mp, [&](MultipartPart part) -> absl::Status {
    if (part.name != "workflow_attachment") {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown form field '", part.name.substr(0, 64),
                       "': a bundle is uploaded as workflow_attachment file parts only"));
    }
    if (!part.filename) {
      return absl::InvalidArgumentError(
          "workflow_attachment: every part must be a file whose filename is its relative path");
    }
    const std::string& name = *part.filename;
    if (absl::StatusOr<std::string> p = SafeRelativePath(name); !p.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("workflow_attachment '", name.substr(0, 256), "': ", p.status().message()));
    }
    if (name.size() > limits.max_path_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("workflow_attachment '", name.substr(0, 64),
                                                     "...': path longer than max_path_bytes (",
                                                     limits.max_path_bytes, ")"));
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("workflow_attachment '", name, "': the bundle has two files of this path"));
    }
    if (files.size() + 1 > limits.max_files) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the bundle has more than max_files (", limits.max_files, ") files"));
    }
    if (!schemas::tes::detail::IsValidUtf8(part.data)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "workflow_attachment '", name,
          "': not UTF-8 text (a bundle holds text files only; runs stage them as TES content)"));
    }
    total += part.data.size();
    if (total > limits.max_total_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the bundle's files exceed max_total_bytes (", limits.max_total_bytes, " bytes)"));
    }
    files.push_back(registry::BundleFile{name, std::move(part.data)});
    return absl::OkStatus();
  });
  if (absl::Status s = parser.Feed(req.body); !s.ok()) return s;
  if (absl::Status s = parser.Finish(); !s.ok()) return s;
  if (files.empty()) {
    return absl::InvalidArgumentError(
        "the bundle is empty: send one workflow_attachment file part per file");
  }
  return files;
}

std::string RefOf(const HttpRequest& req) {
  auto it = req.path_params.find("ref");
  return it == req.path_params.end() ? "" : it->second;
}

// The state filter of a list request: nullopt (all), a state, or a 400.
std::optional<HttpResponse> StateFilter(const HttpRequest& req, std::optional<std::string>& state) {
  state = req.Query("state");
  if (state && *state != "pending" && *state != "approved" && *state != "revoked") {
    return ErrorResponse(400, "state: one of pending, approved, revoked");
  }
  return std::nullopt;
}

}  // namespace

json RegistryItemJson(const store::RegistryItem& item) {
  json j = {{"id", item.digest},
            {"kind", std::string(store::RegistryKindName(item.kind))},
            {"name", item.name},
            {"version", item.version},
            {"state", item.state},
            {"manifest", item.manifest},
            {"created_by", item.created_by},
            {"created_at", item.created_at},
            {"approvers", item.approvers}};
  if (item.approved_at) j["approved_at"] = *item.approved_at;
  if (item.revoked_by) j["revoked_by"] = *item.revoked_by;
  if (item.revoked_at) j["revoked_at"] = *item.revoked_at;
  if (item.revoke_reason) j["revoke_reason"] = *item.revoke_reason;
  if (item.kind == RegistryKind::kWorkflow) {
    j["files"] = json::array();
    for (const store::RegistryFileInfo& f : item.files) {
      j["files"].push_back({{"path", f.path}, {"size", f.size}, {"sha256", f.sha256}});
    }
  }
  return j;
}

absl::Status RegisterRegistryRoutes(HttpServer& server, store::RegistryStore& registry,
                                    store::AuditStore& audit, RegistryApiOptions options) {
  const std::set<Role> admins = {Role::kWorkflowAdmin};
  const std::set<Role> readers = {Role::kWorkflowAdmin, Role::kAuditor, Role::kResearcher};

  // POST /admin/v1/workflows (multipart/form-data).
  auto register_workflow = [&registry, &audit, options](HttpRequest& req) -> HttpResponse {
    const std::string action = "workflow.register";
    auto refuse = [&](const absl::Status& s, const std::string& object_id = "",
                      const json& details = json::object()) {
      AuditRefusal(audit, req, RegistryKind::kWorkflow, action, s, object_id, details);
      return RefusalResponse(req, s);
    };
    absl::StatusOr<std::vector<registry::BundleFile>> files = ReadBundle(req, options.limits);
    if (!files.ok()) return refuse(files.status());
    const std::string digest = registry::BundleDigest(*files);
    std::vector<std::string> paths;
    const registry::BundleFile* manifest_file = nullptr;
    for (const registry::BundleFile& f : *files) {
      paths.push_back(f.path);
      if (f.path == registry::kManifestPath) manifest_file = &f;
    }
    if (manifest_file == nullptr) {
      return refuse(absl::InvalidArgumentError(
                        absl::StrCat("the bundle has no ", std::string(registry::kManifestPath),
                                     " (the manifest, a workflow_attachment with that filename)")),
                    digest);
    }
    const json manifest_json = json::parse(manifest_file->content, nullptr, false);
    if (manifest_json.is_discarded()) {
      return refuse(absl::InvalidArgumentError(
                        absl::StrCat(std::string(registry::kManifestPath), " is not valid JSON")),
                    digest);
    }
    absl::StatusOr<registry::WorkflowManifest> manifest =
        registry::ParseWorkflowManifest(manifest_json, paths);
    if (!manifest.ok()) return refuse(manifest.status(), digest);
    store::NewRegistryItem item;
    item.kind = RegistryKind::kWorkflow;
    item.digest = digest;
    item.name = manifest->name;
    item.version = manifest->version;
    item.manifest = registry::ToJson(*manifest);
    item.files = std::move(*files);
    item.author = req.principal->subject;
    absl::StatusOr<store::RegistryItem> r = registry.Register(item, AuditOf(req, action));
    if (!r.ok()) {
      if (absl::IsAlreadyExists(r.status())) {
        return refuse(r.status(), digest, {{"name", item.name}, {"version", item.version}});
      }
      return FailResponse(req, r.status());
    }
    Log().info("request_id={} workflow {}@{} ({}) registered by {}", req.request_id, r->name,
               r->version, r->digest, r->created_by);
    return JsonOk(RegistryItemJson(*r), 201);
  };

  // POST /admin/v1/environments (JSON).
  auto register_environment = [&registry, &audit](HttpRequest& req) -> HttpResponse {
    const std::string action = "environment.register";
    auto refuse = [&](const absl::Status& s, const std::string& object_id = "",
                      const json& details = json::object()) {
      AuditRefusal(audit, req, RegistryKind::kEnvironment, action, s, object_id, details);
      return RefusalResponse(req, s);
    };
    json body;
    if (auto bad = ParseJsonObjectBody(req, body)) {
      return refuse(absl::InvalidArgumentError(
          json::parse(bad->body, nullptr, false).value("msg", "request body is not valid")));
    }
    absl::StatusOr<registry::EnvironmentManifest> manifest =
        registry::ParseEnvironmentManifest(body);
    if (!manifest.ok()) return refuse(manifest.status());
    store::NewRegistryItem item;
    item.kind = RegistryKind::kEnvironment;
    item.digest = registry::EnvironmentDigest(*manifest);
    item.name = manifest->name;
    item.version = manifest->version;
    item.manifest = registry::ToJson(*manifest);
    item.author = req.principal->subject;
    absl::StatusOr<store::RegistryItem> r = registry.Register(item, AuditOf(req, action));
    if (!r.ok()) {
      if (absl::IsAlreadyExists(r.status())) {
        return refuse(r.status(), item.digest, {{"name", item.name}, {"version", item.version}});
      }
      return FailResponse(req, r.status());
    }
    Log().info("request_id={} environment {}@{} ({}) registered by {}", req.request_id, r->name,
               r->version, r->digest, r->created_by);
    return JsonOk(RegistryItemJson(*r), 201);
  };

  // The handlers every kind shares.
  auto list = [&registry](RegistryKind kind) {
    return [&registry, kind](HttpRequest& req) -> HttpResponse {
      std::optional<std::string> state;
      if (auto bad = StateFilter(req, state)) return *bad;
      const std::string key = kind == RegistryKind::kWorkflow ? "workflows" : "environments";
      if (!SeesAll(req)) {
        if (state && *state != "approved") return JsonOk({{key, json::array()}});
        state = "approved";
      }
      absl::StatusOr<std::vector<store::RegistryItem>> items = registry.List(kind, state);
      if (!items.ok()) return FailResponse(req, items.status());
      json out = {{key, json::array()}};
      for (const store::RegistryItem& i : *items) out[key].push_back(RegistryItemJson(i));
      return JsonOk(out);
    };
  };

  auto get = [&registry](RegistryKind kind) {
    return [&registry, kind](HttpRequest& req) -> HttpResponse {
      const std::string ref = RefOf(req);
      absl::StatusOr<store::RegistryItem> item = registry.Get(kind, ref);
      if (!item.ok()) return FailResponse(req, item.status());
      if (!SeesAll(req) && item->state != "approved") {
        return ErrorResponse(absl::NotFoundError(
            absl::StrCat(std::string(store::RegistryKindName(kind)), " ", ref, " not found")));
      }
      return JsonOk(RegistryItemJson(*item));
    };
  };

  // Details naming the item `ref` refers to, for the audit record of a refusal.
  auto describe = [&registry](RegistryKind kind, const std::string& ref, json& details) {
    absl::StatusOr<store::RegistryItem> item = registry.Get(kind, ref);
    if (!item.ok()) return ref;
    details["name"] = item->name;
    details["version"] = item->version;
    details["state"] = item->state;
    return item->digest;
  };

  auto approve = [&registry, &audit, options, describe](RegistryKind kind) {
    return [&registry, &audit, options, describe, kind](HttpRequest& req) -> HttpResponse {
      const std::string action =
          absl::StrCat(std::string(store::RegistryKindName(kind)), ".approve");
      const std::string ref = RefOf(req);
      absl::StatusOr<store::RegistryItem> r = registry.Approve(
          kind, ref, req.principal->subject, options.required_approvals, AuditOf(req, action));
      if (!r.ok()) {
        if (absl::IsUnavailable(r.status()) || absl::IsInternal(r.status())) {
          return FailResponse(req, r.status());
        }
        json details = json::object();
        const std::string id = describe(kind, ref, details);
        AuditRefusal(audit, req, kind, action, r.status(), id, details);
        return FailResponse(req, r.status());
      }
      Log().info("request_id={} {} {}@{} approved by {} ({}/{}): {}", req.request_id,
                 store::RegistryKindName(kind), r->name, r->version, req.principal->subject,
                 r->approvers.size(), options.required_approvals, r->state);
      return JsonOk(RegistryItemJson(*r));
    };
  };

  auto revoke = [&registry, &audit, describe](RegistryKind kind) {
    return [&registry, &audit, describe, kind](HttpRequest& req) -> HttpResponse {
      const std::string action =
          absl::StrCat(std::string(store::RegistryKindName(kind)), ".revoke");
      const std::string ref = RefOf(req);
      auto refuse = [&](const absl::Status& s) {
        json details = json::object();
        const std::string id = describe(kind, ref, details);
        AuditRefusal(audit, req, kind, action, s, id, details);
        return FailResponse(req, s);
      };
      json body;
      if (auto bad = ParseJsonObjectBody(req, body)) {
        return refuse(absl::InvalidArgumentError(
            json::parse(bad->body, nullptr, false).value("msg", "request body is not valid")));
      }
      std::vector<std::string> problems;
      for (const auto& [k, v] : body.items()) {
        if (k != "reason") problems.push_back(absl::StrCat(k, ": unknown field"));
      }
      if (!body.contains("reason") || !body["reason"].is_string() ||
          body["reason"].get<std::string>().empty() ||
          body["reason"].get<std::string>().size() > kMaxReason) {
        problems.push_back(
            absl::StrCat("reason: required, a string of 1 to ", kMaxReason, " bytes saying why"));
      }
      if (!problems.empty()) {
        std::string msg;
        for (const std::string& p : problems) absl::StrAppend(&msg, msg.empty() ? "" : "; ", p);
        return refuse(absl::InvalidArgumentError(msg));
      }
      const std::string reason = body["reason"].get<std::string>();
      absl::StatusOr<store::RegistryItem> r =
          registry.Revoke(kind, ref, req.principal->subject, reason, AuditOf(req, action));
      if (!r.ok()) {
        if (absl::IsNotFound(r.status())) return refuse(r.status());
        return FailResponse(req, r.status());
      }
      Log().info("request_id={} {} {}@{} revoked by {}: {}", req.request_id,
                 store::RegistryKindName(kind), r->name, r->version, req.principal->subject,
                 reason);
      return JsonOk(RegistryItemJson(*r));
    };
  };

  const RegistryKind wf = RegistryKind::kWorkflow;
  const RegistryKind env = RegistryKind::kEnvironment;
  return server.HandleAll({
      {"POST", "/admin/v1/workflows", register_workflow, Access::Write(admins)},
      {"GET", "/admin/v1/workflows", list(wf), Access::Read(readers)},
      {"GET", "/admin/v1/workflows/{ref}", get(wf), Access::Read(readers)},
      {"POST", "/admin/v1/workflows/{ref}:approve", approve(wf), Access::Write(admins)},
      {"POST", "/admin/v1/workflows/{ref}:revoke", revoke(wf), Access::Write(admins)},
      {"POST", "/admin/v1/environments", register_environment, Access::Write(admins)},
      {"GET", "/admin/v1/environments", list(env), Access::Read(readers)},
      {"GET", "/admin/v1/environments/{ref}", get(env), Access::Read(readers)},
      {"POST", "/admin/v1/environments/{ref}:approve", approve(env), Access::Write(admins)},
      {"POST", "/admin/v1/environments/{ref}:revoke", revoke(env), Access::Write(admins)},
  });
}

}  // namespace safeflow::service
