// `immunectl boot verify --pcrs tpm` and `immunectl boot check` against a real
// (software) TPM: the replay of a real log extended into swtpm equals the
// PCRs read back, and a PCR changed behind the log's back is named.
#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>
#include <regex>
#include <string>

#include "immune/boot/event_log.h"
#include "immune/boot/replay.h"
#include "immune/boot/tpm_extend.h"
#include "immune/core/file.h"
#include "immune/tpm/testing/swtpm_fixture.h"
#include "run_command.h"

namespace immune {
namespace {

using testing::RunCommand;
using testing::ShellQuote;
using testing::TempDir;

const std::string kEventlogs = std::string(IMMUNE_TESTDATA_DIR) + "/eventlogs";

boot::EventLog Parse(const std::string& path) {
  auto bytes = ReadFile(path);
  EXPECT_TRUE(bytes.ok());
  auto log = boot::ParseEventLog(*bytes);
  EXPECT_TRUE(log.ok()) << log.error().ToString();
  return std::move(log).value();
}

TEST(ImmunectlBootTpmTest, VerifyAgainstTpmPassesThenNamesATamperedPcr) {
  const std::string path = kEventlogs + "/go-eventlog/rhel8-uefi.bin";
  boot::EventLog log = Parse(path);
  tpm::SwtpmOptions opts;
  opts.create_ek_cert = false;
  auto sw = tpm::testing::StartSwtpm(opts);
  ASSERT_TRUE(sw.ok()) << sw.error().ToString();
  auto summary = boot::ExtendEventLogIntoTpm(log, *sw->tpm);
  ASSERT_TRUE(summary.ok()) << summary.error().ToString();
  EXPECT_EQ(summary->banks.size(), 3u);  // sha1, sha256, sha384

  const std::string cmd = testing::Immunectl("boot verify " + ShellQuote(path) + " --pcrs tpm --tcti " +
                                             ShellQuote(sw->process->tcti()));
  auto ok = RunCommand(cmd);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("verified: 33 PCR values compared, 0 mismatching"), std::string::npos) << ok.out;

  // Something measured into PCR 4 that the log does not record.
  ASSERT_TRUE(sw->tpm->Extend(4, {{HashAlg::kSha256, Bytes(32, 0x42)}}).ok());
  auto bad = RunCommand(cmd);
  EXPECT_EQ(bad.exit_code, 1) << bad.err;
  EXPECT_NE(bad.err.find("sha256 PCR 4"), std::string::npos) << bad.err;
  EXPECT_EQ(bad.err.find("sha1 PCR 4"), std::string::npos) << "only the sha256 bank was extended";
}

TEST(ImmunectlBootTpmTest, UnreachableTpmIsAnOperationalError) {
  auto r = RunCommand(testing::Immunectl("boot verify " +
                                         ShellQuote(kEventlogs + "/tpm2-tools/event-bootorder.bin") +
                                         " --pcrs tpm --tcti swtpm:port=1"));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("immunectl:"), std::string::npos);
}

// The main job where the machine has no TPM: a log with a StartupLocality
// event (PCR 0 starts at 00..03) is verified on a private swtpm started at
// locality 3, and that swtpm is gone afterwards.
TEST(ImmunectlBootTpmTest, CheckVerifiesARealLogOnAPrivateSwtpmAndStopsIt) {
  const std::string path = kEventlogs + "/keylime/binary_bios_measurements";
  ASSERT_EQ(boot::StartupLocality(Parse(path)), 3);
  auto r = RunCommand("env -u TPM2TOOLS_TCTI -u TCTI " +
                      testing::Immunectl("boot check --log " + ShellQuote(path)));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("verified"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("startup at locality 3"), std::string::npos) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex("swtpm \\(pid ([0-9]+)"))) << r.err;
  const pid_t pid = static_cast<pid_t>(std::stol(m[1]));
  EXPECT_EQ(kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST(ImmunectlBootTpmTest, CheckJsonReportsTheComparison) {
  auto r = RunCommand("env -u TPM2TOOLS_TCTI -u TCTI " +
                      testing::Immunectl("boot check --json --log " +
                                         ShellQuote(kEventlogs + "/tpm2-tools/event-bootorder.bin")));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"verified\": true"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace immune
