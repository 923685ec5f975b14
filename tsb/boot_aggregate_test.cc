#include "immune/tsb/boot_aggregate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "immune/core/hex.h"

namespace immune::tsb {
namespace {

using ::testing::HasSubstr;

PcrValues BootPcrs(HashAlg bank) {
  PcrValues v;
  for (std::uint32_t i = 0; i < 10; ++i)
    v[bank][i] = Bytes(DigestSize(bank), static_cast<std::uint8_t>(0x10 + i));
  return v;
}

Bytes Concat(const PcrValues& v, HashAlg bank, std::uint32_t last) {
  Bytes out;
  for (std::uint32_t i = 0; i <= last; ++i)
    out.insert(out.end(), v.at(bank).at(i).begin(), v.at(bank).at(i).end());
  return out;
}

// An ascii ima-ng list whose first line is a boot_aggregate with `digest`.
ImaLog ListWith(HashAlg alg, ByteSpan digest) {
  const std::string line = "10 0102030405060708090a0b0c0d0e0f1011121314 ima-ng " +
                           std::string(HashAlgName(alg)) + ":" + ToHex(digest) + " boot_aggregate\n";
  auto log = ParseImaAscii(line);
  EXPECT_TRUE(log.ok()) << log.error().ToString();
  return *log;
}

TEST(BootAggregate, DetectsPcr0To9OnSha256) {
  const PcrValues pcrs = BootPcrs(HashAlg::kSha256);
  auto digest = Hash(HashAlg::kSha256, Concat(pcrs, HashAlg::kSha256, 9));
  auto m = CheckBootAggregate(ListWith(HashAlg::kSha256, *digest), pcrs);
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  EXPECT_EQ(m->bank, HashAlg::kSha256);
  EXPECT_EQ(m->range, BootAggregateRange::kPcr0To9);
}

TEST(BootAggregate, DetectsPcr0To7OnSha256AndSha1) {
  for (HashAlg alg : {HashAlg::kSha256, HashAlg::kSha1, HashAlg::kSha384}) {
    const PcrValues pcrs = BootPcrs(alg);
    auto digest = Hash(alg, Concat(pcrs, alg, 7));
    auto m = CheckBootAggregate(ListWith(alg, *digest), pcrs);
    ASSERT_TRUE(m.ok()) << m.error().ToString();
    EXPECT_EQ(m->range, BootAggregateRange::kPcr0To7);
    EXPECT_EQ(m->bank, alg);
  }
}

TEST(BootAggregate, Sha1NeverUsesPcr8And9) {
  const PcrValues pcrs = BootPcrs(HashAlg::kSha1);
  auto digest = Hash(HashAlg::kSha1, Concat(pcrs, HashAlg::kSha1, 9));
  auto m = CheckBootAggregate(ListWith(HashAlg::kSha1, *digest), pcrs);
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.error().message(), HasSubstr("does not match H(PCR0-7)"));
}

TEST(BootAggregate, MismatchIsReported) {
  PcrValues pcrs = BootPcrs(HashAlg::kSha256);
  auto digest = Hash(HashAlg::kSha256, Concat(pcrs, HashAlg::kSha256, 9));
  pcrs[HashAlg::kSha256][4][0] ^= 1;  // a different boot
  auto m = CheckBootAggregate(ListWith(HashAlg::kSha256, *digest), pcrs);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code(), ErrorCode::kCorruption);
  EXPECT_THAT(m.error().message(), HasSubstr("line 1 (entry 0): boot_aggregate sha256:" + ToHex(*digest) +
                                             " matches neither H(PCR0-9)"));
}

TEST(BootAggregate, MissingBankZerosAndWrongEntry) {
  const PcrValues pcrs = BootPcrs(HashAlg::kSha1);
  auto digest = Hash(HashAlg::kSha256, Bytes(32 * 10, 0));
  auto m = CheckBootAggregate(ListWith(HashAlg::kSha256, *digest), pcrs);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(m.error().message(), HasSubstr("no sha256 bank"));
  // Missing PCRs count as zeros.
  PcrValues empty_bank;
  empty_bank[HashAlg::kSha256];
  auto z = CheckBootAggregate(ListWith(HashAlg::kSha256, *digest), empty_bank);
  ASSERT_TRUE(z.ok()) << z.error().ToString();
  // All-zero boot_aggregate: no TPM.
  auto none = CheckBootAggregate(ListWith(HashAlg::kSha256, Bytes(32, 0)), pcrs);
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.error().message(), HasSubstr("no TPM"));
  EXPECT_FALSE(CheckBootAggregate(ImaLog{}, pcrs).ok());
}

}  // namespace
}  // namespace immune::tsb
