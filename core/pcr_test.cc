#include "immune/core/pcr.h"

#include <gtest/gtest.h>

#include "immune/core/hex.h"

namespace immune {
namespace {

TEST(PcrTest, JsonRoundTrip) {
  PcrValues v;
  v[HashAlg::kSha1][0] = Bytes(20, 0xab);
  v[HashAlg::kSha256][7] = Bytes(32, 0x01);
  std::string j = PcrValuesToJson(v);
  EXPECT_EQ(j.rfind("{\"banks\":{\"sha1\":{\"0\":\"abab", 0), 0u);
  auto back = PcrValuesFromJson(j);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(*back, v);
}

TEST(PcrTest, AcceptsTestdataShapeWithExtraMembersAndPrefix) {
  auto v = PcrValuesFromJson(R"({"source":"x","log":"y","banks":{"sha1":{"0":"0x)" + std::string(40, 'A') +
                             R"("}},"expected_efi_app_digests":{}})");
  ASSERT_TRUE(v.ok()) << v.error().ToString();
  EXPECT_EQ(ToHex((*v)[HashAlg::kSha1][0]), std::string(40, 'a'));
}

TEST(PcrTest, RejectsBadInputNamingTheMember) {
  auto wrong_size = PcrValuesFromJson(R"({"banks":{"sha256":{"3":"abcd"}}})");
  ASSERT_FALSE(wrong_size.ok());
  EXPECT_NE(wrong_size.error().message().find("banks.sha256.3"), std::string::npos);
  auto bad_pcr = PcrValuesFromJson(R"({"banks":{"sha1":{"24":"00"}}})");
  ASSERT_FALSE(bad_pcr.ok());
  EXPECT_NE(bad_pcr.error().message().find("banks.sha1.24"), std::string::npos);
  EXPECT_FALSE(PcrValuesFromJson(R"({"banks":{"md5":{}}})").ok());
  EXPECT_FALSE(PcrValuesFromJson("not json").ok());
  EXPECT_FALSE(PcrValuesFromJson("[]").ok());
}

TEST(PcrTest, CompareReportsMismatchesAndMissing) {
  PcrValues expected, actual;
  expected[HashAlg::kSha256][0] = Bytes(32, 1);
  expected[HashAlg::kSha256][1] = Bytes(32, 2);
  expected[HashAlg::kSha1][0] = Bytes(20, 3);
  actual[HashAlg::kSha256][0] = Bytes(32, 1);
  actual[HashAlg::kSha256][1] = Bytes(32, 9);
  actual[HashAlg::kSha256][5] = Bytes(32, 5);  // extra in actual: fine
  auto m = ComparePcrs(expected, actual);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].bank, HashAlg::kSha1);
  EXPECT_TRUE(m[0].actual.empty());
  EXPECT_EQ(m[1].bank, HashAlg::kSha256);
  EXPECT_EQ(m[1].pcr, 1u);
  EXPECT_TRUE(ComparePcrs(actual, actual).empty());
}

}  // namespace
}  // namespace immune
