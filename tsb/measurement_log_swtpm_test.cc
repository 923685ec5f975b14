// Integration tests of the measurement log on a real software TPM (swtpm).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "immune/core/hex.h"
#include "immune/tpm/testing/swtpm_fixture.h"
#include "immune/tsb/measurement_log.h"
#include "log_test_util.h"

namespace immune::tsb {
namespace {

using testing::CtEntry;
using testing::HostEntry;

tpm::SwtpmOptions Options() {
  tpm::SwtpmOptions o;
  o.pcr_banks = {HashAlg::kSha1, HashAlg::kSha256};
  o.create_ek_cert = false;
  return o;
}

PcrValues ReadLogPcr(tpm::Tpm& t) {
  auto v = t.ReadPcrs({{HashAlg::kSha1, {kDefaultTsbPcr}}, {HashAlg::kSha256, {kDefaultTsbPcr}}});
  EXPECT_TRUE(v.ok()) << v.error().ToString();
  return v.ok() ? *v : PcrValues{};
}

BankDigests AsDigests(const PcrValues& v) {
  BankDigests out;
  for (const auto& [b, bank] : v) out[b] = bank.at(kDefaultTsbPcr);
  return out;
}

TEST(MeasurementLogSwtpmTest, TenThousandConcurrentAppendsReplayToPcr) {
  auto sw = tpm::testing::StartSwtpm(Options());
  ASSERT_TRUE(sw.ok()) << sw.error().ToString();
  testing::TempDir dir;
  MeasurementLogOptions opt;
  opt.journal_path = dir.File("journal.db");
  // tpm2-tss's swtpm TCTI opens one TCP connection per TPM command, each
  // left in TIME_WAIT for a minute on the shared loopback: batches keep
  // the number of commands (and sockets) at about 100 here.
  tpm::Tpm& tp = *sw->tpm;
  auto log = MeasurementLog::Open(opt, tp);
  ASSERT_TRUE(log.ok()) << log.error().ToString();
  constexpr int kThreads = 5, kBatches = 20, kPerBatch = 100;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<MeasurementEntry> batch;
        for (int i = 0; i < kPerBatch; ++i) {
          const int n = b * kPerBatch + i;
          batch.push_back(t == 0 ? HostEntry("/host/" + std::to_string(n), static_cast<std::uint8_t>(n))
                                 : CtEntry("ct" + std::to_string(t), "/f/" + std::to_string(n),
                                           static_cast<std::uint8_t>(n)));
        }
        auto r = (*log)->AppendBatch(std::move(batch));
        ASSERT_TRUE(r.ok()) << r.error().ToString();
      }
    });
  }
  for (auto& th : threads) th.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto journal_bytes = std::filesystem::file_size(opt.journal_path) +
                             (std::filesystem::exists(opt.journal_path + "-wal")
                                  ? std::filesystem::file_size(opt.journal_path + "-wal")
                                  : 0);
  std::printf("swtpm: 10000 appends (batches of %d, %d threads): %.2f s, %.0f appends/s, journal %ju bytes\n",
              kPerBatch, kThreads, s, 10000 / s, static_cast<std::uintmax_t>(journal_bytes));
  ASSERT_EQ((*log)->size(), 10000u);
  // For comparison: raw single TPM2_PCR_Extend commands through swtpm (into
  // the debug PCR 16, not the log's), without journal.
  {
    constexpr int kRaw = 200;
    const auto r0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kRaw; ++i) {
      ASSERT_TRUE(tp.Extend(16, {{HashAlg::kSha1, Bytes(20, 1)}, {HashAlg::kSha256, Bytes(32, 1)}}).ok());
    }
    const double rs = std::chrono::duration<double>(std::chrono::steady_clock::now() - r0).count();
    std::printf("swtpm: %d single PCR_Extend commands: %.3f s, %.0f extends/s\n", kRaw, rs, kRaw / rs);
  }
  const PcrValues pcr = ReadLogPcr(tp);
  EXPECT_EQ((*log)->ExpectedPcr(), AsDigests(pcr));
  // Reopen: the journal replays to the same PCR, nothing recovered.
  log->reset();
  auto again = MeasurementLog::Open(opt, tp);
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_EQ((*again)->size(), 10000u);
  EXPECT_EQ((*again)->recovery().extended_now, 0u);
  EXPECT_FALSE((*again)->recovery().new_epoch);
  EXPECT_EQ((*again)->ExpectedPcr(), AsDigests(pcr));
  // Every partition's view verifies.
  for (const char* id : {"", "ct1", "ct4"}) {
    auto view = (*again)->ExportPartitionView(id);
    ASSERT_TRUE(view.ok());
    auto v = VerifyPartitionView(*view, pcr);
    EXPECT_TRUE(v.ok()) << id << ": " << v.error().ToString();
    EXPECT_EQ(v->entries.size(), 2000u);
  }
}

// The appender runs in a forked child that is SIGKILLed at a random point;
// the parent reopens with the same swtpm and journal.
TEST(MeasurementLogSwtpmTest, KillNineLosesNothingAndAddsNothing) {
  auto sw = tpm::testing::StartSwtpm(Options());
  ASSERT_TRUE(sw.ok()) << sw.error().ToString();
  const std::string tcti = sw->process->tcti();
  sw->tpm.reset();  // swtpm serves one connection at a time
  testing::TempDir dir;
  MeasurementLogOptions opt;
  opt.journal_path = dir.File("journal.db");
  std::mt19937 rng(std::random_device{}());
  std::uint64_t acked_total = 0;
  for (int round = 0; round < 3; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(fds[0]);
      auto t = tpm::OpenTpm(tcti);
      if (!t.ok()) _exit(2);
      auto log = MeasurementLog::Open(opt, **t);
      if (!log.ok()) _exit(3);
      for (std::uint64_t i = 0;; ++i) {
        Result<std::uint64_t> r =
            i % 4 == 3 ? (*log)->AppendBatch({CtEntry("ctA", "/a/" + std::to_string(i), 1),
                                              HostEntry("/h/" + std::to_string(i), 2),
                                              CtEntry("ctB", "/b/" + std::to_string(i), 3)})
                       : (*log)->Append(CtEntry(i % 2 ? "ctA" : "ctB", "/x/" + std::to_string(i), 4));
        if (!r.ok()) _exit(4);
        const std::uint64_t acked = (*log)->size();  // every entry up to here returned
        if (write(fds[1], &acked, sizeof acked) != sizeof acked) _exit(5);
        // The swtpm TCTI opens a TCP connection per command; pacing keeps the
        // sockets left in TIME_WAIT on the shared loopback to a few hundred.
        usleep(2000);
      }
    }
    close(fds[1]);
    // Wait until the child has acknowledged a few appends, then a random delay.
    std::uint64_t acked = 0;
    ASSERT_EQ(read(fds[0], &acked, sizeof acked), static_cast<ssize_t>(sizeof acked));
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 400)(rng)));
    ASSERT_EQ(kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
    std::uint64_t v = 0;
    while (read(fds[0], &v, sizeof v) == static_cast<ssize_t>(sizeof v)) acked = v;
    close(fds[0]);
    ASSERT_GT(acked, acked_total);
    acked_total = acked;

    auto t = tpm::OpenTpm(tcti);
    ASSERT_TRUE(t.ok()) << t.error().ToString();
    auto log = MeasurementLog::Open(opt, **t);
    ASSERT_TRUE(log.ok()) << log.error().ToString();
    std::printf("round %d: child acknowledged %ju entries; journal has %zu; extended at recovery %zu\n",
                round, static_cast<std::uintmax_t>(acked), (*log)->size(), (*log)->recovery().extended_now);
    EXPECT_FALSE((*log)->recovery().new_epoch);
    EXPECT_TRUE((*log)->alarms().empty());
    EXPECT_GE((*log)->size(), acked);      // nothing acknowledged is lost
    EXPECT_LE((*log)->size(), acked + 3);  // at most the in-flight batch is extra, and it was journaled
    EXPECT_EQ((*log)->ExpectedPcr(), AsDigests(ReadLogPcr(**t)));
    acked_total = (*log)->size();
  }
}

TEST(MeasurementLogSwtpmTest, PartitionViewVerifiesAgainstRealQuote) {
  auto sw = tpm::testing::StartSwtpm(Options());
  ASSERT_TRUE(sw.ok()) << sw.error().ToString();
  tpm::Tpm& t = *sw->tpm;
  testing::TempDir dir;
  MeasurementLogOptions opt;
  opt.journal_path = dir.File("journal.db");
  auto log = MeasurementLog::Open(opt, t);
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(
        (*log)
            ->Append(CtEntry("ctA", "/app/a" + std::to_string(i), static_cast<std::uint8_t>(0x10 + i)))
            .ok());
    ASSERT_TRUE(
        (*log)
            ->Append(CtEntry("ctB", "/srv/bsecret" + std::to_string(i), static_cast<std::uint8_t>(0x80 + i)))
            .ok());
    if (i % 5 == 0) {
      ASSERT_TRUE((*log)->Append(HostEntry("/usr/bin/h" + std::to_string(i), 0x70)).ok());
    }
  }
  auto ak = t.CreateAttestationKey(tpm::KeyAlg::kEccP256);
  ASSERT_TRUE(ak.ok()) << ak.error().ToString();
  const Bytes nonce = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  const PcrSelection sel = {{HashAlg::kSha1, {kDefaultTsbPcr}}, {HashAlg::kSha256, {kDefaultTsbPcr}}};
  auto quote = t.QuotePcrs(*ak, nonce, sel);
  ASSERT_TRUE(quote.ok()) << quote.error().ToString();
  const PcrValues claimed = ReadLogPcr(t);
  const std::string view_json = PartitionViewToJson(*(*log)->ExportPartitionView("ctA"));

  // The verifier: quote first, then the view against the quoted values.
  ASSERT_TRUE(tpm::VerifyQuote(*quote, ak->public_key_pem, nonce, claimed).ok());
  auto view = PartitionViewFromJson(view_json);
  ASSERT_TRUE(view.ok());
  auto verified = VerifyPartitionView(*view, claimed);
  ASSERT_TRUE(verified.ok()) << verified.error().ToString();
  EXPECT_EQ(verified->entries.size(), 20u);
  // The replay is what the TPM signed.
  PcrValues replayed;
  for (const auto& [b, v] : verified->replayed_pcr) replayed[b][kDefaultTsbPcr] = v;
  EXPECT_TRUE(tpm::VerifyQuote(*quote, ak->public_key_pem, nonce, replayed).ok());
  // A forged view does not match the quote.
  ASSERT_TRUE(view->items[3].entry.has_value());
  view->items[3].entry->path = "/app/forged";
  EXPECT_FALSE(VerifyPartitionView(*view, claimed).ok());
  // Nothing of B or the host in A's view.
  EXPECT_EQ(view_json.find("ctB"), std::string::npos);
  EXPECT_EQ(view_json.find("bsecret"), std::string::npos);
  EXPECT_EQ(view_json.find("/usr/bin/h"), std::string::npos);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(view_json.find(ToHex(Bytes(32, static_cast<std::uint8_t>(0x80 + i)))), std::string::npos);
  }
}

}  // namespace
}  // namespace immune::tsb
