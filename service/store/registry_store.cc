#include "service/store/registry_store.h"

#include <map>

#include "absl/strings/str_cat.h"

#include "service/store/audit_internal.h"
#include "service/store/pool.h"
#include "service/store/store.h"

namespace safeflow::service::store {
namespace {

using nlohmann::json;

constexpr const char* kTs = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'";

std::string Bytea(pqxx::transaction_base& tx, std::string_view raw) {
  return tx.quote_raw(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
}

std::string RawOf(const pqxx::field& f) { return pqxx::binarystring(f).str(); }

std::string Time(const char* column) {
  return absl::StrCat("to_char(", column, " AT TIME ZONE 'UTC', ", kTs, ")");
}

std::string ItemColumns() {
  return absl::StrCat("digest, name, version, manifest::text, state, created_by, ",
                      Time("created_at"), ", ", Time("approved_at"), ", revoked_by, ",
                      Time("revoked_at"), ", revoke_reason");
}

RegistryItem ItemFromRow(RegistryKind kind, const pqxx::row& r) {
  RegistryItem item;
  item.kind = kind;
  item.digest = r[0].as<std::string>();
  item.name = r[1].as<std::string>();
  item.version = r[2].as<std::string>();
  item.manifest = json::parse(r[3].as<std::string>(), nullptr, false);
  if (item.manifest.is_discarded()) item.manifest = json::object();
  item.state = r[4].as<std::string>();
  item.created_by = r[5].as<std::string>();
  item.created_at = r[6].as<std::string>();
  if (!r[7].is_null()) item.approved_at = r[7].as<std::string>();
  if (!r[8].is_null()) item.revoked_by = r[8].as<std::string>();
  if (!r[9].is_null()) item.revoked_at = r[9].as<std::string>();
  if (!r[10].is_null()) item.revoke_reason = r[10].as<std::string>();
  return item;
}

// "kind = ... AND <digest or name/version>" for `ref`, or "" when `ref` cannot name an item.
std::string RefClause(pqxx::transaction_base& tx, RegistryKind kind, const std::string& ref) {
  const std::string k = tx.quote(std::string(RegistryKindName(kind)));
  if (ref.rfind("sha256:", 0) == 0) {
    return absl::StrCat("kind = ", k, " AND digest = ", tx.quote(ref));
  }
  const std::size_t at = ref.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 == ref.size()) return "";
  return absl::StrCat("kind = ", k, " AND name = ", tx.quote(ref.substr(0, at)),
                      " AND version = ", tx.quote(ref.substr(at + 1)));
}

// Fills approvers and files of `items` (all of `kind`).
void FillDetails(pqxx::transaction_base& tx, RegistryKind kind, std::vector<RegistryItem>& items) {
  if (items.empty()) return;
  std::map<std::string, RegistryItem*> by_digest;
  std::string digests;
  for (RegistryItem& item : items) {
    by_digest[item.digest] = &item;
    absl::StrAppend(&digests, digests.empty() ? "" : ",", tx.quote(item.digest));
  }
  const std::string where = absl::StrCat("kind = ", tx.quote(std::string(RegistryKindName(kind))),
                                         " AND digest IN (", digests, ")");
  for (const pqxx::row& r :
       tx.exec(absl::StrCat("SELECT digest, approver FROM registry_approvals WHERE ", where,
                            " ORDER BY approved_at, approver"))) {
    by_digest[r[0].as<std::string>()]->approvers.push_back(r[1].as<std::string>());
  }
  for (const pqxx::row& r :
       tx.exec(absl::StrCat("SELECT digest, path, octet_length(content), sha256 FROM "
                            "registry_files WHERE ",
                            where, " ORDER BY digest, path COLLATE \"C\""))) {
    by_digest[r[0].as<std::string>()]->files.push_back(
        RegistryFileInfo{r[1].as<std::string>(), r[2].as<long long>(), r[3].as<std::string>()});
  }
}

// The item `ref` names, with its details; nullopt when there is none. `lock`: FOR UPDATE.
std::optional<RegistryItem> LoadItem(pqxx::transaction_base& tx, RegistryKind kind,
                                     const std::string& ref, bool lock) {
  const std::string where = RefClause(tx, kind, ref);
  if (where.empty()) return std::nullopt;
  pqxx::result r = tx.exec(absl::StrCat("SELECT ", ItemColumns(), " FROM registry_items WHERE ",
                                        where, lock ? " FOR UPDATE" : ""));
  if (r.empty()) return std::nullopt;
  std::vector<RegistryItem> items = {ItemFromRow(kind, r[0])};
  FillDetails(tx, kind, items);
  return std::move(items[0]);
}

std::string Label(RegistryKind kind, const std::string& name, const std::string& version) {
  return absl::StrCat(std::string(RegistryKindName(kind)), " ", name, "@", version);
}

absl::Status NotFound(RegistryKind kind, const std::string& ref) {
  return absl::NotFoundError(
      absl::StrCat(std::string(RegistryKindName(kind)), " ", ref, " not found"));
}

void AuditItem(pqxx::work& tx, AuditEntry& audit, const RegistryItem& item) {
  audit.object_type = std::string(RegistryKindName(item.kind));
  audit.object_id = item.digest;
  audit.details["name"] = item.name;
  audit.details["version"] = item.version;
  audit.details["state"] = item.state;
  AppendAudit(tx, audit);
}

}  // namespace

std::string_view RegistryKindName(RegistryKind kind) {
  return kind == RegistryKind::kWorkflow ? "workflow" : "environment";
}

absl::StatusOr<RegistryItem> RegistryStore::Register(const NewRegistryItem& item,
                                                     AuditEntry audit) {
  std::optional<RegistryItem> out;
  std::optional<std::string> existing;
  const std::string kind(RegistryKindName(item.kind));
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.reset();
    existing.reset();
    pqxx::work tx(c);
    pqxx::result r = tx.exec(absl::StrCat(
        "INSERT INTO registry_items (kind, digest, name, version, manifest, state, created_by) "
        "VALUES (",
        tx.quote(kind), ", ", tx.quote(item.digest), ", ", tx.quote(item.name), ", ",
        tx.quote(item.version), ", ", tx.quote(item.manifest.dump()), "::jsonb, 'pending', ",
        tx.quote(item.author), ") ON CONFLICT DO NOTHING RETURNING digest"));
    if (r.empty()) {
      pqxx::result e = tx.exec(absl::StrCat(
          "SELECT digest, name, version FROM registry_items WHERE kind = ", tx.quote(kind),
          " AND ((name = ", tx.quote(item.name), " AND version = ", tx.quote(item.version),
          ") OR digest = ", tx.quote(item.digest), ") LIMIT 1"));
      existing = e.empty() ? std::string("(concurrently)")
                           : absl::StrCat(e[0][1].as<std::string>(), "@", e[0][2].as<std::string>(),
                                          " (", e[0][0].as<std::string>(), ")");
      return;
    }
    for (const registry::BundleFile& f : item.files) {
      tx.exec(
          absl::StrCat("INSERT INTO registry_files (kind, digest, path, content, sha256) VALUES (",
                       tx.quote(kind), ", ", tx.quote(item.digest), ", ", tx.quote(f.path), ", ",
                       Bytea(tx, f.content), ", ", tx.quote(registry::Sha256Hex(f.content)), ")"));
    }
    out = LoadItem(tx, item.kind, item.digest, false);
    if (!out) throw std::runtime_error("registered item vanished");
    audit.details["files"] = static_cast<long long>(item.files.size());
    AuditItem(tx, audit, *out);
    tx.commit();
  });
  if (!s.ok()) return s;
  if (existing) {
    return absl::AlreadyExistsError(absl::StrCat(kind, " ", item.name, "@", item.version,
                                                 " is already registered: ", *existing));
  }
  return *out;
}

absl::StatusOr<RegistryItem> RegistryStore::Get(RegistryKind kind, const std::string& ref) {
  std::optional<RegistryItem> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    out = LoadItem(tx, kind, ref, false);
  });
  if (!s.ok()) return s;
  if (!out) return NotFound(kind, ref);
  return *out;
}

absl::StatusOr<std::vector<RegistryItem>> RegistryStore::List(
    RegistryKind kind, const std::optional<std::string>& state) {
  std::vector<RegistryItem> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.clear();
    pqxx::read_transaction tx(c);
    std::string where = absl::StrCat("kind = ", tx.quote(std::string(RegistryKindName(kind))));
    if (state) absl::StrAppend(&where, " AND state = ", tx.quote(*state));
    for (const pqxx::row& r :
         tx.exec(absl::StrCat("SELECT ", ItemColumns(), " FROM registry_items WHERE ", where,
                              " ORDER BY created_at DESC, digest DESC"))) {
      out.push_back(ItemFromRow(kind, r));
    }
    FillDetails(tx, kind, out);
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<RegistryItem> RegistryStore::Approve(RegistryKind kind, const std::string& ref,
                                                    const std::string& approver, int required,
                                                    AuditEntry audit) {
  std::optional<RegistryItem> out;
  absl::Status refusal;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.reset();
    refusal = absl::OkStatus();
    pqxx::work tx(c);
    // The row lock serialises approvals of one item: the count below is exact.
    std::optional<RegistryItem> item = LoadItem(tx, kind, ref, true);
    if (!item) {
      refusal = NotFound(kind, ref);
      return;
    }
    const std::string label = Label(kind, item->name, item->version);
    if (item->created_by == approver) {
      refusal =
          absl::PermissionDeniedError(absl::StrCat("the author of ", label, " cannot approve it"));
      return;
    }
    if (item->state == "revoked") {
      refusal =
          absl::FailedPreconditionError(absl::StrCat(label, " was revoked and cannot be approved"));
      return;
    }
    for (const std::string& a : item->approvers) {
      if (a == approver) {
        refusal = absl::AlreadyExistsError(absl::StrCat(approver, " already approved ", label));
        return;
      }
    }
    tx.exec(absl::StrCat("INSERT INTO registry_approvals (kind, digest, approver) VALUES (",
                         tx.quote(std::string(RegistryKindName(kind))), ", ",
                         tx.quote(item->digest), ", ", tx.quote(approver), ")"));
    const long long approvals = static_cast<long long>(item->approvers.size()) + 1;
    if (item->state == "pending" && approvals >= required) {
      tx.exec(absl::StrCat(
          "UPDATE registry_items SET state = 'approved', approved_at = clock_timestamp() "
          "WHERE kind = ",
          tx.quote(std::string(RegistryKindName(kind))), " AND digest = ", tx.quote(item->digest)));
    }
    out = LoadItem(tx, kind, item->digest, false);
    if (!out) throw std::runtime_error("approved item vanished");
    audit.details["approvals"] = approvals;
    audit.details["required_approvals"] = required;
    AuditItem(tx, audit, *out);
    tx.commit();
  });
  if (!s.ok()) return s;
  if (!refusal.ok()) return refusal;
  return *out;
}

absl::StatusOr<RegistryItem> RegistryStore::Revoke(RegistryKind kind, const std::string& ref,
                                                   const std::string& by, const std::string& reason,
                                                   AuditEntry audit) {
  std::optional<RegistryItem> out;
  bool found = true;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.reset();
    found = true;
    pqxx::work tx(c);
    std::optional<RegistryItem> item = LoadItem(tx, kind, ref, true);
    if (!item) {
      found = false;
      return;
    }
    if (item->state == "revoked") {  // revoking twice changes nothing
      out = std::move(item);
      return;
    }
    tx.exec(absl::StrCat(
        "UPDATE registry_items SET state = 'revoked', revoked_at = clock_timestamp(), "
        "revoked_by = ",
        tx.quote(by), ", revoke_reason = ", tx.quote(reason), " WHERE kind = ",
        tx.quote(std::string(RegistryKindName(kind))), " AND digest = ", tx.quote(item->digest)));
    out = LoadItem(tx, kind, item->digest, false);
    if (!out) throw std::runtime_error("revoked item vanished");
    audit.details["previous_state"] = item->state;
    audit.details["reason"] = reason;
    AuditItem(tx, audit, *out);
    tx.commit();
  });
  if (!s.ok()) return s;
  if (!found) return NotFound(kind, ref);
  return *out;
}

absl::StatusOr<std::vector<registry::BundleFile>> RegistryStore::Files(const std::string& digest) {
  std::vector<registry::BundleFile> out;
  bool found = false;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.clear();
    pqxx::read_transaction tx(c);
    found = !tx.exec_params("SELECT 1 FROM registry_items WHERE kind = 'workflow' AND digest = $1",
                            digest)
                 .empty();
    if (!found) return;
    for (const pqxx::row& r : tx.exec_params(
             "SELECT path, content FROM registry_files WHERE kind = 'workflow' AND digest = $1 "
             "ORDER BY path COLLATE \"C\"",
             digest)) {
      out.push_back(registry::BundleFile{r[0].as<std::string>(), RawOf(r[1])});
    }
  });
  if (!s.ok()) return s;
  if (!found) return absl::NotFoundError(absl::StrCat("workflow ", digest, " not found"));
  return out;
}

}  // namespace safeflow::service::store
