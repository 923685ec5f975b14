// An in-memory Tpm for unit tests: real hashing, real OpenSSL keys and quotes
// in the TPM wire format (marshalled with libtss2-mu), so VerifyQuote treats
// them exactly like a real TPM's.
//
// Differences from a TPM, by design: AttestationKey::private_blob is the key's
// PKCS#8 DER in clear (there is no parent to wrap it); EK certificates are
// self-signed certificates generated on first read (RSA-2048 at 0x01c00002,
// ECC P-256 at 0x01c0000a); every other NV index is kNotFound.
#include <openssl/core_names.h>
#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>

#include "immune/tpm/tpm.h"
#include "ossl_util.h"
#include "tss_util.h"

namespace immune::tpm {
namespace {

using internal::Hex32;
using internal::PkeyPtr;

Result<PkeyPtr> GenerateKey(KeyAlg alg) {
  EVP_PKEY* raw = alg == KeyAlg::kEccP256
                      ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  if (raw == nullptr) return internal::OsslError(ErrorCode::kInternal, "EVP_PKEY_Q_keygen");
  return PkeyPtr(raw);
}

Status CopyBn(EVP_PKEY* key, const char* param, std::uint8_t* dst, std::uint16_t* size, std::size_t len) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, param, &raw) != 1) return internal::OsslError(ErrorCode::kInternal, param);
  internal::BnPtr bn(raw);
  if (BN_bn2binpad(bn.get(), dst, static_cast<int>(len)) < 0)
    return Internal(std::string("BN_bn2binpad ") + param);
  *size = static_cast<std::uint16_t>(len);
  return OkStatus();
}

// The attestation-key public area of `key`.
Result<TPM2B_PUBLIC> PublicArea(KeyAlg alg, EVP_PKEY* key) {
  TPM2B_PUBLIC pub = internal::AkTemplate(alg);
  TPMU_PUBLIC_ID& u = pub.publicArea.unique;
  if (alg == KeyAlg::kEccP256) {
    IMMUNE_RETURN_IF_ERROR(CopyBn(key, OSSL_PKEY_PARAM_EC_PUB_X, u.ecc.x.buffer, &u.ecc.x.size, 32));
    IMMUNE_RETURN_IF_ERROR(CopyBn(key, OSSL_PKEY_PARAM_EC_PUB_Y, u.ecc.y.buffer, &u.ecc.y.size, 32));
  } else {
    IMMUNE_RETURN_IF_ERROR(CopyBn(key, OSSL_PKEY_PARAM_RSA_N, u.rsa.buffer, &u.rsa.size, 256));
  }
  return pub;
}

Result<Bytes> SignSha256(EVP_PKEY* key, ByteSpan data) {
  internal::MdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, data.data(), data.size()) != 1) {
    return internal::OsslError(ErrorCode::kInternal, "EVP_DigestSign");
  }
  Bytes sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, data.data(), data.size()) != 1) {
    return internal::OsslError(ErrorCode::kInternal, "EVP_DigestSign");
  }
  sig.resize(len);
  return sig;
}

Result<Bytes> SelfSignedCert(KeyAlg alg) {
  IMMUNE_ASSIGN_OR_RETURN(PkeyPtr key, GenerateKey(alg));
  internal::X509Ptr cert(X509_new());
  if (!cert) return internal::OsslError(ErrorCode::kInternal, "X509_new");
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 60L * 60 * 24 * 365);
  X509_NAME* name = X509_get_subject_name(cert.get());
  std::string cn = "Immune fake TPM EK (" + std::string(KeyAlgName(alg)) + ")";
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), name);
  if (X509_set_pubkey(cert.get(), key.get()) != 1 || X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) {
    return internal::OsslError(ErrorCode::kInternal, "X509_sign");
  }
  int len = i2d_X509(cert.get(), nullptr);
  if (len <= 0) return internal::OsslError(ErrorCode::kInternal, "i2d_X509");
  Bytes der(static_cast<std::size_t>(len));
  unsigned char* p = der.data();
  i2d_X509(cert.get(), &p);
  return der;
}

class FakeTpm final : public Tpm {
 public:
  FakeTpm(std::vector<HashAlg> banks, std::uint8_t startup_locality)
      : banks_(std::move(banks)), start_(std::chrono::steady_clock::now()) {
    for (HashAlg alg : banks_) {
      for (std::uint32_t i = 0; i < kNumPcrs; ++i) pcrs_[alg][i] = Bytes(DigestSize(alg), 0);
      pcrs_[alg][0].back() = startup_locality;
    }
  }

  Result<std::vector<HashAlg>> AllocatedBanks() override { return banks_; }

  Result<PcrValues> ReadPcrs(const PcrSelection& selection) override {
    if (selection.empty()) return pcrs_;
    PcrValues out;
    for (const auto& [alg, list] : selection) {
      auto bank = pcrs_.find(alg);
      if (bank == pcrs_.end()) {
        return NotFound("PCR_Read: bank " + std::string(HashAlgName(alg)) + " is not allocated on this TPM");
      }
      for (std::uint32_t pcr : list) {
        if (pcr >= kNumPcrs) return InvalidArgument("PCR_Read: PCR " + std::to_string(pcr) + " out of range");
        out[alg][pcr] = bank->second[pcr];
      }
    }
    return out;
  }

  Status Extend(std::uint32_t pcr, const std::vector<std::pair<HashAlg, Bytes>>& digests) override {
    std::string op = "PCR_Extend(pcr=" + std::to_string(pcr) + ")";
    if (pcr >= kNumPcrs) return InvalidArgument(op + ": PCR index out of range");
    for (const auto& [alg, digest] : digests) {
      if (!pcrs_.contains(alg)) {
        return NotFound(op + ": bank " + std::string(HashAlgName(alg)) + " is not allocated on this TPM");
      }
      if (digest.size() != DigestSize(alg)) {
        return InvalidArgument(op + ": " + std::string(HashAlgName(alg)) + " digest has the wrong size");
      }
    }
    for (const auto& [alg, digest] : digests) {
      IMMUNE_ASSIGN_OR_RETURN(pcrs_[alg][pcr], ExtendDigest(alg, pcrs_[alg][pcr], digest));
    }
    return OkStatus();
  }

  Result<AttestationKey> CreateAttestationKey(KeyAlg alg) override {
    IMMUNE_ASSIGN_OR_RETURN(PkeyPtr key, GenerateKey(alg));
    IMMUNE_ASSIGN_OR_RETURN(TPM2B_PUBLIC pub, PublicArea(alg, key.get()));
    AttestationKey out;
    out.alg = alg;
    IMMUNE_ASSIGN_OR_RETURN(out.public_area,
                            internal::Marshal(pub, Tss2_MU_TPM2B_PUBLIC_Marshal, "TPM2B_PUBLIC"));
    IMMUNE_ASSIGN_OR_RETURN(out.name, internal::TpmName(pub.publicArea));
    IMMUNE_ASSIGN_OR_RETURN(out.public_key_pem, internal::PublicKeyPem(pub.publicArea));
    int len = i2d_PrivateKey(key.get(), nullptr);
    if (len <= 0) return internal::OsslError(ErrorCode::kInternal, "i2d_PrivateKey");
    out.private_blob.resize(static_cast<std::size_t>(len));
    unsigned char* p = out.private_blob.data();
    i2d_PrivateKey(key.get(), &p);
    return LoadAttestationKey(out);
  }

  Result<AttestationKey> LoadAttestationKey(const AttestationKey& key) override {
    const unsigned char* p = key.private_blob.data();
    PkeyPtr pkey(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(key.private_blob.size())));
    if (!pkey) return internal::OsslError(ErrorCode::kCorruption, "Load: private blob is not a fake-TPM key");
    IMMUNE_ASSIGN_OR_RETURN(TPM2B_PUBLIC pub, PublicArea(key.alg, pkey.get()));
    IMMUNE_ASSIGN_OR_RETURN(Bytes marshalled,
                            internal::Marshal(pub, Tss2_MU_TPM2B_PUBLIC_Marshal, "TPM2B_PUBLIC"));
    if (marshalled != key.public_area) return Corruption("Load: public area does not match the private blob");
    AttestationKey out = key;
    out.handle = next_handle_++;
    keys_[out.handle] = std::move(pkey);
    return out;
  }

  Result<Quote> QuotePcrs(const AttestationKey& key, ByteSpan nonce, const PcrSelection& selection) override {
    auto it = keys_.find(key.handle);
    if (key.handle == 0 || it == keys_.end()) {
      return TpmError("Quote(key=" + Hex32(key.handle) + "): no such loaded object (fake TPM_RC_HANDLE)");
    }
    TPMS_ATTEST attest{};
    attest.magic = TPM2_GENERATED_VALUE;
    attest.type = TPM2_ST_ATTEST_QUOTE;
    if (key.name.size() > sizeof(attest.qualifiedSigner.name)) return Internal("key name too long");
    attest.qualifiedSigner.size = static_cast<UINT16>(key.name.size());
    std::copy(key.name.begin(), key.name.end(), attest.qualifiedSigner.name);
    if (nonce.size() > sizeof(attest.extraData.buffer)) return InvalidArgument("Quote: nonce too long");
    attest.extraData.size = static_cast<UINT16>(nonce.size());
    std::copy(nonce.begin(), nonce.end(), attest.extraData.buffer);
    attest.clockInfo.clock = static_cast<UINT64>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_)
            .count());
    attest.clockInfo.safe = TPM2_YES;
    attest.firmwareVersion = 0x20231123;
    IMMUNE_ASSIGN_OR_RETURN(attest.attested.quote.pcrSelect, internal::ToTpml(selection));
    IMMUNE_ASSIGN_OR_RETURN(PcrValues values, ReadPcrs(selection));
    IMMUNE_ASSIGN_OR_RETURN(Bytes digest, internal::QuotePcrDigest(attest.attested.quote.pcrSelect, values));
    attest.attested.quote.pcrDigest.size = static_cast<UINT16>(digest.size());
    std::copy(digest.begin(), digest.end(), attest.attested.quote.pcrDigest.buffer);

    Quote q;
    q.selection = selection;
    IMMUNE_ASSIGN_OR_RETURN(q.attest, internal::Marshal(attest, Tss2_MU_TPMS_ATTEST_Marshal, "TPMS_ATTEST"));
    IMMUNE_ASSIGN_OR_RETURN(Bytes sig_bytes, SignSha256(it->second.get(), q.attest));
    TPMT_SIGNATURE sig{};
    if (key.alg == KeyAlg::kEccP256) {
      const unsigned char* p = sig_bytes.data();
      internal::EcdsaSigPtr ecdsa(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig_bytes.size())));
      if (!ecdsa) return internal::OsslError(ErrorCode::kInternal, "d2i_ECDSA_SIG");
      sig.sigAlg = TPM2_ALG_ECDSA;
      sig.signature.ecdsa.hash = TPM2_ALG_SHA256;
      auto& r = sig.signature.ecdsa.signatureR;
      auto& s = sig.signature.ecdsa.signatureS;
      if (BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa.get()), r.buffer, 32) < 0 ||
          BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa.get()), s.buffer, 32) < 0) {
        return Internal("ECDSA signature component too large");
      }
      r.size = s.size = 32;
    } else {
      sig.sigAlg = TPM2_ALG_RSASSA;
      sig.signature.rsassa.hash = TPM2_ALG_SHA256;
      if (sig_bytes.size() > sizeof(sig.signature.rsassa.sig.buffer))
        return Internal("RSA signature too long");
      sig.signature.rsassa.sig.size = static_cast<UINT16>(sig_bytes.size());
      std::copy(sig_bytes.begin(), sig_bytes.end(), sig.signature.rsassa.sig.buffer);
    }
    IMMUNE_ASSIGN_OR_RETURN(q.signature,
                            internal::Marshal(sig, Tss2_MU_TPMT_SIGNATURE_Marshal, "TPMT_SIGNATURE"));
    return q;
  }

  Result<Bytes> ReadEkCertificate(KeyAlg alg) override {
    return ReadNvIndex(alg == KeyAlg::kRsa2048 ? kEkCertNvIndexRsa2048 : kEkCertNvIndexEccP256);
  }

  Result<Bytes> ReadNvIndex(std::uint32_t nv_index) override {
    KeyAlg alg;
    if (nv_index == kEkCertNvIndexRsa2048) {
      alg = KeyAlg::kRsa2048;
    } else if (nv_index == kEkCertNvIndexEccP256) {
      alg = KeyAlg::kEccP256;
    } else {
      return NotFound("NV index " + Hex32(nv_index) + " is not defined (fake TPM)");
    }
    auto it = ek_certs_.find(alg);
    if (it == ek_certs_.end()) {
      IMMUNE_ASSIGN_OR_RETURN(Bytes der, SelfSignedCert(alg));
      it = ek_certs_.emplace(alg, std::move(der)).first;
    }
    return it->second;
  }

  Status Flush(AttestationKey& key) override {
    if (keys_.erase(key.handle) == 0)
      return TpmError("FlushContext(" + Hex32(key.handle) + "): no such object");
    key.handle = 0;
    return OkStatus();
  }

 private:
  std::vector<HashAlg> banks_;
  PcrValues pcrs_;
  std::map<std::uint32_t, PkeyPtr> keys_;
  std::map<KeyAlg, Bytes> ek_certs_;
  std::uint32_t next_handle_ = 0x80000001;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

std::unique_ptr<Tpm> NewFakeTpm(std::vector<HashAlg> banks, std::uint8_t startup_locality) {
  return std::make_unique<FakeTpm>(std::move(banks), startup_locality);
}

}  // namespace immune::tpm
