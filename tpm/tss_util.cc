#include "tss_util.h"

#include <openssl/core_names.h>
#include <tss2/tss2_rc.h>

#include <cstdio>

#include "immune/core/digest.h"
#include "ossl_util.h"

namespace immune::tpm::internal {

std::string Hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

bool IsTctiIoError(TSS2_RC rc) {
  std::uint32_t base = rc & 0xffffu;
  std::uint32_t layer = rc & TSS2_RC_LAYER_MASK;
  return layer == TSS2_TCTI_RC_LAYER && (base == TSS2_BASE_RC_IO_ERROR || base == TSS2_BASE_RC_NO_CONNECTION);
}

Error TssError(std::string_view op, TSS2_RC rc) {
  std::string msg(op);
  if (!msg.empty()) msg += ": ";
  msg += Tss2_RC_Decode(rc);
  msg += " (rc=" + Hex32(rc) + ")";
  if (IsTctiIoError(rc)) return Unavailable("TPM not reachable: " + msg);
  return TpmError(std::move(msg));
}

Result<TPML_PCR_SELECTION> ToTpml(const PcrSelection& selection) {
  TPML_PCR_SELECTION tpml{};
  for (const auto& [alg, pcrs] : selection) {
    if (tpml.count >= TPM2_NUM_PCR_BANKS) return InvalidArgument("PCR selection has too many banks");
    TPMS_PCR_SELECTION& s = tpml.pcrSelections[tpml.count++];
    s.hash = TpmId(alg);
    s.sizeofSelect = 3;
    for (std::uint32_t pcr : pcrs) {
      if (pcr >= kNumPcrs) {
        return InvalidArgument("PCR " + std::to_string(pcr) + " of bank " + std::string(HashAlgName(alg)) +
                               " is out of range (0.." + std::to_string(kNumPcrs - 1) + ")");
      }
      s.pcrSelect[pcr / 8] |= static_cast<BYTE>(1u << (pcr % 8));
    }
  }
  return tpml;
}

Result<PcrSelection> FromTpml(const TPML_PCR_SELECTION& tpml) {
  PcrSelection out;
  for (std::uint32_t i = 0; i < tpml.count && i < TPM2_NUM_PCR_BANKS; ++i) {
    const TPMS_PCR_SELECTION& s = tpml.pcrSelections[i];
    auto alg = HashAlgFromTpmId(s.hash);
    if (!alg) return Unsupported("PCR bank with unknown hash algorithm " + Hex32(s.hash));
    auto& pcrs = out[*alg];
    for (std::uint32_t byte = 0; byte < s.sizeofSelect && byte < TPM2_PCR_SELECT_MAX; ++byte) {
      for (std::uint32_t bit = 0; bit < 8; ++bit) {
        if (s.pcrSelect[byte] & (1u << bit)) pcrs.push_back(byte * 8 + bit);
      }
    }
  }
  return out;
}

Result<Bytes> QuotePcrDigest(const TPML_PCR_SELECTION& selection, const PcrValues& pcrs) {
  Hasher hasher(HashAlg::kSha256);
  for (std::uint32_t i = 0; i < selection.count && i < TPM2_NUM_PCR_BANKS; ++i) {
    const TPMS_PCR_SELECTION& s = selection.pcrSelections[i];
    auto alg = HashAlgFromTpmId(s.hash);
    if (!alg) return Unsupported("PCR bank with unknown hash algorithm " + Hex32(s.hash));
    auto bank = pcrs.find(*alg);
    for (std::uint32_t byte = 0; byte < s.sizeofSelect && byte < TPM2_PCR_SELECT_MAX; ++byte) {
      for (std::uint32_t bit = 0; bit < 8; ++bit) {
        if (!(s.pcrSelect[byte] & (1u << bit))) continue;
        std::uint32_t pcr = byte * 8 + bit;
        const Bytes* value = nullptr;
        if (bank != pcrs.end()) {
          auto it = bank->second.find(pcr);
          if (it != bank->second.end()) value = &it->second;
        }
        if (value == nullptr) {
          return Corruption("PCR " + std::string(HashAlgName(*alg)) + ":" + std::to_string(pcr) +
                            " is selected by the quote but missing from the PCR values");
        }
        hasher.Update(*value);
      }
    }
  }
  return hasher.Final();
}

TPM2B_PUBLIC SrkTemplate() {
  TPM2B_PUBLIC t{};
  TPMT_PUBLIC& p = t.publicArea;
  p.type = TPM2_ALG_ECC;
  p.nameAlg = TPM2_ALG_SHA256;
  p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                       TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED |
                       TPMA_OBJECT_DECRYPT;
  p.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
  p.parameters.eccDetail.symmetric.keyBits.aes = 128;
  p.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
  p.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  p.unique.ecc.x.size = 32;
  p.unique.ecc.y.size = 32;
  return t;
}

TPM2B_PUBLIC AkTemplate(KeyAlg alg) {
  TPM2B_PUBLIC t{};
  TPMT_PUBLIC& p = t.publicArea;
  p.nameAlg = TPM2_ALG_SHA256;
  p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                       TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
  if (alg == KeyAlg::kEccP256) {
    p.type = TPM2_ALG_ECC;
    p.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    p.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  } else {
    p.type = TPM2_ALG_RSA;
    p.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
    p.parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
    p.parameters.rsaDetail.keyBits = 2048;
    p.parameters.rsaDetail.exponent = 0;
  }
  return t;
}

Result<Bytes> TpmName(const TPMT_PUBLIC& pub) {
  IMMUNE_ASSIGN_OR_RETURN(Bytes marshalled, Marshal(pub, Tss2_MU_TPMT_PUBLIC_Marshal, "TPMT_PUBLIC"));
  auto alg = HashAlgFromTpmId(pub.nameAlg);
  if (!alg) return Unsupported("public area with unknown nameAlg " + Hex32(pub.nameAlg));
  IMMUNE_ASSIGN_OR_RETURN(Bytes digest, Hash(*alg, marshalled));
  Bytes name{static_cast<std::uint8_t>(pub.nameAlg >> 8), static_cast<std::uint8_t>(pub.nameAlg & 0xff)};
  name.insert(name.end(), digest.begin(), digest.end());
  return name;
}

Result<std::string> PublicKeyPem(const TPMT_PUBLIC& pub) {
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld) return OsslError(ErrorCode::kInternal, "OSSL_PARAM_BLD_new");
  const char* type = nullptr;
  BnPtr n, e;
  Bytes point;
  if (pub.type == TPM2_ALG_ECC) {
    type = "EC";
    const char* group = nullptr;
    switch (pub.parameters.eccDetail.curveID) {
      case TPM2_ECC_NIST_P256: group = "prime256v1"; break;
      case TPM2_ECC_NIST_P384: group = "secp384r1"; break;
      default:
        return Unsupported("ECC curve " + Hex32(pub.parameters.eccDetail.curveID) + " is not supported");
    }
    const auto& x = pub.unique.ecc.x;
    const auto& y = pub.unique.ecc.y;
    point.push_back(0x04);
    point.insert(point.end(), x.buffer, x.buffer + x.size);
    point.insert(point.end(), y.buffer, y.buffer + y.size);
    if (OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) !=
            1) {
      return OsslError(ErrorCode::kInternal, "OSSL_PARAM_BLD_push (EC)");
    }
  } else if (pub.type == TPM2_ALG_RSA) {
    type = "RSA";
    const auto& mod = pub.unique.rsa;
    n.reset(BN_bin2bn(mod.buffer, mod.size, nullptr));
    e.reset(BN_new());
    std::uint32_t exponent =
        pub.parameters.rsaDetail.exponent == 0 ? 65537 : pub.parameters.rsaDetail.exponent;
    if (!n || !e || BN_set_word(e.get(), exponent) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
      return OsslError(ErrorCode::kInternal, "OSSL_PARAM_BLD_push (RSA)");
    }
  } else {
    return Unsupported("public area of type " + Hex32(pub.type) + " is not an ECC or RSA key");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return OsslError(ErrorCode::kInternal, "EVP_PKEY_fromdata_init");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return OsslError(ErrorCode::kCorruption, "public area is not a valid key");
  }
  PkeyPtr key(raw);
  return PublicKeyToPem(key.get());
}

}  // namespace immune::tpm::internal
