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

}  // namespace
}  // namespace safeflow::service
