// The TPM seam: everything Immune asks of a TPM 2.0, behind one abstract
// class, with an implementation on tpm2-tss ESAPI (esys_tpm.cc: a real TPM
// through /dev/tpmrm0, swtpm, or tpm2-abrmd, chosen by a TCTI string) and an
// in-memory fake for unit tests (fake_tpm.cc). The fake never replaces the
// swtpm-backed test of the same behaviour; it sits beside it.
//
// Errors: a TPM response code is decoded with Tss2_RC_Decode into a kTpm
// Error whose message names the operation ("PCR_Extend(pcr=7): tpm:parameter(2):
// value is out of range ..."), plus the raw code in hex.
//
// Thread safety: a Tpm is used by one thread at a time (ESAPI contexts are
// not thread-safe); callers serialise access.
#ifndef IMMUNE_TPM_TPM_H_
#define IMMUNE_TPM_TPM_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"
#include "immune/core/pcr.h"

namespace immune::tpm {

enum class KeyAlg { kEccP256, kRsa2048 };

// TCG EK Credential Profile NV indices of EK certificates. swtpm_setup 0.7.1
// with --ecc writes an ECC NIST P-384 EK certificate at kEkCertNvIndexEccP384,
// not a P-256 one at kEkCertNvIndexEccP256.
inline constexpr std::uint32_t kEkCertNvIndexRsa2048 = 0x01c00002;
inline constexpr std::uint32_t kEkCertNvIndexEccP256 = 0x01c0000a;
inline constexpr std::uint32_t kEkCertNvIndexEccP384 = 0x01c00016;

std::string_view KeyAlgName(KeyAlg alg);  // "ecc" / "rsa"

// A restricted signing key (an attestation key) created in the owner
// hierarchy under the storage primary key.
struct AttestationKey {
  KeyAlg alg = KeyAlg::kEccP256;
  std::uint32_t handle = 0;    // implementation's handle of the loaded object; 0 when not loaded
  Bytes public_area;           // marshalled TPM2B_PUBLIC
  Bytes private_blob;          // marshalled TPM2B_PRIVATE (wrapped by the parent)
  Bytes name;                  // TPM name: nameAlg (2 bytes, big-endian) || H(TPMT_PUBLIC)
  std::string public_key_pem;  // SubjectPublicKeyInfo, for verifiers with OpenSSL
};

struct Quote {
  Bytes attest;     // marshalled TPMS_ATTEST (what the TPM signed)
  Bytes signature;  // marshalled TPMT_SIGNATURE
  PcrSelection selection;
};

// The decoded, checked content of a quote.
struct QuoteInfo {
  Bytes nonce;       // extraData
  Bytes pcr_digest;  // digest of the selected PCRs, in selection order
  PcrSelection selection;
  std::uint64_t clock = 0;
  std::uint32_t reset_count = 0;
  std::uint32_t restart_count = 0;
  std::uint64_t firmware_version = 0;
};

class Tpm {
 public:
  virtual ~Tpm() = default;

  // The PCR banks the TPM has allocated (TPM2_GetCapability(PCRS)), banks with
  // no PCR selected left out.
  virtual Result<std::vector<HashAlg>> AllocatedBanks() = 0;

  // Reads the selected PCRs; an empty selection means PCRs 0..23 of every
  // allocated bank. TPM2_PCR_Read returns at most 8 PCRs a call: the
  // implementation loops until all are read.
  virtual Result<PcrValues> ReadPcrs(const PcrSelection& selection) = 0;

  // TPM2_PCR_Extend with one digest per bank; each digest must be the size of
  // its bank. Banks the TPM has not allocated are an error.
  virtual Status Extend(std::uint32_t pcr, const std::vector<std::pair<HashAlg, Bytes>>& digests) = 0;

  // Creates and loads a restricted signing key (ECDSA P-256 / RSASSA-2048,
  // SHA-256) under the storage primary (created on first use, kept loaded).
  virtual Result<AttestationKey> CreateAttestationKey(KeyAlg alg) = 0;

  // Loads a key from its public area and private blob (as returned by
  // CreateAttestationKey on this TPM); fills in `handle`.
  virtual Result<AttestationKey> LoadAttestationKey(const AttestationKey& key) = 0;

  // TPM2_Quote over `selection` with `nonce` as qualifying data.
  virtual Result<Quote> QuotePcrs(const AttestationKey& key, ByteSpan nonce,
                                  const PcrSelection& selection) = 0;

  // The EK certificate (DER) from its TCG-defined NV index: 0x01c00002 (RSA)
  // or 0x01c0000a (ECC P-256). kNotFound when the index is not defined (as
  // for ECC on a swtpm manufactured by SwtpmProcess: see kEkCertNvIndexEccP384).
  virtual Result<Bytes> ReadEkCertificate(KeyAlg alg) = 0;

  // Flushes a loaded key's transient handle and sets key.handle to 0; the
  // key's blobs stay valid (LoadAttestationKey loads it again).
  virtual Status Flush(AttestationKey& key) = 0;

  // The whole content of an NV index (read in chunks of TPM_PT_NV_BUFFER_MAX),
  // authorised as its attributes allow (index, owner or platform auth, all
  // with empty passwords). kNotFound when the index is not defined. The fake
  // knows only the EK certificate indices above.
  virtual Result<Bytes> ReadNvIndex(std::uint32_t nv_index) = 0;
};

// Opens a TPM through tpm2-tss's TCTI loader. `tcti` is a TPM2TOOLS_TCTI-style
// string: "swtpm:port=2321", "swtpm:host=127.0.0.1,port=2321",
// "device:/dev/tpmrm0", "tabrmd:bus_type=session", "mssim:port=2321".
// Sends one command (GetCapability) to check that the TPM answers:
// kUnavailable when the TCTI cannot be initialised or the TPM not reached.
// The returned Tpm owns the ESAPI and TCTI contexts; its destructor flushes
// the storage primary (attestation keys stay loaded until Flush: a TPM has
// only a few transient slots, swtpm three) and closes both.
Result<std::unique_ptr<Tpm>> OpenTpm(std::string_view tcti);

// The TCTI to use when none was configured: $TPM2TOOLS_TCTI, then $TCTI,
// then "device:/dev/tpmrm0" if that exists. nullopt when there is none.
std::optional<std::string> DefaultTcti();

// A TPM in memory: PCRs 0..23 in each bank of `banks`, initially zero (PCR 0
// starts at 00..0L for `startup_locality` L), real hashing and real OpenSSL
// keys, quotes in the TPM's wire format. For unit tests only. Unlike a TPM:
// AttestationKey::private_blob is the key's PKCS#8 DER in clear; EK
// certificates are self-signed (RSA-2048 at 0x01c00002, ECC P-256 at
// 0x01c0000a), generated on first read; other NV indices are kNotFound.
std::unique_ptr<Tpm> NewFakeTpm(std::vector<HashAlg> banks = {HashAlg::kSha1, HashAlg::kSha256},
                                std::uint8_t startup_locality = 0);

// Checks a quote: the signature over `attest` with the key in
// `public_key_pem`, the TPMS_ATTEST magic and type, that extraData equals
// `nonce`, and that the PCR digest equals the digest of `pcrs` over the
// quote's selection. Returns the decoded quote. kCorruption names the first
// check that failed.
Result<QuoteInfo> VerifyQuote(const Quote& quote, std::string_view public_key_pem, ByteSpan nonce,
                              const PcrValues& pcrs);

// The pcrDigest a TPM2_Quote signed with a SHA-256 key reports: SHA-256 over
// the values of `selection` taken from `pcrs`, banks in TPM_ALG_ID order (the
// order QuotePcrs sends them), PCRs ascending. kCorruption when one is missing.
Result<Bytes> QuotePcrDigest(const PcrSelection& selection, const PcrValues& pcrs);

// The SubjectPublicKeyInfo PEM of a marshalled TPM2B_PUBLIC (ECC P-256/P-384
// or RSA), e.g. AttestationKey::public_area.
Result<std::string> PublicKeyPemFromTpm2bPublic(ByteSpan tpm2b_public);

}  // namespace immune::tpm

#endif  // IMMUNE_TPM_TPM_H_
