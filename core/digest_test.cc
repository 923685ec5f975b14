#include "immune/core/digest.h"

#include <gtest/gtest.h>

#include "immune/core/hex.h"

namespace immune {
namespace {

TEST(DigestTest, KnownAnswers) {
  auto abc = AsBytes("abc");
  EXPECT_EQ(ToHex(*Hash(HashAlg::kSha1, abc)), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(ToHex(*Hash(HashAlg::kSha256, abc)),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(ToHex(*Hash(HashAlg::kSm3_256, abc)),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
  EXPECT_EQ(Hash(HashAlg::kSha384, abc)->size(), 48u);
  EXPECT_EQ(Hash(HashAlg::kSha512, abc)->size(), 64u);
}

TEST(DigestTest, NamesAndIdsRoundTrip) {
  for (HashAlg alg : AllHashAlgs()) {
    EXPECT_EQ(HashAlgFromName(HashAlgName(alg)), alg);
    EXPECT_EQ(HashAlgFromTpmId(TpmId(alg)), alg);
    EXPECT_GT(DigestSize(alg), 0u);
    EXPECT_LE(DigestSize(alg), kMaxDigestSize);
  }
  EXPECT_FALSE(HashAlgFromTpmId(0x0001).has_value());  // TPM_ALG_RSA is not a hash
  EXPECT_FALSE(HashAlgFromName("md5").has_value());
}

TEST(DigestTest, ExtendMatchesHashOfConcatenation) {
  Bytes zero(32, 0);
  Bytes d = *Hash(HashAlg::kSha256, AsBytes("event"));
  Bytes cat = zero;
  cat.insert(cat.end(), d.begin(), d.end());
  EXPECT_EQ(*ExtendDigest(HashAlg::kSha256, zero, d), *Hash(HashAlg::kSha256, cat));
  auto bad = ExtendDigest(HashAlg::kSha256, zero, Bytes(20, 0));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

TEST(DigestTest, IncrementalEqualsOneShot) {
  Hasher h(HashAlg::kSha384);
  h.Update(AsBytes("ab")).Update(AsBytes("c"));
  EXPECT_EQ(*h.Final(), *Hash(HashAlg::kSha384, AsBytes("abc")));
}

}  // namespace
}  // namespace immune

namespace immune {
namespace {

TEST(DigestTest, ResetAndFinalToReuseOneContext) {
  for (HashAlg alg : AllHashAlgs()) {
    Hasher h(alg);
    ASSERT_TRUE(h.ok()) << HashAlgName(alg);
    h.Update(AsBytes("first"));
    Bytes out(DigestSize(alg));
    ASSERT_TRUE(h.FinalTo(out).ok());
    EXPECT_EQ(out, *Hash(alg, AsBytes("first"))) << HashAlgName(alg);
    h.Reset();
    h.Update(AsBytes("sec")).Update(AsBytes("ond"));
    ASSERT_TRUE(h.FinalTo(out).ok());
    EXPECT_EQ(out, *Hash(alg, AsBytes("second"))) << HashAlgName(alg);
  }
}

}  // namespace
}  // namespace immune
