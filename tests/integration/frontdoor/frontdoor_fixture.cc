#include "tests/integration/frontdoor/frontdoor_fixture.h"

#include <arpa/inet.h>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
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

int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
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

StubUpstream::StubUpstream() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
    return;
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

StubUpstream::~StubUpstream() { Close(); }

void StubUpstream::Close() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

std::vector<StubUpstream::Seen> StubUpstream::seen() {
  std::scoped_lock lock(mu_);
  return seen_;
}

void StubUpstream::Serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    sockaddr_in peer{};
    socklen_t len = sizeof(peer);
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd < 0) continue;
    char ip[INET_ADDRSTRLEN] = {0};
    ::inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
    HandleConnection(fd, ip);
    ::close(fd);
  }
}

// One request per connection (answers Connection: close). Reads the head, then Content-Length
// bytes of body; a chunked body is read until its terminating chunk.
void StubUpstream::HandleConnection(int fd, const std::string& peer) {
  std::string data;
  char buf[65536];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto read_more = [&]() {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) return std::chrono::steady_clock::now() < deadline;
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) return false;
    data.append(buf, static_cast<size_t>(n));
    return true;
  };
  size_t head_end;
  while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
    if (!read_more()) return;
  }
  Seen s;
  s.peer_address = peer;
  std::istringstream head(data.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  s.request_line = std::string(absl::StripTrailingAsciiWhitespace(line));
  while (std::getline(head, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    s.headers.emplace(absl::AsciiStrToLower(line.substr(0, colon)),
                      std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  size_t length = 0;
  if (absl::SimpleAtoi(s.get("content-length"), &length)) {
    while (data.size() - head_end - 4 < length) {
      if (!read_more()) break;
    }
    s.body_bytes = data.size() - head_end - 4;
  } else if (absl::StrContains(s.get("transfer-encoding"), "chunked")) {
    while (data.find("\r\n0\r\n\r\n", head_end) == std::string::npos) {
      if (!read_more()) break;
    }
    s.body_bytes = data.size() - head_end - 4;
  }
  {
    std::scoped_lock lock(mu_);
    seen_.push_back(std::move(s));
  }
  const std::string body = R"({"stub":true})";
  const std::string response = absl::StrCat(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ", body.size(),
      "\r\nConnection: close\r\n\r\n", body);
  size_t off = 0;
  while (off < response.size()) {
    ssize_t n = ::write(fd, response.data() + off, response.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

}  // namespace safeflow::testing
