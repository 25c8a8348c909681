// The registry of admin-approved workflows and execution environments through a real safeflowd
// with OIDC (the development issuer): multipart bundle registration, distinct approvers (never
// the author; one or two required), revocation, what researchers see, refusals and their audit
// records.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <signal.h>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "service/auth/dev_issuer.h"
#include "service/registry/bundle.h"
#include "tests/testing/http_client.h"
#include "tests/testing/integration.h"
#include "tests/testing/process.h"

namespace safeflow::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
namespace auth = service::auth;
namespace registry = service::registry;

using Files = std::vector<std::pair<std::string, std::string>>;  // path, content

constexpr char kBoundary[] = "sf-test-boundary-7d1e";

std::string Multipart(const Files& files, const std::string& field = "workflow_attachment") {
  std::string body;
  for (const auto& [path, content] : files) {
    body += std::string("--") + kBoundary + "\r\nContent-Disposition: form-data; name=\"" + field +
            "\"; filename=\"" + path + "\"\r\nContent-Type: application/octet-stream\r\n\r\n" +
            content + "\r\n";
  }
  body += std::string("--") + kBoundary + "--\r\n";
  return body;
}

json Manifest(const std::string& name, const std::string& version = "1.0") {
  return {
      {"name", name},
      {"version", version},
      {"description", "test workflow"},
      {"workflow_type", "SMK"},
      {"workflow_type_version", "7.21"},
      {"entry_point", "Snakefile"},
      {"engine_parameters", {{"cores", "1"}}},
      {"params_schema", {{"type", "object"}, {"properties", {{"cohort", {{"type", "string"}}}}}}},
      {"inputs", {{{"param", "cohort"}, {"path", "cohort.csv"}}}},
      {"outputs", json::parse(R"([{"name": "counts", "path": "counts.csv", "type": "text"}])")},
      {"max_run_minutes", 10}};
}

Files Bundle(const json& manifest) {
  return {{"safeflow-manifest.json", manifest.dump(2)},
          {"Snakefile", "rule all:\n    output: 'counts.csv'\n    shell: 'echo a,1 > {output}'\n"},
          {"scripts/count.py", "print('count')\n"}};
}

// One safeflowd with its users; `approvals` is registry.required_approvals.
struct Daemon {
  TempDir tmp;
  std::string issuer_dir, url;
  std::unique_ptr<SafeflowdProcess> d;
  std::map<std::string, std::string> tokens;
  std::string error;

  bool Start(int approvals) {
    issuer_dir = tmp.path() + "/issuer";
    if (absl::Status s = auth::DevIssuerInit(issuer_dir, false); !s.ok()) {
      error = std::string(s.message());
      return false;
    }
    const std::string cfg = tmp.path() + "/safeflowd.yaml";
    std::ofstream(cfg) << "auth:\n  mode: [oidc]\n  oidc:\n    issuer: safeflow-dev\n"
                          "    audiences: [safeflow]\n    jwks_file: "
                       << issuer_dir
                       << "/jwks.json\n    leeway_seconds: 0\n"
                          "registry:\n  required_approvals: "
                       << approvals << "\n";
    d = std::make_unique<SafeflowdProcess>(tmp.path() + "/data",
                                           std::vector<std::string>{"--config", cfg});
    if (!d->WaitReady()) {
      error = d->log();
      return false;
    }
    url = d->url();
    auto mint = [&](const std::string& sub, std::vector<std::string> roles) {
      auth::DevTokenRequest r;
      r.subject = sub;
      r.roles = std::move(roles);
      r.projects = {"p1"};
      absl::StatusOr<std::string> t = auth::DevIssuerToken(issuer_dir, r);
      tokens[sub] = t.ok() ? *t : "";
    };
    mint("admin1", {"workflow-admin"});
    mint("admin2", {"workflow-admin"});
    mint("admin3", {"workflow-admin"});
    mint("rita", {"researcher"});
    mint("audrey", {"auditor"});
    return true;
  }

  HttpResult Call(const std::string& who, const std::string& method, const std::string& path,
                  const std::string& body = "",
                  const std::string& content_type = "application/json") const {
    std::vector<std::string> headers = {"Content-Type: " + content_type};
    headers.push_back("Authorization: Bearer " + tokens.at(who));
    return HttpCall(method, url + path, body, headers, 30000);
  }

  HttpResult Register(const std::string& who, const Files& files) const {
    return Call(who, "POST", "/admin/v1/workflows", Multipart(files),
                std::string("multipart/form-data; boundary=") + kBoundary);
  }

  HttpResult Approve(const std::string& who, const std::string& ref,
                     const std::string& kind = "workflows") const {
    return Call(who, "POST", "/admin/v1/" + kind + "/" + ref + ":approve", "{}");
  }

  // Audit records (newest first) matching the query string.
  json Audit(const std::string& query) const {
    HttpResult r = Call("audrey", "GET", "/admin/v1/audit?" + query);
    json j = json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("records") ? j["records"] : json::array();
  }
};

class RegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    one_ = new Daemon();
    one_->Start(1);
  }
  static void TearDownTestSuite() {
    if (one_->d) one_->d->Stop(SIGTERM);
    delete one_;
  }
  void SetUp() override { ASSERT_TRUE(one_->d != nullptr && !one_->url.empty()) << one_->error; }

  static inline Daemon* one_ = nullptr;
};

std::string Msg(const HttpResult& r) {
  json j = json::parse(r.body, nullptr, false);
  return j.is_object() ? j.value("msg", "") : "";
}

TEST_F(RegistryTest, RegisterThenAnotherAdminApproves) {
  const Daemon& d = *one_;
  const Files files = Bundle(Manifest("flow-a"));
  HttpResult r = d.Register("admin1", files);
  ASSERT_EQ(r.status, 201) << r.body;
  json item = json::parse(r.body);
  std::vector<registry::BundleFile> bf;
  for (const auto& [p, c] : files) bf.push_back({p, c});
  EXPECT_EQ(item["id"], registry::BundleDigest(bf));
  EXPECT_EQ(item["kind"], "workflow");
  EXPECT_EQ(item["name"], "flow-a");
  EXPECT_EQ(item["version"], "1.0");
  EXPECT_EQ(item["state"], "pending");
  EXPECT_EQ(item["created_by"], "admin1");
  EXPECT_EQ(item["approvers"], json::array());
  EXPECT_EQ(item["manifest"]["engine"], "snakemake");
  ASSERT_EQ(item["files"].size(), 3u);
  EXPECT_EQ(item["files"][0]["path"], "Snakefile");
  EXPECT_EQ(item["files"][1]["path"], "safeflow-manifest.json");
  EXPECT_EQ(item["files"][2]["path"], "scripts/count.py");
  EXPECT_EQ(item["files"][2]["size"], 15);
  EXPECT_EQ(item["files"][2]["sha256"], registry::Sha256Hex("print('count')\n"));
  const std::string digest = item["id"];

  // The author may not approve: 403, audited as denied.
  HttpResult self = d.Approve("admin1", "flow-a@1.0");
  EXPECT_EQ(self.status, 403) << self.body;
  EXPECT_THAT(Msg(self), HasSubstr("the author of workflow flow-a@1.0 cannot approve it"));
  json denied = d.Audit("action=workflow.approve&outcome=denied&object_id=" + digest);
  ASSERT_EQ(denied.size(), 1u) << denied.dump();
  EXPECT_EQ(denied[0]["actor"], "admin1");
  EXPECT_EQ(denied[0]["object_type"], "workflow");
  EXPECT_EQ(denied[0]["details"]["name"], "flow-a");

  // Another admin approves (by name%40version): approved.
  HttpResult ok = d.Approve("admin2", "flow-a%401.0");
  ASSERT_EQ(ok.status, 200) << ok.body;
  json approved = json::parse(ok.body);
  EXPECT_EQ(approved["state"], "approved");
  EXPECT_EQ(approved["approvers"], json::array({"admin2"}));
  EXPECT_TRUE(approved.contains("approved_at"));

  // Approving twice: 409, audited.
  HttpResult twice = d.Approve("admin2", digest);
  EXPECT_EQ(twice.status, 409) << twice.body;
  EXPECT_THAT(Msg(twice), HasSubstr("admin2 already approved workflow flow-a@1.0"));
  EXPECT_EQ(d.Audit("action=workflow.approve&outcome=invalid&object_id=" + digest).size(), 1u);

  // The audit log has the registration and the approval.
  json reg = d.Audit("action=workflow.register&outcome=success&object_id=" + digest);
  ASSERT_EQ(reg.size(), 1u);
  EXPECT_EQ(reg[0]["actor"], "admin1");
  EXPECT_EQ(reg[0]["details"]["state"], "pending");
  EXPECT_EQ(reg[0]["details"]["version"], "1.0");
  json app = d.Audit("action=workflow.approve&outcome=success&object_id=" + digest);
  ASSERT_EQ(app.size(), 1u);
  EXPECT_EQ(app[0]["actor"], "admin2");
  EXPECT_EQ(app[0]["details"]["state"], "approved");

  // Show by digest, name@version and name%40version; the researcher sees it now.
  for (const std::string& ref : {digest, std::string("flow-a@1.0"), std::string("flow-a%401.0")}) {
    HttpResult g = d.Call("rita", "GET", "/admin/v1/workflows/" + ref);
    ASSERT_EQ(g.status, 200) << ref << ": " << g.body;
    EXPECT_EQ(json::parse(g.body)["id"], digest);
  }
  EXPECT_EQ(d.Call("admin1", "GET", "/admin/v1/workflows/nope@1").status, 404);
  EXPECT_EQ(d.Call("admin1", "GET", "/admin/v1/workflows/sha256:00").status, 404);
  EXPECT_EQ(d.Approve("admin2", "nope@1").status, 404);
}

TEST_F(RegistryTest, RevokeThenApproveIsRefused) {
  const Daemon& d = *one_;
  HttpResult r = d.Register("admin1", Bundle(Manifest("flow-revoked")));
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string digest = json::parse(r.body)["id"];
  ASSERT_EQ(d.Approve("admin2", "flow-revoked@1.0").status, 200);
  // A reason is required.
  HttpResult no_reason =
      d.Call("admin3", "POST", "/admin/v1/workflows/flow-revoked@1.0:revoke", "{}");
  EXPECT_EQ(no_reason.status, 400) << no_reason.body;
  EXPECT_THAT(Msg(no_reason), HasSubstr("reason: required"));
  HttpResult rev = d.Call("admin3", "POST", "/admin/v1/workflows/flow-revoked@1.0:revoke",
                          json{{"reason", "reads more than it should"}}.dump());
  ASSERT_EQ(rev.status, 200) << rev.body;
  json item = json::parse(rev.body);
  EXPECT_EQ(item["state"], "revoked");
  EXPECT_EQ(item["revoked_by"], "admin3");
  EXPECT_EQ(item["revoke_reason"], "reads more than it should");
  EXPECT_TRUE(item.contains("revoked_at"));
  // Revoking twice is fine.
  EXPECT_EQ(d.Call("admin3", "POST", "/admin/v1/workflows/flow-revoked@1.0:revoke",
                   json{{"reason", "again"}}.dump())
                .status,
            200);
  // Approving a revoked workflow: 409, audited as denied.
  HttpResult again = d.Approve("admin3", "flow-revoked@1.0");
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_THAT(Msg(again), HasSubstr("revoked"));
  EXPECT_EQ(d.Audit("action=workflow.approve&outcome=denied&object_id=" + digest).size(), 1u);
  json revs = d.Audit("action=workflow.revoke&outcome=success&object_id=" + digest);
  ASSERT_EQ(revs.size(), 1u);
  EXPECT_EQ(revs[0]["details"]["reason"], "reads more than it should");
  EXPECT_EQ(revs[0]["details"]["previous_state"], "approved");
  // Researchers no longer see it; admins do, with state=revoked.
  EXPECT_EQ(d.Call("rita", "GET", "/admin/v1/workflows/flow-revoked@1.0").status, 404);
  HttpResult list = d.Call("admin1", "GET", "/admin/v1/workflows?state=revoked");
  ASSERT_EQ(list.status, 200);
  EXPECT_THAT(list.body, HasSubstr(digest));
  EXPECT_THAT(d.Call("admin1", "GET", "/admin/v1/workflows?state=approved").body,
              Not(HasSubstr(digest)));
  EXPECT_EQ(d.Call("admin1", "GET", "/admin/v1/workflows?state=bogus").status, 400);
}

TEST_F(RegistryTest, ResearchersSeeOnlyApprovedAndCannotChangeAnything) {
  const Daemon& d = *one_;
  HttpResult r = d.Register("admin1", Bundle(Manifest("flow-pending")));
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string pending = json::parse(r.body)["id"];
  r = d.Register("admin1", Bundle(Manifest("flow-visible")));
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string visible = json::parse(r.body)["id"];
  ASSERT_EQ(d.Approve("admin2", visible).status, 200);

  EXPECT_EQ(d.Register("rita", Bundle(Manifest("flow-rita"))).status, 403);
  EXPECT_EQ(d.Approve("rita", pending).status, 403);
  EXPECT_EQ(d.Call("rita", "POST", "/admin/v1/workflows/" + pending + ":revoke",
                   json{{"reason", "x"}}.dump())
                .status,
            403);
  EXPECT_EQ(d.Call("audrey", "POST", "/admin/v1/environments",
                   json{{"name", "x"}, {"version", "1"}}.dump())
                .status,
            403);

  HttpResult rl = d.Call("rita", "GET", "/admin/v1/workflows");
  ASSERT_EQ(rl.status, 200) << rl.body;
  EXPECT_THAT(rl.body, HasSubstr(visible));
  EXPECT_THAT(rl.body, Not(HasSubstr(pending)));
  const json rita_list = json::parse(rl.body);
  for (const json& w : rita_list["workflows"]) EXPECT_EQ(w["state"], "approved");
  EXPECT_EQ(
      json::parse(d.Call("rita", "GET", "/admin/v1/workflows?state=pending").body)["workflows"],
      json::array());
  HttpResult rg = d.Call("rita", "GET", "/admin/v1/workflows/" + pending);
  EXPECT_EQ(rg.status, 404);
  EXPECT_EQ(Msg(rg), "workflow " + pending + " not found");

  // Auditors and admins see everything.
  for (const std::string who : {"audrey", "admin3"}) {
    HttpResult l = d.Call(who, "GET", "/admin/v1/workflows");
    ASSERT_EQ(l.status, 200);
    EXPECT_THAT(l.body, HasSubstr(pending)) << who;
    EXPECT_EQ(d.Call(who, "GET", "/admin/v1/workflows/" + pending).status, 200);
  }
}

TEST_F(RegistryTest, BadManifestListsEveryProblem) {
  const Daemon& d = *one_;
  json m = Manifest("flow-bad");
  m["workflow_type"] = "WDL";
  m["entry_point"] = "Missing.smk";
  m["outputs"][0]["type"] = "raw";
  m["max_run_minutes"] = 0;
  m["surprise"] = true;
  HttpResult r = d.Register("admin1", Bundle(m));
  EXPECT_EQ(r.status, 400) << r.body;
  const std::string msg = Msg(r);
  for (const char* p :
       {"manifest.workflow_type:", "manifest.entry_point:", "manifest.outputs[0].type:",
        "manifest.max_run_minutes:", "manifest.surprise: unknown field"}) {
    EXPECT_THAT(msg, HasSubstr(p));
  }
  json audited = d.Audit("action=workflow.register&outcome=invalid&actor=admin1");
  bool found = false;
  for (const json& a : audited) {
    if (a["details"].value("reason", "").find("manifest.surprise") != std::string::npos)
      found = true;
  }
  EXPECT_TRUE(found) << audited.dump();

  // The manifest missing, or not JSON.
  Files no_manifest = {{"Snakefile", "rule all:"}};
  r = d.Register("admin1", no_manifest);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(Msg(r), HasSubstr("safeflow-manifest.json"));
  r = d.Register("admin1", {{"safeflow-manifest.json", "{not json"}, {"Snakefile", "x"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(Msg(r), HasSubstr("not valid JSON"));
  // Not multipart at all.
  r = d.Call("admin1", "POST", "/admin/v1/workflows", Manifest("flow-json").dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(Msg(r), HasSubstr("multipart/form-data"));
  // Another field name.
  r = d.Call("admin1", "POST", "/admin/v1/workflows", Multipart(Bundle(Manifest("flow-f")), "file"),
             std::string("multipart/form-data; boundary=") + kBoundary);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(Msg(r), HasSubstr("unknown form field 'file'"));
}

TEST_F(RegistryTest, UnsafePathsAndDuplicatesAreRefused) {
  const Daemon& d = *one_;
  for (const std::string bad :
       {"../escape.py", "scripts/../../x", "/etc/passwd", "a//b", "%2e%2e/x"}) {
    Files f = Bundle(Manifest("flow-paths"));
    f.push_back({bad, "x"});
    HttpResult r = d.Register("admin1", f);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
    EXPECT_THAT(Msg(r), HasSubstr("workflow_attachment '" + bad + "'")) << bad;
  }
  Files dup = Bundle(Manifest("flow-paths"));
  dup.push_back({"Snakefile", "again"});
  HttpResult r = d.Register("admin1", dup);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(Msg(r), HasSubstr("two files of this path"));
  // None of these registered anything.
  EXPECT_EQ(d.Call("admin1", "GET", "/admin/v1/workflows/flow-paths@1.0").status, 404);
}

TEST_F(RegistryTest, LimitsAreEnforced) {
  const Daemon& d = *one_;
  Files many = Bundle(Manifest("flow-many"));
  for (int i = 0; i < 260; ++i) many.push_back({"f/" + std::to_string(i), "x"});
  HttpResult r = d.Register("admin1", many);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_THAT(Msg(r), HasSubstr("max_files (256)"));
  Files big = Bundle(Manifest("flow-big"));
  big.push_back({"data.bin", std::string((4u << 20) + 1, 'a')});
  r = d.Register("admin1", big);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_THAT(Msg(r), HasSubstr("max_file_bytes"));
  Files long_path = Bundle(Manifest("flow-long"));
  long_path.push_back({std::string(200, 'a') + "/" + std::string(100, 'b'), "x"});
  r = d.Register("admin1", long_path);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(Msg(r), HasSubstr("max_path_bytes (255)"));
}

TEST_F(RegistryTest, DuplicateNameAndVersionIsAConflict) {
  const Daemon& d = *one_;
  HttpResult r = d.Register("admin1", Bundle(Manifest("flow-dup")));
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string digest = json::parse(r.body)["id"];
  // The same bundle again, and another bundle with the same name@version.
  r = d.Register("admin2", Bundle(Manifest("flow-dup")));
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_THAT(Msg(r), HasSubstr(digest));
  Files changed = Bundle(Manifest("flow-dup"));
  changed[1].second += "# changed\n";
  r = d.Register("admin2", changed);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_THAT(Msg(r), HasSubstr("workflow flow-dup@1.0 is already registered"));
  EXPECT_THAT(Msg(r), HasSubstr(digest));
  EXPECT_GE(d.Audit("action=workflow.register&outcome=invalid&actor=admin2").size(), 2u);
  // Another version is another item.
  EXPECT_EQ(d.Register("admin1", Bundle(Manifest("flow-dup", "1.1"))).status, 201);
}

TEST_F(RegistryTest, Environments) {
  const Daemon& d = *one_;
  const json env = {{"name", "rocker/r-ver:4.3"},
                    {"version", "1"},
                    {"description", "R 4.3"},
                    {"root", "/"},
                    {"aliases", {"r"}}};
  HttpResult r = d.Call("admin1", "POST", "/admin/v1/environments", env.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  json item = json::parse(r.body);
  EXPECT_EQ(item["kind"], "environment");
  EXPECT_EQ(item["state"], "pending");
  EXPECT_EQ(item["manifest"], env);
  EXPECT_FALSE(item.contains("files"));
  const std::string digest = item["id"];
  absl::StatusOr<registry::EnvironmentManifest> parsed = registry::ParseEnvironmentManifest(env);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(digest, registry::EnvironmentDigest(*parsed));
  // Duplicate; bad manifest.
  EXPECT_EQ(d.Call("admin2", "POST", "/admin/v1/environments", env.dump()).status, 409);
  HttpResult bad = d.Call("admin1", "POST", "/admin/v1/environments",
                          json{{"name", "bad name"}, {"root", "rel"}}.dump());
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(Msg(bad), HasSubstr("manifest.name:"));
  EXPECT_THAT(Msg(bad), HasSubstr("manifest.version: required"));
  EXPECT_THAT(Msg(bad), HasSubstr("manifest.root:"));
  EXPECT_EQ(d.Call("admin1", "POST", "/admin/v1/environments", "[1]").status, 400);

  // The ref "rocker/r-ver:4.3@1" with its '/' and '@' escaped.
  const std::string ref = "rocker%2Fr-ver:4.3%401";
  EXPECT_EQ(d.Call("rita", "GET", "/admin/v1/environments/" + ref).status, 404);
  EXPECT_EQ(d.Approve("admin1", ref, "environments").status, 403);
  HttpResult ok = d.Approve("admin2", ref, "environments");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body)["state"], "approved");
  HttpResult list = d.Call("rita", "GET", "/admin/v1/environments");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(json::parse(list.body)["environments"].size(), 1u) << list.body;
  EXPECT_EQ(json::parse(list.body)["environments"][0]["id"], digest);
  EXPECT_EQ(d.Call("rita", "GET", "/admin/v1/environments/" + digest).status, 200);
  json audit = d.Audit("object_id=" + digest);
  std::set<std::string> actions;
  for (const json& a : audit)
    actions.insert(a["action"].get<std::string>() + "/" + a["outcome"].get<std::string>());
  EXPECT_TRUE(actions.contains("environment.register/success")) << audit.dump();
  EXPECT_TRUE(actions.contains("environment.register/invalid")) << audit.dump();
  EXPECT_TRUE(actions.contains("environment.approve/denied")) << audit.dump();
  EXPECT_TRUE(actions.contains("environment.approve/success")) << audit.dump();
  // Revoke.
  HttpResult rev = d.Call("admin3", "POST", "/admin/v1/environments/" + ref + ":revoke",
                          json{{"reason", "unpatched"}}.dump());
  ASSERT_EQ(rev.status, 200) << rev.body;
  EXPECT_EQ(json::parse(rev.body)["state"], "revoked");
  EXPECT_EQ(json::parse(d.Call("rita", "GET", "/admin/v1/environments").body)["environments"],
            json::array());
}

TEST_F(RegistryTest, Cli) {
  const Daemon& d = *one_;
  TempDir dir;
  const std::string root = dir.path() + "/bundle";
  std::filesystem::create_directories(root + "/scripts");
  for (const auto& [path, content] : Bundle(Manifest("flow-cli"))) {
    std::ofstream(root + "/" + path, std::ios::binary) << content;
  }
  auto cli = [&](const std::string& who, std::vector<std::string> args, std::string& out) {
    args.insert(args.begin(), {SAFEFLOW_CLI_PATH, "--server", d.url, "workflow"});
    return RunProgram(args, out, {"SAFEFLOW_TOKEN=" + d.tokens.at(who)});
  };
  std::string out;
  ASSERT_EQ(cli("admin1", {"register", root}, out), 0) << out;
  EXPECT_THAT(out, HasSubstr("registered flow-cli@1.0 as sha256:"));
  EXPECT_THAT(out, HasSubstr("(3 files, state pending)"));
  std::vector<registry::BundleFile> bf;
  for (const auto& [p, c] : Bundle(Manifest("flow-cli"))) bf.push_back({p, c});
  EXPECT_THAT(out, HasSubstr(registry::BundleDigest(bf)));
  EXPECT_EQ(cli("admin1", {"approve", "flow-cli@1.0"}, out), 1);
  EXPECT_THAT(out, HasSubstr("HTTP 403: the author of workflow flow-cli@1.0 cannot approve it"));
  ASSERT_EQ(cli("admin2", {"approve", "flow-cli@1.0"}, out), 0) << out;
  EXPECT_THAT(out, HasSubstr("\"state\": \"approved\""));
  ASSERT_EQ(cli("rita", {"list"}, out), 0) << out;
  EXPECT_THAT(out, HasSubstr("flow-cli@1.0  approved  by admin1  approved by [admin2]"));
  ASSERT_EQ(cli("rita", {"show", "flow-cli@1.0"}, out), 0) << out;
  EXPECT_THAT(out, HasSubstr("\"entry_point\": \"Snakefile\""));
  EXPECT_EQ(cli("admin3", {"revoke", "flow-cli@1.0"}, out), 2);
  ASSERT_EQ(cli("admin3", {"revoke", "flow-cli@1.0", "--reason", "superseded"}, out), 0) << out;
  EXPECT_THAT(out, HasSubstr("\"revoke_reason\": \"superseded\""));
  ASSERT_EQ(cli("admin3", {"list", "--state", "revoked"}, out), 0) << out;
  EXPECT_THAT(out, HasSubstr("flow-cli@1.0  revoked"));
  // A symbolic link in the bundle is refused before anything is sent.
  std::filesystem::create_symlink("/etc/passwd", root + "/passwd");
  EXPECT_EQ(cli("admin1", {"register", root}, out), 1);
  EXPECT_THAT(out, HasSubstr("passwd: not a regular file"));
}

TEST_F(RegistryTest, AuditChainStaysValid) {
  HttpResult v = one_->Call("audrey", "GET", "/admin/v1/audit/verify");
  ASSERT_EQ(v.status, 200);
  EXPECT_EQ(json::parse(v.body)["ok"], true) << v.body;
}

// With registry.required_approvals 2: two distinct approvers other than the author.
TEST(RegistryTwoApprovalsTest, NeedsTwoDistinctNonAuthorApprovers) {
  Daemon d;
  ASSERT_TRUE(d.Start(2)) << d.error;
  HttpResult r = d.Register("admin1", Bundle(Manifest("flow-two")));
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string digest = json::parse(r.body)["id"];
  HttpResult a2 = d.Approve("admin2", digest);
  ASSERT_EQ(a2.status, 200) << a2.body;
  EXPECT_EQ(json::parse(a2.body)["state"], "pending");
  EXPECT_EQ(json::parse(a2.body)["approvers"], json::array({"admin2"}));
  EXPECT_EQ(d.Approve("admin2", digest).status, 409);
  EXPECT_EQ(d.Approve("admin1", digest).status, 403);
  EXPECT_EQ(d.Call("rita", "GET", "/admin/v1/workflows/" + digest).status, 404);
  HttpResult a3 = d.Approve("admin3", digest);
  ASSERT_EQ(a3.status, 200) << a3.body;
  EXPECT_EQ(json::parse(a3.body)["state"], "approved");
  EXPECT_EQ(json::parse(a3.body)["approvers"], json::array({"admin2", "admin3"}));
  EXPECT_EQ(d.Call("rita", "GET", "/admin/v1/workflows/" + digest).status, 200);

  // Concurrent approvals of another item: both count, exactly once each.
  r = d.Register("admin1", Bundle(Manifest("flow-race")));
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string race = json::parse(r.body)["id"];
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (const char* who : {"admin2", "admin3", "admin2", "admin3"}) {
    threads.emplace_back([&, who] {
      if (d.Approve(who, race).status == 200) ++ok;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 2);
  json final_item = json::parse(d.Call("admin1", "GET", "/admin/v1/workflows/" + race).body);
  EXPECT_EQ(final_item["state"], "approved");
  EXPECT_EQ(final_item["approvers"].size(), 2u);
  json approvals = d.Audit("action=workflow.approve&outcome=success&object_id=" + race);
  ASSERT_EQ(approvals.size(), 2u);
  EXPECT_EQ(approvals[0]["details"]["state"], "approved");  // newest first
  EXPECT_EQ(approvals[1]["details"]["state"], "pending");
  d.d->Stop(SIGTERM);
}

}  // namespace
}  // namespace safeflow::testing
