#include "immune/chain/trust.h"

#include <gtest/gtest.h>

#include "immune/chain/publish.h"
#include "test_util.h"

namespace immune::chain {
namespace {

TEST(TrustTest, JsonRoundTripKeepsTheDigest) {
  auto pubs = testing::MakePublishers(3, 2, /*mixed=*/true);
  auto back = TrustConfig::FromJson(pubs.trust.ToJson());
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->digest(), pubs.trust.digest());
  EXPECT_EQ(back->threshold(), 2u);
  EXPECT_EQ(back->publishers().size(), 3u);
}

TEST(TrustTest, BadConfigurationsAreRefused) {
  auto pubs = testing::MakePublishers(2, 1);
  std::vector<Publisher> list = pubs.trust.publishers();
  EXPECT_FALSE(TrustConfig::Make(list, 0).ok());
  EXPECT_FALSE(TrustConfig::Make(list, 3).ok());
  list.push_back(list[0]);
  auto dup = TrustConfig::Make(list, 1);
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message().find("twice"), std::string::npos);
  EXPECT_FALSE(TrustConfig::FromJson("{}").ok());
  EXPECT_FALSE(
      TrustConfig::FromJson(R"({"version":1,"threshold":1,"publishers":[{"public_key":"x"}]})").ok());
}

TEST(TrustTest, KOfNSignaturesFromConfiguredKeysOnly) {
  auto pubs = testing::MakePublishers(3, 2, /*mixed=*/true);
  auto b = *PrepareBlock(std::nullopt, testing::MakeBaselines(0, 3), pubs.trust, 1);
  std::vector<BlockSignature> sigs = {*SignHeader(b.header, pubs.keys[0])};
  auto s = pubs.trust.CheckSignatures(b.header, sigs);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("fewer than the threshold 2"), std::string::npos) << s.error().message();
  sigs.push_back(*SignHeader(b.header, pubs.keys[1]));  // an ECDSA P-256 key
  EXPECT_TRUE(pubs.trust.CheckSignatures(b.header, sigs).ok());
  // The same key twice does not count twice.
  auto twice = std::vector<BlockSignature>{sigs[0], sigs[0]};
  EXPECT_NE(pubs.trust.CheckSignatures(b.header, twice).error().message().find("same key"),
            std::string::npos);
  // An unknown key is named.
  auto stranger = *PrivateKey::Generate(KeyType::kEd25519);
  auto with_stranger = sigs;
  with_stranger.push_back(*SignHeader(b.header, stranger));
  auto e = pubs.trust.CheckSignatures(b.header, with_stranger);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message().find(HashHex(stranger.public_key().id())), std::string::npos);
  EXPECT_NE(e.error().message().find("not in the trust configuration"), std::string::npos);
  // A signature over another header does not verify.
  BlockHeader other = b.header;
  other.time_ms++;
  EXPECT_NE(pubs.trust.CheckSignatures(other, sigs).error().message().find("does not verify"),
            std::string::npos);
}

TEST(TrustTest, KeysRoundTripThroughPem) {
  for (KeyType t : {KeyType::kEd25519, KeyType::kEcdsaP256}) {
    auto k = PrivateKey::Generate(t);
    ASSERT_TRUE(k.ok());
    auto back = PrivateKey::FromPem(k->ToPem());
    ASSERT_TRUE(back.ok()) << back.error().ToString();
    EXPECT_EQ(back->public_key().id(), k->public_key().id());
    auto pub = PublicKey::FromPem(k->public_key().ToPem());
    ASSERT_TRUE(pub.ok());
    EXPECT_EQ(pub->id(), k->public_key().id());
    EXPECT_FALSE(PublicKey::FromPem(k->ToPem()).ok());  // a private key is no public key PEM
  }
}

}  // namespace
}  // namespace immune::chain
