#include "immune/core/hex.h"

#include <gtest/gtest.h>

namespace immune {
namespace {

TEST(HexTest, RoundTripsLowerCase) {
  Bytes b = {0x00, 0x01, 0xab, 0xff};
  EXPECT_EQ(ToHex(b), "0001abff");
  auto back = FromHex("0001ABff");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, b);
}

TEST(HexTest, AcceptsPrefixRejectsBadInput) {
  auto p = FromHex("0x10");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, Bytes{0x10});
  auto odd = FromHex("abc");
  ASSERT_FALSE(odd.ok());
  EXPECT_NE(odd.error().message().find("odd length"), std::string::npos);
  auto bad = FromHex("zz00");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("position 0"), std::string::npos);
}

TEST(HexTest, Base64RoundTrips) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    Bytes b(s.begin(), s.end());
    auto back = FromBase64(ToBase64(b));
    ASSERT_TRUE(back.ok()) << s;
    EXPECT_EQ(*back, b) << s;
  }
  EXPECT_EQ(ToBase64(Bytes{'f', 'o', 'o', 'b'}), "Zm9vYg==");
  EXPECT_FALSE(FromBase64("abc").ok());
  EXPECT_FALSE(FromBase64("ab!=").ok());
}

}  // namespace
}  // namespace immune
