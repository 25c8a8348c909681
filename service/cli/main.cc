// safeflow: the command-line client. It checks a server's health and runs the development
// token issuer; later issues add tasks, runs, admin and airlock commands.
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <curl/curl.h>

#include "service/auth/dev_issuer.h"
#include "service/cli/airlock.h"
#include "service/cli/check_outputs.h"
#include "service/cli/data.h"
#include "service/cli/wes.h"
#include "service/cli/workflow.h"
#include "service/version.h"

namespace {

constexpr const char* kUsage = R"(usage: safeflow [--server URL] COMMAND
commands:
  version            print the client's version
  health             GET /healthz and /readyz; exit 0 only when the server is ready
  metrics            print the server's Prometheus metrics
  data keygen|seal|unseal|import ...
                     the data owner's commands (see safeflow data --help)
  workflow register|approve|revoke|list|show ...
                     the workflow admin's registry commands (see safeflow workflow --help)
  wes submit|status|show|list|cancel|logs|tasks ...
                     the researcher's WES runs (see safeflow wes --help)
  airlock list|show|review|override|download ...
                     release requests: reports, output checkers' decisions, downloads
                     (see safeflow airlock --help)
  check-outputs [--profile NAME] [--json] PATH...  offline disclosure checks (see --help)
  dev-issuer init DIR [--force]
                     create the development token issuer's ES256 key pair in DIR
  dev-issuer token DIR --sub NAME --roles r1,r2 --projects p1,p2 [--ttl SECONDS]
                   [--aud A] [--iss I]
                     print a token signed by the development issuer in DIR
The server defaults to $SAFEFLOW_SERVER, else http://127.0.0.1:8080.
)";

constexpr const char* kDevIssuerUsage = R"(usage: safeflow dev-issuer init DIR [--force]
       safeflow dev-issuer token DIR --sub NAME --roles r1,r2 --projects p1,p2
                                     [--ttl SECONDS] [--aud A] [--iss I]
init writes DIR/private.pem (mode 0600) and DIR/jwks.json (the public JWKS safeflowd verifies
tokens with); it refuses to replace an existing key unless --force.
token prints a JWT: iss safeflow-dev, aud safeflow (unless --iss/--aud), sub NAME, the roles and
projects given (comma-separated; may be empty), valid for --ttl seconds (default 3600).
For development and tests only.
)";

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// GETs `url`; returns the HTTP status (0 when the request failed) and the body.
long Get(const std::string& url, std::string& body, std::string& error) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    error = "curl_easy_init failed";
    return 0;
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  long status = 0;
  CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  } else {
    error = curl_easy_strerror(rc);
  }
  curl_easy_cleanup(curl);
  return status;
}

int DevIssuerUsageError(const std::string& message) {
  std::fprintf(stderr, "safeflow dev-issuer: %s\n%s", message.c_str(), kDevIssuerUsage);
  return 2;
}

// "a,b" -> {"a", "b"}; "" -> {}; nullopt when an item is empty ("a,,b", "a,").
std::optional<std::vector<std::string>> SplitList(const std::string& s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t start = 0;
  while (true) {
    const size_t comma = s.find(',', start);
    std::string item =
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty()) return std::nullopt;
    out.push_back(std::move(item));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

// safeflow dev-issuer init|token ...; `args` follow "dev-issuer".
int DevIssuer(const std::vector<std::string>& args) {
  namespace auth = safeflow::service::auth;
  if (args.empty()) return DevIssuerUsageError("missing subcommand (init or token)");
  const std::string& sub = args[0];
  if (sub == "--help" || sub == "help") {
    std::fputs(kDevIssuerUsage, stdout);
    return 0;
  }
  if (sub != "init" && sub != "token") {
    return DevIssuerUsageError("unknown subcommand " + sub + " (init or token)");
  }
  const bool init = sub == "init";
  std::optional<std::string> dir;
  bool force = false;
  std::map<std::string, std::string> values;  // --sub, --roles, ... (token only)
  const std::set<std::string> value_flags = {"--sub", "--roles", "--projects",
                                             "--ttl", "--aud",   "--iss"};
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) {
      if (dir) return DevIssuerUsageError("more than one directory: " + *dir + ", " + a);
      if (a.empty()) return DevIssuerUsageError("the directory is empty");
      dir = a;
      continue;
    }
    const size_t eq = a.find('=');
    const std::string name = a.substr(0, eq);
    if (init && name == "--force" && eq == std::string::npos) {
      force = true;
      continue;
    }
    if (init || value_flags.count(name) == 0) {
      return DevIssuerUsageError("unknown option " + name + " for " + sub);
    }
    if (values.count(name) != 0) return DevIssuerUsageError(name + " given twice");
    if (eq != std::string::npos) {
      values[name] = a.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      values[name] = args[++i];
    } else {
      return DevIssuerUsageError(name + " needs a value");
    }
  }
  if (!dir) return DevIssuerUsageError("missing the directory DIR");

  if (init) {
    if (absl::Status s = auth::DevIssuerInit(*dir, force); !s.ok()) {
      std::fprintf(stderr, "safeflow dev-issuer init: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    std::printf("wrote %s/private.pem (mode 0600) and %s/jwks.json\n", dir->c_str(), dir->c_str());
    return 0;
  }

  auth::DevTokenRequest req;
  if (values.count("--sub") == 0 || values["--sub"].empty()) {
    return DevIssuerUsageError("token needs --sub NAME");
  }
  req.subject = values["--sub"];
  for (const auto& [flag, target] :
       {std::pair{"--roles", &req.roles}, std::pair{"--projects", &req.projects}}) {
    if (values.count(flag) == 0) continue;
    std::optional<std::vector<std::string>> list = SplitList(values[flag]);
    if (!list) return DevIssuerUsageError(std::string(flag) + ": empty item in the list");
    *target = *std::move(list);
  }
  if (values.count("--ttl") != 0) {
    const std::string& v = values["--ttl"];
    long long ttl = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), ttl);
    constexpr long long kMaxTtl = 366LL * 24 * 3600;
    if (ec != std::errc() || end != v.data() + v.size() || ttl <= 0 || ttl > kMaxTtl) {
      return DevIssuerUsageError("--ttl must be a number of seconds between 1 and " +
                                 std::to_string(kMaxTtl));
    }
    req.ttl = std::chrono::seconds(ttl);
  }
  if (values.count("--aud") != 0) {
    if (values["--aud"].empty()) return DevIssuerUsageError("--aud is empty");
    req.audience = values["--aud"];
  }
  if (values.count("--iss") != 0) {
    if (values["--iss"].empty()) return DevIssuerUsageError("--iss is empty");
    req.issuer = values["--iss"];
  }
  absl::StatusOr<std::string> token = auth::DevIssuerToken(*dir, req);
  if (!token.ok()) {
    std::fprintf(stderr, "safeflow dev-issuer token: %s\n",
                 std::string(token.status().message()).c_str());
    return 1;
  }
  std::printf("%s\n", token->c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string server =
      std::getenv("SAFEFLOW_SERVER") ? std::getenv("SAFEFLOW_SERVER") : "http://127.0.0.1:8080";
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() >= 2 && args[0] == "--server") {
    server = args[1];
    args.erase(args.begin(), args.begin() + 2);
  }
  while (!server.empty() && server.back() == '/') server.pop_back();
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc = 2;
  if (args[0] == "version") {
    std::printf("safeflow %s\n", safeflow::kVersion);
    rc = 0;
  } else if (args[0] == "health") {
    rc = 0;
    for (const char* path : {"/healthz", "/readyz"}) {
      std::string body, error;
      long status = Get(server + path, body, error);
      if (status == 0) {
        std::fprintf(stderr, "%s%s: %s\n", server.c_str(), path, error.c_str());
        rc = 1;
        break;
      }
      std::printf("%s %ld %s\n", path, status, body.c_str());
      if (status != 200) rc = 1;
    }
  } else if (args[0] == "dev-issuer") {
    rc = DevIssuer(std::vector<std::string>(args.begin() + 1, args.end()));
  } else if (args[0] == "data") {
    rc = safeflow::cli::DataCommand(server, std::vector<std::string>(args.begin() + 1, args.end()));
  } else if (args[0] == "workflow") {
    rc = safeflow::cli::WorkflowCommand(server,
                                        std::vector<std::string>(args.begin() + 1, args.end()));
  } else if (args[0] == "wes") {
    rc = safeflow::cli::WesCommand(server, std::vector<std::string>(args.begin() + 1, args.end()));
  } else if (args[0] == "airlock") {
    rc = safeflow::cli::AirlockCommand(server,
                                       std::vector<std::string>(args.begin() + 1, args.end()));
  } else if (args[0] == "check-outputs") {
    rc = safeflow::cli::CheckOutputsCommand(std::vector<std::string>(args.begin() + 1, args.end()));
  } else if (args[0] == "metrics") {
    std::string body, error;
    long status = Get(server + "/metrics", body, error);
    if (status == 200) {
      std::fputs(body.c_str(), stdout);
      rc = 0;
    } else {
      std::fprintf(stderr, "%s/metrics: %s\n", server.c_str(),
                   status == 0 ? error.c_str() : body.c_str());
      rc = 1;
    }
  } else {
    std::fprintf(stderr, "safeflow: unknown command %s\n%s", args[0].c_str(), kUsage);
  }
  curl_global_cleanup();
  return rc;
}
