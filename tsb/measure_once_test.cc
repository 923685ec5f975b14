#include "immune/tsb/measure_once.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>
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

Bytes RandomBytes(std::size_t n) {
  std::mt19937 rng(static_cast<unsigned>(n));
  Bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

void WriteBytes(const std::string& path, const Bytes& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(content.data()), static_cast<std::streamsize>(content.size()));
}

// Above the default threshold the file is hashed through mappings; the
// digest is the same as reading it, and the cache behaves the same.
TEST_F(MeasureOnceTest, LargeFileIsMappedWithTheSameDigest) {
  const Bytes data = RandomBytes(3 * MeasureCache::kDefaultMapThreshold + 17);
  const std::string big = dir_.File("big");
  WriteBytes(big, data);
  Settle();
  const Bytes want = *Hash(HashAlg::kSha256, data);
  auto a = cache_.MeasureFile(big);
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  EXPECT_FALSE(a->hit);
  EXPECT_EQ(a->digest, want);
  EXPECT_EQ(a->version.size, data.size());
  auto b = cache_.MeasureFile(big);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->hit);

  MeasureCache pread_only(HashAlg::kSha256, std::size_t{256} * 1024, std::chrono::milliseconds(20),
                          MeasureCache::kNeverMap);
  auto c = pread_only.MeasureFile(big);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->digest, want);
}

// With a threshold of one byte every non-empty file goes through the
// mapping, including sizes around a page and the read buffer.
TEST_F(MeasureOnceTest, MappedPathAtEverySize) {
  MeasureCache mapped(HashAlg::kSha256, 4096, std::chrono::milliseconds(20), 1);
  for (std::size_t size : {0, 1, 4095, 4096, 4097, 65536 + 3}) {
    SCOPED_TRACE("size " + std::to_string(size));
    const Bytes data = RandomBytes(size);
    const std::string p = dir_.File("f" + std::to_string(size));
    WriteBytes(p, data);
    auto m = mapped.MeasureFile(p);
    ASSERT_TRUE(m.ok()) << m.error().ToString();
    EXPECT_EQ(m->digest, *Hash(HashAlg::kSha256, data));
  }
}

// A file truncated while it is hashed through a mapping raises SIGBUS in
// the hashing thread: that must be an error naming the fd, never a crash,
// and nothing is cached. Another thread keeps truncating and regrowing the
// file until a measurement has hit the truncation (each takes a few ms; the
// file is sparse, so regrowing it is cheap).
TEST_F(MeasureOnceTest, TruncationWhileMappedIsAnErrorNotACrash) {
  const off_t size = off_t{8} * 1024 * 1024;
  const std::string big = dir_.File("shrinking");
  const int fd = open(big.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, size), 0);
  std::atomic<bool> stop{false};
  std::thread truncator([&] {
    while (!stop.load()) {
      if (ftruncate(fd, 0) != 0 || ftruncate(fd, size) != 0) break;
      std::this_thread::yield();
    }
  });
  int aborted = 0;
  int other_errors = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (aborted < 3 && std::chrono::steady_clock::now() < deadline) {
    auto m = cache_.MeasureFile(fd);
    if (m.ok()) continue;
    if (m.error().code() == ErrorCode::kAborted) {
      ++aborted;
      EXPECT_EQ(cache_.size(), 0u);  // the only file: nothing of it cached
      EXPECT_NE(m.error().message().find("fd " + std::to_string(fd) + ": file shrank"), std::string::npos)
          << m.error().message();
    } else {
      ++other_errors;
      ADD_FAILURE() << m.error().ToString();
    }
  }
  stop = true;
  truncator.join();
  EXPECT_GE(aborted, 1) << "no measurement overlapped a truncation";
  EXPECT_EQ(other_errors, 0);

  // The hasher is usable again after a caught fault.
  Settle();
  auto m = cache_.MeasureFile(fd);
  close(fd);
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  EXPECT_EQ(m->digest, *Hash(HashAlg::kSha256, Bytes(static_cast<std::size_t>(size), 0)));
}

// Where the SIGBUS handler cannot be kept (something replaced it), a large
// file is read with pread instead: the same digest, and no crash risk. In a
// child process (the disposition is process-wide); not a fixture test, so
// the child leaves no directory behind.
TEST(MeasureOnceDeathTest, FallsBackToPreadWhenTheSigbusHandlerIsReplaced) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        const Bytes data = RandomBytes(2 * MeasureCache::kDefaultMapThreshold + 5);
        std::string path = ::testing::TempDir() + "/immune-measure-once-XXXXXX";
        const int fd = mkstemp(path.data());
        if (fd < 0) std::_Exit(2);
        unlink(path.c_str());
        if (write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) std::_Exit(3);
        MeasureCache cache;
        if (!cache.MeasureFile(fd).ok()) std::_Exit(4);  // installs the handler
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        (void)sigaction(SIGBUS, &dfl, nullptr);
        cache.Clear();
        auto m = cache.MeasureFile(fd);
        std::_Exit(m.ok() && m->digest == *Hash(HashAlg::kSha256, data) ? 0 : 5);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace immune::tsb
