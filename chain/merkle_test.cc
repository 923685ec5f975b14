#include "immune/chain/merkle.h"

#include <gtest/gtest.h>

#include <string>

#include "immune/core/hex.h"

namespace immune::chain {
namespace {

std::vector<Hash256> Leaves(std::size_t n) {
  std::vector<Hash256> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(LeafHash(AsBytes("leaf " + std::to_string(i))));
  return out;
}

// RFC 6962's MTH written the way the RFC defines it, recursively.
Hash256 RecursiveRoot(std::span<const Hash256> leaves) {
  if (leaves.empty()) return Sha256({});
  if (leaves.size() == 1) return leaves[0];
  std::size_t k = 1;
  while (k * 2 < leaves.size()) k *= 2;
  return NodeHash(RecursiveRoot(leaves.first(k)), RecursiveRoot(leaves.subspan(k)));
}

TEST(MerkleTest, EmptyTreeIsHashOfEmptyString) {
  EXPECT_EQ(HashHex(MerkleRoot({})), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(MerkleTest, LeafAndNodeUseDomainPrefixes) {
  // SHA-256(0x00) for an empty leaf (RFC 6962 test vector).
  EXPECT_EQ(HashHex(LeafHash({})), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  const Hash256 a = LeafHash(AsBytes("a"));
  Bytes buf = {0x01};
  buf.insert(buf.end(), a.begin(), a.end());
  buf.insert(buf.end(), a.begin(), a.end());
  EXPECT_EQ(NodeHash(a, a), Sha256(buf));
}

TEST(MerkleTest, RootMatchesTheRecursiveDefinitionForEverySizeUpTo70) {
  for (std::size_t n = 0; n <= 70; ++n) {
    auto leaves = Leaves(n);
    EXPECT_EQ(MerkleRoot(leaves), RecursiveRoot(leaves)) << n;
  }
}

TEST(MerkleTest, EveryAuditPathVerifiesAndOnlyForItsLeaf) {
  for (std::size_t n = 1; n <= 33; ++n) {
    auto leaves = Leaves(n);
    const Hash256 root = MerkleRoot(leaves);
    for (std::size_t i = 0; i < n; ++i) {
      auto path = AuditPath(leaves, i);
      ASSERT_TRUE(path.ok());
      EXPECT_TRUE(VerifyInclusion(leaves[i], i, n, *path, root).ok()) << n << " " << i;
      if (n > 1) {
        EXPECT_FALSE(VerifyInclusion(leaves[(i + 1) % n], i, n, *path, root).ok()) << n << " " << i;
        EXPECT_FALSE(VerifyInclusion(leaves[i], (i + 1) % n, n, *path, root).ok()) << n << " " << i;
      }
    }
  }
}

TEST(MerkleTest, MalformedPathsAreRejectedWithAReason) {
  auto leaves = Leaves(5);
  const Hash256 root = MerkleRoot(leaves);
  auto path = *AuditPath(leaves, 2);
  auto longer = path;
  longer.push_back(root);
  auto s = VerifyInclusion(leaves[2], 2, 5, longer, root);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("more than"), std::string::npos) << s.error().message();
  auto shorter = path;
  shorter.pop_back();
  s = VerifyInclusion(leaves[2], 2, 5, shorter, root);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("fewer than"), std::string::npos) << s.error().message();
  EXPECT_FALSE(VerifyInclusion(leaves[2], 7, 5, path, root).ok());
  EXPECT_FALSE(AuditPath(leaves, 5).ok());
}

}  // namespace
}  // namespace immune::chain
