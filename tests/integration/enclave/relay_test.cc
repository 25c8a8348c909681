// The attestation relay of remote hosts (SLURM jobs): relay tokens checked against the live
// attempt in PostgreSQL (in process), the /attestation/v1/relay/* endpoints of a real safeflowd,
// and NewHttpAuthority against that safeflowd and against a scripted loopback server.
#include <chrono>
#include <mutex>
#include <sys/socket.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "executor/attestation/authority.h"
#include "executor/attestation/config_id.h"
#include "executor/attestation/http_authority.h"
#include "executor/attestation/platform.h"
#include "executor/attestation/quote.h"
#include "executor/crypto/hkdf.h"
#include "executor/crypto/key_wrap.h"
#include "executor/crypto/sealed_file.h"
#include "executor/crypto/x25519.h"
#include "schemas/migrations.h"
#include "schemas/tes/task.h"
#include "service/attestation/authority.h"
#include "service/attestation/relay_token.h"
#include "service/auth/jwks.h"
#include "service/store/audit_store.h"
#include "service/store/store.h"
#include "service/store/task_store.h"
#include "tests/integration/tes_api/tes_fixture.h"
#include "tests/testing/http_client.h"
#include "tests/testing/loopback_server.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::testing {
namespace {

namespace att = executor::attestation;
namespace crypto = executor::crypto;
namespace tes = schemas::tes;
using ::testing::HasSubstr;
using ::testing::Not;
using Code = absl::StatusCode;
using nlohmann::json;

const std::vector<std::string> kJson = {"Content-Type: application/json"};

std::int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// --- in process: EnclaveAuthority on the test PostgreSQL ---------------------------------

class RelayTokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::optional<std::string> dsn = TestPgDsn();
    if (!dsn) SAFEFLOW_SKIP_OR_FAIL("SAFEFLOW_TEST_PG_DSN is not set");
    absl::StatusOr<std::unique_ptr<TempDatabase>> db = TempDatabase::Create(*dsn);
    ASSERT_THAT(db, IsOk());
    db_ = *std::move(db);
    store_ = service::store::Store::Open(db_->dsn(), service::DatabaseConfig{});
    ASSERT_THAT(store_->Migrate(schemas::Migrations()), IsOk());
    ASSERT_THAT(store_->RegisterInstance(
                    {.id = kInstance, .hostname = "h", .pid = ::getpid(), .version = "t"}),
                IsOk());
    tasks_ = std::make_unique<service::store::TaskStore>(*store_);
    audit_ = std::make_unique<service::store::AuditStore>(*store_);
    authority_ = MakeAuthority(crypto::SecretBytes::Copy(std::string(32, 'm')));
    ASSERT_NE(authority_, nullptr);
  }

  std::unique_ptr<service::EnclaveAuthority> MakeAuthority(crypto::SecretBytes master) {
    absl::StatusOr<std::unique_ptr<att::Platform>> p =
        att::Platform::LoadOrCreate(tmp_.path() + "/platform.pem");
    EXPECT_THAT(p, IsOk());
    if (!p.ok()) return nullptr;
    service::AuthorityOptions o;
    o.trusted_platform_pems = {(*p)->public_key_pem()};
    o.master_key = std::move(master);
    absl::StatusOr<std::unique_ptr<service::EnclaveAuthority>> a =
        service::EnclaveAuthority::Create(std::move(o), *store_, *tasks_, *audit_);
    EXPECT_THAT(a, IsOk());
    return a.ok() ? *std::move(a) : nullptr;
  }

  std::string CreateTask(const std::string& project) {
    absl::StatusOr<tes::Task> task = tes::FromStoredJson(BashTask("true"));
    EXPECT_THAT(task, IsOk());
    service::store::AuditEntry audit;
    audit.actor = "alice";
    audit.action = "task.create";
    audit.outcome = "success";
    absl::StatusOr<std::string> id = tasks_->Create({*task, project, "alice", "local"}, audit);
    EXPECT_THAT(id, IsOk());
    return id.value_or("");
  }

  static constexpr const char* kInstance = "6f1c1f7e-8a8e-4a4e-9d5e-0c3c0b1b2a02";
  TempDir tmp_;
  std::unique_ptr<TempDatabase> db_;
  std::unique_ptr<service::store::Store> store_;
  std::unique_ptr<service::store::TaskStore> tasks_;
  std::unique_ptr<service::store::AuditStore> audit_;
  std::unique_ptr<service::EnclaveAuthority> authority_;
};

TEST_F(RelayTokenStoreTest, ATokenIsAcceptedWhileItsAttemptRunsAndRefusedAfter) {
  const std::string id = CreateTask("cohort-a");
  absl::StatusOr<std::string> token = authority_->IssueRelayToken(id, 1, "cohort-a");
  ASSERT_THAT(token, IsOk());
  EXPECT_EQ(token->rfind("sfr1.", 0), 0u);

  // Queued: attempt 1 has not started.
  absl::StatusOr<service::RelayClaims> v = authority_->VerifyRelayToken(*token);
  EXPECT_THAT(v, StatusIs(Code::kPermissionDenied));

  absl::StatusOr<std::vector<executor::TaskAttempt>> claimed =
      tasks_->Claim(kInstance, {{"local", 10}}, 60);
  ASSERT_THAT(claimed, IsOk());
  ASSERT_EQ(claimed->size(), 1u);
  ASSERT_EQ((*claimed)[0].attempt, 1);
  v = authority_->VerifyRelayToken(*token);  // INITIALIZING
  ASSERT_THAT(v, IsOk());
  EXPECT_EQ(v->task_id, id);
  EXPECT_EQ(v->attempt, 1);
  EXPECT_EQ(v->project, "cohort-a");
  EXPECT_GT(v->expires_at, Now() + 2592000 - 60);  // the default ttl: 30 days
  ASSERT_THAT(tasks_->MarkRunning(id, kInstance), IsOk());
  EXPECT_THAT(authority_->VerifyRelayToken(*token), IsOk());  // RUNNING
  ASSERT_THAT(tasks_->MarkPaused(id, kInstance, "test"), IsOk());
  EXPECT_THAT(authority_->VerifyRelayToken(*token), IsOk());  // PAUSED

  // Tokens for another attempt or project of the same task, or MACed with another master
  // key's relay key, are refused.
  absl::StatusOr<service::RelayClaims> other =
      authority_->VerifyRelayToken(*authority_->IssueRelayToken(id, 2, "cohort-a"));
  ASSERT_THAT(other, StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(std::string(other.status().message()), HasSubstr("attempt 2 of task " + id));
  EXPECT_THAT(authority_->VerifyRelayToken(*authority_->IssueRelayToken(id, 1, "cohort-b")),
              StatusIs(Code::kPermissionDenied));
  std::unique_ptr<service::EnclaveAuthority> stranger =
      MakeAuthority(crypto::SecretBytes::Copy(std::string(32, 'x')));
  ASSERT_NE(stranger, nullptr);
  EXPECT_THAT(stranger->VerifyRelayToken(*token), StatusIs(Code::kUnauthenticated));
  EXPECT_THAT(authority_->VerifyRelayToken(*stranger->IssueRelayToken(id, 1, "cohort-a")),
              StatusIs(Code::kUnauthenticated));
  EXPECT_THAT(authority_->VerifyRelayToken("sfr1.garbage.garbage"),
              StatusIs(Code::kUnauthenticated));
  // The same master key (another replica) accepts it.
  std::unique_ptr<service::EnclaveAuthority> replica =
      MakeAuthority(crypto::SecretBytes::Copy(std::string(32, 'm')));
  ASSERT_NE(replica, nullptr);
  EXPECT_THAT(replica->VerifyRelayToken(*token), IsOk());

  // The attempt ends: its token is refused, saying why.
  ASSERT_THAT(tasks_->Finish(id, kInstance, tes::State::kComplete, tes::TaskLog{}), IsOk());
  v = authority_->VerifyRelayToken(*token);
  ASSERT_THAT(v, StatusIs(Code::kPermissionDenied));
  EXPECT_EQ(v.status().message(),
            "the relay token is for attempt 1 of task " + id + ", which is no longer running");
}

TEST_F(RelayTokenStoreTest, AReclaimedTaskRefusesTheTokenOfItsEarlierAttempt) {
  const std::string id = CreateTask("cohort-a");
  ASSERT_THAT(tasks_->Claim(kInstance, {{"local", 10}}, 60), IsOk());
  const std::string first = authority_->IssueRelayToken(id, 1, "cohort-a").value();
  ASSERT_THAT(authority_->VerifyRelayToken(first), IsOk());
  // Its instance dies: the task is queued again (the attempt counted) and claimed anew.
  ASSERT_THAT(tasks_->ReclaimOrphans({kInstance}, "requeue", 3, {}), IsOkAndHolds(1));
  EXPECT_THAT(authority_->VerifyRelayToken(first), StatusIs(Code::kPermissionDenied));
  ASSERT_THAT(tasks_->Claim(kInstance, {{"local", 10}}, 60), IsOk());
  const std::string second = authority_->IssueRelayToken(id, 2, "cohort-a").value();
  EXPECT_THAT(authority_->VerifyRelayToken(second), IsOk());
  EXPECT_THAT(authority_->VerifyRelayToken(first), StatusIs(Code::kPermissionDenied));
  // A canceled task refuses it too; an unknown task as well.
  ASSERT_THAT(tasks_->Cancel(id, service::store::ProjectScope::All(), {}), IsOk());
  EXPECT_THAT(authority_->VerifyRelayToken(second), StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(
      authority_->VerifyRelayToken(*authority_->IssueRelayToken("no-such-task", 1, "cohort-a")),
      StatusIs(Code::kPermissionDenied));
}

TEST_F(RelayTokenStoreTest, IssuingNeedsATaskAProjectAndAnAttempt) {
  EXPECT_THAT(authority_->IssueRelayToken("", 1, "p"), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(authority_->IssueRelayToken("t", 0, "p"), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(authority_->IssueRelayToken("t", 1, ""), StatusIs(Code::kInvalidArgument));
}

// --- a real safeflowd ----------------------------------------------------------------------

// A safeflowd with a running task (attempt 1); the test mints relay tokens with the master key
// in safeflowd's data directory (as safeflowd would) and plays the quoting component.
class RelayApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!IntegrationRequired() && ::geteuid() != 0) GTEST_SKIP() << "needs root for bwrap users";
    ASSERT_TRUE(server_.Start("enclave:\n  seal_outputs: true\n")) << server_.process->log();
    absl::StatusOr<std::unique_ptr<att::Platform>> p =
        att::Platform::LoadOrCreate(server_.data_dir + "/enclave/platform.pem");
    ASSERT_THAT(p, IsOk());
    platform_ = std::move(*p);
    absl::StatusOr<crypto::SecretBytes> master =
        service::LoadOrCreateMasterKey(server_.data_dir + "/enclave/master.key");
    ASSERT_THAT(master, IsOk());
    absl::StatusOr<crypto::SecretBytes> key =
        crypto::HkdfSha256(*master, "", service::kRelayTokenKeyInfo, 32);
    ASSERT_THAT(key, IsOk());
    relay_key_ = std::move(*key);
    const json info = json::parse(server_.client->ServiceInfo().body);
    mr_enclave_ = info["safeflow_attestation"]["allowed_measurements"][0];
    task_id_ = server_.client->CreateOk(BashTask("sleep 60"));
    server_.client->WaitFor(task_id_, {"RUNNING"}, std::chrono::seconds(30));
    absl::StatusOr<tes::Task> task = tes::FromStoredJson(server_.client->GetJson(task_id_, "FULL"));
    ASSERT_THAT(task, IsOk());
    config_id_ = att::TaskConfigId(task_id_, *task);
  }
  void TearDown() override {
    if (server_.client && !task_id_.empty()) server_.client->Cancel(task_id_);
  }

  std::string url(const std::string& path) const { return server_.process->url() + path; }

  std::string Mint(int attempt = 1, std::int64_t ttl = 3600, std::string project = "default",
                   std::string task = "") const {
    return service::MakeRelayToken(
        relay_key_, {task.empty() ? task_id_ : task, attempt, std::move(project), Now() + ttl});
  }

  HttpResult Relay(const std::string& endpoint, const std::string& authorization,
                   const json& body) {
    std::vector<std::string> headers = kJson;
    if (!authorization.empty()) headers.push_back("Authorization: " + authorization);
    return HttpCall("POST", url("/attestation/v1/relay/" + endpoint), body.dump(), headers);
  }

  att::RelayConfig Config(const std::string& token) const {
    att::RelayConfig c;
    c.base_url = server_.process->url();
    c.relay_token = token;
    c.project = "default";
    c.timeout_seconds = 10;
    return c;
  }

  // A quote for the worker key `pair` and `nonce`, naming `task` and `attempt`.
  std::string Quote(const crypto::X25519KeyPair& pair, const std::string& nonce, int attempt = 1,
                    std::string task = "") const {
    att::EnclaveIdentity id{mr_enclave_, config_id_, false, 1, task.empty() ? task_id_ : task,
                            attempt};
    return platform_->Quote(id, att::ReportData(pair.public_key, nonce)).value();
  }

  std::string Register(const std::string& project, const std::string& name,
                       crypto::X25519KeyPair& pair) {
    pair = std::move(*crypto::X25519KeyPair::Generate());
    const json body = {{"project", project},
                       {"name", name},
                       {"private_key", service::auth::Base64UrlEncode(pair.private_key.view())}};
    HttpResult r = HttpCall("POST", url("/data/v1/datasets"), body.dump(), kJson);
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body, nullptr, false).value("id", "");
  }

  TesServer server_;
  std::unique_ptr<att::Platform> platform_;
  crypto::SecretBytes relay_key_;
  std::string mr_enclave_, task_id_, config_id_;
};

TEST_F(RelayApiTest, EndpointsRefuseMissingMalformedForgedAndExpiredTokens) {
  const std::string forged = service::MakeRelayToken(
      crypto::SecretBytes::Copy(std::string(32, 'f')), {task_id_, 1, "default", Now() + 3600});
  const std::string expired = Mint(1, -10);
  const std::string good = Mint();
  std::string tampered = good;
  tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "relay token is required"},
      {"Basic dXNlcjpwYXNz", "Bearer"},
      {"Bearer", "Bearer"},
      {"Bearer not-a-token", "malformed"},
      {"Bearer sfr1.e30.AAAA", "malformed"},
      {"Bearer " + std::string(4100, 'a'), "malformed"},
      {"Bearer " + forged, "does not verify"},
      {"Bearer " + tampered, "does not verify"},
      {"Bearer " + expired, "expired"},
  };
  const json input_body = {{"url", "file:///x"}, {"sealed_key_id", nullptr}};
  for (const std::string endpoint : {"nonce", "attest", "input-check"}) {
    for (const auto& [authorization, reason] : cases) {
      HttpResult r =
          Relay(endpoint, authorization, endpoint == "input-check" ? input_body : json{});
      EXPECT_EQ(r.status, 401) << endpoint << " " << authorization << ": " << r.body;
      const json body = json::parse(r.body, nullptr, false);
      ASSERT_TRUE(body.is_object()) << r.body;
      EXPECT_EQ(body.value("status_code", 0), 401);
      EXPECT_THAT(body.value("msg", ""), HasSubstr(reason)) << endpoint << " " << authorization;
      EXPECT_EQ(body.size(), 2u) << r.body;
      EXPECT_EQ(r.headers["www-authenticate"].rfind("Bearer", 0), 0u) << endpoint;
      // The token is never echoed.
      EXPECT_THAT(r.body, Not(HasSubstr(forged.substr(forged.rfind('.')))));
      EXPECT_THAT(r.body, Not(HasSubstr(good.substr(good.rfind('.')))));
    }
    // A genuine token for an attempt that is not running: 403, not 401.
    HttpResult r =
        Relay(endpoint, "Bearer " + Mint(2), endpoint == "input-check" ? input_body : json{});
    EXPECT_EQ(r.status, 403) << endpoint << ": " << r.body;
    EXPECT_THAT(r.body,
                HasSubstr("attempt 2 of task " + task_id_ + ", which is no longer running"));
    // The genuine token passes authentication (a bad body is then a 400).
    if (endpoint != "nonce") {
      EXPECT_EQ(Relay(endpoint, "Bearer " + good, json{{"x", 1}}).status, 400) << endpoint;
    }
  }
  EXPECT_EQ(Relay("nonce", "bearer  " + good + " ", json::object()).status, 200);
}

TEST_F(RelayApiTest, HttpAuthorityAttestsReleasesKeysAndChecksInputsForItsAttempt) {
  crypto::X25519KeyPair mine, theirs;
  const std::string ds = Register("default", "cohort", mine);
  const std::string ds_other = Register("other", "cohort", theirs);
  att::RelayConfig config = Config(Mint());
  config.output_key = att::OutputKey{"ds_outputs", std::string(32, 'o')};
  absl::StatusOr<std::unique_ptr<att::Authority>> made = att::NewHttpAuthority(config);
  ASSERT_THAT(made, IsOk());
  att::Authority& relay = **made;

  // Attest through the relay: the answer names the task and attempt.
  crypto::X25519KeyPair worker = std::move(*crypto::X25519KeyPair::Generate());
  absl::StatusOr<std::string> nonce = relay.NewNonce();
  ASSERT_THAT(nonce, IsOk());
  EXPECT_EQ(nonce->size(), 32u);
  absl::StatusOr<att::AttestationResult> r =
      relay.Attest({Quote(worker, *nonce), worker.public_key, *nonce});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->task_id, task_id_);
  EXPECT_EQ(r->attempt, 1);
  EXPECT_EQ(r->mr_enclave, mr_enclave_);
  EXPECT_FALSE(r->debug);
  EXPECT_FALSE(r->token_id.empty());
  EXPECT_FALSE(r->expires_at.empty());

  // The key broker releases our project's key wrapped to the worker key, and no other.
  absl::StatusOr<std::vector<att::ReleasedKey>> keys = relay.ReleaseKeys(r->token, {ds});
  ASSERT_THAT(keys, IsOk());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].key_id, ds);
  absl::StatusOr<crypto::SecretBytes> got = crypto::UnwrapWithPrivateKey(
      worker.private_key, {(*keys)[0].ephemeral_public_key, (*keys)[0].ciphertext},
      att::kKeyReleaseInfo, ds + "\n" + r->token_id);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->view(), mine.private_key.view());
  absl::StatusOr<std::vector<att::ReleasedKey>> refused = relay.ReleaseKeys(r->token, {ds_other});
  ASSERT_THAT(refused, StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("belongs to project other"));
  EXPECT_THAT(relay.ReleaseKeys("not.a.token", {ds}), StatusIs(Code::kPermissionDenied));

  // Input checks answer for the token's project.
  absl::StatusOr<att::InputDecision> d = relay.CheckInput("default", "file:///in/x.sealed", ds);
  ASSERT_THAT(d, IsOk());
  EXPECT_TRUE(d->sealed);
  EXPECT_EQ(d->dataset_id, ds);
  d = relay.CheckInput("default", "file:///in/plain.csv", std::nullopt);
  ASSERT_THAT(d, IsOk());
  EXPECT_FALSE(d->sealed);
  EXPECT_EQ(d->dataset_id, std::nullopt);
  d = relay.CheckInput("default", "file:///in/x.sealed", ds_other);
  ASSERT_THAT(d, StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("key of project other"));
  EXPECT_THAT(relay.CheckInput("default", "file:///in/x.sealed", "ds_0000000000000000"),
              StatusIs(Code::kNotFound));

  // Outputs key: the configured one, for the configured project only, without asking.
  EXPECT_THAT(relay.OutputKeyFor("default"), IsOk());
  EXPECT_THAT(relay.OutputKeyFor("other"), StatusIs(Code::kFailedPrecondition));

  // A quote naming another attempt or task is refused before it is verified.
  for (const auto& [attempt, task] :
       std::vector<std::pair<int, std::string>>{{2, ""}, {1, "another-task"}}) {
    nonce = relay.NewNonce();
    ASSERT_THAT(nonce, IsOk());
    absl::StatusOr<att::AttestationResult> wrong =
        relay.Attest({Quote(worker, *nonce, attempt, task), worker.public_key, *nonce});
    ASSERT_THAT(wrong, StatusIs(Code::kPermissionDenied));
    EXPECT_THAT(std::string(wrong.status().message()),
                HasSubstr("but the relay token is for attempt 1 of task " + task_id_));
  }
  HttpResult audit = HttpGet(url("/admin/v1/audit?action=attestation.verify"));
  ASSERT_EQ(audit.status, 200) << audit.body;
  EXPECT_THAT(audit.body, HasSubstr("the quote names attempt 2 of task " + task_id_));
  EXPECT_THAT(audit.body, HasSubstr("relay-token"));
  // Evidence the verifier refuses: its reason comes through.
  nonce = relay.NewNonce();
  ASSERT_THAT(nonce, IsOk());
  crypto::X25519KeyPair other_key = std::move(*crypto::X25519KeyPair::Generate());
  absl::StatusOr<att::AttestationResult> unbound =
      relay.Attest({Quote(worker, *nonce), other_key.public_key, *nonce});
  ASSERT_THAT(unbound, StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(std::string(unbound.status().message()), HasSubstr("report_data"));
  // A quote that is not one: 400.
  EXPECT_THAT(relay.Attest({"{}", worker.public_key, *nonce}), StatusIs(Code::kInvalidArgument));

  // The attempt ends: the relay is refused.
  server_.client->Cancel(task_id_);
  server_.client->WaitFor(task_id_, {"CANCELED"}, std::chrono::seconds(30));
  absl::StatusOr<std::string> late = relay.NewNonce();
  ASSERT_THAT(late, StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(std::string(late.status().message()), HasSubstr("which is no longer running"));
  task_id_.clear();
}

TEST_F(RelayApiTest, HttpAuthorityErrorsNameTheReason) {
  // Forged and malformed tokens: Unauthenticated with the server's reason, token not echoed.
  const std::string forged = service::MakeRelayToken(
      crypto::SecretBytes::Copy(std::string(32, 'f')), {task_id_, 1, "default", Now() + 3600});
  absl::StatusOr<std::string> n = (*att::NewHttpAuthority(Config(forged)))->NewNonce();
  ASSERT_THAT(n, StatusIs(Code::kUnauthenticated));
  EXPECT_THAT(std::string(n.status().message()), HasSubstr("does not verify"));
  EXPECT_THAT(std::string(n.status().message()), Not(HasSubstr(forged.substr(20, 20))));
  n = (*att::NewHttpAuthority(Config("sfr1.bad")))->NewNonce();
  ASSERT_THAT(n, StatusIs(Code::kUnauthenticated));
  EXPECT_THAT(std::string(n.status().message()), HasSubstr("malformed"));
  EXPECT_THAT((*att::NewHttpAuthority(Config(Mint(1, -5))))
                  ->CheckInput("default", "file:///x", std::nullopt),
              StatusIs(Code::kUnauthenticated));

  // Nothing listens: Unavailable.
  int port = 0;
  {
    LoopbackServer gone;
    ASSERT_TRUE(gone.ok());
    port = gone.port();
    gone.Stop();
  }
  att::RelayConfig c = Config(Mint());
  c.base_url = "http://127.0.0.1:" + std::to_string(port);
  EXPECT_THAT((*att::NewHttpAuthority(c))->NewNonce(), StatusIs(Code::kUnavailable));
  c.base_url = "https://127.0.0.1:" + std::to_string(port);
  EXPECT_THAT((*att::NewHttpAuthority(c))->NewNonce(), StatusIs(Code::kUnavailable));

  // Another project's outputs key: FailedPrecondition without a request.
  c.output_key = att::OutputKey{"ds_outputs", std::string(32, 'o')};
  EXPECT_THAT((*att::NewHttpAuthority(c))->OutputKeyFor("other"),
              StatusIs(Code::kFailedPrecondition));
}

// --- a scripted server: the wire format, status mapping, bounds and timeouts --------------

TEST(HttpAuthorityWireTest, RequestsCarryTheBearerTokenOnlyToTheRelayEndpoints) {
  LoopbackServer server([](const CapturedRequest& req) -> CannedResponse {
    if (req.Path() == "/base/attestation/v1/relay/nonce") {
      return {200, {{"Content-Type", "application/json"}}, R"({"nonce":"AAEC"})"};
    }
    if (req.Path() == "/base/attestation/v1/relay/attest") {
      return {200,
              {},
              R"({"token":"t.k.s","token_id":"j","expires_at":"2030-01-01T00:00:00Z",)"
              R"("mr_enclave":"ab","debug":true,"task_id":"task1","attempt":3})"};
    }
    if (req.Path() == "/base/attestation/v1/relay/input-check") {
      return {200, {}, R"({"dataset_id":null,"sealed":false})"};
    }
    if (req.Path() == "/base/kbs/v1/keys") {
      const json body = json::parse(req.body);
      json keys = json::array();
      for (const json& k : body["key_ids"]) {
        keys.push_back({{"key_id", k}, {"ephemeral_public_key", "AQ"}, {"ciphertext", "Ag"}});
      }
      return {200, {}, json{{"keys", keys}}.dump()};
    }
    return {404, {}, R"({"msg":"no route","status_code":404})"};
  });
  ASSERT_TRUE(server.ok());
  att::RelayConfig c;
  c.base_url = server.url() + "/base/";
  c.relay_token = "sfr1.secret.mac";
  c.project = "p";
  std::unique_ptr<att::Authority> a = att::NewHttpAuthority(c).value();
  EXPECT_THAT(a->NewNonce(), IsOkAndHolds(std::string("\x00\x01\x02", 3)));
  absl::StatusOr<att::AttestationResult> r = a->Attest({"QUOTE", "pk", "nn"});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->token, "t.k.s");
  EXPECT_EQ(r->task_id, "task1");
  EXPECT_EQ(r->attempt, 3);
  EXPECT_TRUE(r->debug);
  absl::StatusOr<att::InputDecision> d = a->CheckInput("p", "file:///x", "ds_1");
  ASSERT_THAT(d, IsOk());
  EXPECT_FALSE(d->sealed);
  // 130 key ids: three requests of at most 64.
  std::vector<std::string> ids;
  for (int i = 0; i < 130; ++i) ids.push_back("ds_" + std::to_string(i));
  absl::StatusOr<std::vector<att::ReleasedKey>> keys = a->ReleaseKeys("attest-token", ids);
  ASSERT_THAT(keys, IsOk());
  ASSERT_EQ(keys->size(), 130u);
  EXPECT_EQ((*keys)[129].key_id, "ds_129");
  EXPECT_EQ((*keys)[0].ephemeral_public_key, "\x01");

  const std::vector<CapturedRequest> reqs = server.requests();
  ASSERT_EQ(reqs.size(), 6u);
  for (const CapturedRequest& q : reqs) {
    EXPECT_EQ(q.method, "POST");
    EXPECT_EQ(q.Header("content-type"), "application/json");
    const bool relay = q.Path().find("/relay/") != std::string::npos;
    EXPECT_EQ(q.Header("authorization"), relay ? "Bearer sfr1.secret.mac" : "") << q.Path();
  }
  EXPECT_EQ(json::parse(reqs[0].body), json::object());
  EXPECT_EQ(json::parse(reqs[1].body),
            json({{"quote", "QUOTE"},
                  {"nonce", att::detail::Base64UrlEncode("nn")},
                  {"runtime_data", {{"public_key", att::detail::Base64UrlEncode("pk")}}}}));
  EXPECT_EQ(json::parse(reqs[2].body), json({{"url", "file:///x"}, {"sealed_key_id", "ds_1"}}));
  EXPECT_EQ(json::parse(reqs[3].body)["token"], "attest-token");
  EXPECT_EQ(json::parse(reqs[3].body)["key_ids"].size(), 64u);
  EXPECT_EQ(json::parse(reqs[5].body)["key_ids"].size(), 2u);
}

TEST(HttpAuthorityWireTest, StatusesMapToCodesWithTheServersMessage) {
  std::mutex mu;
  int next_status = 0;    // guarded by mu
  std::string next_body;  // guarded by mu
  LoopbackServer server([&](const CapturedRequest&) -> CannedResponse {
    std::scoped_lock lock(mu);
    return {next_status, {}, next_body};
  });
  auto answer = [&](int status, std::string body) {
    std::scoped_lock lock(mu);
    next_status = status;
    next_body = std::move(body);
  };
  ASSERT_TRUE(server.ok());
  att::RelayConfig c;
  c.base_url = server.url();
  c.relay_token = "sfr1.secret.mac";
  c.project = "p";
  std::unique_ptr<att::Authority> a = att::NewHttpAuthority(c).value();
  const std::vector<std::pair<int, Code>> cases = {
      {400, Code::kInvalidArgument},    {401, Code::kUnauthenticated},
      {403, Code::kPermissionDenied},   {404, Code::kNotFound},
      {409, Code::kFailedPrecondition}, {429, Code::kUnavailable},
      {500, Code::kUnavailable},        {502, Code::kUnavailable},
      {503, Code::kUnavailable},        {504, Code::kUnavailable},
  };
  for (const auto& [status, code] : cases) {
    answer(status,
           json{{"msg", "reason " + std::to_string(status)}, {"status_code", status}}.dump());
    absl::StatusOr<std::string> n = a->NewNonce();
    ASSERT_THAT(n, StatusIs(code)) << status;
    EXPECT_THAT(std::string(n.status().message()), HasSubstr("reason " + std::to_string(status)));
    EXPECT_THAT(std::string(n.status().message()), Not(HasSubstr("secret")));
  }
  // A 200 that is not what the endpoint answers.
  for (const std::string body : {"", "[]", "<html>", R"({"nonce":1})", R"({"nonce":"a=="})"}) {
    answer(200, body);
    EXPECT_THAT(a->NewNonce(), StatusIs(Code::kInternal)) << body;
  }
  answer(200, R"({"token":"t"})");
  EXPECT_THAT(a->Attest({"q", "k", "n"}), StatusIs(Code::kInternal));
  // A response larger than 1 MiB is not read to its end.
  answer(200, R"({"nonce":")" + std::string(2 << 20, 'A') + "\"}");
  EXPECT_THAT(a->NewNonce(), StatusIs(Code::kResourceExhausted));
  // A redirect is not followed.
  answer(302, "");
  EXPECT_THAT(a->NewNonce(), Not(IsOk()));
  EXPECT_EQ(server.requests().size(), cases.size() + 5 + 1 + 1 + 1);
}

TEST(HttpAuthorityWireTest, AServerThatNeverAnswersTimesOut) {
  LoopbackServer silent;  // accepts, never answers
  ASSERT_TRUE(silent.ok());
  att::RelayConfig c;
  c.base_url = silent.url();
  c.relay_token = "sfr1.secret.mac";
  c.project = "p";
  c.timeout_seconds = 1;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(att::NewHttpAuthority(c).value()->NewNonce(), StatusIs(Code::kDeadlineExceeded));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace safeflow::testing
