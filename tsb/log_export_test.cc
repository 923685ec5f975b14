#include "immune/tsb/log_export.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "immune/core/hex.h"
#include "immune/tsb/ima_log.h"
#include "log_test_util.h"

namespace immune::tsb {
namespace {

using testing::CtEntry;
using testing::HostEntry;

std::vector<MeasurementEntry> HostEntries() {
  std::vector<MeasurementEntry> v;
  v.push_back(HostEntry("/usr/bin/bash", 1));
  MeasurementEntry s = HostEntry("/usr/bin/sudo", 2);
  s.template_kind = TemplateKind::kImaSig;
  s.signature = {0x03, 0x02, 0x04, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x02, 0x12, 0x34};
  v.push_back(s);
  MeasurementEntry u = HostEntry("/usr/bin/unsigned", 3);
  u.template_kind = TemplateKind::kImaSig;
  v.push_back(u);
  MeasurementEntry sha1 = HostEntry("/etc/passwd", 4);
  sha1.file_hash_alg = HashAlg::kSha1;
  sha1.file_digest = Bytes(20, 4);
  v.push_back(sha1);
  for (auto& e : v) e.pcr = 13;
  return v;
}

TEST(LogExportTest, AsciiOfHostEntriesParsesBackAndVerifies) {
  for (HashAlg bank : {HashAlg::kSha1, HashAlg::kSha256}) {
    auto text = ExportImaAscii(HostEntries(), bank);
    ASSERT_TRUE(text.ok());
    ImaParseOptions po;
    po.bank = bank;
    auto log = ParseImaAscii(*text, po);
    ASSERT_TRUE(log.ok()) << log.error().ToString() << "\n" << *text;
    ASSERT_EQ(log->entries.size(), 4u);
    EXPECT_TRUE(VerifyTemplateHashes(*log).ok());
    EXPECT_EQ(log->entries[1].path, "/usr/bin/sudo");
    EXPECT_EQ(log->entries[0].pcr, 13u);
    // Altering a byte of a line makes verification fail.
    std::string bad = *text;
    bad[bad.find("/usr/bin/bash") + 5] = 'X';
    auto b = ParseImaAscii(bad, po);
    ASSERT_TRUE(b.ok());
    EXPECT_FALSE(VerifyTemplateHashes(*b).ok());
  }
}

TEST(LogExportTest, BinaryWithContainerEntriesParsesAndVerifies) {
  auto entries = HostEntries();
  entries.push_back(CtEntry("ctA", "/usr/bin/sh", 5));
  entries.push_back(CtEntry("ctB", "/usr/bin/sh", 5));
  for (auto& e : entries) e.pcr = 13;
  auto bin = ExportImaBinary(entries, HashAlg::kSha256);
  ASSERT_TRUE(bin.ok());
  ImaParseOptions po;
  po.bank = HashAlg::kSha256;
  auto log = ParseImaBinary(*bin, po);
  ASSERT_TRUE(log.ok()) << log.error().ToString();
  ASSERT_EQ(log->entries.size(), 6u);
  EXPECT_TRUE(VerifyTemplateHashes(*log).ok());
  EXPECT_EQ(log->entries[4].template_name, "immune-ct");
  EXPECT_NE(ToHex(log->entries[4].template_digest), ToHex(log->entries[5].template_digest));
  (*bin)[bin->size() - 2] ^= 1;
  auto bad = ParseImaBinary(*bin, po);
  EXPECT_TRUE(!bad.ok() || !VerifyTemplateHashes(*bad).ok());
}

TEST(LogExportTest, AsciiOfContainerEntryPrintsItsFields) {
  std::vector<MeasurementEntry> v = {CtEntry("ctA", "/usr/bin/sh", 5)};
  auto text = ExportImaAscii(v);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find(" immune-ct sha256:0505"), std::string::npos) << *text;
  EXPECT_NE(
      text->find(" /usr/bin/sh ctA registry.example/app:ctA 4242:/usr/bin/runc allow:image-allowlist\n"),
      std::string::npos)
      << *text;
}

TEST(LogExportTest, JsonHasAllFields) {
  std::vector<MeasurementEntry> v = {CtEntry("ctA", "/usr/bin/sh", 5)};
  v[0].seq = 7;
  v[0].decision = Decision::kDeny;
  const std::vector<HashAlg> banks = {HashAlg::kSha1, HashAlg::kSha256};
  auto text = ExportJson(v, banks);
  ASSERT_TRUE(text.ok());
  auto j = nlohmann::json::parse(*text);
  const auto& e = j["entries"][0];
  EXPECT_EQ(e["seq"], 7);
  EXPECT_EQ(e["container_id"], "ctA");
  EXPECT_EQ(e["image"], "registry.example/app:ctA");
  EXPECT_EQ(e["pid"], 4242);
  EXPECT_EQ(e["exe"], "/usr/bin/runc");
  EXPECT_EQ(e["path"], "/usr/bin/sh");
  EXPECT_EQ(e["decision"], "deny");
  EXPECT_EQ(e["rule"], "image-allowlist");
  EXPECT_EQ(e["template"], "immune-ct");
  EXPECT_EQ(e["file_hash_alg"], "sha256");
  EXPECT_EQ(e["template_hash"]["sha256"].get<std::string>().size(), 64u);
}

TEST(LogExportTest, JsonKeepsFileNamesThatAreNotUtf8AsBytes) {
  // A file name may hold any byte; JSON strings must be UTF-8. The export
  // used to throw on such a name, failing `tsb log --json` for the whole log.
  std::vector<MeasurementEntry> v = {HostEntry("/tmp/caf\xe9", 1), HostEntry("/usr/bin/ok", 2)};
  v[0].exe = "/bin/\xff";
  const std::vector<HashAlg> banks = {HashAlg::kSha256};
  auto text = ExportJson(v, banks);
  ASSERT_TRUE(text.ok()) << text.error().ToString();
  auto j = nlohmann::json::parse(*text);
  const auto& e = j["entries"][0];
  ASSERT_TRUE(e["path"].is_array()) << e.dump();
  std::string path;
  for (const auto& b : e["path"]) path.push_back(static_cast<char>(b.get<int>()));
  EXPECT_EQ(path, v[0].path);
  EXPECT_TRUE(e["exe"].is_array());
  EXPECT_EQ(j["entries"][1]["path"], "/usr/bin/ok");  // UTF-8 names stay strings
}

}  // namespace
}  // namespace immune::tsb
