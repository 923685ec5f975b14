// VerifyQuote and the public helpers around the quote wire format.
#include <openssl/evp.h>

#include <cstring>

#include "immune/tpm/tpm.h"
#include "ossl_util.h"
#include "tss_util.h"

namespace immune::tpm {
namespace {

using internal::Hex32;

// Checks `signature` over `data` with `key`; kCorruption when it does not
// verify.
Status VerifySignature(EVP_PKEY* key, const TPMT_SIGNATURE& sig, ByteSpan data) {
  Bytes der;
  TPMI_ALG_HASH hash_alg = 0;
  if (sig.sigAlg == TPM2_ALG_ECDSA) {
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
      return Corruption("signature: ECDSA signature but the key is not EC");
    hash_alg = sig.signature.ecdsa.hash;
    const auto& r = sig.signature.ecdsa.signatureR;
    const auto& s = sig.signature.ecdsa.signatureS;
    internal::EcdsaSigPtr ecdsa(ECDSA_SIG_new());
    BIGNUM* bn_r = BN_bin2bn(r.buffer, r.size, nullptr);
    BIGNUM* bn_s = BN_bin2bn(s.buffer, s.size, nullptr);
    if (!ecdsa || !bn_r || !bn_s || ECDSA_SIG_set0(ecdsa.get(), bn_r, bn_s) != 1) {
      BN_free(bn_r);
      BN_free(bn_s);
      return internal::OsslError(ErrorCode::kInternal, "ECDSA_SIG_set0");
    }
    int len = i2d_ECDSA_SIG(ecdsa.get(), nullptr);
    if (len <= 0) return internal::OsslError(ErrorCode::kInternal, "i2d_ECDSA_SIG");
    der.resize(static_cast<std::size_t>(len));
    unsigned char* p = der.data();
    i2d_ECDSA_SIG(ecdsa.get(), &p);
  } else if (sig.sigAlg == TPM2_ALG_RSASSA) {
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
      return Corruption("signature: RSASSA signature but the key is not RSA");
    }
    hash_alg = sig.signature.rsassa.hash;
    der.assign(sig.signature.rsassa.sig.buffer,
               sig.signature.rsassa.sig.buffer + sig.signature.rsassa.sig.size);
  } else {
    return Unsupported("signature: algorithm " + Hex32(sig.sigAlg) + " is not ECDSA or RSASSA");
  }
  auto alg = HashAlgFromTpmId(hash_alg);
  if (!alg) return Unsupported("signature: unknown hash algorithm " + Hex32(hash_alg));
  const EVP_MD* md = EVP_get_digestbyname(std::string(HashAlgName(*alg)).c_str());
  if (md == nullptr) return Unsupported("signature: hash " + std::string(HashAlgName(*alg)) + " unavailable");
  internal::MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) != 1) {
    return internal::OsslError(ErrorCode::kInternal, "EVP_DigestVerifyInit");
  }
  int ok = EVP_DigestVerify(ctx.get(), der.data(), der.size(), data.data(), data.size());
  if (ok != 1) {
    internal::OsslError(ErrorCode::kCorruption, "");  // clears the queue
    return Corruption("signature: does not verify with the given public key");
  }
  return OkStatus();
}

}  // namespace

Result<Bytes> QuotePcrDigest(const PcrSelection& selection, const PcrValues& pcrs) {
  IMMUNE_ASSIGN_OR_RETURN(TPML_PCR_SELECTION tpml, internal::ToTpml(selection));
  return internal::QuotePcrDigest(tpml, pcrs);
}

Result<std::string> PublicKeyPemFromTpm2bPublic(ByteSpan tpm2b_public) {
  IMMUNE_ASSIGN_OR_RETURN(
      TPM2B_PUBLIC pub,
      internal::Unmarshal<TPM2B_PUBLIC>(tpm2b_public, Tss2_MU_TPM2B_PUBLIC_Unmarshal, "TPM2B_PUBLIC"));
  return internal::PublicKeyPem(pub.publicArea);
}

Result<QuoteInfo> VerifyQuote(const Quote& quote, std::string_view public_key_pem, ByteSpan nonce,
                              const PcrValues& pcrs) {
  IMMUNE_ASSIGN_OR_RETURN(
      TPMS_ATTEST attest,
      internal::Unmarshal<TPMS_ATTEST>(quote.attest, Tss2_MU_TPMS_ATTEST_Unmarshal, "quote attest"));
  IMMUNE_ASSIGN_OR_RETURN(TPMT_SIGNATURE sig,
                          internal::Unmarshal<TPMT_SIGNATURE>(
                              quote.signature, Tss2_MU_TPMT_SIGNATURE_Unmarshal, "quote signature"));
  IMMUNE_ASSIGN_OR_RETURN(internal::PkeyPtr key, internal::PublicKeyFromPem(public_key_pem));
  IMMUNE_RETURN_IF_ERROR(VerifySignature(key.get(), sig, quote.attest));

  if (attest.magic != TPM2_GENERATED_VALUE) {
    return Corruption("magic: " + Hex32(attest.magic) + " is not TPM_GENERATED_VALUE");
  }
  if (attest.type != TPM2_ST_ATTEST_QUOTE) {
    return Corruption("type: " + Hex32(attest.type) + " is not TPM_ST_ATTEST_QUOTE");
  }
  const TPM2B_DATA& extra = attest.extraData;
  if (extra.size != nonce.size() || std::memcmp(extra.buffer, nonce.data(), nonce.size()) != 0) {
    return Corruption("nonce: the quote's extraData (" + std::to_string(extra.size) +
                      " bytes) is not the expected nonce (" + std::to_string(nonce.size()) + " bytes)");
  }
  const TPMS_QUOTE_INFO& info = attest.attested.quote;
  IMMUNE_ASSIGN_OR_RETURN(Bytes digest, internal::QuotePcrDigest(info.pcrSelect, pcrs));
  if (digest.size() != info.pcrDigest.size ||
      std::memcmp(digest.data(), info.pcrDigest.buffer, digest.size()) != 0) {
    return Corruption("PCR digest: the quoted PCR digest does not match the digest of the given PCR values");
  }
  QuoteInfo out;
  out.nonce.assign(extra.buffer, extra.buffer + extra.size);
  out.pcr_digest = std::move(digest);
  IMMUNE_ASSIGN_OR_RETURN(out.selection, internal::FromTpml(info.pcrSelect));
  out.clock = attest.clockInfo.clock;
  out.reset_count = attest.clockInfo.resetCount;
  out.restart_count = attest.clockInfo.restartCount;
  out.firmware_version = attest.firmwareVersion;
  return out;
}

}  // namespace immune::tpm
