#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <tss2/tss2_mu.h>

#include "immune/tpm/tpm.h"

namespace immune::tpm {
namespace {

using ::testing::HasSubstr;

const Bytes kNonce = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04};
const PcrSelection kSelection = {{HashAlg::kSha1, {0, 7}}, {HashAlg::kSha256, {0, 1, 7, 16}}};

class QuoteVerifyTest : public ::testing::TestWithParam<KeyAlg> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tpm_->Extend(7, {{HashAlg::kSha1, Bytes(20, 7)}, {HashAlg::kSha256, Bytes(32, 7)}}).ok());
    auto key = tpm_->CreateAttestationKey(GetParam());
    ASSERT_TRUE(key.ok()) << key.error().ToString();
    key_ = *key;
    auto quote = tpm_->QuotePcrs(key_, kNonce, kSelection);
    ASSERT_TRUE(quote.ok()) << quote.error().ToString();
    quote_ = *quote;
    auto pcrs = tpm_->ReadPcrs(kSelection);
    ASSERT_TRUE(pcrs.ok());
    pcrs_ = *pcrs;
  }

  std::unique_ptr<Tpm> tpm_ = NewFakeTpm();
  AttestationKey key_;
  Quote quote_;
  PcrValues pcrs_;
};

TEST_P(QuoteVerifyTest, FakeQuoteVerifies) {
  auto info = VerifyQuote(quote_, key_.public_key_pem, kNonce, pcrs_);
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(info->nonce, kNonce);
  EXPECT_EQ(info->selection, kSelection);
  EXPECT_EQ(info->pcr_digest, QuotePcrDigest(kSelection, pcrs_).value());
}

TEST_P(QuoteVerifyTest, EveryTamperedAttestByteFails) {
  for (std::size_t i = 0; i < quote_.attest.size(); ++i) {
    Quote bad = quote_;
    bad.attest[i] ^= 0x01;
    auto info = VerifyQuote(bad, key_.public_key_pem, kNonce, pcrs_);
    ASSERT_FALSE(info.ok()) << "byte " << i;
    EXPECT_EQ(info.error().code(), ErrorCode::kCorruption) << "byte " << i << ": " << info.error().ToString();
  }
  Quote bad = quote_;
  bad.attest[quote_.attest.size() / 2] ^= 0x80;
  EXPECT_THAT(VerifyQuote(bad, key_.public_key_pem, kNonce, pcrs_).error().message(), HasSubstr("signature"));
}

TEST_P(QuoteVerifyTest, TamperedSignatureFails) {
  Quote bad = quote_;
  bad.signature.back() ^= 0x01;
  auto info = VerifyQuote(bad, key_.public_key_pem, kNonce, pcrs_);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code(), ErrorCode::kCorruption);
  EXPECT_THAT(info.error().message(), HasSubstr("signature"));
}

TEST_P(QuoteVerifyTest, OtherKeyFails) {
  auto other = tpm_->CreateAttestationKey(GetParam());
  ASSERT_TRUE(other.ok());
  auto info = VerifyQuote(quote_, other->public_key_pem, kNonce, pcrs_);
  ASSERT_FALSE(info.ok());
  EXPECT_THAT(info.error().message(), HasSubstr("signature"));
}

TEST_P(QuoteVerifyTest, WrongNonceFails) {
  Bytes nonce = kNonce;
  nonce[0] ^= 1;
  auto info = VerifyQuote(quote_, key_.public_key_pem, nonce, pcrs_);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code(), ErrorCode::kCorruption);
  EXPECT_THAT(info.error().message(), HasSubstr("nonce"));
  EXPECT_FALSE(VerifyQuote(quote_, key_.public_key_pem, Bytes{}, pcrs_).ok());
}

TEST_P(QuoteVerifyTest, ModifiedPcrFails) {
  for (const auto& [alg, pcrs] : kSelection) {
    for (std::uint32_t pcr : pcrs) {
      PcrValues bad = pcrs_;
      bad[alg][pcr][0] ^= 1;
      auto info = VerifyQuote(quote_, key_.public_key_pem, kNonce, bad);
      ASSERT_FALSE(info.ok());
      EXPECT_EQ(info.error().code(), ErrorCode::kCorruption);
      EXPECT_THAT(info.error().message(), HasSubstr("PCR digest"));
    }
  }
  PcrValues missing = pcrs_;
  missing[HashAlg::kSha256].erase(16);
  auto info = VerifyQuote(quote_, key_.public_key_pem, kNonce, missing);
  ASSERT_FALSE(info.ok());
  EXPECT_THAT(info.error().message(), HasSubstr("sha256:16"));
}

TEST_P(QuoteVerifyTest, ExtraPcrValuesAreIgnored) {
  auto all = tpm_->ReadPcrs({});
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(VerifyQuote(quote_, key_.public_key_pem, kNonce, *all).ok());
}

TEST_P(QuoteVerifyTest, GarbageInputsAreCorruption) {
  Quote bad = quote_;
  bad.attest.push_back(0);
  EXPECT_EQ(VerifyQuote(bad, key_.public_key_pem, kNonce, pcrs_).error().code(), ErrorCode::kCorruption);
  bad = quote_;
  bad.attest.resize(10);
  EXPECT_EQ(VerifyQuote(bad, key_.public_key_pem, kNonce, pcrs_).error().code(), ErrorCode::kCorruption);
  bad = quote_;
  bad.signature.resize(3);
  EXPECT_EQ(VerifyQuote(bad, key_.public_key_pem, kNonce, pcrs_).error().code(), ErrorCode::kCorruption);
  EXPECT_FALSE(VerifyQuote(quote_, "not a pem", kNonce, pcrs_).ok());
}

TEST_P(QuoteVerifyTest, PublicAreaGivesTheSamePem) {
  auto pem = PublicKeyPemFromTpm2bPublic(key_.public_area);
  ASSERT_TRUE(pem.ok()) << pem.error().ToString();
  EXPECT_EQ(*pem, key_.public_key_pem);
  EXPECT_EQ(key_.name.size(), 34u);
  EXPECT_EQ(key_.name[0], 0x00);
  EXPECT_EQ(key_.name[1], 0x0b);
}

INSTANTIATE_TEST_SUITE_P(Keys, QuoteVerifyTest, ::testing::Values(KeyAlg::kEccP256, KeyAlg::kRsa2048),
                         [](const auto& p) { return std::string(KeyAlgName(p.param)); });

// Re-signs a modified TPMS_ATTEST with a key of our own, so the checks after
// the signature (magic, type) are reached.
class ResignedAttestTest : public ::testing::Test {
 protected:
  Quote Resign(const Quote& quote, void (*mutate)(TPMS_ATTEST&)) {
    TPMS_ATTEST attest{};
    std::size_t off = 0;
    EXPECT_EQ(Tss2_MU_TPMS_ATTEST_Unmarshal(quote.attest.data(), quote.attest.size(), &off, &attest), 0u);
    mutate(attest);
    Quote out = quote;
    out.attest.assign(sizeof(TPMS_ATTEST), 0);
    off = 0;
    EXPECT_EQ(Tss2_MU_TPMS_ATTEST_Marshal(&attest, out.attest.data(), out.attest.size(), &off), 0u);
    out.attest.resize(off);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::size_t len = 512;
    Bytes der(len);
    EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, rsa_), 1);
    EXPECT_EQ(EVP_DigestSign(ctx, der.data(), &len, out.attest.data(), out.attest.size()), 1);
    EVP_MD_CTX_free(ctx);
    der.resize(len);
    TPMT_SIGNATURE sig{};
    sig.sigAlg = TPM2_ALG_RSASSA;
    sig.signature.rsassa.hash = TPM2_ALG_SHA256;
    sig.signature.rsassa.sig.size = static_cast<UINT16>(der.size());
    std::copy(der.begin(), der.end(), sig.signature.rsassa.sig.buffer);
    out.signature.assign(sizeof(TPMT_SIGNATURE), 0);
    off = 0;
    EXPECT_EQ(Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, out.signature.data(), out.signature.size(), &off), 0u);
    out.signature.resize(off);
    return out;
  }
  std::string Pem() {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, rsa_);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return pem;
  }
  void TearDown() override { EVP_PKEY_free(rsa_); }

  EVP_PKEY* rsa_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
};

TEST_F(ResignedAttestTest, MagicAndTypeAreChecked) {
  auto tpm = NewFakeTpm();
  auto key = tpm->CreateAttestationKey(KeyAlg::kEccP256);
  ASSERT_TRUE(key.ok());
  auto quote = tpm->QuotePcrs(*key, kNonce, kSelection);
  ASSERT_TRUE(quote.ok());
  auto pcrs = tpm->ReadPcrs(kSelection).value();

  Quote same = Resign(*quote, [](TPMS_ATTEST&) {});
  EXPECT_TRUE(VerifyQuote(same, Pem(), kNonce, pcrs).ok());

  Quote bad_magic = Resign(*quote, [](TPMS_ATTEST& a) { a.magic = 0x12345678; });
  auto info = VerifyQuote(bad_magic, Pem(), kNonce, pcrs);
  ASSERT_FALSE(info.ok());
  EXPECT_THAT(info.error().message(), HasSubstr("magic"));

  Quote bad_type = Resign(*quote, [](TPMS_ATTEST& a) { a.type = TPM2_ST_ATTEST_CERTIFY; });
  info = VerifyQuote(bad_type, Pem(), kNonce, pcrs);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code(), ErrorCode::kCorruption);
  EXPECT_THAT(info.error().message(), HasSubstr("type"));
}

TEST(QuotePcrDigestTest, IsSha256OverConcatenatedValuesInSelectionOrder) {
  PcrValues pcrs;
  pcrs[HashAlg::kSha1][3] = Bytes(20, 3);
  pcrs[HashAlg::kSha256][1] = Bytes(32, 1);
  pcrs[HashAlg::kSha256][2] = Bytes(32, 2);
  Bytes concat = pcrs[HashAlg::kSha1][3];
  concat.insert(concat.end(), pcrs[HashAlg::kSha256][1].begin(), pcrs[HashAlg::kSha256][1].end());
  concat.insert(concat.end(), pcrs[HashAlg::kSha256][2].begin(), pcrs[HashAlg::kSha256][2].end());
  auto digest = QuotePcrDigest({{HashAlg::kSha256, {2, 1}}, {HashAlg::kSha1, {3}}}, pcrs);
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ(*digest, Hash(HashAlg::kSha256, concat).value());
}

}  // namespace
}  // namespace immune::tpm
