#include "tests/integration/frontdoor/frontdoor_fixture.h"

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

#include "tests/testing/process.h"

namespace safeflow::testing {
namespace {

constexpr const char* kBash = "/bin/bash";

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

struct HeaderSink {
  std::map<std::string, std::string>* headers;
  std::vector<std::string>* status_lines;
};

size_t OnHeaderLine(char* data, size_t size, size_t n, void* out) {
  auto* sink = static_cast<HeaderSink*>(out);
  std::string line(absl::StripTrailingAsciiWhitespace(std::string(data, size * n)));
  if (absl::StartsWith(line, "HTTP/")) {
    sink->status_lines->push_back(line);
    sink->headers->clear();  // keep the headers of the last (final) response only
  } else if (size_t colon = line.find(':'); colon != std::string::npos) {
    (*sink->headers)[absl::AsciiStrToLower(line.substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return size * n;
}

struct BodySource {
  const std::string* body;
  size_t offset = 0;
};

size_t ReadBody(char* buffer, size_t size, size_t n, void* in) {
  auto* src = static_cast<BodySource*>(in);
  const size_t len = std::min(size * n, src->body->size() - src->offset);
  std::memcpy(buffer, src->body->data() + src->offset, len);
  src->offset += len;
  return len;
}

}  // namespace

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::trunc) << content;
}

bool FileExists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

std::string MakePkiPath() { return std::string(SAFEFLOW_SOURCE_DIR) + "/deploy/tls/make-pki.sh"; }
std::string NginxShPath() { return std::string(SAFEFLOW_SOURCE_DIR) + "/deploy/lib/nginx.sh"; }

int RunScript(const std::string& script, const std::vector<std::string>& args, std::string& out) {
  std::vector<std::string> argv = {kBash, script};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv, out);
}

std::string MissingTools() {
  if (!FileExists("/usr/sbin/nginx")) return "nginx is not installed (/usr/sbin/nginx)";
  if (!FileExists("/usr/bin/openssl")) return "openssl is not installed";
  return "";
}

std::string UrlEscape(const std::string& s) {
  CURL* c = curl_easy_init();
  char* e = curl_easy_escape(c, s.data(), static_cast<int>(s.size()));
  std::string out(e);
  curl_free(e);
  curl_easy_cleanup(c);
  return out;
}

std::string UrlUnescape(const std::string& s) {
  CURL* c = curl_easy_init();
  int len = 0;
  char* d = curl_easy_unescape(c, s.data(), static_cast<int>(s.size()), &len);
  std::string out(d, static_cast<size_t>(len));
  curl_free(d);
  curl_easy_cleanup(c);
  return out;
}

// ---------------------------------------------------------------------------------------------

NginxFrontDoor::NginxFrontDoor(std::string dir, std::string pki_dir, std::string upstream,
                               std::vector<std::string> extra_args)
    : dir_(std::move(dir)),
      pki_dir_(std::move(pki_dir)),
      upstream_(std::move(upstream)),
      extra_args_(std::move(extra_args)) {}

NginxFrontDoor::~NginxFrontDoor() { Stop(); }

bool NginxFrontDoor::Start() {
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = FreeLoopbackPort();
    std::vector<std::string> args = {
        "start",      dir_,      "--listen", absl::StrCat("127.0.0.1:", port_),
        "--upstream", upstream_, "--pki",    pki_dir_};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    std::string out;
    const int rc = RunScript(NginxShPath(), args, out);
    script_output_ += out;
    if (rc == 0) {
      running_ = true;
      return absl::StrContains(out, "https://127.0.0.1:" + std::to_string(port_));
    }
    if (!absl::StrContains(ReadFile(dir_ + "/logs/error.log") + out, "Address already in use")) {
      return false;
    }
  }
  return false;
}

bool NginxFrontDoor::Reload() {
  std::string out;
  const int rc = RunScript(NginxShPath(), {"reload", dir_}, out);
  script_output_ += out;
  return rc == 0;
}

bool NginxFrontDoor::Stop() {
  if (!running_) return true;
  std::string out;
  const int rc = RunScript(NginxShPath(), {"stop", dir_}, out);
  script_output_ += out;
  running_ = rc != 0;
  return rc == 0;
}

std::string NginxFrontDoor::log() const {
  return absl::StrCat("nginx.sh output:\n", script_output_, "\nerror.log:\n",
                      ReadFile(dir_ + "/logs/error.log"));
}

// ---------------------------------------------------------------------------------------------

TlsClient::TlsClient() : curl_(curl_easy_init()) {}
TlsClient::~TlsClient() { curl_easy_cleanup(curl_); }

TlsResponse TlsClient::Do(const std::string& url, const TlsRequest& req) {
  TlsResponse r;
  HeaderSink sink{&r.headers, &r.status_lines};
  BodySource source{&req.body};
  CURL* c = curl_;
  curl_easy_reset(c);  // options only: the connection cache stays
  curl_slist* headers = nullptr;
  for (const std::string& h : req.headers) headers = curl_slist_append(headers, h.c_str());
  headers = curl_slist_append(headers, req.expect_100 ? "Expect: 100-continue" : "Expect:");
  curl_slist* resolve = nullptr;
  if (absl::StartsWith(url, "https://localhost:")) {
    std::string port(url.substr(std::strlen("https://localhost:")));
    port = port.substr(0, port.find('/'));
    resolve = curl_slist_append(resolve, ("localhost:" + port + ":127.0.0.1").c_str());
    curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
  }
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  if (req.chunked) {
    headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadBody);
    curl_easy_setopt(c, CURLOPT_READDATA, &source);
  } else if (req.method == "POST" || req.method == "PUT" || req.method == "PATCH" ||
             !req.body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeaderLine);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req.timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  // Only the given CA: never the system store.
  curl_easy_setopt(c, CURLOPT_CAINFO, req.ca_file.empty() ? "/dev/null" : req.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);
  if (!req.cert_file.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, req.cert_file.c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEY, req.key_file.c_str());
  }
  if (!req.source_address.empty()) {
    curl_easy_setopt(c, CURLOPT_INTERFACE, ("host!" + req.source_address).c_str());
  }
  if (req.ssl_version != 0) curl_easy_setopt(c, CURLOPT_SSLVERSION, req.ssl_version);
  if (!req.ciphers.empty()) curl_easy_setopt(c, CURLOPT_SSL_CIPHER_LIST, req.ciphers.c_str());
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);

  const auto start = std::chrono::steady_clock::now();
  const CURLcode rc = curl_easy_perform(c);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (rc == CURLE_OK) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  } else {
    r.error = absl::StrCat(curl_easy_strerror(rc), ": ", error);
  }
  curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r.new_connections);
  curl_easy_getinfo(c, CURLINFO_SSL_VERIFYRESULT, &r.ssl_verify_result);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  curl_slist_free_all(headers);
  curl_slist_free_all(resolve);
  return r;
}

// ---------------------------------------------------------------------------------------------

StubUpstream::StubUpstream()
    : server_([](const CapturedRequest&) {
        return CannedResponse{200, {{"Content-Type", "application/json"}}, R"({"stub":true})"};
      }) {}

std::vector<StubUpstream::Seen> StubUpstream::seen() const {
  std::vector<Seen> out;
  for (const CapturedRequest& req : server_.requests()) {
    Seen s;
    s.peer_address = req.peer_address;
    s.request_line = absl::StrCat(req.method, " ", req.target, " ", req.version);
    for (const auto& [name, value] : req.headers)
      s.headers.emplace(absl::AsciiStrToLower(name), value);
    s.body_bytes = req.body.size();
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace safeflow::testing
