#include "immune/tsb/measurement_entry.h"

#include <gtest/gtest.h>

#include "immune/tsb/ima_log.h"
#include "log_test_util.h"

namespace immune::tsb {
namespace {

using testing::CtEntry;
using testing::HostEntry;

TEST(MeasurementEntryTest, SamePathInTwoContainersGivesDistinctTemplateData) {
  auto a = BuildTemplateData(CtEntry("ctA", "/usr/bin/sh", 1));
  auto b = BuildTemplateData(CtEntry("ctB", "/usr/bin/sh", 1));
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  ASSERT_TRUE(b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_NE(*TemplateHash(HashAlg::kSha256, *a), *TemplateHash(HashAlg::kSha256, *b));
}

TEST(MeasurementEntryTest, ImaNgTemplateDataMatchesKernelLayout) {
  auto d = BuildTemplateData(HostEntry("/bin/ls", 0xab));
  ASSERT_TRUE(d.ok());
  Bytes want = {15, 0, 0, 0, 's', 'h', 'a', '2', '5', '6', ':', 0};
  want.insert(want.end(), 32, 0xab);
  want[0] = static_cast<std::uint8_t>(8 + 32);
  Bytes name = {8, 0, 0, 0, '/', 'b', 'i', 'n', '/', 'l', 's', 0};
  want.insert(want.end(), name.begin(), name.end());
  EXPECT_EQ(*d, want);
}

// Host entries written as an IMA binary list parse back with the tsb IMA
// parser and their template hashes verify.
TEST(MeasurementEntryTest, HostTemplatesParseBackWithImaParser) {
  MeasurementEntry ng = HostEntry("/usr/bin/bash", 7);
  MeasurementEntry sig = HostEntry("/usr/bin/sudo", 9);
  sig.template_kind = TemplateKind::kImaSig;
  sig.signature = {0x03, 0x02, 0x04, 0x01, 0x02, 0x03, 0x04, 0x00, 0x02, 0xaa, 0xbb};
  Bytes list;
  auto put32 = [&](std::uint32_t v) {
    for (int i = 0; i < 4; ++i) list.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  for (const MeasurementEntry* e : {&ng, &sig}) {
    auto data = BuildTemplateData(*e);
    ASSERT_TRUE(data.ok());
    auto th = TemplateHash(HashAlg::kSha1, *data);
    put32(10);
    list.insert(list.end(), th->begin(), th->end());
    const auto name = TemplateName(e->template_kind);
    put32(static_cast<std::uint32_t>(name.size()));
    list.insert(list.end(), name.begin(), name.end());
    put32(static_cast<std::uint32_t>(data->size()));
    list.insert(list.end(), data->begin(), data->end());
  }
  auto log = ParseImaBinary(list);
  ASSERT_TRUE(log.ok()) << log.error().ToString();
  ASSERT_EQ(log->entries.size(), 2u);
  EXPECT_TRUE(VerifyTemplateHashes(*log).ok());
  EXPECT_EQ(log->entries[0].path, "/usr/bin/bash");
  EXPECT_EQ(log->entries[1].path, "/usr/bin/sudo");
  EXPECT_EQ(Bytes(log->entries[1].signature.begin(), log->entries[1].signature.end()), sig.signature);
  EXPECT_EQ(Bytes(log->entries[0].file_digest.begin(), log->entries[0].file_digest.end()), ng.file_digest);
  // Fails when a byte changes.
  list[list.size() - 3] ^= 1;
  auto bad = ParseImaBinary(list);
  EXPECT_TRUE(!bad.ok() || !VerifyTemplateHashes(*bad).ok());
}

TEST(MeasurementEntryTest, RejectsContainerEntryWithImaNgAndBadDigest) {
  MeasurementEntry e = CtEntry("ctA", "/x", 1);
  e.template_kind = TemplateKind::kImaNg;
  EXPECT_FALSE(BuildTemplateData(e).ok());
  MeasurementEntry f = HostEntry("/x", 1);
  f.file_digest.resize(5);
  EXPECT_FALSE(BuildTemplateData(f).ok());
  MeasurementEntry g = HostEntry(std::string("/x\0y", 4), 1);
  EXPECT_FALSE(BuildTemplateData(g).ok());
}

}  // namespace
}  // namespace immune::tsb
