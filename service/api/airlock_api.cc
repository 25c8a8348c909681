#include "service/api/airlock_api.h"

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "executor/disclosure/profile.h"
#include "service/api/json_io.h"
#include "service/api/paging.h"
#include "service/api/refusal.h"
#include "service/api/request_context.h"
#include "service/log.h"

namespace safeflow::service {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxComment = 4096;
constexpr std::size_t kMinJustification = 10;
const std::set<std::string> kStatuses = {"pending", "released", "held", "escalated", "blocked"};

// One of airlock.max_downloads: counted from construction to destruction (the end of the
// streamed response that holds it).
class DownloadSlot {
 public:
  explicit DownloadSlot(std::shared_ptr<std::atomic<int>> count)
      : count_(std::move(count)), taken_(count_->fetch_add(1) + 1) {}
  ~DownloadSlot() { count_->fetch_sub(1); }
  DownloadSlot(const DownloadSlot&) = delete;
  DownloadSlot& operator=(const DownloadSlot&) = delete;
  // Slots taken, this one included, when it was taken.
  int taken() const { return taken_; }

 private:
  std::shared_ptr<std::atomic<int>> count_;
  const int taken_;
};

bool IsChecker(const HttpRequest& req) {
  return req.principal && req.principal->Has(Role::kOutputChecker);
}
bool IsOverseer(const HttpRequest& req) {
  return req.principal &&
         (req.principal->Has(Role::kWorkflowAdmin) || req.principal->Has(Role::kAuditor));
}

// Report cells without their values (for researchers, before a decision).
json RedactCells(json report) {
  if (!report.is_object() || !report.contains("findings")) return report;
  for (json& f : report["findings"]) {
    if (!f.contains("cells")) continue;
    for (json& c : f["cells"]) {
      c.erase("value");
      c.erase("note");
    }
  }
  return report;
}

std::string ContentTypeOf(const std::string& path) {
  std::string ext;
  if (std::size_t dot = path.rfind('.'); dot != std::string::npos) {
    ext = absl::AsciiStrToLower(path.substr(dot));
  }
  if (ext == ".csv") return "text/csv; charset=utf-8";
  if (ext == ".tsv") return "text/tab-separated-values; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".png") return "image/png";
  if (ext == ".pdf") return "application/pdf";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".html") return "text/plain; charset=utf-8";  // never rendered as a page
  if (ext == ".txt" || ext == ".md" || ext == ".log") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

std::string SafeFileName(const std::string& path) {
  std::string base = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  std::string out;
  for (char c : base) {
    out.push_back(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                          c == '_'
                      ? c
                      : '_');
  }
  return out.empty() ? "output" : out;
}

json RequestJson(const store::AirlockRequest& q, const HttpRequest& req, bool reports) {
  const bool privileged = IsChecker(req) || IsOverseer(req);
  const std::string viewer = req.principal ? req.principal->subject : "";
  json files = json::array();
  std::map<std::string, int> counts;
  for (const store::AirlockFile& f : q.files) {
    counts[f.status]++;
    const bool decided = f.status != "held" && f.status != "pending";
    files.push_back(AirlockFileJson(f, q.id, reports, privileged || f.status == "released", viewer,
                                    decided || IsOverseer(req)));
  }
  json j = {{"id", q.id},
            {"kind", q.kind},
            {"task_id", q.task_id},
            {"project", q.project},
            {"requester", q.requester},
            {"profile", q.profile},
            {"auto_release", q.auto_release},
            {"required_reviews", q.required_reviews},
            {"state", q.state},
            {"created_at", q.created_at},
            {"status_counts", counts},
            {"files", files}};
  if (!q.run_id.empty()) j["run_id"] = q.run_id;
  if (!q.checked_at.empty()) j["checked_at"] = q.checked_at;
  return j;
}

// Reads a JSON body with exactly the string members `fields` (each required, 1..max bytes);
// `decision` must be one of `decisions`.
absl::StatusOr<json> DecisionBody(const HttpRequest& req, const std::string& reason_field,
                                  const std::set<std::string>& decisions, std::size_t min_reason) {
  json body;
  if (auto bad = ParseJsonObjectBody(req, body)) {
    return absl::InvalidArgumentError(
        json::parse(bad->body, nullptr, false).value("msg", "request body is not valid"));
  }
  std::vector<std::string> problems;
  for (const auto& [k, v] : body.items()) {
    if (k != "decision" && k != reason_field)
      problems.push_back(absl::StrCat(k, ": unknown field"));
  }
  if (!body.contains("decision") || !body["decision"].is_string() ||
      !decisions.contains(body["decision"].get<std::string>())) {
    problems.push_back(absl::StrCat("decision: required, one of ", absl::StrJoin(decisions, ", ")));
  }
  if (!body.contains(reason_field) || !body[reason_field].is_string() ||
      body[reason_field].get<std::string>().size() < min_reason ||
      body[reason_field].get<std::string>().size() > kMaxComment) {
    problems.push_back(absl::StrCat(reason_field, ": required, a string of ", min_reason, " to ",
                                    kMaxComment, " bytes saying why"));
  }
  if (!problems.empty()) return absl::InvalidArgumentError(absl::StrJoin(problems, "; "));
  return body;
}

}  // namespace

json AirlockFileJson(const store::AirlockFile& f, const std::string& request_id, bool reports,
                     bool cell_values, const std::string& viewer, bool all_reviews) {
  json j = {{"name", f.name}, {"path", f.path}, {"status", f.status}};
  j["type"] = f.declaration.is_object() ? f.declaration.value("type", "undeclared") : "undeclared";
  if (!f.verdict.empty()) j["verdict"] = f.verdict;
  if (!f.sha256.empty()) j["sha256"] = f.sha256;
  if (f.size_bytes >= 0) j["size_bytes"] = f.size_bytes;
  if (!f.basis.empty()) j["basis"] = f.basis;
  if (!f.decided_by.empty()) j["decided_by"] = f.decided_by;
  if (!f.decision_reason.empty()) j["decision_reason"] = f.decision_reason;
  if (!f.decided_at.empty()) j["decided_at"] = f.decided_at;
  json reviews = json::array();
  for (const store::AirlockReview& r : f.reviews) {
    if (!all_reviews && r.checker != viewer) continue;  // blind until decided
    reviews.push_back({{"checker", r.checker},
                       {"decision", r.decision},
                       {"comment", r.comment},
                       {"created_at", r.created_at}});
  }
  j["reviews"] = reviews;
  j["reviews_received"] = all_reviews ? json(f.reviews.size()) : json(nullptr);
  if (reports && !f.report.is_null()) {
    j["report"] = cell_values ? f.report : RedactCells(f.report);
  }
  if (f.status == "released") {
    j["content_url"] =
        absl::StrCat("/airlock/v1/requests/", request_id, "/files/", f.name, "/content");
  }
  return j;
}

absl::Status RegisterAirlockRoutes(HttpServer& server, Airlock& airlock, store::AirlockStore& store,
                                   store::AuditStore& audit) {
  const std::set<Role> readers = {Role::kResearcher, Role::kOutputChecker, Role::kWorkflowAdmin,
                                  Role::kAuditor};

  auto profiles = [&airlock](HttpRequest& req) -> HttpResponse {
    json out = json::object();
    for (const auto& [name, p] : airlock.profiles()) {
      out[name] = executor::disclosure::ToJson(p);
    }
    json mine = json::object();
    if (req.principal) {
      for (const std::string& project : req.principal->projects) {
        AirlockPolicy p = airlock.PolicyFor(project);
        mine[project] = {{"profile", p.profile.name},
                         {"auto_release", p.auto_release},
                         {"checkers", p.checkers}};
      }
    }
    return JsonOk({{"profiles", out}, {"projects", mine}});
  };

  auto list = [&store](HttpRequest& req) -> HttpResponse {
    absl::StatusOr<int> size = ParsePageSize(req.Query("page_size"), 50, 500);
    if (!size.ok()) return ErrorResponse(size.status());
    store::AirlockFilter f;
    f.scope = ScopeOf(req);
    f.page_size = *size;
    if (auto s = req.Query("state")) {
      if (*s != "checking" && *s != "decided") {
        return ErrorResponse(400, "state: one of checking, decided");
      }
      f.state = *s;
    }
    if (auto s = req.Query("status")) {
      if (!kStatuses.contains(*s)) {
        return ErrorResponse(400, absl::StrCat("status: one of ", absl::StrJoin(kStatuses, ", ")));
      }
      f.file_status = *s;
    }
    if (auto r = req.Query("run_id")) f.run_id = *r;
    absl::StatusOr<store::AirlockPage> page = store.List(f, req.Query("page_token").value_or(""));
    if (!page.ok()) return FailResponse(req, page.status());
    json out = json::array();
    for (const store::AirlockRequest& q : page->requests) out.push_back(RequestJson(q, req, false));
    json j = {{"requests", out}};
    if (!page->next_page_token.empty()) j["next_page_token"] = page->next_page_token;
    return JsonOk(j);
  };

  auto get = [&store](HttpRequest& req) -> HttpResponse {
    absl::StatusOr<store::AirlockRequest> q = store.Get(req.path_params.at("id"), ScopeOf(req));
    if (!q.ok()) return FailResponse(req, q.status());
    return JsonOk(RequestJson(*q, req, true));
  };

  auto review = [&store, &audit](HttpRequest& req) -> HttpResponse {
    const std::string id = req.path_params.at("id"), name = req.path_params.at("name");
    const std::string object = absl::StrCat(id, "/", name);
    absl::StatusOr<json> body = DecisionBody(req, "comment", {"approve", "reject"}, 1);
    if (!body.ok()) {
      AuditRefusal(audit, req, "release.review", body.status(), "release_file", object);
      return FailResponse(req, body.status());
    }
    absl::StatusOr<store::AirlockFile> f = store.Review(
        id, name, ScopeOf(req), req.principal->subject, (*body)["decision"].get<std::string>(),
        (*body)["comment"].get<std::string>(), AuditOf(req, "release.review"));
    if (!f.ok()) {
      if (!absl::IsUnavailable(f.status()) && !absl::IsInternal(f.status())) {
        AuditRefusal(audit, req, "release.review", f.status(), "release_file", object);
      }
      return FailResponse(req, f.status());
    }
    Log().info("request_id={} release {} reviewed by {}: {} -> {}", req.request_id, object,
               req.principal->subject, (*body)["decision"].get<std::string>(), f->status);
    const bool decided = f->status != "held";
    return JsonOk(AirlockFileJson(*f, id, true, true, req.principal->subject, decided));
  };

  auto override_ = [&store, &audit](HttpRequest& req) -> HttpResponse {
    const std::string id = req.path_params.at("id"), name = req.path_params.at("name");
    const std::string object = absl::StrCat(id, "/", name);
    absl::StatusOr<json> body =
        DecisionBody(req, "justification", {"release", "block"}, kMinJustification);
    if (!body.ok()) {
      AuditRefusal(audit, req, "release.override", body.status(), "release_file", object);
      return FailResponse(req, body.status());
    }
    absl::StatusOr<store::AirlockFile> f = store.Override(
        id, name, ScopeOf(req), req.principal->subject, (*body)["decision"].get<std::string>(),
        (*body)["justification"].get<std::string>(), AuditOf(req, "release.override"));
    if (!f.ok()) {
      if (!absl::IsUnavailable(f.status()) && !absl::IsInternal(f.status())) {
        AuditRefusal(audit, req, "release.override", f.status(), "release_file", object);
      }
      return FailResponse(req, f.status());
    }
    Log().warn("request_id={} release {} overridden by {}: {}", req.request_id, object,
               req.principal->subject, (*body)["decision"].get<std::string>());
    return JsonOk(AirlockFileJson(*f, id, true, true, req.principal->subject, true));
  };

  // Downloads streaming now; each holds a handler thread until its client has everything.
  auto downloads = std::make_shared<std::atomic<int>>(0);
  auto content = [&store, &audit, &airlock, downloads](HttpRequest& req) -> HttpResponse {
    const std::string id = req.path_params.at("id"), name = req.path_params.at("name");
    const std::string object = absl::StrCat(id, "/", name);
    absl::StatusOr<store::AirlockRequest> q = store.Get(id, ScopeOf(req));
    if (!q.ok()) return FailResponse(req, q.status());
    const store::AirlockFile* file = nullptr;
    for (const store::AirlockFile& f : q->files) {
      if (f.name == name) file = &f;
    }
    if (file == nullptr) {
      return ErrorResponse(404, absl::StrCat("release request ", id, " has no file '", name, "'"));
    }
    if (file->status != "released") {
      absl::Status refused = absl::FailedPreconditionError(absl::StrCat(
          "'", name, "' is ", file->status, ": only released files can be downloaded"));
      AuditRefusal(audit, req, "release.download", refused, "release_file", object);
      return ErrorResponse(409, std::string(refused.message()));
    }
    auto slot = std::make_shared<DownloadSlot>(downloads);
    if (slot->taken() > airlock.max_downloads()) {
      absl::Status busy = absl::UnavailableError(
          absl::StrCat("already ", airlock.max_downloads(), " downloads in progress; retry later"));
      AuditRefusal(audit, req, "release.download", busy, "release_file", object);
      return ErrorResponse(busy);
    }
    absl::StatusOr<ZoneFile> opened = airlock.OpenZoneFile(file->location, q->project);
    if (!opened.ok()) return FailResponse(req, opened.status());
    auto zone_file = std::make_shared<ZoneFile>(*std::move(opened));
    const std::string sha = file->sha256;
    // The bytes must be those that were checked and released: hashed first, without holding
    // them, then again as they are sent (ZoneFile::ReadVerified).
    absl::StatusOr<ZoneDigest> digest = zone_file->Digest();
    if (!digest.ok()) return FailResponse(req, digest.status());
    if (digest->sha256 != sha) {
      absl::Status changed = absl::DataLossError(
          absl::StrCat("'", name, "' no longer has the SHA-256 it was released with"));
      AuditRefusal(audit, req, "release.download", changed, "release_file", object);
      Log().error("request_id={} release {}: {}", req.request_id, object, changed.message());
      return ErrorResponse(409, std::string(changed.message()));
    }
    const std::uint64_t size = digest->size_bytes;
    // A byte range lets an interrupted download resume; anything not served as a single range
    // is answered with the whole file.
    const RangeRequest range = ParseRange(req.Header("range").value_or(""), size);
    if (range.unsatisfiable) {
      HttpResponse r = ErrorResponse(
          416, absl::StrCat("the range starts past the end of '", name, "' (", size, " bytes)"));
      r.headers.push_back({"Content-Range", absl::StrCat("bytes */", size)});
      return r;
    }
    const std::uint64_t first = range.range ? range.range->first : 0;
    const std::uint64_t count = range.range ? range.range->count : size;
    store::AuditEntry a = AuditOf(req, "release.download");
    a.project = q->project;
    a.object_type = "release_file";
    a.object_id = object;
    a.details["sha256"] = sha;
    a.details["size_bytes"] = static_cast<long long>(size);
    if (range.range) {
      a.details["range"] = absl::StrCat(first, "-", first + count - 1);
    }
    if (absl::Status s = audit.Append(a); !s.ok()) return FailResponse(req, s);
    HttpResponse r;
    r.status = range.range ? 206 : 200;
    r.headers.push_back({"Accept-Ranges", "bytes"});
    if (range.range) {
      r.headers.push_back(
          {"Content-Range", absl::StrCat("bytes ", first, "-", first + count - 1, "/", size)});
    }
    r.content_type = ContentTypeOf(file->path);
    r.headers.push_back({"Content-Disposition",
                         absl::StrCat("attachment; filename=\"", SafeFileName(file->path), "\"")});
    if (!sha.empty()) r.headers.push_back({"X-Checksum-Sha256", sha});
    r.stream_bytes = count;
    r.stream = [zone_file, slot, expect = *digest, first, count, &audit, req,
                object](BodyWriter& out) {
      absl::Status s = zone_file->ReadVerified(
          expect, [&out](std::string_view bytes) { return out.Write(bytes); }, first, count);
      if (!s.ok()) {
        AuditRefusal(
            audit, req, "release.download", s, "release_file", object,
            {{"sha256", expect.sha256}, {"size_bytes", static_cast<long long>(expect.size_bytes)}});
      }
      return s;
    };
    return r;
  };

  const std::string p = "/airlock/v1";
  return server.HandleAll({
      {"GET", p + "/profiles", profiles, Access::Read(readers)},
      {"GET", p + "/requests", list, Access::Read(readers)},
      {"GET", p + "/requests/{id}", get, Access::Read(readers)},
      {"POST", p + "/requests/{id}/files/{name}:review", review,
       Access::Write({Role::kOutputChecker})},
      {"POST", p + "/requests/{id}/files/{name}:override", override_,
       Access::Write({Role::kWorkflowAdmin})},
      {"GET", p + "/requests/{id}/files/{name}/content", content,
       Access::Read({Role::kResearcher})},
  });
}

}  // namespace safeflow::service
