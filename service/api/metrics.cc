#include "service/api/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace safeflow::service {
namespace {

std::string FormatDouble(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
  if (ec != std::errc()) return absl::StrFormat("%.17g", v);
  return std::string(buf, end);
}

}  // namespace

std::string Metrics::EscapeLabel(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void Metrics::ObserveRequest(const std::string& method, const std::string& route, int status,
                             double seconds) {
  std::scoped_lock lock(mu_);
  ++requests_[{route, method, status}];
  Histogram& h = latency_[route];
  ++h.count;
  h.sum += seconds;
  for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (seconds <= kLatencyBuckets[i]) {
      ++h.buckets[i];
      break;
    }
  }
}

void Metrics::AddGauge(const std::string& name, const std::string& help, const std::string& labels,
                       std::function<double()> read) {
  std::scoped_lock lock(mu_);
  gauges_.push_back(Gauge{name, help, labels, std::move(read)});
}

std::string Metrics::Render() const {
  std::scoped_lock lock(mu_);
  std::string out;
  out +=
      "# HELP safeflow_http_requests_total HTTP requests answered, by route, method and status.\n"
      "# TYPE safeflow_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [route, method, status] = key;
    absl::StrAppend(&out, "safeflow_http_requests_total{route=\"", EscapeLabel(route),
                    "\",method=\"", EscapeLabel(method), "\",status=\"", status, "\"} ", n, "\n");
  }
  out +=
      "# HELP safeflow_http_request_duration_seconds Time from parsed request to response.\n"
      "# TYPE safeflow_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    const std::string r = EscapeLabel(route);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      cumulative += h.buckets[i];
      absl::StrAppend(&out, "safeflow_http_request_duration_seconds_bucket{route=\"", r, "\",le=\"",
                      FormatDouble(kLatencyBuckets[i]), "\"} ", cumulative, "\n");
    }
    absl::StrAppend(&out, "safeflow_http_request_duration_seconds_bucket{route=\"", r,
                    "\",le=\"+Inf\"} ", h.count, "\n");
    absl::StrAppend(&out, "safeflow_http_request_duration_seconds_sum{route=\"", r, "\"} ",
                    FormatDouble(h.sum), "\n");
    absl::StrAppend(&out, "safeflow_http_request_duration_seconds_count{route=\"", r, "\"} ",
                    h.count, "\n");
  }
  // Samples of one family must be contiguous: order gauges by name, keeping registration order.
  std::vector<const Gauge*> sorted;
  for (const Gauge& g : gauges_) sorted.push_back(&g);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Gauge* a, const Gauge* b) { return a->name < b->name; });
  std::set<std::string> described;
  for (const Gauge* gp : sorted) {
    const Gauge& g = *gp;
    if (described.insert(g.name).second) {
      absl::StrAppend(&out, "# HELP ", g.name, " ", g.help, "\n# TYPE ", g.name, " gauge\n");
    }
    absl::StrAppend(&out, g.name, g.labels.empty() ? "" : absl::StrCat("{", g.labels, "}"), " ",
                    FormatDouble(g.read()), "\n");
  }
  return out;
}

}  // namespace safeflow::service
