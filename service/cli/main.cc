// safeflow: the command-line client. This first version checks a server's health; later
// issues add tasks, runs, admin and airlock commands.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <curl/curl.h>

#include "service/version.h"

namespace {

constexpr const char* kUsage = R"(usage: safeflow [--server URL] COMMAND
commands:
  version            print the client's version
  health             GET /healthz and /readyz; exit 0 only when the server is ready
  metrics            print the server's Prometheus metrics
The server defaults to $SAFEFLOW_SERVER, else http://127.0.0.1:8080.
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
