// IMA file signatures (the security.ima xattr, the "sig" field of ima-sig
// log entries): parsing the signature_v2 header, loading trusted public keys
// by their ima-evm-utils key id, and verifying a signature over a file
// digest. Needs no IMA log: the TSB (tsb/ima_sig.h) adds log-based key
// loading and per-entry reports on top; the policy library checks xattrs.
//
// Format (kernel security/integrity/integrity.h, struct signature_v2_hdr):
//   u8 type       3 = EVM_IMA_XATTR_DIGSIG, 6 = IMA_VERITY_DIGSIG
//                 (5 = EVM_XATTR_PORTABLE_DIGSIG signs metadata: unsupported)
//   u8 version    2: the signature is over the file digest;
//                 3: over H(type || hash_algo || file digest) (ima_file_id)
//   u8 hash_algo  IMA's enum hash_algo (include/uapi/linux/hash_info.h:
//                 2 sha1, 4 sha256, 5 sha384, 6 sha512, 17 sm3,
//                 20/21/22 sha3-256/384/512), NOT the TPM algorithm ids
//   be32 keyid    the last 4 bytes of the SHA-1 of the public key's
//                 subjectPublicKey bit string (the RSAPublicKey DER, or the EC
//                 point), as ima-evm-utils computes it; for certificates the
//                 kernel uses the subject key identifier, usually the same
//   be16 sig_size then sig_size bytes: RSA PKCS#1 v1.5 (DigestInfo of the
//                 hash algorithm) or a DER ECDSA signature
//
// Thread safety: an ImaTrustedKeys is not safe to modify concurrently; once
// loaded, concurrent verification through a const ImaTrustedKeys is safe.
#ifndef IMMUNE_CORE_IMA_SIGNATURE_H_
#define IMMUNE_CORE_IMA_SIGNATURE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"

namespace immune {

inline constexpr std::uint8_t kImaSigTypeDigsig = 0x03;
inline constexpr std::uint8_t kImaSigTypeEvmPortable = 0x05;
inline constexpr std::uint8_t kImaSigTypeVerity = 0x06;

// IMA's enum hash_algo: nullopt when Immune cannot compute the algorithm
// (md4, md5, ...) or the id is out of range.
std::optional<HashAlg> HashAlgFromImaHashAlgo(std::uint8_t id);
// The kernel's name for the id ("md5", "sha256", "sm3"); "" when out of range.
std::string_view ImaHashAlgoName(std::uint8_t id);

struct ImaSignatureHeader {
  std::uint8_t type = 0;
  std::uint8_t version = 0;
  std::uint8_t ima_hash_algo = 0;   // IMA's enum hash_algo
  std::optional<HashAlg> hash_alg;  // empty when Immune cannot compute it
  std::uint32_t keyid = 0;
  ByteSpan signature;  // points into the parsed span
};

// Parses and checks the header; the signature bytes must be exactly
// sig_size. kCorruption for malformed bytes, kUnsupported for v1 or EVM
// portable signatures.
Result<ImaSignatureHeader> ParseImaSignature(ByteSpan sig);

// "f3452d23": how ima-evm-utils and the kernel print key ids.
std::string FormatKeyId(std::uint32_t keyid);

// Public keys by IMA key id. Owns its OpenSSL keys; move-only.
class ImaTrustedKeys {
 public:
  ImaTrustedKeys();
  ~ImaTrustedKeys();
  ImaTrustedKeys(ImaTrustedKeys&&) noexcept;
  ImaTrustedKeys& operator=(ImaTrustedKeys&&) noexcept;
  ImaTrustedKeys(const ImaTrustedKeys&) = delete;
  ImaTrustedKeys& operator=(const ImaTrustedKeys&) = delete;

  // Adds every key in a PEM file (PUBLIC KEY, CERTIFICATE, RSA PUBLIC KEY,
  // and the public half of PRIVATE KEY / RSA PRIVATE KEY / EC PRIVATE KEY
  // blocks; other blocks such as EC PARAMETERS are skipped) or one DER
  // SubjectPublicKeyInfo, certificate or private key. Errors name the path.
  Status AddKeyFile(const std::string& path);
  Status AddKey(ByteSpan pem_or_der, std::string_view source);

  std::size_t size() const;
  std::vector<std::uint32_t> KeyIds() const;

  // Verifies one signature over `data` (already the digest to sign) with
  // every key of that id. kNotFound: no such key; kCorruption: no key
  // verifies it.
  Status Verify(std::uint32_t keyid, HashAlg alg, ByteSpan data, ByteSpan signature) const;

 private:
  struct Key;
  std::vector<Key> keys_;
};

// Verifies a parsed header's signature over a file digest computed with
// *h.hash_alg (the caller checked that the algorithms agree): v2 signs the
// digest itself, v3 the hash of struct ima_file_id cut to the digest size.
Status VerifyImaSignatureOver(const ImaSignatureHeader& h, ByteSpan file_digest, const ImaTrustedKeys& keys);

// Parses a security.ima value and verifies it over a file digest of
// algorithm `alg`. kCorruption when the header is malformed, its hash
// algorithm differs from `alg`, or no key verifies it; kNotFound when no key
// has its id; kUnsupported for algorithms Immune cannot compute.
Status VerifyImaFileSignature(ByteSpan xattr, HashAlg alg, ByteSpan file_digest, const ImaTrustedKeys& keys);

}  // namespace immune

#endif  // IMMUNE_CORE_IMA_SIGNATURE_H_
