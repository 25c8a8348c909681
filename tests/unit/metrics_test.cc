#include "service/api/metrics.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace safeflow::service {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, CountsByRouteMethodAndStatus) {
  Metrics m;
  m.ObserveRequest("GET", "/readyz", 200, 0.001);
  m.ObserveRequest("GET", "/readyz", 200, 0.002);
  m.ObserveRequest("GET", "/readyz", 503, 0.003);
  const std::string out = m.Render();
  EXPECT_THAT(out, HasSubstr("safeflow_http_requests_total{route=\"/readyz\",method=\"GET\","
                             "status=\"200\"} 2\n"));
  EXPECT_THAT(out, HasSubstr("status=\"503\"} 1\n"));
}

TEST(MetricsTest, HistogramIsCumulativeAndHasInfBucket) {
  Metrics m;
  m.ObserveRequest("GET", "/x", 200, 0.0004);  // first bucket
  m.ObserveRequest("GET", "/x", 200, 0.3);     // le=0.5
  m.ObserveRequest("GET", "/x", 200, 99);      // only +Inf
  const std::string out = m.Render();
  EXPECT_THAT(out, HasSubstr("_bucket{route=\"/x\",le=\"5e-04\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("_bucket{route=\"/x\",le=\"0.25\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("_bucket{route=\"/x\",le=\"0.5\"} 2\n"));
  EXPECT_THAT(out, HasSubstr("_bucket{route=\"/x\",le=\"10\"} 2\n"));
  EXPECT_THAT(out, HasSubstr("_bucket{route=\"/x\",le=\"+Inf\"} 3\n"));
  EXPECT_THAT(out, HasSubstr("safeflow_http_request_duration_seconds_count{route=\"/x\"} 3\n"));
}

TEST(MetricsTest, GaugesAreReadAtRenderAndGroupedByName) {
  Metrics m;
  int in_use = 1;
  m.AddGauge("safeflow_db_pool_connections", "help", "state=\"in_use\"", [&] { return in_use; });
  m.AddGauge("safeflow_a", "help a", "", [] { return 7.0; });
  m.AddGauge("safeflow_db_pool_connections", "help", "state=\"open\"", [] { return 3.0; });
  in_use = 2;
  const std::string out = m.Render();
  EXPECT_THAT(out, HasSubstr("safeflow_db_pool_connections{state=\"in_use\"} 2\n"
                             "safeflow_db_pool_connections{state=\"open\"} 3\n"));
  EXPECT_EQ(out.find("# TYPE safeflow_db_pool_connections gauge"),
            out.rfind("# TYPE safeflow_db_pool_connections gauge"));
}

TEST(MetricsTest, EscapesLabelValues) {
  EXPECT_EQ(Metrics::EscapeLabel("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

}  // namespace
}  // namespace safeflow::service
