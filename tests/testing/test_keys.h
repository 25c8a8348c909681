// tests/testing/test_keys.h. Keys for auth tests: a fixed RSA-2048 private key (generating one
// takes up to a second), EC P-256 keys generated once per program, and their public JWKs.
// Header-only.
#ifndef SAFEFLOW_TESTS_TESTING_TEST_KEYS_H_
#define SAFEFLOW_TESTS_TESTING_TEST_KEYS_H_

#include <cstddef>
#include <memory>
#include <string>

#include "nlohmann/json.hpp"
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "service/auth/jwks.h"

namespace safeflow::testing {

// A new key of OpenSSL `type` ("RSA", "EC", "ED25519"): an EC key on `curve_or_null`, an RSA
// key of `bits`.
inline std::shared_ptr<EVP_PKEY> NewKey(const char* type, const char* curve_or_null,
                                        size_t bits = 0) {
  EVP_PKEY* k = curve_or_null != nullptr ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, curve_or_null)
                                         : EVP_PKEY_Q_keygen(nullptr, nullptr, type, bits);
  return std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free);
}

// A fixed RSA-2048 test key.
inline constexpr const char* kRsa2048Pem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCl2Ja+oUXVAq5l\n"
    "TQXgzZsKPlCZWowQQxS5Ue+5ZpzEMwDCEddETUnP5jyRszMIpTK0QuRcRhoN+VcC\n"
    "jynENYB1CZGe3NuVC7s2MUU9UNEGj7XrVtZM3Eu/hUgLaWnXsCDMzsQzPDbjwfIb\n"
    "vmh84I8MyAQ8Z8IydOAEnxF2f8CQKWlLsVM5vZpJRdya5dbR3k29QBlv8XOWVsA9\n"
    "3skv+q9xrEP0or4rDCT2sEhNV6EQ7/04pPE2GMyqz9QxNAoalDpHWQKY8YMizthF\n"
    "F5xUsZnVe8lCDROKzo0VAx5fAODsp8he/ru9ctCjlnnze6tY48veeXSxDJH1qoKi\n"
    "wF1LtPqvAgMBAAECggEABVy24TS5OJs4XAJlv/BNKn2TNXc3U3oBN9lAlHwmWsue\n"
    "dJxBVZbgI5RcQ29bJWCMikYmITXRZb/QH7OPMWAuA08WqqVnKEwcTfjBZMK3q8k6\n"
    "uwv72tCa+XcjIt6X+SoVuQr1fO5pnBmrLOS8vMMS24USaf1jkINBJ4aNSk86TGv9\n"
    "v9IR05+wLszbizj5BcLrsds7fW6Xx8somz8MdV+KlXOBh/Me70gvJEZ8xlCeoxEt\n"
    "MzTogBCSceMVSqfyMu0jlWrPibnkHuSstRZvMIuGn4pPep3XdNQbEJg8+GPdrM+u\n"
    "zStKvaXfgVWXGLXoWMfcml/U/7GoZY0nyEIZ3pmmAQKBgQDPAYmH4IuYWFQ3vTJu\n"
    "4I1ACEBjYLpqf2K1t7skXJVktYe4d0eLs43owl+QxBqpeEOFJLGH7m0uO+Do1rsy\n"
    "6sYa0BACjeOlE9/FdGTOcvLWwkWCiX5mi/CS4vcxGD4TfEAgnVQGdwrYBDwwJhwB\n"
    "w1PXPKUuI7cbcfPGotciOU3eAQKBgQDNGS0XpZCNOZkNEdSGAhKerDRnnr+zQmNN\n"
    "GqljU47E9iI9lhadtOmuZpX+DhuzGuVGQCqxFdpsGkcK800E2+WybJyBNg/Hz4Um\n"
    "sMDfgFC6sqrdfrhNz9Gjwvh9aKnlWZJa4xf5OrY6tz2MX34ZyA85vKLHbiqzQNpw\n"
    "SXfWKuo4rwKBgELiNUSgyZnMmFF2IPBwP1M8F0nEvBai2ArstVu3SlHC0XpJl+VM\n"
    "e4KEIwqMQi0VfYNsaqwH3mD82duBXfTCpIWPSkz4+V+h/0A2LkgCHfJDzN+zexK5\n"
    "Dl73VHUZZx02nSWsj7STC/7lx2irN4teSB2YK6qvwX7tn51Dig01xLIBAoGBAKk2\n"
    "WkOmL2q02Jc13LdrQl1zChFrohGNdkwI8TOnnqTVxU42ZBZdSma+8IUYsrXEPOEG\n"
    "07Iiq4CA9ZgNP8AAhLP+c+kO51oc1mgjcB11yiUef2YaxIg+K2IG2+jrzzAQBHXD\n"
    "4uWXEP3EbJ1Bs9IlgppKDaqoM8aMfSwjESG7al61AoGAE5oUsUPFaA7KCWJ3JVnn\n"
    "2o/Hukai5yZpeT3TOVMqb13WqITQmWO9G1boHrB1IQtk2sZvQfo6LyIxpPvX/DKh\n"
    "5+mMLExs88EiekDWTBfr3ZTDxCqXhicFGP4xhE4aCoMHWzwRbAml6anKQoRHssTq\n"
    "SMqTEx1Z3/6DnIF/GtnqCqI=\n"
    "-----END PRIVATE KEY-----\n";

inline EVP_PKEY& Rsa2048() {
  static const std::shared_ptr<EVP_PKEY> k = [] {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(kRsa2048Pem, -1), BIO_free);
    return std::shared_ptr<EVP_PKEY>(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr),
                                     EVP_PKEY_free);
  }();
  return *k;
}

// EC keys are generated once per program.
inline EVP_PKEY& P256(int which = 0) {
  static const std::shared_ptr<EVP_PKEY> k0 = NewKey("EC", "P-256");
  static const std::shared_ptr<EVP_PKEY> k1 = NewKey("EC", "P-256");
  return which == 0 ? *k0 : *k1;
}

// The public JWK of `key`, with "kid" set to `kid`.
inline nlohmann::json JwkOf(EVP_PKEY& key, const std::string& kid) {
  nlohmann::json j = service::auth::PublicJwk(key).value();
  j["kid"] = kid;
  return j;
}

}  // namespace safeflow::testing

#endif  // SAFEFLOW_TESTS_TESTING_TEST_KEYS_H_
