// service/store/store_internal.h. What the stores share inside service/store/: keyset page
// tokens, SQL fragments for project scopes, and inserting a task inside another store's
// transaction (a WES run and its engine task are created together).
#ifndef SAFEFLOW_SERVICE_STORE_STORE_INTERNAL_H_
#define SAFEFLOW_SERVICE_STORE_STORE_INTERNAL_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "pqxx/pqxx"

#include "service/store/task_store.h"

namespace safeflow::service::store {

// JSON as stored: compact, invalid UTF-8 replaced.
std::string DumpStored(const nlohmann::json& j);

// " AND <column> = ANY(...)" limiting a query to `scope` ("" for all projects).
std::string ProjectClause(pqxx::transaction_base& tx, const ProjectScope& scope,
                          const std::string& column = "project");

// A position in a list ordered by (time DESC, id DESC), bound to the filters it was made with
// (`fingerprint`), encoded as opaque URL-safe base64.
struct PageCursor {
  long long micros = 0;  // the row's time in microseconds since the epoch
  std::string id;
};
std::string EncodePageToken(const PageCursor& c, const std::string& fingerprint);
// InvalidArgument "page_token is not valid for this query" for anything else.
absl::StatusOr<PageCursor> DecodePageToken(const std::string& token,
                                           const std::string& fingerprint);
// A short fingerprint of the filters of a list request.
std::string FingerprintOf(const nlohmann::json& filters);

// Inserts `t` as QUEUED with a new id inside `tx` and returns the id. Throws what libpqxx
// throws.
std::string InsertTask(pqxx::work& tx, const NewTask& t);

}  // namespace safeflow::service::store

#endif  // SAFEFLOW_SERVICE_STORE_STORE_INTERNAL_H_
