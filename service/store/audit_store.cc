#include "service/store/audit_store.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include <openssl/evp.h>

#include "executor/crypto/openssl_util.h"
#include "service/store/audit_internal.h"
#include "service/store/pool.h"
#include "service/store/store.h"

namespace safeflow::service::store {
namespace {

using nlohmann::json;

// Key of the advisory lock serialising audit appends ("sfaudit!").
constexpr long long kAuditLockKey = 0x7366617564697421LL;
constexpr const char* kTimeFormat = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'";

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

constexpr const char* kColumns =
    "seq, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), request_id, "
    "actor, auth_method, role, project, action, object_type, object_id, outcome, details::text, "
    "prev_hash, hash";

AuditRecord FromRow(const pqxx::row& r) {
  AuditRecord a;
  a.seq = r[0].as<long long>();
  a.time = r[1].as<std::string>();
  a.entry.request_id = r[2].as<std::string>();
  a.entry.actor = r[3].as<std::string>();
  a.entry.auth_method = r[4].as<std::string>();
  a.entry.role = r[5].as<std::string>();
  a.entry.project = r[6].as<std::string>();
  a.entry.action = r[7].as<std::string>();
  a.entry.object_type = r[8].as<std::string>();
  a.entry.object_id = r[9].as<std::string>();
  a.entry.outcome = r[10].as<std::string>();
  a.entry.details = json::parse(r[11].as<std::string>(), nullptr, false);
  if (a.entry.details.is_discarded()) a.entry.details = "<unparseable>";
  a.prev_hash = r[12].as<std::string>();
  a.hash = r[13].as<std::string>();
  return a;
}

}  // namespace

std::string AuditCanonical(const AuditRecord& r) {
  const AuditEntry& e = r.entry;
  json j = {{"seq", r.seq},
            {"time", r.time},
            {"request_id", e.request_id},
            {"actor", e.actor},
            {"auth_method", e.auth_method},
            {"role", e.role},
            {"project", e.project},
            {"action", e.action},
            {"object_type", e.object_type},
            {"object_id", e.object_id},
            {"outcome", e.outcome},
            {"details", e.details}};
  return Dump(j);  // nlohmann::json objects keep keys sorted: canonical
}

std::string AuditHash(const std::string& prev_hash, const std::string& canonical) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const executor::crypto::UniqueMdCtx ctx(EVP_MD_CTX_new());
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx.get(), prev_hash.data(), prev_hash.size());
  EVP_DigestUpdate(ctx.get(), canonical.data(), canonical.size());
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(md), static_cast<size_t>(len)));
}

AuditRecord AppendAudit(pqxx::work& tx, const AuditEntry& entry) {
  tx.exec_params("SELECT pg_advisory_xact_lock($1)", kAuditLockKey);
  pqxx::row meta = tx.exec1(absl::StrCat(
      "SELECT nextval('audit_log_seq'), to_char(clock_timestamp() AT TIME ZONE 'UTC', ",
      kTimeFormat, "), COALESCE((SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1), ",
      tx.quote(kAuditGenesis), ")"));
  AuditRecord r;
  r.seq = meta[0].as<long long>();
  r.time = meta[1].as<std::string>();
  r.entry = entry;
  if (!r.entry.details.is_object()) r.entry.details = json::object();
  r.prev_hash = meta[2].as<std::string>();
  r.hash = AuditHash(r.prev_hash, AuditCanonical(r));
  tx.exec_params(
      "INSERT INTO audit_log (seq, time, request_id, actor, auth_method, role, project, action, "
      "object_type, object_id, outcome, details, prev_hash, hash) VALUES ($1, $2::timestamptz, "
      "$3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14)",
      r.seq, r.time, r.entry.request_id, r.entry.actor, r.entry.auth_method, r.entry.role,
      r.entry.project, r.entry.action, r.entry.object_type, r.entry.object_id, r.entry.outcome,
      Dump(r.entry.details), r.prev_hash, r.hash);
  return r;
}

absl::Status AuditStore::Append(const AuditEntry& entry) {
  return store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    AppendAudit(tx, entry);
    tx.commit();
  });
}

absl::StatusOr<AuditPage> AuditStore::Query(const AuditQuery& q) {
  AuditPage page;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    page = AuditPage{};
    pqxx::read_transaction tx(c);
    std::string sql = absl::StrCat("SELECT ", kColumns, " FROM audit_log WHERE TRUE");
    auto eq = [&](const char* column, const std::optional<std::string>& v) {
      if (v) absl::StrAppend(&sql, " AND ", column, " = ", tx.quote(*v));
    };
    eq("actor", q.actor);
    eq("action", q.action);
    eq("project", q.project);
    eq("object_id", q.object_id);
    eq("outcome", q.outcome);
    if (q.since) absl::StrAppend(&sql, " AND time >= ", tx.quote(*q.since), "::timestamptz");
    if (q.until) absl::StrAppend(&sql, " AND time < ", tx.quote(*q.until), "::timestamptz");
    if (q.before_seq) absl::StrAppend(&sql, " AND seq < ", *q.before_seq);
    absl::StrAppend(&sql, " ORDER BY seq DESC LIMIT ", q.page_size + 1);
    pqxx::result r = tx.exec(sql);
    for (pqxx::result::size_type i = 0; i < r.size() && static_cast<int>(i) < q.page_size; ++i) {
      page.records.push_back(FromRow(r[i]));
    }
    if (static_cast<int>(r.size()) > q.page_size) page.next_before_seq = page.records.back().seq;
  });
  if (!s.ok()) return s;
  return page;
}

absl::StatusOr<AuditVerification> AuditStore::Verify() {
  AuditVerification v;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    v = AuditVerification{};
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
    std::string expected_prev = kAuditGenesis;
    long long after = -1;
    while (true) {
      pqxx::result r = tx.exec(absl::StrCat("SELECT ", kColumns, " FROM audit_log WHERE seq > ",
                                            after, " ORDER BY seq LIMIT 1000"));
      if (r.empty()) break;
      for (const pqxx::row& row : r) {
        AuditRecord rec = FromRow(row);
        after = rec.seq;
        if (rec.prev_hash != expected_prev) {
          v.ok = false;
          v.first_broken_seq = rec.seq;
          v.reason =
              "prev_hash does not match the hash of the record before it (a record was "
              "deleted, inserted or reordered)";
          return;
        }
        if (AuditHash(rec.prev_hash, AuditCanonical(rec)) != rec.hash) {
          v.ok = false;
          v.first_broken_seq = rec.seq;
          v.reason = "the record's content does not match its hash (it was altered)";
          return;
        }
        expected_prev = rec.hash;
        ++v.records;
        v.last_seq = rec.seq;
        v.last_hash = rec.hash;
      }
    }
  });
  if (!s.ok()) return s;
  return v;
}

}  // namespace safeflow::service::store
