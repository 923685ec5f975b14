// Internal: owning pointers for OpenSSL objects and OpenSSL errors as Errors.
// Not part of the public API.
#ifndef IMMUNE_TPM_OSSL_UTIL_H_
#define IMMUNE_TPM_OSSL_UTIL_H_

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

#include "immune/core/bytes.h"
#include "immune/core/error.h"

namespace immune::tpm::internal {

template <auto Fn>
struct OsslDeleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};

using PkeyPtr = std::unique_ptr<EVP_PKEY, OsslDeleter<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OsslDeleter<EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, OsslDeleter<EVP_MD_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, OsslDeleter<BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, OsslDeleter<BN_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, OsslDeleter<ECDSA_SIG_free>>;
using X509Ptr = std::unique_ptr<X509, OsslDeleter<X509_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, OsslDeleter<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, OsslDeleter<OSSL_PARAM_free>>;

// `what` plus the queued OpenSSL error text (the queue is cleared), with
// the given code.
Error OsslError(ErrorCode code, std::string_view what);

// Parses a PEM SubjectPublicKeyInfo.
Result<PkeyPtr> PublicKeyFromPem(std::string_view pem);
Result<std::string> PublicKeyToPem(EVP_PKEY* key);

}  // namespace immune::tpm::internal

#endif  // IMMUNE_TPM_OSSL_UTIL_H_
