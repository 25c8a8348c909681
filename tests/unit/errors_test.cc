#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "service/api/http.h"

namespace safeflow::service {
namespace {

TEST(ErrorResponseTest, MapsStatusCodesToHttp) {
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kFailedPrecondition), 409);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInternal), 500);
}

TEST(ErrorResponseTest, BodyIsGa4ghErrorShape) {
  HttpResponse r = ErrorResponse(absl::NotFoundError("task abc not found"));
  EXPECT_EQ(r.status, 404);
  nlohmann::json j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["msg"], "task abc not found");
  EXPECT_EQ(j["status_code"], 404);
  EXPECT_EQ(j.size(), 2u);
}

TEST(ErrorResponseTest, InternalDetailsAreNeverSent) {
  HttpResponse r = ErrorResponse(absl::InternalError("SQL error 42P01: relation tasks missing"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(nlohmann::json::parse(r.body)["msg"], "internal error");
}

TEST(ErrorResponseTest, UnavailableCarriesRetryAfter) {
  HttpResponse r = ErrorResponse(absl::UnavailableError("database unreachable"));
  ASSERT_EQ(r.status, 503);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Retry-After");
}

TEST(ErrorResponseTest, InvalidUtf8InMessageDoesNotThrow) {
  HttpResponse r = ErrorResponse(400, std::string("bad byte \xff here"));
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(nlohmann::json::accept(r.body));
}

TEST(ParseRangeTest, ServesOneRangeAndIgnoresWhatItDoesNotServe) {
  auto range = [](std::string_view h, std::uint64_t size) { return ParseRange(h, size); };
  RangeRequest r = range("bytes=0-99", 1000);
  ASSERT_TRUE(r.range.has_value());
  EXPECT_EQ(r.range->first, 0u);
  EXPECT_EQ(r.range->count, 100u);
  r = range("bytes=900-", 1000);
  ASSERT_TRUE(r.range.has_value());
  EXPECT_EQ(r.range->first, 900u);
  EXPECT_EQ(r.range->count, 100u);
  r = range("bytes=999-5000", 1000);  // clipped to the end
  ASSERT_TRUE(r.range.has_value());
  EXPECT_EQ(r.range->first, 999u);
  EXPECT_EQ(r.range->count, 1u);
  r = range("bytes=-10", 1000);  // the last ten
  ASSERT_TRUE(r.range.has_value());
  EXPECT_EQ(r.range->first, 990u);
  EXPECT_EQ(r.range->count, 10u);
  r = range("bytes=-5000", 1000);
  ASSERT_TRUE(r.range.has_value());
  EXPECT_EQ(r.range->first, 0u);
  EXPECT_EQ(r.range->count, 1000u);
  // At or past the end: 416.
  EXPECT_TRUE(range("bytes=1000-", 1000).unsatisfiable);
  EXPECT_TRUE(range("bytes=0-", 0).unsatisfiable);
  EXPECT_TRUE(range("bytes=-1", 0).unsatisfiable);
  // Not served: the whole body.
  for (std::string_view h : {"", "bytes=", "bytes=5", "bytes=9-3", "bytes=0-1,5-6", "items=0-1",
                             "bytes=a-b", "bytes=-0", "bytes=-", "bytes=99999999999999999999-"}) {
    RangeRequest whole = range(h, 1000);
    EXPECT_FALSE(whole.range.has_value()) << h;
    EXPECT_FALSE(whole.unsatisfiable) << h;
  }
}

}  // namespace
}  // namespace safeflow::service
