#include "service/store/auth_store.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "service/store/audit_internal.h"
#include "service/store/pool.h"
#include "service/store/store.h"

namespace safeflow::service::store {
namespace {

using nlohmann::json;

constexpr const char* kTs = "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'";

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(md), static_cast<size_t>(len)));
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    std::abort();
  }
  return absl::BytesToHexString(raw);
}

// A PostgreSQL text[] literal, quoted by the transaction.
std::string TextArray(pqxx::transaction_base& tx, const std::vector<std::string>& v) {
  std::vector<std::string> quoted;
  for (const std::string& s : v) quoted.push_back(tx.quote(s));
  return absl::StrCat("ARRAY[", absl::StrJoin(quoted, ","), "]::text[]");
}

std::vector<std::string> JsonStrings(const std::string& text) {
  std::vector<std::string> out;
  json j = json::parse(text, nullptr, false);
  if (!j.is_array()) return out;
  for (const json& e : j) {
    if (e.is_string()) out.push_back(e.get<std::string>());
  }
  return out;
}

std::optional<std::string> OptionalText(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::string>();
}

std::string KeyColumns() {
  return absl::StrCat(
      "id, subject, project, array_to_json(roles)::text, description, created_by, "
      "to_char(created_at "
      "AT TIME ZONE 'UTC', ",
      kTs, "), to_char(expires_at AT TIME ZONE 'UTC', ", kTs,
      "), to_char(revoked_at AT TIME ZONE 'UTC', ", kTs,
      "), to_char(last_used_at AT TIME ZONE 'UTC', ", kTs, ")");
}

AccessKey KeyFromRow(const pqxx::row& r) {
  AccessKey k;
  k.id = r[0].as<std::string>();
  k.subject = r[1].as<std::string>();
  k.project = r[2].as<std::string>();
  k.roles = JsonStrings(r[3].as<std::string>());
  k.description = r[4].as<std::string>();
  k.created_by = r[5].as<std::string>();
  k.created_at = r[6].as<std::string>();
  k.expires_at = r[7].as<std::string>();
  k.revoked_at = OptionalText(r[8]);
  k.last_used_at = OptionalText(r[9]);
  return k;
}

std::string CertColumns() {
  return absl::StrCat(
      "fingerprint_sha256, subject, array_to_json(roles)::text, array_to_json(projects)::text, "
      "read_only, created_by, to_char(created_at AT TIME ZONE 'UTC', ",
      kTs, "), to_char(revoked_at AT TIME ZONE 'UTC', ", kTs, ")");
}

CertIdentity CertFromRow(const pqxx::row& r) {
  CertIdentity c;
  c.fingerprint_sha256 = r[0].as<std::string>();
  c.subject = r[1].as<std::string>();
  c.roles = JsonStrings(r[2].as<std::string>());
  c.projects = JsonStrings(r[3].as<std::string>());
  c.read_only = r[4].as<bool>();
  c.created_by = r[5].as<std::string>();
  c.created_at = r[6].as<std::string>();
  c.revoked_at = OptionalText(r[7]);
  return c;
}

}  // namespace

bool LooksLikeAccessKey(std::string_view token) {
  if (token.size() != 4 + 16 + 1 + 64 || token.substr(0, 4) != "sfk_" || token[20] != '.') {
    return false;
  }
  for (size_t i = 4; i < token.size(); ++i) {
    if (i == 20) continue;
    const char c = token[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::StatusOr<CreatedAccessKey> AuthStore::CreateAccessKey(const NewAccessKey& k,
                                                            AuditEntry audit) {
  CreatedAccessKey out;
  const std::string id = RandomHex(8);
  const std::string secret = RandomHex(32);
  out.token = absl::StrCat("sfk_", id, ".", secret);
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    pqxx::row r = tx.exec1(absl::StrCat(
        "INSERT INTO access_keys (id, secret_sha256, subject, project, roles, description, "
        "created_by, expires_at) VALUES (",
        tx.quote(id), ", ", tx.quote(Sha256Hex(secret)), ", ", tx.quote(k.subject), ", ",
        tx.quote(k.project), ", ", TextArray(tx, k.roles), ", ", tx.quote(k.description), ", ",
        tx.quote(audit.actor), ", now() + ", k.ttl_seconds, " * interval '1 second') RETURNING ",
        KeyColumns()));
    out.key = KeyFromRow(r);
    audit.object_type = "access_key";
    audit.object_id = id;
    audit.project = k.project;
    audit.details["subject"] = k.subject;
    audit.details["roles"] = absl::StrJoin(k.roles, ",");
    audit.details["expires_at"] = out.key.expires_at;
    AppendAudit(tx, audit);
    tx.commit();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<AccessKey>> AuthStore::ListAccessKeys(
    const std::optional<std::string>& project) {
  std::vector<AccessKey> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.clear();
    pqxx::read_transaction tx(c);
    for (const pqxx::row& r :
         tx.exec(absl::StrCat("SELECT ", KeyColumns(), " FROM access_keys",
                              project ? " WHERE project = " + tx.quote(*project) : "",
                              " ORDER BY created_at DESC, id"))) {
      out.push_back(KeyFromRow(r));
    }
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<AccessKey> AuthStore::GetAccessKey(const std::string& id) {
  std::optional<AccessKey> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    pqxx::result r = tx.exec(
        absl::StrCat("SELECT ", KeyColumns(), " FROM access_keys WHERE id = ", tx.quote(id)));
    if (!r.empty()) out = KeyFromRow(r[0]);
  });
  if (!s.ok()) return s;
  if (!out) return absl::NotFoundError(absl::StrCat("access key ", id, " not found"));
  return *out;
}

absl::Status AuthStore::RevokeAccessKey(const std::string& id, AuditEntry audit) {
  bool found = false;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    pqxx::result r = tx.exec_params(
        "UPDATE access_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 "
        "RETURNING project",
        id);
    found = !r.empty();
    if (!found) return;
    audit.object_type = "access_key";
    audit.object_id = id;
    audit.project = r[0][0].as<std::string>();
    AppendAudit(tx, audit);
    tx.commit();
  });
  if (!s.ok()) return s;
  if (!found) return absl::NotFoundError(absl::StrCat("access key ", id, " not found"));
  return absl::OkStatus();
}

absl::StatusOr<AccessKey> AuthStore::CheckAccessKey(const std::string& token) {
  const absl::Status refused = absl::UnauthenticatedError("invalid, expired or revoked access key");
  if (!LooksLikeAccessKey(token)) return refused;
  const std::string id = token.substr(4, 16);
  const std::string presented = Sha256Hex(token.substr(21));
  std::optional<AccessKey> key;
  bool valid = false;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    pqxx::result r =
        tx.exec(absl::StrCat("SELECT ", KeyColumns(),
                             ", secret_sha256, (revoked_at IS NULL AND expires_at > now()) "
                             "FROM access_keys WHERE id = ",
                             tx.quote(id)));
    if (r.empty()) return;
    const std::string stored = r[0][10].as<std::string>();
    const bool matches = stored.size() == presented.size() &&
                         CRYPTO_memcmp(stored.data(), presented.data(), stored.size()) == 0;
    valid = matches && r[0][11].as<bool>();
    if (!valid) return;
    key = KeyFromRow(r[0]);
    tx.exec_params(
        "UPDATE access_keys SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR "
        "last_used_at < now() - interval '1 minute')",
        id);
    tx.commit();
  });
  if (!s.ok()) return s;
  if (!valid || !key) return refused;
  return *key;
}

absl::StatusOr<CertIdentity> AuthStore::FindCertIdentity(const std::string& fingerprint) {
  std::optional<CertIdentity> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    pqxx::result r = tx.exec(absl::StrCat("SELECT ", CertColumns(),
                                          " FROM cert_identities WHERE fingerprint_sha256 = ",
                                          tx.quote(fingerprint), " AND revoked_at IS NULL"));
    if (!r.empty()) out = CertFromRow(r[0]);
  });
  if (!s.ok()) return s;
  if (!out) return absl::NotFoundError("unknown certificate");
  return *out;
}

absl::Status AuthStore::PutCertIdentity(const CertIdentity& id, AuditEntry audit) {
  return store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec(absl::StrCat(
        "INSERT INTO cert_identities (fingerprint_sha256, subject, roles, projects, read_only, "
        "created_by) VALUES (",
        tx.quote(id.fingerprint_sha256), ", ", tx.quote(id.subject), ", ", TextArray(tx, id.roles),
        ", ", TextArray(tx, id.projects), ", ", id.read_only ? "true" : "false", ", ",
        tx.quote(audit.actor),
        ") ON CONFLICT (fingerprint_sha256) DO UPDATE SET subject = EXCLUDED.subject, roles = "
        "EXCLUDED.roles, projects = EXCLUDED.projects, read_only = EXCLUDED.read_only, "
        "created_by = EXCLUDED.created_by, created_at = now(), revoked_at = NULL"));
    audit.object_type = "certificate";
    audit.object_id = id.fingerprint_sha256;
    audit.details["subject"] = id.subject;
    audit.details["roles"] = absl::StrJoin(id.roles, ",");
    audit.details["projects"] = absl::StrJoin(id.projects, ",");
    audit.details["read_only"] = id.read_only ? 1 : 0;
    AppendAudit(tx, audit);
    tx.commit();
  });
}

absl::Status AuthStore::RevokeCertIdentity(const std::string& fingerprint, AuditEntry audit) {
  bool found = false;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    found = !tx.exec_params(
                   "UPDATE cert_identities SET revoked_at = COALESCE(revoked_at, now()) "
                   "WHERE fingerprint_sha256 = $1 RETURNING subject",
                   fingerprint)
                 .empty();
    if (!found) return;
    audit.object_type = "certificate";
    audit.object_id = fingerprint;
    AppendAudit(tx, audit);
    tx.commit();
  });
  if (!s.ok()) return s;
  if (!found) return absl::NotFoundError("certificate identity not found");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<CertIdentity>> AuthStore::ListCertIdentities() {
  std::vector<CertIdentity> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.clear();
    pqxx::read_transaction tx(c);
    for (const pqxx::row& r : tx.exec(
             absl::StrCat("SELECT ", CertColumns(), " FROM cert_identities ORDER BY subject"))) {
      out.push_back(CertFromRow(r));
    }
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<std::string>> AuthStore::ProjectsOf(const std::string& subject) {
  std::vector<std::string> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.clear();
    pqxx::read_transaction tx(c);
    for (const pqxx::row& r : tx.exec_params(
             "SELECT project FROM project_members WHERE subject = $1 ORDER BY project", subject)) {
      out.push_back(r[0].as<std::string>());
    }
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status AuthStore::AddMember(const std::string& project, const std::string& subject,
                                  AuditEntry audit) {
  return store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "INSERT INTO project_members (project, subject, added_by) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING",
        project, subject, audit.actor);
    audit.object_type = "project_member";
    audit.object_id = subject;
    audit.project = project;
    AppendAudit(tx, audit);
    tx.commit();
  });
}

absl::Status AuthStore::RemoveMember(const std::string& project, const std::string& subject,
                                     AuditEntry audit) {
  bool found = false;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    found = !tx.exec_params(
                   "DELETE FROM project_members WHERE project = $1 AND subject = $2 RETURNING 1",
                   project, subject)
                 .empty();
    if (!found) return;
    audit.object_type = "project_member";
    audit.object_id = subject;
    audit.project = project;
    AppendAudit(tx, audit);
    tx.commit();
  });
  if (!s.ok()) return s;
  if (!found) return absl::NotFoundError("no such member");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> AuthStore::Members(const std::string& project) {
  std::vector<std::string> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.clear();
    pqxx::read_transaction tx(c);
    for (const pqxx::row& r : tx.exec_params(
             "SELECT subject FROM project_members WHERE project = $1 ORDER BY subject", project)) {
      out.push_back(r[0].as<std::string>());
    }
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace safeflow::service::store
