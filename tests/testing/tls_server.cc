#include "tests/testing/tls_server.h"

#include <arpa/inet.h>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/testing/loopback_server.h"
#include "tests/testing/process.h"

namespace safeflow::testing {

bool MakeLoopbackCertificate(const std::string& cert, const std::string& key, std::string& output) {
  return RunProgram(
             {"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
              "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
              "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert},
             output) == 0;
}

TlsServer::TlsServer(const std::string& dir, const std::string& cert, const std::string& key) {
  port_ = FreeLoopbackPort();  // s_server cannot be told to use port 0
  if (port_ == 0) return;
  const std::string accept = "127.0.0.1:" + std::to_string(port_);
  pid_ = ::fork();
  if (pid_ == 0) {
    if (::chdir(dir.c_str()) != 0) ::_exit(126);
    const int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::execl("/usr/bin/openssl", "openssl", "s_server", "-quiet", "-WWW", "-accept", accept.c_str(),
            "-cert", cert.c_str(), "-key", key.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
}

TlsServer::~TlsServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

bool TlsServer::WaitReady() const {
  return pid_ > 0 && Eventually(
                         [&] {
                           const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                           sockaddr_in addr{};
                           addr.sin_family = AF_INET;
                           addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                           addr.sin_port = htons(static_cast<uint16_t>(port_));
                           const bool ok =
                               ::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
                           ::close(s);
                           return ok;
                         },
                         std::chrono::seconds(10));
}

}  // namespace safeflow::testing
