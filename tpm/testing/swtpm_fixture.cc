#include "immune/tpm/testing/swtpm_fixture.h"

namespace immune::tpm::testing {

Result<SwtpmInstance> StartSwtpm(const SwtpmOptions& options, std::uint8_t startup_locality) {
  SwtpmInstance instance;
  IMMUNE_ASSIGN_OR_RETURN(instance.process, SwtpmProcess::Start(options));
  if (options.defer_startup) IMMUNE_RETURN_IF_ERROR(instance.process->Startup(startup_locality));
  IMMUNE_ASSIGN_OR_RETURN(instance.tpm, OpenTpm(instance.process->tcti()));
  return instance;
}

SwtpmInstance* SwtpmSuiteTest::instance_ = nullptr;
std::string* SwtpmSuiteTest::start_error_ = nullptr;

void SwtpmSuiteTest::SetUpTestSuite() {
  auto started = StartSwtpm();
  if (started.ok()) {
    instance_ = new SwtpmInstance(std::move(started).value());
  } else {
    start_error_ = new std::string(started.error().ToString());
  }
}

void SwtpmSuiteTest::TearDownTestSuite() {
  delete instance_;
  instance_ = nullptr;
  delete start_error_;
  start_error_ = nullptr;
}

void SwtpmSuiteTest::SetUp() {
  if (instance_ == nullptr) {
    FAIL() << "swtpm did not start: " << (start_error_ != nullptr ? *start_error_ : "unknown error");
  }
}

}  // namespace immune::tpm::testing
