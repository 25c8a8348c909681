// Our versions of the GA4GH TES compliance scenarios, against a real safeflowd (embedded
// PostgreSQL, real bubblewrap sandboxes, real HTTP). Every response body is validated against
// the TES 1.1 OpenAPI schemas.
#include <filesystem>
#include <set>
#include <signal.h>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/integration/tes_api/tes_fixture.h"
#include "tests/testing/spec_validator.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr const char* kTesSpec = "tes.openapi.resolved.json";

void ExpectSpec(const json& doc, const std::string& schema) {
  EXPECT_THAT(ValidateAgainstSpec(doc, kTesSpec, schema), IsOk()) << doc.dump();
}

class TesApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new TesServer();
    ready_ = server_->Start();
  }
  static void TearDownTestSuite() {
    if (server_->process) server_->process->Stop(SIGTERM);
    delete server_;
  }
  void SetUp() override { ASSERT_TRUE(ready_) << server_->process->log(); }
  const TesClient& tes() { return *server_->client; }

  static inline TesServer* server_ = nullptr;
  static inline bool ready_ = false;
};

TEST_F(TesApiTest, ServiceInfoOnBothPrefixes) {
  for (const std::string& base :
       {server_->process->url() + "/ga4gh/tes/v1", server_->process->url() + "/v1"}) {
    HttpResult r = HttpGet(base + "/service-info");
    ASSERT_EQ(r.status, 200) << r.body;
    json info = json::parse(r.body);
    ExpectSpec(info, "tesServiceInfo");
    EXPECT_EQ(info["type"]["artifact"], "tes");
    EXPECT_EQ(info["type"]["version"], "1.1.0");
    EXPECT_THAT(info["storage"].dump(), HasSubstr(server_->out_root));
    EXPECT_TRUE(info["tesResources_backend_parameters"].is_array());
  }
}

TEST_F(TesApiTest, CreateAndGetInEveryView) {
  const std::string out = server_->out_root + "/views/result.txt";
  json task = {{"name", "views"},
               {"description", "create + get"},
               {"inputs", {{{"path", "/data/in.txt"}, {"content", "hello from content\n"}}}},
               {"outputs", {{{"path", "/data/out.txt"}, {"url", "file://" + out}}}},
               {"executors",
                {{{"image", "alpine"},
                  {"command", {"bash", "-c", "tr a-z A-Z < /data/in.txt | tee /data/out.txt"}}}}},
               {"tags", {{"suite", "views"}}}};
  HttpResult created = tes().Create(task);
  ASSERT_EQ(created.status, 200) << created.body;
  ExpectSpec(json::parse(created.body), "tesCreateTaskResponse");
  const std::string id = json::parse(created.body)["id"];
  ASSERT_FALSE(id.empty());
  json full = tes().WaitFor(id);
  ASSERT_EQ(full["state"], "COMPLETE") << full.dump(2);
  EXPECT_EQ(ReadAll(out), "HELLO FROM CONTENT\n");

  json minimal = tes().GetJson(id);
  // (The spec's own MINIMAL view does not validate against tesTask, which requires executors.)
  EXPECT_EQ(minimal.size(), 2u) << minimal.dump();
  EXPECT_EQ(minimal["id"], id);
  EXPECT_EQ(minimal["state"], "COMPLETE");
  EXPECT_EQ(tes().GetJson(id, "MINIMAL"), minimal);

  json basic = tes().GetJson(id, "BASIC");
  ExpectSpec(basic, "tesTask");
  EXPECT_EQ(basic["name"], "views");
  EXPECT_FALSE(basic["inputs"][0].contains("content"));
  EXPECT_FALSE(basic["logs"][0].contains("system_logs"));
  EXPECT_FALSE(basic["logs"][0]["logs"][0].contains("stdout"));
  EXPECT_EQ(basic["logs"][0]["logs"][0]["exit_code"], 0);
  EXPECT_TRUE(basic.contains("creation_time"));

  ExpectSpec(full, "tesTask");
  EXPECT_EQ(full["inputs"][0]["content"], "hello from content\n");
  EXPECT_EQ(full["logs"][0]["logs"][0]["stdout"], "HELLO FROM CONTENT\n");
  ASSERT_EQ(full["logs"][0]["outputs"].size(), 1u);
  EXPECT_EQ(full["logs"][0]["outputs"][0]["size_bytes"], "19");
  EXPECT_EQ(full["logs"][0]["outputs"][0]["url"], "file://" + out);
  EXPECT_TRUE(full["logs"][0].contains("start_time"));
  EXPECT_TRUE(full["logs"][0].contains("end_time"));

  EXPECT_EQ(tes().Get(id, "EVERYTHING").status, 400);
  HttpResult missing = tes().Get("no-such-task");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(json::parse(missing.body)["status_code"], 404);
}

TEST_F(TesApiTest, LargeInputContentIsAccepted) {
  const std::string content(160 * 1024, 'x');
  json task = BashTask("wc -c < /in/big.txt");
  task["inputs"] = {{{"path", "/in/big.txt"}, {"content", content}}};
  const std::string id = tes().CreateOk(task);
  json full = tes().WaitFor(id);
  ASSERT_EQ(full["state"], "COMPLETE") << full.dump();
  EXPECT_EQ(full["logs"][0]["logs"][0]["stdout"], std::to_string(content.size()) + "\n");
}

TEST_F(TesApiTest, FileInputsFromTheInputRoot) {
  WriteAll(server_->in_root + "/cohort/a.csv", "id,age\n1,40\n");
  WriteAll(server_->in_root + "/cohort/sub/b.csv", "id,age\n2,50\n");
  json task = BashTask("cat /data/a.csv && ls -R /dir && cat /dir/sub/b.csv");
  task["inputs"] = {
      {{"path", "/data/a.csv"}, {"url", "file://" + server_->in_root + "/cohort/a.csv"}},
      {{"path", "/dir"}, {"url", "file://" + server_->in_root + "/cohort"}, {"type", "DIRECTORY"}}};
  json full = tes().WaitFor(tes().CreateOk(task));
  ASSERT_EQ(full["state"], "COMPLETE") << full.dump(2);
  EXPECT_THAT(full["logs"][0]["logs"][0]["stdout"].get<std::string>(), HasSubstr("2,50"));
}

TEST_F(TesApiTest, ExecutorsRunInOrderWithWorkdirEnvAndStreams) {
  json task = {
      {"inputs", {{{"path", "/work/stdin.txt"}, {"content", "line one\nline two\n"}}}},
      {"outputs",
       {{{"path", "/work/err.txt"}, {"url", "file://" + server_->out_root + "/streams/err.txt"}}}},
      {"executors",
       {{{"image", "ubuntu"},
         {"command", {"sh", "-c", "pwd; echo $GREETING; wc -l; echo oops >&2"}},
         {"workdir", "/work"},
         {"env", {{"GREETING", "bonjour"}}},
         {"stdin", "/work/stdin.txt"},
         {"stdout", "/work/out.txt"},
         {"stderr", "/work/err.txt"}},
        {{"image", "ubuntu"}, {"command", {"cat", "/work/out.txt"}}}}}};
  json full = tes().WaitFor(tes().CreateOk(task));
  ASSERT_EQ(full["state"], "COMPLETE") << full.dump(2);
  EXPECT_EQ(full["logs"][0]["logs"][1]["stdout"], "/work\nbonjour\n2\n");
  EXPECT_EQ(ReadAll(server_->out_root + "/streams/err.txt"), "oops\n");
}

TEST_F(TesApiTest, IgnoreErrorDecidesWhetherLaterExecutorsRun) {
  json tolerant = {
      {"executors",
       {{{"image", "ubuntu"}, {"command", {"sh", "-c", "exit 3"}}, {"ignore_error", true}},
        {{"image", "ubuntu"}, {"command", {"echo", "second"}}}}}};
  json full = tes().WaitFor(tes().CreateOk(tolerant));
  ASSERT_EQ(full["state"], "COMPLETE") << full.dump(2);
  ASSERT_EQ(full["logs"][0]["logs"].size(), 2u);
  EXPECT_EQ(full["logs"][0]["logs"][0]["exit_code"], 3);
  EXPECT_EQ(full["logs"][0]["logs"][1]["stdout"], "second\n");

  json strict = tolerant;
  strict["executors"][0].erase("ignore_error");
  full = tes().WaitFor(tes().CreateOk(strict));
  EXPECT_EQ(full["state"], "EXECUTOR_ERROR") << full.dump(2);
  EXPECT_EQ(full["logs"][0]["logs"].size(), 1u);
  EXPECT_EQ(full["logs"][0]["logs"][0]["exit_code"], 3);
}

TEST_F(TesApiTest, StrictBackendParameters) {
  json task = BashTask("true");
  task["resources"] = {{"backend_parameters", {{"vm_flavor", "huge"}}},
                       {"backend_parameters_strict", true}};
  HttpResult r = tes().Create(task);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("vm_flavor"));
  task["resources"]["backend_parameters_strict"] = false;
  json full = tes().WaitFor(tes().CreateOk(task));
  EXPECT_EQ(full["state"], "COMPLETE") << full.dump(2);
}

TEST_F(TesApiTest, WildcardAndDirectoryOutputs) {
  const std::string dest = server_->out_root + "/wild";
  json task = BashTask(
      "mkdir -p /outputs/dir/nested && echo a > /outputs/a.txt && echo bb > /outputs/b.txt && "
      "echo c > /outputs/c.log && echo d > /outputs/dir/nested/d.txt");
  task["outputs"] = {
      {{"path", "/outputs/*.txt"}, {"path_prefix", "/outputs"}, {"url", "file://" + dest + "/txt"}},
      {{"path", "/outputs/dir"}, {"url", "file://" + dest + "/dir"}, {"type", "DIRECTORY"}}};
  json full = tes().WaitFor(tes().CreateOk(task));
  ASSERT_EQ(full["state"], "COMPLETE") << full.dump(2);
  EXPECT_EQ(ReadAll(dest + "/txt/a.txt"), "a\n");
  EXPECT_EQ(ReadAll(dest + "/txt/b.txt"), "bb\n");
  EXPECT_FALSE(fs::exists(dest + "/txt/c.log"));
  EXPECT_EQ(ReadAll(dest + "/dir/nested/d.txt"), "d\n");
  std::set<std::string> logged;
  for (const json& o : full["logs"][0]["outputs"]) logged.insert(o["url"].get<std::string>());
  EXPECT_EQ(logged,
            (std::set<std::string>{"file://" + dest + "/txt/a.txt", "file://" + dest + "/txt/b.txt",
                                   "file://" + dest + "/dir/nested/d.txt"}));
}

TEST_F(TesApiTest, CancelARunningTaskKillsItsWork) {
  const std::string id = tes().CreateOk(BashTask("echo started; exec sleep 3131"));
  tes().WaitFor(id, {"RUNNING"});
  auto sleeping = [] {
    std::string out;
    return RunProgram({"/usr/bin/pgrep", "-f", "sleep 3131"}, out) == 0;
  };
  ASSERT_TRUE(Eventually(sleeping, 10s));
  const auto t0 = std::chrono::steady_clock::now();
  HttpResult r = tes().Cancel(id);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body), json::object());
  ExpectSpec(json::parse(r.body), "tesCancelTaskResponse");
  EXPECT_EQ(tes().GetJson(id)["state"], "CANCELED");
  EXPECT_TRUE(Eventually([&] { return !sleeping(); }, 10s)) << "the sandbox survived the cancel";
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(tes().GetJson(id)["state"], "CANCELED");
}

TEST_F(TesApiTest, CancelAQueuedTaskAndAFinishedOne) {
  const std::string done = tes().CreateOk(BashTask("true"));
  ASSERT_EQ(tes().WaitFor(done)["state"], "COMPLETE");
  HttpResult r = tes().Cancel(done);
  EXPECT_EQ(r.status, 200) << r.body;  // answered as a no-op: the task already ended
  EXPECT_EQ(tes().GetJson(done)["state"], "COMPLETE");
  EXPECT_EQ(tes().Cancel("no-such-task").status, 404);
}

TEST_F(TesApiTest, ListFiltersAndPages) {
  const std::string run = std::to_string(::getpid()) + "-" + std::to_string(std::rand());
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    json t = BashTask("true", "list-" + run + "-" + std::to_string(i));
    t["tags"] = {{"run", run}, {"parity", i % 2 ? "odd" : "even"}};
    if (i == 3) t["tags"]["special"] = "";
    ids.push_back(tes().CreateOk(t));
  }
  for (const std::string& id : ids) tes().WaitFor(id);

  // Paging across several pages, newest first, while other tasks are being created.
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    HttpResult r = tes().List("page_size=3&view=BASIC&tag_key=run&tag_value=" + run +
                              (token.empty() ? "" : "&page_token=" + token));
    ASSERT_EQ(r.status, 200) << r.body;
    json page = json::parse(r.body);
    ExpectSpec(page, "tesListTasksResponse");
    for (const json& t : page["tasks"]) seen.push_back(t["id"]);
    token = page.value("next_page_token", "");
    ++pages;
    json noise = BashTask("true");
    noise["tags"] = {{"run", run}, {"noise", "yes"}};
    if (!token.empty()) tes().CreateOk(noise);  // concurrent insert between pages
  } while (!token.empty() && pages < 10);
  std::vector<std::string> expected(ids.rbegin(), ids.rend());
  // Tasks inserted while paging are newer than the first page and never appear later.
  std::vector<std::string> original;
  for (const std::string& id : seen) {
    if (std::find(ids.begin(), ids.end(), id) != ids.end()) original.push_back(id);
  }
  EXPECT_EQ(original, expected);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), seen.size()) << "duplicates";
  EXPECT_EQ(pages, 3);

  auto count = [&](const std::string& q) {
    HttpResult r = tes().List(q);
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body)["tasks"].size();
  };
  EXPECT_EQ(count("name_prefix=list-" + run), 7u);
  EXPECT_EQ(count("name_prefix=list-" + run + "-3"), 1u);
  EXPECT_EQ(count("tag_key=run&tag_value=" + run + "&tag_key=parity&tag_value=odd"), 3u);
  EXPECT_EQ(count("tag_key=run&tag_value=" + run + "&tag_key=special"), 1u);
  EXPECT_EQ(count("tag_key=run&tag_value=" + run + "&tag_key=special&tag_value="), 1u);
  EXPECT_EQ(count("state=COMPLETE&name_prefix=list-" + run), 7u);
  EXPECT_EQ(count("state=QUEUED&name_prefix=list-" + run), 0u);
  HttpResult minimal = tes().List("name_prefix=list-" + run + "-0");
  json m = json::parse(minimal.body);
  // MINIMAL tasks do not validate as tesTask (it requires executors), so check the envelope.
  EXPECT_TRUE(m["tasks"].is_array());
  ASSERT_EQ(m["tasks"].size(), 1u);
  EXPECT_EQ(m["tasks"][0].size(), 2u) << "MINIMAL is the default view";

  EXPECT_EQ(tes().List("page_size=0").status, 400);
  EXPECT_EQ(tes().List("page_size=2048").status, 400);
  EXPECT_EQ(tes().List("page_size=2047").status, 200);
  EXPECT_EQ(tes().List("page_size=abc").status, 400);
  EXPECT_EQ(tes().List("state=DONE").status, 400);
  EXPECT_EQ(tes().List("page_token=garbage").status, 400);
  EXPECT_EQ(tes().List("tag_value=x").status, 400);
}

TEST_F(TesApiTest, NextflowRequestShapeRuns) {
  WriteAll(server_->in_root + "/nf/input.txt", "nextflow says hi\n");
  const std::string dest = server_->out_root + "/nf";
  json task = {{"name", "nf-task-1"},
               {"resources",
                {{"cpu_cores", 1},
                 {"ram_gb", 0.5},
                 {"disk_gb", 0.25},
                 {"backend_parameters_strict", false},
                 {"backend_parameters", {{"nf_queue", "default"}}}}},
               {"executors",
                {{{"image", "quay.io/nextflow/bash"},
                  {"command",
                   {"bash", "-o", "pipefail", "-c",
                    "cd /work && cat input.txt > result.txt && echo done > .exitcode"}},
                  {"workdir", "/work"}}}},
               {"inputs",
                {{{"name", "input.txt"},
                  {"path", "/work/input.txt"},
                  {"url", "file://" + server_->in_root + "/nf/input.txt"},
                  {"type", "FILE"}}}},
               {"outputs",
                {{{"name", "outputs"},
                  {"path", "/work/*"},
                  {"path_prefix", "/work"},
                  {"url", "file://" + dest},
                  {"type", "FILE"}}}}};
  const std::string id = tes().CreateOk(task);
  tes().WaitFor(id, {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR"});
  json minimal = tes().GetJson(id);  // Nextflow polls without a view ...
  EXPECT_EQ(minimal["state"], "COMPLETE");
  json full = tes().GetJson(id, "FULL");  // ... then asks FULL for the exit code
  ASSERT_EQ(full["state"], "COMPLETE") << full.dump(2);
  EXPECT_EQ(full["logs"][0]["logs"][0]["exit_code"], 0);
  EXPECT_EQ(ReadAll(dest + "/result.txt"), "nextflow says hi\n");
  EXPECT_EQ(ReadAll(dest + "/.exitcode"), "done\n");
}

}  // namespace
}  // namespace safeflow::testing

namespace safeflow::testing {
namespace {

// Inputs from and outputs to a real S3 server on loopback (s3rver, started by deploy/test.sh).
TEST(TesS3Test, InputsAndOutputsThroughS3) {
  const char* endpoint = std::getenv("SAFEFLOW_TEST_S3_ENDPOINT");
  if (endpoint == nullptr) SAFEFLOW_SKIP_OR_FAIL("SAFEFLOW_TEST_S3_ENDPOINT is not set");
  const std::string bucket = "tes-" + std::to_string(::getpid());
  // Create the bucket with a signed PUT, like any S3 client.
  std::string out;
  ASSERT_EQ(RunProgram({"/usr/bin/curl", "-sf", "-X", "PUT", "--aws-sigv4", "aws:amz:us-east-1:s3",
                        "--user", "S3RVER:S3RVER", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                        std::string(endpoint) + "/" + bucket},
                       out),
            0)
      << out;
  TempDir tmp;
  WriteAll(tmp.path() + "/in.txt", "from s3\n");
  ASSERT_EQ(RunProgram({"/usr/bin/curl", "-sf", "-X", "PUT", "--aws-sigv4", "aws:amz:us-east-1:s3",
                        "--user", "S3RVER:S3RVER", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                        "--data-binary", "@" + tmp.path() + "/in.txt",
                        std::string(endpoint) + "/" + bucket + "/data/in.txt"},
                       out),
            0)
      << out;
  TesServer server;
  server.storage_yaml =
      std::string("  s3:\n    endpoint: ") + endpoint + "\n    access_key_id: S3RVER\n";
  ASSERT_TRUE(server.Start("", {"SAFEFLOW_S3_SECRET_ACCESS_KEY=S3RVER"})) << server.process->log();
  json task = BashTask("tr a-z A-Z < /data/in.txt > /data/out.txt");
  task["inputs"] = {{{"path", "/data/in.txt"}, {"url", "s3://" + bucket + "/data/in.txt"}}};
  task["outputs"] = {{{"path", "/data/out.txt"}, {"url", "s3://" + bucket + "/results/out.txt"}}};
  json full = server.client->WaitFor(server.client->CreateOk(task));
  ASSERT_EQ(full["state"], "COMPLETE") << full.dump(2);
  ASSERT_EQ(RunProgram({"/usr/bin/curl", "-sf", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user",
                        "S3RVER:S3RVER", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                        std::string(endpoint) + "/" + bucket + "/results/out.txt"},
                       out),
            0)
      << out;
  EXPECT_EQ(out, "FROM S3\n");
  EXPECT_EQ(server.process->Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace safeflow::testing
