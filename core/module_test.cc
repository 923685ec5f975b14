#include "immune/core/module.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace immune {
namespace {

struct TestTable {
  std::uint32_t abi;
  const char* build_id;
};

TEST(ModuleTest, AMissingModuleNamesEveryPathTriedAndTheVariable) {
  ::unsetenv("IMMUNE_TEST_MODULE");
  LazyModule<TestTable> m({"test module", "no-such-module.so", "IMMUNE_TEST_MODULE", "/nonexistent/build/x.so",
                           "immune_test_v1", 1});
  auto r = m.Get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message().find("/nonexistent/build/x.so"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("IMMUNE_TEST_MODULE"), std::string::npos);
  EXPECT_FALSE(m.Get().ok());  // the first outcome stands
}

TEST(ModuleTest, AFileThatIsNotALoadableModuleIsRefusedClearly) {
  const std::string path = "/tmp/immune-module-test-" + std::to_string(::getpid()) + ".so";
  std::ofstream(path) << "not an ELF file";
  ::setenv("IMMUNE_TEST_MODULE", path.c_str(), 1);
  auto r = LoadModuleTable({"test module", "x.so", "IMMUNE_TEST_MODULE", "", "immune_test_v1", 1});
  ::unsetenv("IMMUNE_TEST_MODULE");
  std::remove(path.c_str());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("cannot load test module " + path), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace immune
