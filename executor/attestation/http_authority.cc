#include "executor/attestation/http_authority.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include <curl/curl.h>

#include "executor/attestation/quote.h"
#include "executor/log.h"

namespace safeflow::executor::attestation {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxResponseBytes = std::size_t{1} << 20;
constexpr std::size_t kMaxMessageBytes = 1024;
// The key broker takes at most this many key ids per request (service/api/enclave_api.cc).
constexpr std::size_t kKeyIdsPerRequest = 64;

void EnsureCurlInitialized() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      Log().error("relay: curl_global_init failed");
    }
  });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

struct Sink {
  std::string body;
  bool too_large = false;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t len = size * n;
  if (len > kMaxResponseBytes - sink->body.size()) {
    sink->too_large = true;
    return 0;
  }
  sink->body.append(data, len);
  return len;
}

absl::Status CurlStatus(CURLcode rc, const char* detail, const std::string& what) {
  const std::string msg =
      fmt::format("{}: {}", what, (detail != nullptr && *detail) ? detail : curl_easy_strerror(rc));
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(msg);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return absl::InvalidArgumentError(msg);
    case CURLE_OUT_OF_MEMORY:
      return absl::ResourceExhaustedError(msg);
    default:  // resolving, connecting, TLS, a connection that broke
      return absl::UnavailableError(msg);
  }
}

// The server's GA4GH error message, bounded, or a prefix of the body when it has none.
std::string ServerMessage(const std::string& body) {
  const json j = json::parse(body, nullptr, false);
  std::string msg;
  if (j.is_object() && j.contains("msg") && j["msg"].is_string()) {
    msg = j["msg"].get<std::string>();
  } else {
    msg = body;
  }
  if (msg.size() > kMaxMessageBytes) msg = msg.substr(0, kMaxMessageBytes) + "...";
  return msg;
}

absl::Status HttpStatus(long status, const std::string& what, const std::string& body) {
  const std::string msg = fmt::format("{}: HTTP {}: {}", what, status, ServerMessage(body));
  switch (status) {
    case 400:
      return absl::InvalidArgumentError(msg);
    case 401:
      return absl::UnauthenticatedError(msg);
    case 403:
      return absl::PermissionDeniedError(msg);
    case 404:
      return absl::NotFoundError(msg);
    case 409:
      return absl::FailedPreconditionError(msg);
    case 408:
    case 429:
      return absl::UnavailableError(msg);
    default:
      if (status >= 500) return absl::UnavailableError(msg);
      return absl::UnknownError(msg);
  }
}

absl::Status Malformed(const std::string& what, const std::string& why) {
  return absl::InternalError(fmt::format("{}: unexpected response: {}", what, why));
}

// A member of `j` that is a base64url string, decoded.
absl::StatusOr<std::string> B64Member(const json& j, const char* key, const std::string& what) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) {
    return Malformed(what, fmt::format("{} missing", key));
  }
  absl::StatusOr<std::string> raw = detail::Base64UrlDecode(j[key].get<std::string>());
  if (!raw.ok()) return Malformed(what, fmt::format("{} is not base64url", key));
  return raw;
}

absl::StatusOr<std::string> StringMember(const json& j, const char* key, const std::string& what) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) {
    return Malformed(what, fmt::format("{} missing", key));
  }
  return j[key].get<std::string>();
}

class HttpAuthority final : public Authority {
 public:
  explicit HttpAuthority(RelayConfig config) : config_(std::move(config)) {}

  absl::StatusOr<std::string> NewNonce() override {
    const std::string what = "relay nonce";
    absl::StatusOr<json> r = Post("/attestation/v1/relay/nonce", json::object(), true, what);
    if (!r.ok()) return r.status();
    absl::StatusOr<std::string> nonce = B64Member(*r, "nonce", what);
    if (nonce.ok() && nonce->empty()) return Malformed(what, "empty nonce");
    return nonce;
  }

  absl::StatusOr<AttestationResult> Attest(const Evidence& evidence) override {
    const std::string what = "relay attest";
    const json body = {
        {"quote", evidence.quote},
        {"nonce", detail::Base64UrlEncode(evidence.nonce)},
        {"runtime_data", {{"public_key", detail::Base64UrlEncode(evidence.public_key)}}}};
    absl::StatusOr<json> r = Post("/attestation/v1/relay/attest", body, true, what);
    if (!r.ok()) return r.status();
    AttestationResult out;
    for (auto [key, field] :
         {std::pair{"token", &out.token}, std::pair{"token_id", &out.token_id},
          std::pair{"expires_at", &out.expires_at}, std::pair{"mr_enclave", &out.mr_enclave},
          std::pair{"task_id", &out.task_id}}) {
      absl::StatusOr<std::string> v = StringMember(*r, key, what);
      if (!v.ok()) return v.status();
      *field = *std::move(v);
    }
    if (!r->contains("debug") || !(*r)["debug"].is_boolean()) {
      return Malformed(what, "debug missing");
    }
    out.debug = (*r)["debug"].get<bool>();
    if (!r->contains("attempt") || !(*r)["attempt"].is_number_integer()) {
      return Malformed(what, "attempt missing");
    }
    const std::int64_t attempt = (*r)["attempt"].get<std::int64_t>();
    if (attempt < 0 || attempt > std::numeric_limits<int>::max()) {
      return Malformed(what, "attempt out of range");
    }
    out.attempt = static_cast<int>(attempt);
    if (out.token.empty()) return Malformed(what, "empty token");
    return out;
  }

  absl::StatusOr<std::vector<ReleasedKey>> ReleaseKeys(
      const std::string& token, const std::vector<std::string>& key_ids) override {
    const std::string what = "key release";
    std::vector<ReleasedKey> out;
    for (std::size_t first = 0; first < key_ids.size(); first += kKeyIdsPerRequest) {
      const std::size_t last = std::min(key_ids.size(), first + kKeyIdsPerRequest);
      const std::vector<std::string> batch(key_ids.begin() + static_cast<std::ptrdiff_t>(first),
                                           key_ids.begin() + static_cast<std::ptrdiff_t>(last));
      absl::StatusOr<json> r =
          Post("/kbs/v1/keys", {{"token", token}, {"key_ids", batch}}, false, what);
      if (!r.ok()) return r.status();
      if (!r->contains("keys") || !(*r)["keys"].is_array() || (*r)["keys"].size() != batch.size()) {
        return Malformed(what, "keys missing or of the wrong length");
      }
      for (const json& k : (*r)["keys"]) {
        ReleasedKey key;
        absl::StatusOr<std::string> id = StringMember(k, "key_id", what);
        if (!id.ok()) return id.status();
        absl::StatusOr<std::string> epk = B64Member(k, "ephemeral_public_key", what);
        if (!epk.ok()) return epk.status();
        absl::StatusOr<std::string> ct = B64Member(k, "ciphertext", what);
        if (!ct.ok()) return ct.status();
        out.push_back({*std::move(id), *std::move(epk), *std::move(ct)});
      }
    }
    return out;
  }

  absl::StatusOr<InputDecision> CheckInput(
      const std::string& project, const std::string& url,
      const std::optional<std::string>& sealed_key_id) override {
    const std::string what = "relay input check";
    if (project != config_.project) {
      return absl::PermissionDeniedError(fmt::format("{}: this relay acts for project {}, not {}",
                                                     what, config_.project, project));
    }
    const json body = {{"url", url},
                       {"sealed_key_id", sealed_key_id ? json(*sealed_key_id) : json(nullptr)}};
    absl::StatusOr<json> r = Post("/attestation/v1/relay/input-check", body, true, what);
    if (!r.ok()) return r.status();
    InputDecision out;
    if (!r->contains("sealed") || !(*r)["sealed"].is_boolean()) {
      return Malformed(what, "sealed missing");
    }
    out.sealed = (*r)["sealed"].get<bool>();
    if (r->contains("dataset_id") && !(*r)["dataset_id"].is_null()) {
      if (!(*r)["dataset_id"].is_string()) return Malformed(what, "dataset_id is not a string");
      out.dataset_id = (*r)["dataset_id"].get<std::string>();
    }
    if (out.sealed && !out.dataset_id) return Malformed(what, "a sealed input without a dataset");
    return out;
  }

  absl::StatusOr<OutputKey> OutputKeyFor(const std::string& project) override {
    if (project != config_.project) {
      return absl::FailedPreconditionError(
          fmt::format("this relay has the outputs key of project {} only, not of {}",
                      config_.project, project));
    }
    if (!config_.output_key) {
      return absl::FailedPreconditionError(
          fmt::format("this relay was given no outputs key for project {}", project));
    }
    return *config_.output_key;
  }

 private:
  // POSTs `body` to base_url + path and returns the JSON object of a 2xx answer.
  absl::StatusOr<json> Post(const std::string& path, const json& body, bool bearer,
                            const std::string& what) const {
    EnsureCurlInitialized();
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    if (curl == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
    std::unique_ptr<curl_slist, SlistDeleter> headers;
    std::vector<std::string> lines = {"Content-Type: application/json", "Accept: application/json"};
    if (bearer) lines.push_back("Authorization: Bearer " + config_.relay_token);
    for (const std::string& h : lines) {
      curl_slist* l = curl_slist_append(headers.get(), h.c_str());
      if (l == nullptr) return absl::ResourceExhaustedError("curl_slist_append failed");
      (void)headers.release();  // now owned by `l`, the same list
      headers.reset(l);
    }
    const std::string url = config_.base_url + path;
    const std::string payload = body.dump(-1, ' ', false, json::error_handler_t::replace);
    Sink sink;
    char error[CURL_ERROR_SIZE] = {0};
    CURLcode rc = CURLE_OK;
    auto set = [&](CURLoption option, auto value) {
      if (rc == CURLE_OK) rc = curl_easy_setopt(curl.get(), option, value);
    };
    set(CURLOPT_URL, url.c_str());
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_FOLLOWLOCATION, 0L);
    set(CURLOPT_TIMEOUT, static_cast<long>(config_.timeout_seconds));
    set(CURLOPT_CONNECTTIMEOUT, static_cast<long>(config_.timeout_seconds));
    set(CURLOPT_SSL_VERIFYPEER, 1L);
    set(CURLOPT_SSL_VERIFYHOST, 2L);
    if (!config_.ca_bundle.empty()) set(CURLOPT_CAINFO, config_.ca_bundle.c_str());
    set(CURLOPT_USERAGENT, "safeflow-relay");
    set(CURLOPT_ERRORBUFFER, error);
    set(CURLOPT_HTTPHEADER, headers.get());
    set(CURLOPT_POST, 1L);
    set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
    set(CURLOPT_POSTFIELDS, payload.c_str());
    set(CURLOPT_WRITEFUNCTION, OnBody);
    set(CURLOPT_WRITEDATA, &sink);
    if (rc != CURLE_OK) {
      return absl::InternalError(fmt::format("{}: curl setup: {}", what, curl_easy_strerror(rc)));
    }
    rc = curl_easy_perform(curl.get());
    if (sink.too_large) {
      return absl::ResourceExhaustedError(
          fmt::format("{}: the response is larger than {} bytes", what, kMaxResponseBytes));
    }
    if (rc != CURLE_OK) return CurlStatus(rc, error, what);
    long status = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) return HttpStatus(status, what, sink.body);
    json j = json::parse(sink.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Malformed(what, "not a JSON object");
    return j;
  }

  const RelayConfig config_;
};

bool Printable(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace

absl::StatusOr<std::unique_ptr<Authority>> NewHttpAuthority(RelayConfig config) {
  std::vector<std::string> problems;
  if (config.base_url.rfind("https://", 0) != 0 && config.base_url.rfind("http://", 0) != 0) {
    problems.push_back("base_url: must start with https:// or http://");
  }
  while (!config.base_url.empty() && config.base_url.back() == '/') config.base_url.pop_back();
  if (config.relay_token.empty() || !Printable(config.relay_token)) {
    problems.push_back("relay_token: required, printable ASCII without spaces");
  }
  if (config.project.empty()) problems.push_back("project: required");
  if (config.timeout_seconds < 1 || config.timeout_seconds > 3600) {
    problems.push_back("timeout_seconds: must be 1 to 3600");
  }
  if (config.output_key && config.output_key->public_key.size() != 32) {
    problems.push_back("output_key.public_key: must be 32 bytes (X25519)");
  }
  if (!problems.empty()) {
    std::string msg = "relay config:";
    for (const std::string& p : problems) msg += " " + p + ";";
    msg.pop_back();
    return absl::InvalidArgumentError(msg);
  }
  return std::make_unique<HttpAuthority>(std::move(config));
}

}  // namespace safeflow::executor::attestation
