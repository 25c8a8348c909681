// What a released file's download costs, against nginx sending the same bytes in the same run:
//   BM_NginxStaticFile     nginx (sendfile, one worker) serves the plaintext file on loopback:
//                          the reference
//   BM_SafeflowPlain       safeflowd's HTTP server streams the same plaintext file the way the
//                          airlock's download does (ZoneFile: hashed once, then hashed again
//                          while sent, the last piece held until it matched; 4 writes in
//                          flight)
//   BM_SafeflowSealed      the same from the file sealed at rest (AES-256-GCM chunks unsealed
//                          twice, once to hash and once to send)
// Each fetches the whole file with libcurl into a discarding callback and reports bytes/s and
// the process's peak RSS so far (the file is 256 MiB: a buffered download would show it).
// nginx must be installed (deploy/test.sh installs it). Run: build/<dir>/bench/bench_download
// [--size_mib=N] (default 256). Prints the ratio to nginx at the end.
#include <arpa/inet.h>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <netinet/in.h>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchmark/benchmark.h"
#include <curl/curl.h>

#include "executor/crypto/sealed_file.h"
#include "executor/crypto/x25519.h"
#include "service/airlock/zone_file.h"
#include "service/api/http_server.h"
#include "service/api/metrics.h"
#include "tests/testing/integration.h"
#include "tests/testing/process.h"

#include "bench/ratio_reporter.h"

namespace {

namespace crypto = safeflow::executor::crypto;
using safeflow::service::BodyWriter;
using safeflow::service::HttpRequest;
using safeflow::service::HttpResponse;

std::uint64_t g_size = std::uint64_t{256} << 20;

int FreePort() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

bool Accepts(int port) {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

// Everything the benchmarks share, made once: the files, nginx, and an HttpServer.
struct Fixture {
  safeflow::testing::TempDir dir;
  std::string plain_url, sealed_url;
  crypto::X25519KeyPair keys;
  safeflow::service::OutputKeyLookup key_for;
  pid_t nginx = -1;
  int nginx_port = 0;
  safeflow::service::Metrics metrics;
  std::unique_ptr<safeflow::service::HttpServer> server;
  std::string error;

  Fixture() {
    const std::string www = dir.path() + "/www";
    std::filesystem::create_directories(www);
    std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all |
                                                 std::filesystem::perms::others_exec |
                                                 std::filesystem::perms::group_exec);
    {
      std::ofstream out(www + "/file.bin", std::ios::binary);
      std::string block(1 << 20, '\0');
      for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>('a' + i % 26);
      for (std::uint64_t done = 0; done < g_size; done += block.size()) {
        out.write(block.data(), static_cast<std::streamsize>(
                                    std::min<std::uint64_t>(block.size(), g_size - done)));
      }
    }
    plain_url = "file://" + www + "/file.bin";
    keys = crypto::X25519KeyPair::Generate().value();
    if (!crypto::SealFile(www + "/file.bin", dir.path() + "/file.sealed", "outputs-demo",
                          keys.public_key)
             .ok()) {
      error = "sealing failed";
      return;
    }
    sealed_url = "file://" + dir.path() + "/file.sealed";
    key_for = [this](const std::string&, const std::string&) {
      crypto::SecretBytes k(keys.private_key.size());
      std::memcpy(k.data(), keys.private_key.data(), keys.private_key.size());
      return absl::StatusOr<crypto::SecretBytes>(std::move(k));
    };
    StartNginx(www);
    StartServer();
  }

  ~Fixture() {
    if (server) server->Shutdown();
    if (nginx > 0) {
      ::kill(nginx, SIGTERM);
      ::waitpid(nginx, nullptr, 0);
    }
  }

  void StartNginx(const std::string& www) {
    nginx_port = FreePort();
    const std::string d = dir.path();
    std::filesystem::create_directories(d + "/tmp");
    std::ofstream(d + "/nginx.conf")
        << (::geteuid() == 0 ? "user root;\n" : "") << "worker_processes 1;\n"
        << "daemon off;\nmaster_process off;\n"
        << "error_log " << d << "/error.log warn;\npid " << d << "/nginx.pid;\n"
        << "events { worker_connections 64; }\n"
        << "http {\n  access_log off;\n  sendfile on;\n"
        << "  client_body_temp_path " << d << "/tmp;\n  proxy_temp_path " << d << "/tmp;\n"
        << "  fastcgi_temp_path " << d << "/tmp;\n  uwsgi_temp_path " << d << "/tmp;\n"
        << "  scgi_temp_path " << d << "/tmp;\n"
        << "  server {\n    listen 127.0.0.1:" << nginx_port << ";\n    root " << www
        << ";\n    location / { }\n  }\n}\n";
    nginx = ::fork();
    if (nginx == 0) {
      const std::string conf = d + "/nginx.conf", log = d + "/error.log";
      ::execl("/usr/sbin/nginx", "nginx", "-e", log.c_str(), "-c", conf.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    if (!safeflow::testing::Eventually([&] { return Accepts(nginx_port); },
                                       std::chrono::seconds(10))) {
      error = "nginx did not start (is it installed?)";
    }
  }

  // The airlock download's work, on a route of a real HttpServer.
  HttpResponse Stream(const std::string& url) {
    absl::StatusOr<safeflow::service::ZoneFile> opened =
        safeflow::service::OpenZoneFile(url, "demo", key_for);
    if (!opened.ok()) return safeflow::service::ErrorResponse(opened.status());
    auto f = std::make_shared<safeflow::service::ZoneFile>(*std::move(opened));
    absl::StatusOr<safeflow::service::ZoneDigest> digest = f->Digest();
    if (!digest.ok()) return safeflow::service::ErrorResponse(digest.status());
    HttpResponse r;
    r.content_type = "application/octet-stream";
    r.stream_bytes = digest->size_bytes;
    r.stream = [f, expect = *digest](BodyWriter& out) {
      return f->ReadVerified(expect, [&out](std::string_view b) { return out.Write(b); });
    };
    return r;
  }

  void StartServer() {
    safeflow::service::ServerConfig c;
    c.listen = "127.0.0.1:0";
    server = std::make_unique<safeflow::service::HttpServer>(c, metrics);
    absl::Status s =
        server->HandleAll({{"GET", "/plain", [this](HttpRequest&) { return Stream(plain_url); },
                            safeflow::service::Access::Public()},
                           {"GET", "/sealed", [this](HttpRequest&) { return Stream(sealed_url); },
                            safeflow::service::Access::Public()}});
    if (s.ok()) s = server->Start();
    if (!s.ok()) error = std::string(s.message());
  }
};

Fixture* g_fixture = nullptr;  // made on first use, destroyed (nginx stopped) by main

Fixture& Shared() {
  if (g_fixture == nullptr) g_fixture = new Fixture();
  return *g_fixture;
}

size_t Discard(char*, size_t size, size_t n, void* counter) {
  *static_cast<std::uint64_t*>(counter) += size * n;
  return size * n;
}

void Fetch(benchmark::State& state, const std::string& url) {
  Fixture& f = Shared();
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  for (auto _ : state) {
    std::uint64_t got = 0;
    CURL* curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Discard);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &got);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    const CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK || status != 200 || got != g_size) {
      state.SkipWithError("the download failed or was short");
      return;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * g_size));
  // The whole process (server, client, fixture): far below the file's size when the download
  // streams.
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  state.counters["peak_rss_MiB"] = static_cast<double>(ru.ru_maxrss) / 1024.0;
}

void BM_NginxStaticFile(benchmark::State& state) {
  Fetch(state, "http://127.0.0.1:" + std::to_string(Shared().nginx_port) + "/file.bin");
}
void BM_SafeflowPlain(benchmark::State& state) {
  Fetch(state, "http://127.0.0.1:" + std::to_string(Shared().server->port()) + "/plain");
}
void BM_SafeflowSealed(benchmark::State& state) {
  Fetch(state, "http://127.0.0.1:" + std::to_string(Shared().server->port()) + "/sealed");
}
BENCHMARK(BM_NginxStaticFile)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SafeflowPlain)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SafeflowSealed)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--size_mib=", 11) == 0) {
      g_size = std::stoull(argv[i] + 11) << 20;
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  benchmark::Initialize(&argc, argv);
  safeflow::bench::RatioReporter reporter("BM_NginxStaticFile/real_time", "nginx");
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  delete g_fixture;
  return 0;
}
