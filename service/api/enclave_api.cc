#include "service/api/enclave_api.h"

#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

#include "executor/attestation/quote.h"
#include "service/api/json_io.h"
#include "service/api/request_context.h"
#include "service/auth/jwks.h"
#include "service/log.h"

namespace safeflow::service {
namespace {

using nlohmann::json;
namespace crypto = executor::crypto;

constexpr std::size_t kMaxKeyIds = 64;

HttpResponse Fail(const HttpRequest& req, const absl::Status& s) {
  if (!absl::IsNotFound(s) && !absl::IsInvalidArgument(s) && !absl::IsPermissionDenied(s) &&
      !absl::IsAlreadyExists(s) && !absl::IsUnavailable(s)) {
    Log().error("request_id={} {} {}: {}", req.request_id, req.method, req.path, s.message());
  }
  return ErrorResponse(s);
}

// A base64url member of `body`, decoded; "" with a problem recorded when absent or malformed.
std::string B64Member(const json& body, const char* key, std::vector<std::string>& problems) {
  if (!body.contains(key) || !body[key].is_string()) {
    problems.push_back(absl::StrCat(key, ": required (a base64url string)"));
    return "";
  }
  absl::StatusOr<std::string> raw = auth::Base64UrlDecode(body[key].get<std::string>());
  if (!raw.ok()) {
    problems.push_back(absl::StrCat(key, ": not base64url (no padding)"));
    return "";
  }
  return *raw;
}

json DatasetJson(const store::Dataset& d) {
  json j = {{"id", d.id},
            {"key_id", d.id},
            {"project", d.project},
            {"name", d.name},
            {"kind", d.kind},
            {"description", d.description},
            {"public_key", auth::Base64UrlEncode(d.public_key)},
            {"release_policy", d.release_policy},
            {"allow_plain", d.allow_plain},
            {"created_by", d.created_by},
            {"created_at", d.created_at}};
  if (d.location) j["location"] = *d.location;
  if (d.revoked_at) j["revoked_at"] = *d.revoked_at;
  return j;
}

bool Visible(const HttpRequest& req, const std::string& project) {
  return req.principal && req.principal->InProject(project);
}

// The evidence of an attest body {quote, nonce, runtime_data: {public_key}}, or the 400.
std::optional<HttpResponse> ParseEvidence(const json& body, executor::attestation::Evidence& ev) {
  std::vector<std::string> problems;
  if (!body.contains("quote") || !body["quote"].is_string()) {
    problems.push_back("quote: required (the platform's quote, a string)");
  } else {
    ev.quote = body["quote"].get<std::string>();
  }
  ev.nonce = B64Member(body, "nonce", problems);
  if (!body.contains("runtime_data") || !body["runtime_data"].is_object()) {
    problems.push_back("runtime_data: required ({public_key})");
  } else {
    ev.public_key = B64Member(body["runtime_data"], "public_key", problems);
  }
  if (!problems.empty()) return ErrorResponse(400, absl::StrJoin(problems, "; "));
  return std::nullopt;
}

// --- relay endpoints: a remote host (a SLURM job) relays one attempt's attestation. The relay
// token (service/attestation/relay_token.h) in "Authorization: Bearer" is the credential.

constexpr std::size_t kMaxInputUrl = 8192;
constexpr std::size_t kMaxKeyId = 256;

// The 401 (with WWW-Authenticate) or other error answer to a relay request.
HttpResponse RelayFail(const HttpRequest& req, const absl::Status& s) {
  if (!absl::IsUnauthenticated(s)) return Fail(req, s);
  Log().info("request_id={} {} {} relay token refused: {}", req.request_id, req.method, req.path,
             s.message());
  HttpResponse r = ErrorResponse(s);
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"safeflow-relay\"");
  return r;
}

// The verified claims of the relay token that `req` carries.
absl::StatusOr<RelayClaims> RelayCaller(EnclaveAuthority& authority, const HttpRequest& req) {
  std::optional<std::string> h = req.Header("authorization");
  if (!h) return absl::UnauthenticatedError("a relay token is required (Authorization: Bearer)");
  const std::string v(absl::StripAsciiWhitespace(*h));
  if (v.size() < 7 || absl::AsciiStrToLower(v.substr(0, 7)) != "bearer ") {
    return absl::UnauthenticatedError("the Authorization header must be \"Bearer <relay token>\"");
  }
  return authority.VerifyRelayToken(std::string(absl::StripAsciiWhitespace(v.substr(7))));
}

// The task and attempt a quote names, read without verifying it (Attest verifies it).
absl::StatusOr<executor::attestation::EnclaveIdentity> QuoteNames(const std::string& quote) {
  namespace att = executor::attestation;
  const auto bad = absl::InvalidArgumentError("quote: malformed");
  if (quote.size() > att::kMaxQuoteBytes) return bad;
  const json envelope = json::parse(quote, nullptr, false);
  if (!envelope.is_object() || !envelope.contains("body") || !envelope["body"].is_string()) {
    return bad;
  }
  absl::StatusOr<std::string> raw =
      att::detail::Base64UrlDecode(envelope["body"].get<std::string>());
  if (!raw.ok()) return bad;
  absl::StatusOr<att::QuoteBody> body = att::QuoteBodyFromJson(json::parse(*raw, nullptr, false));
  if (!body.ok()) return bad;
  return body->enclave;
}

}  // namespace

absl::Status RegisterEnclaveRoutes(HttpServer& server, EnclaveAuthority& authority,
                                   store::EnclaveStore& datasets, store::AuditStore& audit) {
  const std::set<Role> owners = {Role::kDataOwner};
  const std::set<Role> readers = {Role::kResearcher, Role::kDataOwner, Role::kAuditor};

  auto certs = [&authority](HttpRequest& req) -> HttpResponse {
    absl::StatusOr<json> jwks = authority.Jwks();
    if (!jwks.ok()) return Fail(req, jwks.status());
    HttpResponse r = JsonOk(*jwks);
    r.headers.emplace_back("Cache-Control", "max-age=60");
    return r;
  };

  auto nonce = [&authority](HttpRequest& req) -> HttpResponse {
    absl::StatusOr<std::string> n = authority.NewNonce();
    if (!n.ok()) return Fail(req, n.status());
    return JsonOk({{"nonce", auth::Base64UrlEncode(*n)}});
  };

  auto attest = [&authority](HttpRequest& req) -> HttpResponse {
    json body;
    if (auto bad = ParseJsonObjectBody(req, body)) return *bad;
    executor::attestation::Evidence ev;
    if (auto bad = ParseEvidence(body, ev)) return *bad;
    absl::StatusOr<executor::attestation::AttestationResult> r = authority.Attest(ev);
    if (!r.ok()) return Fail(req, r.status());
    return JsonOk({{"token", r->token}, {"token_id", r->token_id}, {"expires_at", r->expires_at}});
  };

  // POST /attestation/v1/relay/nonce -> {nonce}.
  auto relay_nonce = [&authority](HttpRequest& req) -> HttpResponse {
    absl::StatusOr<RelayClaims> caller = RelayCaller(authority, req);
    if (!caller.ok()) return RelayFail(req, caller.status());
    absl::StatusOr<std::string> n = authority.NewNonce();
    if (!n.ok()) return Fail(req, n.status());
    return JsonOk({{"nonce", auth::Base64UrlEncode(*n)}});
  };

  // POST /attestation/v1/relay/attest: the body of /attestation/v1/attest, for a quote that
  // names the token's task and attempt -> {token, token_id, expires_at, mr_enclave, debug,
  // task_id, attempt}.
  auto relay_attest = [&authority, &audit](HttpRequest& req) -> HttpResponse {
    absl::StatusOr<RelayClaims> caller = RelayCaller(authority, req);
    if (!caller.ok()) return RelayFail(req, caller.status());
    json body;
    if (auto bad = ParseJsonObjectBody(req, body)) return *bad;
    executor::attestation::Evidence ev;
    if (auto bad = ParseEvidence(body, ev)) return *bad;
    absl::StatusOr<executor::attestation::EnclaveIdentity> named = QuoteNames(ev.quote);
    if (!named.ok()) return Fail(req, named.status());
    // Refused and audited as the verifier refuses evidence.
    auto mismatch = [&](const std::string& task_id, int attempt) {
      const std::string why =
          absl::StrCat("the quote names attempt ", attempt, " of task ", task_id.substr(0, 64),
                       task_id.size() > 64 ? "..." : "", ", but the relay token is for attempt ",
                       caller->attempt, " of task ", caller->task_id);
      store::AuditEntry e;
      e.request_id = req.request_id;
      e.actor = absl::StrCat("task:", caller->task_id);
      e.auth_method = "relay-token";
      e.role = "worker";
      e.project = caller->project;
      e.action = "attestation.verify";
      e.object_type = "task";
      e.object_id = caller->task_id;
      e.outcome = "denied";
      e.details = {{"reason", why}, {"attempt", caller->attempt}};
      if (absl::Status s = audit.Append(e); !s.ok()) {
        Log().error("audit of attestation.verify failed: {}", s.message());
      }
      Log().warn("task={} attempt={} relay attest refused: {}", caller->task_id, caller->attempt,
                 why);
      return ErrorResponse(403, absl::StrCat("attestation refused: ", why));
    };
    if (named->task_id != caller->task_id || named->attempt != caller->attempt) {
      return mismatch(named->task_id, named->attempt);
    }
    absl::StatusOr<executor::attestation::AttestationResult> r = authority.Attest(ev);
    if (!r.ok()) return Fail(req, r.status());
    if (r->task_id != caller->task_id || r->attempt != caller->attempt) {  // the verified quote
      return mismatch(r->task_id, r->attempt);
    }
    return JsonOk({{"token", r->token},
                   {"token_id", r->token_id},
                   {"expires_at", r->expires_at},
                   {"mr_enclave", r->mr_enclave},
                   {"debug", r->debug},
                   {"task_id", r->task_id},
                   {"attempt", r->attempt}});
  };

  // POST /attestation/v1/relay/input-check {url, sealed_key_id: string|null} ->
  // {dataset_id: string|null, sealed}, for the token's project.
  auto relay_input_check = [&authority](HttpRequest& req) -> HttpResponse {
    absl::StatusOr<RelayClaims> caller = RelayCaller(authority, req);
    if (!caller.ok()) return RelayFail(req, caller.status());
    json body;
    if (auto bad = ParseJsonObjectBody(req, body)) return *bad;
    std::vector<std::string> problems;
    for (const auto& [k, v] : body.items()) {
      if (k != "url" && k != "sealed_key_id")
        problems.push_back(absl::StrCat(k, ": unknown field"));
    }
    std::string url;
    if (!body.contains("url") || !body["url"].is_string() ||
        body["url"].get<std::string>().empty() ||
        body["url"].get<std::string>().size() > kMaxInputUrl) {
      problems.push_back(absl::StrCat("url: required, a string of 1 to ", kMaxInputUrl, " bytes"));
    } else {
      url = body["url"].get<std::string>();
    }
    std::optional<std::string> sealed_key_id;
    if (body.contains("sealed_key_id") && !body["sealed_key_id"].is_null()) {
      if (!body["sealed_key_id"].is_string() || body["sealed_key_id"].get<std::string>().empty() ||
          body["sealed_key_id"].get<std::string>().size() > kMaxKeyId) {
        problems.push_back(
            absl::StrCat("sealed_key_id: a key id of 1 to ", kMaxKeyId, " bytes, or null"));
      } else {
        sealed_key_id = body["sealed_key_id"].get<std::string>();
      }
    }
    if (!problems.empty()) return ErrorResponse(400, absl::StrJoin(problems, "; "));
    absl::StatusOr<executor::attestation::InputDecision> d =
        authority.CheckInput(caller->project, url, sealed_key_id);
    if (!d.ok()) return Fail(req, d.status());
    return JsonOk({{"dataset_id", d->dataset_id ? json(*d->dataset_id) : json(nullptr)},
                   {"sealed", d->sealed}});
  };

  auto keys = [&authority](HttpRequest& req) -> HttpResponse {
    json body;
    if (auto bad = ParseJsonObjectBody(req, body)) return *bad;
    std::vector<std::string> problems;
    if (!body.contains("token") || !body["token"].is_string()) {
      problems.push_back("token: required (an attestation token)");
    }
    std::vector<std::string> ids;
    if (!body.contains("key_ids") || !body["key_ids"].is_array() || body["key_ids"].empty() ||
        body["key_ids"].size() > kMaxKeyIds) {
      problems.push_back(absl::StrCat("key_ids: required, 1 to ", kMaxKeyIds, " key ids"));
    } else {
      for (const json& k : body["key_ids"]) {
        if (!k.is_string()) {
          problems.push_back("key_ids: must be strings");
          break;
        }
        ids.push_back(k.get<std::string>());
      }
    }
    if (!problems.empty()) return ErrorResponse(400, absl::StrJoin(problems, "; "));
    absl::StatusOr<std::vector<executor::attestation::ReleasedKey>> r =
        authority.ReleaseKeys(body["token"].get<std::string>(), ids);
    if (!r.ok()) return Fail(req, r.status());
    json out = {{"keys", json::array()}};
    for (const auto& k : *r) {
      out["keys"].push_back(
          {{"key_id", k.key_id},
           {"ephemeral_public_key", auth::Base64UrlEncode(k.ephemeral_public_key)},
           {"ciphertext", auth::Base64UrlEncode(k.ciphertext)}});
    }
    return JsonOk(out);
  };

  auto create = [&authority](HttpRequest& req) -> HttpResponse {
    json body;
    if (auto bad = ParseJsonObjectBody(req, body)) return *bad;
    static const std::set<std::string> kKnown = {"project",        "name",        "description",
                                                 "release_policy", "allow_plain", "location",
                                                 "private_key"};
    std::vector<std::string> problems;
    for (const auto& [k, v] : body.items()) {
      if (!kKnown.contains(k)) problems.push_back(absl::StrCat(k, ": unknown field"));
    }
    NewDatasetRequest r;
    static const std::regex kName("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$");
    auto str = [&](const char* k, std::string& out, bool required) {
      if (!body.contains(k)) {
        if (required) problems.push_back(absl::StrCat(k, ": required"));
        return;
      }
      if (!body[k].is_string()) {
        problems.push_back(absl::StrCat(k, ": must be a string"));
        return;
      }
      out = body[k].get<std::string>();
    };
    r.project = req.principal->DefaultProject();
    str("project", r.project, false);
    str("name", r.name, true);
    str("description", r.description, false);
    if (!r.name.empty() && !std::regex_match(r.name, kName)) {
      problems.push_back("name: 1-128 of A-Z a-z 0-9 . _ -, not starting with . _ or -");
    }
    if (r.description.size() > 4096) problems.push_back("description: at most 4096 bytes");
    if (body.contains("release_policy")) {
      r.release_policy = body["release_policy"];
      if (absl::Status s = ValidateReleasePolicy(r.release_policy); !s.ok()) {
        problems.emplace_back(s.message());
      }
    }
    if (body.contains("allow_plain")) {
      if (!body["allow_plain"].is_boolean()) {
        problems.push_back("allow_plain: must be a boolean");
      } else {
        r.allow_plain = body["allow_plain"].get<bool>();
      }
    }
    if (body.contains("location")) {
      std::string loc;
      str("location", loc, false);
      if (!loc.empty() && loc.find("://") == std::string::npos) {
        problems.push_back("location: must be a URL prefix (file:///..., s3://...)");
      }
      if (!loc.empty()) r.location = loc;
    }
    if (body.contains("private_key")) {
      std::string raw = B64Member(body, "private_key", problems);
      if (!raw.empty() && raw.size() != 32) {
        problems.push_back("private_key: must be a 32-byte X25519 private key");
      } else if (!raw.empty()) {
        r.private_key = crypto::SecretBytes::Copy(raw);
      }
      std::fill(raw.begin(), raw.end(), '\0');
    }
    if (!problems.empty()) return ErrorResponse(400, absl::StrJoin(problems, "; "));
    if (!Visible(req, r.project)) {
      return ErrorResponse(403, absl::StrCat("you are not a member of project ", r.project));
    }
    absl::StatusOr<store::Dataset> d = authority.RegisterDataset(r, AuditOf(req, "dataset.create"));
    if (!d.ok()) return Fail(req, d.status());
    return JsonOk(DatasetJson(*d), 201);
  };

  auto list = [&datasets](HttpRequest& req) -> HttpResponse {
    std::optional<std::vector<std::string>> projects;
    if (!req.principal->all_projects) projects = req.principal->projects;
    absl::StatusOr<std::vector<store::Dataset>> all = datasets.ListDatasets(projects);
    if (!all.ok()) return Fail(req, all.status());
    json out = {{"datasets", json::array()}};
    for (const store::Dataset& d : *all) out["datasets"].push_back(DatasetJson(d));
    return JsonOk(out);
  };

  auto get = [&datasets](HttpRequest& req) -> HttpResponse {
    absl::StatusOr<store::Dataset> d = datasets.GetDataset(req.path_params.at("id"));
    if (!d.ok()) return Fail(req, d.status());
    if (!Visible(req, d->project)) {
      return ErrorResponse(404, absl::StrCat("dataset ", req.path_params.at("id"), " not found"));
    }
    return JsonOk(DatasetJson(*d));
  };

  auto revoke = [&datasets](HttpRequest& req) -> HttpResponse {
    const std::string& id = req.path_params.at("id");
    absl::StatusOr<store::Dataset> d = datasets.GetDataset(id);
    if (!d.ok()) return Fail(req, d.status());
    if (!Visible(req, d->project)) {
      return ErrorResponse(404, absl::StrCat("dataset ", id, " not found"));
    }
    if (d->kind == "outputs") {
      return ErrorResponse(409, "a project's outputs key cannot be revoked");
    }
    if (absl::Status s = datasets.RevokeDataset(id, AuditOf(req, "dataset.revoke")); !s.ok()) {
      return Fail(req, s);
    }
    return JsonOk(json::object());
  };

  auto outputs_key = [&authority](HttpRequest& req) -> HttpResponse {
    const std::string& project = req.path_params.at("project");
    if (!Visible(req, project)) {
      return ErrorResponse(403, absl::StrCat("you are not a member of project ", project));
    }
    absl::StatusOr<executor::attestation::OutputKey> k = authority.OutputKeyFor(project);
    if (!k.ok()) return Fail(req, k.status());
    return JsonOk({{"key_id", k->key_id}, {"public_key", auth::Base64UrlEncode(k->public_key)}});
  };

  (void)audit;
  return server.HandleAll({
      {"GET", "/attestation/v1/certs", certs, Access::Public()},
      {"POST", "/attestation/v1/nonce", nonce, Access::Write({})},
      {"POST", "/attestation/v1/attest", attest, Access::Write({})},
      {"POST", "/kbs/v1/keys", keys, Access::Public()},
      // The relay token is the credential: checked by the handlers.
      {"POST", "/attestation/v1/relay/nonce", relay_nonce, Access::Public()},
      {"POST", "/attestation/v1/relay/attest", relay_attest, Access::Public()},
      {"POST", "/attestation/v1/relay/input-check", relay_input_check, Access::Public()},
      {"POST", "/data/v1/datasets", create, Access::Write(owners)},
      {"GET", "/data/v1/datasets", list, Access::Read(readers)},
      {"GET", "/data/v1/datasets/{id}", get, Access::Read(readers)},
      {"POST", "/data/v1/datasets/{id}:revoke", revoke, Access::Write(owners)},
      {"GET", "/data/v1/projects/{project}/outputs-key", outputs_key, Access::Read(readers)},
  });
}

}  // namespace safeflow::service
