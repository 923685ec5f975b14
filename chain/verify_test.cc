#include "immune/chain/verify.h"

#include <gtest/gtest.h>

#include "immune/chain/merkle.h"
#include "immune/chain/publish.h"
#include "immune/chain/sqlite_store.h"
#include "test_util.h"

namespace immune::chain {
namespace {

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(OpenStore("sqlite:" + dir_.File("c.db"), true)).value();
    ASSERT_TRUE(store_->Initialize(pubs_.trust.ToJson()).ok());
  }
  ChainHead Publish(std::vector<Record> records) {
    auto h = PublishRecords(*store_, pubs_.trust, records, {pubs_.keys[1]}, 5);
    EXPECT_TRUE(h.ok()) << h.error().ToString();
    return *h;
  }
  testing::TempDir dir_;
  testing::Publishers pubs_ = testing::MakePublishers(2, 1);
  std::unique_ptr<BlockStore> store_;
};

TEST_F(VerifyTest, EmptyChainVerifies) {
  auto r = VerifyChain(*store_, pubs_.trust);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok());
  EXPECT_EQ(r->blocks, 0u);
  EXPECT_FALSE(r->head.has_value());
}

TEST_F(VerifyTest, PinnedHeadMustBeExtended) {
  Publish(testing::MakeBaselines(0, 3));
  const ChainHead pinned = Publish(testing::MakeBaselines(3, 3));
  Publish(testing::MakeBaselines(6, 3));
  VerifyOptions o;
  o.from = 2;
  o.pinned = pinned;  // verification starts at the pinned block at the latest
  auto r = VerifyChain(*store_, pubs_.trust, o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok()) << r->failure->ToString();
  EXPECT_EQ(r->first_height, 1u);
  EXPECT_EQ(r->head->height, 2u);

  ChainHead forged = pinned;
  forged.hash[5] ^= 0x40;
  o.pinned = forged;
  r = VerifyChain(*store_, pubs_.trust, o);
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->failure->height, 1u);
  EXPECT_NE(r->failure->reason.find("does not extend the pinned"), std::string::npos);

  o.pinned = ChainHead{9, pinned.hash};
  r = VerifyChain(*store_, pubs_.trust, o);
  ASSERT_FALSE(r->ok());
  EXPECT_NE(r->failure->reason.find("ends before the pinned head"), std::string::npos);
}

TEST_F(VerifyTest, FromHeightAnchorsOnThePreviousHeader) {
  for (int i = 0; i < 4; ++i) Publish(testing::MakeBaselines(i * 2, 2));
  VerifyOptions o;
  o.from = 2;
  auto r = VerifyChain(*store_, pubs_.trust, o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok());
  EXPECT_EQ(r->blocks, 2u);
  o.from = 9;
  r = VerifyChain(*store_, pubs_.trust, o);
  ASSERT_FALSE(r->ok());
  EXPECT_NE(r->failure->reason.find("ends at block 3"), std::string::npos);
}

TEST_F(VerifyTest, RevocationWithdrawsABaselineFromTheIndex) {
  Publish(testing::MakeBaselines(0, 3));
  const FileBaseline f = testing::MakeBaseline(1);
  Publish({Revocation{LeafHash(EncodeRecord(f)), "rebuilt"}});
  BaselineIndex index;
  VerifyOptions o;
  o.index = &index;
  auto r = VerifyChain(*store_, pubs_.trust, o);
  ASSERT_TRUE(r->ok());
  EXPECT_EQ(index.FindByDigest(f.digest).error().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(index.FindByImagePath(f.image, f.path).ok());
  EXPECT_TRUE(index.FindByDigest(testing::MakeBaseline(2).digest).ok());
  EXPECT_EQ(index.CountByDigest(testing::MakeBaseline(2).digest.value, HashAlg::kSha256), 1u);
  // The revoked record can still be located (and proven) by id.
  EXPECT_EQ(*index.FindRecord(LeafHash(EncodeRecord(f))), (RecordLocation{0, 1}));
}

TEST_F(VerifyTest, VerifyBlockNamesPositionFaults) {
  const ChainHead h = Publish(testing::MakeBaselines(0, 2));
  Block b = *store_->Read(0);
  EXPECT_FALSE(VerifyBlock(b, 0, Hash256{}, pubs_.trust).has_value());
  auto f = VerifyBlock(b, 1, h.hash, pubs_.trust);
  ASSERT_TRUE(f.has_value());
  EXPECT_NE(f->reason.find("header says height 0"), std::string::npos);
  f = VerifyBlock(b, 0, h.hash, pubs_.trust);
  ASSERT_TRUE(f.has_value());
  EXPECT_NE(f->reason.find("previous-block hash"), std::string::npos);
}

}  // namespace
}  // namespace immune::chain
