#include "immune/core/file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace immune {
namespace {

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/immune-file-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
};

TEST_F(FileTest, WriteAtomicThenRead) {
  std::string p = dir_ + "/a";
  ASSERT_TRUE(WriteFileAtomic(p, AsBytes("first")).ok());
  ASSERT_TRUE(WriteFileAtomic(p, AsBytes("second")).ok());
  auto r = ReadTextFile(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "second");
  EXPECT_NE(access((p + ".tmp." + std::to_string(getpid())).c_str(), F_OK), 0);
}

TEST_F(FileTest, MissingFileIsNotFoundAndNamed) {
  auto r = ReadFile(dir_ + "/nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(r.error().message().find(dir_ + "/nope"), std::string::npos);
}

TEST_F(FileTest, WriteIntoMissingDirectoryFailsCleanly) {
  auto s = WriteFileAtomic(dir_ + "/no/such/dir/f", AsBytes("x"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kIo);
}

TEST_F(FileTest, ReadsProcFilesWhoseSizeIsZero) {
  auto r = ReadTextFile("/proc/self/status");
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->find("Pid:"), std::string::npos);
}

}  // namespace
}  // namespace immune
