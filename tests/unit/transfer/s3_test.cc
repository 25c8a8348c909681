// S3 request URLs and the ListObjectsV2 / error document extraction.
#include "executor/transfer/s3.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace safeflow::executor::transfer::detail {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Field;

S3Config PathStyle() {
  return S3Config{
      .endpoint = "http://127.0.0.1:4568/", .access_key_id = "a", .secret_access_key = "b"};
}

TEST(S3UrlTest, ObjectUrlsEncodeKeysOnceKeepingSlashes) {
  EXPECT_EQ(S3ObjectUrl(PathStyle(), "bucket", "dir/my file+x (1)~.txt"),
            "http://127.0.0.1:4568/bucket/dir/my%20file%2Bx%20%281%29~.txt");
  EXPECT_EQ(S3ObjectUrl(PathStyle(), "bucket", "r\xc3\xa9sum\xc3\xa9"),
            "http://127.0.0.1:4568/bucket/r%C3%A9sum%C3%A9");
  S3Config vhost = PathStyle();
  vhost.endpoint = "https://minio.example:9000";
  vhost.path_style = false;
  EXPECT_EQ(S3ObjectUrl(vhost, "bucket", "a/b"), "https://bucket.minio.example:9000/a/b");
}

TEST(S3UrlTest, ListUrlsAreInCanonicalOrder) {
  EXPECT_EQ(S3ListUrl(PathStyle(), "bucket", "dir with space/", "", 1000),
            "http://127.0.0.1:4568/bucket?encoding-type=url&list-type=2&max-keys=1000"
            "&prefix=dir%20with%20space%2F");
  EXPECT_EQ(S3ListUrl(PathStyle(), "bucket", "", "tok+/=", 2),
            "http://127.0.0.1:4568/bucket?continuation-token=tok%2B%2F%3D&encoding-type=url"
            "&list-type=2&max-keys=2&prefix=");
  S3Config vhost = PathStyle();
  vhost.path_style = false;
  EXPECT_EQ(S3ListUrl(vhost, "bucket", "p/", "", 5),
            "http://bucket.127.0.0.1:4568/?encoding-type=url&list-type=2&max-keys=5&prefix=p%2F");
}

TEST(XmlTest, DecodesEntitiesAndCdata) {
  EXPECT_EQ(DecodeXmlText("a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos;"),
            "a & b <c> \"d\" 'e'");
  EXPECT_EQ(DecodeXmlText("&#96;&#x60;&#xE9;&#x1F600;"), "``\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(DecodeXmlText("<![CDATA[a &amp; <b>]]> &amp;"), "a &amp; <b> &");
  // Unknown or malformed entities stay as written.
  EXPECT_EQ(DecodeXmlText("&nbsp; & &#xZZ; &#0; &#xD800; &amp"),
            "&nbsp; & &#xZZ; &#0; &#xD800; &amp");
}

constexpr char kPage[] = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name><Prefix>dir/</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <Contents>
    <Key>dir/a &amp; b.txt</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>
    <ETag>&quot;abc&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents><Key>dir/sub/&#x60;tick&#x60;</Key><Size>0</Size>
    <Owner><ID>x</ID><DisplayName>y</DisplayName></Owner></Contents>
  <Contents><Key>dir/r&#xE9;sum&#xE9; &lt;1&gt;</Key><Size> 18446744073709551615 </Size></Contents>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
</ListBucketResult>)";

TEST(ListObjectsV2Test, ExtractsKeysSizesAndContinuation) {
  absl::StatusOr<S3ListPage> page = ParseListObjectsV2(kPage);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->objects, ElementsAre(Field(&S3Object::key, "dir/a & b.txt"),
                                         Field(&S3Object::key, "dir/sub/`tick`"),
                                         Field(&S3Object::key, "dir/r\xc3\xa9sum\xc3\xa9 <1>")));
  EXPECT_EQ(page->objects[0].size, 12u);
  EXPECT_EQ(page->objects[1].size, 0u);
  EXPECT_EQ(page->objects[2].size, 18446744073709551615u);
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
}

TEST(ListObjectsV2Test, EmptyAndLastPages) {
  absl::StatusOr<S3ListPage> page = ParseListObjectsV2(
      "<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>"
      "<NextContinuationToken/></ListBucketResult>");
  ASSERT_THAT(page, IsOk());
  EXPECT_TRUE(page->objects.empty());
  EXPECT_FALSE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "");
}

TEST(ListObjectsV2Test, UrlEncodingTypeDecodesKeys) {
  absl::StatusOr<S3ListPage> page = ParseListObjectsV2(
      "<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
      "<Contents><Key>dir/a+b%2Bc%0A%C3%A9</Key><Size>1</Size></Contents></ListBucketResult>");
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "dir/a b+c\n\xc3\xa9");
}

TEST(ListObjectsV2Test, KeyCountAndPrefixElementsAreNotKeys) {
  // <KeyCount> starts like <Key>, a <Prefix> inside <CommonPrefixes> is no object.
  absl::StatusOr<S3ListPage> page = ParseListObjectsV2(
      "<ListBucketResult><KeyCount>1</KeyCount><CommonPrefixes><Prefix>p/</Prefix>"
      "</CommonPrefixes><Contents><Size>3</Size><Key >k</Key ></Contents></ListBucketResult>");
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "k");
  EXPECT_EQ(page->objects[0].size, 3u);
}

TEST(ListObjectsV2Test, RejectsBrokenDocuments) {
  for (const char* bad : {
           "",
           "<Error><Code>AccessDenied</Code></Error>",
           "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
           "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
           "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
           "<ListBucketResult><Contents><Key>k</Key><Size>1x</Size></Contents></ListBucketResult>",
           "<ListBucketResult><Contents><Key>k</Key><Size>99999999999999999999</Size></Contents>"
           "</ListBucketResult>",
           "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
           "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>%zz</Key>"
           "<Size>1</Size></Contents></ListBucketResult>",
       }) {
    EXPECT_THAT(ParseListObjectsV2(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
}

TEST(S3ErrorSummaryTest, CodeAndMessage) {
  EXPECT_EQ(S3ErrorSummary("<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The "
                           "specified key does not exist.</Message><Key>a&amp;b</Key></Error>"),
            "NoSuchKey: The specified key does not exist.");
  EXPECT_EQ(S3ErrorSummary("<Error><Code>AccessDenied</Code></Error>"), "AccessDenied");
  EXPECT_EQ(S3ErrorSummary("not xml"), "");
}

}  // namespace
}  // namespace safeflow::executor::transfer::detail
