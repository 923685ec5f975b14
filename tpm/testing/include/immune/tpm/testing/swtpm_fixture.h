// GoogleTest support for tests that need a real (software) TPM: a private
// swtpm started with SwtpmProcess and a Tpm opened on it through ESAPI.
//
// Two ways to use it:
//   * SwtpmSuiteTest: derive a fixture; one swtpm (default SwtpmOptions) is
//     started in SetUpTestSuite and shared by the suite's tests, so PCR state
//     carries over between tests of a suite. Under ctest each TEST runs in its
//     own process, so each test gets a fresh TPM there anyway.
//   * StartSwtpm(options): per-test instances with custom options.
// If swtpm cannot be started the test fails (it is not skipped) with the
// reason. Everything is cleaned up by destructors, including on failure.
//
// Thread safety: like Tpm, used by the test's thread only.
#ifndef IMMUNE_TPM_TESTING_SWTPM_FIXTURE_H_
#define IMMUNE_TPM_TESTING_SWTPM_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "immune/core/error.h"
#include "immune/tpm/swtpm.h"
#include "immune/tpm/tpm.h"

namespace immune::tpm::testing {

// A running swtpm and a Tpm opened on it. The Tpm is declared after the
// process so it is destroyed (ESAPI closed) before swtpm is stopped.
struct SwtpmInstance {
  std::unique_ptr<SwtpmProcess> process;
  std::unique_ptr<Tpm> tpm;  // null when opened with defer_startup and not yet started
};

// Starts swtpm with `options` and opens a Tpm on it. With defer_startup the
// TPM is sent TPM2_Startup(CLEAR) at `startup_locality` before it is opened.
Result<SwtpmInstance> StartSwtpm(const SwtpmOptions& options = {}, std::uint8_t startup_locality = 0);

class SwtpmSuiteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  // Fails the test when the suite's swtpm did not start.
  void SetUp() override;

  static Tpm& tpm() { return *instance_->tpm; }
  static SwtpmProcess& swtpm() { return *instance_->process; }

 private:
  static SwtpmInstance* instance_;
  static std::string* start_error_;
};

}  // namespace immune::tpm::testing

#endif  // IMMUNE_TPM_TESTING_SWTPM_FIXTURE_H_
