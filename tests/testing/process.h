// tests/testing/process.h. Runs a real safeflowd for a test: its own data directory, port 0,
// stderr captured to a file; waits for <data_dir>/safeflowd.addr. The destructor SIGKILLs a
// process still running (and reaps it).
#ifndef SAFEFLOW_TESTS_TESTING_PROCESS_H_
#define SAFEFLOW_TESTS_TESTING_PROCESS_H_

#include <chrono>
#include <string>
#include <sys/types.h>
#include <vector>

namespace safeflow::testing {

class SafeflowdProcess {
 public:
  // `args` are extra flags; `env` extra "K=V" entries.
  SafeflowdProcess(std::string data_dir, std::vector<std::string> args = {},
                   std::vector<std::string> env = {});
  ~SafeflowdProcess();
  SafeflowdProcess(const SafeflowdProcess&) = delete;
  SafeflowdProcess& operator=(const SafeflowdProcess&) = delete;

  // Waits until the address file appears (true) or the process exits / times out (false).
  bool WaitReady(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Sends `sig` and waits for the exit; returns the exit code (128+signal when killed), or -1 on
  // timeout.
  int Stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Waits for the process to exit by itself; exit code as above, -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);
  bool running();

  std::string url() const { return "http://" + address_; }
  pid_t pid() const { return pid_; }
  std::string log() const;  // everything it wrote to stderr/stdout so far

 private:
  std::string data_dir_;
  std::string log_path_;
  std::string address_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

// Runs a program to completion; returns its exit code and fills `output` (stdout+stderr).
int RunProgram(const std::vector<std::string>& argv, std::string& output,
               const std::vector<std::string>& env = {});

// Polls `pred` every 50 ms until it is true or `timeout` passes.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  return pred();
}

}  // namespace safeflow::testing

#endif  // SAFEFLOW_TESTS_TESTING_PROCESS_H_
