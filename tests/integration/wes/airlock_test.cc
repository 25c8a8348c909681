// The airlock end to end through a real safeflowd, PostgreSQL, bubblewrap and Snakemake: one
// run writes three outputs; the table whose cells are all above the threshold passes and is
// released automatically (the project allows it) and downloadable; the table with a cell of 3
// is held and released only after two independent output checkers (blind to each other, never
// the requester); the text with an NHS number is blocked, and only an admin override with a
// justification releases it. A disagreement escalates. A TES task's "airlock:" output gets a
// release request of its own. Every step is audited.
#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "executor/crypto/hkdf.h"
#include "executor/sandbox/unique_fd.h"
#include "service/auth/dev_issuer.h"
#include "tests/integration/wes/wes_fixture.h"
#include "tests/testing/integration.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr const char* kOk = "age_band,sex,count\n18-29,F,25\n18-29,M,31\n30-44,F,12\n30-44,M,40\n";
constexpr const char* kSmall =
    "age_band,sex,count\n18-29,F,25\n18-29,M,31\n30-44,F,3\n30-44,M,40\n";
constexpr const char* kNotes = "Reviewed the record of NHS number 943 476 5919 today.\n";

std::string Snakefile() {
  auto rule = [](const std::string& name, const std::string& file, const std::string& text) {
    std::string escaped;
    for (char c : text) escaped += c == '\n' ? std::string("\\\\n") : std::string(1, c);
    return "rule " + name + ":\n    output: \"" + file + "\"\n    shell: \"printf '" + escaped +
           "' > {output}\"\n";
  };
  return "rule all:\n    input: \"ok.csv\", \"small.csv\", \"notes.txt\"\n" +
         rule("ok", "ok.csv", kOk) + rule("small", "small.csv", kSmall) +
         rule("notes", "notes.txt", kNotes);
}

std::vector<FormPart> Bundle() {
  const json table = {{"keys", {"age_band", "sex"}}, {"counts", {"count"}}};
  json manifest = {
      {"name", "three-outputs"},
      {"version", "1.0.0"},
      {"workflow_type", "SMK"},
      {"workflow_type_version", "7.21"},
      {"entry_point", "Snakefile"},
      {"engine_parameters", {{"cores", "1"}}},
      {"params_schema", {{"type", "object"}}},
      {"outputs",
       {{{"name", "ok"}, {"path", "ok.csv"}, {"type", "frequency_table"}, {"table", table}},
        {{"name", "small"}, {"path", "small.csv"}, {"type", "frequency_table"}, {"table", table}},
        {{"name", "notes"}, {"path", "notes.txt"}, {"type", "text"}}}}};
  return {{"workflow_attachment", Snakefile(), std::string("Snakefile")},
          {"workflow_attachment", manifest.dump(2), std::string("safeflow-manifest.json")}};
}

json FileOf(const json& request, const std::string& name) {
  for (const json& f : request["files"]) {
    if (f["name"] == name) return f;
  }
  return json::object();
}

// One safeflowd per suite (each suite its own, hence the template): SetUpTestSuite in the
// suite starts it and registers the workflow; every test needs both.
template <typename Suite>
class AirlockSuite : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    if (env_->server.process) env_->server.process->Stop(SIGTERM);
    delete env_;
  }
  void SetUp() override {
    ASSERT_TRUE(ok_) << (env_->server.process ? env_->server.process->log() : "no safeflowd");
    ASSERT_FALSE(digest_.empty());
  }

  // Audit records of `action` with `outcome` that mention `needle`.
  static int AuditedTimes(const std::string& action, const std::string& outcome,
                          const std::string& needle) {
    int n = 0;
    for (const json& rec : env_->Audit(action, outcome)) {
      n += rec.dump().find(needle) != std::string::npos;
    }
    return n;
  }
  static bool Audited(const std::string& action, const std::string& outcome,
                      const std::string& needle) {
    return AuditedTimes(action, outcome, needle) > 0;
  }

  static inline WesServer* env_ = nullptr;
  static inline bool ok_ = false;
  static inline std::string digest_;
};

class AirlockTest : public AirlockSuite<AirlockTest> {
 protected:
  static void SetUpTestSuite() {
    env_ = new WesServer();
    ok_ = env_->Start(
        "airlock:\n  poll_interval_ms: 100\n  projects:\n    demo: {auto_release: true, "
        "checkers: 2}\n");
    if (!ok_) return;
    env_->Mint("checker1", {"output-checker"}, {"demo"});
    env_->Mint("checker2", {"output-checker"}, {"demo"});
    env_->Mint("checker3", {"output-checker"}, {"demo"});
    // alice, also holding the checker role: she still may not check her own outputs.
    service::auth::DevTokenRequest r;
    r.subject = "alice";
    r.roles = {"researcher", "output-checker"};
    r.projects = {"demo"};
    absl::StatusOr<std::string> t = service::auth::DevIssuerToken(env_->issuer_dir, r);
    env_->tokens["alice-checker"] = t.ok() ? *t : "";
    digest_ = env_->RegisterAndApprove("three-outputs", Bundle());
  }

  // Runs the workflow; returns its run log once COMPLETE.
  static json RunToCompletion() {
    const std::string id = env_->Submit(
        WesServer::RunForm("safeflow:three-outputs@1.0.0", "SMK", "7.21", json::object()));
    if (id.empty()) return json::object();
    return env_->WaitRun(id, 240s);
  }

  static json Request(const std::string& id, const std::string& who) {
    HttpResult r = env_->Call(who, "GET", "/airlock/v1/requests/" + id);
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
  }

  static HttpResult Review(const std::string& id, const std::string& name, const std::string& who,
                           const std::string& decision) {
    return env_->Call(who, "POST", "/airlock/v1/requests/" + id + "/files/" + name + ":review",
                      json{{"decision", decision}, {"comment", "checked by " + who}}.dump());
  }

  static HttpResult Download(const std::string& id, const std::string& name,
                             const std::string& who = "alice") {
    return env_->Call(who, "GET", "/airlock/v1/requests/" + id + "/files/" + name + "/content");
  }
};

TEST_F(AirlockTest, PassIsReleasedSmallCellNeedsTwoCheckersNhsNumberIsBlocked) {
  json run = RunToCompletion();
  ASSERT_EQ(run.value("state", ""), "COMPLETE") << run.dump(2);
  EXPECT_THAT(ValidWes(run, "RunLog"), IsOk());
  ASSERT_TRUE(run["airlock"].is_object()) << run.dump(2);
  const std::string rid = run["airlock"]["request_id"];
  EXPECT_EQ(run["airlock"]["state"], "decided");

  // RunLog.outputs lists the released output only; the others are visible with their status.
  ASSERT_EQ(run["outputs"].size(), 1u) << run["outputs"];
  ASSERT_TRUE(run["outputs"].contains("ok")) << run["outputs"];
  std::map<std::string, std::string> status;
  for (const json& f : run["airlock"]["files"]) status[f["name"]] = f["status"];
  EXPECT_EQ(status["ok"], "released");
  EXPECT_EQ(status["small"], "held");
  EXPECT_EQ(status["notes"], "blocked");

  // The released file downloads with the checksum it was checked with.
  HttpResult ok = Download(rid, "ok");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.body, kOk);
  EXPECT_EQ(ok.headers["x-checksum-sha256"], absl::BytesToHexString(executor::crypto::Sha256(kOk)));
  EXPECT_EQ(run["outputs"]["ok"]["sha256"], ok.headers["x-checksum-sha256"]);
  EXPECT_TRUE(Audited("release.download", "success", rid + "/ok"));
  // Nothing else leaves, and nobody outside the project sees the request.
  EXPECT_EQ(Download(rid, "small").status, 409);
  EXPECT_EQ(Download(rid, "notes").status, 409);
  EXPECT_TRUE(Audited("release.download", "denied", rid + "/notes"));
  EXPECT_EQ(Download(rid, "ok", "mallory").status, 404);
  EXPECT_EQ(env_->Call("mallory", "GET", "/airlock/v1/requests/" + rid).status, 404);

  // Reports: the checker sees the small cell; the researcher sees where, not what.
  json as_checker = Request(rid, "checker1");
  json small = FileOf(as_checker, "small");
  EXPECT_EQ(small["verdict"], "review");
  bool found = false;
  for (const json& f : small["report"]["findings"]) {
    if (f["rule"] != "min_cell_count") continue;
    EXPECT_EQ(f["outcome"], "review");
    EXPECT_EQ(f["parameters"]["threshold"], 10);
    ASSERT_GE(f["cells"].size(), 1u);
    EXPECT_EQ(f["cells"][0]["row"], 2);
    EXPECT_EQ(f["cells"][0]["column"], "count");
    EXPECT_EQ(f["cells"][0]["value"], "3");
    found = true;
  }
  EXPECT_TRUE(found) << small.dump(2);
  EXPECT_EQ(FileOf(as_checker, "notes")["verdict"], "fail");
  EXPECT_THAT(FileOf(as_checker, "notes")["report"].dump(), HasSubstr("direct_identifiers"));
  EXPECT_THAT(FileOf(as_checker, "notes")["report"].dump(), ::testing::Not(HasSubstr("476 5919")));
  json as_researcher = Request(rid, "alice");
  const json small_for_alice = FileOf(as_researcher, "small");
  ASSERT_TRUE(small_for_alice.contains("report")) << small_for_alice.dump(2);
  for (const json& f : small_for_alice["report"]["findings"]) {
    for (const json& c : f.value("cells", json::array())) EXPECT_FALSE(c.contains("value")) << c;
  }

  // Held: the requester may not check her own output, researchers may not check at all.
  EXPECT_EQ(Review(rid, "small", "alice-checker", "approve").status, 403);
  EXPECT_TRUE(Audited("release.review", "denied", rid + "/small"));
  EXPECT_EQ(Review(rid, "small", "alice", "approve").status, 403);
  HttpResult first = Review(rid, "small", "checker1", "approve");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(json::parse(first.body)["status"], "held");
  EXPECT_EQ(Review(rid, "small", "checker1", "approve").status, 409);  // one vote each
  // Blind: the second checker does not see the first one's decision.
  json blind = FileOf(Request(rid, "checker2"), "small");
  EXPECT_TRUE(blind["reviews"].empty()) << blind.dump(2);
  EXPECT_EQ(Download(rid, "small").status, 409);
  HttpResult second = Review(rid, "small", "checker2", "approve");
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(json::parse(second.body)["status"], "released");
  EXPECT_EQ(json::parse(second.body)["reviews"].size(), 2u);
  HttpResult small_dl = Download(rid, "small");
  ASSERT_EQ(small_dl.status, 200) << small_dl.body;
  EXPECT_EQ(small_dl.body, kSmall);
  EXPECT_TRUE(env_->GetRun(run["run_id"])["outputs"].contains("small"));

  // Blocked: checkers cannot release it; an admin can, with a justification only.
  EXPECT_EQ(Review(rid, "notes", "checker1", "approve").status, 409);
  const std::string override_path = "/airlock/v1/requests/" + rid + "/files/notes:override";
  EXPECT_EQ(env_->Call("checker1", "POST", override_path,
                       json{{"decision", "release"}, {"justification", "looks fine to me"}}.dump())
                .status,
            403);
  EXPECT_EQ(env_->Call("approver", "POST", override_path,
                       json{{"decision", "release"}, {"justification", "ok"}}.dump())
                .status,
            400);
  HttpResult over =
      env_->Call("approver", "POST", override_path,
                 json{{"decision", "release"},
                      {"justification", "synthetic test number agreed with the data controller"}}
                     .dump());
  ASSERT_EQ(over.status, 200) << over.body;
  EXPECT_EQ(json::parse(over.body)["status"], "released");
  EXPECT_EQ(json::parse(over.body)["basis"], "override");
  EXPECT_TRUE(Audited("release.override", "success", "synthetic test number"));
  EXPECT_EQ(Download(rid, "notes").status, 200);
  EXPECT_TRUE(Audited("release.check", "success", rid + "/small"));
}

TEST_F(AirlockTest, CheckersWhoDisagreeEscalateToAnAdmin) {
  json run = RunToCompletion();
  ASSERT_EQ(run.value("state", ""), "COMPLETE") << run.dump(2);
  const std::string rid = run["airlock"]["request_id"];
  ASSERT_EQ(Review(rid, "small", "checker1", "approve").status, 200);
  HttpResult r = Review(rid, "small", "checker3", "reject");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["status"], "escalated");
  EXPECT_EQ(Download(rid, "small").status, 409);
  EXPECT_EQ(Review(rid, "small", "checker2", "approve").status, 409);  // no longer held
  HttpResult block = env_->Call(
      "approver", "POST", "/airlock/v1/requests/" + rid + "/files/small:override",
      json{{"decision", "block"}, {"justification", "the 30-44 F cell is too small"}}.dump());
  ASSERT_EQ(block.status, 200) << block.body;
  EXPECT_EQ(json::parse(block.body)["status"], "blocked");
  // "ok" passes on its own, but when the first test already released "small" (the same
  // table but for one cell, 12 vs 3), the two differ by 9 people: differencing holds it.
  const json ok = FileOf(Request(rid, "checker2"), "ok");
  if (ok["status"] != "released") {
    EXPECT_EQ(ok["status"], "held") << ok.dump(2);
    EXPECT_EQ(ok["verdict"], "review");
    bool differencing = false;
    for (const json& f : ok["report"]["findings"]) {
      if (f["rule"] == "differencing" && f["outcome"] == "review") differencing = true;
    }
    EXPECT_TRUE(differencing) << ok.dump(2);
  }
}

TEST_F(AirlockTest, ATableDifferingFromAReleasedOneBySmallGroupIsHeld) {
  // "ok" was released (by the first test). Run 2's "small" differs from that released "ok" by 9
  // people in one cell (3 vs 12): subtracting the two tables would disclose a group smaller
  // than the threshold, so the differencing rule flags it and names the earlier release.
  json first = RunToCompletion();
  ASSERT_EQ(first.value("state", ""), "COMPLETE") << first.dump(2);
  json second = RunToCompletion();
  ASSERT_EQ(second.value("state", ""), "COMPLETE") << second.dump(2);
  const json small = FileOf(Request(second["airlock"]["request_id"], "checker1"), "small");
  bool named = false;
  for (const json& f : small["report"]["findings"]) {
    if (f["rule"] != "differencing") continue;
    EXPECT_EQ(f["outcome"], "review") << f.dump(2);
    // It names a release of "ok" (run 1's, or an identical earlier one).
    named = named || f.value("message", "").find("/ok by only 9") != std::string::npos;
  }
  EXPECT_TRUE(named) << small.dump(2);
}

TEST_F(AirlockTest, TheCliShowsReportsRecordsDecisionsAndDownloadsReleasedFiles) {
  json run = RunToCompletion();
  ASSERT_EQ(run.value("state", ""), "COMPLETE") << run.dump(2);
  const std::string rid = run["airlock"]["request_id"];
  auto cli = [&](const std::string& who, std::vector<std::string> args, std::string& out) {
    args.insert(args.begin(), {SAFEFLOW_CLI_PATH, "--server", env_->server.process->url()});
    return RunProgram(args, out, {"SAFEFLOW_TOKEN=" + env_->tokens[who]});
  };
  std::string out;
  ASSERT_EQ(cli("checker1", {"airlock", "show", rid}, out), 0) << out;
  EXPECT_THAT(out, HasSubstr("min_cell_count"));
  EXPECT_THAT(out, HasSubstr("direct_identifiers"));
  ASSERT_EQ(cli("checker1", {"airlock", "list", "--status", "held"}, out), 0) << out;
  EXPECT_THAT(out, HasSubstr(rid));
  EXPECT_EQ(cli("checker1", {"airlock", "review", rid, "small", "approve"}, out), 2) << out;
  ASSERT_EQ(cli("checker1",
                {"airlock", "review", rid, "small", "approve", "--comment", "aggregate"}, out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("held"));
  ASSERT_EQ(cli("checker2",
                {"airlock", "review", rid, "small", "approve", "--comment", "aggregate"}, out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("released"));
  TempDir dir;
  const std::string dest = dir.path() + "/small.csv";
  ASSERT_EQ(cli("alice", {"airlock", "download", rid, "small", "-o", dest}, out), 0) << out;
  EXPECT_EQ(ReadAll(dest), kSmall);
  EXPECT_EQ(cli("alice", {"airlock", "download", rid, "notes", "-o", dest + ".2"}, out), 1) << out;
  EXPECT_THAT(out, HasSubstr("only released files"));
  EXPECT_FALSE(std::filesystem::exists(dest + ".2"));
}

TEST_F(AirlockTest, ATesOutputAddressedOutsideTheZoneBecomesAReleaseRequest) {
  json task = {{"name", "airlock-tes"},
               {"tags", {{"project", "demo"}}},
               {"executors",
                {{{"image", "alpine"},
                  {"command", {"/bin/sh", "-c", "printf 'a,count\\nx,3\\n' > /outputs/t.csv"}}}}},
               {"outputs",
                {{{"name", "table"},
                  {"path", "/outputs/t.csv"},
                  {"url", "airlock:results/t.csv"},
                  {"description", json{{"type", "frequency_table"},
                                       {"table", {{"keys", {"a"}}, {"counts", {"count"}}}}}
                                      .dump()}}}}};
  HttpResult c = env_->Call("alice", "POST", "/ga4gh/tes/v1/tasks", task.dump());
  ASSERT_EQ(c.status, 200) << c.body;
  const std::string task_id = json::parse(c.body)["id"];
  json req;
  ASSERT_TRUE(Eventually(
      [&] {
        HttpResult l = env_->Call("alice", "GET", "/airlock/v1/requests?state=decided");
        for (const json& q : json::parse(l.body, nullptr, false).value("requests", json::array())) {
          if (q.value("task_id", "") == task_id) req = q;
        }
        return req.is_object();
      },
      120s))
      << env_->Call("alice", "GET", "/ga4gh/tes/v1/tasks/" + task_id + "?view=FULL").body;
  EXPECT_EQ(req["kind"], "task");
  ASSERT_EQ(req["files"].size(), 1u);
  EXPECT_EQ(req["files"][0]["name"], "table");
  EXPECT_EQ(req["files"][0]["status"], "held");
  EXPECT_EQ(req["files"][0]["verdict"], "review");
  // A bad declaration or an airlock directory is refused at submission.
  json bad = task;
  bad["outputs"][0]["description"] = R"({"type": "frequency_table"})";
  HttpResult b = env_->Call("alice", "POST", "/ga4gh/tes/v1/tasks", bad.dump());
  EXPECT_EQ(b.status, 400) << b.body;
  EXPECT_THAT(b.body, HasSubstr("outputs[0].description"));
  bad = task;
  bad["outputs"][0]["url"] = "airlock:../escape.csv";
  EXPECT_EQ(env_->Call("alice", "POST", "/ga4gh/tes/v1/tasks", bad.dump()).status, 400);
}

// Downloads stream: a 24 MiB released file, sealed at rest, far above the project's 1 MiB
// max_file_bytes (so blocked, then released by an admin override), downloads whole over HTTP
// and through the CLI. Two clients that stop reading hold both download slots
// (airlock.max_downloads: 2), so a third gets 503; after server.stream_stall_seconds they are
// cut off (audited as failed downloads) and downloads work again.
constexpr std::uint64_t kBigBytes = 24u << 20;
constexpr const char* kBigLine = "aggregate figures only, nothing about anyone\n";  // 45 bytes

class AirlockStreamTest : public AirlockSuite<AirlockStreamTest> {
 protected:
  static void SetUpTestSuite() {
    env_ = new WesServer();
    ok_ = env_->Start(
        "server:\n  stream_stall_seconds: 6\n"
        "enclave:\n  seal_outputs: true\n"
        "airlock:\n  poll_interval_ms: 100\n  max_downloads: 2\n"
        "  profiles:\n    small-files: {base: acro-default, max_file_bytes: 1048576}\n"
        "  projects:\n    demo: {profile: small-files, auto_release: true}\n");
    if (!ok_) return;
    const std::string snakefile =
        "rule big:\n    output: \"big.txt\"\n    run:\n"
        "        line = \"aggregate figures only, nothing about anyone\\n\"\n"
        "        n = " +
        std::to_string(kBigBytes) +
        "\n"
        "        with open(output[0], \"w\") as f:\n"
        "            f.write((line * (n // len(line) + 1))[:n])\n";
    json manifest = {{"name", "big-output"},
                     {"version", "1.0.0"},
                     {"workflow_type", "SMK"},
                     {"workflow_type_version", "7.21"},
                     {"entry_point", "Snakefile"},
                     {"engine_parameters", {{"cores", "1"}}},
                     {"params_schema", {{"type", "object"}}},
                     {"outputs", {{{"name", "big"}, {"path", "big.txt"}, {"type", "text"}}}}};
    digest_ = env_->RegisterAndApprove(
        "big-output",
        {{"workflow_attachment", snakefile, std::string("Snakefile")},
         {"workflow_attachment", manifest.dump(2), std::string("safeflow-manifest.json")}});
  }

  static std::string Expected() {
    std::string out;
    out.reserve(kBigBytes);
    while (out.size() < kBigBytes) out += kBigLine;
    out.resize(kBigBytes);
    return out;
  }

  // A connection that asks for `path` as alice, reads the first bytes of the answer, then
  // reads nothing more.
  static executor::UniqueFd StalledDownload(const std::string& path) {
    const std::string url = env_->server.process->url();
    const int port = std::stoi(url.substr(url.rfind(':') + 1));
    executor::UniqueFd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const int rcvbuf = 64 * 1024;
    ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const std::string get = "GET " + path + " HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer " +
                            env_->tokens["alice"] + "\r\n\r\n";
    EXPECT_EQ(::send(sock.get(), get.data(), get.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(get.size()));
    char head[12] = {};
    pollfd pfd{sock.get(), POLLIN, 0};
    EXPECT_EQ(::poll(&pfd, 1, 20000), 1);
    EXPECT_EQ(::recv(sock.get(), head, sizeof head, MSG_WAITALL), 12);
    EXPECT_EQ(std::string(head, 12), "HTTP/1.1 200");
    return sock;
  }
};

TEST_F(AirlockStreamTest, ALargeReleasedFileStreamsAndStalledClientsAreCutOff) {
  const std::string id =
      env_->Submit(WesServer::RunForm("safeflow:big-output@1.0.0", "SMK", "7.21", json::object()));
  ASSERT_FALSE(id.empty());
  json run = env_->WaitRun(id, 240s);
  ASSERT_EQ(run.value("state", ""), "COMPLETE") << run.dump(2);
  const std::string rid = run["airlock"]["request_id"];
  json file = run["airlock"]["files"][0];
  // Over the project's 1 MiB limit: blocked without being read; an admin releases it.
  ASSERT_EQ(file.value("status", ""), "blocked") << file.dump(2);
  HttpResult o = env_->Call(
      "approver", "POST", "/airlock/v1/requests/" + rid + "/files/big:override",
      json{{"decision", "release"}, {"justification", "aggregate text, checked by hand"}}.dump());
  ASSERT_EQ(o.status, 200) << o.body;
  const std::string expected = Expected();
  const std::string sha = absl::BytesToHexString(executor::crypto::Sha256(expected));
  // The file is sealed at rest in the zone: the service unseals it as it streams.
  int sealed = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(env_->server.out_root)) {
    if (e.path().filename() == "big.txt") {
      sealed += ReadAll(e.path().string()).rfind("\x89SFSEAL\n", 0) == 0;
    }
  }
  EXPECT_EQ(sealed, 1);
  const std::string path = "/airlock/v1/requests/" + rid + "/files/big/content";

  HttpResult whole = env_->Call("alice", "GET", path);
  ASSERT_EQ(whole.status, 200) << whole.body.substr(0, 300);
  EXPECT_EQ(whole.body.size(), kBigBytes);
  EXPECT_TRUE(whole.body == expected);
  EXPECT_EQ(whole.headers["content-length"], std::to_string(kBigBytes));
  EXPECT_EQ(whole.headers["x-checksum-sha256"], sha);
  EXPECT_THAT(whole.headers["content-disposition"], HasSubstr("big.txt"));
  EXPECT_TRUE(Audited("release.download", "success", rid + "/big"));

  // The CLI writes it to disk as it arrives and checks it.
  TempDir dir;
  std::string out;
  ASSERT_EQ(RunProgram({SAFEFLOW_CLI_PATH, "--server", env_->server.process->url(), "airlock",
                        "download", rid, "big", "-o", dir.path() + "/big.txt"},
                       out, {"SAFEFLOW_TOKEN=" + env_->tokens["alice"]}),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr(sha));
  EXPECT_TRUE(ReadAll(dir.path() + "/big.txt") == expected);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/big.txt.part"));

  // A byte range, as an interrupted download resumes: 206 with Content-Range; past the end 416.
  auto ranged = [&](const std::string& range) {
    return HttpCall("GET", env_->server.process->url() + path, "",
                    {"Authorization: Bearer " + env_->tokens["alice"], "Range: " + range}, 30000);
  };
  HttpResult part = ranged("bytes=1000-1999");
  ASSERT_EQ(part.status, 206) << part.body.substr(0, 300);
  EXPECT_TRUE(part.body == expected.substr(1000, 1000));
  EXPECT_EQ(part.headers["content-range"], "bytes 1000-1999/" + std::to_string(kBigBytes));
  EXPECT_EQ(part.headers["accept-ranges"], "bytes");
  HttpResult tail = ranged("bytes=-45");
  EXPECT_EQ(tail.status, 206);
  EXPECT_TRUE(tail.body == expected.substr(kBigBytes - 45));
  HttpResult past = ranged("bytes=" + std::to_string(kBigBytes) + "-");
  EXPECT_EQ(past.status, 416);
  EXPECT_EQ(past.headers["content-range"], "bytes */" + std::to_string(kBigBytes));
  // The CLI resumes a partial download, and starts again when the part does not match.
  auto cli_download = [&](const std::string& dest, std::string& output) {
    return RunProgram({SAFEFLOW_CLI_PATH, "--server", env_->server.process->url(), "airlock",
                       "download", rid, "big", "-o", dest},
                      output, {"SAFEFLOW_TOKEN=" + env_->tokens["alice"]});
  };
  const std::string resumed = dir.path() + "/resumed.txt";
  WriteAll(resumed + ".part", expected.substr(0, 5u << 20));
  ASSERT_EQ(cli_download(resumed, out), 0) << out;
  EXPECT_THAT(out, HasSubstr("resumed at byte 5242880"));
  EXPECT_TRUE(ReadAll(resumed) == expected);
  const std::string spoiled = dir.path() + "/spoiled.txt";
  WriteAll(spoiled + ".part", std::string(1u << 20, 'Z'));
  EXPECT_EQ(cli_download(spoiled, out), 1) << out;
  EXPECT_THAT(out, HasSubstr("the partial file was removed"));
  EXPECT_FALSE(std::filesystem::exists(spoiled + ".part"));
  ASSERT_EQ(cli_download(spoiled, out), 0) << out;
  EXPECT_TRUE(ReadAll(spoiled) == expected);

  // Two clients that stop reading hold both download slots.
  executor::UniqueFd a = StalledDownload(path);
  executor::UniqueFd b = StalledDownload(path);
  HttpResult busy = env_->Call("alice", "GET", path);
  EXPECT_EQ(busy.status, 503) << busy.body;
  EXPECT_THAT(busy.body, HasSubstr("downloads in progress"));
  EXPECT_FALSE(busy.headers["retry-after"].empty());
  // Other requests are still served meanwhile.
  EXPECT_EQ(env_->Call("alice", "GET", "/airlock/v1/requests/" + rid).status, 200);
  // After stream_stall_seconds (6) the stalled downloads are cut off and audited as failed.
  bool cut = false;
  Eventually(
      [&] {
        cut = AuditedTimes("release.download", "error", rid + "/big") >= 2;
        return cut;
      },
      30s);
  EXPECT_TRUE(cut) << "stalled downloads were not cut off";
  HttpResult again = env_->Call("alice", "GET", path);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body.size(), kBigBytes);
}

}  // namespace
}  // namespace safeflow::testing
