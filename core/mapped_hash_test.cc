#include "immune/core/mapped_hash.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "immune/core/fd.h"

// Under AddressSanitizer the process starts with ASan's own SIGBUS handler
// installed (handle_sigbus=1), so "the handler before ours" is ASan's: a
// foreign SIGBUS ends in ASan's report and exit, not in death by SIGBUS.
#if defined(__SANITIZE_ADDRESS__)
#define IMMUNE_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IMMUNE_TEST_ASAN 1
#endif
#endif

namespace immune {
namespace {

std::size_t Page() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

// A small window keeps the window-boundary cases fast.
std::size_t TestWindow() { return 4 * Page(); }

Bytes RandomBytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

// A file holding `content`, already unlinked (so a death-test child that
// dies leaves nothing behind); the fd is read-write so tests can truncate.
UniqueFd TempFile(ByteSpan content) {
  std::string path = ::testing::TempDir() + "/immune-mapped-hash-XXXXXX";
  UniqueFd fd(mkstemp(path.data()));
  if (fd.get() < 0) return fd;
  unlink(path.c_str());
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = write(fd.get(), content.data() + done, content.size() - done);
    if (n <= 0) return UniqueFd();
    done += static_cast<std::size_t>(n);
  }
  return fd;
}

Result<Bytes> MappedDigest(int fd, std::uint64_t size, std::size_t window) {
  Hasher h(HashAlg::kSha256);
  IMMUNE_RETURN_IF_ERROR(HashMappedRange(fd, size, h, "test file", window));
  return h.Final();
}

// Raises a SIGBUS that is not HashMappedRange's: touches a page of a mapping
// of a file that was truncated under it, with no hash in progress.
void TouchTruncatedMapping() {
  const Bytes page(Page(), 0x5a);
  UniqueFd fd = TempFile(page);
  void* p = mmap(nullptr, page.size(), PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (p == MAP_FAILED) std::_Exit(90);
  if (ftruncate(fd.get(), 0) != 0) std::_Exit(91);
  const volatile std::uint8_t* byte = static_cast<const std::uint8_t*>(p);
  (void)*byte;
  std::_Exit(92);  // not reached: the touch raises SIGBUS
}

// Installs the handler (first call in this process) by hashing a good file.
void HashOnce() {
  const Bytes data = RandomBytes(Page() + 1, 7);
  UniqueFd fd = TempFile(data);
  if (!MappedDigest(fd.get(), data.size(), TestWindow()).ok()) std::_Exit(93);
}

void SetDisposition(void (*handler)(int)) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, nullptr);
}

TEST(MappedHashTest, SameDigestAsHashForEverySize) {
  const std::size_t w = TestWindow();
  for (std::size_t size :
       {std::size_t{0}, std::size_t{1}, std::size_t{4095}, std::size_t{4096}, w - 1, w, w + 1, 3 * w + 17}) {
    SCOPED_TRACE("size " + std::to_string(size));
    const Bytes data = RandomBytes(size, static_cast<unsigned>(size));
    UniqueFd fd = TempFile(data);
    ASSERT_GE(fd.get(), 0);
    auto d = MappedDigest(fd.get(), size, w);
    ASSERT_TRUE(d.ok()) << d.error().ToString();
    EXPECT_EQ(*d, *Hash(HashAlg::kSha256, data));
  }
}

TEST(MappedHashTest, DefaultWindowAcrossWindows) {
  const Bytes data = RandomBytes(2 * kMappedHashWindow + 4097, 3);
  UniqueFd fd = TempFile(data);
  ASSERT_GE(fd.get(), 0);
  Hasher h(HashAlg::kSha256);
  ASSERT_TRUE(HashMappedRange(fd.get(), data.size(), h, "test file").ok());
  EXPECT_EQ(*h.Final(), *Hash(HashAlg::kSha256, data));
}

TEST(MappedHashTest, WindowIsRoundedUpToPages) {
  const Bytes data = RandomBytes(3 * Page() + 5, 11);
  UniqueFd fd = TempFile(data);
  for (std::size_t window : {std::size_t{0}, std::size_t{1}, Page() + 1}) {
    auto d = MappedDigest(fd.get(), data.size(), window);
    ASSERT_TRUE(d.ok()) << d.error().ToString();
    EXPECT_EQ(*d, *Hash(HashAlg::kSha256, data));
  }
}

// As if the file shrank after the caller's fstat: the hash runs past the end
// of the file, the SIGBUS is caught, and the same thread can hash again.
TEST(MappedHashTest, ShrunkFileIsAnErrorAndTheGuardIsRearmed) {
  const std::size_t w = TestWindow();
  const Bytes data = RandomBytes(3 * w, 5);
  UniqueFd fd = TempFile(data);
  ASSERT_GE(fd.get(), 0);
  for (int round = 0; round < 3; ++round) {
    auto shrunk = MappedDigest(fd.get(), 5 * w, w);
    ASSERT_FALSE(shrunk.ok());
    EXPECT_EQ(shrunk.error().code(), ErrorCode::kAborted);
    EXPECT_NE(shrunk.error().message().find("test file"), std::string::npos) << shrunk.error().message();
    EXPECT_NE(shrunk.error().message().find("shrank"), std::string::npos) << shrunk.error().message();
    EXPECT_NE(shrunk.error().message().find("at byte " + std::to_string(3 * w)), std::string::npos)
        << shrunk.error().message();

    auto good = MappedDigest(fd.get(), data.size(), w);
    ASSERT_TRUE(good.ok()) << good.error().ToString();
    EXPECT_EQ(*good, *Hash(HashAlg::kSha256, data));
  }
}

// The last page of a file is readable to its end (zero-filled); the fault is
// on the first page wholly past the end, inside a window.
TEST(MappedHashTest, FaultInsideAWindowAfterAPartialPage) {
  const std::size_t w = TestWindow();
  const Bytes data = RandomBytes(w + 17, 9);
  UniqueFd fd = TempFile(data);
  auto r = MappedDigest(fd.get(), 2 * w, w);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kAborted);
  EXPECT_NE(r.error().message().find("at byte " + std::to_string(w + Page())), std::string::npos)
      << r.error().message();
}

// The guard is per thread: threads catching their own faults at the same
// time do not take each other's jumps.
TEST(MappedHashTest, ThreadsCatchTheirOwnFaults) {
  const std::size_t w = TestWindow();
  const Bytes data = RandomBytes(2 * w + 100, 13);
  const Bytes want = *Hash(HashAlg::kSha256, data);
  std::vector<std::thread> threads;
  threads.reserve(4);
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      UniqueFd fd = TempFile(data);
      for (int i = 0; i < 50; ++i) {
        auto shrunk = MappedDigest(fd.get(), 4 * w, w);
        if (shrunk.ok() || shrunk.error().code() != ErrorCode::kAborted) ++failures[t];
        auto good = MappedDigest(fd.get(), data.size(), w);
        if (!good.ok() || *good != want) ++failures[t];
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

TEST(MappedHashTest, UnmappableFdIsAnIoError) {
  const Bytes data = RandomBytes(100, 1);
  UniqueFd rw = TempFile(data);
  // A write-only fd cannot be mapped for reading.
  const std::string self = "/proc/self/fd/" + std::to_string(rw.get());
  UniqueFd wo(open(self.c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_GE(wo.get(), 0);
  auto r = MappedDigest(wo.get(), data.size(), TestWindow());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kIo);
  EXPECT_NE(r.error().message().find("test file: mmap"), std::string::npos) << r.error().message();
}

// The death tests below need a process in which the handler is installed
// after the disposition they set: "threadsafe" re-executes the test binary
// for each, so HashMappedRange's first call happens inside the child.

TEST(MappedHashDeathTest, ForeignSigbusIsNotSwallowed) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
#ifdef IMMUNE_TEST_ASAN
  EXPECT_EXIT(
      {
        HashOnce();
        TouchTruncatedMapping();
      },
      [](int status) { return !(WIFEXITED(status) && WEXITSTATUS(status) == 0); }, "BUS");
#else
  EXPECT_EXIT(
      {
        HashOnce();
        TouchTruncatedMapping();
      },
      ::testing::KilledBySignal(SIGBUS), "");
#endif
}

TEST(MappedHashDeathTest, ForeignSigbusGetsTheDefaultAction) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        SetDisposition(SIG_DFL);
        HashOnce();
        TouchTruncatedMapping();
      },
      ::testing::KilledBySignal(SIGBUS), "");
}

// A fault cannot be ignored: the kernel would kill for it; so do we, rather
// than return to the faulting instruction for ever.
TEST(MappedHashDeathTest, ForeignFaultKillsEvenWhenSigbusWasIgnored) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        SetDisposition(SIG_IGN);
        HashOnce();
        TouchTruncatedMapping();
      },
      ::testing::KilledBySignal(SIGBUS), "");
}

TEST(MappedHashDeathTest, SentSigbusStaysIgnoredWhenItWas) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        SetDisposition(SIG_IGN);
        HashOnce();
        (void)raise(SIGBUS);
        std::_Exit(7);
      },
      ::testing::ExitedWithCode(7), "");
}

void ExitFromSaHandler(int) { std::_Exit(42); }

void ExitFromSaSigaction(int, siginfo_t* info, void*) { std::_Exit(info->si_code == BUS_ADRERR ? 43 : 44); }

TEST(MappedHashDeathTest, ForeignSigbusReachesThePreviousHandler) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        SetDisposition(ExitFromSaHandler);
        HashOnce();
        TouchTruncatedMapping();
      },
      ::testing::ExitedWithCode(42), "");
  EXPECT_EXIT(
      {
        struct sigaction sa {};
        sa.sa_sigaction = ExitFromSaSigaction;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        (void)sigaction(SIGBUS, &sa, nullptr);
        HashOnce();
        TouchTruncatedMapping();
      },
      ::testing::ExitedWithCode(43), "");
}

// Someone replacing our handler turns truncation back into a crash; the call
// notices and declines (the caller then reads instead).
TEST(MappedHashDeathTest, ReplacedHandlerIsUnsupported) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        HashOnce();
        SetDisposition(SIG_DFL);
        const Bytes data = RandomBytes(10, 2);
        UniqueFd fd = TempFile(data);
        auto r = MappedDigest(fd.get(), data.size(), TestWindow());
        std::_Exit(!r.ok() && r.error().code() == ErrorCode::kUnsupported ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace immune
