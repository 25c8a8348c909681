// service/store/audit_internal.h. Appending an audit record inside another store transaction
// (service/store/ only).
#ifndef SAFEFLOW_SERVICE_STORE_AUDIT_INTERNAL_H_
#define SAFEFLOW_SERVICE_STORE_AUDIT_INTERNAL_H_

#include "pqxx/pqxx"

#include "service/store/audit_store.h"

namespace safeflow::service::store {

// Takes the audit advisory lock (held to the end of `tx`), chains and inserts the record.
// Throws what libpqxx throws; the caller's pool.Run converts it.
AuditRecord AppendAudit(pqxx::work& tx, const AuditEntry& entry);

}  // namespace safeflow::service::store

#endif  // SAFEFLOW_SERVICE_STORE_AUDIT_INTERNAL_H_
