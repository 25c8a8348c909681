// Identity and authorisation through a real safeflowd with OIDC (the development issuer) and
// access keys: every endpoint x role x own/other project x bad credentials; project scoping
// (another project's task is 404 and never listed); access keys; admin-managed membership;
// the audit log and its verification against altered, deleted and reordered records.
#include <chrono>
#include <fstream>
#include <map>
#include <signal.h>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "pqxx/pqxx"

#include "service/auth/dev_issuer.h"
#include "tests/testing/http_client.h"
#include "tests/testing/integration.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;
namespace auth = service::auth;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Base64Url(const std::string& s) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  int val = 0, bits = -6;
  for (unsigned char c : s) {
    val = (val << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(kAlphabet[(val >> bits) & 0x3F]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(kAlphabet[((val << 8) >> (bits + 8)) & 0x3F]);
  return out;
}

class AuthzTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = new Env();
    env_->Start();
  }
  static void TearDownTestSuite() {
    if (env_->d) env_->d->Stop(SIGTERM);
    delete env_;
  }
  void SetUp() override { ASSERT_TRUE(env_->ready) << (env_->d ? env_->d->log() : env_->error); }

  struct Env {
    TempDir tmp;
    std::string issuer_dir, data_dir, url;
    std::unique_ptr<SafeflowdProcess> d;
    std::map<std::string, std::string> tokens;
    bool ready = false;
    std::string error;

    void Start() {
      issuer_dir = tmp.path() + "/issuer";
      data_dir = tmp.path() + "/data";
      if (absl::Status s = auth::DevIssuerInit(issuer_dir, false); !s.ok()) {
        error = std::string(s.message());
        return;
      }
      const std::string cfg = tmp.path() + "/safeflowd.yaml";
      std::ofstream(cfg)
          << "auth:\n  mode: [oidc, access-keys]\n  oidc:\n    issuer: safeflow-dev\n"
             "    audiences: [safeflow]\n    jwks_file: "
          << issuer_dir
          << "/jwks.json\n    leeway_seconds: 0\n"
             "environments:\n  - name: host\n    root: /\n    aliases: [ubuntu]\n";
      d = std::make_unique<SafeflowdProcess>(data_dir, std::vector<std::string>{"--config", cfg});
      if (!d->WaitReady()) return;
      url = d->url();
      auto mint = [&](const std::string& sub, std::vector<std::string> roles,
                      std::vector<std::string> projects) {
        auth::DevTokenRequest r;
        r.subject = sub;
        r.roles = std::move(roles);
        r.projects = std::move(projects);
        absl::StatusOr<std::string> t = auth::DevIssuerToken(issuer_dir, r);
        tokens[sub] = t.ok() ? *t : "";
      };
      mint("alice", {"researcher"}, {"p1"});
      mint("bob", {"researcher"}, {"p2"});
      mint("admin", {"workflow-admin"}, {"p1"});
      mint("checker", {"output-checker"}, {"p1"});
      mint("auditor", {"auditor"}, {"p1"});
      ready = true;
    }
  };

  static HttpResult Call(const std::string& who, const std::string& method, const std::string& path,
                         const std::string& body = "") {
    std::vector<std::string> headers = {"Content-Type: application/json"};
    if (!who.empty()) {
      const std::string token = env_->tokens.contains(who) ? env_->tokens[who] : who;
      headers.push_back("Authorization: Bearer " + token);
    }
    return HttpCall(method, env_->url + path, body, headers);
  }

  static std::string CreateTask(const std::string& who, const std::string& project) {
    json t = {{"executors", {{{"image", "ubuntu"}, {"command", {"echo", "hi"}}}}},
              {"tags", {{"project", project}}}};
    HttpResult r = Call(who, "POST", "/ga4gh/tes/v1/tasks", t.dump());
    if (r.status != 200) return "";
    return json::parse(r.body)["id"];
  }

  static std::string Sign(const json& header, const json& claims) {
    absl::StatusOr<std::string> t = auth::DevIssuerSign(env_->issuer_dir, header, claims);
    return t.ok() ? *t : "";
  }

  static json Claims(long long exp_offset = 600) {
    const long long now = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    return {
        {"iss", "safeflow-dev"}, {"aud", "safeflow"}, {"sub", "alice"}, {"roles", {"researcher"}},
        {"projects", {"p1"}},    {"iat", now},        {"nbf", now},     {"exp", now + exp_offset}};
  }

  static inline Env* env_ = nullptr;
};

TEST_F(AuthzTest, BadCredentialsAreRefusedEverywhere) {
  json header = {{"alg", "ES256"}, {"typ", "JWT"}};
  json good = Claims();
  json expired = Claims(-5);
  json wrong_aud = Claims();
  wrong_aud["aud"] = "someone-else";
  json wrong_iss = Claims();
  wrong_iss["iss"] = "https://evil.example";
  std::string bad_sig = Sign(header, good);
  bad_sig[bad_sig.size() - 5] = bad_sig[bad_sig.size() - 5] == 'A' ? 'B' : 'A';
  const std::string none_token =
      Base64Url(R"({"alg":"none","typ":"JWT"})") + "." + Base64Url(good.dump()) + ".";
  const std::string hs256_with_public_key = auth::SignHs256ForTest(
      {{"alg", "HS256"}, {"typ", "JWT"}}, good, Slurp(env_->issuer_dir + "/jwks.json"));
  const std::map<std::string, std::string> bad = {
      {"no token", ""},
      {"expired", Sign(header, expired)},
      {"wrong audience", Sign(header, wrong_aud)},
      {"wrong issuer", Sign(header, wrong_iss)},
      {"bad signature", bad_sig},
      {"alg none", none_token},
      {"HS256 with the public key", hs256_with_public_key},
      {"garbage", "not.a.token"},
      {"unknown access key",
       "sfk_0123456789abcdef.0000000000000000000000000000000000000000000000000000000000000000"},
  };
  const std::vector<std::pair<std::string, std::string>> endpoints = {
      {"POST", "/ga4gh/tes/v1/tasks"},
      {"GET", "/ga4gh/tes/v1/tasks"},
      {"GET", "/v1/tasks"},
      {"GET", "/ga4gh/tes/v1/tasks/x"},
      {"POST", "/ga4gh/tes/v1/tasks/x:cancel"},
      {"GET", "/auth/v1/whoami"},
      {"POST", "/auth/v1/access-keys"},
      {"GET", "/admin/v1/audit"},
      {"GET", "/admin/v1/audit/verify"},
      {"GET", "/admin/v1/access-keys"},
      {"POST", "/admin/v1/certificates"},
      {"PUT", "/admin/v1/projects/p1/members/x"}};
  for (const auto& [what, token] : bad) {
    for (const auto& [method, path] : endpoints) {
      HttpResult r;
      if (token.empty()) {
        r = HttpCall(method, env_->url + path, "{}", {"Content-Type: application/json"});
      } else {
        r = HttpCall(method, env_->url + path, "{}",
                     {"Content-Type: application/json", "Authorization: Bearer " + token});
      }
      EXPECT_EQ(r.status, 401) << what << " " << method << " " << path << ": " << r.body;
      EXPECT_EQ(json::parse(r.body, nullptr, false).value("status_code", 0), 401) << r.body;
    }
  }
  // The public endpoints need nothing.
  EXPECT_EQ(HttpGet(env_->url + "/ga4gh/tes/v1/service-info").status, 200);
  EXPECT_EQ(HttpGet(env_->url + "/healthz").status, 200);
  // And a good token works.
  EXPECT_EQ(Call(Sign(header, good), "GET", "/auth/v1/whoami").status, 200);
}

TEST_F(AuthzTest, RoleAndProjectMatrix) {
  const std::string task = CreateTask("alice", "p1");
  ASSERT_FALSE(task.empty());
  struct Row {
    std::string method, path, body;
    std::map<std::string, long> expect;  // by principal
  };
  const json p1_task = {{"executors", {{{"image", "ubuntu"}, {"command", {"true"}}}}},
                        {"tags", {{"project", "p1"}}}};
  const std::vector<Row> rows = {
      {"POST",
       "/ga4gh/tes/v1/tasks",
       p1_task.dump(),
       {{"alice", 200}, {"bob", 403}, {"admin", 403}, {"checker", 403}, {"auditor", 403}}},
      {"GET",
       "/ga4gh/tes/v1/tasks/" + task,
       "",
       {{"alice", 200}, {"bob", 404}, {"admin", 403}, {"checker", 403}, {"auditor", 200}}},
      {"GET",
       "/v1/tasks/" + task + "?view=FULL",
       "",
       {{"alice", 200}, {"bob", 404}, {"admin", 403}, {"checker", 403}, {"auditor", 200}}},
      {"GET",
       "/ga4gh/tes/v1/tasks",
       "",
       {{"alice", 200}, {"bob", 200}, {"admin", 403}, {"checker", 403}, {"auditor", 200}}},
      {"GET",
       "/auth/v1/whoami",
       "",
       {{"alice", 200}, {"bob", 200}, {"admin", 200}, {"checker", 200}, {"auditor", 200}}},
      {"GET",
       "/admin/v1/audit",
       "",
       {{"alice", 403}, {"bob", 403}, {"admin", 403}, {"checker", 403}, {"auditor", 200}}},
      {"GET",
       "/admin/v1/audit/verify",
       "",
       {{"alice", 403}, {"bob", 403}, {"admin", 403}, {"checker", 403}, {"auditor", 200}}},
      {"GET",
       "/admin/v1/access-keys",
       "",
       {{"alice", 403}, {"bob", 403}, {"admin", 200}, {"checker", 403}, {"auditor", 200}}},
      {"GET",
       "/admin/v1/certificates",
       "",
       {{"alice", 403}, {"bob", 403}, {"admin", 200}, {"checker", 403}, {"auditor", 200}}},
      {"GET",
       "/admin/v1/projects/p1/members",
       "",
       {{"alice", 403}, {"bob", 403}, {"admin", 200}, {"checker", 403}, {"auditor", 200}}},
      {"PUT",
       "/admin/v1/projects/p9/members/carol",
       "",
       {{"alice", 403}, {"bob", 403}, {"admin", 200}, {"checker", 403}, {"auditor", 403}}},
      {"POST",
       "/admin/v1/certificates",
       json{{"fingerprint_sha256", std::string(64, 'a')},
            {"subject", "svc"},
            {"roles", {"researcher"}},
            {"projects", {"p1"}}}
           .dump(),
       {{"alice", 403}, {"bob", 403}, {"admin", 201}, {"checker", 403}, {"auditor", 403}}},
      {"POST",
       "/ga4gh/tes/v1/tasks/" + task + ":cancel",
       "",
       {{"bob", 404}, {"admin", 403}, {"checker", 403}, {"auditor", 403}, {"alice", 200}}},
  };
  for (const Row& row : rows) {
    for (const auto& [who, want] : row.expect) {
      HttpResult r = Call(who, row.method, row.path, row.body);
      EXPECT_EQ(r.status, want) << who << " " << row.method << " " << row.path << ": " << r.body;
      if (who == "bob" && r.status == 200) {
        EXPECT_THAT(r.body, Not(HasSubstr(task))) << "bob saw alice's task in " << row.path;
      }
      if (who == "bob" && r.status == 404) {  // the same answer as for a task that never existed
        EXPECT_EQ(json::parse(r.body)["msg"], "task " + task + " not found");
      }
    }
  }
  // Listing never shows another project's task.
  HttpResult bob_list = Call("bob", "GET", "/ga4gh/tes/v1/tasks?view=FULL");
  EXPECT_THAT(bob_list.body, Not(HasSubstr(task)));
  HttpResult alice_list = Call("alice", "GET", "/ga4gh/tes/v1/tasks");
  EXPECT_THAT(alice_list.body, HasSubstr(task));
}

TEST_F(AuthzTest, DefaultProjectAndMembershipManagedByAdmins) {
  // Without a project tag, the task goes to the caller's default (first) project.
  json t = {{"executors", {{{"image", "ubuntu"}, {"command", {"true"}}}}}};
  HttpResult r = Call("bob", "POST", "/ga4gh/tes/v1/tasks", t.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string bob_task = json::parse(r.body)["id"];
  EXPECT_EQ(Call("alice", "GET", "/ga4gh/tes/v1/tasks/" + bob_task).status, 404);
  // An admin adds alice to p2: now she sees it.
  EXPECT_EQ(Call("admin", "PUT", "/admin/v1/projects/p2/members/alice").status, 200);
  EXPECT_EQ(Call("alice", "GET", "/ga4gh/tes/v1/tasks/" + bob_task).status, 200);
  json who = json::parse(Call("alice", "GET", "/auth/v1/whoami").body);
  EXPECT_THAT(who["projects"].dump(), HasSubstr("p2"));
  EXPECT_EQ(Call("admin", "DELETE", "/admin/v1/projects/p2/members/alice").status, 200);
  EXPECT_EQ(Call("alice", "GET", "/ga4gh/tes/v1/tasks/" + bob_task).status, 404);
}

TEST_F(AuthzTest, AccessKeysAreScopedExpireAndCanBeRevoked) {
  const std::string task = CreateTask("alice", "p1");
  HttpResult r = Call("alice", "POST", "/auth/v1/access-keys",
                      json{{"project", "p1"},
                           {"roles", {"researcher"}},
                           {"ttl_days", 7},
                           {"description", "pipeline"}}
                          .dump());
  ASSERT_EQ(r.status, 201) << r.body;
  json key = json::parse(r.body);
  const std::string token = key["token"];
  EXPECT_THAT(token, ::testing::StartsWith("sfk_"));
  json who = json::parse(Call(token, "GET", "/auth/v1/whoami").body);
  EXPECT_EQ(who["subject"], "alice");
  EXPECT_EQ(who["auth_method"], "access-key");
  EXPECT_EQ(Call(token, "GET", "/ga4gh/tes/v1/tasks/" + task).status, 200);
  // The listing never shows the secret; the database keeps only its hash.
  HttpResult listed = Call("admin", "GET", "/admin/v1/access-keys");
  EXPECT_THAT(listed.body, HasSubstr(key["id"].get<std::string>()));
  EXPECT_THAT(listed.body, Not(HasSubstr(token.substr(21))));
  // Escalation attempts.
  EXPECT_EQ(Call("alice", "POST", "/auth/v1/access-keys",
                 json{{"project", "p1"}, {"roles", {"workflow-admin"}}}.dump())
                .status,
            400);
  EXPECT_EQ(Call("alice", "POST", "/auth/v1/access-keys",
                 json{{"project", "p2"}, {"roles", {"researcher"}}}.dump())
                .status,
            403);
  EXPECT_EQ(Call("alice", "POST", "/auth/v1/access-keys",
                 json{{"project", "p1"}, {"ttl_days", 100000}}.dump())
                .status,
            400);
  // Someone else cannot revoke it; its owner can.
  const std::string id = key["id"];
  EXPECT_EQ(Call("bob", "POST", "/auth/v1/access-keys/" + id + ":revoke").status, 404);
  EXPECT_EQ(Call("alice", "POST", "/auth/v1/access-keys/" + id + ":revoke").status, 200);
  EXPECT_EQ(Call(token, "GET", "/auth/v1/whoami").status, 401);
  // A tampered secret is refused.
  std::string forged = token;
  forged.back() = forged.back() == '0' ? '1' : '0';
  EXPECT_EQ(Call(forged, "GET", "/auth/v1/whoami").status, 401);
}

class AuditTest : public AuthzTest {
 protected:
  // The embedded PostgreSQL, reached as its superuser through the unix socket (root may).
  static std::string Dsn() {
    return "host=" + env_->data_dir + "/pg-run port=5432 dbname=safeflow user=safeflow";
  }
  static void Sql(const std::string& sql) {
    pqxx::connection c(Dsn());
    pqxx::work tx(c);
    tx.exec("ALTER TABLE audit_log DISABLE TRIGGER USER");
    tx.exec(sql);
    tx.exec("ALTER TABLE audit_log ENABLE TRIGGER USER");
    tx.commit();
  }
  static json Verify() {
    HttpResult r = Call("auditor", "GET", "/admin/v1/audit/verify");
    return json::parse(r.body, nullptr, false);
  }
};

TEST_F(AuditTest, RecordsChangesAndRefusalsWithWhoWhatWhere) {
  const std::string task = CreateTask("alice", "p1");
  ASSERT_FALSE(task.empty());
  EXPECT_EQ(Call("bob", "POST", "/ga4gh/tes/v1/tasks/" + task + ":cancel").status, 404);
  EXPECT_EQ(Call("checker", "POST", "/ga4gh/tes/v1/tasks", "{}").status, 403);
  HttpResult r = Call("auditor", "GET", "/admin/v1/audit?object_id=" + task);
  ASSERT_EQ(r.status, 200) << r.body;
  json records = json::parse(r.body)["records"];
  ASSERT_GE(records.size(), 1u);
  json created = records.back();
  EXPECT_EQ(created["action"], "task.create");
  EXPECT_EQ(created["actor"], "alice");
  EXPECT_EQ(created["auth_method"], "oidc");
  EXPECT_EQ(created["role"], "researcher");
  EXPECT_EQ(created["project"], "p1");
  EXPECT_EQ(created["outcome"], "success");
  EXPECT_FALSE(created["request_id"].get<std::string>().empty());
  EXPECT_EQ(created["hash"].get<std::string>().size(), 64u);
  HttpResult denied = Call("auditor", "GET", "/admin/v1/audit?actor=checker&outcome=denied");
  EXPECT_THAT(denied.body, HasSubstr("/ga4gh/tes/v1/tasks"));
  // Paging.
  HttpResult page = Call("auditor", "GET", "/admin/v1/audit?page_size=1");
  json p = json::parse(page.body);
  ASSERT_EQ(p["records"].size(), 1u);
  ASSERT_TRUE(p.contains("next_page_token"));
  HttpResult next =
      Call("auditor", "GET",
           "/admin/v1/audit?page_size=1&page_token=" + p["next_page_token"].get<std::string>());
  EXPECT_LT(json::parse(next.body)["records"][0]["seq"], p["records"][0]["seq"]);
  EXPECT_EQ(Call("auditor", "GET", "/admin/v1/audit?since=yesterday").status, 400);
}

TEST_F(AuditTest, VerificationFindsAlteredDeletedAndReorderedRecords) {
  for (int i = 0; i < 4; ++i) ASSERT_FALSE(CreateTask("alice", "p1").empty());
  json ok = Verify();
  ASSERT_EQ(ok["ok"], true) << ok.dump();
  const long long last = ok["last_seq"];
  ASSERT_GE(last, 4);
  const long long victim = last - 2;
  // The application itself cannot change history.
  {
    pqxx::connection c(Dsn());
    pqxx::work tx(c);
    EXPECT_THROW(tx.exec("UPDATE audit_log SET actor = 'x' WHERE seq = " + std::to_string(victim)),
                 pqxx::sql_error);
  }
  // Altered.
  Sql("UPDATE audit_log SET actor = 'mallory' WHERE seq = " + std::to_string(victim));
  json v = Verify();
  EXPECT_EQ(v["ok"], false);
  EXPECT_EQ(v["first_broken_seq"], victim);
  EXPECT_THAT(v["reason"].get<std::string>(), HasSubstr("altered"));
  Sql("UPDATE audit_log SET actor = 'alice' WHERE seq = " + std::to_string(victim));
  ASSERT_EQ(Verify()["ok"], true);
  // Deleted (kept aside, then put back).
  Sql("CREATE TABLE audit_aside AS SELECT * FROM audit_log WHERE seq = " + std::to_string(victim) +
      "; DELETE FROM audit_log WHERE seq = " + std::to_string(victim));
  v = Verify();
  EXPECT_EQ(v["ok"], false);
  EXPECT_EQ(v["first_broken_seq"], victim + 1);
  EXPECT_THAT(v["reason"].get<std::string>(), HasSubstr("deleted"));
  Sql("INSERT INTO audit_log SELECT * FROM audit_aside; DROP TABLE audit_aside");
  ASSERT_EQ(Verify()["ok"], true);
  // Reordered: two records swap places.
  const std::string a = std::to_string(victim), b = std::to_string(victim + 1);
  Sql("UPDATE audit_log SET seq = -1 WHERE seq = " + a + "; UPDATE audit_log SET seq = " + a +
      " WHERE seq = " + b + "; UPDATE audit_log SET seq = " + b + " WHERE seq = -1");
  v = Verify();
  EXPECT_EQ(v["ok"], false);
  EXPECT_EQ(v["first_broken_seq"], victim);
  Sql("UPDATE audit_log SET seq = -1 WHERE seq = " + a + "; UPDATE audit_log SET seq = " + a +
      " WHERE seq = " + b + "; UPDATE audit_log SET seq = " + b + " WHERE seq = -1");
  EXPECT_EQ(Verify()["ok"], true);
}

}  // namespace
}  // namespace safeflow::testing
