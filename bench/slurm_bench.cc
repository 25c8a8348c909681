// What a task costs through SafeFlow's SLURM backend, against bare SLURM in the same run:
//   BM_BareSbatch      `sbatch --parsable --wrap true`, then `scontrol show job` every 50 ms
//                      until COMPLETED (the reference)
//   BM_SafeflowSlurm   POST a one-executor TES task (`true`) to a real safeflowd whose default
//                      backend is SLURM, then GET it every 50 ms until COMPLETE: sbatch,
//                      safeflow-node, the attested worker in bubblewrap, the relay over HTTP,
//                      squeue tracking and the database writes
// Needs a running cluster (SLURM_CONF; deploy/slurm/cluster.sh start DIR) and root (the
// sandbox user, the embedded PostgreSQL). Run: SLURM_CONF=... build/<dir>/bench/bench_slurm
// Prints the ratio to the reference at the end.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "benchmark/benchmark.h"
#include "nlohmann/json.hpp"

#include "tests/testing/integration.h"
#include "tests/testing/process.h"
#include "tests/testing/tes_client.h"

#include "bench/ratio_reporter.h"

namespace {

using nlohmann::json;
using safeflow::testing::RunProgram;
using Clock = std::chrono::steady_clock;

std::string JobState(const std::string& id) {
  std::string out;
  RunProgram({"/usr/bin/scontrol", "--oneliner", "show", "job", id}, out);
  const size_t at = out.find("JobState=");
  if (at == std::string::npos) return "";
  return out.substr(at + 9, out.find(' ', at) - at - 9);
}

void BM_BareSbatch(benchmark::State& state) {
  for (auto _ : state) {
    std::string out;
    if (RunProgram({"/usr/bin/sbatch", "--parsable", "--wrap", "true", "--output=/dev/null"},
                   out) != 0) {
      state.SkipWithError(("sbatch failed: " + out).c_str());
      return;
    }
    const std::string id = out.substr(0, out.find_first_of(";\n"));
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    std::string st;
    while ((st = JobState(id)) != "COMPLETED" && Clock::now() < deadline) {
      if (st == "FAILED" || st == "CANCELLED") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (st != "COMPLETED") {
      state.SkipWithError(("job ended " + st).c_str());
      return;
    }
  }
}
BENCHMARK(BM_BareSbatch)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(8);

struct Server {
  std::unique_ptr<safeflow::testing::TempDir> tmp;
  std::unique_ptr<safeflow::testing::SafeflowdProcess> process;
  std::unique_ptr<safeflow::testing::TesClient> client;
};

Server* StartServer() {
  static Server* server = [] {
    auto s = new Server;
    s->tmp = std::make_unique<safeflow::testing::TempDir>();
    const std::string config = s->tmp->path() + "/safeflowd.yaml";
    const char* conf = std::getenv("SLURM_CONF");
    std::FILE* f = std::fopen(config.c_str(), "w");
    std::fprintf(f,
                 "log:\n  level: warn\n"
                 "environments:\n  - name: host\n    root: /\n    aliases: [ubuntu]\n"
                 "backends:\n  default: slurm\n"
                 "slurm:\n  enabled: true\n  slurm_conf: %s\n  poll_interval_ms: 100\n"
                 "scheduler:\n  poll_interval_ms: 100\n",
                 conf == nullptr ? "/etc/slurm/slurm.conf" : conf);
    std::fclose(f);
    s->process = std::make_unique<safeflow::testing::SafeflowdProcess>(
        s->tmp->path() + "/data", std::vector<std::string>{"--config", config});
    if (!s->process->WaitReady()) {
      std::fprintf(stderr, "safeflowd did not start:\n%s\n", s->process->log().c_str());
      std::exit(1);
    }
    s->client = std::make_unique<safeflow::testing::TesClient>(s->process->url() + "/ga4gh/tes/v1");
    return s;
  }();
  return server;
}

void BM_SafeflowSlurm(benchmark::State& state) {
  Server* s = StartServer();
  const json task = {{"executors", {{{"image", "ubuntu"}, {"command", {"true"}}}}}};
  for (auto _ : state) {
    const safeflow::testing::HttpResult created = s->client->Create(task);
    if (created.status != 200) {
      state.SkipWithError(("create: " + created.body).c_str());
      return;
    }
    const std::string id = json::parse(created.body)["id"].get<std::string>();
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    std::string st;
    while (Clock::now() < deadline) {
      const safeflow::testing::HttpResult r = s->client->Get(id);
      st = json::parse(r.body, nullptr, false).value("state", "");
      if (safeflow::testing::IsTerminalState(st)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (st != "COMPLETE") {
      state.SkipWithError(("task ended " + st).c_str());
      return;
    }
  }
}
BENCHMARK(BM_SafeflowSlurm)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(8);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (std::getenv("SLURM_CONF") == nullptr) {
    std::fprintf(stderr, "bench_slurm: set SLURM_CONF to a running cluster's slurm.conf\n");
    return 2;
  }
  safeflow::bench::RatioReporter reporter("BM_BareSbatch/iterations:8/real_time",
                                          "bare sbatch -> COMPLETED");
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
