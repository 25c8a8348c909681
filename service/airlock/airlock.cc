#include "service/airlock/airlock.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

#include "executor/crypto/sealed_file.h"
#include "executor/disclosure/declaration.h"
#include "executor/disclosure/filter.h"
#include "executor/sandbox/unique_fd.h"
#include "executor/transfer/transfer.h"
#include "executor/transfer/url.h"
#include "service/log.h"

namespace safeflow::service {
namespace {

namespace disclosure = executor::disclosure;
namespace crypto = executor::crypto;
using nlohmann::json;

constexpr int kBatch = 32;

store::AuditEntry ServiceAudit(const std::string& action, const std::string& project) {
  store::AuditEntry a;
  a.actor = "safeflowd";
  a.auth_method = "internal";
  a.role = "service";
  a.action = action;
  a.project = project;
  a.outcome = "success";
  return a;
}

disclosure::FileReport MissingReport(const store::AirlockFile& f, const std::string& profile,
                                     const std::string& rule, const std::string& why) {
  disclosure::FileReport r;
  r.name = f.name;
  r.path = f.path;
  r.profile = profile;
  r.type = f.declaration.is_object() ? f.declaration.value("type", "undeclared") : "undeclared";
  disclosure::Finding finding;
  finding.rule = rule;
  finding.outcome = disclosure::Verdict::kFail;
  finding.message = why;
  r.rules_applied.push_back(rule);
  r.findings.push_back(std::move(finding));
  r.verdict = disclosure::Verdict::kFail;
  return r;
}

// Whether the differencing rule compares outputs of this declaration.
bool IsDifferenced(const std::optional<disclosure::Declaration>& d) {
  return d && (d->type == disclosure::OutputType::kFrequencyTable ||
               d->type == disclosure::OutputType::kHistogram);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Airlock>> Airlock::Create(AirlockOptions options,
                                                         store::AirlockStore& store) {
  std::map<std::string, disclosure::Profile> profiles;
  for (std::string_view name : disclosure::BuiltinProfileNames()) {
    absl::StatusOr<disclosure::Profile> p = disclosure::BuiltinProfile(name);
    if (!p.ok()) return p.status();
    profiles[std::string(name)] = *std::move(p);
  }
  for (const auto& [name, j] : options.config.profiles) {
    absl::StatusOr<disclosure::Profile> p = disclosure::ProfileFromJson(name, j);
    if (!p.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("airlock.profiles.", name, ": ", p.status().message()));
    }
    profiles[name] = *std::move(p);
  }
  auto known = [&](const std::string& n) { return profiles.contains(n); };
  if (!known(options.config.default_profile)) {
    return absl::InvalidArgumentError(
        absl::StrCat("airlock.default_profile: unknown profile ", options.config.default_profile));
  }
  for (const auto& [project, pc] : options.config.projects) {
    if (!pc.profile.empty() && !known(pc.profile)) {
      return absl::InvalidArgumentError(
          absl::StrCat("airlock.projects.", project, ".profile: unknown profile ", pc.profile));
    }
  }
  return std::unique_ptr<Airlock>(new Airlock(std::move(options), store, std::move(profiles)));
}

Airlock::Airlock(AirlockOptions options, store::AirlockStore& store,
                 std::map<std::string, disclosure::Profile> profiles)
    : options_(std::move(options)), store_(store), profiles_(std::move(profiles)) {}

Airlock::~Airlock() { Stop(); }

void Airlock::Start() {
  std::scoped_lock lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Airlock::Stop() {
  {
    std::scoped_lock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Airlock::Kick() {
  {
    std::scoped_lock lock(mu_);
    kicked_ = true;
  }
  cv_.notify_all();
}

void Airlock::Loop() {
  for (;;) {
    if (absl::Status s = RunOnce(); !s.ok()) Log().warn("airlock round failed: {}", s.ToString());
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(options_.config.poll_interval_ms),
                 [this] { return stop_ || kicked_; });
    if (stop_) return;
    kicked_ = false;
  }
}

AirlockPolicy Airlock::PolicyFor(const std::string& project) const {
  const AirlockConfig& c = options_.config;
  std::string profile = c.default_profile;
  AirlockPolicy p;
  p.auto_release = c.auto_release;
  p.checkers = c.checkers;
  if (auto it = c.projects.find(project); it != c.projects.end()) {
    if (!it->second.profile.empty()) profile = it->second.profile;
    if (it->second.auto_release) p.auto_release = *it->second.auto_release;
    if (it->second.checkers > 0) p.checkers = it->second.checkers;
  }
  auto it = profiles_.find(profile);
  p.profile = it != profiles_.end() ? it->second : disclosure::Profile{};
  return p;
}

absl::Status Airlock::RunOnce() {
  absl::Status first = MakeRunRequests();
  if (absl::Status s = MakeTaskRequests(); !s.ok() && first.ok()) first = s;
  absl::StatusOr<std::vector<store::AirlockRequest>> checking = store_.Checking(kBatch);
  if (!checking.ok()) return checking.status();
  for (const store::AirlockRequest& q : *checking) {
    if (absl::Status s = Check(q); !s.ok()) {
      Log().warn("release request {}: check failed: {}", q.id, s.ToString());
      if (first.ok()) first = s;
    }
  }
  return first;
}

store::AirlockRequest Airlock::NewRequest(const std::string& kind, const std::string& task_id,
                                          const std::string& project,
                                          const std::string& requester) const {
  const AirlockPolicy policy = PolicyFor(project);
  store::AirlockRequest q;
  q.kind = kind;
  q.task_id = task_id;
  q.project = project;
  q.requester = requester;
  q.profile = policy.profile.name;
  q.auto_release = policy.auto_release;
  q.required_reviews = policy.checkers;
  return q;
}

absl::Status Airlock::MakeRunRequests() {
  absl::StatusOr<std::vector<store::RunAwaitingAirlock>> runs = store_.RunsAwaiting(kBatch);
  if (!runs.ok()) return runs.status();
  for (const store::RunAwaitingAirlock& run : *runs) {
    store::AirlockRequest q = NewRequest("run", run.task_id, run.project, run.owner);
    q.run_id = run.run_id;
    const std::string base =
        absl::StrCat("file://", options_.wes_outputs_dir, "/", run.project, "/", run.run_id);
    const json& outs = run.manifest.contains("outputs") ? run.manifest["outputs"] : json::array();
    for (const json& o : outs.is_array() ? outs : json::array()) {
      absl::StatusOr<disclosure::Declaration> d = disclosure::ParseDeclaration(o);
      if (!d.ok()) {
        Log().warn("run {}: a declared output no longer parses: {}", run.run_id,
                   d.status().ToString());
        continue;
      }
      store::AirlockFile f;
      f.name = d->name;
      f.path = d->path;
      f.location = executor::transfer::JoinUrl(base, d->path);
      if (!d->evidence.empty()) {
        f.evidence_location = executor::transfer::JoinUrl(base, d->evidence);
      }
      f.declaration = disclosure::ToJson(*d);
      q.files.push_back(std::move(f));
    }
    store::AuditEntry audit = ServiceAudit("release.request", run.project);
    absl::StatusOr<std::string> id = store_.Create(q, audit);
    if (!id.ok() && !absl::IsAlreadyExists(id.status())) return id.status();
    if (id.ok()) {
      Log().info("run={} release request {} with {} files (profile {})", run.run_id, *id,
                 q.files.size(), q.profile);
    }
  }
  return absl::OkStatus();
}

absl::Status Airlock::MakeTaskRequests() {
  absl::StatusOr<std::vector<store::TaskAwaitingAirlock>> tasks = store_.TasksAwaiting(kBatch);
  if (!tasks.ok()) return tasks.status();
  for (const store::TaskAwaitingAirlock& t : *tasks) {
    store::AirlockRequest q = NewRequest("task", t.task_id, t.project, t.owner);
    int i = 0;
    for (const json& o : t.airlock_outputs.is_array() ? t.airlock_outputs : json::array()) {
      store::AirlockFile f;
      f.path = o.value("path", "");
      f.name = o.value("name", absl::StrCat("output-", i));
      f.location = o.value("location", "");
      if (o.contains("declaration") && o["declaration"].is_object()) {
        f.declaration = o["declaration"];
      }
      ++i;
      if (f.location.empty()) continue;
      q.files.push_back(std::move(f));
    }
    absl::StatusOr<std::string> id = store_.Create(q, ServiceAudit("release.request", t.project));
    if (!id.ok() && !absl::IsAlreadyExists(id.status())) return id.status();
    if (id.ok()) {
      Log().info("task={} release request {} with {} files", t.task_id, *id, q.files.size());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ZoneFile> Airlock::OpenZoneFile(const std::string& location,
                                               const std::string& project) const {
  return service::OpenZoneFile(location, project, options_.key_for);
}

absl::StatusOr<ZoneDigest> Airlock::HashZoneFile(const std::string& location,
                                                 const std::string& project) const {
  absl::StatusOr<ZoneFile> f = OpenZoneFile(location, project);
  if (!f.ok()) return f.status();
  return f->Digest();
}

absl::StatusOr<std::string> Airlock::ReadZoneFile(const std::string& location,
                                                  const std::string& project,
                                                  std::uint64_t max_bytes) const {
  absl::StatusOr<ZoneFile> f = OpenZoneFile(location, project);
  if (!f.ok()) return f.status();
  auto too_large = [&] {
    return absl::ResourceExhaustedError(
        absl::StrCat(location, " is larger than ", max_bytes, " bytes"));
  };
  // The plaintext is at most the file's size (a sealed file's, less the smallest overhead):
  // refuse early when even that is over the limit.
  const std::uint64_t largest_allowed =
      f->sealed()
          ? crypto::SealedFileBytes(max_bytes, crypto::kMinChunkBytes, crypto::kMaxKeyIdBytes)
          : max_bytes;
  if (f->disk_bytes() > largest_allowed) return too_large();
  std::string out;
  absl::StatusOr<std::uint64_t> n = f->Read([&](std::string_view bytes) {
    if (bytes.size() > max_bytes - out.size()) return too_large();
    out.append(bytes);
    return absl::OkStatus();
  });
  if (!n.ok()) return n.status();
  return out;
}

absl::Status Airlock::Check(const store::AirlockRequest& q) {
  auto pit = profiles_.find(q.profile);
  const disclosure::Profile profile =
      pit != profiles_.end() ? pit->second : PolicyFor(q.project).profile;
  // Earlier releases of the project's tables, for differencing: read only when the request
  // has a table that rule compares.
  bool compares_tables = false;
  for (const store::AirlockFile& f : q.files) {
    if (!f.declaration.is_object()) continue;
    absl::StatusOr<disclosure::Declaration> d = disclosure::ParseDeclaration(f.declaration);
    compares_tables = compares_tables || (d.ok() && IsDifferenced(*d));
  }
  std::vector<disclosure::ReleasedTable> history;
  if (compares_tables && options_.config.history_limit > 0) {
    absl::StatusOr<std::vector<store::ReleasedFile>> released =
        store_.Released(q.project, options_.config.history_limit);
    if (!released.ok()) return released.status();
    for (const store::ReleasedFile& r : *released) {
      if (!r.declaration.is_object()) continue;
      absl::StatusOr<disclosure::Declaration> d = disclosure::ParseDeclaration(r.declaration);
      if (!d.ok() || !IsDifferenced(*d)) continue;
      absl::StatusOr<std::string> content =
          ReadZoneFile(r.location, q.project, profile.max_file_bytes);
      if (!content.ok()) continue;
      history.push_back({r.request_id, r.name, r.path, r.sha256, *d, *std::move(content)});
    }
  }
  std::vector<store::CheckedFile> checked;
  std::vector<store::AuditEntry> audits;
  for (const store::AirlockFile& f : q.files) {
    std::optional<disclosure::Declaration> declaration;
    if (f.declaration.is_object()) {
      absl::StatusOr<disclosure::Declaration> d = disclosure::ParseDeclaration(f.declaration);
      if (d.ok()) declaration = *std::move(d);
    }
    disclosure::FileReport report;
    std::optional<ZoneDigest> over_limit;
    absl::StatusOr<std::string> content =
        ReadZoneFile(f.location, q.project, profile.max_file_bytes);
    if (content.ok() || absl::IsResourceExhausted(content.status())) {
      disclosure::FileInput in;
      in.name = f.name;
      in.path = f.path;
      in.declaration = declaration;
      if (content.ok()) {
        in.content = *content;
        in.size_bytes = content->size();
      } else {
        // Over the limit: not held in memory nor checked, but hashed as a stream, so that an
        // override can release exactly these bytes.
        absl::StatusOr<ZoneDigest> digest = HashZoneFile(f.location, q.project);
        if (digest.ok()) {
          over_limit = *std::move(digest);
          in.size_bytes = over_limit->size_bytes;
        } else {
          in.size_bytes = profile.max_file_bytes + 1;
        }
      }
      std::string evidence_text;
      if (declaration && !f.evidence_location.empty()) {
        absl::StatusOr<std::string> ev =
            ReadZoneFile(f.evidence_location, q.project, profile.max_file_bytes);
        if (!ev.ok()) {
          in.evidence_error =
              absl::StrCat("evidence ", declaration->evidence, ": ", ev.status().message());
        } else {
          json j = json::parse(*ev, nullptr, false);
          absl::StatusOr<disclosure::Evidence> e = j.is_discarded()
                                                       ? absl::InvalidArgumentError("not JSON")
                                                       : disclosure::ParseEvidence(j);
          if (e.ok()) {
            in.evidence = *std::move(e);
          } else {
            in.evidence_error =
                absl::StrCat("evidence ", declaration->evidence, ": ", e.status().message());
          }
        }
      }
      report = disclosure::CheckFile(in, profile, history);
      if (over_limit) {
        report.sha256 = over_limit->sha256;
        report.size_bytes = over_limit->size_bytes;
      }
      report.name = f.name;
      report.path = f.path;
    } else if (absl::IsNotFound(content.status())) {
      report = MissingReport(f, profile.name, "output_present",
                             "the run did not write this declared output");
    } else {
      report =
          MissingReport(f, profile.name, "output_readable",
                        absl::StrCat("the output could not be read: ", content.status().message()));
    }
    store::CheckedFile c;
    c.name = f.name;
    c.sha256 = report.sha256;
    c.size_bytes = static_cast<long long>(report.size_bytes);
    c.verdict = std::string(disclosure::VerdictName(report.verdict));
    c.report = disclosure::ToJson(report);
    switch (report.verdict) {
      case disclosure::Verdict::kPass:
        c.status = q.auto_release ? "released" : "held";
        if (q.auto_release) c.basis = "auto";
        break;
      case disclosure::Verdict::kReview:
        c.status = "held";
        break;
      case disclosure::Verdict::kFail:
        c.status = "blocked";
        break;
    }
    store::AuditEntry a = ServiceAudit("release.check", q.project);
    a.object_type = "release_file";
    a.object_id = absl::StrCat(q.id, "/", f.name);
    a.details["verdict"] = c.verdict;
    a.details["status"] = c.status;
    a.details["sha256"] = c.sha256;
    a.details["profile"] = profile.name;
    std::vector<std::string> flagged;
    for (const disclosure::Finding& fd : report.findings) {
      if (fd.outcome != disclosure::Verdict::kPass) flagged.push_back(fd.rule);
    }
    a.details["rules"] = absl::StrJoin(flagged, ",");
    audits.push_back(std::move(a));
    Log().info("release request {} file {}: {} -> {}", q.id, f.name, c.verdict, c.status);
    checked.push_back(std::move(c));
  }
  absl::Status s = store_.RecordChecks(q.id, checked, audits);
  if (absl::IsFailedPrecondition(s)) return absl::OkStatus();  // another instance recorded it
  return s;
}

}  // namespace safeflow::service
