#include "immune/boot/replay.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "immune/core/file.h"
#include "immune/core/hex.h"
#include "testdata.h"
#include "yaml_expect.h"

namespace immune::boot {
namespace {

using testing::ReadTestdata;

PcrValues ReplayFile(const std::string& relative) {
  auto log = ParseEventLog(ReadTestdata(relative));
  if (!log.ok()) {
    ADD_FAILURE() << relative << ": " << log.error().ToString();
    return {};
  }
  auto pcrs = ReplayEventLog(*log);
  if (!pcrs.ok()) {
    ADD_FAILURE() << relative << ": " << pcrs.error().ToString();
    return {};
  }
  return std::move(pcrs).value();
}

std::string Describe(const std::vector<PcrMismatch>& mismatches) {
  std::string s;
  for (const auto& m : mismatches) {
    s += std::string(HashAlgName(m.bank)) + " PCR" + std::to_string(m.pcr) + ": expected " +
         ToHex(m.expected) + ", got " + (m.actual.empty() ? "(absent)" : ToHex(m.actual)) + "\n";
  }
  return s;
}

TEST(ReplayTest, MatchesEveryExpectedPcrsFile) {
  const auto cases = testing::AllExpectedPcrs();
  ASSERT_GE(cases.size(), 14u);
  std::size_t checked = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.log);
    auto text = ReadTextFile(testing::TestdataPath(c.expected));
    ASSERT_TRUE(text.ok());
    auto expected = PcrValuesFromJson(*text);
    ASSERT_TRUE(expected.ok()) << expected.error().ToString();
    ASSERT_FALSE(expected->empty());
    const PcrValues actual = ReplayFile(c.log);
    auto mismatches = ComparePcrs(*expected, actual);
    if (c.log == "eventlogs/go-eventlog/linux_tpm12.eventlog.bin") {
      // Its expected values are a TPM 1.2 quote of all 24 PCRs; the log
      // only extends 0-7 (PCR 10 is IMA, 17-22 are DRTM, reset to ff..ff).
      // PCRs the log does not touch may be absent from the replay; every
      // PCR it does extend must match.
      std::erase_if(mismatches, [](const PcrMismatch& m) { return m.actual.empty() && m.pcr >= 8; });
    }
    EXPECT_TRUE(mismatches.empty()) << Describe(mismatches);
    ++checked;
  }
  EXPECT_EQ(checked, cases.size());
}

TEST(ReplayTest, MatchesTpm2ToolsPcrsBlock) {
  std::size_t compared = 0;
  for (const auto& c : testing::AllYamlCases()) {
    const auto y = testing::ReadTpm2ToolsYaml(testing::TestdataPath(c.yaml));
    if (y.pcrs.empty()) continue;
    SCOPED_TRACE(c.yaml);
    const auto mismatches = ComparePcrs(y.pcrs, ReplayFile(c.log));
    EXPECT_TRUE(mismatches.empty()) << Describe(mismatches);
    ++compared;
  }
  EXPECT_GE(compared, 25u);
}

TEST(ReplayTest, AComparisonCanFail) {
  auto log = ParseEventLog(ReadTestdata("eventlogs/go-eventlog/debian-10.bin"));
  ASSERT_TRUE(log.ok());
  log->events[3].digests[0].value[0] ^= 1;
  auto pcrs = ReplayEventLog(*log);
  ASSERT_TRUE(pcrs.ok());
  auto text = ReadTextFile(testing::TestdataPath("eventlogs/go-eventlog/debian-10.expected_pcrs.json"));
  ASSERT_TRUE(text.ok());
  auto expected = PcrValuesFromJson(*text);
  ASSERT_TRUE(expected.ok());
  const auto mismatches = ComparePcrs(*expected, *pcrs);
  ASSERT_EQ(mismatches.size(), 1u);
  EXPECT_EQ(mismatches[0].pcr, log->events[3].pcr);
}

TEST(ReplayTest, EveryLogReplaysInEveryBankItCarries) {
  for (const std::string& path : testing::AllEventLogs()) {
    SCOPED_TRACE(path);
    auto log = ParseEventLog(ReadTestdata(path));
    ASSERT_TRUE(log.ok());
    auto pcrs = ReplayEventLog(*log);
    ASSERT_TRUE(pcrs.ok()) << pcrs.error().ToString();
    ASSERT_EQ(pcrs->size(), log->banks.size());
    for (HashAlg alg : log->banks) {
      const PcrBank& bank = pcrs->at(alg);
      for (const auto& [pcr, value] : bank) {
        EXPECT_LT(pcr, kNumPcrs);
        EXPECT_EQ(value.size(), DigestSize(alg));
      }
    }
  }
}

TEST(ReplayTest, KeylimeLogsAreSelfConsistent) {
  // No expected values: check against an independent slow replay with core's
  // ExtendDigest, bank by bank.
  for (const char* name : {"binary_bios_measurements", "binary_bios_measurements-secureboot", "mb_log.bin",
                           "rust-keylime-uefi_log.bin"}) {
    SCOPED_TRACE(name);
    auto log = ParseEventLog(ReadTestdata(std::string("eventlogs/keylime/") + name));
    ASSERT_TRUE(log.ok());
    auto pcrs = ReplayEventLog(*log);
    ASSERT_TRUE(pcrs.ok());
    const std::uint8_t locality = StartupLocality(*log);
    for (HashAlg alg : log->banks) {
      PcrBank slow;
      for (const Event& ev : log->events) {
        if (ev.type == EV_NO_ACTION || ev.pcr >= kNumPcrs) continue;
        auto [it, inserted] = slow.try_emplace(ev.pcr, Bytes(DigestSize(alg), 0));
        if (inserted && ev.pcr == 0) it->second.back() = locality;
        const Bytes* d = ev.DigestFor(alg);
        ASSERT_NE(d, nullptr);
        auto next = ExtendDigest(alg, it->second, *d);
        ASSERT_TRUE(next.ok());
        it->second = *next;
      }
      EXPECT_EQ(pcrs->at(alg), slow) << HashAlgName(alg);
    }
  }
}

TEST(ReplayTest, StartupLocality) {
  auto log = ParseEventLog(ReadTestdata("eventlogs/keylime/binary_bios_measurements"));
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(StartupLocality(*log), 3);
  auto hcrtm = ParseEventLog(ReadTestdata("eventlogs/tpm2-tss/binary_measurements_hcrtm.bin"));
  ASSERT_TRUE(hcrtm.ok());
  EXPECT_EQ(StartupLocality(*hcrtm), 4);
  auto none = ParseEventLog(ReadTestdata("eventlogs/go-eventlog/debian-10.bin"));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(StartupLocality(*none), 0);
}

TEST(ReplayTest, StartupLocalityChangesPcr0Only) {
  auto log = ParseEventLog(ReadTestdata("eventlogs/keylime/binary_bios_measurements"));
  ASSERT_TRUE(log.ok());
  auto with = ReplayEventLog(*log);
  ASSERT_TRUE(with.ok());
  // Drop the StartupLocality event: PCR 0 changes, nothing else does.
  std::erase_if(log->events, [](const Event& ev) {
    return ev.type == EV_NO_ACTION && ev.data.size() == 17 && ev.data[0] == 'S' && ev.data[1] == 't';
  });
  ASSERT_EQ(StartupLocality(*log), 0);
  auto without = ReplayEventLog(*log);
  ASSERT_TRUE(without.ok());
  for (const auto& [alg, bank] : *with) {
    for (const auto& [pcr, value] : bank) {
      if (pcr == 0) {
        EXPECT_NE(value, without->at(alg).at(0));
      } else {
        EXPECT_EQ(value, without->at(alg).at(pcr));
      }
    }
  }
}

TEST(ReplayTest, WindowsTrailersAreParsedButNotReplayed) {
  auto log = ParseEventLog(ReadTestdata("eventlogs/uefi-eventlog/ideapad/ideapad1.bin"));
  ASSERT_TRUE(log.ok());
  const auto trailers = std::count_if(log->events.begin(), log->events.end(),
                                      [](const Event& ev) { return ev.pcr == 0xFFFFFFFFu; });
  EXPECT_GT(trailers, 0);
  auto pcrs = ReplayEventLog(*log);
  ASSERT_TRUE(pcrs.ok());
  for (const auto& [alg, bank] : *pcrs) {
    for (const auto& [pcr, value] : bank) EXPECT_LT(pcr, kNumPcrs);
  }
  // Moving a trailer onto PCR 30 changes nothing either.
  for (Event& ev : log->events) {
    if (ev.pcr == 0xFFFFFFFFu) ev.pcr = 30;
  }
  auto again = ReplayEventLog(*log);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *pcrs);
}

TEST(ReplayTest, DigestOrderDoesNotMatter) {
  auto log = ParseEventLog(ReadTestdata("eventlogs/go-eventlog/rhel8-uefi.bin"));
  ASSERT_TRUE(log.ok());
  auto before = ReplayEventLog(*log);
  ASSERT_TRUE(before.ok());
  for (Event& ev : log->events) std::reverse(ev.digests.begin(), ev.digests.end());
  auto after = ReplayEventLog(*log);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*before, *after);
}

TEST(ReplayTest, NoActionEventsAreNotExtended) {
  auto log = ParseEventLog(ReadTestdata("eventlogs/tpm2-tools/event-uefivar.bin"));
  ASSERT_TRUE(log.ok());
  auto pcrs = ReplayEventLog(*log);
  ASSERT_TRUE(pcrs.ok());
  // The Spec ID header is on PCR 0 but only PCR 7 is extended.
  EXPECT_EQ(pcrs->at(HashAlg::kSha256).size(), 1u);
  EXPECT_EQ(pcrs->at(HashAlg::kSha256).count(7), 1u);
}

}  // namespace
}  // namespace immune::boot
