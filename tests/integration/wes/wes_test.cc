// GA4GH WES 1.1 through a real safeflowd: the example workflows of workflows/ (Snakemake and
// CWL) registered, approved and run by their real engines in bubblewrap sandboxes on a
// generated synthetic cohort; every refusal (unapproved, tampered, revoked, bad params, engine
// parameter overrides, wrong role or project) with its status and audit record; cancel; pages;
// and every response checked against the WES spec (../shared/ga4gh/wes.openapi.resolved.json).
#include <fstream>
#include <set>
#include <signal.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "tests/integration/wes/wes_fixture.h"
#include "tests/testing/integration.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

json Manifest(const std::string& name) {
  return json::parse(ReadAll(WorkflowDir(name) + "/safeflow-manifest.json"));
}

class WesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = new WesServer();
    ok_ = env_->Start();
    if (ok_) {
      counts_digest_ = env_->RegisterAndApprove("cohort-counts");
      regression_digest_ = env_->RegisterAndApprove("cohort-regression");
    }
  }
  static void TearDownTestSuite() {
    if (env_->server.process) env_->server.process->Stop(SIGTERM);
    delete env_;
  }
  void SetUp() override {
    ASSERT_TRUE(ok_) << (env_->server.process ? env_->server.process->log() : "no safeflowd");
    ASSERT_FALSE(counts_digest_.empty());
    ASSERT_FALSE(regression_digest_.empty());
  }

  // The example params of workflows/<name> with the cohort URL filled in.
  static json Params(const std::string& name) {
    json p = json::parse(ReadAll(WorkflowDir(name) + "/example-params.json"));
    p["cohort"] = env_->cohort_url;
    return p;
  }

  static std::vector<FormPart> CountsRun(const json& tags = json::object(),
                                         const json& engine_params = json::object()) {
    const json m = Manifest("cohort-counts");
    return WesServer::RunForm("safeflow:cohort-counts@" + m["version"].get<std::string>(), "SMK",
                              m["workflow_type_version"], Params("cohort-counts"), tags,
                              engine_params);
  }

  static std::vector<FormPart> RegressionRun(const json& tags = json::object()) {
    const json m = Manifest("cohort-regression");
    return WesServer::RunForm("safeflow:cohort-regression@" + m["version"].get<std::string>(),
                              "CWL", m["workflow_type_version"], Params("cohort-regression"), tags);
  }

  // A refusal: the status, a message containing `why`, a valid ErrorResponse, an audit record.
  static void ExpectRefused(const HttpResult& r, long status, const std::string& why,
                            const std::string& outcome) {
    EXPECT_EQ(r.status, status) << r.body;
    json body = json::parse(r.body, nullptr, false);
    EXPECT_THAT(ValidWes(body, "ErrorResponse"), IsOk());
    EXPECT_EQ(body.value("status_code", 0), status);
    EXPECT_THAT(body.value("msg", ""), HasSubstr(why));
    bool audited = false;
    for (const json& rec : env_->Audit("run.create", outcome)) {
      audited |= rec.dump().find(why.substr(0, 40)) != std::string::npos;
    }
    EXPECT_TRUE(audited) << "no audit record of run.create/" << outcome << " mentioning " << why;
  }

  // A completed run: spec-valid documents, declared outputs written, steps listed.
  static void ExpectCompleted(const std::string& id, const std::string& workflow,
                              size_t min_steps) {
    json run = env_->WaitRun(id, 240s);
    ASSERT_EQ(run.value("state", ""), "COMPLETE") << run.dump(2);
    EXPECT_THAT(ValidWes(run, "RunLog"), IsOk());
    EXPECT_EQ(run["run_id"], id);
    EXPECT_EQ(run["run_log"].value("exit_code", -1), 0);
    const json m = Manifest(workflow);
    for (const json& o : m["outputs"]) {
      const std::string path =
          env_->server.out_root + "/wes-runs/demo/" + id + "/" + o["path"].get<std::string>();
      EXPECT_TRUE(std::filesystem::exists(path)) << path;
      EXPECT_GT(std::filesystem::file_size(path), 0u) << path;
      // Its evidence sidecar, if any, is written beside it for the airlock.
      if (o.contains("evidence")) {
        const std::string evidence =
            env_->server.out_root + "/wes-runs/demo/" + id + "/" + o["evidence"].get<std::string>();
        EXPECT_TRUE(std::filesystem::exists(evidence)) << evidence;
      }
      // Each declared output has an airlock decision; without auto-release (the default)
      // nothing is released, so RunLog.outputs lists nothing.
      bool decided = false;
      for (const json& f : run["airlock"]["files"]) {
        if (f["name"] != o["name"]) continue;
        const std::string st = f.value("status", "");
        decided = st == "held" || st == "blocked" || st == "released";
      }
      EXPECT_TRUE(decided) << o["name"] << " " << run["airlock"].dump(2);
    }
    EXPECT_TRUE(run["outputs"].empty()) << run["outputs"];
    HttpResult st = env_->Call("alice", "GET", "/ga4gh/wes/v1/runs/" + id + "/status");
    EXPECT_EQ(st.status, 200);
    EXPECT_THAT(ValidWes(json::parse(st.body), "RunStatus"), IsOk());
    EXPECT_EQ(json::parse(st.body)["state"], "COMPLETE");

    HttpResult tasks = env_->Call("alice", "GET", "/ga4gh/wes/v1/runs/" + id + "/tasks");
    ASSERT_EQ(tasks.status, 200) << tasks.body;
    json tl = json::parse(tasks.body);
    EXPECT_THAT(ValidWes(tl, "TaskListResponse"), IsOk());
    ASSERT_GE(tl["task_logs"].size(), 1 + min_steps) << tl.dump(2);
    for (const json& t : tl["task_logs"]) {
      EXPECT_THAT(ValidWes(t, "TaskLog"), IsOk());
      EXPECT_THAT(t.value("tes_uri", ""), HasSubstr("/ga4gh/tes/v1/tasks/"));
      HttpResult one = env_->Call(
          "alice", "GET", "/ga4gh/wes/v1/runs/" + id + "/tasks/" + t["id"].get<std::string>());
      EXPECT_EQ(one.status, 200) << one.body;
      EXPECT_EQ(json::parse(one.body), t);
    }
    for (size_t i = 1; i < tl["task_logs"].size(); ++i) {
      EXPECT_EQ(tl["task_logs"][i].value("exit_code", -1), 0) << tl["task_logs"][i];
    }
    // The log URLs serve the engine's log to members of the project only.
    const std::string stderr_url = run["run_log"]["stderr"];
    const std::string path = stderr_url.substr(stderr_url.find("/ga4gh/"));
    HttpResult log = env_->Call("alice", "GET", path);
    EXPECT_EQ(log.status, 200);
    EXPECT_FALSE(log.body.empty());
    EXPECT_EQ(env_->Call("mallory", "GET", path).status, 404);
    EXPECT_EQ(env_->Call("", "GET", path).status, 401);
  }

  static WesServer* env_;
  static bool ok_;
  static std::string counts_digest_, regression_digest_;
};

WesServer* WesTest::env_ = nullptr;
bool WesTest::ok_ = false;
std::string WesTest::counts_digest_, WesTest::regression_digest_;

TEST_F(WesTest, ServiceInfoListsTheInstalledEnginesAndIsSpecValid) {
  HttpResult r = env_->Call("", "GET", "/ga4gh/wes/v1/service-info");
  ASSERT_EQ(r.status, 200) << r.body;
  json info = json::parse(r.body);
  EXPECT_THAT(ValidWes(info, "ServiceInfo"), IsOk());
  EXPECT_EQ(info["type"]["artifact"], "wes");
  EXPECT_EQ(info["supported_wes_versions"], json::array({"1.1.0"}));
  EXPECT_EQ(info["workflow_engine_versions"]["snakemake"]["workflow_engine_version"],
            json::array({"7.21.0"}));
  EXPECT_TRUE(info["workflow_engine_versions"].contains("cwltool"));
  EXPECT_FALSE(info["workflow_engine_versions"].contains("nextflow"))
      << "nextflow is not installed here";
  EXPECT_TRUE(info["workflow_type_versions"].contains("SMK"));
  EXPECT_TRUE(info["workflow_type_versions"].contains("CWL"));
  EXPECT_TRUE(info["system_state_counts"].contains("QUEUED"));
  bool cores = false;
  for (const json& p : info["default_workflow_engine_parameters"]) cores |= p["name"] == "cores";
  EXPECT_TRUE(cores);
}

TEST_F(WesTest, SnakemakeWorkflowRunsLocallyOnTheSyntheticCohort) {
  const std::string id = env_->Submit(CountsRun());
  ASSERT_FALSE(id.empty());
  ExpectCompleted(id, "cohort-counts", 3);
  // The counts cover every patient the workflow kept: the frequency table is real.
  json run = env_->GetRun(id);
  EXPECT_EQ(run["request"]["workflow_url"],
            "safeflow:cohort-counts@" + Manifest("cohort-counts")["version"].get<std::string>());
  EXPECT_EQ(run["request"]["workflow_engine"], "snakemake");
  EXPECT_EQ(run["request"]["workflow_params"]["cohort"], env_->cohort_url);
}

TEST_F(WesTest, CwlWorkflowRunsLocallyOnTheSyntheticCohort) {
  const std::string id = env_->Submit(RegressionRun());
  ASSERT_FALSE(id.empty());
  ExpectCompleted(id, "cohort-regression", 2);
  json run = env_->GetRun(id);
  EXPECT_EQ(run["request"]["workflow_engine"], "cwltool");
}

TEST_F(WesTest, AFailingWorkflowEndsInExecutorErrorWithItsFailedStep) {
  // A cohort file without the columns the workflow needs: its first rule fails.
  WriteAll(env_->server.in_root + "/broken.csv", "x,y\n1,2\n");
  std::vector<FormPart> form = CountsRun();
  json p = Params("cohort-counts");
  p["cohort"] = "file://" + env_->server.in_root + "/broken.csv";
  form[3].data = p.dump();
  const std::string id = env_->Submit(form);
  ASSERT_FALSE(id.empty());
  json run = env_->WaitRun(id, 240s);
  EXPECT_EQ(run.value("state", ""), "EXECUTOR_ERROR") << run.dump(2);
  EXPECT_THAT(ValidWes(run, "RunLog"), IsOk());
  EXPECT_NE(run["run_log"].value("exit_code", 0), 0);
  EXPECT_EQ(run["outputs"], json::object()) << "nothing leaves a failed run";
  HttpResult tasks = env_->Call("alice", "GET", "/ga4gh/wes/v1/runs/" + id + "/tasks");
  ASSERT_EQ(tasks.status, 200);
  json tl = json::parse(tasks.body);
  EXPECT_THAT(ValidWes(tl, "TaskListResponse"), IsOk());
  bool failed_step = false;
  for (const json& t : tl["task_logs"]) {
    if (t["name"] == "select_cohort")
      failed_step = t.dump().find("EXECUTOR_ERROR") != std::string::npos;
  }
  EXPECT_TRUE(failed_step) << tl.dump(2);
}

TEST_F(WesTest, AnAttachedCopyOfAnApprovedBundleRuns) {
  std::vector<FormPart> form = BundleParts(WorkflowDir("cohort-counts"));
  const json m = Manifest("cohort-counts");
  for (FormPart p : WesServer::RunForm(m["entry_point"], "SMK", m["workflow_type_version"],
                                       Params("cohort-counts"))) {
    form.push_back(p);
  }
  const std::string id = env_->Submit(form);
  ASSERT_FALSE(id.empty());
  ExpectCompleted(id, "cohort-counts", 3);
}

TEST_F(WesTest, AnUnapprovedWorkflowIsRefusedAndAudited) {
  std::vector<FormPart> form = CountsRun();
  form[0].data = "safeflow:cohort-counts@99.0.0";
  ExpectRefused(env_->PostForm("alice", "/ga4gh/wes/v1/runs", form), 403,
                "'cohort-counts@99.0.0' is not an approved workflow", "denied");
  form[0].data = "https://example.org/evil.smk";
  ExpectRefused(env_->PostForm("alice", "/ga4gh/wes/v1/runs", form), 403,
                "workflow_url 'https://example.org/evil.smk' is not an approved workflow",
                "denied");
}

TEST_F(WesTest, ATamperedAttachmentIsRefusedAndAudited) {
  std::vector<FormPart> form = BundleParts(WorkflowDir("cohort-counts"));
  for (FormPart& p : form) {
    if (*p.filename == "Snakefile") p.data += "\n# one more line\n";
  }
  const json m = Manifest("cohort-counts");
  for (FormPart p : WesServer::RunForm(m["entry_point"], "SMK", m["workflow_type_version"],
                                       Params("cohort-counts"))) {
    form.push_back(p);
  }
  ExpectRefused(env_->PostForm("alice", "/ga4gh/wes/v1/runs", form), 403,
                "is not an approved workflow: its files differ", "denied");
}

TEST_F(WesTest, APendingAndARevokedWorkflowAreRefused) {
  // A new version of cohort-counts: registered, not yet approved.
  std::vector<FormPart> parts = BundleParts(WorkflowDir("cohort-counts"));
  for (FormPart& p : parts) {
    if (*p.filename == "safeflow-manifest.json") {
      json m = json::parse(p.data);
      m["version"] = "1.0.1-test";
      p.data = m.dump(2);
    }
  }
  HttpResult reg = env_->PostForm("author", "/admin/v1/workflows", parts);
  ASSERT_EQ(reg.status, 201) << reg.body;
  std::vector<FormPart> form = CountsRun();
  form[0].data = "safeflow:cohort-counts@1.0.1-test";
  ExpectRefused(env_->PostForm("alice", "/ga4gh/wes/v1/runs", form), 403,
                "'cohort-counts@1.0.1-test' is not approved yet (pending)", "denied");
  ASSERT_EQ(
      env_->Call("approver", "POST", "/admin/v1/workflows/cohort-counts@1.0.1-test:approve").status,
      200);
  const std::string ok = env_->Submit(form);
  EXPECT_FALSE(ok.empty());
  HttpResult rev =
      env_->Call("approver", "POST", "/admin/v1/workflows/cohort-counts@1.0.1-test:revoke",
                 json{{"reason", "superseded by a fixed version"}}.dump());
  ASSERT_EQ(rev.status, 200) << rev.body;
  ExpectRefused(env_->PostForm("alice", "/ga4gh/wes/v1/runs", form), 403,
                "'cohort-counts@1.0.1-test' was revoked: superseded by a fixed version", "denied");
}

TEST_F(WesTest, ParamsThatFailTheApprovedSchemaAreRefusedWithTheirPaths) {
  std::vector<FormPart> form = CountsRun();
  json p = Params("cohort-counts");
  p["not_in_schema"] = 1;
  p.erase("cohort");
  form[3].data = p.dump();
  HttpResult r = env_->PostForm("alice", "/ga4gh/wes/v1/runs", form);
  ExpectRefused(r, 400, "workflow_params", "invalid");
  EXPECT_THAT(r.body, HasSubstr("cohort"));
  EXPECT_THAT(r.body, HasSubstr("not_in_schema"));
  form[3].data = "[1, 2]";
  ExpectRefused(env_->PostForm("alice", "/ga4gh/wes/v1/runs", form), 400,
                "workflow_params: must be a JSON-encoded object", "invalid");
}

TEST_F(WesTest, EngineParametersTheManifestDoesNotAllowAreRefused) {
  ExpectRefused(env_->PostForm("alice", "/ga4gh/wes/v1/runs",
                               CountsRun(json::object(), json{{"printshellcmds", "false"}})),
                400,
                "workflow_engine_parameters.printshellcmds: not allowed by workflow cohort-counts@",
                "invalid");
  // A value outside the schema the admin set for an allowed parameter.
  const json m = Manifest("cohort-counts");
  const json caller = m.value("caller_engine_parameters", json::object());
  const json fixed = m.value("engine_parameters", json::object());
  for (const auto& [name, schema] : caller.items()) {
    ExpectRefused(env_->PostForm("alice", "/ga4gh/wes/v1/runs",
                                 CountsRun(json::object(), json{{name, "999"}})),
                  400, "workflow_engine_parameters." + name, "invalid");
  }
  for (const auto& [name, value] : fixed.items()) {
    ExpectRefused(env_->PostForm("alice", "/ga4gh/wes/v1/runs",
                                 CountsRun(json::object(), json{{name, value}})),
                  400, "(fixed by its approval)", "invalid");
  }
}

TEST_F(WesTest, MalformedFormsAreClearErrors) {
  std::vector<FormPart> form = CountsRun();
  form.push_back({"workflow_attachment", "x", std::string("../escape.py")});
  HttpResult r = env_->PostForm("alice", "/ga4gh/wes/v1/runs", form);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.body, HasSubstr("../escape.py"));
  form.back().filename = "/etc/passwd";
  EXPECT_EQ(env_->PostForm("alice", "/ga4gh/wes/v1/runs", form).status, 400);

  HttpResult json_body = env_->Call("alice", "POST", "/ga4gh/wes/v1/runs", "{}");
  EXPECT_EQ(json_body.status, 400) << json_body.body;
  EXPECT_THAT(ValidWes(json::parse(json_body.body), "ErrorResponse"), IsOk());

  std::vector<FormPart> missing = CountsRun();
  missing.erase(missing.begin());  // no workflow_url
  r = env_->PostForm("alice", "/ga4gh/wes/v1/runs", missing);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("workflow_url: required"));

  std::vector<FormPart> unknown = CountsRun();
  unknown.push_back({"workflow_surprise", "1", std::nullopt});
  r = env_->PostForm("alice", "/ga4gh/wes/v1/runs", unknown);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("'workflow_surprise' is not a RunRequest field"));

  std::vector<FormPart> wrong_type = CountsRun();
  wrong_type[1].data = "CWL";
  r = env_->PostForm("alice", "/ga4gh/wes/v1/runs", wrong_type);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("workflow_type: 'CWL' but cohort-counts@"));

  // Truncated body: no close delimiter.
  HttpResult cut =
      env_->Call("alice", "POST", "/ga4gh/wes/v1/runs", MultipartBody(CountsRun()).substr(0, 100),
                 std::string("multipart/form-data; boundary=") + kBoundary);
  EXPECT_EQ(cut.status, 400) << cut.body;
}

TEST_F(WesTest, RolesAndProjectsAreEnforced) {
  EXPECT_EQ(env_->PostForm("auditor", "/ga4gh/wes/v1/runs", CountsRun()).status, 403);
  EXPECT_EQ(env_->PostForm("author", "/ga4gh/wes/v1/runs", CountsRun()).status, 403);
  EXPECT_EQ(env_->PostForm("", "/ga4gh/wes/v1/runs", CountsRun()).status, 401);
  ExpectRefused(
      env_->PostForm("alice", "/ga4gh/wes/v1/runs", CountsRun(json{{"project", "other"}})), 403,
      "you are not a member of project 'other'", "denied");
  const std::string id = env_->Submit(CountsRun());
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(env_->Call("mallory", "GET", "/ga4gh/wes/v1/runs/" + id).status, 404);
  EXPECT_EQ(env_->Call("mallory", "POST", "/ga4gh/wes/v1/runs/" + id + "/cancel").status, 404);
  EXPECT_EQ(env_->Call("auditor", "GET", "/ga4gh/wes/v1/runs/" + id).status, 200);
  HttpResult list = env_->Call("mallory", "GET", "/ga4gh/wes/v1/runs");
  EXPECT_EQ(json::parse(list.body)["runs"].size(), 0u);
  env_->WaitRun(id, 240s);
}

TEST_F(WesTest, RunListsPageWithOpaqueTokens) {
  for (int i = 0; i < 3; ++i)
    ASSERT_FALSE(env_->Submit(CountsRun(json{{"batch", "paging"}})).empty());
  std::set<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    HttpResult r = env_->Call("alice", "GET",
                              "/ga4gh/wes/v1/runs?page_size=2" +
                                  (token.empty() ? std::string() : "&page_token=" + token));
    ASSERT_EQ(r.status, 200) << r.body;
    json page = json::parse(r.body);
    EXPECT_THAT(ValidWes(page, "RunListResponse"), IsOk());
    for (const json& run : page["runs"]) {
      EXPECT_THAT(ValidWes(run, "RunSummary"), IsOk());
      EXPECT_TRUE(seen.insert(run["run_id"]).second) << "listed twice: " << run["run_id"];
    }
    token = page.value("next_page_token", "");
    ++pages;
  } while (!token.empty() && pages < 50);
  EXPECT_GE(seen.size(), 3u);
  EXPECT_GE(pages, 2);
  HttpResult bad = env_->Call("alice", "GET", "/ga4gh/wes/v1/runs?page_token=garbage");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(env_->Call("alice", "GET", "/ga4gh/wes/v1/runs?page_size=0").status, 400);
}

TEST_F(WesTest, CancelKillsTheEngineAndItsSteps) {
  // A workflow whose one step sleeps: registered and approved for this test.
  const std::string marker = "4242.5";
  std::vector<FormPart> bundle = {
      {"workflow_attachment",
       "rule all:\n    output: \"done.txt\"\n    shell: \"sleep " + marker +
           " && touch {output}\"\n",
       std::string("Snakefile")},
      {"workflow_attachment",
       json{{"name", "sleeper"},
            {"version", "1.0.0"},
            {"workflow_type", "SMK"},
            {"workflow_type_version", "7.21"},
            {"entry_point", "Snakefile"},
            {"engine_parameters", {{"cores", "1"}}},
            {"params_schema", {{"type", "object"}}},
            {"outputs", {{{"name", "done"}, {"path", "done.txt"}, {"type", "text"}}}}}
           .dump(2),
       std::string("safeflow-manifest.json")}};
  ASSERT_FALSE(env_->RegisterAndApprove("sleeper", bundle).empty());
  const std::string id =
      env_->Submit(WesServer::RunForm("safeflow:sleeper@1.0.0", "SMK", "7.21", json::object()));
  ASSERT_FALSE(id.empty());
  auto sleeping = [&] {
    std::string out;
    RunProgram({"/usr/bin/pgrep", "-f", "sleep " + marker}, out);
    return !out.empty();
  };
  ASSERT_TRUE(Eventually(sleeping, 120s)) << env_->GetRun(id).dump(2);
  EXPECT_EQ(env_->GetRun(id)["state"], "RUNNING");
  HttpResult c = env_->Call("alice", "POST", "/ga4gh/wes/v1/runs/" + id + "/cancel");
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_THAT(ValidWes(json::parse(c.body), "RunId"), IsOk());
  EXPECT_TRUE(Eventually([&] { return !sleeping(); }, 30s)) << "the step survived the cancel";
  EXPECT_EQ(env_->GetRun(id)["state"], "CANCELED");
  bool audited = false;
  for (const json& rec : env_->Audit("run.cancel", "success")) {
    audited |= rec.dump().find(id) != std::string::npos;
  }
  EXPECT_TRUE(audited);
}

}  // namespace
}  // namespace safeflow::testing
