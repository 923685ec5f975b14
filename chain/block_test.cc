#include "immune/chain/block.h"

#include <gtest/gtest.h>

#include "immune/chain/publish.h"
#include "test_util.h"

namespace immune::chain {
namespace {

Block SampleBlock() {
  auto pubs = testing::MakePublishers(3, 2);
  auto b =
      PrepareBlock(ChainHead{4, Sha256(AsBytes("prev"))}, testing::MakeBaselines(0, 5), pubs.trust, 1234);
  for (int i = 0; i < 2; ++i)
    b->signatures.push_back(*SignHeader(b->header, pubs.keys[static_cast<std::size_t>(i)]));
  return std::move(b).value();
}

TEST(BlockTest, RoundTripsAndHeaderIsFixedSize) {
  Block b = SampleBlock();
  EXPECT_EQ(b.header.height, 5u);
  EXPECT_EQ(EncodeHeader(b.header).size(), kHeaderSize);
  const Bytes enc = EncodeBlock(b);
  auto dec = DecodeBlock(enc);
  ASSERT_TRUE(dec.ok()) << dec.error().ToString();
  EXPECT_EQ(dec->header, b.header);
  EXPECT_EQ(dec->signatures, b.signatures);
  EXPECT_EQ(dec->records, b.records);
  EXPECT_EQ(EncodeBlock(*dec), enc);
}

TEST(BlockTest, EveryTruncationAndTrailingByteIsAnError) {
  const Bytes enc = EncodeBlock(SampleBlock());
  for (std::size_t n = 0; n < enc.size(); ++n) {
    auto dec = DecodeBlock(ByteSpan(enc).first(n));
    ASSERT_FALSE(dec.ok()) << n;
    EXPECT_EQ(dec.error().code(), ErrorCode::kCorruption);
  }
  Bytes longer = enc;
  longer.push_back(7);
  auto dec = DecodeBlock(longer);
  ASSERT_FALSE(dec.ok());
  EXPECT_NE(dec.error().message().find("trailing"), std::string::npos);
}

TEST(BlockTest, HeaderFieldsAreChecked) {
  Bytes h = EncodeHeader(SampleBlock().header);
  Bytes bad = h;
  bad[0] = 'X';
  EXPECT_NE(DecodeHeader(bad).error().message().find("magic"), std::string::npos);
  bad = h;
  bad[4] = 2;
  EXPECT_NE(DecodeHeader(bad).error().message().find("version 2"), std::string::npos);
  bad = h;
  bad[21] = 0xFF;  // record count's top byte
  EXPECT_NE(DecodeHeader(bad).error().message().find("record count"), std::string::npos);
  // A huge claimed record count with no bytes behind it does not allocate.
  Block b = SampleBlock();
  b.header.record_count = kMaxRecordsPerBlock;
  b.records.clear();
  auto dec = DecodeBlock(EncodeBlock(b));
  ASSERT_FALSE(dec.ok());
  EXPECT_NE(dec.error().message().find("counts"), std::string::npos) << dec.error().message();
}

TEST(BlockTest, SigningMessageIsDomainSeparated) {
  Block b = SampleBlock();
  Bytes m = SigningMessage(b.header);
  ASSERT_EQ(m.size(), 22u + 32u);
  EXPECT_EQ(std::string(m.begin(), m.begin() + 21), "immune.chain.block.v1");
  EXPECT_EQ(m[21], 0);
  const Hash256 h = BlockHash(b.header);
  EXPECT_TRUE(std::equal(h.begin(), h.end(), m.begin() + 22));
}

}  // namespace
}  // namespace immune::chain
