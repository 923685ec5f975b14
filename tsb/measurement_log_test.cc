#include "immune/tsb/measurement_log.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "log_test_util.h"

namespace immune::tsb {
namespace {

using testing::CtEntry;
using testing::HostEntry;

BankDigests TpmPcr(tpm::Tpm& t, std::uint32_t pcr = kDefaultTsbPcr) {
  auto v = t.ReadPcrs({{HashAlg::kSha1, {pcr}}, {HashAlg::kSha256, {pcr}}});
  EXPECT_TRUE(v.ok());
  return {{HashAlg::kSha1, (*v)[HashAlg::kSha1][pcr]}, {HashAlg::kSha256, (*v)[HashAlg::kSha256][pcr]}};
}

class MeasurementLogTest : public ::testing::Test {
 protected:
  MeasurementLogTest() : tpm_(tpm::NewFakeTpm()) { opt_.journal_path = dir_.File("journal.db"); }
  std::unique_ptr<MeasurementLog> OpenLog() {
    auto log = MeasurementLog::Open(opt_, *tpm_);
    EXPECT_TRUE(log.ok()) << log.error().ToString();
    return log.ok() ? std::move(log).value() : nullptr;
  }
  void AppendMixed(MeasurementLog& log, int n) {
    for (int i = 0; i < n; ++i) {
      const auto fill = static_cast<std::uint8_t>(i);
      auto r = i % 3 == 0
                   ? log.Append(HostEntry("/host/" + std::to_string(i), fill))
                   : log.Append(CtEntry(i % 3 == 1 ? "ctA" : "ctB", "/bin/f" + std::to_string(i), fill));
      ASSERT_TRUE(r.ok()) << r.error().ToString();
    }
  }

  testing::TempDir dir_;
  std::unique_ptr<tpm::Tpm> tpm_;
  MeasurementLogOptions opt_;
};

TEST_F(MeasurementLogTest, ReopenGivesSameEntriesAndReplayEqualsPcr) {
  std::vector<MeasurementEntry> before;
  {
    auto log = OpenLog();
    ASSERT_TRUE(log);
    AppendMixed(*log, 30);
    before = log->Entries();
    EXPECT_EQ(log->ExpectedPcr(), TpmPcr(*tpm_));
  }
  auto log = OpenLog();
  ASSERT_TRUE(log);
  EXPECT_EQ(log->recovery().rows, 30u);
  EXPECT_EQ(log->recovery().extended_now, 0u);
  EXPECT_FALSE(log->recovery().new_epoch);
  ASSERT_EQ(log->Entries().size(), before.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(log->Entries()[i].seq, i);
    EXPECT_EQ(log->Entries()[i].path, before[i].path);
    EXPECT_EQ(log->Entries()[i].container_id, before[i].container_id);
    EXPECT_EQ(log->Entries()[i].file_digest, before[i].file_digest);
    EXPECT_EQ(log->Entries()[i].time_ns, before[i].time_ns);
  }
  EXPECT_EQ(log->ExpectedPcr(), TpmPcr(*tpm_));
  EXPECT_TRUE(log->alarms().empty());
  // Appending continues the same chain.
  AppendMixed(*log, 3);
  EXPECT_EQ(log->ExpectedPcr(), TpmPcr(*tpm_));
  EXPECT_EQ(log->Entries().back().seq, 32u);
}

TEST_F(MeasurementLogTest, CrashBetweenCommitAndExtendIsRecovered) {
  {
    auto log = OpenLog();
    AppendMixed(*log, 5);
    log->SetSkipExtendForTesting(true);
    ASSERT_TRUE(log->Append(CtEntry("ctA", "/journaled/not/extended", 9)).ok());
    EXPECT_NE(log->ExpectedPcr(), TpmPcr(*tpm_));
  }
  auto log = OpenLog();
  ASSERT_TRUE(log);
  EXPECT_EQ(log->recovery().extended_now, 1u);
  EXPECT_FALSE(log->recovery().new_epoch);
  EXPECT_EQ(log->Entries().size(), 6u);
  EXPECT_EQ(log->Entries().back().path, "/journaled/not/extended");
  EXPECT_EQ(log->ExpectedPcr(), TpmPcr(*tpm_));
  // A second open finds nothing to do (no extra extend).
  log.reset();
  log = OpenLog();
  EXPECT_EQ(log->recovery().extended_now, 0u);
  EXPECT_EQ(log->ExpectedPcr(), TpmPcr(*tpm_));
}

TEST_F(MeasurementLogTest, CrashInsideABatchIsRecovered) {
  {
    auto log = OpenLog();
    AppendMixed(*log, 3);  // host, ctA, ctB
    log->SetSkipExtendForTesting(true);
    std::vector<MeasurementEntry> batch;
    for (int i = 0; i < 8; ++i) batch.push_back(CtEntry("ctB", "/b/" + std::to_string(i), 3));
    ASSERT_TRUE(log->AppendBatch(batch).ok());
  }
  auto log = OpenLog();
  ASSERT_TRUE(log);
  EXPECT_EQ(log->recovery().extended_now, 8u);
  EXPECT_FALSE(log->recovery().new_epoch);
  EXPECT_EQ(log->size(), 11u);
  EXPECT_EQ(log->ExpectedPcr(), TpmPcr(*tpm_));
}

TEST_F(MeasurementLogTest, ForeignExtendStartsNewEpochWithAlarm) {
  {
    auto log = OpenLog();
    AppendMixed(*log, 3);
  }
  ASSERT_TRUE(
      tpm_->Extend(kDefaultTsbPcr, {{HashAlg::kSha1, Bytes(20, 7)}, {HashAlg::kSha256, Bytes(32, 7)}}).ok());
  auto log = OpenLog();
  ASSERT_TRUE(log);
  EXPECT_TRUE(log->recovery().new_epoch);
  EXPECT_EQ(log->alarms().size(), 1u);
  EXPECT_EQ(log->ExpectedPcr(), TpmPcr(*tpm_));
}

TEST_F(MeasurementLogTest, TamperedRowFailsOpenNamingTheRow) {
  {
    auto log = OpenLog();
    AppendMixed(*log, 6);
  }
  {
    SQLite::Database db(opt_.journal_path, SQLite::OPEN_READWRITE);
    db.exec("UPDATE entries SET path = '/evil' WHERE seq = 4");
  }
  auto log = MeasurementLog::Open(opt_, *tpm_);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.error().code(), ErrorCode::kCorruption);
  EXPECT_NE(log.error().message().find("row seq=4"), std::string::npos) << log.error().message();
  EXPECT_NE(log.error().message().find(opt_.journal_path), std::string::npos) << log.error().message();
}

TEST_F(MeasurementLogTest, TamperedBindingOrDeletedRowFailsOpen) {
  {
    auto log = OpenLog();
    AppendMixed(*log, 6);
  }
  {
    SQLite::Database db(opt_.journal_path, SQLite::OPEN_READWRITE);
    db.exec("UPDATE entries SET binding = zeroblob(52) WHERE seq = 2");
  }
  auto log = MeasurementLog::Open(opt_, *tpm_);
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.error().message().find("row seq=2"), std::string::npos) << log.error().message();
  {
    SQLite::Database db(opt_.journal_path, SQLite::OPEN_READWRITE);
    db.exec("DELETE FROM entries WHERE seq = 2");
  }
  auto log2 = MeasurementLog::Open(opt_, *tpm_);
  ASSERT_FALSE(log2.ok());
  EXPECT_NE(log2.error().message().find("row seq=3"), std::string::npos) << log2.error().message();
}

TEST_F(MeasurementLogTest, PcrResetStartsNewEpochWithAlarm) {
  {
    auto log = OpenLog();
    AppendMixed(*log, 4);
  }
  tpm_ = tpm::NewFakeTpm();  // the TPM was reset under the log
  std::vector<Error> seen;
  opt_.on_alarm = [&](const Error& e) { seen.push_back(e); };
  auto log = OpenLog();
  ASSERT_TRUE(log);
  EXPECT_TRUE(log->recovery().new_epoch);
  EXPECT_EQ(log->current_epoch(), 1u);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_NE(seen[0].message().find("ALARM"), std::string::npos);
  EXPECT_EQ(log->alarms().size(), 1u);
  EXPECT_TRUE(log->Entries().empty());
  EXPECT_EQ(log->Entries(0).size(), 4u);
  AppendMixed(*log, 3);
  EXPECT_EQ(log->ExpectedPcr(), TpmPcr(*tpm_));
  EXPECT_EQ(log->Entries().front().seq, 4u);
  auto pcrs = tpm_->ReadPcrs({{HashAlg::kSha256, {13}}, {HashAlg::kSha1, {13}}});
  auto view = log->ExportPartitionView("ctA");
  ASSERT_TRUE(view.ok());
  EXPECT_TRUE(VerifyPartitionView(*view, *pcrs).ok());
  // Reopen: the new epoch is stable, no second alarm.
  log.reset();
  seen.clear();
  log = OpenLog();
  EXPECT_FALSE(log->recovery().new_epoch);
  EXPECT_TRUE(seen.empty());
  EXPECT_EQ(log->current_epoch(), 1u);
  EXPECT_EQ(log->size(), 7u);
}

TEST_F(MeasurementLogTest, JournalOfAnotherWriterOrBanksIsRefused) {
  {
    auto log = OpenLog();
    AppendMixed(*log, 1);
  }
  MeasurementLogOptions other = opt_;
  other.writer = "someone-else";
  auto a = MeasurementLog::Open(other, *tpm_);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message().find("writer=immuned"), std::string::npos) << a.error().message();
  other = opt_;
  other.banks = {HashAlg::kSha256};
  auto b = MeasurementLog::Open(other, *tpm_);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message().find("banks=sha1,sha256"), std::string::npos) << b.error().message();
  {
    SQLite::Database db(opt_.journal_path, SQLite::OPEN_READWRITE);
    db.exec("UPDATE meta SET value = '99' WHERE key = 'format_version'");
  }
  auto c = MeasurementLog::Open(opt_, *tpm_);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("format_version=99"), std::string::npos) << c.error().message();
}

TEST_F(MeasurementLogTest, ConcurrentAppendsReplayToPcrAndThroughput) {
  auto log = OpenLog();
  constexpr int kThreads = 4, kBatches = 25, kPerBatch = 40;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<MeasurementEntry> batch;
        for (int i = 0; i < kPerBatch; ++i) {
          batch.push_back(CtEntry("ct" + std::to_string(t), "/f/" + std::to_string(b * kPerBatch + i),
                                  static_cast<std::uint8_t>(i)));
        }
        ASSERT_TRUE(log->AppendBatch(std::move(batch)).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int n = kThreads * kBatches * kPerBatch;
  std::printf(
      "fake TPM: %d appends in batches of %d from %d threads: %.3f s, %.0f appends/s, journal %ju bytes\n", n,
      kPerBatch, kThreads, s, n / s,
      static_cast<std::uintmax_t>(std::filesystem::file_size(opt_.journal_path) +
                                  std::filesystem::file_size(opt_.journal_path + "-wal")));
  EXPECT_EQ(log->size(), static_cast<std::size_t>(n));
  EXPECT_EQ(log->ExpectedPcr(), TpmPcr(*tpm_));
  // Single appends (one fsync each).
  const auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(log->Append(HostEntry("/single/" + std::to_string(i), 1)).ok());
  const double s1 = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  std::printf("fake TPM: 100 single appends: %.3f s, %.0f appends/s\n", s1, 100 / s1);
  EXPECT_EQ(log->ExpectedPcr(), TpmPcr(*tpm_));
  log.reset();
  log = OpenLog();
  EXPECT_EQ(log->size(), static_cast<std::size_t>(n + 100));
  EXPECT_EQ(log->recovery().extended_now, 0u);
}

TEST_F(MeasurementLogTest, InvalidEntryChangesNothing) {
  auto log = OpenLog();
  AppendMixed(*log, 2);
  MeasurementEntry bad = CtEntry("ctA", "/x", 1);
  bad.template_kind = TemplateKind::kImaNg;
  EXPECT_FALSE(log->Append(bad).ok());
  EXPECT_EQ(log->size(), 2u);
  EXPECT_EQ(log->ExpectedPcr(), TpmPcr(*tpm_));
}

}  // namespace
}  // namespace immune::tsb
