// executor/crypto/openssl_util.h. unique_ptr owners for the OpenSSL 3 objects that the crypto,
// attestation, auth and store code create, and OpenSslError() for messages. Header-only; no state.
#ifndef SAFEFLOW_EXECUTOR_CRYPTO_OPENSSL_UTIL_H_
#define SAFEFLOW_EXECUTOR_CRYPTO_OPENSSL_UTIL_H_

#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/x509.h>

namespace safeflow::executor::crypto {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BnDeleter {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct ParamBldDeleter {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamDeleter {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct EcdsaSigDeleter {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
struct CipherDeleter {
  void operator()(EVP_CIPHER* c) const { EVP_CIPHER_free(c); }
};
struct MdDeleter {
  void operator()(EVP_MD* m) const { EVP_MD_free(m); }
};
struct KdfDeleter {
  void operator()(EVP_KDF* k) const { EVP_KDF_free(k); }
};
struct KdfCtxDeleter {
  void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
};

using UniquePkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using UniquePkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;
using UniqueMdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
using UniqueBn = std::unique_ptr<BIGNUM, BnDeleter>;
using UniqueParamBld = std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter>;
using UniqueParams = std::unique_ptr<OSSL_PARAM, ParamDeleter>;
using UniqueEcdsaSig = std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter>;
using UniqueBio = std::unique_ptr<BIO, BioDeleter>;
using UniqueX509 = std::unique_ptr<X509, X509Deleter>;
using UniqueCipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;
using UniqueCipher = std::unique_ptr<EVP_CIPHER, CipherDeleter>;
using UniqueMd = std::unique_ptr<EVP_MD, MdDeleter>;
using UniqueKdf = std::unique_ptr<EVP_KDF, KdfDeleter>;
using UniqueKdfCtx = std::unique_ptr<EVP_KDF_CTX, KdfCtxDeleter>;

// Clears OpenSSL's thread-local error queue and returns its first error as text.
inline std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

}  // namespace safeflow::executor::crypto

#endif  // SAFEFLOW_EXECUTOR_CRYPTO_OPENSSL_UTIL_H_
