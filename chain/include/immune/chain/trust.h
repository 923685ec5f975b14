// The trust configuration: the N publisher public keys and the threshold K.
// A block counts only with valid signatures by at least K distinct keys of
// the N and by no other key. Every block header carries the configuration's
// digest, so the configuration a store holds cannot be swapped silently.
//
// JSON form (TRUST.json):
//   {"version": 1, "threshold": K,
//    "publishers": [{"name": "a", "public_key": "-----BEGIN PUBLIC KEY-----..."}, ...]}
// The digest is SHA-256 of "IMCT" || version (1 byte) || K (u16) || N (u16)
// || each key's SPKI DER (u16 length, bytes), keys sorted by key id. Names
// are labels only and not part of the digest.
//
// Thread safety: immutable after construction; share freely.
#ifndef IMMUNE_CHAIN_TRUST_H_
#define IMMUNE_CHAIN_TRUST_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "immune/chain/block.h"
#include "immune/chain/hash.h"
#include "immune/chain/keys.h"
#include "immune/core/error.h"

namespace immune::chain {

struct Publisher {
  std::string name;
  PublicKey key;
};

class TrustConfig {
 public:
  // InvalidArgument unless 1 <= threshold <= publishers.size() and no key
  // repeats. Publishers are kept sorted by key id.
  static Result<TrustConfig> Make(std::vector<Publisher> publishers, std::uint32_t threshold);
  static Result<TrustConfig> FromJson(std::string_view text);

  std::string ToJson() const;
  std::uint32_t threshold() const { return threshold_; }
  const std::vector<Publisher>& publishers() const { return publishers_; }
  const Hash256& digest() const { return digest_; }
  // nullptr when `id` is not one of the N keys.
  const Publisher* Find(const Hash256& key_id) const;

  // OK when the signatures are by distinct configured keys, all valid over
  // `header`, and at least threshold() of them. Otherwise a Corruption error
  // naming the offending signature (its position and key id) or the count.
  Status CheckSignatures(const BlockHeader& header, const std::vector<BlockSignature>& sigs) const;

 private:
  std::vector<Publisher> publishers_;
  std::uint32_t threshold_ = 0;
  Hash256 digest_{};
};

}  // namespace immune::chain

#endif  // IMMUNE_CHAIN_TRUST_H_
