#include "service/api/multipart.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace safeflow::service {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::IsOkAndHolds;
using ::safeflow::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;
using ::testing::SizeIs;

constexpr std::string_view kB = "b0undary";

std::string Field(std::string_view name, std::string_view value) {
  return "--" + std::string(kB) + "\r\nContent-Disposition: form-data; name=\"" +
         std::string(name) + "\"\r\n\r\n" + std::string(value) + "\r\n";
}

std::string File(std::string_view name, std::string_view filename, std::string_view type,
                 std::string_view data) {
  return "--" + std::string(kB) + "\r\nContent-Disposition: form-data; name=\"" +
         std::string(name) + "\"; filename=\"" + std::string(filename) +
         "\"\r\nContent-Type: " + std::string(type) + "\r\n\r\n" + std::string(data) + "\r\n";
}

std::string Close() { return "--" + std::string(kB) + "--\r\n"; }

template <typename T>
std::string Message(const absl::StatusOr<T>& s) {
  return std::string(s.status().message());
}

TEST(MultipartBoundaryTest, AcceptsTokenAndQuotedBoundaries) {
  EXPECT_THAT(MultipartBoundary("multipart/form-data; boundary=abc"), IsOkAndHolds("abc"));
  EXPECT_THAT(MultipartBoundary("Multipart/Form-Data;BOUNDARY=\"a b'()+_,-./:=?\""),
              IsOkAndHolds("a b'()+_,-./:=?"));
  EXPECT_THAT(MultipartBoundary("multipart/form-data; charset=utf-8; Boundary=x-1 "),
              IsOkAndHolds("x-1"));
  EXPECT_THAT(MultipartBoundary("multipart/form-data; boundary=" + std::string(70, 'a')),
              IsOkAndHolds(std::string(70, 'a')));
}

TEST(MultipartBoundaryTest, RefusesBadContentTypes) {
  for (const std::string& ct : std::vector<std::string>{
           "",
           "application/json; boundary=abc",
           "multipart/mixed; boundary=abc",
           "multipart/form-data",
           "multipart/form-data; boundary=",
           "multipart/form-data; boundary=\"\"",
           "multipart/form-data; boundary=" + std::string(71, 'a'),
           "multipart/form-data; boundary=\"a b \"",
           "multipart/form-data; boundary=a!b",
           "multipart/form-data; boundary=\"a\\\"b\"",
           "multipart/form-data; boundary=\"abc",
           "multipart/form-data; boundary=a; boundary=b",
           "multipart/form-data boundary=a",
       }) {
    EXPECT_THAT(MultipartBoundary(ct), StatusIs(absl::StatusCode::kInvalidArgument)) << ct;
  }
  EXPECT_THAT(Message(MultipartBoundary("multipart/form-data; boundary=" + std::string(71, 'a'))),
              HasSubstr("longer than 70"));
  EXPECT_THAT(Message(MultipartBoundary("multipart/form-data")), HasSubstr("missing boundary"));
}

TEST(MultipartParserTest, ParsesFieldsAndFiles) {
  const std::string body =
      Field("a", "1") +
      File("f", "x.bin", "application/octet-stream", std::string("\0\x01\xff", 3)) + Close();
  absl::StatusOr<std::vector<MultipartPart>> parts = ParseMultipart(body, kB);
  ASSERT_THAT(parts, IsOk());
  ASSERT_THAT(*parts, SizeIs(2));
  EXPECT_EQ((*parts)[0].name, "a");
  EXPECT_EQ((*parts)[0].filename, std::nullopt);
  EXPECT_EQ((*parts)[0].content_type, "text/plain");
  EXPECT_EQ((*parts)[0].data, "1");
  EXPECT_EQ((*parts)[1].name, "f");
  EXPECT_THAT((*parts)[1].filename, Optional(std::string("x.bin")));
  EXPECT_EQ((*parts)[1].content_type, "application/octet-stream");
  EXPECT_EQ((*parts)[1].data, std::string("\0\x01\xff", 3));
}

TEST(MultipartParserTest, ParsesAWesRunRequest) {
  const std::string params = R"({"input": {"n": 3}, "s": "a\r\nb"})";
  const std::string body =
      Field("workflow_params", params) + Field("workflow_type", "CWL") +
      Field("workflow_type_version", "v1.2") + Field("tags", R"({"project": "x"})") +
      Field("workflow_engine_parameters", R"({"--cache": "off"})") +
      Field("workflow_url", "main.cwl") +
      File("workflow_attachment", "main.cwl", "text/plain", "cwlVersion: v1.2") +
      File("workflow_attachment", "tools/sub/echo.cwl", "text/yaml", "class: CommandLineTool\r\n") +
      Close();
  std::vector<MultipartPart> parts;
  MultipartParser parser(kB, {}, [&parts](MultipartPart p) {
    parts.push_back(std::move(p));
    return absl::OkStatus();
  });
  ASSERT_THAT(parser.Feed(body), IsOk());
  ASSERT_THAT(parser.Finish(), IsOk());
  EXPECT_EQ(parser.parts(), 8u);
  ASSERT_THAT(parts, SizeIs(8));
  EXPECT_EQ(parts[0].data, params);
  EXPECT_EQ(parts[3].data, R"({"project": "x"})");
  EXPECT_EQ(parts[4].name, "workflow_engine_parameters");
  EXPECT_THAT(parts[6].filename, Optional(std::string("main.cwl")));
  EXPECT_THAT(parts[7].filename, Optional(std::string("tools/sub/echo.cwl")));
  EXPECT_EQ(parts[7].content_type, "text/yaml");
  EXPECT_EQ(parts[7].data, "class: CommandLineTool\r\n");
  for (const MultipartPart& p : parts) {
    if (p.filename) {
      EXPECT_THAT(SafeRelativePath(*p.filename), IsOkAndHolds(*p.filename));
    }
  }
}

TEST(MultipartParserTest, EveryChunkingGivesTheSameParts) {
  const std::string body = "pre\r\n" + Field("a", "x\r\n--b0u") + Field("b", "") +
                           File("c", "d/e", "text/plain", "--b0undary-") + Close() + "epi";
  absl::StatusOr<std::vector<MultipartPart>> expected = ParseMultipart(body, kB);
  ASSERT_THAT(expected, IsOk());
  ASSERT_THAT(*expected, SizeIs(3));
  for (std::size_t chunk = 1; chunk <= body.size(); ++chunk) {
    std::vector<MultipartPart> parts;
    MultipartParser parser(kB, {}, [&parts](MultipartPart p) {
      parts.push_back(std::move(p));
      return absl::OkStatus();
    });
    for (std::size_t i = 0; i < body.size(); i += chunk) {
      ASSERT_THAT(parser.Feed(std::string_view(body).substr(i, chunk)), IsOk()) << chunk;
    }
    ASSERT_THAT(parser.Finish(), IsOk()) << chunk;
    ASSERT_THAT(parts, SizeIs(3)) << chunk;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      EXPECT_EQ(parts[i].name, (*expected)[i].name) << chunk;
      EXPECT_EQ(parts[i].filename, (*expected)[i].filename) << chunk;
      EXPECT_EQ(parts[i].data, (*expected)[i].data) << chunk;
    }
  }
}

TEST(MultipartParserTest, DataMayContainBoundaryPrefixes) {
  const std::string tricky =
      "--b0undary\r\n--b0undar\r\n--b0undarx\r-\r\n-\n--b0undary--\rX--b0undary";
  absl::StatusOr<std::vector<MultipartPart>> parts =
      ParseMultipart(Field("a", tricky) + Close(), kB);
  ASSERT_THAT(parts, IsOk());
  ASSERT_THAT(*parts, SizeIs(1));
  EXPECT_EQ((*parts)[0].data, tricky);
}

TEST(MultipartParserTest, AFullDelimiterWithJunkInsideDataIsAnError) {
  // RFC 2046: the delimiter must not appear in the data; "CRLF--boundaryX" is refused.
  absl::StatusOr<std::vector<MultipartPart>> parts =
      ParseMultipart(Field("a", "x\r\n--b0undaryX") + Close(), kB);
  EXPECT_THAT(parts, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Message(parts), HasSubstr("bad boundary line"));
}

TEST(MultipartParserTest, IgnoresPreambleEpilogueAndTransportPadding) {
  const std::string body =
      "This is a preamble.\r\n--b0undary\r\n--b0undary \t\r\n"
      "content-disposition: FORM-DATA; NAME=a\r\n\r\nv\r\n--b0undary-- \t\r\n"
      "epilogue --b0undary junk\r\n";
  // A "--b0undary" line ends the preamble wherever it is: here the next line, which is not a
  // header, makes the body invalid.
  EXPECT_THAT(ParseMultipart(body, kB), StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string ok =
      "This is a preamble.\r\n--b0undary \t\r\n"
      "content-disposition: FORM-DATA; NAME=a\r\n\r\nv\r\n--b0undary-- \t\r\n"
      "epilogue --b0undary junk\r\n";
  absl::StatusOr<std::vector<MultipartPart>> parts = ParseMultipart(ok, kB);
  ASSERT_THAT(parts, IsOk());
  ASSERT_THAT(*parts, SizeIs(1));
  EXPECT_EQ((*parts)[0].name, "a");
  EXPECT_EQ((*parts)[0].data, "v");
  // No CRLF after the close delimiter at the very end is fine too.
  EXPECT_THAT(ParseMultipart(Field("a", "v") + "--b0undary--", kB), IsOk());
}

TEST(MultipartParserTest, QuotedNamesAndParameters) {
  const std::string body =
      "--b0undary\r\nContent-Disposition: form-data; filename=\"a \\\"q\\\".txt\";"
      " name=\"we;ird \\\\ name\"\r\nX-Other: ignored\r\n\r\nd\r\n" +
      Close();
  absl::StatusOr<std::vector<MultipartPart>> parts = ParseMultipart(body, kB);
  ASSERT_THAT(parts, IsOk());
  ASSERT_THAT(*parts, SizeIs(1));
  EXPECT_EQ((*parts)[0].name, "we;ird \\ name");
  EXPECT_THAT((*parts)[0].filename, Optional(std::string("a \"q\".txt")));
}

TEST(MultipartParserTest, RefusesMalformedBodies) {
  struct Case {
    std::string body;
    std::string message;
  };
  const std::string cd = "Content-Disposition: form-data; name=a\r\n";
  for (const Case& c : std::vector<Case>{
           {Field("a", "1"), "missing closing boundary"},
           {Field("a", "1") + "--b0undary", "missing closing boundary"},
           {"--b0undary\r\n" + cd, "missing closing boundary"},
           {"no delimiter at all", "no boundary delimiter"},
           {"", "no boundary delimiter"},
           {"--b0undary\r\nContent-Type: text/plain\r\n\r\nx\r\n" + Close(),
            "no Content-Disposition"},
           {"--b0undary\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n" + Close(),
            "must be form-data"},
           {"--b0undary\r\nContent-Disposition: form-data; filename=a\r\n\r\nx\r\n" + Close(),
            "name"},
           {"--b0undary\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nx\r\n" + Close(),
            "name"},
           {"--b0undary\r\n" + cd + "Bad header\r\n\r\nx\r\n" + Close(), "bad header line"},
           {"--b0undary\r\n" + cd + "X: a\n\r\nx\r\n" + Close(), "bare LF"},
           {"--b0undary\r\n" + cd + " folded\r\n\r\nx\r\n" + Close(), "folding"},
           {"--b0undary\r\n" + cd + cd + "\r\nx\r\n" + Close(), "duplicate Content-Disposition"},
           {"--b0undary\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''x\r\n\r\n\r\n" +
                Close(),
            "filename*"},
           {"--b0undary\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n" + Close(),
            "unterminated"},
           {Field("a", "1") + "--b0undary--junk", "after the close delimiter"},
           {Field("a", "1") + "--b0undary-- x", "after the close delimiter"},
           {Field("a", "1") + "--b0undary--\r", "CR without LF"},
           {Field("a", "1") + "--b0undary-x", "bad boundary line"},
           {"--b0undary \t-\r\n" + cd + "\r\n\r\n" + Close(), "bad boundary line"},
           {"--b0undary\rx", "CR without LF"},
       }) {
    absl::StatusOr<std::vector<MultipartPart>> parts = ParseMultipart(c.body, kB);
    EXPECT_THAT(parts, StatusIs(absl::StatusCode::kInvalidArgument)) << c.body;
    EXPECT_THAT(Message(parts), HasSubstr(c.message)) << c.body;
  }
}

TEST(MultipartParserTest, ErrorsAreStickyAndCallbackErrorsAbort) {
  MultipartParser parser(kB, {}, [](MultipartPart) { return absl::CancelledError("stop"); });
  EXPECT_THAT(parser.Feed(Field("a", "1") + Close()), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(parser.Feed("x"), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(parser.Finish(), StatusIs(absl::StatusCode::kCancelled));
  MultipartParser empty("", {}, nullptr);
  EXPECT_THAT(empty.Feed(Field("a", "1") + Close()), StatusIs(absl::StatusCode::kInvalidArgument));
  MultipartParser done(kB, {}, nullptr);
  ASSERT_THAT(done.Feed(Field("a", "1") + Close()), IsOk());
  ASSERT_THAT(done.Finish(), IsOk());
  EXPECT_THAT(done.Feed("x"), StatusIs(absl::StatusCode::kInvalidArgument));
}

// Each limit: accepted exactly at it, refused one past it.
TEST(MultipartLimitsTest, MaxParts) {
  MultipartLimits limits;
  limits.max_parts = 2;
  EXPECT_THAT(ParseMultipart(Field("a", "1") + Field("b", "2") + Close(), kB, limits), IsOk());
  absl::StatusOr<std::vector<MultipartPart>> r =
      ParseMultipart(Field("a", "1") + Field("b", "2") + Field("c", "3") + Close(), kB, limits);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(Message(r), HasSubstr("max_parts"));
}

TEST(MultipartLimitsTest, MaxHeaderBytes) {
  const std::string line = "Content-Disposition: form-data; name=a\r\n";
  const std::string body = "--b0undary\r\n" + line + "\r\nx\r\n" + Close();
  MultipartLimits limits;
  limits.max_header_bytes = line.size();
  EXPECT_THAT(ParseMultipart(body, kB, limits), IsOk());
  limits.max_header_bytes = line.size() - 1;
  absl::StatusOr<std::vector<MultipartPart>> r = ParseMultipart(body, kB, limits);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(Message(r), HasSubstr("max_header_bytes"));
  // An endless header line is refused without waiting for its end.
  MultipartParser parser(kB, limits, nullptr);
  EXPECT_THAT(parser.Feed("--b0undary\r\n" + std::string(line.size() + 1, 'X')),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(MultipartLimitsTest, MaxFieldBytes) {
  MultipartLimits limits;
  limits.max_field_bytes = 10;
  EXPECT_THAT(ParseMultipart(Field("a", std::string(10, 'v')) + Close(), kB, limits), IsOk());
  absl::StatusOr<std::vector<MultipartPart>> r =
      ParseMultipart(Field("a", std::string(11, 'v')) + Close(), kB, limits);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(Message(r), HasSubstr("max_field_bytes"));
  // A file part is held to max_file_bytes instead.
  EXPECT_THAT(ParseMultipart(File("f", "x", "a/b", std::string(11, 'v')) + Close(), kB, limits),
              IsOk());
}

TEST(MultipartLimitsTest, MaxFileBytes) {
  MultipartLimits limits;
  limits.max_file_bytes = 10;
  EXPECT_THAT(ParseMultipart(File("f", "x", "a/b", std::string(10, 'v')) + Close(), kB, limits),
              IsOk());
  absl::StatusOr<std::vector<MultipartPart>> r =
      ParseMultipart(File("f", "x", "a/b", std::string(11, 'v')) + Close(), kB, limits);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(Message(r), HasSubstr("max_file_bytes"));
}

TEST(MultipartLimitsTest, MaxTotalBytes) {
  const std::string body = Field("a", "1") + Close() + "epilogue";
  MultipartLimits limits;
  limits.max_total_bytes = body.size();
  EXPECT_THAT(ParseMultipart(body, kB, limits), IsOk());
  limits.max_total_bytes = body.size() - 1;
  absl::StatusOr<std::vector<MultipartPart>> r = ParseMultipart(body, kB, limits);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(Message(r), HasSubstr("max_total_bytes"));
}

TEST(SafeRelativePathTest, AcceptsNestedRelativePaths) {
  EXPECT_THAT(SafeRelativePath("main.cwl"), IsOkAndHolds("main.cwl"));
  EXPECT_THAT(SafeRelativePath("tools/sub/echo.cwl"), IsOkAndHolds("tools/sub/echo.cwl"));
  EXPECT_THAT(SafeRelativePath("a/.hidden/..b/c..d/100%.txt"),
              IsOkAndHolds("a/.hidden/..b/c..d/100%.txt"));
  // Found by the fuzzer (an oracle bug there): a component may start with "..".
  EXPECT_THAT(SafeRelativePath("..uz!tname=="), IsOkAndHolds("..uz!tname=="));
  EXPECT_THAT(SafeRelativePath(std::string(255, 'a') + "/" + std::string(255, 'b')), IsOk());
}

TEST(SafeRelativePathTest, RefusesUnsafePaths) {
  struct Case {
    std::string path;
    std::string message;
  };
  std::string long_path;
  while (long_path.size() <= 4096) long_path += std::string(200, 'a') + "/";
  long_path += "x";
  for (const Case& c : std::vector<Case>{
           {"", "empty"},
           {"../x", "'..'"},
           {"x/..", "'..'"},
           {"a/../b", "'..'"},
           {"./a", "'.'"},
           {"/etc/passwd", "absolute"},
           {"a//b", "empty component"},
           {"a/", "empty component"},
           {"a\\b", "backslash"},
           {"..\\x", "backslash"},
           {"%2e%2e/x", "percent-encoded"},
           {"%2E%2E%2Fx", "percent-encoded"},
           {"a%2fb", "percent-encoded"},
           {"%252e%252e/x", "percent-encoded"},
           {"a%00b", "percent-encoded"},
           {std::string("a\0b", 3), "NUL"},
           {"a\nb", "control character"},
           {"a\x7f", "control character"},
           {std::string(256, 'a'), "component longer than 255"},
           {"x/" + std::string(256, 'a'), "component longer than 255"},
           {long_path, "longer than 4096"},
       }) {
    absl::StatusOr<std::string> r = SafeRelativePath(c.path);
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument)) << c.path;
    EXPECT_THAT(Message(r), HasSubstr(c.message)) << c.path;
  }
}

}  // namespace
}  // namespace safeflow::service
