// What a WES run costs, against the bare engine on the same workflow and data in the same run:
//   BM_BareSnakemake   `snakemake --cores 1` on workflows/cohort-counts and a 2000-patient
//                      synthetic cohort in a fresh directory, with the environment the
//                      sandbox gives (PATH=/usr/bin:/bin, HOME, TZ, LC_ALL; the reference: the
//                      engine alone, no sandbox, no service)
//   BM_WesSnakemake    POST the same run to a real safeflowd over WES (admission: the approved
//                      bundle, the JSON Schema, the database), then GET its status every 50 ms
//                      until COMPLETE: scheduling, staging, the attested worker in bubblewrap,
//                      the engine, the outputs
// Needs root (the sandbox user, the embedded PostgreSQL) and the test build (it drives
// safeflowd with the tests' helpers). Run: build/<dir>/bench/bench_wes
// Prints the ratio to the reference at the end.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "benchmark/benchmark.h"
#include "nlohmann/json.hpp"

#include "tests/integration/wes/wes_fixture.h"

#include "bench/ratio_reporter.h"

namespace {

using nlohmann::json;
using safeflow::testing::RunProgram;
using safeflow::testing::WesServer;
using Clock = std::chrono::steady_clock;

WesServer* Server() {
  static WesServer* server = [] {
    auto* s = new WesServer();
    s->cohort_rows = 2000;
    if (!s->Start("log:\n  level: warn\n") || s->RegisterAndApprove("cohort-counts").empty()) {
      std::fprintf(stderr, "bench_wes: safeflowd did not start or the workflow was refused:\n%s\n",
                   s->server.process ? s->server.process->log().c_str() : "");
      std::exit(1);
    }
    return s;
  }();
  return server;
}

json Params(const std::string& cohort) {
  json p = json::parse(safeflow::testing::ReadAll(safeflow::testing::WorkflowDir("cohort-counts") +
                                                  "/example-params.json"));
  p["cohort"] = cohort;
  return p;
}

void BM_BareSnakemake(benchmark::State& state) {
  WesServer* s = Server();
  const std::string cohort = s->cohort_url.substr(std::string("file://").size());
  safeflow::testing::TempDir tmp;
  json params = Params(cohort);
  const std::string params_file = tmp.path() + "/params.json";
  safeflow::testing::WriteAll(params_file, params.dump());
  int i = 0;
  for (auto _ : state) {
    const std::string out = tmp.path() + "/out" + std::to_string(i++);
    std::string log;
    const int rc = RunProgram(
        {"/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "HOME=" + tmp.path(), "TZ=UTC",
         "LC_ALL=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "/usr/bin/snakemake", "--snakefile",
         safeflow::testing::WorkflowDir("cohort-counts") + "/Snakefile", "--directory", out,
         "--configfile", params_file, "--cores", "1", "--nocolor", "--quiet"},
        log);
    if (rc != 0) {
      state.SkipWithError(("snakemake failed: " + log).c_str());
      return;
    }
  }
}
BENCHMARK(BM_BareSnakemake)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

void BM_WesSnakemake(benchmark::State& state) {
  WesServer* s = Server();
  const std::vector<safeflow::testing::FormPart> form =
      WesServer::RunForm("safeflow:cohort-counts@1.0.0", "SMK", "7.21", Params(s->cohort_url));
  for (auto _ : state) {
    const safeflow::testing::HttpResult r = s->PostForm("alice", "/ga4gh/wes/v1/runs", form);
    if (r.status != 200) {
      state.SkipWithError(("submit: " + r.body).c_str());
      return;
    }
    const std::string id = json::parse(r.body)["run_id"];
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    std::string st;
    while (Clock::now() < deadline) {
      const safeflow::testing::HttpResult g =
          s->Call("alice", "GET", "/ga4gh/wes/v1/runs/" + id + "/status");
      st = json::parse(g.body, nullptr, false).value("state", "");
      if (safeflow::testing::IsTerminalState(st)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (st != "COMPLETE") {
      state.SkipWithError(("run ended " + st).c_str());
      return;
    }
  }
}
BENCHMARK(BM_WesSnakemake)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  safeflow::bench::RatioReporter reporter("BM_BareSnakemake/iterations:5/real_time",
                                          "bare snakemake on the same workflow and data");
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
