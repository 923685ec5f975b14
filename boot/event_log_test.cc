#include "immune/boot/event_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "immune/core/hex.h"
#include "testdata.h"
#include "yaml_expect.h"

namespace immune::boot {
namespace {

using testing::AllEventLogs;
using testing::AllYamlCases;
using ::testing::HasSubstr;
using testing::ReadTestdata;

Result<EventLog> ParseFile(const std::string& relative) { return ParseEventLog(ReadTestdata(relative)); }

// Byte offset where each event ends (the next one starts).
std::size_t EventEnd(const EventLog& log, std::size_t i) {
  return i + 1 < log.events.size() ? log.events[i + 1].offset : SIZE_MAX;
}

// Offset of the event data size field of event i (> 0) in a crypto-agile log.
std::size_t DataSizeFieldOffset(const EventLog& log, std::size_t i) {
  const Event& ev = log.events[i];
  std::size_t off = ev.offset + 12;
  for (const EventDigest& d : ev.digests) off += 2 + d.value.size();
  return off;
}

void PutU32(Bytes& b, std::size_t at, std::uint32_t v) {
  for (int k = 0; k < 4; ++k) b[at + static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(v >> (8 * k));
}

TEST(EventLogTest, EveryLogInTestdataParsesToTheLastByte) {
  const auto logs = AllEventLogs();
  ASSERT_GE(logs.size(), 30u);
  for (const std::string& path : logs) {
    SCOPED_TRACE(path);
    const Bytes bytes = ReadTestdata(path);
    auto log = ParseEventLog(bytes);
    ASSERT_TRUE(log.ok()) << log.error().ToString();
    ASSERT_FALSE(log->events.empty());
    // No real log in testdata ends in padding: the last event must end at
    // the last byte, which re-encoding the last event's size shows.
    const Event& last = log->events.back();
    std::size_t end = last.offset + last.data.size();
    if (log->format == LogFormat::kSha1Legacy || log->events.size() == 1) {
      end += 32;
      if (log->events.size() == 1 && log->spec_id) end = bytes.size();  // vendorInfo quirk, see below
    } else {
      end = DataSizeFieldOffset(*log, log->events.size() - 1) + 4 + last.data.size();
    }
    EXPECT_EQ(end, bytes.size());
    for (std::size_t i = 0; i < log->events.size(); ++i) EXPECT_EQ(log->events[i].index, i);
  }
}

TEST(EventLogTest, KeylimeLogsParse) {
  for (const char* name : {"binary_bios_measurements", "binary_bios_measurements-secureboot", "mb_log.bin",
                           "rust-keylime-uefi_log.bin"}) {
    SCOPED_TRACE(name);
    auto log = ParseFile(std::string("eventlogs/keylime/") + name);
    ASSERT_TRUE(log.ok()) << log.error().ToString();
    EXPECT_EQ(log->format, LogFormat::kCryptoAgile);
    EXPECT_GT(log->events.size(), 90u);
  }
}

TEST(EventLogTest, FormatsAndBanks) {
  auto legacy = ParseFile("eventlogs/fwupd/binary_bios_measurements-v1");
  ASSERT_TRUE(legacy.ok());
  EXPECT_EQ(legacy->format, LogFormat::kSha1Legacy);
  EXPECT_FALSE(legacy->spec_id.has_value());
  EXPECT_EQ(legacy->banks, std::vector<HashAlg>{HashAlg::kSha1});
  EXPECT_EQ(legacy->events.size(), 108u);

  auto agile = ParseFile("eventlogs/tpm2-tss/binary_measurements_hcrtm.bin");
  ASSERT_TRUE(agile.ok());
  EXPECT_EQ(agile->format, LogFormat::kCryptoAgile);
  ASSERT_TRUE(agile->spec_id.has_value());
  EXPECT_EQ(agile->spec_id->signature, "Spec ID Event03");
  EXPECT_EQ(agile->banks, (std::vector<HashAlg>{HashAlg::kSha1, HashAlg::kSha256, HashAlg::kSm3_256}));
  EXPECT_EQ(agile->events.size(), 204u);
  EXPECT_NE(agile->events[5].DigestFor(HashAlg::kSm3_256), nullptr);
  EXPECT_EQ(agile->events[5].DigestFor(HashAlg::kSha384), nullptr);
}

TEST(EventLogTest, SpecIdVendorInfo) {
  // tpm2-tss' copy is well formed; tpm2-tools' copy has an EventSize (37)
  // that leaves out the 4 vendorInfo bytes that follow it: accepted as a
  // quirk, as tpm2_eventlog does, with the same result.
  for (const char* path :
       {"eventlogs/tpm2-tss/specid-vendordata.bin", "eventlogs/tpm2-tools/specid-vendordata.bin"}) {
    SCOPED_TRACE(path);
    auto log = ParseFile(path);
    ASSERT_TRUE(log.ok()) << log.error().ToString();
    ASSERT_EQ(log->events.size(), 1u);
    ASSERT_TRUE(log->spec_id);
    EXPECT_EQ(ToHex(log->spec_id->vendor_info), "deadbeef");
    EXPECT_EQ(log->spec_id->algorithms.size(), 2u);
  }
}

TEST(EventLogTest, AgreesWithTpm2ToolsYaml) {
  const auto cases = AllYamlCases();
  ASSERT_GE(cases.size(), 25u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.yaml);
    const auto expected = testing::ReadTpm2ToolsYaml(testing::TestdataPath(c.yaml));
    if (c.yaml.find("moklisttrusted-hex") != std::string::npos)
      continue;  // not tpm2_eventlog output; see below
    auto log = ParseFile(c.log);
    ASSERT_TRUE(log.ok()) << log.error().ToString();
    // tpm2_eventlog 5.5 stops printing at a Windows trailer event on PCR
    // 0xFFFFFFFF (ideapad1.bin ends with one); we keep it. Trailers must
    // come last, and are the only difference allowed.
    std::vector<const Event*> events;
    bool in_trailer = false;
    for (const Event& ev : log->events) {
      if (ev.pcr == 0xFFFFFFFFu) {
        in_trailer = true;
        continue;
      }
      EXPECT_FALSE(in_trailer) << "event " << ev.index << " after a trailer";
      events.push_back(&ev);
    }
    ASSERT_EQ(events.size(), expected.events.size());
    for (std::size_t i = 0; i < expected.events.size(); ++i) {
      SCOPED_TRACE("event " + std::to_string(i));
      const Event& ev = *events[i];
      const auto& want = expected.events[i];
      EXPECT_EQ(ev.pcr, want.pcr);
      EXPECT_EQ(EventTypeName(ev.type), want.type);
      ASSERT_EQ(ev.digests.size(), want.digests.size());
      for (const EventDigest& d : ev.digests) {
        auto it = want.digests.find(std::string(HashAlgName(d.alg)));
        ASSERT_NE(it, want.digests.end()) << HashAlgName(d.alg);
        EXPECT_EQ(ToHex(d.value), it->second);
      }
    }
  }
}

TEST(EventLogTest, FlatMapYamlOfTheSha1LogIsReadEventByEvent) {
  // The v1 YAML of event-uefi-sha1-log.bin is a map with repeated keys; the
  // reader splits it at each PCRIndex. Make sure that produced all 17.
  const auto y = testing::ReadTpm2ToolsYaml(
      testing::TestdataPath("eventlogs/tpm2-tools/event-raw/event-uefi-sha1-log.bin.yaml"));
  ASSERT_EQ(y.events.size(), 17u);
  EXPECT_EQ(y.events[0].type, "EV_S_CRTM_VERSION");
  EXPECT_EQ(y.events[16].pcr, 4u);
}

TEST(EventLogTest, AgreesWithIndependentHexDump) {
  // event-moklisttrusted-hex.yaml: a per-event dump with the event data.
  auto log = ParseFile("eventlogs/tpm2-tools/event-moklisttrusted.bin");
  ASSERT_TRUE(log.ok());
  const auto dump =
      testing::ReadHexDumpYaml(testing::TestdataPath("eventlogs/tpm2-tools/event-moklisttrusted-hex.yaml"));
  ASSERT_EQ(dump.size(), log->events.size());
  for (std::size_t i = 0; i < dump.size(); ++i) {
    SCOPED_TRACE("event " + std::to_string(i));
    EXPECT_EQ(log->events[i].pcr, dump[i].pcr);
    EXPECT_EQ(EventTypeName(log->events[i].type), dump[i].type);
    EXPECT_EQ(ToHex(log->events[i].data), dump[i].data_hex);
    ASSERT_EQ(log->events[i].digests.size(), dump[i].digests.size());
    for (const EventDigest& d : log->events[i].digests) {
      EXPECT_EQ(ToHex(d.value), dump[i].digests.at(std::string(HashAlgName(d.alg))));
    }
  }
}

TEST(EventLogTest, BogusFileIsRejected) {
  auto log = ParseFile("eventlogs/keylime/binary_bios_measurements-bogus");
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.error().code(), ErrorCode::kCorruption);
  EXPECT_THAT(log.error().message(), HasSubstr("event 0 at byte 0"));
  EXPECT_THAT(log.error().message(), HasSubstr("runs past the end"));
}

TEST(EventLogTest, EmptyInputIsRejected) {
  auto log = ParseEventLog({});
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(log.error().message(), HasSubstr("empty"));
}

void CheckTruncations(const std::string& path, std::size_t step) {
  SCOPED_TRACE(path);
  const Bytes full = ReadTestdata(path);
  auto whole = ParseEventLog(full);
  ASSERT_TRUE(whole.ok());
  std::size_t boundaries = 0, errors = 0;
  for (std::size_t cut = 1; cut < full.size(); cut += step) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    auto log = ParseEventLog(ByteSpan(full).first(cut));
    // The event the cut falls in (or starts).
    std::size_t k = 0;
    while (EventEnd(*whole, k) <= cut) ++k;
    if (whole->events[k].offset == cut) {
      ++boundaries;
      ASSERT_TRUE(log.ok()) << log.error().ToString();
      EXPECT_EQ(log->events.size(), k);
      continue;
    }
    ++errors;
    ASSERT_FALSE(log.ok()) << "parsed " << log->events.size() << " events";
    EXPECT_EQ(log.error().code(), ErrorCode::kCorruption);
    EXPECT_THAT(log.error().message(), HasSubstr("event " + std::to_string(k) + " at byte " +
                                                 std::to_string(whole->events[k].offset)));
  }
  EXPECT_GT(errors, 100u);
  // Also every event boundary exactly.
  for (std::size_t k = 1; k < whole->events.size(); ++k) {
    auto log = ParseEventLog(ByteSpan(full).first(whole->events[k].offset));
    ASSERT_TRUE(log.ok());
    EXPECT_EQ(log->events.size(), k);
  }
}

TEST(EventLogTest, TruncatedLogsFailWithEventAndOffset) {
  CheckTruncations("eventlogs/fwupd/binary_bios_measurements-v1", 7);
  CheckTruncations("eventlogs/fwupd/binary_bios_measurements-v2", 7);
  CheckTruncations("eventlogs/tpm2-tss/binary_measurements_hcrtm.bin", 7);
  CheckTruncations("eventlogs/uefi-eventlog/ideapad/ideapad1.bin", 7);
  CheckTruncations("eventlogs/tpm2-tools/event-sd-boot-fedora37.bin", 1);
}

TEST(EventLogTest, EventDataSizePastTheEnd) {
  Bytes b = ReadTestdata("eventlogs/go-eventlog/glinux-alex.bin");
  auto log = ParseEventLog(b);
  ASSERT_TRUE(log.ok());
  const std::size_t at = DataSizeFieldOffset(*log, 12);
  PutU32(b, at, 65536);
  auto bad = ParseEventLog(b);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kCorruption);
  const std::string left = std::to_string(b.size() - at - 4);
  EXPECT_EQ(bad.error().message(), "event 12 at byte " + std::to_string(log->events[12].offset) +
                                       ": event data size 65536 at byte " + std::to_string(at) +
                                       " runs past the end of the log (" + left + " bytes left)");
  // A size that stays inside the log desynchronises the rest: still an error.
  Bytes c = ReadTestdata("eventlogs/go-eventlog/glinux-alex.bin");
  PutU32(c, at, static_cast<std::uint32_t>(log->events[12].data.size() + 3));
  EXPECT_FALSE(ParseEventLog(c).ok());
}

TEST(EventLogTest, LegacyEventDataSizePastTheEnd) {
  Bytes b = ReadTestdata("eventlogs/fwupd/binary_bios_measurements-v1");
  auto log = ParseEventLog(b);
  ASSERT_TRUE(log.ok());
  PutU32(b, log->events[3].offset + 28, 0xFFFFFFFFu);
  auto bad = ParseEventLog(b);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message(), HasSubstr("event 3 at byte " + std::to_string(log->events[3].offset)));
  EXPECT_THAT(bad.error().message(), HasSubstr("event data size 4294967295"));
}

TEST(EventLogTest, UnknownAlgorithmInSpecIdHeader) {
  Bytes b = ReadTestdata("eventlogs/tpm2-tss/specid-vendordata.bin");
  // Algorithms start at byte 32 + 28: sha1 (0x0004) then sha256 (0x000b).
  ASSERT_EQ(b[64], 0x0B);
  b[64] = 0x99;
  b[65] = 0x01;
  auto bad = ParseEventLog(b);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(
      bad.error().message(),
      "event 0 at byte 64: Spec ID header lists algorithm 0x0199 (digest size 32) which Immune does not "
      "support");
}

TEST(EventLogTest, DigestOfAnAlgorithmTheHeaderDoesNotList) {
  Bytes b = ReadTestdata("eventlogs/go-eventlog/glinux-alex.bin");  // sha1 + sha256
  auto log = ParseEventLog(b);
  ASSERT_TRUE(log.ok());
  const std::size_t alg_at = log->events[2].offset + 12;
  b[alg_at] = 0x0C;  // sha384: known to Immune, not in this header
  auto bad = ParseEventLog(b);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(bad.error().message(), "event 2 at byte " + std::to_string(log->events[2].offset) +
                                       ": digest 0 at byte " + std::to_string(alg_at) +
                                       " uses algorithm 0x000c which the Spec ID header does not list");
}

TEST(EventLogTest, AbsurdDigestCount) {
  Bytes b = ReadTestdata("eventlogs/go-eventlog/glinux-alex.bin");
  auto log = ParseEventLog(b);
  ASSERT_TRUE(log.ok());
  const std::size_t count_at = log->events[7].offset + 8;
  PutU32(b, count_at, 0xFFFFFFFFu);
  auto bad = ParseEventLog(b);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kCorruption);
  EXPECT_THAT(bad.error().message(), HasSubstr("event 7 at byte " + std::to_string(log->events[7].offset) +
                                               ": digest count 4294967295 at byte " +
                                               std::to_string(count_at) + " runs past the end"));
}

TEST(EventLogTest, SpecIdWithAbsurdAlgorithmCount) {
  Bytes b = ReadTestdata("eventlogs/tpm2-tss/specid-vendordata.bin");
  PutU32(b, 56, 0x7FFFFFFF);
  auto bad = ParseEventLog(b);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message(), HasSubstr("event 0 at byte 56"));
  EXPECT_THAT(bad.error().message(), HasSubstr("numberOfAlgorithms 2147483647"));
}

TEST(EventLogTest, TrailingPaddingEndsTheLog) {
  const Bytes full = ReadTestdata("eventlogs/go-eventlog/arch-linux-workstation.bin");
  const std::size_t n = ParseEventLog(full)->events.size();
  for (std::uint8_t pad : {0x00, 0xFF}) {
    for (std::size_t len : {12u, 100u, 4096u}) {
      Bytes b = full;
      b.insert(b.end(), len, pad);
      auto log = ParseEventLog(b);
      ASSERT_TRUE(log.ok()) << log.error().ToString();
      EXPECT_EQ(log->events.size(), n);
    }
    // Too short to be padding: the start of a cut-off event.
    Bytes b = full;
    b.insert(b.end(), 3, pad);
    auto short_pad = ParseEventLog(b);
    ASSERT_FALSE(short_pad.ok());
    EXPECT_THAT(short_pad.error().message(), HasSubstr("event " + std::to_string(n) + " at byte"));
  }
  // Mixed bytes are not padding.
  Bytes b = full;
  b.insert(b.end(), 40, 0x00);
  b.back() = 0x01;
  EXPECT_FALSE(ParseEventLog(b).ok());
  // Padding does not hide a truncated event: keep only the PCR index and
  // type of the last event, then pad. The zeros read as a digest count of 0.
  const std::size_t last = ParseEventLog(full)->events.back().offset;
  Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(last + 8));
  cut.insert(cut.end(), 64, 0x00);
  auto log = ParseEventLog(cut);
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(log.error().message(), HasSubstr("event " + std::to_string(n - 1) + " at byte " +
                                               std::to_string(last) + ": digest count 0"));
}

TEST(EventLogTest, EventTypeNamesMatchTpm2Tools) {
  EXPECT_EQ(EventTypeName(EV_NO_ACTION), "EV_NO_ACTION");
  EXPECT_EQ(EventTypeName(EV_EFI_VARIABLE_DRIVER_CONFIG), "EV_EFI_VARIABLE_DRIVER_CONFIG");
  EXPECT_EQ(EventTypeName(EV_EFI_BOOT_SERVICES_APPLICATION), "EV_EFI_BOOT_SERVICES_APPLICATION");
  EXPECT_EQ(EventTypeName(EV_EFI_PLATFORM_FIRMWARE_BLOB2), "EV_EFI_PLATFORM_FIRMWARE_BLOB2");
  EXPECT_EQ(EventTypeName(EV_EFI_HCRTM_EVENT), "EV_EFI_HCRTM_EVENT");
  EXPECT_EQ(EventTypeName(0x40E), "Unknown event type");  // as printed for intel_svr.bin event 15
}

}  // namespace
}  // namespace immune::boot
