#include "service/store/run_store.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

#include "service/store/audit_internal.h"
#include "service/store/pool.h"
#include "service/store/store.h"
#include "service/store/store_internal.h"

namespace safeflow::service::store {
namespace tes = schemas::tes;
using nlohmann::json;

namespace {

// A run's state: its engine task's, except that a COMPLETE engine is still RUNNING until the
// airlock has decided on each of its outputs.
constexpr const char* kRunState =
    "CASE WHEN t.state = 'COMPLETE' AND NOT EXISTS (SELECT 1 FROM airlock_requests a "
    "WHERE a.task_id = t.id AND a.state = 'decided') THEN 'RUNNING' ELSE t.state END";

constexpr const char* kCreatedAt =
    "to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";
constexpr const char* kCreatedMicros = "(extract(epoch FROM r.created_at) * 1000000)::bigint";

json ParseStored(const pqxx::field& f) {
  json j = json::parse(f.as<std::string>(), nullptr, false);
  return j.is_discarded() ? json() : j;
}

}  // namespace

absl::StatusOr<std::string> RunStore::Create(const NewRun& run, AuditEntry audit) {
  const std::string id = run.id.empty() ? NewTaskId() : run.id;
  std::string task_id;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    task_id = InsertTask(tx, run.task);
    tx.exec_params(
        "INSERT INTO wes_runs (id, task_id, project, owner, workflow_digest, workflow_name, "
        "workflow_version, request, outputs) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, "
        "$9::jsonb)",
        id, task_id, run.task.project, run.task.owner, run.workflow_digest, run.workflow_name,
        run.workflow_version, DumpStored(run.request), DumpStored(run.outputs));
    audit.object_type = "run";
    audit.object_id = id;
    audit.project = run.task.project;
    audit.details["task"] = task_id;
    audit.details["workflow"] = absl::StrCat(run.workflow_name, "@", run.workflow_version);
    audit.details["workflow_digest"] = run.workflow_digest;
    AppendAudit(tx, audit);
    tx.commit();
  });
  if (!s.ok()) return s;
  return id;
}

absl::StatusOr<StoredRun> RunStore::Get(const std::string& id, const ProjectScope& scope) {
  std::optional<StoredRun> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.reset();
    pqxx::read_transaction tx(c);
    pqxx::result r = tx.exec(absl::StrCat(
        "SELECT r.id, r.project, r.owner, r.workflow_digest, r.workflow_name, "
        "r.workflow_version, ",
        kCreatedAt, ", r.request::text, r.outputs::text, r.task_id FROM wes_runs r WHERE r.id = ",
        tx.quote(id), ProjectClause(tx, scope, "r.project")));
    if (r.empty()) return;
    StoredRun run;
    run.id = r[0][0].as<std::string>();
    run.project = r[0][1].as<std::string>();
    run.owner = r[0][2].as<std::string>();
    run.workflow_digest = r[0][3].as<std::string>();
    run.workflow_name = r[0][4].as<std::string>();
    run.workflow_version = r[0][5].as<std::string>();
    run.created_at = r[0][6].as<std::string>();
    run.request = ParseStored(r[0][7]);
    run.outputs = ParseStored(r[0][8]);
    run.task.task.id = r[0][9].as<std::string>();
    pqxx::result a = tx.exec(absl::StrCat("SELECT id, state FROM airlock_requests WHERE task_id = ",
                                          tx.quote(run.task.task.id)));
    if (!a.empty()) {
      json files = json::array();
      for (const pqxx::row& f : tx.exec(absl::StrCat(
               "SELECT name, path, COALESCE(declaration ->> 'type', 'undeclared'), status, "
               "verdict, sha256, size_bytes FROM airlock_files WHERE request_id = ",
               tx.quote(a[0][0].as<std::string>()), " ORDER BY name"))) {
        json j = {{"name", f[0].as<std::string>()},
                  {"path", f[1].as<std::string>()},
                  {"type", f[2].as<std::string>()},
                  {"status", f[3].as<std::string>()}};
        if (!f[4].is_null()) j["verdict"] = f[4].as<std::string>();
        if (!f[5].is_null()) j["sha256"] = f[5].as<std::string>();
        if (!f[6].is_null()) j["size_bytes"] = f[6].as<long long>();
        files.push_back(std::move(j));
      }
      run.airlock = {{"id", a[0][0].as<std::string>()},
                     {"state", a[0][1].as<std::string>()},
                     {"files", files}};
    }
    out = std::move(run);
  });
  if (!s.ok()) return s;
  if (!out) return absl::NotFoundError(absl::StrCat("run ", id, " not found"));
  absl::StatusOr<StoredTask> task = tasks_.Get(out->task.task.id, ProjectScope::All());
  if (!task.ok()) {
    return absl::IsNotFound(task.status())
               ? absl::InternalError(absl::StrCat("run ", id, ": its engine task is missing"))
               : task.status();
  }
  out->task = *std::move(task);
  return *std::move(out);
}

absl::StatusOr<RunPage> RunStore::List(const ProjectScope& scope, int page_size,
                                       const std::string& page_token) {
  const std::string fingerprint =
      FingerprintOf(json{{"all_projects", scope.all}, {"projects", scope.projects}, {"wes", 1}});
  std::optional<PageCursor> cursor;
  if (!page_token.empty()) {
    absl::StatusOr<PageCursor> c = DecodePageToken(page_token, fingerprint);
    if (!c.ok()) return c.status();
    cursor = *c;
  }
  RunPage page;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    page = RunPage{};
    pqxx::read_transaction tx(c);
    std::string sql = absl::StrCat("SELECT r.id, ", kRunState, ", ", kCreatedMicros,
                                   ", t.logs -> 0 ->> 'start_time', t.logs -> -1 ->> 'end_time', "
                                   "COALESCE(r.request -> 'tags', '{}'::jsonb)::text "
                                   "FROM wes_runs r JOIN tasks t ON t.id = r.task_id WHERE TRUE",
                                   ProjectClause(tx, scope, "r.project"));
    if (cursor) {
      absl::StrAppend(&sql, " AND (r.created_at, r.id) < ('epoch'::timestamptz + ", cursor->micros,
                      " * interval '1 microsecond', ", tx.quote(cursor->id), ")");
    }
    absl::StrAppend(&sql, " ORDER BY r.created_at DESC, r.id DESC LIMIT ", page_size + 1);
    pqxx::result r = tx.exec(sql);
    for (pqxx::result::size_type i = 0; i < r.size() && static_cast<int>(i) < page_size; ++i) {
      RunSummaryRow row;
      row.id = r[i][0].as<std::string>();
      row.state = tes::ParseState(r[i][1].as<std::string>()).value_or(tes::State::kUnknown);
      if (!r[i][3].is_null()) row.start_time = r[i][3].as<std::string>();
      if (!r[i][4].is_null()) row.end_time = r[i][4].as<std::string>();
      json tags = ParseStored(r[i][5]);
      if (tags.is_object()) {
        for (const auto& [k, v] : tags.items()) {
          if (v.is_string()) row.tags[k] = v.get<std::string>();
        }
      }
      page.runs.push_back(std::move(row));
    }
    if (static_cast<int>(r.size()) > page_size) {
      const pqxx::row last = r[static_cast<pqxx::result::size_type>(page_size - 1)];
      page.next_page_token = EncodePageToken(
          PageCursor{last[2].as<long long>(), last[0].as<std::string>()}, fingerprint);
    }
  });
  if (!s.ok()) return s;
  return page;
}

absl::StatusOr<tes::State> RunStore::Cancel(const std::string& id, const ProjectScope& scope,
                                            AuditEntry audit) {
  std::optional<std::string> task_id;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    task_id.reset();
    pqxx::read_transaction tx(c);
    pqxx::result r =
        tx.exec(absl::StrCat("SELECT task_id FROM wes_runs r WHERE r.id = ", tx.quote(id),
                             ProjectClause(tx, scope, "r.project")));
    if (!r.empty()) task_id = r[0][0].as<std::string>();
  });
  if (!s.ok()) return s;
  if (!task_id) return absl::NotFoundError(absl::StrCat("run ", id, " not found"));
  audit.details["run"] = id;
  absl::StatusOr<tes::State> state = tasks_.Cancel(*task_id, scope, std::move(audit));
  if (absl::IsNotFound(state.status())) {
    return absl::NotFoundError(absl::StrCat("run ", id, " not found"));
  }
  return state;
}

absl::StatusOr<std::map<std::string, long long>> RunStore::CountByState() {
  std::map<std::string, long long> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.clear();
    pqxx::read_transaction tx(c);
    for (const pqxx::row& r :
         tx.exec(absl::StrCat("SELECT ", kRunState,
                              ", count(*) FROM wes_runs r JOIN tasks t ON t.id = r.task_id "
                              "GROUP BY 1"))) {
      out[r[0].as<std::string>()] = r[1].as<long long>();
    }
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace safeflow::service::store
