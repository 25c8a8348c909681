#include "service/store/airlock_store.h"

#include <functional>
#include <map>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "service/store/audit_internal.h"
#include "service/store/pool.h"
#include "service/store/store.h"
#include "service/store/store_internal.h"

namespace safeflow::service::store {
namespace {

using nlohmann::json;

constexpr const char* kTs = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'";

std::string Time(const char* column) {
  return absl::StrCat("to_char(", column, " AT TIME ZONE 'UTC', ", kTs, ")");
}

json Parsed(const pqxx::field& f) {
  if (f.is_null()) return nullptr;
  json j = json::parse(f.as<std::string>(), nullptr, false);
  return j.is_discarded() ? json(nullptr) : j;
}

std::string Opt(const pqxx::field& f) { return f.is_null() ? "" : f.as<std::string>(); }

std::string RequestColumns() {
  return absl::StrCat("id, kind, run_id, task_id, project, requester, profile, auto_release, ",
                      "required_reviews, state, ", Time("created_at"), ", ", Time("checked_at"),
                      ", (extract(epoch from created_at) * 1000000)::bigint");
}

AirlockRequest RequestFromRow(const pqxx::row& r) {
  AirlockRequest q;
  q.id = r[0].as<std::string>();
  q.kind = r[1].as<std::string>();
  q.run_id = Opt(r[2]);
  q.task_id = r[3].as<std::string>();
  q.project = r[4].as<std::string>();
  q.requester = r[5].as<std::string>();
  q.profile = r[6].as<std::string>();
  q.auto_release = r[7].as<bool>();
  q.required_reviews = r[8].as<int>();
  q.state = r[9].as<std::string>();
  q.created_at = r[10].as<std::string>();
  q.checked_at = Opt(r[11]);
  return q;
}

std::string FileColumns(bool with_report) {
  return absl::StrCat("request_id, name, path, location, evidence_location, declaration::text, ",
                      "sha256, size_bytes, verdict, ", with_report ? "report::text" : "NULL",
                      ", status, basis, decided_by, decision_reason, ", Time("decided_at"));
}

AirlockFile FileFromRow(const pqxx::row& r) {
  AirlockFile f;
  f.name = r[1].as<std::string>();
  f.path = r[2].as<std::string>();
  f.location = r[3].as<std::string>();
  f.evidence_location = Opt(r[4]);
  f.declaration = Parsed(r[5]);
  f.sha256 = Opt(r[6]);
  f.size_bytes = r[7].is_null() ? -1 : r[7].as<long long>();
  f.verdict = Opt(r[8]);
  f.report = Parsed(r[9]);
  f.status = r[10].as<std::string>();
  f.basis = Opt(r[11]);
  f.decided_by = Opt(r[12]);
  f.decision_reason = Opt(r[13]);
  f.decided_at = Opt(r[14]);
  return f;
}

// Fills files (and reviews) of `requests`.
void FillFiles(pqxx::transaction_base& tx, std::vector<AirlockRequest>& requests,
               bool with_report) {
  if (requests.empty()) return;
  std::map<std::string, AirlockRequest*> by_id;
  std::vector<std::string> ids;
  for (AirlockRequest& q : requests) {
    by_id[q.id] = &q;
    ids.push_back(tx.quote(q.id));
  }
  const std::string in = absl::StrCat("(", absl::StrJoin(ids, ","), ")");
  std::map<std::pair<std::string, std::string>, AirlockFile*> by_file;
  for (const pqxx::row& r : tx.exec(absl::StrCat("SELECT ", FileColumns(with_report),
                                                 " FROM airlock_files WHERE request_id IN ", in,
                                                 " ORDER BY request_id, name"))) {
    AirlockRequest& q = *by_id[r[0].as<std::string>()];
    q.files.push_back(FileFromRow(r));
  }
  for (AirlockRequest& q : requests) {
    for (AirlockFile& f : q.files) by_file[{q.id, f.name}] = &f;
  }
  for (const pqxx::row& r : tx.exec(absl::StrCat(
           "SELECT request_id, name, checker, decision, comment, ", Time("created_at"),
           " FROM airlock_reviews WHERE request_id IN ", in, " ORDER BY created_at, checker"))) {
    auto it = by_file.find({r[0].as<std::string>(), r[1].as<std::string>()});
    if (it == by_file.end()) continue;
    it->second->reviews.push_back({r[2].as<std::string>(), r[3].as<std::string>(),
                                   r[4].as<std::string>(), r[5].as<std::string>()});
  }
}

std::optional<AirlockRequest> LoadRequest(pqxx::transaction_base& tx, const std::string& where,
                                          bool with_report) {
  pqxx::result r =
      tx.exec(absl::StrCat("SELECT ", RequestColumns(), " FROM airlock_requests WHERE ", where));
  if (r.empty()) return std::nullopt;
  std::vector<AirlockRequest> one = {RequestFromRow(r[0])};
  FillFiles(tx, one, with_report);
  return std::move(one.front());
}

// The file `name` of request `id` in `scope`, locked for update, with its request.
struct LockedFile {
  AirlockRequest request;
  AirlockFile file;
};
std::optional<LockedFile> LockFile(pqxx::work& tx, const std::string& id, const std::string& name,
                                   const ProjectScope& scope) {
  std::optional<AirlockRequest> q =
      LoadRequest(tx, absl::StrCat("id = ", tx.quote(id), ProjectClause(tx, scope)), false);
  if (!q) return std::nullopt;
  pqxx::result r = tx.exec(absl::StrCat("SELECT ", FileColumns(false),
                                        " FROM airlock_files WHERE request_id = ", tx.quote(id),
                                        " AND name = ", tx.quote(name), " FOR UPDATE"));
  if (r.empty()) return std::nullopt;
  LockedFile out{*std::move(q), FileFromRow(r[0])};
  for (const AirlockFile& f : out.request.files) {
    if (f.name == name) out.file.reviews = f.reviews;
  }
  return out;
}

AirlockFile Reload(pqxx::work& tx, const std::string& id, const std::string& name) {
  std::optional<AirlockRequest> q = LoadRequest(tx, absl::StrCat("id = ", tx.quote(id)), true);
  if (q) {
    for (AirlockFile& f : q->files) {
      if (f.name == name) return std::move(f);
    }
  }
  throw std::runtime_error("airlock file vanished");
}

absl::Status NotFound(const std::string& id, const std::string& name) {
  return absl::NotFoundError(
      absl::StrCat("release request ", id, " has no file '", name, "' (or is not visible)"));
}

// Runs `change` on file `name` of request `id` (in `scope`), row-locked, in one transaction
// with its audit record; refuses a missing file (NotFound) and an actor who is the requester
// (PermissionDenied with `requester_refusal`). A non-OK status from `change` rolls back.
absl::StatusOr<AirlockFile> ChangeFile(
    Store& store, const std::string& id, const std::string& name, const ProjectScope& scope,
    const std::string& actor, const std::string& requester_refusal, AuditEntry audit,
    const std::function<absl::Status(pqxx::work&, const LockedFile&, AuditEntry&)>& change) {
  std::optional<AirlockFile> out;
  absl::Status refusal;
  absl::Status s = store.pool().Run([&](pqxx::connection& c) {
    out.reset();
    refusal = absl::OkStatus();
    pqxx::work tx(c);
    std::optional<LockedFile> lf = LockFile(tx, id, name, scope);
    if (!lf) {
      refusal = NotFound(id, name);
      return;
    }
    if (lf->request.requester == actor) {
      refusal = absl::PermissionDeniedError(requester_refusal);
      return;
    }
    AuditEntry a = audit;
    refusal = change(tx, *lf, a);
    if (!refusal.ok()) return;
    a.project = lf->request.project;
    a.object_type = "release_file";
    a.object_id = absl::StrCat(id, "/", name);
    AppendAudit(tx, a);
    out = Reload(tx, id, name);
    tx.commit();
  });
  if (!s.ok()) return s;
  if (!refusal.ok()) return refusal;
  return *std::move(out);
}

}  // namespace

absl::StatusOr<std::vector<RunAwaitingAirlock>> AirlockStore::RunsAwaiting(int limit) {
  std::vector<RunAwaitingAirlock> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.clear();
    pqxx::read_transaction tx(c);
    for (const pqxx::row& r : tx.exec(absl::StrCat(
             "SELECT r.id, r.task_id, r.project, r.owner, r.outputs::text, i.manifest::text "
             "FROM wes_runs r JOIN tasks t ON t.id = r.task_id "
             "JOIN registry_items i ON i.kind = 'workflow' AND i.digest = r.workflow_digest "
             "WHERE t.state = 'COMPLETE' AND NOT EXISTS "
             "(SELECT 1 FROM airlock_requests a WHERE a.task_id = r.task_id) "
             "ORDER BY r.created_at LIMIT ",
             limit))) {
      out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                     r[3].as<std::string>(), Parsed(r[4]), Parsed(r[5])});
    }
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<TaskAwaitingAirlock>> AirlockStore::TasksAwaiting(int limit) {
  std::vector<TaskAwaitingAirlock> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.clear();
    pqxx::read_transaction tx(c);
    for (const pqxx::row& r : tx.exec(absl::StrCat(
             "SELECT t.id, t.project, t.owner, t.airlock_outputs::text FROM tasks t "
             "WHERE t.state = 'COMPLETE' AND t.airlock_outputs IS NOT NULL "
             "AND NOT EXISTS (SELECT 1 FROM wes_runs w WHERE w.task_id = t.id) "
             "AND NOT EXISTS (SELECT 1 FROM airlock_requests a WHERE a.task_id = t.id) "
             "ORDER BY t.creation_time LIMIT ",
             limit))) {
      out.push_back(
          {r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(), Parsed(r[3])});
    }
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::string> AirlockStore::Create(const AirlockRequest& q, AuditEntry audit) {
  const std::string id = q.id.empty() ? NewTaskId() : q.id;
  bool exists = false;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    exists = false;
    pqxx::work tx(c);
    pqxx::result ins = tx.exec(absl::StrCat(
        "INSERT INTO airlock_requests (id, kind, run_id, task_id, project, requester, profile, "
        "auto_release, required_reviews, state) VALUES (",
        tx.quote(id), ", ", tx.quote(q.kind), ", ", q.run_id.empty() ? "NULL" : tx.quote(q.run_id),
        ", ", tx.quote(q.task_id), ", ", tx.quote(q.project), ", ", tx.quote(q.requester), ", ",
        tx.quote(q.profile), ", ", q.auto_release ? "TRUE" : "FALSE", ", ", q.required_reviews,
        ", 'checking') ON CONFLICT DO NOTHING RETURNING id"));
    if (ins.empty()) {
      exists = true;
      return;
    }
    for (const AirlockFile& f : q.files) {
      tx.exec(absl::StrCat(
          "INSERT INTO airlock_files (request_id, name, path, location, evidence_location, "
          "declaration, status) VALUES (",
          tx.quote(id), ", ", tx.quote(f.name), ", ", tx.quote(f.path), ", ", tx.quote(f.location),
          ", ", f.evidence_location.empty() ? "NULL" : tx.quote(f.evidence_location), ", ",
          f.declaration.is_null() ? "NULL" : tx.quote(DumpStored(f.declaration)) + "::jsonb",
          ", 'pending')"));
    }
    audit.object_type = "release_request";
    audit.object_id = id;
    audit.details["files"] = static_cast<long long>(q.files.size());
    audit.details["task"] = q.task_id;
    if (!q.run_id.empty()) audit.details["run"] = q.run_id;
    audit.details["profile"] = q.profile;
    AppendAudit(tx, audit);
    tx.commit();
  });
  if (!s.ok()) return s;
  if (exists) {
    return absl::AlreadyExistsError(absl::StrCat("task ", q.task_id, " has a release request"));
  }
  return id;
}

absl::StatusOr<std::vector<AirlockRequest>> AirlockStore::Checking(int limit) {
  std::vector<AirlockRequest> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.clear();
    pqxx::read_transaction tx(c);
    for (const pqxx::row& r :
         tx.exec(absl::StrCat("SELECT ", RequestColumns(),
                              " FROM airlock_requests WHERE state = 'checking' "
                              "ORDER BY created_at LIMIT ",
                              limit))) {
      out.push_back(RequestFromRow(r));
    }
    FillFiles(tx, out, false);
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status AirlockStore::RecordChecks(const std::string& request_id,
                                        const std::vector<CheckedFile>& files,
                                        const std::vector<AuditEntry>& audits) {
  bool stale = false;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    stale = false;
    pqxx::work tx(c);
    pqxx::result r = tx.exec(absl::StrCat(
        "SELECT state FROM airlock_requests WHERE id = ", tx.quote(request_id), " FOR UPDATE"));
    if (r.empty() || r[0][0].as<std::string>() != "checking") {
      stale = true;
      return;
    }
    for (const CheckedFile& f : files) {
      const bool decided = f.status != "held";
      tx.exec(absl::StrCat(
          "UPDATE airlock_files SET sha256 = ", tx.quote(f.sha256), ", size_bytes = ", f.size_bytes,
          ", verdict = ", tx.quote(f.verdict), ", report = ", tx.quote(DumpStored(f.report)),
          "::jsonb, status = ", tx.quote(f.status),
          ", basis = ", f.basis.empty() ? "NULL" : tx.quote(f.basis),
          decided ? ", decided_by = 'safeflowd', decided_at = clock_timestamp()" : "",
          " WHERE request_id = ", tx.quote(request_id), " AND name = ", tx.quote(f.name)));
    }
    tx.exec(absl::StrCat(
        "UPDATE airlock_requests SET state = 'decided', checked_at = clock_timestamp() "
        "WHERE id = ",
        tx.quote(request_id)));
    for (const AuditEntry& a : audits) AppendAudit(tx, a);
    tx.commit();
  });
  if (!s.ok()) return s;
  if (stale) {
    return absl::FailedPreconditionError(
        absl::StrCat("release request ", request_id, " is not being checked"));
  }
  return absl::OkStatus();
}

absl::StatusOr<AirlockRequest> AirlockStore::Get(const std::string& id, const ProjectScope& scope) {
  std::optional<AirlockRequest> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    out = LoadRequest(tx, absl::StrCat("id = ", tx.quote(id), ProjectClause(tx, scope)), true);
  });
  if (!s.ok()) return s;
  if (!out) return absl::NotFoundError(absl::StrCat("release request ", id, " not found"));
  return *std::move(out);
}

absl::StatusOr<std::optional<AirlockRequest>> AirlockStore::ForTask(const std::string& task_id) {
  std::optional<AirlockRequest> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    out = LoadRequest(tx, absl::StrCat("task_id = ", tx.quote(task_id)), false);
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<AirlockPage> AirlockStore::List(const AirlockFilter& filter,
                                               const std::string& page_token) {
  json fp = {{"s", filter.state.value_or("")},
             {"f", filter.file_status.value_or("")},
             {"r", filter.run_id.value_or("")},
             {"p", filter.scope.all ? json("*") : json(filter.scope.projects)}};
  const std::string fingerprint = FingerprintOf(fp);
  std::optional<PageCursor> cursor;
  if (!page_token.empty()) {
    absl::StatusOr<PageCursor> c = DecodePageToken(page_token, fingerprint);
    if (!c.ok()) return c.status();
    cursor = *c;
  }
  AirlockPage page;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    page = AirlockPage{};
    pqxx::read_transaction tx(c);
    std::string sql = absl::StrCat("SELECT ", RequestColumns(), " FROM airlock_requests WHERE TRUE",
                                   ProjectClause(tx, filter.scope));
    if (filter.state) absl::StrAppend(&sql, " AND state = ", tx.quote(*filter.state));
    if (filter.run_id) absl::StrAppend(&sql, " AND run_id = ", tx.quote(*filter.run_id));
    if (filter.file_status) {
      absl::StrAppend(&sql,
                      " AND EXISTS (SELECT 1 FROM airlock_files f WHERE f.request_id = "
                      "airlock_requests.id AND f.status = ",
                      tx.quote(*filter.file_status), ")");
    }
    if (cursor) {
      absl::StrAppend(&sql, " AND (created_at, id) < ('epoch'::timestamptz + ", cursor->micros,
                      " * interval '1 microsecond', ", tx.quote(cursor->id), ")");
    }
    absl::StrAppend(&sql, " ORDER BY created_at DESC, id DESC LIMIT ", filter.page_size + 1);
    pqxx::result r = tx.exec(sql);
    for (pqxx::result::size_type i = 0; i < r.size() && static_cast<int>(i) < filter.page_size;
         ++i) {
      page.requests.push_back(RequestFromRow(r[i]));
    }
    if (static_cast<int>(r.size()) > filter.page_size) {
      const pqxx::row last = r[static_cast<pqxx::result::size_type>(filter.page_size - 1)];
      page.next_page_token = EncodePageToken(
          PageCursor{last[12].as<long long>(), last[0].as<std::string>()}, fingerprint);
    }
    FillFiles(tx, page.requests, false);
  });
  if (!s.ok()) return s;
  return page;
}

absl::StatusOr<AirlockFile> AirlockStore::Review(const std::string& id, const std::string& name,
                                                 const ProjectScope& scope,
                                                 const std::string& checker,
                                                 const std::string& decision,
                                                 const std::string& comment, AuditEntry audit) {
  return ChangeFile(
      store_, id, name, scope, checker,
      "the requester of a release cannot check its outputs; another output checker must",
      std::move(audit), [&](pqxx::work& tx, const LockedFile& lf, AuditEntry& a) -> absl::Status {
        if (lf.file.status != "held") {
          return absl::FailedPreconditionError(
              absl::StrCat("'", name, "' is ", lf.file.status, ", not held for output checkers"));
        }
        int approvals = decision == "approve" ? 1 : 0, rejections = decision == "reject" ? 1 : 0;
        for (const AirlockReview& r : lf.file.reviews) {
          if (r.checker == checker) {
            return absl::AlreadyExistsError(absl::StrCat(checker, " already decided on '", name,
                                                         "': a second, independent checker must"));
          }
          (r.decision == "approve" ? approvals : rejections)++;
        }
        tx.exec(
            absl::StrCat("INSERT INTO airlock_reviews (request_id, name, checker, decision, "
                         "comment) VALUES (",
                         tx.quote(id), ", ", tx.quote(name), ", ", tx.quote(checker), ", ",
                         tx.quote(decision), ", ", tx.quote(comment), ")"));
        std::string status = "held";
        if (approvals + rejections >= lf.request.required_reviews) {
          status = rejections == 0 ? "released" : approvals == 0 ? "blocked" : "escalated";
          tx.exec(
              absl::StrCat("UPDATE airlock_files SET status = ", tx.quote(status),
                           ", basis = ", status == "escalated" ? "NULL" : "'checkers'",
                           status == "escalated"
                               ? ""
                               : ", decided_by = 'output checkers', decided_at = clock_timestamp()",
                           " WHERE request_id = ", tx.quote(id), " AND name = ", tx.quote(name)));
        }
        a.details["decision"] = decision;
        a.details["status"] = status;
        a.details["reviews"] = approvals + rejections;
        a.details["required_reviews"] = lf.request.required_reviews;
        return absl::OkStatus();
      });
}

absl::StatusOr<AirlockFile> AirlockStore::Override(const std::string& id, const std::string& name,
                                                   const ProjectScope& scope,
                                                   const std::string& admin,
                                                   const std::string& decision,
                                                   const std::string& justification,
                                                   AuditEntry audit) {
  return ChangeFile(
      store_, id, name, scope, admin,
      "the requester of a release cannot decide on its outputs; another admin must",
      std::move(audit), [&](pqxx::work& tx, const LockedFile& lf, AuditEntry& a) -> absl::Status {
        const std::string& st = lf.file.status;
        if (st == "pending" || st == "released") {
          return absl::FailedPreconditionError(
              absl::StrCat("'", name, "' is ", st, ": there is nothing to override"));
        }
        const std::string status = decision == "release" ? "released" : "blocked";
        tx.exec(absl::StrCat("UPDATE airlock_files SET status = ", tx.quote(status),
                             ", basis = 'override', decided_by = ", tx.quote(admin),
                             ", decision_reason = ", tx.quote(justification),
                             ", decided_at = clock_timestamp() WHERE request_id = ", tx.quote(id),
                             " AND name = ", tx.quote(name)));
        a.details["decision"] = decision;
        a.details["from"] = st;
        a.details["verdict"] = lf.file.verdict;
        a.details["justification"] = justification;
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<ReleasedFile>> AirlockStore::Released(const std::string& project,
                                                                 int limit) {
  std::vector<ReleasedFile> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.clear();
    pqxx::read_transaction tx(c);
    for (const pqxx::row& r : tx.exec(absl::StrCat(
             "SELECT f.request_id, f.name, f.path, f.location, f.sha256, f.declaration::text "
             "FROM airlock_files f JOIN airlock_requests q ON q.id = f.request_id "
             "WHERE q.project = ",
             tx.quote(project), " AND f.status = 'released' ORDER BY f.decided_at DESC LIMIT ",
             limit))) {
      out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                     r[3].as<std::string>(), Opt(r[4]), Parsed(r[5])});
    }
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace safeflow::service::store
