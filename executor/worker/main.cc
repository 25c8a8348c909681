// safeflow-worker: the program that runs inside the sandbox, one per task or run. This first
// version answers --version / --help; task execution arrives with the TES backend.
#include <cstdio>
#include <cstring>

namespace {
constexpr const char* kVersion = "0.1.0";

void Usage(std::FILE* to) {
  std::fprintf(to,
               "usage: safeflow-worker --version | --help\n"
               "The sandboxed worker of SafeFlow; safeflowd starts it, people do not.\n");
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
  Usage(stderr);
  return 2;
}
