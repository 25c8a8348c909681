// service/api/metrics.h. Prometheus metrics (text exposition format 0.0.4) for safeflowd:
// HTTP requests by route, method and status, a latency histogram per route, and gauges read
// at scrape time (database pool in use, ...). Thread-safe.
#ifndef SAFEFLOW_SERVICE_API_METRICS_H_
#define SAFEFLOW_SERVICE_API_METRICS_H_

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace safeflow::service {

class Metrics {
 public:
  // Upper bounds (seconds) of the latency histogram's buckets; +Inf is implied.
  static constexpr std::array<double, 14> kLatencyBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

  Metrics() = default;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // `route` is the route's pattern (bounded cardinality), never the raw path.
  void ObserveRequest(const std::string& method, const std::string& route, int status,
                      double seconds);

  // A gauge whose value is read by `read` at every scrape. `labels` is `k="v",...` or empty.
  void AddGauge(const std::string& name, const std::string& help, const std::string& labels,
                std::function<double()> read);

  // The whole exposition, ending with a newline.
  std::string Render() const;

  // Escapes a label value as the exposition format requires (\\, \", \n).
  static std::string EscapeLabel(const std::string& v);

 private:
  struct Histogram {
    std::array<std::uint64_t, kLatencyBuckets.size()> buckets{};  // non-cumulative
    std::uint64_t count = 0;
    double sum = 0;
  };
  struct Gauge {
    std::string name, help, labels;
    std::function<double()> read;
  };

  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;  // guarded by mu_
  std::map<std::string, Histogram> latency_;                                     // guarded by mu_
  std::vector<Gauge> gauges_;                                                    // guarded by mu_
};

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_API_METRICS_H_
