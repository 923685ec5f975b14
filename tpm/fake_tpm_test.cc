#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/x509.h>

#include "immune/tpm/tpm.h"

namespace immune::tpm {
namespace {

Bytes Filled(HashAlg alg, std::uint8_t v) { return Bytes(DigestSize(alg), v); }

TEST(FakeTpmTest, ExtendThenReadEqualsExtendDigest) {
  auto tpm = NewFakeTpm({HashAlg::kSha1, HashAlg::kSha256, HashAlg::kSha384});
  const std::vector<std::pair<HashAlg, Bytes>> digests = {{HashAlg::kSha1, Filled(HashAlg::kSha1, 0x11)},
                                                          {HashAlg::kSha256, Filled(HashAlg::kSha256, 0x22)}};
  ASSERT_TRUE(tpm->Extend(7, digests).ok());
  ASSERT_TRUE(tpm->Extend(7, digests).ok());
  auto pcrs = tpm->ReadPcrs({{HashAlg::kSha1, {7}}, {HashAlg::kSha256, {7, 8}}});
  ASSERT_TRUE(pcrs.ok()) << pcrs.error().ToString();
  for (const auto& [alg, digest] : digests) {
    Bytes expected(DigestSize(alg), 0);
    for (int i = 0; i < 2; ++i) expected = ExtendDigest(alg, expected, digest).value();
    EXPECT_EQ((*pcrs)[alg][7], expected) << HashAlgName(alg);
  }
  EXPECT_EQ((*pcrs)[HashAlg::kSha256][8], Bytes(32, 0));
  // The sha384 bank was not extended.
  auto all = tpm->ReadPcrs({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)[HashAlg::kSha384][7], Bytes(48, 0));
  EXPECT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[HashAlg::kSha1].size(), 24u);
}

TEST(FakeTpmTest, ReadOfUnallocatedBankFails) {
  auto tpm = NewFakeTpm({HashAlg::kSha256});
  auto pcrs = tpm->ReadPcrs({{HashAlg::kSha1, {0}}});
  ASSERT_FALSE(pcrs.ok());
  EXPECT_EQ(pcrs.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(pcrs.error().message(), ::testing::HasSubstr("sha1"));
  EXPECT_FALSE(tpm->Extend(0, {{HashAlg::kSha1, Filled(HashAlg::kSha1, 1)}}).ok());
}

TEST(FakeTpmTest, ExtendRejectsWrongDigestSize) {
  auto tpm = NewFakeTpm();
  auto st = tpm->Extend(1, {{HashAlg::kSha256, Bytes(20, 1)}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
}

TEST(FakeTpmTest, StartupLocalitySetsPcr0) {
  auto tpm = NewFakeTpm({HashAlg::kSha256}, 3);
  auto pcrs = tpm->ReadPcrs({{HashAlg::kSha256, {0, 1}}});
  ASSERT_TRUE(pcrs.ok());
  Bytes expected(32, 0);
  expected.back() = 3;
  EXPECT_EQ((*pcrs)[HashAlg::kSha256][0], expected);
  EXPECT_EQ((*pcrs)[HashAlg::kSha256][1], Bytes(32, 0));
}

TEST(FakeTpmTest, EkCertificatesAreDerX509) {
  auto tpm = NewFakeTpm();
  for (KeyAlg alg : {KeyAlg::kRsa2048, KeyAlg::kEccP256}) {
    auto der = tpm->ReadEkCertificate(alg);
    ASSERT_TRUE(der.ok()) << der.error().ToString();
    const unsigned char* p = der->data();
    X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der->size()));
    EXPECT_NE(cert, nullptr) << KeyAlgName(alg);
    X509_free(cert);
    EXPECT_EQ(tpm->ReadEkCertificate(alg).value(), *der);  // generated once
  }
  EXPECT_EQ(tpm->ReadNvIndex(0x01500000).error().code(), ErrorCode::kNotFound);
}

TEST(FakeTpmTest, FlushedKeyCannotQuoteAndReloads) {
  auto tpm = NewFakeTpm();
  auto key = tpm->CreateAttestationKey(KeyAlg::kEccP256);
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  AttestationKey flushed = *key;
  ASSERT_TRUE(tpm->Flush(flushed).ok());
  EXPECT_EQ(flushed.handle, 0u);
  auto q = tpm->QuotePcrs(*key, Bytes{1, 2}, {{HashAlg::kSha256, {0}}});
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error().code(), ErrorCode::kTpm);
  auto reloaded = tpm->LoadAttestationKey(flushed);
  ASSERT_TRUE(reloaded.ok()) << reloaded.error().ToString();
  EXPECT_TRUE(tpm->QuotePcrs(*reloaded, Bytes{1, 2}, {{HashAlg::kSha256, {0}}}).ok());
}

}  // namespace
}  // namespace immune::tpm
