#include "service/api/auth_api.h"

#include <algorithm>
#include <charconv>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

#include "service/api/json_io.h"
#include "service/api/request_context.h"
#include "service/log.h"

namespace safeflow::service {
namespace {

using nlohmann::json;

json PrincipalJson(const Principal& p) {
  json roles = json::array();
  for (Role r : p.roles) roles.push_back(std::string(RoleName(r)));
  return {{"subject", p.subject},
          {"auth_method", p.auth_method},
          {"roles", roles},
          {"projects", p.projects},
          {"all_projects", p.all_projects},
          {"default_project", p.DefaultProject()},
          {"read_only", p.read_only}};
}

json KeyJson(const store::AccessKey& k) {
  json j = {{"id", k.id},
            {"subject", k.subject},
            {"project", k.project},
            {"roles", k.roles},
            {"description", k.description},
            {"created_by", k.created_by},
            {"created_at", k.created_at},
            {"expires_at", k.expires_at}};
  if (k.revoked_at) j["revoked_at"] = *k.revoked_at;
  if (k.last_used_at) j["last_used_at"] = *k.last_used_at;
  return j;
}

json CertJson(const store::CertIdentity& c) {
  json j = {{"fingerprint_sha256", c.fingerprint_sha256},
            {"subject", c.subject},
            {"roles", c.roles},
            {"projects", c.projects},
            {"read_only", c.read_only},
            {"created_by", c.created_by},
            {"created_at", c.created_at}};
  if (c.revoked_at) j["revoked_at"] = *c.revoked_at;
  return j;
}

json AuditJson(const store::AuditRecord& r) {
  return {{"seq", r.seq},
          {"time", r.time},
          {"request_id", r.entry.request_id},
          {"actor", r.entry.actor},
          {"auth_method", r.entry.auth_method},
          {"role", r.entry.role},
          {"project", r.entry.project},
          {"action", r.entry.action},
          {"object_type", r.entry.object_type},
          {"object_id", r.entry.object_id},
          {"outcome", r.entry.outcome},
          {"details", r.entry.details},
          {"prev_hash", r.prev_hash},
          {"hash", r.hash}};
}

bool StringList(const json& j, const char* key, std::vector<std::string>& out,
                std::vector<std::string>& problems) {
  if (!j.contains(key)) return false;
  if (!j[key].is_array()) {
    problems.push_back(absl::StrCat(key, ": must be an array of strings"));
    return false;
  }
  for (const json& e : j[key]) {
    if (!e.is_string() || e.get<std::string>().empty()) {
      problems.push_back(absl::StrCat(key, ": must be an array of non-empty strings"));
      return false;
    }
    out.push_back(e.get<std::string>());
  }
  return true;
}

const std::regex& NameRe() {
  static const std::regex kName("^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$");
  return kName;
}

HttpResponse Fail(const HttpRequest& req, const absl::Status& s) {
  if (!absl::IsNotFound(s) && !absl::IsInvalidArgument(s) && !absl::IsUnavailable(s)) {
    Log().error("request_id={} {} {}: {}", req.request_id, req.method, req.path, s.message());
  }
  return ErrorResponse(s);
}

}  // namespace

absl::Status RegisterAuthRoutes(HttpServer& server, store::AuthStore& auth,
                                store::AuditStore& audit, const AuthConfig& config) {
  const std::set<Role> admins = {Role::kWorkflowAdmin};
  const std::set<Role> overseers = {Role::kWorkflowAdmin, Role::kAuditor};
  const std::set<Role> auditors = {Role::kAuditor};

  auto whoami = [](HttpRequest& req) { return JsonOk(PrincipalJson(*req.principal)); };

  auto create_key = [&auth, config](HttpRequest& req) -> HttpResponse {
    json body;
    if (auto bad = ParseJsonObjectBody(req, body)) return *bad;
    const Principal& who = *req.principal;
    std::vector<std::string> problems;
    store::NewAccessKey k;
    k.subject = who.subject;
    k.project = body.value("project", who.DefaultProject());
    if (!body.value("project", json("")).is_string())
      problems.push_back("project: must be a string");
    if (!StringList(body, "roles", k.roles, problems) && problems.empty()) {
      for (Role r : who.roles) k.roles.emplace_back(RoleName(r));
    }
    for (const std::string& r : k.roles) {
      std::optional<Role> role = ParseRole(r);
      if (!role) {
        problems.push_back(absl::StrCat("roles: '", r, "' is not a role"));
      } else if (!who.Has(*role)) {
        problems.push_back(absl::StrCat("roles: you do not hold '", r, "'"));
      }
    }
    if (k.roles.empty()) problems.push_back("roles: a key needs at least one role");
    int days = config.access_keys.default_ttl_days;
    if (body.contains("ttl_days")) {
      if (!body["ttl_days"].is_number_integer() || body["ttl_days"].get<long long>() < 1 ||
          body["ttl_days"].get<long long>() > config.access_keys.max_ttl_days) {
        problems.push_back(absl::StrCat("ttl_days: must be an integer from 1 to ",
                                        config.access_keys.max_ttl_days));
      } else {
        days = static_cast<int>(body["ttl_days"].get<long long>());
      }
    }
    if (body.contains("description")) {
      if (!body["description"].is_string() || body["description"].get<std::string>().size() > 512) {
        problems.push_back("description: must be a string of at most 512 bytes");
      } else {
        k.description = body["description"].get<std::string>();
      }
    }
    if (!problems.empty()) return ErrorResponse(400, absl::StrJoin(problems, "; "));
    if (k.project.empty() || !who.InProject(k.project)) {
      return ErrorResponse(403, absl::StrCat("you are not a member of project '", k.project, "'"));
    }
    k.ttl_seconds = days * 86400;
    absl::StatusOr<store::CreatedAccessKey> created =
        auth.CreateAccessKey(k, AuditOf(req, "access_key.create"));
    if (!created.ok()) return Fail(req, created.status());
    json out = KeyJson(created->key);
    out["token"] = created->token;
    return JsonOk(out, 201);
  };

  auto revoke_key = [&auth, &audit](HttpRequest& req) -> HttpResponse {
    const std::string& id = req.path_params.at("id");
    absl::StatusOr<store::AccessKey> key = auth.GetAccessKey(id);
    const Principal& who = *req.principal;
    if (!key.ok() || (key->subject != who.subject && !who.Has(Role::kWorkflowAdmin))) {
      if (key.ok()) {
        store::AuditEntry denied = AuditOf(req, "access_key.revoke", "denied");
        denied.object_type = "access_key";
        denied.object_id = id;
        denied.project = key->project;
        (void)audit.Append(denied);
      }
      return ErrorResponse(404, absl::StrCat("access key ", id, " not found"));
    }
    if (absl::Status s = auth.RevokeAccessKey(id, AuditOf(req, "access_key.revoke")); !s.ok()) {
      return Fail(req, s);
    }
    return JsonOk(json::object());
  };

  auto list_keys = [&auth](HttpRequest& req) -> HttpResponse {
    absl::StatusOr<std::vector<store::AccessKey>> keys = auth.ListAccessKeys(req.Query("project"));
    if (!keys.ok()) return Fail(req, keys.status());
    json out = {{"access_keys", json::array()}};
    for (const store::AccessKey& k : *keys) out["access_keys"].push_back(KeyJson(k));
    return JsonOk(out);
  };

  auto list_certs = [&auth](HttpRequest& req) -> HttpResponse {
    absl::StatusOr<std::vector<store::CertIdentity>> certs = auth.ListCertIdentities();
    if (!certs.ok()) return Fail(req, certs.status());
    json out = {{"certificates", json::array()}};
    for (const store::CertIdentity& c : *certs) out["certificates"].push_back(CertJson(c));
    return JsonOk(out);
  };

  auto put_cert = [&auth](HttpRequest& req) -> HttpResponse {
    json body;
    if (auto bad = ParseJsonObjectBody(req, body)) return *bad;
    std::vector<std::string> problems;
    store::CertIdentity c;
    if (body.contains("pem") && body["pem"].is_string()) {
      absl::StatusOr<std::string> fp = CertificateFingerprint(body["pem"].get<std::string>());
      if (!fp.ok())
        problems.push_back("pem: not a PEM certificate");
      else
        c.fingerprint_sha256 = *fp;
    } else {
      c.fingerprint_sha256 = body.value("fingerprint_sha256", json("")).is_string()
                                 ? body.value("fingerprint_sha256", "")
                                 : "";
      static const std::regex kHex("^[0-9a-f]{64}$");
      if (!std::regex_match(c.fingerprint_sha256, kHex)) {
        problems.push_back("fingerprint_sha256: 64 lower-case hex digits, or give pem");
      }
    }
    c.subject = body.value("subject", json("")).is_string() ? body.value("subject", "") : "";
    if (!std::regex_match(c.subject, NameRe())) problems.push_back("subject: required name");
    StringList(body, "roles", c.roles, problems);
    StringList(body, "projects", c.projects, problems);
    for (const std::string& r : c.roles) {
      if (!ParseRole(r)) problems.push_back(absl::StrCat("roles: '", r, "' is not a role"));
    }
    if (c.roles.empty()) problems.push_back("roles: at least one");
    if (body.contains("read_only")) {
      if (!body["read_only"].is_boolean())
        problems.push_back("read_only: must be a boolean");
      else
        c.read_only = body["read_only"].get<bool>();
    }
    if (!problems.empty()) return ErrorResponse(400, absl::StrJoin(problems, "; "));
    if (absl::Status s = auth.PutCertIdentity(c, AuditOf(req, "certificate.register")); !s.ok()) {
      return Fail(req, s);
    }
    return JsonOk(CertJson(c), 201);
  };

  auto revoke_cert = [&auth](HttpRequest& req) -> HttpResponse {
    if (absl::Status s = auth.RevokeCertIdentity(req.path_params.at("fingerprint"),
                                                 AuditOf(req, "certificate.revoke"));
        !s.ok()) {
      return Fail(req, s);
    }
    return JsonOk(json::object());
  };

  auto list_members = [&auth](HttpRequest& req) -> HttpResponse {
    absl::StatusOr<std::vector<std::string>> m = auth.Members(req.path_params.at("project"));
    if (!m.ok()) return Fail(req, m.status());
    return JsonOk(json{{"project", req.path_params.at("project")}, {"members", *m}});
  };

  auto add_member = [&auth](HttpRequest& req) -> HttpResponse {
    const std::string& project = req.path_params.at("project");
    const std::string& subject = req.path_params.at("subject");
    if (!std::regex_match(project, NameRe()) || !std::regex_match(subject, NameRe())) {
      return ErrorResponse(400, "project and subject must be names ([A-Za-z0-9._@:-], 1-128)");
    }
    if (absl::Status s = auth.AddMember(project, subject, AuditOf(req, "project.member.add"));
        !s.ok()) {
      return Fail(req, s);
    }
    return JsonOk(json::object());
  };

  auto remove_member = [&auth](HttpRequest& req) -> HttpResponse {
    if (absl::Status s =
            auth.RemoveMember(req.path_params.at("project"), req.path_params.at("subject"),
                              AuditOf(req, "project.member.remove"));
        !s.ok()) {
      return Fail(req, s);
    }
    return JsonOk(json::object());
  };

  auto query_audit = [&audit](HttpRequest& req) -> HttpResponse {
    store::AuditQuery q;
    q.actor = req.Query("actor");
    q.action = req.Query("action");
    q.project = req.Query("project");
    q.object_id = req.Query("object_id");
    q.outcome = req.Query("outcome");
    std::vector<std::string> problems;
    static const std::regex kTime(
        R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$)");
    for (auto [name, into] : {std::pair{"since", &q.since}, std::pair{"until", &q.until}}) {
      if (std::optional<std::string> v = req.Query(name)) {
        if (!std::regex_match(*v, kTime))
          problems.push_back(absl::StrCat(name, ": RFC 3339 time"));
        else
          *into = *v;
      }
    }
    if (std::optional<std::string> v = req.Query("page_size")) {
      int n = 0;
      auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc() || end != v->data() + v->size() || n < 1 || n > 1000) {
        problems.push_back("page_size: 1 to 1000");
      } else {
        q.page_size = n;
      }
    }
    if (std::optional<std::string> v = req.Query("page_token")) {
      long long seq = 0;
      auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), seq);
      if (ec != std::errc() || end != v->data() + v->size() || seq < 1) {
        problems.push_back("page_token: not valid");
      } else {
        q.before_seq = seq;
      }
    }
    if (!problems.empty()) return ErrorResponse(400, absl::StrJoin(problems, "; "));
    absl::StatusOr<store::AuditPage> page = audit.Query(q);
    if (!page.ok()) return Fail(req, page.status());
    json out = {{"records", json::array()}};
    for (const store::AuditRecord& r : page->records) out["records"].push_back(AuditJson(r));
    if (page->next_before_seq) out["next_page_token"] = std::to_string(*page->next_before_seq);
    return JsonOk(out);
  };

  auto verify_audit = [&audit](HttpRequest& req) -> HttpResponse {
    absl::StatusOr<store::AuditVerification> v = audit.Verify();
    if (!v.ok()) return Fail(req, v.status());
    json out = {{"ok", v->ok}, {"records_checked", v->records}};
    if (v->ok) {
      out["last_seq"] = v->last_seq;
      out["last_hash"] = v->last_hash;
    } else {
      out["first_broken_seq"] = *v->first_broken_seq;
      out["reason"] = v->reason;
      out["last_good_seq"] = v->last_seq;
      Log().error("request_id={} audit log verification failed at seq {}: {}", req.request_id,
                  *v->first_broken_seq, v->reason);
    }
    return JsonOk(out);
  };

  return server.HandleAll({
      {"GET", "/auth/v1/whoami", whoami, Access::Read({})},
      {"POST", "/auth/v1/access-keys", create_key, Access::Write({})},
      {"POST", "/auth/v1/access-keys/{id}:revoke", revoke_key, Access::Write({})},
      {"GET", "/admin/v1/access-keys", list_keys, Access::Read(overseers)},
      {"GET", "/admin/v1/certificates", list_certs, Access::Read(overseers)},
      {"POST", "/admin/v1/certificates", put_cert, Access::Write(admins)},
      {"POST", "/admin/v1/certificates/{fingerprint}:revoke", revoke_cert, Access::Write(admins)},
      {"GET", "/admin/v1/projects/{project}/members", list_members, Access::Read(overseers)},
      {"PUT", "/admin/v1/projects/{project}/members/{subject}", add_member, Access::Write(admins)},
      {"DELETE", "/admin/v1/projects/{project}/members/{subject}", remove_member,
       Access::Write(admins)},
      {"GET", "/admin/v1/audit", query_audit, Access::Read(auditors)},
      {"GET", "/admin/v1/audit/verify", verify_audit, Access::Read(auditors)},
  });
}

}  // namespace safeflow::service
