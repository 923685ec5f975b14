// Hash algorithms, by their TCG algorithm identifiers, and digests computed
// with OpenSSL.
//
// The names are the ones tpm2-tools and the TCG event log use ("sha1",
// "sha256", "sha384", "sha512", "sm3_256", "sha3_256", ...), so JSON written
// here reads the same as theirs.
//
// Thread safety: all functions may be called from any thread; Hasher is a
// value owned by one thread at a time.
#ifndef IMMUNE_CORE_DIGEST_H_
#define IMMUNE_CORE_DIGEST_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "immune/core/bytes.h"
#include "immune/core/error.h"

namespace immune {

// Values are TPM_ALG_ID (TCG Algorithm Registry).
enum class HashAlg : std::uint16_t {
  kSha1 = 0x0004,
  kSha256 = 0x000B,
  kSha384 = 0x000C,
  kSha512 = 0x000D,
  kSm3_256 = 0x0012,
  kSha3_256 = 0x0027,
  kSha3_384 = 0x0028,
  kSha3_512 = 0x0029,
};

// Every algorithm above, in TPM_ALG_ID order.
std::span<const HashAlg> AllHashAlgs();

// nullopt when the identifier is not a hash algorithm Immune knows.
std::optional<HashAlg> HashAlgFromTpmId(std::uint16_t id);
std::optional<HashAlg> HashAlgFromName(std::string_view name);
std::string_view HashAlgName(HashAlg alg);
std::size_t DigestSize(HashAlg alg);
inline std::uint16_t TpmId(HashAlg alg) { return static_cast<std::uint16_t>(alg); }

// Largest digest any supported algorithm produces.
inline constexpr std::size_t kMaxDigestSize = 64;

// Incremental hashing. Construction cannot fail for the algorithms above on
// a standard OpenSSL 3 build; if the provider lacks one (a FIPS-only build
// without SM3), ok() is false and Final() returns an Unsupported error.
class Hasher {
 public:
  explicit Hasher(HashAlg alg);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  bool ok() const { return ctx_ != nullptr; }
  HashAlg alg() const { return alg_; }
  Hasher& Update(ByteSpan data);
  Result<Bytes> Final();
  // Writes the digest to out[0..DigestSize(alg)) (out must be that large)
  // without allocating; for hot loops such as PCR replay.
  Status FinalTo(std::span<std::uint8_t> out);
  // Starts a new digest with the same algorithm, reusing the context.
  void Reset();

 private:
  struct Ctx;
  HashAlg alg_;
  Ctx* ctx_ = nullptr;
};

Result<Bytes> Hash(HashAlg alg, ByteSpan data);

// TPM2_PCR_Extend: returns H(pcr || digest). Both must be DigestSize(alg).
Result<Bytes> ExtendDigest(HashAlg alg, ByteSpan pcr, ByteSpan digest);

}  // namespace immune

#endif  // IMMUNE_CORE_DIGEST_H_
