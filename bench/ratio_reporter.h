// bench/ratio_reporter.h. A console reporter that, after Google Benchmark's table, prints each
// benchmark's real time and its ratio to a reference benchmark measured in the same run.
#ifndef SAFEFLOW_BENCH_RATIO_REPORTER_H_
#define SAFEFLOW_BENCH_RATIO_REPORTER_H_

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"

namespace safeflow::bench {

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  // `reference`: the reference's full run name (e.g. "BM_BareBwrap/real_time"); `what`: how
  // the heading names it (e.g. "bare bwrap").
  RatioReporter(std::string reference, std::string what)
      : reference_(std::move(reference)), what_(std::move(what)) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type == Run::RT_Iteration && !r.error_occurred) {
        times_[r.benchmark_name()] = r.GetAdjustedRealTime();
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    auto ref = times_.find(reference_);
    if (ref == times_.end() || ref->second <= 0) return;
    std::printf("\nratios to %s (%.2f ms each):\n", what_.c_str(), ref->second);
    for (const auto& [name, t] : times_) {
      std::printf("  %-44s %.2f ms  x%.2f\n", name.c_str(), t, t / ref->second);
    }
  }

 private:
  const std::string reference_, what_;
  std::map<std::string, double> times_;
};

}  // namespace safeflow::bench

#endif  // SAFEFLOW_BENCH_RATIO_REPORTER_H_
