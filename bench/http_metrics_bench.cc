// Micro-benchmarks of the per-request work safeflowd adds to every HTTP call: route matching
// and metrics recording. Run: build/bench/bench_http_metrics
#include "benchmark/benchmark.h"

#include "service/api/metrics.h"
#include "service/api/router.h"

namespace safeflow::service {
namespace {

Router MakeRouter() {
  Router r;
  for (const char* p : {"/healthz", "/readyz", "/metrics", "/ga4gh/tes/v1/tasks",
                        "/ga4gh/tes/v1/tasks/{id}", "/ga4gh/tes/v1/tasks/{id}:cancel",
                        "/ga4gh/tes/v1/service-info", "/v1/tasks", "/v1/tasks/{id}"}) {
    (void)r.Add(Route{"GET", p, [](HttpRequest&) { return HttpResponse{}; }, Dispatch::kInline});
  }
  return r;
}

void BM_RouteMatch(benchmark::State& state) {
  Router r = MakeRouter();
  for (auto _ : state) {
    benchmark::DoNotOptimize(r.Match("GET", "/ga4gh/tes/v1/tasks/d1f3a2b4:cancel"));
  }
}
BENCHMARK(BM_RouteMatch);

void BM_ObserveRequest(benchmark::State& state) {
  Metrics m;
  for (auto _ : state) m.ObserveRequest("GET", "/ga4gh/tes/v1/tasks/{id}", 200, 0.0012);
}
BENCHMARK(BM_ObserveRequest);

}  // namespace
}  // namespace safeflow::service

BENCHMARK_MAIN();
