// VerifyJwt: valid RS256 and ES256 tokens, and every refusal (alg none and HS256 key confusion,
// key type vs alg, unknown kid, tampering, malformed parts and base64url, the time claims at
// the leeway boundary, iss, aud, sub, crit, typ, size), each Unauthenticated with a message
// that names the problem and never contains the token.
#include "service/auth/jwt.h"

#include <cstdint>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "service/auth/dev_issuer.h"
#include "service/auth/jwks.h"
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
using ::testing::HasSubstr;
using ::testing::Not;
using Code = absl::StatusCode;
using json = nlohmann::json;

constexpr std::int64_t kNow = 1'700'000'000;
const std::chrono::system_clock::time_point kNowTp{std::chrono::seconds(kNow)};
constexpr const char* kIssuer = "https://idp.example/realms/tre";

std::string Part(const json& j) { return Base64UrlEncode(j.dump()); }

std::vector<std::string> Split(const std::string& token) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = token.find('.', start);
    parts.push_back(token.substr(start, dot == std::string::npos ? dot : dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

std::string PublicPem(EVP_PKEY& key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  EXPECT_EQ(PEM_write_bio_PUBKEY(bio.get(), &key), 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

class JwtTest : public ::testing::Test {
 protected:
  JwtTest() {
    jwks_ = json{{"keys", {JwkOf(Rsa2048(), "rsa1"), JwkOf(P256(), "ec1")}}}.dump();
    keys_ = NewStaticJwksSource(ParseJwks(jwks_).value());
    policy_.issuer = kIssuer;
    policy_.audiences = {"safeflow"};
  }

  static json Claims() {
    return {{"iss", kIssuer},   {"aud", "safeflow"}, {"sub", "alice"},
            {"iat", kNow - 10}, {"nbf", kNow - 10},  {"exp", kNow + 300}};
  }
  static std::string Rs(const json& claims,
                        const json& header = {{"alg", "RS256"}, {"typ", "JWT"}, {"kid", "rsa1"}}) {
    return SignJwt(header, claims, Rsa2048()).value();
  }
  static std::string Es(const json& claims,
                        const json& header = {{"alg", "ES256"}, {"typ", "JWT"}, {"kid", "ec1"}}) {
    return SignJwt(header, claims, P256()).value();
  }

  absl::StatusOr<VerifiedToken> Verify(const std::string& token) {
    return VerifyJwt(token, policy_, *keys_, kNowTp);
  }

  // Unauthenticated, the message says `why`, and it contains neither the token nor any part.
  void ExpectRefused(const std::string& token, const std::string& why) {
    absl::StatusOr<VerifiedToken> v = Verify(token);
    ASSERT_THAT(v, StatusIs(Code::kUnauthenticated)) << "expected refusal: " << why;
    const std::string msg(v.status().message());
    EXPECT_THAT(msg, HasSubstr(why));
    for (const std::string& part : Split(token)) {
      if (part.size() >= 8) {
        EXPECT_THAT(msg, Not(HasSubstr(part)));
      }
    }
  }

  std::string jwks_;
  std::unique_ptr<JwksSource> keys_;
  JwtPolicy policy_;
};

TEST_F(JwtTest, ValidRs256Token) {
  absl::StatusOr<VerifiedToken> v = Verify(Rs(Claims()));
  ASSERT_THAT(v, IsOk());
  EXPECT_EQ(v->alg, "RS256");
  EXPECT_EQ(v->kid, "rsa1");
  EXPECT_EQ(v->header["typ"], "JWT");
  EXPECT_EQ(v->claims["sub"], "alice");
  EXPECT_EQ(v->claims["exp"], kNow + 300);
}

TEST_F(JwtTest, ValidEs256Token) {
  const std::string token = Es(Claims());
  EXPECT_EQ(Base64UrlDecode(Split(token)[2]).value().size(), 64u);  // R||S
  absl::StatusOr<VerifiedToken> v = Verify(token);
  ASSERT_THAT(v, IsOk());
  EXPECT_EQ(v->alg, "ES256");
  EXPECT_EQ(v->kid, "ec1");
  EXPECT_EQ(v->claims["iss"], kIssuer);
}

TEST_F(JwtTest, TokenWithoutKidUsesTheOnlyKeyForItsAlg) {
  EXPECT_THAT(Verify(Rs(Claims(), {{"alg", "RS256"}})), IsOk());
  EXPECT_THAT(Verify(Es(Claims(), {{"alg", "ES256"}})), IsOk());
}

TEST_F(JwtTest, AlgNoneIsRefused) {
  json claims = Claims();
  for (const char* none : {"none", "None", "NONE"}) {
    const std::string unsigned_part = Part({{"alg", none}, {"typ", "JWT"}}) + "." + Part(claims);
    ExpectRefused(unsigned_part + ".", "(an unsigned token) is not accepted");
    ExpectRefused(unsigned_part, "exactly three parts");
    // A none header glued onto a valid signature.
    ExpectRefused(unsigned_part + "." + Split(Rs(claims))[2], "unsigned token");
  }
}

TEST_F(JwtTest, Hs256SignedWithThePublicKeyIsRefused) {
  const json claims = Claims();
  const std::vector<std::string> secrets = {PublicPem(Rsa2048()), PublicPem(P256()), jwks_,
                                            JwkOf(Rsa2048(), "rsa1").dump(),
                                            JwkOf(Rsa2048(), "rsa1")["n"].get<std::string>()};
  for (const std::string& secret : secrets) {
    for (const char* kid : {"rsa1", "ec1", ""}) {
      json header = {{"alg", "HS256"}, {"typ", "JWT"}};
      if (*kid != '\0') header["kid"] = kid;
      ExpectRefused(SignHs256ForTest(header, claims, secret),
                    "alg \"HS256\" (a shared-secret HMAC)");
    }
  }
  ExpectRefused(SignHs256ForTest({{"alg", "HS512"}, {"kid", "rsa1"}}, claims, jwks_), "HS512");
}

TEST_F(JwtTest, OtherAlgorithmsAreRefusedByName) {
  for (const char* alg :
       {"PS256", "RS384", "RS512", "ES384", "ES512", "ES256K", "EdDSA", "rs256", "RSA-OAEP", ""}) {
    ExpectRefused(Rs(Claims(), {{"alg", alg}, {"kid", "rsa1"}}),
                  "alg \"" + std::string(alg) + "\" is not accepted; only RS256 and ES256");
  }
  ExpectRefused(Rs(Claims(), {{"alg", 256}, {"kid", "rsa1"}}), "alg is not a string");
  ExpectRefused(Part({{"typ", "JWT"}}) + "." + Part(Claims()) + ".c2ln", "the header has no alg");
}

TEST_F(JwtTest, KeyTypeMustMatchAlg) {
  // RS256 naming the EC key (signed with RSA, so only the kty check can stop it)...
  ExpectRefused(Rs(Claims(), {{"alg", "RS256"}, {"kid", "ec1"}}),
                "alg RS256 needs an RSA key, but kid \"ec1\" is kty EC");
  // ... and ES256 naming the RSA key.
  ExpectRefused(Es(Claims(), {{"alg", "ES256"}, {"kid", "rsa1"}}),
                "alg ES256 needs an EC P-256 key, but kid \"rsa1\" is kty RSA");
}

TEST_F(JwtTest, SmallRsaKeyFromASourceIsRefused) {
  std::shared_ptr<EVP_PKEY> small = NewKey("RSA", nullptr, 1024);
  std::vector<Jwk> keys = {Jwk{"small", "RSA", "RS256", "sig", small}};
  std::unique_ptr<JwksSource> source = NewStaticJwksSource(keys);
  // SignJwt refuses small RSA keys too, so sign by hand: any 128-byte signature will do.
  const std::string token = Part({{"alg", "RS256"}, {"kid", "small"}}) + "." + Part(Claims()) +
                            "." + Base64UrlEncode(std::string(128, 'x'));
  absl::StatusOr<VerifiedToken> v = VerifyJwt(token, policy_, *source, kNowTp);
  ASSERT_THAT(v, StatusIs(Code::kUnauthenticated));
  EXPECT_THAT(v.status().message(), HasSubstr("the RSA key has 1024 bits; at least 2048"));
}

TEST_F(JwtTest, UnknownKidIsRefused) {
  ExpectRefused(Rs(Claims(), {{"alg", "RS256"}, {"kid", "rotated-away"}}),
                "no key with kid \"rotated-away\"");
  ExpectRefused(Rs(Claims(), {{"alg", "RS256"}, {"kid", 7}}), "kid is not a string");
}

TEST_F(JwtTest, EmbeddedKeysInTheHeaderAreIgnored) {
  // An attacker's own key in "jwk" (or a "jku" URL) must not be used: ec1 still verifies.
  json header = {{"alg", "ES256"}, {"jwk", JwkOf(P256(1), "evil")}, {"jku", "https://evil/"}};
  ExpectRefused(SignJwt(header, Claims(), P256(1)).value(), "signature does not verify");
  header["kid"] = "ec1";
  ExpectRefused(SignJwt(header, Claims(), P256(1)).value(), "signature does not verify");
}

TEST_F(JwtTest, TamperingBreaksTheSignature) {
  for (const auto& [token, alg] :
       {std::pair{Rs(Claims()), "RS256"}, std::pair{Es(Claims()), "ES256"}}) {
    std::vector<std::string> p = Split(token);
    std::string sig = Base64UrlDecode(p[2]).value();
    sig[10] = static_cast<char>(sig[10] ^ 0x01);
    ExpectRefused(p[0] + "." + p[1] + "." + Base64UrlEncode(sig), "signature does not verify");
    json admin = Claims();
    admin["sub"] = "admin";
    ExpectRefused(p[0] + "." + Part(admin) + "." + p[2], "signature does not verify");
    // The same key found without a kid, but the header (part of the signed input) changed.
    ExpectRefused(Part({{"alg", alg}, {"typ", "JWT"}}) + "." + p[1] + "." + p[2],
                  "signature does not verify");
  }
  // Signed by another key that claims ec1's kid.
  ExpectRefused(SignJwt({{"alg", "ES256"}, {"kid", "ec1"}}, Claims(), P256(1)).value(),
                "signature does not verify");
}

TEST_F(JwtTest, SignatureLengthsAreChecked) {
  std::vector<std::string> es = Split(Es(Claims()));
  ExpectRefused(es[0] + "." + es[1] + "." + Base64UrlEncode(std::string(70, '\x30')),
                "an ES256 signature is 64 bytes (R||S), not 70");
  ExpectRefused(es[0] + "." + es[1] + ".", "an ES256 signature is 64 bytes (R||S), not 0");
  std::vector<std::string> rs = Split(Rs(Claims()));
  std::string sig = Base64UrlDecode(rs[2]).value();
  ExpectRefused(rs[0] + "." + rs[1] + "." + Base64UrlEncode(sig.substr(1)),
                "does not have the key's length");
  // r = 0 and s = 0.
  ExpectRefused(es[0] + "." + es[1] + "." + Base64UrlEncode(std::string(64, '\0')),
                "signature does not verify");
}

TEST_F(JwtTest, WrongNumberOfPartsIsRefused) {
  const std::string token = Rs(Claims());
  std::vector<std::string> p = Split(token);
  for (const std::string& bad :
       {p[0], p[0] + "." + p[1], token + ".", token + "." + p[2], "." + token, std::string("..."),
        std::string("a.b"), p[0] + ".." + p[1] + "." + p[2]}) {
    ExpectRefused(bad, "exactly three parts");
  }
  ExpectRefused("", "the token is empty");
}

TEST_F(JwtTest, BadBase64UrlIsRefused) {
  const std::string token = Rs(Claims());
  std::vector<std::string> p = Split(token);
  ExpectRefused(p[0] + "=." + p[1] + "." + p[2], "the header is not base64url");
  ExpectRefused(" " + token, "the header is not base64url");
  ExpectRefused(p[0] + "." + p[1] + "." + p[2] + "\n", "the signature is not base64url");
  ExpectRefused(p[0] + "." + p[1] + "." + p[2] + "==", "the signature is not base64url");
  std::string plus = p[2];
  plus[3] = '+';
  ExpectRefused(p[0] + "." + p[1] + "." + plus, "the signature is not base64url");
  ExpectRefused("Zm9v!." + p[1] + "." + p[2], "the header is not base64url");
  // The claims are decoded after the signature is checked: a bad payload fails that first.
  ExpectRefused(p[0] + "." + p[1] + "=." + p[2], "signature does not verify");
}

TEST_F(JwtTest, HeaderMustBeAJsonObject) {
  ExpectRefused(Base64UrlEncode("not json") + "." + Part(Claims()) + ".c2ln", "header is not JSON");
  ExpectRefused("..", "header is not JSON");
  ExpectRefused(Part(json::array({"alg", "RS256"})) + "." + Part(Claims()) + ".c2ln",
                "header is not a JSON object");
}

TEST_F(JwtTest, ExpiryAndLeewayBoundary) {
  json c = Claims();
  c["exp"] = kNow - 60;  // exactly now - leeway: expired
  ExpectRefused(Rs(c), "the token has expired");
  c["exp"] = kNow - 59;
  EXPECT_THAT(Verify(Rs(c)), IsOk());
  c["exp"] = kNow - 3600;
  ExpectRefused(Es(c), "the token has expired");
  c["exp"] = static_cast<double>(kNow) - 59.5;
  EXPECT_THAT(Verify(Es(c)), IsOk());

  policy_.leeway = std::chrono::seconds(0);
  c["exp"] = kNow;
  ExpectRefused(Rs(c), "the token has expired");
  c["exp"] = kNow + 1;
  EXPECT_THAT(Verify(Rs(c)), IsOk());
}

TEST_F(JwtTest, ExpIsRequired) {
  json c = Claims();
  c.erase("exp");
  ExpectRefused(Rs(c), "the exp claim is missing");
  c["exp"] = std::to_string(kNow + 300);
  ExpectRefused(Rs(c), "the exp claim is not a number");
  c["exp"] = true;
  ExpectRefused(Rs(c), "the exp claim is not a number");
  c.erase("exp");
  policy_.require_exp = false;
  EXPECT_THAT(Verify(Rs(c)), IsOk());
}

TEST_F(JwtTest, NotBeforeAndIssuedAt) {
  json c = Claims();
  c["nbf"] = kNow + 60;  // exactly now + leeway: fine
  EXPECT_THAT(Verify(Rs(c)), IsOk());
  c["nbf"] = kNow + 61;
  ExpectRefused(Rs(c), "not valid yet");
  c["nbf"] = "soon";
  ExpectRefused(Rs(c), "the nbf claim is not a number");
  c.erase("nbf");
  EXPECT_THAT(Verify(Rs(c)), IsOk());
  c["iat"] = kNow + 60;
  EXPECT_THAT(Verify(Rs(c)), IsOk());
  c["iat"] = kNow + 61;
  ExpectRefused(Rs(c), "issued in the future");
  c.erase("iat");
  EXPECT_THAT(Verify(Rs(c)), IsOk());
}

TEST_F(JwtTest, IssuerMustMatch) {
  json c = Claims();
  c["iss"] = "https://evil.example/realms/tre";
  ExpectRefused(Rs(c), "the iss claim is not the expected issuer");
  c["iss"] = std::string(kIssuer) + "/";
  ExpectRefused(Rs(c), "the iss claim is not the expected issuer");
  c["iss"] = json::array({kIssuer});
  ExpectRefused(Rs(c), "the iss claim is not the expected issuer");
  c.erase("iss");
  ExpectRefused(Rs(c), "the iss claim is missing");
}

TEST_F(JwtTest, AudienceStringOrArray) {
  json c = Claims();
  c["aud"] = "other";
  ExpectRefused(Rs(c), "the aud claim does not contain an accepted audience (safeflow)");
  c["aud"] = json::array({"other", "safeflow"});
  EXPECT_THAT(Verify(Rs(c)), IsOk());
  c["aud"] = json::array({"other", "account"});
  ExpectRefused(Rs(c), "does not contain an accepted audience");
  c["aud"] = json::array();
  ExpectRefused(Rs(c), "does not contain an accepted audience");
  c["aud"] = json::array({"safeflow", 7});
  ExpectRefused(Rs(c), "not a string or an array of strings");
  c["aud"] = json::object({{"safeflow", true}});
  ExpectRefused(Rs(c), "not a string or an array of strings");
  c["aud"] = "SafeFlow";  // exact comparison
  ExpectRefused(Rs(c), "does not contain an accepted audience");
  c.erase("aud");
  ExpectRefused(Rs(c), "the aud claim is missing");

  policy_.audiences = {"api://safeflow", "safeflow-tes"};
  c["aud"] = "safeflow-tes";
  EXPECT_THAT(Verify(Rs(c)), IsOk());
  c["aud"] = json::array({"x", "api://safeflow"});
  EXPECT_THAT(Verify(Rs(c)), IsOk());
}

TEST_F(JwtTest, SubjectIsRequired) {
  json c = Claims();
  c.erase("sub");
  ExpectRefused(Rs(c), "the sub claim is missing");
  c["sub"] = "";
  ExpectRefused(Rs(c), "the sub claim is not a non-empty string");
  c["sub"] = 42;
  ExpectRefused(Rs(c), "the sub claim is not a non-empty string");
}

TEST_F(JwtTest, CritIsRefused) {
  ExpectRefused(Rs(Claims(), {{"alg", "RS256"}, {"kid", "rsa1"}, {"crit", {"exp"}}}),
                "\"crit\", which is not supported");
  ExpectRefused(Es(Claims(), {{"alg", "ES256"}, {"kid", "ec1"}, {"crit", json::array()}}),
                "\"crit\"");
  ExpectRefused(Es(Claims(), {{"alg", "ES256"}, {"b64", false}, {"crit", {"b64"}}}), "\"crit\"");
}

TEST_F(JwtTest, Typ) {
  for (const char* ok :
       {"JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt", "application/jwt"}) {
    EXPECT_THAT(Verify(Rs(Claims(), {{"alg", "RS256"}, {"kid", "rsa1"}, {"typ", ok}})), IsOk())
        << ok;
  }
  for (const json& bad :
       {json("JWE"), json("dpop+jwt"), json("secevent+jwt"), json(""), json(1), json(nullptr)}) {
    ExpectRefused(Rs(Claims(), {{"alg", "RS256"}, {"kid", "rsa1"}, {"typ", bad}}),
                  "typ is not JWT or at+jwt");
  }
}

TEST_F(JwtTest, OversizeTokenIsRefused) {
  json c = Claims();
  c["padding"] = std::string(20 * 1024, 'x');
  ExpectRefused(Rs(c), "the token is larger than 16384 bytes");
  policy_.max_token_bytes = 100;
  ExpectRefused(Rs(Claims()), "the token is larger than 100 bytes");
}

TEST_F(JwtTest, KeySourceOutageIsUnavailableNotUnauthenticated) {
  std::unique_ptr<JwksSource> missing = NewFileJwksSource("/nonexistent/safeflow/jwks.json");
  EXPECT_THAT(VerifyJwt(Rs(Claims()), policy_, *missing, kNowTp), StatusIs(Code::kUnavailable));
}

TEST_F(JwtTest, PolicyWithoutIssuerOrAudienceIsAProgrammingError) {
  JwtPolicy p = policy_;
  p.issuer.clear();
  EXPECT_THAT(VerifyJwt(Rs(Claims()), p, *keys_, kNowTp), StatusIs(Code::kInvalidArgument));
  p = policy_;
  p.audiences.clear();
  EXPECT_THAT(VerifyJwt(Rs(Claims()), p, *keys_, kNowTp), StatusIs(Code::kInvalidArgument));
}

// RFC 7515 appendix A.2 (RS256) and A.3 (ES256): tokens made by someone else. Their claims have
// no aud, so the refusal names the aud claim, which VerifyJwt checks only after the signature.
TEST(JwtInteropTest, Rfc7515ExamplesPassTheSignatureCheck) {
  const json jwks = {
      {"keys",
       {{{"kty", "RSA"},
         {"n",
          "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-"
          "4qPCJrcS2mJPMEzP1Pt0"
          "Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-"
          "bSf63kpaSHSXndS5"
          "z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_"
          "I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"},
         {"e", "AQAB"}},
        {{"kty", "EC"},
         {"crv", "P-256"},
         {"x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"},
         {"y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}}}}};
  std::unique_ptr<JwksSource> keys = NewStaticJwksSource(ParseJwks(jwks.dump()).value());
  JwtPolicy policy;
  policy.issuer = "joe";
  policy.audiences = {"safeflow"};
  const std::chrono::system_clock::time_point then{std::chrono::seconds(1300819000)};
  const std::string claims =
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVl"
      "fQ";
  const std::string rs256 =
      "eyJhbGciOiJSUzI1NiJ9." + claims +
      ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_"
      "O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_"
      "nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjt"
      "QBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-"
      "eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2"
      "w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
  const std::string es256 = "eyJhbGciOiJFUzI1NiJ9." + claims +
                            ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQ"
                            "xfKTUJqPP3-Kg6NU1Q";
  for (const std::string& token : {rs256, es256}) {
    absl::StatusOr<VerifiedToken> v = VerifyJwt(token, policy, *keys, then);
    ASSERT_THAT(v, StatusIs(Code::kUnauthenticated));
    EXPECT_THAT(v.status().message(), HasSubstr("the aud claim is missing"));
    std::string tampered = token;
    tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
    v = VerifyJwt(tampered, policy, *keys, then);
    ASSERT_THAT(v, StatusIs(Code::kUnauthenticated));
    EXPECT_THAT(v.status().message(), HasSubstr("signature does not verify"));
  }
}

TEST(SignJwtTest, RefusesUnsupportedKeysAndJson) {
  std::shared_ptr<EVP_PKEY> small = NewKey("RSA", nullptr, 1024);
  EXPECT_THAT(SignJwt({{"alg", "RS256"}}, {{"sub", "x"}}, *small),
              StatusIs(Code::kInvalidArgument));
  std::shared_ptr<EVP_PKEY> p384 = NewKey("EC", "P-384");
  EXPECT_THAT(SignJwt(json::object(), {{"sub", "x"}}, *p384), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(SignJwt(json::array(), {{"sub", "x"}}, P256()), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(SignJwt(json::object(), {{"sub", "\xff\xfe"}}, P256()),
              StatusIs(Code::kInvalidArgument));
  // A missing alg is filled in from the key.
  const std::string token = SignJwt(json::object(), {{"sub", "x"}}, P256()).value();
  EXPECT_EQ(json::parse(Base64UrlDecode(Split(token)[0]).value())["alg"], "ES256");
}

}  // namespace
}  // namespace safeflow::service::auth
