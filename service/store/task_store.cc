#include "service/store/task_store.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "service/log.h"
#include "service/store/audit_internal.h"
#include "service/store/pool.h"
#include "service/store/store_internal.h"

namespace safeflow::service::store {
namespace tes = schemas::tes;
using nlohmann::json;

namespace {

constexpr const char* kCreationTime =
    "to_char(creation_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";
constexpr const char* kEpochMicros = "(extract(epoch FROM creation_time) * 1000000)::bigint";
constexpr const char* kLive = "('QUEUED', 'INITIALIZING', 'RUNNING', 'PAUSED', 'CANCELING')";

// The part of a list request a page token is bound to.
std::string FilterFingerprint(const ListFilter& f) {
  return FingerprintOf(
      json{{"all_projects", f.scope.all},
           {"projects", f.scope.projects},
           {"name_prefix", f.name_prefix ? json(*f.name_prefix) : json()},
           {"state", f.state ? json(std::string(tes::StateName(*f.state))) : json()},
           {"tags", f.tags}});
}

// Builds the task from its stored columns.
absl::StatusOr<tes::Task> Assemble(const std::string& id, const std::string& state,
                                   const std::string& spec, const std::string& logs,
                                   const std::string& creation_time) {
  json doc = json::parse(spec, nullptr, false);
  json log_array = json::parse(logs, nullptr, false);
  if (!doc.is_object() || !log_array.is_array()) {
    return absl::InternalError(absl::StrCat("task ", id, ": stored document is corrupt"));
  }
  doc["id"] = id;
  doc["state"] = state;
  doc["creation_time"] = creation_time;
  doc["logs"] = std::move(log_array);
  return tes::FromStoredJson(doc);
}

}  // namespace

std::string DumpStored(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string ProjectClause(pqxx::transaction_base& tx, const ProjectScope& scope,
                          const std::string& column) {
  if (scope.all) return "";
  if (scope.projects.empty()) return " AND FALSE";
  std::vector<std::string> quoted;
  quoted.reserve(scope.projects.size());
  for (const std::string& p : scope.projects) quoted.push_back(tx.quote(p));
  return absl::StrCat(" AND ", column, " = ANY(ARRAY[", absl::StrJoin(quoted, ","), "]::text[])");
}

std::string FingerprintOf(const json& filters) {
  const std::string data = DumpStored(filters);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
             absl::string_view(reinterpret_cast<const char*>(md), static_cast<size_t>(len)))
      .substr(0, 16);
}

std::string EncodePageToken(const PageCursor& c, const std::string& fingerprint) {
  return absl::WebSafeBase64Escape(
      DumpStored(json{{"t", c.micros}, {"i", c.id}, {"f", fingerprint}}));
}

absl::StatusOr<PageCursor> DecodePageToken(const std::string& token,
                                           const std::string& fingerprint) {
  const absl::Status bad = absl::InvalidArgumentError("page_token is not valid for this query");
  std::string raw;
  if (token.size() > 1024 || !absl::WebSafeBase64Unescape(token, &raw)) return bad;
  json j = json::parse(raw, nullptr, false);
  if (!j.is_object() || !j.contains("t") || !j["t"].is_number_integer() || !j.contains("i") ||
      !j["i"].is_string() || !j.contains("f") || !j["f"].is_string() ||
      j["f"].get<std::string>() != fingerprint) {
    return bad;
  }
  return PageCursor{j["t"].get<long long>(), j["i"].get<std::string>()};
}

std::string InsertTask(pqxx::work& tx, const NewTask& t) {
  json spec = tes::ToStoredJson(t.task);
  for (const char* k : {"id", "state", "logs", "creation_time"}) spec.erase(k);
  const std::string id = NewTaskId();
  tx.exec_params(
      "INSERT INTO tasks (id, project, owner, state, name, tags, spec, backend, airlock_outputs) "
      "VALUES ($1, $2, $3, 'QUEUED', NULLIF($4, ''), $5::jsonb, $6::jsonb, $7, "
      "NULLIF($8, '')::jsonb)",
      id, t.project, t.owner, t.task.name.value_or(""), DumpStored(json(t.task.tags)),
      DumpStored(spec), t.backend,
      t.airlock_outputs.is_null() ? std::string() : DumpStored(t.airlock_outputs));
  return id;
}

std::string NewTaskId() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) std::abort();
  std::string id =
      absl::WebSafeBase64Escape(absl::string_view(reinterpret_cast<const char*>(b), sizeof b));
  return id;
}

absl::StatusOr<std::string> TaskStore::Create(const NewTask& t, AuditEntry audit) {
  std::string id;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    id = InsertTask(tx, t);
    audit.object_type = "task";
    audit.object_id = id;
    audit.project = t.project;
    AppendAudit(tx, audit);
    tx.commit();
  });
  if (!s.ok()) return s;
  return id;
}

absl::StatusOr<StoredTask> TaskStore::Get(const std::string& id, const ProjectScope& scope) {
  std::optional<StoredTask> out;
  absl::Status inner;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    pqxx::result r = tx.exec(
        absl::StrCat("SELECT id, state, spec::text, logs::text, ", kCreationTime,
                     ", project, owner, backend, attempts FROM tasks WHERE id = ", tx.quote(id),
                     ProjectClause(tx, scope)));
    if (r.empty()) return;
    absl::StatusOr<tes::Task> task =
        Assemble(r[0][0].as<std::string>(), r[0][1].as<std::string>(), r[0][2].as<std::string>(),
                 r[0][3].as<std::string>(), r[0][4].as<std::string>());
    if (!task.ok()) {
      inner = task.status();
      return;
    }
    out = StoredTask{*std::move(task), r[0][5].as<std::string>(), r[0][6].as<std::string>(),
                     r[0][7].as<std::string>(), r[0][8].as<int>()};
  });
  if (!s.ok()) return s;
  if (!inner.ok()) return inner;
  if (!out) return absl::NotFoundError(absl::StrCat("task ", id, " not found"));
  return *std::move(out);
}

absl::StatusOr<TaskPage> TaskStore::List(const ListFilter& f) {
  const std::string fingerprint = FilterFingerprint(f);
  std::optional<PageCursor> cursor;
  if (!f.page_token.empty()) {
    absl::StatusOr<PageCursor> c = DecodePageToken(f.page_token, fingerprint);
    if (!c.ok()) return c.status();
    cursor = *c;
  }
  const bool full = f.view != tes::View::kMinimal;
  TaskPage page;
  absl::Status inner;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    page.tasks.clear();
    pqxx::read_transaction tx(c);
    std::string sql = absl::StrCat("SELECT id, state, ", kEpochMicros, ", ", kCreationTime,
                                   full ? ", spec::text, logs::text" : "", " FROM tasks WHERE TRUE",
                                   ProjectClause(tx, f.scope));
    if (f.state)
      absl::StrAppend(&sql, " AND state = ", tx.quote(std::string(tes::StateName(*f.state))));
    if (f.name_prefix && !f.name_prefix->empty()) {
      absl::StrAppend(&sql, " AND starts_with(name, ", tx.quote(*f.name_prefix), ")");
    }
    for (const auto& [k, v] : f.tags) {
      if (v.empty()) {
        absl::StrAppend(&sql, " AND tags ? ", tx.quote(k));
      } else {
        absl::StrAppend(&sql, " AND tags @> ", tx.quote(DumpStored(json{{k, v}})), "::jsonb");
      }
    }
    if (cursor) {
      absl::StrAppend(&sql, " AND (creation_time, id) < ('epoch'::timestamptz + ", cursor->micros,
                      " * interval '1 microsecond', ", tx.quote(cursor->id), ")");
    }
    absl::StrAppend(&sql, " ORDER BY creation_time DESC, id DESC LIMIT ", f.page_size + 1);
    pqxx::result r = tx.exec(sql);
    for (pqxx::result::size_type i = 0; i < r.size() && static_cast<int>(i) < f.page_size; ++i) {
      if (full) {
        absl::StatusOr<tes::Task> t = Assemble(r[i][0].as<std::string>(), r[i][1].as<std::string>(),
                                               r[i][4].as<std::string>(), r[i][5].as<std::string>(),
                                               r[i][3].as<std::string>());
        if (!t.ok()) {
          inner = t.status();
          return;
        }
        page.tasks.push_back(*std::move(t));
      } else {
        tes::Task t;
        t.id = r[i][0].as<std::string>();
        t.state = tes::ParseState(r[i][1].as<std::string>()).value_or(tes::State::kUnknown);
        page.tasks.push_back(std::move(t));
      }
    }
    if (static_cast<int>(r.size()) > f.page_size) {
      const pqxx::row last = r[static_cast<pqxx::result::size_type>(f.page_size - 1)];
      page.next_page_token = EncodePageToken(
          PageCursor{last[2].as<long long>(), last[0].as<std::string>()}, fingerprint);
    } else {
      page.next_page_token.clear();
    }
  });
  if (!s.ok()) return s;
  if (!inner.ok()) return inner;
  return page;
}

absl::StatusOr<tes::State> TaskStore::Cancel(const std::string& id, const ProjectScope& scope,
                                             AuditEntry audit) {
  std::optional<std::string> state;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    state.reset();
    pqxx::work tx(c);
    pqxx::result r = tx.exec(absl::StrCat(
        "UPDATE tasks SET state = 'CANCELED', cancel_requested = true, lease_expires = NULL, "
        "updated_at = clock_timestamp(), logs = CASE WHEN jsonb_array_length(logs) > 0 THEN "
        "task_log_note(logs, 'canceled by request') ELSE logs END WHERE id = ",
        tx.quote(id), ProjectClause(tx, scope), " AND state IN ", kLive,
        " RETURNING state, project"));
    bool changed = !r.empty();
    if (!changed) {
      r = tx.exec(absl::StrCat("SELECT state, project FROM tasks WHERE id = ", tx.quote(id),
                               ProjectClause(tx, scope)));
    }
    if (r.empty()) return;  // not found: nothing to record here, the caller audits the refusal
    state = r[0][0].as<std::string>();
    audit.object_type = "task";
    audit.object_id = id;
    audit.project = r[0][1].as<std::string>();
    audit.details["state_after"] = *state;
    audit.details["changed"] = changed ? 1 : 0;
    AppendAudit(tx, audit);
    tx.commit();
  });
  if (!s.ok()) return s;
  if (!state) return absl::NotFoundError(absl::StrCat("task ", id, " not found"));
  return tes::ParseState(*state).value_or(tes::State::kUnknown);
}

namespace {

std::string QuotedArray(pqxx::transaction_base& tx, const std::vector<std::string>& v,
                        const char* type) {
  std::vector<std::string> quoted;
  quoted.reserve(v.size());
  for (const std::string& x : v) quoted.push_back(tx.quote(x));
  return absl::StrCat("ARRAY[", absl::StrJoin(quoted, ","), "]::", type, "[]");
}

// The attempt in a row of (id, attempts, project, spec, backend, backend_job_id).
absl::StatusOr<executor::TaskAttempt> AttemptOf(const pqxx::row& row) {
  json spec = json::parse(row[3].as<std::string>(), nullptr, false);
  absl::StatusOr<tes::Task> task = tes::FromStoredJson(spec);
  if (!task.ok()) return task.status();
  task->id = row[0].as<std::string>();
  return executor::TaskAttempt{
      row[0].as<std::string>(), row[1].as<int>(),
      row[2].as<std::string>(), row[4].as<std::string>(),
      *std::move(task),         row[5].is_null() ? std::string() : row[5].as<std::string>()};
}

}  // namespace

absl::StatusOr<std::vector<executor::TaskAttempt>> TaskStore::Claim(
    const std::string& instance, const std::map<std::string, int>& limits, int lease_seconds) {
  std::vector<executor::TaskAttempt> out;
  absl::Status inner;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.clear();
    pqxx::work tx(c);
    for (const auto& [backend, limit] : limits) {
      if (limit <= 0) continue;
      pqxx::result r = tx.exec_params(
          "WITH picked AS (SELECT id FROM tasks WHERE state = 'QUEUED' AND backend = $4 "
          "  ORDER BY creation_time, id LIMIT $2 FOR UPDATE SKIP LOCKED) "
          "UPDATE tasks t SET state = 'INITIALIZING', claimed_by = $1::uuid, "
          "  lease_expires = clock_timestamp() + $3 * interval '1 second', "
          "  attempts = t.attempts + 1, updated_at = clock_timestamp(), "
          "  backend_job_id = NULL, backend_job_open = false, "
          "  logs = t.logs || jsonb_build_array(jsonb_build_object('logs', '[]'::jsonb, "
          "    'outputs', '[]'::jsonb, 'start_time', to_char(clock_timestamp() AT TIME ZONE 'UTC', "
          "    'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))) "
          "FROM picked WHERE t.id = picked.id "
          "RETURNING t.id, t.attempts, t.project, t.spec::text, t.backend, t.backend_job_id",
          instance, limit, lease_seconds, backend);
      for (const pqxx::row& row : r) {
        absl::StatusOr<executor::TaskAttempt> a = AttemptOf(row);
        if (!a.ok()) {
          inner = a.status();
          return;  // rolls back: nothing claimed
        }
        a->task.state = tes::State::kInitializing;
        out.push_back(*std::move(a));
      }
    }
    tx.commit();
  });
  if (!s.ok()) return s;
  if (!inner.ok()) return inner;
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.task_id < b.task_id; });
  return out;
}

absl::Status TaskStore::RecordJob(const std::string& id, const std::string& instance,
                                  const std::string& job_id) {
  return store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE tasks SET backend_job_id = $3, backend_job_open = true, "
        "updated_at = clock_timestamp() WHERE id = $1 AND claimed_by = $2::uuid",
        id, instance, job_id);
    tx.commit();
  });
}

absl::Status TaskStore::CloseJob(const std::string& id) {
  return store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("UPDATE tasks SET backend_job_open = false WHERE id = $1", id);
    tx.commit();
  });
}

absl::Status TaskStore::MarkPaused(const std::string& id, const std::string& instance,
                                   const std::string& reason) {
  return store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE tasks SET state = 'PAUSED', logs = task_log_note(logs, $3), "
        "updated_at = clock_timestamp() "
        "WHERE id = $1 AND claimed_by = $2::uuid AND state IN ('INITIALIZING', 'RUNNING')",
        id, instance, reason);
    tx.commit();
  });
}

absl::StatusOr<std::vector<TaskStore::Adoption>> TaskStore::AdoptOrphans(
    const std::string& instance, const std::vector<std::string>& durable_backends,
    const std::vector<std::string>& dead_instances, int lease_seconds) {
  std::vector<Adoption> out;
  if (durable_backends.empty()) return out;
  absl::Status inner;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.clear();
    pqxx::work tx(c);
    const std::string dead = QuotedArray(tx, dead_instances, "uuid");
    // An owner is gone when it is one of `dead_instances` or stopped cleanly (it left its jobs
    // running for the next safeflowd).
    const std::string owner_gone =
        absl::StrCat("(claimed_by IS NULL OR claimed_by = ANY(", dead,
                     ") OR claimed_by IN (SELECT id FROM instances WHERE stopped_at IS NOT NULL))");
    pqxx::result r = tx.exec(absl::StrCat(
        "WITH picked AS (SELECT id FROM tasks WHERE backend = ANY(",
        QuotedArray(tx, durable_backends, "text"), ") AND claimed_by IS DISTINCT FROM ",
        tx.quote(instance),
        "::uuid AND ("
        "  (state IN ('INITIALIZING', 'RUNNING', 'PAUSED') AND (lease_expires < clock_timestamp() "
        "     OR lease_expires IS NULL OR ",
        owner_gone,
        ")) "
        "  OR (state = 'CANCELED' AND backend_job_open AND ",
        owner_gone,
        ")) "
        "  FOR UPDATE SKIP LOCKED) "
        "UPDATE tasks t SET claimed_by = ",
        tx.quote(instance),
        "::uuid, "
        "  lease_expires = CASE WHEN t.state = 'CANCELED' THEN NULL "
        "    ELSE clock_timestamp() + ",
        lease_seconds,
        " * interval '1 second' END, "
        "  updated_at = clock_timestamp() "
        "FROM picked WHERE t.id = picked.id "
        "RETURNING t.id, t.attempts, t.project, t.spec::text, t.backend, t.backend_job_id, "
        "  t.state"));
    for (const pqxx::row& row : r) {
      absl::StatusOr<executor::TaskAttempt> a = AttemptOf(row);
      if (!a.ok()) {
        inner = a.status();
        return;
      }
      out.push_back(Adoption{*std::move(a), row[6].as<std::string>() == "CANCELED"});
    }
    tx.commit();
  });
  if (!s.ok()) return s;
  if (!inner.ok()) return inner;
  return out;
}

absl::Status TaskStore::RenewLeases(const std::string& instance, int lease_seconds) {
  return store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE tasks SET lease_expires = clock_timestamp() + $2 * interval '1 second' "
        "WHERE claimed_by = $1::uuid AND state IN ('INITIALIZING', 'RUNNING', 'PAUSED')",
        instance, lease_seconds);
    tx.commit();
  });
}

absl::Status TaskStore::MarkRunning(const std::string& id, const std::string& instance) {
  return store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE tasks SET state = 'RUNNING', updated_at = clock_timestamp() "
        "WHERE id = $1 AND claimed_by = $2::uuid AND state IN ('INITIALIZING', 'PAUSED')",
        id, instance);
    tx.commit();
  });
}

absl::Status TaskStore::UpdateLog(const std::string& id, const std::string& instance,
                                  const tes::TaskLog& log) {
  return store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE tasks SET logs = jsonb_set(logs, ARRAY['-1'], $3::jsonb), "
        "updated_at = clock_timestamp() WHERE id = $1 AND claimed_by = $2::uuid "
        "AND state IN ('INITIALIZING', 'RUNNING', 'PAUSED') AND jsonb_array_length(logs) > 0",
        id, instance, DumpStored(tes::ToJson(log)));
    tx.commit();
  });
}

absl::Status TaskStore::Finish(const std::string& id, const std::string& instance, tes::State state,
                               const tes::TaskLog& log) {
  bool updated = false;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    pqxx::result r = tx.exec_params(
        "UPDATE tasks SET state = $3, logs = CASE WHEN jsonb_array_length(logs) > 0 "
        "  THEN jsonb_set(logs, ARRAY['-1'], $4::jsonb) ELSE jsonb_build_array($4::jsonb) END, "
        "  claimed_by = NULL, lease_expires = NULL, backend_job_open = false, "
        "  updated_at = clock_timestamp() "
        "WHERE id = $1 AND claimed_by = $2::uuid AND state IN ('INITIALIZING', 'RUNNING', "
        "'PAUSED') "
        "RETURNING id",
        id, instance, std::string(tes::StateName(state)), DumpStored(tes::ToJson(log)));
    updated = !r.empty();
    tx.commit();
  });
  if (!s.ok()) return s;
  if (!updated) {
    return absl::FailedPreconditionError(
        absl::StrCat("task ", id, " is no longer claimed by this instance"));
  }
  return absl::OkStatus();
}

absl::Status TaskStore::Requeue(const std::string& id, const std::string& instance,
                                const std::string& reason) {
  return store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE tasks SET state = 'QUEUED', claimed_by = NULL, lease_expires = NULL, "
        "  attempts = GREATEST(attempts - 1, 0), logs = task_log_note(logs, $3), "
        "  backend_job_id = NULL, backend_job_open = false, updated_at = clock_timestamp() "
        "WHERE id = $1 AND claimed_by = $2::uuid AND state IN ('INITIALIZING', 'RUNNING', "
        "'PAUSED')",
        id, instance, reason);
    tx.commit();
  });
}

absl::StatusOr<int> TaskStore::ReclaimOrphans(const std::vector<std::string>& dead_instances,
                                              const std::string& policy, int max_attempts,
                                              const std::vector<std::string>& durable_backends) {
  int handled = 0;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    std::vector<std::string> quoted;
    for (const std::string& d : dead_instances) quoted.push_back(tx.quote(d));
    const std::string orphaned = absl::StrCat(
        "NOT (backend = ANY(", QuotedArray(tx, durable_backends, "text"), ")) AND ",
        "state IN ('INITIALIZING', 'RUNNING', 'PAUSED') AND (lease_expires < clock_timestamp()",
        quoted.empty()
            ? ""
            : absl::StrCat(" OR claimed_by = ANY(ARRAY[", absl::StrJoin(quoted, ","), "]::uuid[])"),
        ")");
    int requeued = 0;
    if (policy == "requeue") {
      requeued = static_cast<int>(
          tx.exec(absl::StrCat("UPDATE tasks SET state = 'QUEUED', claimed_by = NULL, "
                               "lease_expires = NULL, updated_at = clock_timestamp(), "
                               "logs = task_log_note(logs, 'attempt lost: its safeflowd stopped "
                               "without finishing it; requeued') WHERE ",
                               orphaned, " AND attempts < ", max_attempts, " RETURNING id"))
              .size());
    }
    const int failed = static_cast<int>(
        tx.exec(absl::StrCat("UPDATE tasks SET state = 'SYSTEM_ERROR', claimed_by = NULL, "
                             "lease_expires = NULL, updated_at = clock_timestamp(), "
                             "logs = task_log_note(logs, 'attempt lost: its safeflowd stopped "
                             "without finishing it (attempt ' || attempts || ')') WHERE ",
                             orphaned, " RETURNING id"))
            .size());
    tx.commit();
    handled = requeued + failed;
  });
  if (!s.ok()) return s;
  return handled;
}

absl::StatusOr<std::vector<std::string>> TaskStore::CanceledAmong(
    const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  if (ids.empty()) return out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.clear();
    pqxx::read_transaction tx(c);
    std::vector<std::string> quoted;
    for (const std::string& id : ids) quoted.push_back(tx.quote(id));
    for (const pqxx::row& r : tx.exec(
             absl::StrCat("SELECT id FROM tasks WHERE id = ANY(ARRAY[", absl::StrJoin(quoted, ","),
                          "]::text[]) AND (cancel_requested OR state = 'CANCELED')"))) {
      out.push_back(r[0].as<std::string>());
    }
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::map<std::string, long long>> TaskStore::CountByState() {
  std::map<std::string, long long> out;
  absl::Status s = store_.pool().Run([&](pqxx::connection& c) {
    out.clear();
    pqxx::read_transaction tx(c);
    for (const pqxx::row& r : tx.exec("SELECT state, count(*) FROM tasks GROUP BY state")) {
      out[r[0].as<std::string>()] = r[1].as<long long>();
    }
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace safeflow::service::store
