#include "service/store/enclave_store.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include <openssl/rand.h>

#include "service/store/audit_internal.h"
#include "service/store/pool.h"
#include "service/store/store.h"

namespace safeflow::service::store {
namespace {

using nlohmann::json;

constexpr const char* kTs = "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'";

std::string Bytea(pqxx::transaction_base& tx, std::string_view raw) {
  return tx.quote_raw(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
}

std::string RawOf(const pqxx::field& f) { return pqxx::binarystring(f).str(); }

std::string DatasetColumns() {
  return absl::StrCat(
      "id, project, name, kind, description, public_key, release_policy::text, allow_plain, "
      "location, created_by, to_char(created_at AT TIME ZONE 'UTC', ",
      kTs, "), to_char(revoked_at AT TIME ZONE 'UTC', ", kTs, ")");
}

Dataset DatasetFromRow(const pqxx::row& r) {
  Dataset d;
  d.id = r[0].as<std::string>();
  d.project = r[1].as<std::string>();
  d.name = r[2].as<std::string>();
  d.kind = r[3].as<std::string>();
  d.description = r[4].as<std::string>();
  d.public_key = RawOf(r[5]);
  d.release_policy = json::parse(r[6].as<std::string>(), nullptr, false);
  if (!d.release_policy.is_object()) d.release_policy = json::object();
  d.allow_plain = r[7].as<bool>();
  if (!r[8].is_null()) d.location = r[8].as<std::string>();
  d.created_by = r[9].as<std::string>();
  d.created_at = r[10].as<std::string>();
  if (!r[11].is_null()) d.revoked_at = r[11].as<std::string>();
  return d;
}

std::string NewDatasetId() {
  unsigned char raw[8];
  if (RAND_bytes(raw, sizeof raw) != 1) std::abort();
  return absl::StrCat("ds_", absl::BytesToHexString(absl::string_view(
                                 reinterpret_cast<const char*>(raw), sizeof raw)));
}

}  // namespace

absl::StatusOr<Dataset> EnclaveStore::CreateDataset(const NewDataset& d, AuditEntry audit) {
  std::optional<Dataset> out;
  const std::string id = NewDatasetId();
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.reset();
    pqxx::work tx(c);
    pqxx::result r = tx.exec(absl::StrCat(
        "INSERT INTO datasets (id, project, name, kind, description, public_key, "
        "sealed_private_key, master_key_id, release_policy, allow_plain, location, created_by) "
        "VALUES (",
        tx.quote(id), ", ", tx.quote(d.project), ", ", tx.quote(d.name), ", ", tx.quote(d.kind),
        ", ", tx.quote(d.description), ", ", Bytea(tx, d.public_key), ", ",
        Bytea(tx, d.sealed_private_key), ", ", tx.quote(d.master_key_id), ", ",
        tx.quote(d.release_policy.dump()), "::jsonb, ", d.allow_plain ? "true" : "false", ", ",
        d.location ? tx.quote(*d.location) : "NULL", ", ", tx.quote(audit.actor),
        ") ON CONFLICT DO NOTHING RETURNING ", DatasetColumns()));
    if (r.empty()) return;
    out = DatasetFromRow(r[0]);
    audit.object_type = "dataset";
    audit.object_id = id;
    audit.project = d.project;
    audit.details["name"] = d.name;
    audit.details["kind"] = d.kind;
    audit.details["allow_plain"] = d.allow_plain ? "true" : "false";
    audit.details["release_policy"] = d.release_policy.dump();
    AppendAudit(tx, audit);
    tx.commit();
  });
  if (!s.ok()) return s;
  if (!out) {
    return absl::AlreadyExistsError(
        absl::StrCat("project ", d.project, " already has ",
                     d.kind == "outputs" ? "an outputs key" : "a dataset named " + d.name));
  }
  return *out;
}

absl::StatusOr<Dataset> EnclaveStore::GetDataset(const std::string& id) {
  std::optional<Dataset> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    pqxx::result r = tx.exec(
        absl::StrCat("SELECT ", DatasetColumns(), " FROM datasets WHERE id = ", tx.quote(id)));
    if (!r.empty()) out = DatasetFromRow(r[0]);
  });
  if (!s.ok()) return s;
  if (!out) return absl::NotFoundError(absl::StrCat("dataset ", id, " not found"));
  return *out;
}

absl::StatusOr<std::vector<Dataset>> EnclaveStore::ListDatasets(
    const std::optional<std::vector<std::string>>& projects) {
  std::vector<Dataset> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.clear();
    pqxx::read_transaction tx(c);
    std::string where;
    if (projects) {
      std::vector<std::string> quoted;
      for (const std::string& p : *projects) quoted.push_back(tx.quote(p));
      if (quoted.empty()) return;
      where = absl::StrCat(" WHERE project IN (", absl::StrJoin(quoted, ","), ")");
    }
    for (const pqxx::row& r : tx.exec(absl::StrCat("SELECT ", DatasetColumns(), " FROM datasets",
                                                   where, " ORDER BY project, name"))) {
      out.push_back(DatasetFromRow(r));
    }
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<Dataset> EnclaveStore::OutputsDataset(const std::string& project) {
  std::optional<Dataset> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    pqxx::result r = tx.exec(
        absl::StrCat("SELECT ", DatasetColumns(),
                     " FROM datasets WHERE kind = 'outputs' AND project = ", tx.quote(project)));
    if (!r.empty()) out = DatasetFromRow(r[0]);
  });
  if (!s.ok()) return s;
  if (!out) return absl::NotFoundError(absl::StrCat("project ", project, " has no outputs key"));
  return *out;
}

absl::Status EnclaveStore::RevokeDataset(const std::string& id, AuditEntry audit) {
  bool found = false;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    pqxx::result r = tx.exec_params(
        "UPDATE datasets SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 "
        "RETURNING project",
        id);
    found = !r.empty();
    if (!found) return;
    audit.object_type = "dataset";
    audit.object_id = id;
    audit.project = r[0][0].as<std::string>();
    AppendAudit(tx, audit);
    tx.commit();
  });
  if (!s.ok()) return s;
  if (!found) return absl::NotFoundError(absl::StrCat("dataset ", id, " not found"));
  return absl::OkStatus();
}

absl::StatusOr<SealedKey> EnclaveStore::DatasetPrivateKey(const std::string& id) {
  std::optional<SealedKey> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    pqxx::result r =
        tx.exec_params("SELECT sealed_private_key, master_key_id FROM datasets WHERE id = $1", id);
    if (!r.empty()) out = SealedKey{RawOf(r[0][0]), r[0][1].as<std::string>()};
  });
  if (!s.ok()) return s;
  if (!out) return absl::NotFoundError(absl::StrCat("dataset ", id, " not found"));
  return *out;
}

absl::StatusOr<std::vector<std::string>> EnclaveStore::MasterKeyIds() {
  std::vector<std::string> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.clear();
    pqxx::read_transaction tx(c);
    for (const pqxx::row& r :
         tx.exec("SELECT master_key_id FROM datasets UNION SELECT master_key_id FROM "
                 "attestation_signing_keys")) {
      out.push_back(r[0].as<std::string>());
    }
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status EnclaveStore::PutNonce(const std::string& nonce, int ttl_seconds) {
  return store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec("DELETE FROM attestation_nonces WHERE expires_at < now() - interval '1 hour'");
    tx.exec(absl::StrCat("INSERT INTO attestation_nonces (nonce, expires_at) VALUES (",
                         tx.quote(nonce), ", now() + ", ttl_seconds, " * interval '1 second')"));
    tx.commit();
  });
}

absl::Status EnclaveStore::ConsumeNonce(const std::string& nonce) {
  std::string why;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    why.clear();
    pqxx::work tx(c);
    pqxx::result r = tx.exec_params(
        "SELECT used_at IS NOT NULL, expires_at <= now() FROM attestation_nonces "
        "WHERE nonce = $1 FOR UPDATE",
        nonce);
    if (r.empty()) {
      why = "unknown nonce (not issued by this verifier, or long expired)";
      return;
    }
    if (r[0][0].as<bool>()) {
      why = "nonce already used: the evidence is a replay";
      return;
    }
    if (r[0][1].as<bool>()) {
      why = "nonce expired";
      return;
    }
    tx.exec_params("UPDATE attestation_nonces SET used_at = now() WHERE nonce = $1", nonce);
    tx.commit();
  });
  if (!s.ok()) return s;
  if (!why.empty()) return absl::PermissionDeniedError(why);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SigningKeyRecord>> EnclaveStore::SigningKeys(long long max_age_seconds) {
  std::vector<SigningKeyRecord> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.clear();
    pqxx::read_transaction tx(c);
    for (const pqxx::row& r : tx.exec(absl::StrCat(
             "SELECT kid, to_char(created_at AT TIME ZONE 'UTC', ", kTs,
             "), extract(epoch FROM now() - created_at)::bigint, sealed_private_key, "
             "master_key_id, public_jwk::text FROM attestation_signing_keys WHERE created_at > "
             "now() - ",
             max_age_seconds, " * interval '1 second' ORDER BY created_at DESC, kid"))) {
      SigningKeyRecord k;
      k.kid = r[0].as<std::string>();
      k.created_at = r[1].as<std::string>();
      k.age_seconds = r[2].as<long long>();
      k.private_key = SealedKey{RawOf(r[3]), r[4].as<std::string>()};
      k.public_jwk = json::parse(r[5].as<std::string>(), nullptr, false);
      out.push_back(std::move(k));
    }
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status EnclaveStore::AddSigningKey(const std::string& kid, const SealedKey& private_key,
                                         const json& public_jwk) {
  return store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec(absl::StrCat(
        "INSERT INTO attestation_signing_keys (kid, sealed_private_key, master_key_id, "
        "public_jwk) VALUES (",
        tx.quote(kid), ", ", Bytea(tx, private_key.sealed), ", ",
        tx.quote(private_key.master_key_id), ", ", tx.quote(public_jwk.dump()),
        "::jsonb) ON CONFLICT (kid) DO NOTHING"));
    tx.commit();
  });
}

}  // namespace safeflow::service::store
