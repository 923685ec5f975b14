#include "immune/chain/merkle.h"

#include <string>

#include "immune/core/digest.h"

namespace immune::chain {

namespace {

// One hasher per thread: SHA-256 contexts are reused without allocation.
Hasher& ThreadHasher() {
  thread_local Hasher h(HashAlg::kSha256);
  return h;
}

}  // namespace

Hash256 LeafHash(ByteSpan record) {
  static constexpr std::uint8_t kPrefix[1] = {0x00};
  Hasher& h = ThreadHasher();
  h.Reset();
  h.Update(kPrefix).Update(record);
  Hash256 out{};
  (void)h.FinalTo(out);
  return out;
}

Hash256 NodeHash(const Hash256& left, const Hash256& right) {
  static constexpr std::uint8_t kPrefix[1] = {0x01};
  Hasher& h = ThreadHasher();
  h.Reset();
  h.Update(kPrefix).Update(left).Update(right);
  Hash256 out{};
  (void)h.FinalTo(out);
  return out;
}

// Bottom-up: pair neighbours level by level; an unpaired last node moves up
// unchanged. This yields RFC 6962's MTH: its split at the largest power of
// two below n puts every unpaired node at the right edge, where it is
// combined only once its left neighbour subtree is complete.
Hash256 MerkleRoot(std::span<const Hash256> leaves) {
  if (leaves.empty()) return Sha256({});
  std::vector<Hash256> level(leaves.begin(), leaves.end());
  std::size_t n = level.size();
  while (n > 1) {
    std::size_t out = 0;
    for (std::size_t i = 0; i + 1 < n; i += 2) level[out++] = NodeHash(level[i], level[i + 1]);
    if (n % 2 == 1) level[out++] = level[n - 1];
    n = out;
  }
  return level[0];
}

Result<std::vector<Hash256>> AuditPath(std::span<const Hash256> leaves, std::uint64_t index) {
  if (index >= leaves.size())
    return InvalidArgument("leaf " + std::to_string(index) + " is outside a tree of " +
                           std::to_string(leaves.size()) + " leaves");
  std::vector<Hash256> path;
  std::vector<Hash256> level(leaves.begin(), leaves.end());
  std::size_t n = level.size();
  std::uint64_t i = index;
  while (n > 1) {
    const std::uint64_t sibling = i ^ 1;
    if (sibling < n) path.push_back(level[sibling]);
    std::size_t out = 0;
    for (std::size_t j = 0; j + 1 < n; j += 2) level[out++] = NodeHash(level[j], level[j + 1]);
    if (n % 2 == 1) level[out++] = level[n - 1];
    n = out;
    i >>= 1;
  }
  return path;
}

Status VerifyInclusion(const Hash256& leaf, std::uint64_t index, std::uint64_t tree_size,
                       std::span<const Hash256> path, const Hash256& root) {
  if (index >= tree_size)
    return Corruption("leaf index " + std::to_string(index) + " is not below the tree size " +
                      std::to_string(tree_size));
  std::uint64_t fn = index;
  std::uint64_t sn = tree_size - 1;
  Hash256 r = leaf;
  for (std::size_t k = 0; k < path.size(); ++k) {
    if (sn == 0)
      return Corruption("audit path has " + std::to_string(path.size()) + " hashes, more than the " +
                        std::to_string(k) + " a tree of " + std::to_string(tree_size) + " leaves needs");
    if ((fn & 1) == 1 || fn == sn) {
      r = NodeHash(path[k], r);
      // Skip the levels where this node is a right-edge node without sibling.
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = NodeHash(r, path[k]);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0)
    return Corruption("audit path has " + std::to_string(path.size()) + " hashes, fewer than a tree of " +
                      std::to_string(tree_size) + " leaves needs for leaf " + std::to_string(index));
  if (r != root) return Corruption("audit path leads to a root other than the block's Merkle root");
  return OkStatus();
}

}  // namespace immune::chain
