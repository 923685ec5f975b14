// IMA file signatures (the ima-sig / ima-sigv2 "sig" field, i.e. the
// security.ima xattr): parsing the header, loading public keys, verifying.
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
// Thread safety: an ImaKeyRing is not safe to modify concurrently; once
// loaded, concurrent verification through a const ImaKeyRing is safe.
#ifndef IMMUNE_TSB_IMA_SIG_H_
#define IMMUNE_TSB_IMA_SIG_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"
#include "immune/tsb/ima_log.h"

namespace immune::tsb {

inline constexpr std::uint8_t kImaSigTypeDigsig = 0x03;
inline constexpr std::uint8_t kImaSigTypeEvmPortable = 0x05;
inline constexpr std::uint8_t kImaSigTypeVerity = 0x06;

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
class ImaKeyRing {
 public:
  ImaKeyRing();
  ~ImaKeyRing();
  ImaKeyRing(ImaKeyRing&&) noexcept;
  ImaKeyRing& operator=(ImaKeyRing&&) noexcept;
  ImaKeyRing(const ImaKeyRing&) = delete;
  ImaKeyRing& operator=(const ImaKeyRing&) = delete;

  // Adds every key in a PEM file (PUBLIC KEY, CERTIFICATE, RSA PUBLIC KEY,
  // and the public half of PRIVATE KEY / RSA PRIVATE KEY / EC PRIVATE KEY
  // blocks; other blocks such as EC PARAMETERS are skipped) or one DER
  // SubjectPublicKeyInfo, certificate or private key. Errors name the path.
  Status AddKeyFile(const std::string& path);
  Status AddKey(ByteSpan pem_or_der, std::string_view source);

  // Adds the X.509 certificates that ima-buf entries measured into the
  // given keyrings (KEY_CHECK measurements, e.g. ".ima"). Returns how many.
  Result<std::size_t> AddKeysFromLog(const ImaLog& log, std::span<const std::string_view> keyrings);

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

// Verifies one entry's sig field against its file digest. kNotFound when
// the entry has no signature or no key has its id; kCorruption when the
// header is malformed, its hash algorithm differs from the file digest's,
// or the signature does not verify ("signature does not verify with key
// f3452d23"). Messages carry no place; see VerifyImaSignatures.
Status VerifyImaSignature(const ImaEntry& entry, const ImaKeyRing& keys);

struct ImaSignatureReport {
  std::size_t signed_entries = 0;  // entries with a non-empty sig field
  std::size_t verified = 0;
  std::vector<Error> failures;  // one per signed entry that did not verify, naming it
};

// Checks every signed entry (violations skipped).
ImaSignatureReport VerifyImaSignatures(const ImaLog& log, const ImaKeyRing& keys);

}  // namespace immune::tsb

#endif  // IMMUNE_TSB_IMA_SIG_H_
