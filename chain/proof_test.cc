#include "immune/chain/proof.h"

#include <gtest/gtest.h>

#include "immune/chain/publish.h"
#include "test_util.h"

namespace immune::chain {
namespace {

class ProofTest : public ::testing::Test {
 protected:
  void SetUp() override {
    block_ = *PrepareBlock(ChainHead{2, Sha256(AsBytes("p"))}, testing::MakeBaselines(0, 13), pubs_.trust, 7);
    for (int i : {0, 2})
      block_.signatures.push_back(*SignHeader(block_.header, pubs_.keys[static_cast<std::size_t>(i)]));
  }
  testing::Publishers pubs_ = testing::MakePublishers(3, 2);
  Block block_;
};

TEST_F(ProofTest, EveryRecordsProofVerifiesAfterAJsonRoundTrip) {
  for (std::uint32_t i = 0; i < block_.records.size(); ++i) {
    auto p = BuildProof(block_, i);
    ASSERT_TRUE(p.ok());
    auto back = ProofFromJson(ProofToJson(*p));
    ASSERT_TRUE(back.ok()) << back.error().ToString();
    EXPECT_TRUE(VerifyProof(*back, pubs_.trust).ok()) << i;
  }
}

TEST_F(ProofTest, AlteredProofsFailNamingWhat) {
  const InclusionProof good = *BuildProof(block_, 5);
  InclusionProof p = good;
  p.record = EncodeRecord(testing::MakeBaseline(99));
  auto s = VerifyProof(p, pubs_.trust);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("block 3, record 5"), std::string::npos) << s.error().message();
  p = good;
  p.signatures.pop_back();
  EXPECT_NE(VerifyProof(p, pubs_.trust).error().message().find("threshold"), std::string::npos);
  p = good;
  p.audit_path[1][0] ^= 1;
  EXPECT_FALSE(VerifyProof(p, pubs_.trust).ok());
  p = good;
  p.leaf_index = 6;
  EXPECT_FALSE(VerifyProof(p, pubs_.trust).ok());
  auto other = testing::MakePublishers(3, 2);
  EXPECT_NE(VerifyProof(good, other.trust).error().message().find("trust configuration"), std::string::npos);
}

TEST_F(ProofTest, MalformedJsonIsBadInputNamingTheMember) {
  std::string j = ProofToJson(*BuildProof(block_, 1));
  auto json = nlohmann::json::parse(j);
  json["block"]["header_hex"] = "00";
  auto r = ProofFromJson(json.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message().find("header"), std::string::npos) << r.error().message();
  json = nlohmann::json::parse(j);
  json["audit_path"][0] = "zz";
  EXPECT_NE(ProofFromJson(json.dump()).error().message().find("audit_path[0]"), std::string::npos);
  json = nlohmann::json::parse(j);
  json["tree_size"] = 99;
  EXPECT_NE(ProofFromJson(json.dump()).error().message().find("tree_size"), std::string::npos);
  EXPECT_FALSE(ProofFromJson("[]").ok());
  EXPECT_FALSE(ProofFromJson("{\"format\":\"x\"}").ok());
}

}  // namespace
}  // namespace immune::chain
