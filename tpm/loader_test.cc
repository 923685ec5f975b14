// The immunectl configuration: a program linking only immune_tpm_base opens
// TPMs and sends Startup through the immune-tpm-esys module (label:
// integration, needs swtpm).
#include "immune/tpm/loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>

#include "immune/tpm/swtpm.h"
#include "immune/tpm/tpm.h"

namespace immune::tpm {
namespace {

TEST(TpmModuleTest, LoadsFromTheBuildTree) {
  auto module = LoadTpmModule();
  ASSERT_TRUE(module.ok()) << module.error().ToString();
  EXPECT_EQ((*module)->abi, kTpmModuleAbi);
  EXPECT_STREQ((*module)->build_id, TpmModuleBuildId());
}

TEST(TpmModuleTest, StartupAtLocality3AndReadThroughTheModule) {
  SwtpmOptions options;
  options.pcr_banks = {HashAlg::kSha256};
  options.create_ek_cert = false;
  options.defer_startup = true;
  auto swtpm = SwtpmProcess::Start(options);
  ASSERT_TRUE(swtpm.ok()) << swtpm.error().ToString();
  ASSERT_TRUE((*swtpm)->Startup(3).ok());
  auto tpm = OpenTpmModule((*swtpm)->tcti());
  ASSERT_TRUE(tpm.ok()) << tpm.error().ToString();
  auto pcrs = (*tpm)->ReadPcrs({{HashAlg::kSha256, {0}}});
  ASSERT_TRUE(pcrs.ok()) << pcrs.error().ToString();
  Bytes expected(32, 0);
  expected.back() = 3;
  EXPECT_EQ((*pcrs)[HashAlg::kSha256][0], expected);
  tpm->reset();
  pid_t pid = (*swtpm)->pid();
  swtpm->reset();
  EXPECT_TRUE(::kill(pid, 0) != 0 && errno == ESRCH);
}

TEST(TpmModuleTest, UnreachableTpmIsAnErrorNotACrash) {
  auto tpm = OpenTpmModule("swtpm:host=127.0.0.1,port=1");
  ASSERT_FALSE(tpm.ok());
  EXPECT_THAT(tpm.error().message(), ::testing::HasSubstr("port=1"));
}

}  // namespace
}  // namespace immune::tpm
