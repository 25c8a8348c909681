// Enclave emulation end to end: a real safeflowd (embedded PostgreSQL), real bubblewrap
// workers that attest through the local backend, the verifier and key broker over real HTTP.
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "executor/attestation/authority.h"
#include "executor/attestation/config_id.h"
#include "executor/attestation/platform.h"
#include "executor/attestation/quote.h"
#include "executor/crypto/key_wrap.h"
#include "executor/crypto/sealed_file.h"
#include "executor/crypto/x25519.h"
#include "schemas/tes/task.h"
#include "service/auth/jwks.h"
#include "service/auth/jwt.h"
#include "tests/integration/tes_api/tes_fixture.h"
#include "tests/testing/http_client.h"

namespace safeflow::testing {
namespace {

namespace att = executor::attestation;
namespace crypto = executor::crypto;
using nlohmann::json;

const std::vector<std::string> kJson = {"Content-Type: application/json"};

class EnclaveTest : public ::testing::Test {
 protected:
  void StartServer(const std::string& extra = "enclave:\n  seal_outputs: true\n") {
    if (!IntegrationRequired() && ::geteuid() != 0) GTEST_SKIP() << "needs root for bwrap users";
    ASSERT_TRUE(server_.Start(extra)) << server_.process->log();
  }
  std::string url(const std::string& path) const { return server_.process->url() + path; }

  // Registers a dataset with a key made here; returns its id.
  std::string Register(const std::string& project, const std::string& name,
                       crypto::X25519KeyPair& pair, json extra = json::object()) {
    absl::StatusOr<crypto::X25519KeyPair> made = crypto::X25519KeyPair::Generate();
    EXPECT_TRUE(made.ok());
    pair = std::move(*made);
    json body = {{"project", project},
                 {"name", name},
                 {"private_key", service::auth::Base64UrlEncode(pair.private_key.view())}};
    body.update(extra);
    HttpResult r = HttpCall("POST", url("/data/v1/datasets"), body.dump(), kJson);
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body, nullptr, false).value("id", "");
  }

  std::string SealInto(const std::string& content, const std::string& id,
                       const crypto::X25519KeyPair& pair, const std::string& name,
                       std::uint32_t chunk = 4096) {
    const std::string plain = server_.tmp->path() + "/" + name + ".plain";
    WriteAll(plain, content);
    const std::string sealed = server_.in_root + "/" + name;
    std::filesystem::remove(sealed);
    absl::StatusOr<crypto::SealStats> st =
        crypto::SealFile(plain, sealed, id, pair.public_key, chunk);
    EXPECT_TRUE(st.ok()) << st.status();
    ::chmod(sealed.c_str(), 0644);
    return sealed;
  }

  json RunTask(const json& task) {
    const std::string id = server_.client->CreateOk(task);
    return server_.client->WaitFor(id, {}, std::chrono::seconds(60));
  }

  static std::string SystemLogs(const json& t) {
    std::string out;
    if (t.contains("logs")) {
      for (const json& l : t["logs"]) {
        for (const json& s : l.value("system_logs", json::array()))
          out += s.get<std::string>() + "\n";
      }
    }
    return out;
  }

  json Audit(const std::string& action) {
    HttpResult r = HttpGet(url("/admin/v1/audit?action=" + action));
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
  }

  static bool AuditHas(const json& page, const std::string& outcome,
                       const std::string& reason_part) {
    for (const json& rec : page.value("records", json::array())) {
      if (rec.value("outcome", "") != outcome) continue;
      const std::string reason = rec["details"].value("reason", "");
      if (reason.find(reason_part) != std::string::npos) return true;
    }
    return false;
  }

  TesServer server_;
};

json CountTask(const std::string& input_url, const std::string& output_url,
               const std::string& project = "default") {
  return {{"name", "count"},
          {"tags", {{"project", project}}},
          {"inputs", {{{"url", input_url}, {"path", "/data/cohort.csv"}}}},
          {"outputs", {{{"url", output_url}, {"path", "/out/count.txt"}}}},
          {"executors",
           {{{"image", "ubuntu"},
             {"command", {"bash", "-c", "wc -l < /data/cohort.csv > /out/count.txt"}}}}}};
}

TEST_F(EnclaveTest, SealedDatasetIsAnalysedAndTheOutputComesBackSealed) {
  StartServer();
  crypto::X25519KeyPair owner;
  const std::string ds = Register("default", "cohort", owner);
  std::string csv;
  for (int i = 0; i < 3000; ++i) csv += "patient" + std::to_string(i) + ",F,42\n";  // > 1 chunk
  SealInto(csv, ds, owner, "cohort.csv.sealed");
  const json t = RunTask(CountTask("file://" + server_.in_root + "/cohort.csv.sealed",
                                   "file://" + server_.out_root + "/count.txt"));
  ASSERT_EQ(t["state"], "COMPLETE") << t.dump(2);
  const std::string logs = SystemLogs(t);
  EXPECT_NE(logs.find("enclave: attested (mr_enclave "), std::string::npos) << logs;
  EXPECT_NE(logs.find("keys released: " + ds), std::string::npos) << logs;
  EXPECT_NE(logs.find("1 sealed input(s) decrypted inside the sandbox"), std::string::npos) << logs;
  EXPECT_EQ(t["logs"][0]["metadata"].value("attestation", ""), "verified");
  // No key material in the log: the dataset's private key never appears.
  EXPECT_EQ(t.dump().find(service::auth::Base64UrlEncode(owner.private_key.view())),
            std::string::npos);

  // The output is sealed to the project's outputs key, not readable here.
  const std::string out = ReadAll(server_.out_root + "/count.txt");
  ASSERT_TRUE(crypto::LooksSealed(out)) << out;
  HttpResult ok = HttpGet(url("/data/v1/projects/default/outputs-key"));
  ASSERT_EQ(ok.status, 200) << ok.body;
  absl::StatusOr<crypto::SealedHeader> h = crypto::ParseSealedHeader(out);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->key_id, json::parse(ok.body)["key_id"]);
  EXPECT_EQ(out.find("3000"), std::string::npos);

  // A second attested task can read it (moved to the input area): sealed at rest throughout.
  WriteAll(server_.in_root + "/count.txt.sealed", out);
  json show = {
      {"tags", {{"project", "default"}}},
      {"inputs",
       {{{"url", "file://" + server_.in_root + "/count.txt.sealed"}, {"path", "/in/count.txt"}}}},
      {"executors", {{{"image", "ubuntu"}, {"command", {"cat", "/in/count.txt"}}}}}};
  const json t2 = RunTask(show);
  ASSERT_EQ(t2["state"], "COMPLETE") << t2.dump(2);
  EXPECT_EQ(t2["logs"][0]["logs"][0]["stdout"], "3000\n");

  // Every release is audited, and service-info shows the policy (not keys).
  EXPECT_TRUE(AuditHas(Audit("key.release"), "success", ""));
  EXPECT_TRUE(AuditHas(Audit("attestation.verify"), "success", ""));
  const json info = json::parse(server_.client->ServiceInfo().body);
  ASSERT_TRUE(info.contains("safeflow_attestation"));
  EXPECT_EQ(info["safeflow_attestation"]["allowed_measurements"].size(), 1u);
  EXPECT_EQ(info["safeflow_attestation"]["allow_debug"], false);
}

TEST_F(EnclaveTest, TamperedTruncatedAndReorderedInputsAreRefused) {
  StartServer();
  crypto::X25519KeyPair owner;
  const std::string ds = Register("default", "cohort", owner);
  std::string csv(3 * 4096 + 100, 'x');
  struct Case {
    std::string name, expect;
    std::function<void(std::string&)> damage;
  };
  const std::vector<Case> cases = {
      {"tampered", "failed authentication", [](std::string& s) { s[s.size() - 200] ^= 1; }},
      {"truncated", "truncated", [](std::string& s) { s.resize(s.size() - (4096 + 16 + 116)); }},
      {"reordered", "failed authentication",
       [](std::string& s) {
         absl::StatusOr<crypto::SealedHeader> h = crypto::ParseSealedHeader(s);
         const std::size_t c = 4096 + 16, off = h->raw.size();
         std::string a = s.substr(off, c), b = s.substr(off + c, c);
         s.replace(off, c, b);
         s.replace(off + c, c, a);
       }},
  };
  for (const Case& c : cases) {
    const std::string path = SealInto(csv, ds, owner, c.name + ".sealed");
    std::string bytes = ReadAll(path);
    c.damage(bytes);
    WriteAll(path, bytes);
    const json t =
        RunTask(CountTask("file://" + path, "file://" + server_.out_root + "/" + c.name));
    EXPECT_EQ(t["state"], "SYSTEM_ERROR") << c.name;
    EXPECT_NE(SystemLogs(t).find(c.expect), std::string::npos) << c.name << ": " << SystemLogs(t);
    EXPECT_FALSE(std::filesystem::exists(server_.out_root + "/" + c.name));
  }
}

TEST_F(EnclaveTest, PlainFilesInASealedOnlyDatasetAndOtherProjectsKeysAreRefused) {
  StartServer();
  crypto::X25519KeyPair owner, other;
  std::filesystem::create_directories(server_.in_root + "/registry");
  Register("default", "registry", owner, {{"location", "file://" + server_.in_root + "/registry"}});
  WriteAll(server_.in_root + "/registry/plain.csv", "a,b\n");
  json t = RunTask(CountTask("file://" + server_.in_root + "/registry/plain.csv",
                             "file://" + server_.out_root + "/p.txt"));
  EXPECT_EQ(t["state"], "SYSTEM_ERROR");
  EXPECT_NE(SystemLogs(t).find("accepts only sealed files"), std::string::npos) << SystemLogs(t);

  const std::string ds_other = Register("other", "cohort", other);
  SealInto("secret\n", ds_other, other, "other.sealed");
  t = RunTask(CountTask("file://" + server_.in_root + "/other.sealed",
                        "file://" + server_.out_root + "/o.txt"));
  EXPECT_EQ(t["state"], "SYSTEM_ERROR");
  EXPECT_NE(SystemLogs(t).find("key of project other"), std::string::npos) << SystemLogs(t);
}

TEST_F(EnclaveTest, ASwappedWorkerBinaryIsRefused) {
  TempDir bin;
  const std::string worker = bin.path() + "/safeflow-worker";
  std::filesystem::copy_file(SAFEFLOW_WORKER_PATH, worker);
  ::chmod(worker.c_str(), 0755);
  StartServer("enclave:\n  seal_outputs: true\nlocal:\n  worker_path: " + worker + "\n");
  // Measure-then-swap: the reference value was taken at start; the binary changes after.
  {
    std::ofstream f(worker, std::ios::app | std::ios::binary);
    f << "trojan";
  }
  const json t = RunTask(BashTask("echo hi"));
  EXPECT_EQ(t["state"], "SYSTEM_ERROR");
  EXPECT_NE(SystemLogs(t).find("is not in the allow-list"), std::string::npos) << SystemLogs(t);
  EXPECT_TRUE(AuditHas(Audit("attestation.verify"), "denied", "is not in the allow-list"));
}

TEST_F(EnclaveTest, ADebugWorkerIsRefusedByAProductionPolicy) {
  StartServer("enclave:\n  debug_workers: true\n  allow_debug: false\n");
  const json t = RunTask(BashTask("echo hi"));
  EXPECT_EQ(t["state"], "SYSTEM_ERROR");
  EXPECT_NE(SystemLogs(t).find("debug mode"), std::string::npos) << SystemLogs(t);
  EXPECT_TRUE(AuditHas(Audit("attestation.verify"), "denied", "debug mode"));
}

TEST_F(EnclaveTest, AReplicaWithAnotherMasterKeyRefusesToStart) {
  std::optional<std::string> dsn = TestPgDsn();
  if (!dsn) SAFEFLOW_SKIP_OR_FAIL("SAFEFLOW_TEST_PG_DSN is not set");
  absl::StatusOr<std::unique_ptr<TempDatabase>> db = TempDatabase::Create(*dsn);
  ASSERT_TRUE(db.ok()) << db.status();
  const std::vector<std::string> env = {"SAFEFLOW_DB_DSN=" + (*db)->dsn()};
  ASSERT_TRUE(server_.Start("enclave:\n  seal_outputs: true\n", env)) << server_.process->log();
  crypto::X25519KeyPair owner;
  Register("default", "cohort", owner);
  TesServer other;
  EXPECT_FALSE(other.Start("enclave:\n  seal_outputs: true\n", env));
  EXPECT_NE(other.process->log().find("must share enclave.master_key_file"), std::string::npos)
      << other.process->log();
}

// The verifier and the key broker over REST, with evidence made here using the platform key
// from the data directory (the test plays the quoting component).
class VerifierTest : public EnclaveTest {
 protected:
  void SetUpServer(const std::string& extra) {
    StartServer(extra);
    if (HasFatalFailure() || IsSkipped()) return;
    absl::StatusOr<std::unique_ptr<att::Platform>> p =
        att::Platform::LoadOrCreate(server_.data_dir + "/enclave/platform.pem");
    ASSERT_TRUE(p.ok()) << p.status();
    platform_ = std::move(*p);
    const json info = json::parse(server_.client->ServiceInfo().body);
    mr_enclave_ = info["safeflow_attestation"]["allowed_measurements"][0];
    task_id_ = server_.client->CreateOk(BashTask("sleep 60"));
    server_.client->WaitFor(task_id_, {"RUNNING"}, std::chrono::seconds(30));
    absl::StatusOr<schemas::tes::Task> task =
        schemas::tes::FromStoredJson(server_.client->GetJson(task_id_, "FULL"));
    ASSERT_TRUE(task.ok());
    config_id_ = att::TaskConfigId(task_id_, *task);
  }
  void TearDown() override {
    if (server_.client && !task_id_.empty()) server_.client->Cancel(task_id_);
  }

  struct Evidence {
    std::string quote, nonce;
    crypto::X25519KeyPair key;
  };
  Evidence Make(bool debug = false, std::string mr = "") {
    Evidence e;
    e.key = std::move(*crypto::X25519KeyPair::Generate());
    HttpResult n = HttpCall("POST", url("/attestation/v1/nonce"), "{}", kJson);
    EXPECT_EQ(n.status, 200) << n.body;
    e.nonce = *service::auth::Base64UrlDecode(json::parse(n.body)["nonce"].get<std::string>());
    att::EnclaveIdentity id;
    id.mr_enclave = mr.empty() ? mr_enclave_ : mr;
    id.config_id = config_id_;
    id.debug = debug;
    id.security_version = 1;
    id.task_id = task_id_;
    id.attempt = 1;
    e.quote = *platform_->Quote(id, att::ReportData(e.key.public_key, e.nonce));
    return e;
  }
  HttpResult Attest(const Evidence& e) {
    const json body = {
        {"quote", e.quote},
        {"nonce", service::auth::Base64UrlEncode(e.nonce)},
        {"runtime_data", {{"public_key", service::auth::Base64UrlEncode(e.key.public_key)}}}};
    return HttpCall("POST", url("/attestation/v1/attest"), body.dump(), kJson);
  }
  HttpResult Keys(const std::string& token, const std::string& key_id) {
    return HttpCall("POST", url("/kbs/v1/keys"),
                    json{{"token", token}, {"key_ids", {key_id}}}.dump(), kJson);
  }

  std::unique_ptr<att::Platform> platform_;
  std::string mr_enclave_, task_id_, config_id_;
};

TEST_F(VerifierTest, RefusesReplaysWrongMeasurementsAndDebugQuotes) {
  SetUpServer("enclave:\n  seal_outputs: true\n");
  if (IsSkipped()) return;
  const Evidence good = Make();
  HttpResult r = Attest(good);
  ASSERT_EQ(r.status, 200) << r.body;
  r = Attest(good);  // the same evidence again
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("replay"), std::string::npos) << r.body;
  r = Attest(Make(false, std::string(64, 'a')));
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("not in the allow-list"), std::string::npos) << r.body;
  r = Attest(Make(true));
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("debug mode"), std::string::npos) << r.body;
  // A quote whose report_data binds another key.
  Evidence swapped = Make();
  swapped.key = std::move(*crypto::X25519KeyPair::Generate());
  r = Attest(swapped);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("report_data"), std::string::npos) << r.body;
  // A forged quote (another platform's key).
  TempDir d;
  auto rogue = att::Platform::LoadOrCreate(d.path() + "/rogue.pem");
  ASSERT_TRUE(rogue.ok());
  Evidence forged = Make();
  att::EnclaveIdentity id{mr_enclave_, config_id_, false, 1, task_id_, 1};
  forged.quote = *(*rogue)->Quote(id, att::ReportData(forged.key.public_key, forged.nonce));
  r = Attest(forged);
  EXPECT_EQ(r.status, 403);
  const json audit = Audit("attestation.verify");
  EXPECT_TRUE(AuditHas(audit, "denied", "replay"));
  EXPECT_TRUE(AuditHas(audit, "denied", "allow-list"));
  EXPECT_TRUE(AuditHas(audit, "denied", "debug"));
}

TEST_F(VerifierTest, TokensVerifyWithTheJwksAloneAndReleaseOnlyOwnProjectKeys) {
  SetUpServer("enclave:\n  seal_outputs: true\n");
  if (IsSkipped()) return;
  crypto::X25519KeyPair mine, theirs;
  const std::string ds = Register("default", "cohort", mine);
  const std::string ds_other = Register("other", "cohort", theirs);
  Evidence e = Make();
  HttpResult r = Attest(e);
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string token = json::parse(r.body)["token"];

  // A third party verifies the token with nothing but the published JWKS.
  HttpResult certs = HttpGet(url("/attestation/v1/certs"));
  ASSERT_EQ(certs.status, 200);
  absl::StatusOr<std::vector<service::auth::Jwk>> keys = service::auth::ParseJwks(certs.body);
  ASSERT_TRUE(keys.ok()) << keys.status();
  auto source = service::auth::NewStaticJwksSource(*keys);
  service::auth::JwtPolicy policy{.issuer = "safeflow-attestation", .audiences = {"safeflow-kbs"}};
  absl::StatusOr<service::auth::VerifiedToken> v =
      service::auth::VerifyJwt(token, policy, *source, std::chrono::system_clock::now());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->claims["x-ms-sgx-mrenclave"], mr_enclave_);
  EXPECT_EQ(v->claims["x-ms-sgx-is-debuggable"], false);
  EXPECT_EQ(v->claims["safeflow_project"], "default");
  EXPECT_EQ(v->claims["cnf"]["jwk"]["x"], service::auth::Base64UrlEncode(e.key.public_key));

  // The broker releases our project's key, wrapped to the worker key only.
  r = Keys(token, ds);
  ASSERT_EQ(r.status, 200) << r.body;
  const json k = json::parse(r.body)["keys"][0];
  crypto::WrappedSecret w{
      *service::auth::Base64UrlDecode(k["ephemeral_public_key"].get<std::string>()),
      *service::auth::Base64UrlDecode(k["ciphertext"].get<std::string>())};
  absl::StatusOr<crypto::SecretBytes> got = crypto::UnwrapWithPrivateKey(
      e.key.private_key, w, att::kKeyReleaseInfo, ds + "\n" + v->claims["jti"].get<std::string>());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->view(), mine.private_key.view());
  crypto::X25519KeyPair stranger = std::move(*crypto::X25519KeyPair::Generate());
  EXPECT_FALSE(crypto::UnwrapWithPrivateKey(stranger.private_key, w, att::kKeyReleaseInfo,
                                            ds + "\n" + v->claims["jti"].get<std::string>())
                   .ok());

  // Another project's key, a tampered token, an unknown key: refused and audited.
  r = Keys(token, ds_other);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("belongs to project other"), std::string::npos) << r.body;
  std::string tampered = token;
  tampered[tampered.find('.') + 5] ^= 1;
  EXPECT_EQ(Keys(tampered, ds).status, 403);
  EXPECT_EQ(Keys(token, "ds_0000000000000000").status, 403);
  const json audit = Audit("key.release");
  EXPECT_TRUE(AuditHas(audit, "success", ""));
  EXPECT_TRUE(AuditHas(audit, "denied", "belongs to project other"));
  EXPECT_TRUE(AuditHas(audit, "denied", "unknown key id"));
}

TEST_F(VerifierTest, ExpiredAndWrongAudienceTokensAreRefusedAndKeysRotate) {
  SetUpServer("enclave:\n  token_ttl_seconds: 10\n  signing_key_rotation_seconds: 10\n");
  if (IsSkipped()) return;
  crypto::X25519KeyPair mine;
  const std::string ds = Register("default", "cohort", mine);
  HttpResult r = Attest(Make());
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string old_token = json::parse(r.body)["token"];
  ASSERT_EQ(Keys(old_token, ds).status, 200);
  std::this_thread::sleep_for(std::chrono::seconds(16));  // ttl 10 s + 5 s leeway
  r = Keys(old_token, ds);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("expired"), std::string::npos) << r.body;
  r = Attest(Make());  // signed with a new key: the old one is past its rotation time
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string new_token = json::parse(r.body)["token"];
  EXPECT_EQ(Keys(new_token, ds).status, 200);
  const json jwks = json::parse(HttpGet(url("/attestation/v1/certs")).body);
  EXPECT_EQ(jwks["keys"].size(), 2u) << jwks.dump();

  // The same token after the broker's audience changed: refused for its audience.
  server_.process->Stop(SIGTERM);
  std::ofstream(server_.config_path, std::ios::app) << "  token_audience: other-kbs\n";
  ASSERT_TRUE(server_.Restart()) << server_.process->log();
  r = Keys(new_token, ds);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("aud"), std::string::npos) << r.body;
  task_id_.clear();
}

}  // namespace
}  // namespace safeflow::testing
