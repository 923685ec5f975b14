// Internal helpers shared by the ESAPI TPM, the fake TPM and quote
// verification: TSS response codes as Errors, libtss2-mu marshalling of the
// structures Immune stores as bytes, PCR selections, key templates and the
// TPM name of a public area. Not part of the public API (not installed).
//
// Thread safety: all functions are pure (no shared state).
#ifndef IMMUNE_TPM_TSS_UTIL_H_
#define IMMUNE_TPM_TSS_UTIL_H_

#include <tss2/tss2_common.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "immune/core/bytes.h"
#include "immune/core/error.h"
#include "immune/core/pcr.h"
#include "immune/tpm/tpm.h"

namespace immune::tpm::internal {

// "OP: <Tss2_RC_Decode text> (rc=0x...)" as kTpm, or kUnavailable when the
// TCTI layer reports that the TPM cannot be reached (I/O, connection).
Error TssError(std::string_view op, TSS2_RC rc);

// True for TCTI-layer codes meaning "could not talk to the TPM at all".
bool IsTctiIoError(TSS2_RC rc);

// Marshals `value` with a Tss2_MU_*_Marshal function.
template <typename T, typename Fn>
Result<Bytes> Marshal(const T& value, Fn fn, std::string_view what) {
  Bytes buf(sizeof(T) + 64);
  std::size_t offset = 0;
  TSS2_RC rc = fn(&value, buf.data(), buf.size(), &offset);
  if (rc != TSS2_RC_SUCCESS) return TssError(std::string("marshal ") + std::string(what), rc);
  buf.resize(offset);
  return buf;
}

// Unmarshals a T with a Tss2_MU_*_Unmarshal function; the whole input must be
// consumed. Failures are kCorruption naming `what`.
template <typename T, typename Fn>
Result<T> Unmarshal(ByteSpan bytes, Fn fn, std::string_view what) {
  T value{};
  std::size_t offset = 0;
  TSS2_RC rc = fn(bytes.data(), bytes.size(), &offset, &value);
  if (rc != TSS2_RC_SUCCESS) {
    return Corruption(std::string(what) + ": cannot unmarshal " + std::to_string(bytes.size()) +
                      " bytes: " + TssError("", rc).message());
  }
  if (offset != bytes.size()) {
    return Corruption(std::string(what) + ": " + std::to_string(bytes.size() - offset) +
                      " trailing bytes after offset " + std::to_string(offset));
  }
  return value;
}

// PcrSelection <-> TPML_PCR_SELECTION (banks in map order, 3-byte bitmaps).
// PCR indices must be < kNumPcrs.
Result<TPML_PCR_SELECTION> ToTpml(const PcrSelection& selection);
// Banks with an unknown hash algorithm are reported as kUnsupported.
Result<PcrSelection> FromTpml(const TPML_PCR_SELECTION& tpml);

// SHA-256 over the selected PCR values of `pcrs`, in TPML order (banks as
// listed, PCRs ascending): the pcrDigest of a TPM2_Quote with a SHA-256 key.
// kCorruption when a selected PCR is missing from `pcrs`.
Result<Bytes> QuotePcrDigest(const TPML_PCR_SELECTION& selection, const PcrValues& pcrs);

// Templates: the ECC P-256 storage root key (TCG SRK template) and
// restricted-signing attestation keys (ECDSA/RSASSA with SHA-256).
TPM2B_PUBLIC SrkTemplate();
TPM2B_PUBLIC AkTemplate(KeyAlg alg);

// nameAlg (big-endian) || H_nameAlg(marshalled TPMT_PUBLIC).
Result<Bytes> TpmName(const TPMT_PUBLIC& pub);

// SubjectPublicKeyInfo PEM of an ECC (NIST P-256/P-384) or RSA public area.
Result<std::string> PublicKeyPem(const TPMT_PUBLIC& pub);

std::string Hex32(std::uint32_t v);  // "0x01c00002"

}  // namespace immune::tpm::internal

#endif  // IMMUNE_TPM_TSS_UTIL_H_
