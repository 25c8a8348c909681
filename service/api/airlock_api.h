// service/api/airlock_api.h. The airlock's REST API (/airlock/v1). Every change and every
// refusal is audited.
//   GET  /airlock/v1/profiles                        the disclosure profiles and project policy
//   GET  /airlock/v1/requests[?state=&status=&run_id=&page_size=&page_token=]
//        researchers: their projects' requests; output checkers: requests with held files;
//        status=held lists requests with a file waiting for checkers
//   GET  /airlock/v1/requests/{id}                   the request, each file's verdict, report
//        and status. Reviews are blind: a checker sees only their own decision until the file
//        is decided. Researchers see report cells of undecided files without their values.
//   POST /airlock/v1/requests/{id}/files/{name}:review    output-checker, never the requester:
//        {"decision": "approve"|"reject", "comment": "..."}
//   POST /airlock/v1/requests/{id}/files/{name}:override  workflow-admin, never the requester:
//        {"decision": "release"|"block", "justification": "..."}; the only way a `fail`
//        file is released, and how escalated files are decided
//   GET  /airlock/v1/requests/{id}/files/{name}/content   a released file, to project members
//        (audited as release.download). Streamed: unsealed inside the service chunk by chunk,
//        hashed once and compared with the released SHA-256, then hashed again as it is sent
//        (the last piece goes only once it matched), so any size streams in bounded memory.
//        A single Range (bytes=F-, F-L or -N) is answered 206 with Content-Range (416 past
//        the end), so an interrupted download resumes; the range's last bytes likewise wait
//        for the whole file to match. Anything not released: 409 naming its status. At most
//        airlock.max_downloads at
//        once (503 with Retry-After beyond); a client that stalls for
//        server.stream_stall_seconds is cut off (audited as a failed download).
#ifndef SAFEFLOW_SERVICE_API_AIRLOCK_API_H_
#define SAFEFLOW_SERVICE_API_AIRLOCK_API_H_

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

#include "service/airlock/airlock.h"
#include "service/api/http_server.h"
#include "service/store/airlock_store.h"
#include "service/store/audit_store.h"

namespace safeflow::service {

[[nodiscard]] absl::Status RegisterAirlockRoutes(HttpServer& server, Airlock& airlock,
                                                 store::AirlockStore& store,
                                                 store::AuditStore& audit);

// A file as the API shows it. `full`: with report cell values and every review.
nlohmann::json AirlockFileJson(const store::AirlockFile& file, const std::string& request_id,
                               bool reports, bool cell_values, const std::string& viewer,
                               bool all_reviews);

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_API_AIRLOCK_API_H_
