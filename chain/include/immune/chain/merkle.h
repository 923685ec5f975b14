// Merkle trees over a block's records, as RFC 6962 / RFC 9162 (section 2.1)
// define them with SHA-256:
//   leaf hash  = SHA-256(0x00 || record bytes)
//   node hash  = SHA-256(0x01 || left || right)
//   MTH of n > 1 leaves splits at k, the largest power of two below n;
//   MTH of no leaves is SHA-256 of the empty string.
//
// Thread safety: pure functions.
#ifndef IMMUNE_CHAIN_MERKLE_H_
#define IMMUNE_CHAIN_MERKLE_H_

#include <cstdint>
#include <span>
#include <vector>

#include "immune/chain/hash.h"
#include "immune/core/error.h"

namespace immune::chain {

Hash256 LeafHash(ByteSpan record);
Hash256 NodeHash(const Hash256& left, const Hash256& right);

// The tree head of `leaves` (leaf hashes, in order).
Hash256 MerkleRoot(std::span<const Hash256> leaves);

// The audit path (RFC 9162 2.1.3.1) of leaf `index`, deepest sibling first.
// InvalidArgument when index >= leaves.size().
Result<std::vector<Hash256>> AuditPath(std::span<const Hash256> leaves, std::uint64_t index);

// Recomputes the root from a leaf hash and its audit path (RFC 9162
// 2.1.3.2). Corruption error (naming the mismatch) when the path does not
// lead from the leaf at `index` of a tree of `tree_size` leaves to `root`.
Status VerifyInclusion(const Hash256& leaf, std::uint64_t index, std::uint64_t tree_size,
                       std::span<const Hash256> path, const Hash256& root);

}  // namespace immune::chain

#endif  // IMMUNE_CHAIN_MERKLE_H_
