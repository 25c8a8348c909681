// What a task cannot do from inside its sandbox: reach the network, see the host's or another
// task's files, write outside its own writable directories, exceed its resources.
#include <atomic>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/integration/tes_api/tes_fixture.h"

namespace safeflow::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

class IsolationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new TesServer();
    ready_ = server_->Start();
  }
  static void TearDownTestSuite() {
    server_->process->Stop(SIGTERM);
    delete server_;
  }
  void SetUp() override { ASSERT_TRUE(ready_) << server_->process->log(); }
  const TesClient& tes() { return *server_->client; }
  static inline TesServer* server_ = nullptr;
  static inline bool ready_ = false;
};

// A TCP server on 127.0.0.1 that counts the connections it accepts.
class LoopbackListener {
 public:
  LoopbackListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (true) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        if (stop_) {
          ::close(c);
          return;
        }
        ++accepted_;
        ::close(c);
      }
    });
  }
  ~LoopbackListener() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(IsolationTest, NoNetworkNotEvenLoopback) {
  LoopbackListener listener;
  // The listener works from outside the sandbox.
  std::string out;
  ASSERT_EQ(RunProgram({"/bin/bash", "-c",
                        "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(listener.port())},
                       out),
            0)
      << out;
  ASSERT_TRUE(Eventually([&] { return listener.accepted() == 1; }, 5s));
  json t = BashTask("exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(listener.port()) +
                    " && echo CONNECTED");
  json full = tes().WaitFor(tes().CreateOk(t));
  EXPECT_EQ(full["state"], "EXECUTOR_ERROR") << full.dump(2);
  EXPECT_THAT(full["logs"][0]["logs"][0].value("stdout", ""),
              ::testing::Not(HasSubstr("CONNECTED")));
  EXPECT_EQ(listener.accepted(), 1);
  json ifaces =
      tes().WaitFor(tes().CreateOk(BashTask("cat /proc/net/dev | tail -n +3 | cut -d: -f1")));
  EXPECT_EQ(ifaces["logs"][0]["logs"][0]["stdout"], "    lo\n") << ifaces.dump(2);
}

TEST_F(IsolationTest, HostFilesAreNotVisible) {
  WriteAll(server_->in_root + "/not-an-input.txt", "secret\n");
  json t = BashTask(
      "for p in /etc/shadow /root " + server_->in_root + "/not-an-input.txt " + server_->data_dir +
      " " + server_->data_dir +
      "/pg /home; do "
      "  if cat \"$p\" >/dev/null 2>&1 || ls \"$p\" >/dev/null 2>&1; then echo \"SEES $p\"; fi; "
      "done; echo checked");
  json full = tes().WaitFor(tes().CreateOk(t));
  ASSERT_EQ(full["state"], "COMPLETE") << full.dump(2);
  EXPECT_EQ(full["logs"][0]["logs"][0]["stdout"], "checked\n");
}

TEST_F(IsolationTest, AnotherTasksFilesAndProcessesAreNotVisible) {
  // Task a writes its secret into its own writable /work (its workdir) and keeps running.
  json secret = BashTask("echo private > /work/secret.txt && exec sleep 3737");
  secret["executors"][0]["workdir"] = "/work";
  const std::string a = tes().CreateOk(secret);
  tes().WaitFor(a, {"RUNNING"});
  ASSERT_TRUE(Eventually(
      [] {
        std::string out;
        return RunProgram({"/usr/bin/pgrep", "-f", "sleep 3737"}, out) == 0;
      },
      std::chrono::seconds(20)));
  json b = BashTask(
      "ls /work/secret.txt 2>/dev/null && echo FOUND; "
      "find / -xdev -name secret.txt 2>/dev/null | grep -q . && echo FOUND2; "
      "ls /proc | grep -E '^[0-9]+$' | while read p; do tr '\\0' ' ' < /proc/$p/cmdline; echo; "
      "done | grep -q 'sleep 37[3]7' && echo SEES_PROCESS; echo checked");
  json full = tes().WaitFor(tes().CreateOk(b));
  ASSERT_EQ(full["state"], "COMPLETE") << full.dump(2);
  EXPECT_EQ(full["logs"][0]["logs"][0]["stdout"], "checked\n");
  EXPECT_EQ(tes().GetJson(a)["state"], "RUNNING") << "task a must still hold its secret";
  ASSERT_EQ(tes().Cancel(a).status, 200);
}

TEST_F(IsolationTest, WritesOutsideWritableDirectoriesFail) {
  json t = BashTask(
      "for p in /usr/evil /etc/evil /evil /bin/evil /data/in.txt /proc/evil; do "
      "  (echo x > \"$p\") 2>/dev/null && echo \"WROTE $p\"; "
      "done; echo ok > /tmp/fine && echo ok > /work/fine && echo checked");
  t["inputs"] = {{{"path", "/data/in.txt"}, {"content", "read only\n"}}};
  t["executors"][0]["workdir"] = "/work";
  json full = tes().WaitFor(tes().CreateOk(t));
  ASSERT_EQ(full["state"], "COMPLETE") << full.dump(2);
  EXPECT_EQ(full["logs"][0]["logs"][0]["stdout"], "checked\n");
}

TEST_F(IsolationTest, MemoryAndDiskLimitsAreEnforced) {
  json mem = BashTask("python3 -c 'b = bytearray(700 * 1024 * 1024); print(len(b))'");
  mem["resources"] = {{"ram_gb", 0.25}};
  json full = tes().WaitFor(tes().CreateOk(mem));
  EXPECT_EQ(full["state"], "EXECUTOR_ERROR") << full.dump(2);
  EXPECT_THAT(full["logs"][0]["logs"][0].value("stderr", ""), HasSubstr("MemoryError"));

  json disk = BashTask("dd if=/dev/zero of=/work/big bs=1M count=64 2>&1; echo rc=$?");
  disk["executors"][0]["workdir"] = "/work";
  disk["resources"] = {{"disk_gb", 0.016}};
  full = tes().WaitFor(tes().CreateOk(disk));
  ASSERT_EQ(full["state"], "COMPLETE") << full.dump(2);
  EXPECT_THAT(full["logs"][0]["logs"][0]["stdout"].get<std::string>(),
              HasSubstr("No space left on device"));
}

TEST_F(IsolationTest, DangerousSyscallsAreRefused) {
  json t = BashTask(
      "python3 - <<'EOF'\n"
      "import ctypes, os\n"
      "libc = ctypes.CDLL(None, use_errno=True)\n"
      "for name, nr, args in [('ptrace', 101, (0, 0, 0, 0)), ('mount', 165, (0, 0, 0, 0, 0)),\n"
      "                       ('unshare', 272, (0x10000000,)), ('keyctl', 250, (0, 0, 0, 0, 0)),\n"
      "                       ('bpf', 321, (0, 0, 0))]:\n"
      "    r = libc.syscall(nr, *args)\n"
      "    print(name, r, os.strerror(ctypes.get_errno()))\n"
      "EOF");
  json full = tes().WaitFor(tes().CreateOk(t));
  ASSERT_EQ(full["state"], "COMPLETE") << full.dump(2);
  const std::string out = full["logs"][0]["logs"][0]["stdout"];
  for (const char* name : {"ptrace", "mount", "unshare", "keyctl", "bpf"}) {
    EXPECT_THAT(out, HasSubstr(std::string(name) + " -1 Operation not permitted")) << out;
  }
}

}  // namespace
}  // namespace safeflow::testing
