// A safeflowd for WES tests: OIDC from the development issuer (workflow admins who author and
// approve, a researcher, an auditor), a generated synthetic cohort in the input root, the
// example workflows of workflows/ registered and approved over real HTTP, and helpers to
// submit multipart runs and wait for them. Used by tests/integration/wes/ and, for runs on a
// real SLURM cluster, tests/integration/slurm/.
#ifndef SAFEFLOW_TESTS_INTEGRATION_WES_WES_FIXTURE_H_
#define SAFEFLOW_TESTS_INTEGRATION_WES_WES_FIXTURE_H_

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "service/auth/dev_issuer.h"
#include "tests/integration/tes_api/tes_fixture.h"
#include "tests/testing/http_client.h"
#include "tests/testing/process.h"
#include "tests/testing/spec_validator.h"

namespace safeflow::testing {

struct FormPart {
  std::string name;
  std::string data;
  std::optional<std::string> filename;
};

inline constexpr char kBoundary[] = "sf-test-boundary-7MA4YWxkTrZu0gW";

inline std::string MultipartBody(const std::vector<FormPart>& parts) {
  std::string body;
  for (const FormPart& p : parts) {
    body += std::string("--") + kBoundary + "\r\nContent-Disposition: form-data; name=\"" + p.name +
            "\"";
    if (p.filename) body += "; filename=\"" + *p.filename + "\"";
    body += "\r\n\r\n" + p.data + "\r\n";
  }
  body += std::string("--") + kBoundary + "--\r\n";
  return body;
}

// Every regular file under `dir` (relative paths, sorted), skipping caches.
inline std::vector<FormPart> BundleParts(const std::string& dir) {
  std::vector<FormPart> parts;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string rel = std::filesystem::relative(e.path(), dir).string();
    if (rel.find("__pycache__") != std::string::npos || rel.starts_with(".")) continue;
    parts.push_back({"workflow_attachment", ReadAll(e.path().string()), rel});
  }
  std::sort(parts.begin(), parts.end(),
            [](const FormPart& a, const FormPart& b) { return *a.filename < *b.filename; });
  return parts;
}

inline std::string WorkflowDir(const std::string& name) {
  return std::string(SAFEFLOW_SOURCE_DIR) + "/workflows/" + name;
}

struct WesServer {
  TesServer server;
  std::string issuer_dir;
  std::map<std::string, std::string> tokens;
  std::string cohort_url;  // file:// URL of the generated cohort
  int cohort_rows = 500;

  // `extra_yaml` goes to the configuration after the auth section.
  bool Start(const std::string& extra_yaml = "") {
    issuer_tmp_ = std::make_unique<TempDir>();
    issuer_dir = issuer_tmp_->path() + "/issuer";
    if (!service::auth::DevIssuerInit(issuer_dir, false).ok()) return false;
    const std::string auth =
        "auth:\n  mode: [oidc]\n  oidc:\n    issuer: safeflow-dev\n    audiences: [safeflow]\n"
        "    jwks_file: " +
        issuer_dir + "/jwks.json\n";
    if (!server.Start(auth + extra_yaml)) return false;
    Mint("author", {"workflow-admin"}, {"demo"});
    Mint("approver", {"workflow-admin"}, {"demo"});
    Mint("alice", {"researcher"}, {"demo"});
    Mint("mallory", {"researcher"}, {"other"});
    Mint("auditor", {"auditor"}, {"demo"});
    // The synthetic cohort, made by the repository's own generator.
    const std::string cohort = server.in_root + "/cohort.csv";
    std::string out;
    if (RunProgram({"/usr/bin/python3",
                    std::string(SAFEFLOW_SOURCE_DIR) + "/workflows/data/generate_cohort.py",
                    "--rows", std::to_string(cohort_rows), "--seed", "7", "--out", cohort},
                   out) != 0) {
      return false;
    }
    cohort_url = "file://" + cohort;
    return true;
  }

  void Mint(const std::string& sub, std::vector<std::string> roles,
            std::vector<std::string> projects) {
    service::auth::DevTokenRequest r;
    r.subject = sub;
    r.roles = std::move(roles);
    r.projects = std::move(projects);
    absl::StatusOr<std::string> t = service::auth::DevIssuerToken(issuer_dir, r);
    tokens[sub] = t.ok() ? *t : "";
  }

  HttpResult Call(const std::string& who, const std::string& method, const std::string& path,
                  const std::string& body = "",
                  const std::string& content_type = "application/json") {
    std::vector<std::string> headers = {"Content-Type: " + content_type};
    if (!who.empty()) headers.push_back("Authorization: Bearer " + tokens[who]);
    return HttpCall(method, server.process->url() + path, body, headers, 30000);
  }

  HttpResult PostForm(const std::string& who, const std::string& path,
                      const std::vector<FormPart>& parts) {
    return Call(who, "POST", path, MultipartBody(parts),
                std::string("multipart/form-data; boundary=") + kBoundary);
  }

  // Registers workflows/<name> as `author` and approves it as `approver`; returns its digest.
  std::string RegisterAndApprove(const std::string& name,
                                 const std::vector<FormPart>& parts_override = {}) {
    const std::vector<FormPart> parts =
        parts_override.empty() ? BundleParts(WorkflowDir(name)) : parts_override;
    HttpResult r = PostForm("author", "/admin/v1/workflows", parts);
    if (r.status != 201) {
      ADD_FAILURE() << "register " << name << ": " << r.status << " " << r.body;
      return "";
    }
    const std::string id = nlohmann::json::parse(r.body)["id"];
    HttpResult a = Call("approver", "POST", "/admin/v1/workflows/" + id + ":approve");
    if (a.status != 200) {
      ADD_FAILURE() << "approve " << name << ": " << a.status << " " << a.body;
      return "";
    }
    return id;
  }

  // The form of a run of safeflow:<ref> with `params`.
  static std::vector<FormPart> RunForm(
      const std::string& workflow_url, const std::string& type, const std::string& type_version,
      const nlohmann::json& params, const nlohmann::json& tags = nlohmann::json::object(),
      const nlohmann::json& engine_params = nlohmann::json::object()) {
    return {{"workflow_url", workflow_url},
            {"workflow_type", type},
            {"workflow_type_version", type_version},
            {"workflow_params", params.dump()},
            {"tags", tags.dump()},
            {"workflow_engine_parameters", engine_params.dump()}};
  }

  // Submits; returns the run id, or "" (with a test failure) when not accepted.
  std::string Submit(const std::vector<FormPart>& form, const std::string& who = "alice") {
    HttpResult r = PostForm(who, "/ga4gh/wes/v1/runs", form);
    if (r.status != 200) {
      ADD_FAILURE() << "submit: " << r.status << " " << r.body;
      return "";
    }
    return nlohmann::json::parse(r.body)["run_id"];
  }

  nlohmann::json GetRun(const std::string& id, const std::string& who = "alice") {
    HttpResult r = Call(who, "GET", "/ga4gh/wes/v1/runs/" + id);
    nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
    return r.status == 200 && j.is_object() ? j : nlohmann::json::object();
  }

  // Waits for a terminal state; returns the run log.
  nlohmann::json WaitRun(const std::string& id, std::chrono::milliseconds timeout) {
    nlohmann::json run;
    Eventually(
        [&] {
          run = GetRun(id);
          const std::string s = run.value("state", "");
          return s == "COMPLETE" || s == "EXECUTOR_ERROR" || s == "SYSTEM_ERROR" ||
                 s == "CANCELED" || s == "PREEMPTED";
        },
        timeout);
    return run;
  }

  // Audit records of `action` with `outcome` (newest first), as the auditor sees them.
  nlohmann::json Audit(const std::string& action, const std::string& outcome) {
    HttpResult r =
        Call("auditor", "GET", "/admin/v1/audit?action=" + action + "&outcome=" + outcome);
    nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("records") ? j["records"] : nlohmann::json::array();
  }

 private:
  std::unique_ptr<TempDir> issuer_tmp_;
};

// OK when `doc` is a valid `schema` of the WES spec.
inline absl::Status ValidWes(const nlohmann::json& doc, const std::string& schema) {
  return ValidateAgainstSpec(doc, "wes.openapi.resolved.json", schema);
}

}  // namespace safeflow::testing

#endif  // SAFEFLOW_TESTS_INTEGRATION_WES_WES_FIXTURE_H_
