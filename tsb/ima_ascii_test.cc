// Ascii IMA lists: the Keylime captures (a real 826-line ima-ng list and
// one file per file-hash algorithm), and ascii/binary equivalence.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "immune/core/file.h"
#include "immune/core/hex.h"
#include "immune/tsb/ima_log.h"

namespace immune::tsb {
namespace {

using ::testing::HasSubstr;

const std::string kIma = std::string(IMMUNE_TESTDATA_DIR) + "/ima/";
const std::string kRustKeylime = kIma + "keylime/rust-keylime-ascii_runtime_measurements";

// Rebuilds the ascii line the kernel would print for a binary entry of the
// common templates (ima-ng, ima-sig, ima-buf), to compare the two parsers.
std::string AsciiLine(const ImaEntry& e) {
  std::string line = std::to_string(e.pcr);
  line.append(" ").append(ToHex(e.template_digest)).append(" ").append(e.template_name);
  line.append(" ").append(e.file_hash_alg_name).append(":").append(ToHex(e.file_digest));
  line.append(" ").append(e.path);
  if (e.template_name == "ima-sig") line.append(" ").append(ToHex(e.signature));
  if (e.template_name == "ima-buf") line.append(" ").append(ToHex(e.buf));
  return line;
}

TEST(ImaAscii, RustKeylimeListVerifies) {
  auto log = ParseImaFile(kRustKeylime);
  ASSERT_TRUE(log.ok()) << log.error().ToString();
  EXPECT_EQ(log->format, ImaFormat::kAscii);
  EXPECT_EQ(log->bank, HashAlg::kSha1);
  EXPECT_EQ(log->entries.size(), 826u);
  Status s = VerifyTemplateHashes(*log);
  EXPECT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(log->entries[0].path, "boot_aggregate");
  EXPECT_EQ(log->entries[1].path, "/init");
  EXPECT_EQ(log->entries[825].position, 826u);
  // Recorded and data-based replays agree.
  const HashAlg sha1[] = {HashAlg::kSha1};
  auto a = ReplayImaLog(*log, sha1);
  auto b = ReplayImaLogRecorded(*log);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)[HashAlg::kSha1][10], (*b)[HashAlg::kSha1][10]);
}

// Changes one character of line `line_no` (1-based) at column `col` of its
// `field`-th space-separated field.
std::string Mutate(std::string text, std::size_t line_no, std::size_t field, std::size_t col) {
  std::size_t pos = 0;
  for (std::size_t l = 1; l < line_no; ++l) pos = text.find('\n', pos) + 1;
  for (std::size_t f = 0; f < field; ++f) pos = text.find(' ', pos) + 1;
  char& c = text[pos + col];
  c = c == 'a' ? 'b' : (c == '0' ? '1' : 'a');
  return text;
}

TEST(ImaAscii, ModifiedPathFailsNamingTheLine) {
  auto text = ReadTextFile(kRustKeylime);
  ASSERT_TRUE(text.ok());
  auto log = ParseImaAscii(Mutate(*text, 300, 4, 3));
  ASSERT_TRUE(log.ok()) << log.error().ToString();
  Status s = VerifyTemplateHashes(*log);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message(), HasSubstr("line 300 (entry 299): sha1 template hash"));
  EXPECT_EQ(FindTemplateHashMismatches(*log).size(), 1u);
}

TEST(ImaAscii, ModifiedDigestNibbleFailsNamingTheLine) {
  auto text = ReadTextFile(kRustKeylime);
  ASSERT_TRUE(text.ok());
  for (std::size_t field : {1, 3}) {  // template hash; file digest (after "sha1:")
    auto log = ParseImaAscii(Mutate(*text, 17, field, field == 3 ? 9 : 4));
    ASSERT_TRUE(log.ok()) << log.error().ToString();
    Status s = VerifyTemplateHashes(*log);
    ASSERT_FALSE(s.ok()) << field;
    EXPECT_THAT(s.error().message(), HasSubstr("line 17 (entry 16)"));
  }
}

TEST(ImaAscii, MalformedLinesAreCleanErrors) {
  const std::string good =
      "10 c156ebdcbfcd28fe1060ef4cdec0aab04d3a9b63 ima-ng sha1:19f13b42c2745066347e76454788c0fe083643f3 "
      "/init\n";
  ASSERT_TRUE(ParseImaAscii(good).ok());
  struct Case {
    std::string text;
    std::string message;
  };
  const Case cases[] = {
      {good + "x", "line 2 (entry 1): PCR index 'x'"},
      {good + "99 c156 ima-ng", "PCR index '99'"},
      {good + "10 zz ima-ng", "line 2 (entry 1): template hash 'zz' is not hex"},
      {good + "10 c156ebdcbfcd28fe1060ef4cdec0aab04d3a9b6300 ima-ng", "template hash of 21 bytes"},
      {good + "10 c156ebdcbfcd28fe1060ef4cdec0aab04d3a9b63 ima-ng sha1:19f1", "line has 1 template fields"},
      {good + "10 c156ebdcbfcd28fe1060ef4cdec0aab04d3a9b63 ima-ng sha1:1x /a", "digest is not hex"},
      {good + "10 c156ebdcbfcd28fe1060ef4cdec0aab04d3a9b63 ima-ng sha1:19 /a b", "more fields"},
      {good + "10 c156ebdcbfcd28fe1060ef4cdec0aab04d3a9b63 my-template a b",
       "template 'my-template' is unknown"},
      {good + "10 c156ebdcbfcd28fe1060ef4cdec0aab04d3a9b63 ima-ng md5:00112233445566778899aabbccddeeff /a",
       "unsupported file hash algorithm 'md5'"},
      {good + "10 c156ebdcbfcd28fe1060ef4cdec0aab04d3a9b63 ima-ng sha256:0011 /a", "file digest of 2 bytes"},
  };
  for (const Case& c : cases) {
    auto log = ParseImaAscii(c.text);
    ASSERT_FALSE(log.ok()) << c.text;
    EXPECT_THAT(log.error().message(), HasSubstr(c.message)) << c.text;
  }
  ImaParseOptions lenient;
  lenient.allow_truncated_tail = true;
  auto cut = ParseImaAscii(good + "10 c156ebdcbfcd28fe1060", lenient);
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut->entries.size(), 1u);
  EXPECT_EQ(cut->truncated_tail_offset, 2u);  // the line number for ascii lists
}

TEST(ImaAscii, PerAlgorithmLists) {
  for (const char* alg : {"sha1", "sha256", "sha384", "sha512", "sm3_256"}) {
    auto log = ParseImaFile(kIma + "keylime/ima-log-" + alg);
    ASSERT_TRUE(log.ok()) << alg << ": " << log.error().ToString();
    ASSERT_EQ(log->entries.size(), 2u);
    Status s = VerifyTemplateHashes(*log);
    EXPECT_TRUE(s.ok()) << alg << ": " << s.error().ToString();
    const ImaEntry& data = log->entries[1];
    EXPECT_EQ(data.path, "/data");
    EXPECT_EQ(data.file_hash_alg, HashAlgFromName(alg)) << alg;
    // The sm3_256 list carries 32-byte sm3 template hashes (a per-bank list).
    EXPECT_EQ(log->bank, std::string(alg) == "sm3_256" ? HashAlg::kSm3_256 : HashAlg::kSha1) << alg;
  }
  // All-zero template hashes are violations (ima-log-sha1, line 1).
  auto log = ParseImaFile(kIma + "keylime/ima-log-sha1");
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(log->entries[0].violation);
  EXPECT_FALSE(log->entries[1].violation);
}

TEST(ImaAscii, UnknownAlgorithmIsRejected) {
  const std::string path = kIma + "keylime/ima-log-unknown";
  auto log = ParseImaFile(path);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.error().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(log.error().message(), path + ": line 1 (entry 0): unknown file hash algorithm 'unknown'");
  ImaParseOptions o;
  o.allow_unsupported_file_hash = true;
  auto lenient = ParseImaFile(path, o);
  ASSERT_TRUE(lenient.ok()) << lenient.error().ToString();
  EXPECT_FALSE(lenient->entries[1].file_hash_alg.has_value());
  EXPECT_EQ(lenient->entries[1].file_hash_alg_name, "unknown");
}

TEST(ImaAscii, MatchesTheBinaryParser) {
  // The ibmtss lists printed as ascii parse to the same template data; the
  // sha256 per-bank list gives 32-byte template hashes (a per-bank ascii list).
  for (const char* bank : {"sha256", "sha1"}) {
    auto per_bank = ParseImaFile(kIma + "ibmtss/" + bank + ".log");
    ASSERT_TRUE(per_bank.ok());
    std::string per_bank_text;
    for (const ImaEntry& e : per_bank->entries) per_bank_text += AsciiLine(e) + "\n";
    auto per_bank_ascii = ParseImaAscii(per_bank_text);
    ASSERT_TRUE(per_bank_ascii.ok()) << per_bank_ascii.error().ToString();
    EXPECT_EQ(HashAlgName(per_bank_ascii->bank), bank);
    EXPECT_TRUE(VerifyTemplateHashes(*per_bank_ascii).ok()) << bank;
  }
  auto bin = ParseImaFile(kIma + "ibmtss/sha1.log");
  ASSERT_TRUE(bin.ok());
  std::string text;
  for (const ImaEntry& e : bin->entries) text += AsciiLine(e) + "\n";
  auto ascii = ParseImaAscii(text);
  ASSERT_TRUE(ascii.ok()) << ascii.error().ToString();
  ASSERT_EQ(ascii->entries.size(), bin->entries.size());
  for (std::size_t i = 0; i < bin->entries.size(); ++i) {
    ASSERT_EQ(ToHex(ascii->entries[i].template_data), ToHex(bin->entries[i].template_data)) << i;
  }
  EXPECT_TRUE(VerifyTemplateHashes(*ascii).ok());
  // Unsigned ima-sig lines end in a space (an empty sig field): same result
  // with the space stripped.
  std::string stripped;
  for (const ImaEntry& e : bin->entries) {
    std::string line = AsciiLine(e);
    while (line.back() == ' ') line.pop_back();
    stripped += line + "\r\n";
  }
  auto ascii2 = ParseImaAscii(stripped);
  ASSERT_TRUE(ascii2.ok()) << ascii2.error().ToString();
  EXPECT_TRUE(VerifyTemplateHashes(*ascii2).ok());
}

TEST(ImaAscii, ImaAlgorithmNames) {
  // IMA spells SM3 "sm3" and SHA-3 "sha3-256"; Keylime writes "sm3_256".
  const std::string zero20 = " 0000000000000000000000000000000000000000 ima-ng ";
  const std::string d32(64, 'a');
  for (const auto& [name, alg] :
       {std::pair{"sm3", HashAlg::kSm3_256}, std::pair{"sm3_256", HashAlg::kSm3_256},
        std::pair{"sha3-256", HashAlg::kSha3_256}, std::pair{"sha256", HashAlg::kSha256}}) {
    auto log = ParseImaAscii("10" + zero20 + name + ":" + d32 + " /f\n");
    ASSERT_TRUE(log.ok()) << name << ": " << log.error().ToString();
    EXPECT_EQ(log->entries[0].file_hash_alg, alg) << name;
    EXPECT_EQ(log->entries[0].file_hash_alg_name, name);
  }
  // Kernels before 3.13 printed sha1 d-ng digests without a prefix.
  auto old = ParseImaAscii("10" + zero20 + std::string(40, 'b') + " /f\n");
  ASSERT_TRUE(old.ok()) << old.error().ToString();
  EXPECT_EQ(old->entries[0].file_hash_alg, HashAlg::kSha1);
}

TEST(ImaAscii, LegacyImaTemplateLine) {
  // The legacy "ima" template: sha1(digest || name padded to 256 bytes).
  auto bin = ParseImaFile(kIma + "tpm2-tss/sml-ima-sha1.bin", {.allow_truncated_tail = true});
  ASSERT_TRUE(bin.ok());
  std::string text;
  for (const ImaEntry& e : bin->entries) {
    text += std::to_string(e.pcr) + " " + ToHex(e.template_digest) + " ima " + ToHex(e.file_digest) + " " +
            std::string(e.path) + "\n";
  }
  auto log = ParseImaAscii(text);
  ASSERT_TRUE(log.ok()) << log.error().ToString();
  EXPECT_TRUE(VerifyTemplateHashes(*log).ok());
  EXPECT_EQ(log->entries[1].path, "/init");
}

}  // namespace
}  // namespace immune::tsb
