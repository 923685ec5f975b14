// The ESAPI Tpm against a real swtpm (label: integration).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "immune/tpm/testing/swtpm_fixture.h"
#include "immune/tpm/tpm.h"

namespace immune::tpm {
namespace {

using ::testing::HasSubstr;
using testing::SwtpmSuiteTest;

const std::vector<HashAlg> kAllBanks = {HashAlg::kSha1, HashAlg::kSha256, HashAlg::kSha384, HashAlg::kSha512};

class EsysTpmTest : public SwtpmSuiteTest {};

TEST_F(EsysTpmTest, AllocatedBanksAreTheRequestedOnes) {
  auto banks = tpm().AllocatedBanks();
  ASSERT_TRUE(banks.ok()) << banks.error().ToString();
  EXPECT_EQ(*banks, kAllBanks);
}

TEST_F(EsysTpmTest, ExtendThenReadEqualsComputedValueInEveryBank) {
  auto before = tpm().ReadPcrs({});
  ASSERT_TRUE(before.ok()) << before.error().ToString();
  std::vector<std::pair<HashAlg, Bytes>> digests;
  for (HashAlg alg : kAllBanks) digests.emplace_back(alg, Hash(alg, AsBytes("immune")).value());
  ASSERT_TRUE(tpm().Extend(16, digests).ok());
  auto after = tpm().ReadPcrs({});
  ASSERT_TRUE(after.ok()) << after.error().ToString();
  for (const auto& [alg, digest] : digests) {
    Bytes expected = ExtendDigest(alg, (*before)[alg][16], digest).value();
    EXPECT_EQ((*after)[alg][16], expected) << HashAlgName(alg);
    EXPECT_EQ((*after)[alg][15], (*before)[alg][15]) << HashAlgName(alg);
  }
}

TEST_F(EsysTpmTest, ReadsAll24PcrsOfAllBanks) {
  auto pcrs = tpm().ReadPcrs({});
  ASSERT_TRUE(pcrs.ok()) << pcrs.error().ToString();
  ASSERT_EQ(pcrs->size(), kAllBanks.size());
  for (const auto& [alg, bank] : *pcrs) {
    ASSERT_EQ(bank.size(), kNumPcrs) << HashAlgName(alg);
    for (const auto& [index, value] : bank) EXPECT_EQ(value.size(), DigestSize(alg));
  }
  // startup-clear at locality 0: PCR 0 zero, PCRs 17..22 (DRTM) all ones.
  EXPECT_EQ((*pcrs)[HashAlg::kSha256][0], Bytes(32, 0));
  EXPECT_EQ((*pcrs)[HashAlg::kSha256][17], Bytes(32, 0xff));
  // An explicit selection over more than 8 PCRs per call.
  auto some = tpm().ReadPcrs({{HashAlg::kSha512, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 23}}});
  ASSERT_TRUE(some.ok());
  EXPECT_EQ((*some)[HashAlg::kSha512].size(), 12u);
  EXPECT_EQ((*some)[HashAlg::kSha512], [&] {
    PcrBank b = (*pcrs)[HashAlg::kSha512];
    for (std::uint32_t i : {11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22}) b.erase(i);
    return b;
  }());
}

TEST_F(EsysTpmTest, ExtendErrors) {
  auto st = tpm().Extend(3, {{HashAlg::kSha256, Bytes(20, 0)}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
  st = tpm().Extend(3, {{HashAlg::kSm3_256, Bytes(32, 0)}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kNotFound);
  auto pcrs = tpm().ReadPcrs({{HashAlg::kSm3_256, {0}}});
  ASSERT_FALSE(pcrs.ok());
  EXPECT_EQ(pcrs.error().code(), ErrorCode::kNotFound);
}

// Flushes a test's key at scope exit: swtpm has only three transient object
// slots and the suite shares one TPM.
struct FlushAtExit {
  Tpm& tpm;
  AttestationKey& key;
  ~FlushAtExit() {
    if (key.handle != 0) (void)tpm.Flush(key);
  }
};

class EsysQuoteTest : public SwtpmSuiteTest, public ::testing::WithParamInterface<KeyAlg> {};

TEST_P(EsysQuoteTest, QuoteVerifiesAgainstPcrsReadFromTheTpm) {
  ASSERT_TRUE(
      tpm().Extend(10, {{HashAlg::kSha1, Bytes(20, 0xa1)}, {HashAlg::kSha256, Bytes(32, 0xa2)}}).ok());
  auto key = tpm().CreateAttestationKey(GetParam());
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  FlushAtExit flush{tpm(), *key};
  EXPECT_NE(key->handle, 0u);

  // The PEM parses with OpenSSL and is the key type asked for.
  BIO* bio = BIO_new_mem_buf(key->public_key_pem.data(), static_cast<int>(key->public_key_pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(pkey, nullptr);
  EXPECT_EQ(EVP_PKEY_get_base_id(pkey), GetParam() == KeyAlg::kEccP256 ? EVP_PKEY_EC : EVP_PKEY_RSA);
  EXPECT_EQ(EVP_PKEY_get_bits(pkey), GetParam() == KeyAlg::kEccP256 ? 256 : 2048);
  EVP_PKEY_free(pkey);

  const Bytes nonce = Hash(HashAlg::kSha256, AsBytes("nonce")).value();
  const PcrSelection selection = {{HashAlg::kSha1, {0, 10}}, {HashAlg::kSha256, {0, 7, 10, 23}}};
  auto quote = tpm().QuotePcrs(*key, nonce, selection);
  ASSERT_TRUE(quote.ok()) << quote.error().ToString();
  auto pcrs = tpm().ReadPcrs(selection);
  ASSERT_TRUE(pcrs.ok());
  auto info = VerifyQuote(*quote, key->public_key_pem, nonce, *pcrs);
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(info->selection, selection);
  EXPECT_EQ(info->nonce, nonce);

  Bytes other_nonce = nonce;
  other_nonce[5] ^= 1;
  auto bad = VerifyQuote(*quote, key->public_key_pem, other_nonce, *pcrs);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message(), HasSubstr("nonce"));

  PcrValues modified = *pcrs;
  modified[HashAlg::kSha256][10][0] ^= 1;
  bad = VerifyQuote(*quote, key->public_key_pem, nonce, modified);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message(), HasSubstr("PCR digest"));

  // After another extend the old quote no longer matches the TPM's PCRs.
  ASSERT_TRUE(tpm().Extend(10, {{HashAlg::kSha256, Bytes(32, 0xa3)}}).ok());
  EXPECT_FALSE(VerifyQuote(*quote, key->public_key_pem, nonce, tpm().ReadPcrs(selection).value()).ok());
}

TEST_P(EsysQuoteTest, FlushedKeyFailsWithDecodedErrorAndReloads) {
  auto key = tpm().CreateAttestationKey(GetParam());
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  AttestationKey flushed = *key;
  ASSERT_TRUE(tpm().Flush(flushed).ok());
  EXPECT_EQ(flushed.handle, 0u);
  auto quote = tpm().QuotePcrs(*key, Bytes{1}, {{HashAlg::kSha256, {0}}});  // the stale handle
  ASSERT_FALSE(quote.ok());
  EXPECT_EQ(quote.error().code(), ErrorCode::kTpm);
  EXPECT_THAT(quote.error().message(), HasSubstr("Quote("));
  EXPECT_THAT(quote.error().message(), HasSubstr("rc=0x"));

  auto reloaded = tpm().LoadAttestationKey(flushed);
  ASSERT_TRUE(reloaded.ok()) << reloaded.error().ToString();
  FlushAtExit flush{tpm(), *reloaded};
  EXPECT_EQ(reloaded->name, key->name);
  auto again = tpm().QuotePcrs(*reloaded, Bytes{1}, {{HashAlg::kSha256, {0}}});
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_TRUE(
      VerifyQuote(*again, key->public_key_pem, Bytes{1}, tpm().ReadPcrs({{HashAlg::kSha256, {0}}}).value())
          .ok());
}

INSTANTIATE_TEST_SUITE_P(Keys, EsysQuoteTest, ::testing::Values(KeyAlg::kEccP256, KeyAlg::kRsa2048),
                         [](const auto& p) { return std::string(KeyAlgName(p.param)); });

bool ParsesAsX509(const Bytes& der) {
  const unsigned char* p = der.data();
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  bool ok = cert != nullptr && p == der.data() + der.size();
  X509_free(cert);
  return ok;
}

TEST_F(EsysTpmTest, EkCertificatesFromNv) {
  auto rsa = tpm().ReadEkCertificate(KeyAlg::kRsa2048);
  ASSERT_TRUE(rsa.ok()) << rsa.error().ToString();
  EXPECT_GT(rsa->size(), 512u);  // more than one NV chunk on some TPMs
  EXPECT_TRUE(ParsesAsX509(*rsa));

  // swtpm_setup 0.7.1 --ecc makes a NIST P-384 EK; its certificate is at
  // 0x01c00016, and the P-256 index 0x01c0000a stays undefined.
  auto p384 = tpm().ReadNvIndex(kEkCertNvIndexEccP384);
  ASSERT_TRUE(p384.ok()) << p384.error().ToString();
  EXPECT_TRUE(ParsesAsX509(*p384));
  auto p256 = tpm().ReadEkCertificate(KeyAlg::kEccP256);
  ASSERT_FALSE(p256.ok());
  EXPECT_EQ(p256.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(p256.error().message(), HasSubstr("0x01c0000a"));
}

TEST(OpenTpmTest, NothingListeningIsUnavailable) {
  // Port 1 on loopback: nothing listens there (and nothing may bind it unprivileged).
  auto tpm = OpenTpm("swtpm:host=127.0.0.1,port=1");
  ASSERT_FALSE(tpm.ok());
  EXPECT_TRUE(tpm.error().code() == ErrorCode::kUnavailable || tpm.error().code() == ErrorCode::kTpm)
      << tpm.error().ToString();
  EXPECT_THAT(tpm.error().message(), HasSubstr("port=1"));
  EXPECT_THAT(tpm.error().message(), HasSubstr("rc=0x"));

  auto bogus = OpenTpm("nosuchtcti:foo");
  ASSERT_FALSE(bogus.ok());
  EXPECT_THAT(bogus.error().message(), HasSubstr("nosuchtcti"));
}

TEST(DefaultTctiTest, PrefersEnvironment) {
  ::setenv("TPM2TOOLS_TCTI", "swtpm:port=4321", 1);
  EXPECT_EQ(DefaultTcti(), std::optional<std::string>("swtpm:port=4321"));
  ::unsetenv("TPM2TOOLS_TCTI");
  ::setenv("TCTI", "mssim:port=1234", 1);
  EXPECT_EQ(DefaultTcti(), std::optional<std::string>("mssim:port=1234"));
  ::unsetenv("TCTI");
}

}  // namespace
}  // namespace immune::tpm
