// SwtpmProcess lifecycle and locality startup (label: integration).
#include "immune/tpm/swtpm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>

#include "immune/tpm/testing/swtpm_fixture.h"
#include "immune/tpm/tpm.h"

namespace immune::tpm {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

SwtpmOptions Options(std::vector<HashAlg> banks, bool defer_startup = false, std::string state_dir = "") {
  SwtpmOptions o;
  o.state_dir = std::move(state_dir);
  o.pcr_banks = std::move(banks);
  o.create_ek_cert = false;  // faster; EK certificates are covered by esys_tpm_test
  o.defer_startup = defer_startup;
  return o;
}

bool ProcessGone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

TEST(SwtpmProcessTest, DestructorStopsProcessAndRemovesTempDir) {
  pid_t pid = -1;
  std::string dir;
  {
    auto swtpm = SwtpmProcess::Start(Options({HashAlg::kSha256}));
    ASSERT_TRUE(swtpm.ok()) << swtpm.error().ToString();
    pid = (*swtpm)->pid();
    dir = (*swtpm)->state_dir();
    EXPECT_GT(pid, 0);
    EXPECT_TRUE(fs::exists(dir));
    EXPECT_EQ(::kill(pid, 0), 0);
    EXPECT_THAT((*swtpm)->tcti(), HasSubstr("port=" + std::to_string((*swtpm)->port())));
    auto tpm = OpenTpm((*swtpm)->tcti());
    ASSERT_TRUE(tpm.ok()) << tpm.error().ToString();
    EXPECT_EQ((*tpm)->AllocatedBanks().value(), std::vector<HashAlg>{HashAlg::kSha256});
  }
  EXPECT_TRUE(ProcessGone(pid));
  EXPECT_FALSE(fs::exists(dir));
}

// A mask line of /proc/PID/status ("SigBlk") as a number.
unsigned long long SignalMask(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1), nullptr, 16);
  return ~0ULL;
}

// A caller that blocks SIGTERM (immuned does, for its sigwait) does not pass
// the block on: Stop's SIGTERM reaches swtpm. (SIGPIPE is reset to its
// default too, but swtpm ignores it by itself.)
TEST(SwtpmProcessTest, StartsWithNoSignalBlocked) {
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigaddset(&term, SIGINT);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &term, &old), 0);
  auto swtpm = SwtpmProcess::Start(Options({HashAlg::kSha256}));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(swtpm.ok()) << swtpm.error().ToString();
  const pid_t pid = (*swtpm)->pid();
  EXPECT_EQ(SignalMask(pid, "SigBlk"), 0u);
  (*swtpm)->Stop();
  EXPECT_TRUE(ProcessGone(pid));
}

TEST(SwtpmProcessTest, StopIsIdempotentAndPersistentStateSurvives) {
  std::string dir = ::testing::TempDir() + "immune-swtpm-persist-" + std::to_string(::getpid());
  fs::remove_all(dir);
  Bytes pcr16;
  {
    auto first = testing::StartSwtpm(Options({HashAlg::kSha256}, false, dir));
    ASSERT_TRUE(first.ok()) << first.error().ToString();
    ASSERT_TRUE(first->tpm->Extend(16, {{HashAlg::kSha256, Bytes(32, 1)}}).ok());
    pcr16 = first->tpm->ReadPcrs({{HashAlg::kSha256, {16}}}).value()[HashAlg::kSha256][16];
    first->tpm.reset();
    pid_t pid = first->process->pid();
    first->process->Stop();
    first->process->Stop();
    EXPECT_TRUE(ProcessGone(pid));
  }
  EXPECT_TRUE(fs::exists(fs::path(dir) / "tpm" / "tpm2-00.permall"));  // not a temp dir: kept
  {
    // Restarted (not re-manufactured): startup-clear resets PCRs, the AK parent survives.
    auto second = testing::StartSwtpm(Options({HashAlg::kSha256}, false, dir));
    ASSERT_TRUE(second.ok()) << second.error().ToString();
    EXPECT_EQ(second->tpm->ReadPcrs({{HashAlg::kSha256, {16}}}).value()[HashAlg::kSha256][16], Bytes(32, 0));
    EXPECT_NE(pcr16, Bytes(32, 0));
  }
  fs::remove_all(dir);
}

TEST(SwtpmProcessTest, TpmCallsAfterStopFailCleanly) {
  auto inst = testing::StartSwtpm(Options({HashAlg::kSha256}));
  ASSERT_TRUE(inst.ok()) << inst.error().ToString();
  inst->process->Stop();
  auto pcrs = inst->tpm->ReadPcrs({{HashAlg::kSha256, {0}}});
  ASSERT_FALSE(pcrs.ok());
  EXPECT_EQ(pcrs.error().code(), ErrorCode::kUnavailable) << pcrs.error().ToString();
  EXPECT_FALSE(inst->tpm->Extend(0, {{HashAlg::kSha256, Bytes(32, 0)}}).ok());
}

TEST(SwtpmProcessTest, TwoInstancesRunSideBySide) {
  auto a = testing::StartSwtpm(Options({HashAlg::kSha256}));
  auto b = testing::StartSwtpm(Options({HashAlg::kSha256}));
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  ASSERT_TRUE(b.ok()) << b.error().ToString();
  EXPECT_NE(a->process->port(), b->process->port());
  ASSERT_TRUE(a->tpm->Extend(9, {{HashAlg::kSha256, Bytes(32, 9)}}).ok());
  EXPECT_EQ(b->tpm->ReadPcrs({{HashAlg::kSha256, {9}}}).value()[HashAlg::kSha256][9], Bytes(32, 0));
}

class StartupLocalityTest : public ::testing::TestWithParam<std::uint8_t> {};

TEST_P(StartupLocalityTest, Pcr0StartsAtLocality) {
  const std::uint8_t locality = GetParam();
  auto inst =
      testing::StartSwtpm(Options({HashAlg::kSha1, HashAlg::kSha256}, /*defer_startup=*/true), locality);
  ASSERT_TRUE(inst.ok()) << inst.error().ToString();
  auto pcrs = inst->tpm->ReadPcrs({{HashAlg::kSha1, {0}}, {HashAlg::kSha256, {0}}});
  ASSERT_TRUE(pcrs.ok()) << pcrs.error().ToString();
  for (auto alg : {HashAlg::kSha1, HashAlg::kSha256}) {
    Bytes expected(DigestSize(alg) - 1, 0);
    expected.push_back(locality);
    EXPECT_EQ((*pcrs)[alg][0], expected) << HashAlgName(alg);
  }
  // The same value the fake TPM starts with, so replays compare alike.
  auto fake = NewFakeTpm({HashAlg::kSha1, HashAlg::kSha256}, locality);
  EXPECT_EQ(fake->ReadPcrs({{HashAlg::kSha1, {0}}, {HashAlg::kSha256, {0}}}).value(), *pcrs);
  // Commands after Startup run at locality 0 again: PCR 16 is extendable.
  EXPECT_TRUE(inst->tpm->Extend(16, {{HashAlg::kSha256, Bytes(32, 1)}}).ok());
}

INSTANTIATE_TEST_SUITE_P(Localities, StartupLocalityTest, ::testing::Values(0, 3),
                         [](const auto& p) { return "locality" + std::to_string(p.param); });

TEST(StartupLocalityErrorsTest, RejectedLocalities) {
  auto swtpm = SwtpmProcess::Start(Options({HashAlg::kSha256}, /*defer_startup=*/true));
  ASSERT_TRUE(swtpm.ok()) << swtpm.error().ToString();
  EXPECT_EQ((*swtpm)->Startup(5).error().code(), ErrorCode::kInvalidArgument);
  // The PC Client TPM accepts TPM2_Startup only at localities 0 and 3.
  auto st = (*swtpm)->Startup(2);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kTpm);
  EXPECT_THAT(st.error().message(), HasSubstr("rc=0x"));
  EXPECT_TRUE((*swtpm)->Startup(0).ok());
}

TEST(SwtpmProcessTest, CorruptStateFailsWithSwtpmStderr) {
  std::string dir = ::testing::TempDir() + "immune-swtpm-bad-" + std::to_string(::getpid());
  fs::remove_all(dir);
  fs::create_directories(fs::path(dir) / "tpm");
  { std::ofstream(fs::path(dir) / "tpm" / "tpm2-00.permall") << "not a TPM state"; }
  auto swtpm = SwtpmProcess::Start(Options({HashAlg::kSha256}, false, dir));
  if (swtpm.ok()) {
    // swtpm may start and fail only on the first command; then the TPM must say so.
    auto tpm = OpenTpm((*swtpm)->tcti());
    if (tpm.ok()) {
      EXPECT_FALSE((*tpm)->AllocatedBanks().ok());
    }
  } else {
    EXPECT_EQ(swtpm.error().code(), ErrorCode::kUnavailable);
    EXPECT_THAT(swtpm.error().message(), HasSubstr(dir));
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace immune::tpm
