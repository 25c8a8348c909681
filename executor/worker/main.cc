// safeflow-worker: the program that runs inside the sandbox, one per task. safeflowd starts it
// under bwrap as
//   safeflow-worker run --spec FILE --events-fd N
// See executor/worker/worker.h for what it does and executor/worker/protocol.h for the spec
// and the events.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "executor/worker/worker.h"

// In sanitizer builds: LeakSanitizer needs ptrace, which the sandbox's seccomp filter denies,
// so leak checking at exit would turn every run into a failure. Unused in normal builds.
extern "C" const char* __lsan_default_options() { return "detect_leaks=0"; }

namespace {
constexpr const char* kVersion = "0.1.0";

void Usage(std::FILE* to) {
  std::fprintf(to,
               "usage: safeflow-worker run --spec FILE --events-fd N\n"
               "       safeflow-worker --version | --help\n"
               "The sandboxed worker of SafeFlow; safeflowd starts it, people do not.\n"
               "  run   run the task in the JSON spec FILE, writing one JSON event per line\n"
               "        to descriptor N; exits 0 once it has reported the task's end\n");
}

bool ParseFd(const char* s, int& fd) {
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 1 << 20) return false;
  fd = static_cast<int>(v);
  return true;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("safeflow-worker %s\n", kVersion);
    return 0;
  }
  if (argc == 2 && std::strcmp(argv[1], "--help") == 0) {
    Usage(stdout);
    return 0;
  }
  if (argc >= 2 && std::strcmp(argv[1], "run") == 0) {
    std::string spec;
    int events_fd = -1;
    for (int i = 2; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--spec" && i + 1 < argc) {
        spec = argv[++i];
      } else if (arg == "--events-fd" && i + 1 < argc && ParseFd(argv[i + 1], events_fd)) {
        ++i;
      } else {
        std::fprintf(stderr, "safeflow-worker: bad argument %s\n", arg.c_str());
        Usage(stderr);
        return 2;
      }
    }
    if (spec.empty() || events_fd < 0) {
      Usage(stderr);
      return 2;
    }
    return safeflow::executor::worker::RunWorker(spec, events_fd);
  }
  Usage(stderr);
  return 2;
}
