// JWKS parsing (RSA and EC P-256 public keys; private members, weak keys, off-curve points and
// unsupported types), base64url, RFC 7638 thumbprints, key lookup, the file source's reload on
// change and URL option checks (no network).
#include "service/auth/jwks.h"

#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <openssl/evp.h>

#include "tests/testing/integration.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_keys.h"

namespace safeflow::service::auth {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::JwkOf;
using ::safeflow::testing::NewKey;
using ::safeflow::testing::P256;
using ::safeflow::testing::Rsa2048;
using ::safeflow::testing::StatusIs;
using ::safeflow::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Code = absl::StatusCode;
using json = nlohmann::json;

std::string Jwks(std::vector<json> keys) { return json{{"keys", keys}}.dump(); }

// The RSA public key of RFC 7517 appendix A.1 / RFC 7638 section 3.1.
const json kRfcRsaJwk = {
    {"kty", "RSA"},
    {"n",
     "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
     "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
     "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
     "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"},
    {"e", "AQAB"},
    {"alg", "RS256"},
    {"kid", "2011-04-29"}};

TEST(Base64UrlTest, Rfc4648Vectors) {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64UrlEncode(plain), encoded);
    EXPECT_THAT(Base64UrlDecode(encoded), ::safeflow::testing::IsOkAndHolds(plain)) << encoded;
  }
}

TEST(Base64UrlTest, DecodeIsStrict) {
  for (const char* bad : {"Zg==", "Zm8=", "Zm9v\n", " Zm9v", "Zm 9v", "Zm+v", "Zm/v", "Z", "Zm9vY",
                          "Zh", "Zm9", "Zm\x80v", "Zm.v"}) {
    EXPECT_THAT(Base64UrlDecode(bad), StatusIs(Code::kInvalidArgument)) << bad;
  }
  EXPECT_THAT(Base64UrlDecode("Zg=="), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(Base64UrlDecode(std::string("Zm\0v", 4)), StatusIs(Code::kInvalidArgument));
}

TEST(JwkThumbprintTest, Rfc7638Example) {
  EXPECT_THAT(JwkThumbprint(kRfcRsaJwk),
              ::safeflow::testing::IsOkAndHolds("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"));
  EXPECT_THAT(JwkThumbprint(json{{"kty", "oct"}, {"k", "abc"}}), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(JwkThumbprint(json{{"kty", "EC"}, {"crv", "P-256"}, {"x", "abc"}}),
              StatusIs(Code::kInvalidArgument));
}

TEST(ParseJwksTest, RfcRsaKey) {
  absl::StatusOr<std::vector<Jwk>> keys = ParseJwks(Jwks({kRfcRsaJwk}));
  ASSERT_THAT(keys, IsOk());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].kid, "2011-04-29");
  EXPECT_EQ((*keys)[0].kty, "RSA");
  EXPECT_EQ((*keys)[0].alg, "RS256");
  EXPECT_EQ((*keys)[0].use, "");
  ASSERT_NE((*keys)[0].key, nullptr);
  EXPECT_EQ(EVP_PKEY_get_bits((*keys)[0].key.get()), 2048);
}

TEST(ParseJwksTest, RsaAndEcKeysRoundTripThroughPublicJwk) {
  json ec = JwkOf(P256(), "ec-1");
  ec["use"] = "sig";
  ec["alg"] = "ES256";
  ec["key_ops"] = {"verify"};
  absl::StatusOr<std::vector<Jwk>> keys = ParseJwks(Jwks({JwkOf(Rsa2048(), "rsa-1"), ec}));
  ASSERT_THAT(keys, IsOk());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].kid, "rsa-1");
  EXPECT_EQ((*keys)[0].alg, "RS256");
  EXPECT_EQ((*keys)[1].kid, "ec-1");
  EXPECT_EQ((*keys)[1].kty, "EC");
  EXPECT_EQ((*keys)[1].alg, "ES256");
  EXPECT_EQ((*keys)[1].use, "sig");
  EXPECT_EQ(EVP_PKEY_eq((*keys)[0].key.get(), &Rsa2048()), 1);
  EXPECT_EQ(EVP_PKEY_eq((*keys)[1].key.get(), &P256()), 1);
  // The parsed keys are public only.
  EXPECT_EQ(PublicJwk(*(*keys)[1].key).value(), PublicJwk(P256()).value());
}

TEST(ParseJwksTest, PrivateMembersAreRefusedForThatKey) {
  json rsa = JwkOf(Rsa2048(), "rsa-private");
  rsa["d"] = "AQAB";
  json ec = JwkOf(P256(), "ec-private");
  ec["d"] = "AQAB";
  json rsa_p = JwkOf(Rsa2048(), "rsa-p");
  rsa_p["p"] = "AQAB";
  absl::StatusOr<std::vector<Jwk>> only_private = ParseJwks(Jwks({rsa, ec, rsa_p}));
  ASSERT_THAT(only_private, StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(only_private.status().message(), HasSubstr("private key member \"d\""));
  EXPECT_THAT(only_private.status().message(), HasSubstr("rsa-p"));

  absl::StatusOr<std::vector<Jwk>> mixed = ParseJwks(Jwks({rsa, JwkOf(P256(), "good"), ec}));
  ASSERT_THAT(mixed, IsOk());
  ASSERT_EQ(mixed->size(), 1u);
  EXPECT_EQ((*mixed)[0].kid, "good");
}

TEST(ParseJwksTest, SmallRsaKeyIsRefused) {
  std::shared_ptr<EVP_PKEY> small = NewKey("RSA", nullptr, 1024);
  absl::StatusOr<std::vector<Jwk>> keys = ParseJwks(Jwks({JwkOf(*small, "small")}));
  ASSERT_THAT(keys, StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(keys.status().message(), HasSubstr("1024 bits is too small"));
}

TEST(ParseJwksTest, RsaWithTinyExponentIsRefused) {
  json rsa = kRfcRsaJwk;
  rsa["e"] = "Aw";  // 3
  absl::StatusOr<std::vector<Jwk>> e3 = ParseJwks(Jwks({rsa}));
  ASSERT_THAT(e3, StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(e3.status().message(), HasSubstr("exponent must be odd, > 2^16"));
  rsa["e"] = "AQAA";  // 65536: even
  EXPECT_THAT(ParseJwks(Jwks({rsa})), StatusIs(Code::kInvalidArgument));
  rsa["e"] = "__8";  // 65535: too small
  EXPECT_THAT(ParseJwks(Jwks({rsa})), StatusIs(Code::kInvalidArgument));
  rsa = kRfcRsaJwk;
  std::string n = Base64UrlDecode(rsa["n"].get<std::string>()).value();
  n.back() = static_cast<char>(n.back() & ~1);  // an even modulus
  rsa["n"] = Base64UrlEncode(n);
  EXPECT_THAT(ParseJwks(Jwks({rsa})), StatusIs(Code::kInvalidArgument));
  rsa = kRfcRsaJwk;
  rsa["e"] = "AAEAAQ";  // 65537 with a leading zero byte: same value, accepted
  EXPECT_THAT(ParseJwks(Jwks({rsa})), IsOk());
}

TEST(ParseJwksTest, EcPointOffTheCurveIsRefused) {
  json ec = JwkOf(P256(), "off-curve");
  std::string y = Base64UrlDecode(ec["y"].get<std::string>()).value();
  y.back() = static_cast<char>(y.back() ^ 1);
  ec["y"] = Base64UrlEncode(y);
  absl::StatusOr<std::vector<Jwk>> keys = ParseJwks(Jwks({ec}));
  ASSERT_THAT(keys, StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(keys.status().message(), HasSubstr("off-curve"));
  EXPECT_THAT(keys.status().message(), HasSubstr("invalid public key"));

  json zero = JwkOf(P256(), "zero");
  zero["x"] = Base64UrlEncode(std::string(32, '\0'));
  zero["y"] = Base64UrlEncode(std::string(32, '\0'));
  EXPECT_THAT(ParseJwks(Jwks({zero})), StatusIs(Code::kInvalidArgument));

  json short_x = JwkOf(P256(), "short");
  short_x["x"] = Base64UrlEncode(std::string(31, 'x'));
  EXPECT_THAT(ParseJwks(Jwks({short_x})), StatusIs(Code::kInvalidArgument));

  json padded = JwkOf(P256(), "padded");
  padded["x"] = padded["x"].get<std::string>() + "=";
  EXPECT_THAT(ParseJwks(Jwks({padded})), StatusIs(Code::kInvalidArgument));
}

TEST(ParseJwksTest, UnsupportedKeysAreSkipped) {
  json p384 = JwkOf(P256(), "p384");
  p384["crv"] = "P-384";
  json enc = JwkOf(P256(), "enc");
  enc["use"] = "enc";
  json ps256 = JwkOf(Rsa2048(), "ps256");
  ps256["alg"] = "PS256";
  json sign_only = JwkOf(P256(), "sign-only");
  sign_only["key_ops"] = {"sign"};
  const std::vector<json> unusable = {
      {{"kty", "oct"}, {"k", "c2VjcmV0"}, {"kid", "hmac"}},
      {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}},
      p384,
      enc,
      ps256,
      sign_only,
      json::array(),
      {{"kid", "no-kty"}}};
  std::vector<json> with_good = unusable;
  with_good.push_back(JwkOf(P256(), "good"));
  absl::StatusOr<std::vector<Jwk>> keys = ParseJwks(Jwks(with_good));
  ASSERT_THAT(keys, IsOk());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].kid, "good");

  absl::StatusOr<std::vector<Jwk>> none = ParseJwks(Jwks(unusable));
  ASSERT_THAT(none, StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(none.status().message(), HasSubstr("kty \"oct\" is not supported"));
  EXPECT_THAT(none.status().message(), HasSubstr("EC curve \"P-384\" is not supported"));
  EXPECT_THAT(none.status().message(), HasSubstr("alg \"PS256\""));
}

TEST(ParseJwksTest, DuplicateKidKeepsTheFirst) {
  absl::StatusOr<std::vector<Jwk>> keys =
      ParseJwks(Jwks({JwkOf(P256(0), "same"), JwkOf(P256(1), "same")}));
  ASSERT_THAT(keys, IsOk());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ(EVP_PKEY_eq((*keys)[0].key.get(), &P256(0)), 1);
}

TEST(ParseJwksTest, BadDocuments) {
  for (const char* bad : {"", "{", "[]", "{}", "{\"keys\":{}}", "{\"keys\":[]}", "null",
                          "{\"keys\":[1,2]}", "{\"keys\":[{\"kty\":\"RSA\"}]}"}) {
    EXPECT_THAT(ParseJwks(bad), StatusIs(Code::kInvalidArgument)) << bad;
  }
}

TEST(StaticJwksSourceTest, FindByKidOrByAlgWhenUnambiguous) {
  std::vector<Jwk> keys =
      ParseJwks(Jwks({JwkOf(Rsa2048(), "r"), JwkOf(P256(0), "e0"), JwkOf(P256(1), "e1")})).value();
  std::unique_ptr<JwksSource> source = NewStaticJwksSource(keys);
  EXPECT_EQ(source->Find("e1", "ES256").value().kid, "e1");
  EXPECT_EQ(source->Find("r", "ES256").value().kid, "r");  // the verifier checks kty vs alg
  EXPECT_THAT(source->Find("nope", "ES256"), StatusIs(Code::kNotFound));
  EXPECT_EQ(source->Find("", "RS256").value().kid, "r");
  EXPECT_THAT(source->Find("", "ES256"), StatusIs(Code::kNotFound));  // two candidates
  EXPECT_THAT(source->Find("", "HS256"), StatusIs(Code::kNotFound));
}

// Replaces `path` the way careful writers do: a temp file and rename.
void WriteFileByRename(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
  }
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
}

TEST(FileJwksSourceTest, ReloadsWhenTheFileChanges) {
  TempDir tmp;
  const std::string path = tmp.path() + "/jwks.json";
  std::unique_ptr<JwksSource> source = NewFileJwksSource(path);
  EXPECT_THAT(source->Find("a", "ES256"), StatusIs(Code::kUnavailable));  // no file yet

  WriteFileByRename(path, Jwks({JwkOf(P256(0), "a")}));
  EXPECT_THAT(source->Find("a", "ES256"), IsOk());
  EXPECT_THAT(source->Find("b", "ES256"), StatusIs(Code::kNotFound));

  WriteFileByRename(path, Jwks({JwkOf(P256(1), "b")}));
  absl::StatusOr<Jwk> b = source->Find("b", "ES256");
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(EVP_PKEY_eq(b->key.get(), &P256(1)), 1);
  EXPECT_THAT(source->Find("a", "ES256"), StatusIs(Code::kNotFound));

  // In-place rewrite (same inode) with a different size is seen too.
  {
    std::ofstream out(path, std::ios::trunc);
    out << Jwks({JwkOf(P256(1), "b"), JwkOf(P256(0), "a")});
  }
  EXPECT_THAT(source->Find("a", "ES256"), IsOk());

  // A broken file or a missing one keeps the last good set.
  WriteFileByRename(path, "{not json");
  EXPECT_THAT(source->Find("b", "ES256"), IsOk());
  WriteFileByRename(path, Jwks({json{{"kty", "oct"}, {"k", "c2VjcmV0"}}}));
  EXPECT_THAT(source->Find("b", "ES256"), IsOk());
  ASSERT_EQ(::unlink(path.c_str()), 0);
  EXPECT_THAT(source->Find("b", "ES256"), IsOk());
  WriteFileByRename(path, Jwks({JwkOf(Rsa2048(), "r")}));
  EXPECT_THAT(source->Find("r", "RS256"), IsOk());
  EXPECT_THAT(source->Find("b", "ES256"), StatusIs(Code::kNotFound));
}

TEST(FileJwksSourceTest, NeverLoadedIsUnavailable) {
  TempDir tmp;
  const std::string path = tmp.path() + "/jwks.json";
  WriteFileByRename(path, "{\"keys\":[]}");
  absl::StatusOr<Jwk> k = NewFileJwksSource(path)->Find("a", "ES256");
  ASSERT_THAT(k, StatusIs(Code::kUnavailable));
  EXPECT_THAT(k.status().message(), HasSubstr("no usable key"));
}

TEST(JwksUrlOptionsTest, Validation) {
  JwksUrlOptions o;
  o.url = "https://idp.example/jwks";
  EXPECT_THAT(ValidateJwksUrlOptions(o), IsOk());
  o.url = "HTTPS://idp.example/jwks";
  EXPECT_THAT(ValidateJwksUrlOptions(o), IsOk());
  for (const char* bad : {"http://idp.example/jwks", "ftp://idp.example/jwks", "idp.example/jwks",
                          "https://", "https:///jwks", "", "file:///etc/jwks.json"}) {
    o.url = bad;
    EXPECT_THAT(ValidateJwksUrlOptions(o), StatusIs(Code::kInvalidArgument)) << bad;
  }
  o.url = "http://127.0.0.1:1/jwks";
  o.allow_insecure_http = true;
  EXPECT_THAT(ValidateJwksUrlOptions(o), IsOk());
  o.ttl = std::chrono::seconds(0);
  EXPECT_THAT(ValidateJwksUrlOptions(o), StatusIs(Code::kInvalidArgument));
  o.ttl = std::chrono::seconds(60);
  o.timeout = std::chrono::seconds(0);
  EXPECT_THAT(ValidateJwksUrlOptions(o), StatusIs(Code::kInvalidArgument));
}

TEST(UrlJwksSourceTest, PlainHttpIsRefusedBeforeAnyConnection) {
  JwksUrlOptions o;
  o.url = "http://127.0.0.1:1/jwks";  // nothing listens on port 1
  EXPECT_THAT(NewUrlJwksSource(o)->Find("k", "ES256"), StatusIs(Code::kInvalidArgument));
}

TEST(PublicJwkTest, RefusesOtherKeyTypes) {
  std::shared_ptr<EVP_PKEY> ed = NewKey("ED25519", nullptr);
  std::shared_ptr<EVP_PKEY> p384 = NewKey("EC", "P-384");
  ASSERT_NE(ed, nullptr);
  ASSERT_NE(p384, nullptr);
  EXPECT_THAT(PublicJwk(*ed), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(PublicJwk(*p384), StatusIs(Code::kInvalidArgument));
  json ec = PublicJwk(P256()).value();
  EXPECT_EQ(ec["kty"], "EC");
  EXPECT_EQ(ec["crv"], "P-256");
  EXPECT_EQ(Base64UrlDecode(ec["x"].get<std::string>()).value().size(), 32u);
  EXPECT_FALSE(ec.contains("d"));
}

}  // namespace
}  // namespace safeflow::service::auth
