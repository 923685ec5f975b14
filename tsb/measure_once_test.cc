#include "immune/tsb/measure_once.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "log_test_util.h"

namespace immune::tsb {
namespace {

void Write(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
}

// Past the cache's racy window, so the file's metadata is final.
void Settle() { std::this_thread::sleep_for(std::chrono::milliseconds(40)); }

class MeasureOnceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("prog");
    Write(path_, "#!/bin/sh\necho hello\n");
    Settle();
  }
  testing::TempDir dir_;
  std::string path_;
  MeasureCache cache_;
};

TEST_F(MeasureOnceTest, SecondMeasureOfUnchangedFileIsAHit) {
  auto a = cache_.MeasureFile(path_);
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  EXPECT_FALSE(a->hit);
  EXPECT_EQ(a->digest, *Hash(HashAlg::kSha256, AsBytes("#!/bin/sh\necho hello\n")));
  auto b = cache_.MeasureFile(path_);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->hit);
  EXPECT_EQ(b->digest, a->digest);
  EXPECT_EQ(cache_.hits(), 1u);
  EXPECT_EQ(cache_.misses(), 1u);
}

TEST_F(MeasureOnceTest, SameSizeContentChangeIsAMiss) {
  auto a = cache_.MeasureFile(path_);
  ASSERT_TRUE(a.ok());
  Write(path_, "#!/bin/sh\necho HELLO\n");  // same size
  auto b = cache_.MeasureFile(path_);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->hit);
  EXPECT_NE(b->digest, a->digest);
  EXPECT_EQ(b->digest, *Hash(HashAlg::kSha256, AsBytes("#!/bin/sh\necho HELLO\n")));
  EXPECT_EQ(cache_.misses(), 2u);
}

TEST_F(MeasureOnceTest, TouchedMtimeIsAMiss) {
  ASSERT_TRUE(cache_.MeasureFile(path_).ok());
  timespec times[2] = {{0, UTIME_OMIT}, {1000000, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, path_.c_str(), times, 0), 0);
  Settle();
  auto b = cache_.MeasureFile(path_);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->hit);
  auto c = cache_.MeasureFile(path_);
  EXPECT_TRUE(c->hit);
  EXPECT_EQ(cache_.hits(), 1u);
  EXPECT_EQ(cache_.misses(), 2u);
}

TEST_F(MeasureOnceTest, MeasuresThroughTheFdNotThePath) {
  const int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  // Replace the path with another file: the fd still names the old one.
  ASSERT_EQ(unlink(path_.c_str()), 0);
  Write(path_, "something else entirely\n");
  auto a = cache_.MeasureFile(fd);
  close(fd);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->digest, *Hash(HashAlg::kSha256, AsBytes("#!/bin/sh\necho hello\n")));
}

TEST_F(MeasureOnceTest, FreshlyChangedFileIsNotCached) {
  Write(path_, "#!/bin/sh\necho fresh\n");
  ASSERT_TRUE(cache_.MeasureFile(path_).ok());
  auto b = cache_.MeasureFile(path_);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->hit);  // within the racy window: hashed again
}

TEST_F(MeasureOnceTest, ErrorsNameThePath) {
  auto r = cache_.MeasureFile(dir_.File("missing"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("missing"), std::string::npos);
  const std::string dir = dir_.File("");
  EXPECT_FALSE(cache_.MeasureFile(dir).ok());
}

}  // namespace
}  // namespace immune::tsb
