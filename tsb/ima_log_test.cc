// Binary IMA lists: the ibmtss per-bank lists and template zoo, and the
// tpm2-tss FAPI lists (good, trailing-byte and invalidated ones).
#include "immune/tsb/ima_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "immune/core/file.h"
#include "immune/core/hex.h"

namespace immune::tsb {
namespace {

using ::testing::HasSubstr;

const std::string kIma = std::string(IMMUNE_TESTDATA_DIR) + "/ima/";

constexpr HashAlg kBanks[] = {HashAlg::kSha1, HashAlg::kSha256, HashAlg::kSha384, HashAlg::kSha512};

// imakvtpcr10.txt: " PCR 10: 9b e6 ..." once per bank, sha1 to sha512.
std::vector<Bytes> ExpectedPcr10() {
  auto text = ReadTextFile(kIma + "ibmtss/imakvtpcr10.txt");
  EXPECT_TRUE(text.ok());
  std::vector<Bytes> out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t at = text->find("PCR 10:", pos);
    if (at == std::string::npos) break;
    const std::size_t eol = text->find('\n', at);
    std::string hex;
    for (char c : text->substr(at + 7, eol - at - 7)) {
      if (c != ' ') hex.push_back(c);
    }
    auto bytes = FromHex(hex);
    EXPECT_TRUE(bytes.ok());
    out.push_back(*bytes);
    pos = at + 1;
  }
  return out;
}

class IbmtssBankTest : public ::testing::TestWithParam<const char*> {};

TEST_P(IbmtssBankTest, ReplaysToKnownPcr10InAllBanks) {
  const std::string name = GetParam();
  auto log = ParseImaFile(kIma + "ibmtss/" + name + ".log");
  ASSERT_TRUE(log.ok()) << log.error().ToString();
  EXPECT_EQ(log->entries.size(), 362u);
  EXPECT_EQ(HashAlgName(log->bank), name);
  EXPECT_TRUE(VerifyTemplateHashes(*log).ok());

  const std::vector<Bytes> expected = ExpectedPcr10();
  ASSERT_EQ(expected.size(), 4u);
  auto pcrs = ReplayImaLog(*log, kBanks);
  ASSERT_TRUE(pcrs.ok()) << pcrs.error().ToString();
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(ToHex((*pcrs)[kBanks[i]][10]), ToHex(expected[i])) << HashAlgName(kBanks[i]);
  }
  auto recorded = ReplayImaLogRecorded(*log);
  ASSERT_TRUE(recorded.ok());
  const std::size_t own = static_cast<std::size_t>(
      std::find(std::begin(kBanks), std::end(kBanks), log->bank) - std::begin(kBanks));
  EXPECT_EQ(ToHex((*recorded)[log->bank][10]), ToHex(expected[own]));

  std::size_t signed_entries = 0;
  for (const ImaEntry& e : log->entries) {
    EXPECT_EQ(e.template_name, "ima-sig");
    EXPECT_TRUE(e.decoded);
    if (!e.signature.empty()) ++signed_entries;
  }
  EXPECT_EQ(signed_entries, 21u);
  EXPECT_EQ(log->entries[0].path, "boot_aggregate");
  EXPECT_EQ(log->entries[1].path, "/usr/bin/kmod");
  EXPECT_EQ(log->entries[1].file_hash_alg, HashAlg::kSha256);
}

INSTANTIATE_TEST_SUITE_P(Banks, IbmtssBankTest, ::testing::Values("sha1", "sha256", "sha384", "sha512"));

TEST(ImaBinary, ExplicitBankMustFit) {
  auto data = ReadFile(kIma + "ibmtss/sha256.log");
  ASSERT_TRUE(data.ok());
  ImaParseOptions o;
  o.bank = HashAlg::kSha1;  // wrong: the digests are 32 bytes
  auto log = ParseImaBinary(*data, o);
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(log.error().message(), HasSubstr("entry 0 at byte 0"));
}

TEST(ImaBinary, TamperedTemplateDataFailsNamingTheEntry) {
  auto data = ReadFile(kIma + "ibmtss/sha1.log");
  ASSERT_TRUE(data.ok());
  auto log = ParseImaBinary(*data);
  ASSERT_TRUE(log.ok());
  // Find the path of entry 1 and flip one character of it.
  const std::size_t at = static_cast<std::size_t>(log->entries[1].path.data() -
                                                  reinterpret_cast<const char*>(log->storage->data()));
  Bytes bad = *data;
  bad[at + 5] ^= 0x01;
  auto bad_log = ParseImaBinary(bad);
  ASSERT_TRUE(bad_log.ok());
  Status s = VerifyTemplateHashes(*bad_log);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message(), HasSubstr("entry 1 at byte " + std::to_string(log->entries[1].position)));
  EXPECT_EQ(FindTemplateHashMismatches(*bad_log).size(), 1u);
  // The data-based replay no longer reaches the known PCR 10.
  auto pcrs = ReplayImaLog(*bad_log, kBanks);
  ASSERT_TRUE(pcrs.ok());
  EXPECT_NE(ToHex((*pcrs)[HashAlg::kSha256][10]), ToHex(ExpectedPcr10()[1]));
}

TEST(ImaBinary, TemplateZoo) {
  auto log = ParseImaFile(kIma + "ibmtss/imatest.log");
  ASSERT_TRUE(log.ok()) << log.error().ToString();
  ASSERT_EQ(log->entries.size(), 17u);
  EXPECT_EQ(log->bank, HashAlg::kSha1);
  Status s = VerifyTemplateHashes(*log);
  EXPECT_TRUE(s.ok()) << s.error().ToString();
  std::vector<std::string> names;
  std::size_t violations = 0;
  for (const ImaEntry& e : log->entries) {
    names.emplace_back(e.template_name);
    EXPECT_TRUE(e.decoded) << e.template_name;
    if (e.violation) {
      ++violations;
      EXPECT_EQ(e.index, 6u);
      EXPECT_EQ(e.template_name, "ima");
      EXPECT_EQ(e.path, "boot_aggregate");
    }
  }
  EXPECT_EQ(violations, 1u);
  EXPECT_THAT(names, ::testing::IsSupersetOf({"ima", "ima-ng", "ima-sig", "ima-modsig", "ima-buf", "evm-sig",
                                              "ima-ngv2", "ima-sigv2", "d-ng|sig", "n-ng|d-ng", "n", "sig"}));
  const ImaEntry& ngv2 = log->entries[15];
  EXPECT_EQ(ngv2.digest_type, "ima");
  EXPECT_EQ(ngv2.file_hash_alg, HashAlg::kSha256);
  EXPECT_EQ(ngv2.path, "boot_aggregate");
  const ImaEntry& buf = log->entries[13];
  EXPECT_EQ(buf.path, ".builtin_trusted_keys");
  EXPECT_FALSE(buf.buf.empty());
  EXPECT_TRUE(VerifyBufDigests(*log).ok());
  EXPECT_FALSE(log->entries[16].modsig.empty());
  EXPECT_FALSE(log->entries[14].evm_signature.empty());
  auto pcrs = ReplayImaLog(*log, kBanks);
  ASSERT_TRUE(pcrs.ok());
  auto recorded = ReplayImaLogRecorded(*log);
  ASSERT_TRUE(recorded.ok());
  EXPECT_EQ((*pcrs)[HashAlg::kSha1][10], (*recorded)[HashAlg::kSha1][10]);
}

TEST(ImaBinary, EmptyInputIsAnEmptyList) {
  auto log = ParseImaBinary({});
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(log->entries.empty());
}

// tpm2-tss: sml-ima-ng-sha1.bin and sml-ima-sha1.bin end with one stray
// byte (0x0a, a newline from the base64 round trip); sml-ima-sig-sha256.bin
// ends with 6 bytes of a cut-off entry. Strict parsing rejects them naming
// the offset; allow_truncated_tail keeps the complete entries.
struct TailCase {
  const char* file;
  std::size_t entries;
  std::size_t tail_offset;
  std::size_t tail_bytes;
};

class TpmTssTailTest : public ::testing::TestWithParam<TailCase> {};

TEST_P(TpmTssTailTest, StrictRejectsLenientKeepsEntries) {
  const TailCase c = GetParam();
  const std::string path = kIma + "tpm2-tss/" + c.file;
  auto strict = ParseImaFile(path);
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.error().code(), ErrorCode::kCorruption);
  EXPECT_THAT(strict.error().message(), HasSubstr(path + ": entry " + std::to_string(c.entries) +
                                                  " at byte " + std::to_string(c.tail_offset)));
  ImaParseOptions o;
  o.allow_truncated_tail = true;
  auto log = ParseImaFile(path, o);
  ASSERT_TRUE(log.ok()) << log.error().ToString();
  EXPECT_EQ(log->entries.size(), c.entries);
  EXPECT_EQ(log->truncated_tail_offset, c.tail_offset);
  EXPECT_EQ(log->truncated_tail_bytes, c.tail_bytes);
  Status s = VerifyTemplateHashes(*log);
  EXPECT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(log->entries[0].path, "boot_aggregate");
}

INSTANTIATE_TEST_SUITE_P(Files, TpmTssTailTest,
                         ::testing::Values(TailCase{"sml-ima-ng-sha1.bin", 6, 558, 1},
                                           TailCase{"sml-ima-sha1.bin", 12, 916, 1},
                                           TailCase{"sml-ima-sig-sha256.bin", 9, 987, 6}));

TEST(TpmTss, InvalidatedNgIsTruncated) {
  const std::string path = kIma + "tpm2-tss/sml-ima-ng-sha1-invalidated.bin";
  auto log = ParseImaFile(path);
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(log.error().message(), HasSubstr("entry 0 at byte 0: template data length 49"));
}

TEST(TpmTss, InvalidatedImaIsAViolation) {
  auto log = ParseImaFile(kIma + "tpm2-tss/sml-ima-sha1-invalidated.bin");
  ASSERT_TRUE(log.ok()) << log.error().ToString();
  ASSERT_EQ(log->entries.size(), 1u);
  EXPECT_TRUE(log->entries[0].violation);
  EXPECT_TRUE(VerifyTemplateHashes(*log).ok());
  auto pcrs = ReplayImaLog(*log, kBanks);
  ASSERT_TRUE(pcrs.ok());
  // One violation: PCR 10 = H(0..0 || FF..FF).
  Bytes ones(20, 0xFF);
  auto expected = ExtendDigest(HashAlg::kSha1, Bytes(20, 0), ones);
  EXPECT_EQ((*pcrs)[HashAlg::kSha1][10], *expected);
}

TEST(TpmTss, InvalidatedSigHasAViolation) {
  auto log = ParseImaFile(kIma + "tpm2-tss/sml-ima-sig-sha256-invalidated.bin");
  ASSERT_TRUE(log.ok()) << log.error().ToString();
  ASSERT_EQ(log->entries.size(), 2u);
  EXPECT_FALSE(log->entries[0].violation);
  EXPECT_TRUE(log->entries[1].violation);
  EXPECT_EQ(log->entries[1].path, "/init");
}

TEST(ImaBinary, CorruptionsAreCleanErrors) {
  auto data = ReadFile(kIma + "ibmtss/sha1.log");
  ASSERT_TRUE(data.ok());
  // Every prefix parses cleanly or fails with an error naming an entry.
  for (std::size_t n = 1; n < 400; n += 7) {
    auto log = ParseImaBinary(ByteSpan(*data).first(n));
    if (!log.ok()) {
      EXPECT_THAT(log.error().message(), HasSubstr("entry ")) << n;
    }
  }
  // A huge PCR index.
  Bytes bad = *data;
  bad[1] = 0x7f;
  bad[0] = 0;
  auto log = ParseImaBinary(bad, {.bank = HashAlg::kSha1, .big_endian = false});
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(log.error().message(), HasSubstr("entry 0 at byte 0: PCR index 32512 is out of range"));
  // A template name length of 0 in the second entry.
  const std::size_t second = 4 + 20 + 4 + 7 + 4 + 67;
  bad = *data;
  for (int i = 0; i < 4; ++i) bad[second + 24 + static_cast<std::size_t>(i)] = 0;
  log = ParseImaBinary(bad);
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(log.error().message(), HasSubstr("entry 1 at byte " + std::to_string(second)));
}

TEST(ImaBinary, BigEndianListIsDetected) {
  auto data = ReadFile(kIma + "tpm2-tss/sml-ima-sig-sha256-invalidated.bin");
  ASSERT_TRUE(data.ok());
  auto le = ParseImaBinary(*data);
  ASSERT_TRUE(le.ok());
  // Rewrite every u32 in big-endian order.
  Bytes be;
  auto put = [&](std::uint32_t v) {
    for (int i = 3; i >= 0; --i) be.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  for (const ImaEntry& e : le->entries) {
    put(e.pcr);
    be.insert(be.end(), e.template_digest.begin(), e.template_digest.end());
    put(static_cast<std::uint32_t>(e.template_name.size()));
    be.insert(be.end(), e.template_name.begin(), e.template_name.end());
    Bytes fields;
    ByteReader r(e.template_data);
    while (!r.empty()) {
      const std::uint32_t n = *r.U32Le();
      for (int i = 3; i >= 0; --i) fields.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
      const ByteSpan f = *r.Take(n);
      fields.insert(fields.end(), f.begin(), f.end());
    }
    put(static_cast<std::uint32_t>(fields.size()));
    be.insert(be.end(), fields.begin(), fields.end());
  }
  auto log = ParseImaBinary(be);
  ASSERT_TRUE(log.ok()) << log.error().ToString();
  EXPECT_TRUE(log->big_endian);
  EXPECT_EQ(log->entries[1].path, "/init");
  EXPECT_EQ(log->entries[0].path, "boot_aggregate");
}

}  // namespace
}  // namespace immune::tsb
