// Integration tests of ScanProcess and PimsScanner against real processes:
// a helper that patches its own code (tests/testbin/self_patch.c),
// /bin/sleep, and this test process.
#include "immune/agents/pims.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "immune/agents/pims_scanner.h"
#include "immune/core/digest.h"
#include "immune/core/file.h"

namespace immune::agents {
namespace {

using namespace std::chrono_literals;

// A child process with its stdin and stdout on pipes. Closing stdin ends
// the helpers; the destructor kills and reaps whatever is left.
class Child {
 public:
  explicit Child(std::vector<std::string> argv) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return;
    // Built before fork: the child may only make async-signal-safe calls.
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
  }
  ~Child() {
    CloseStdin();
    if (stdout_ >= 0) ::close(stdout_);
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  void CloseStdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }
  bool WriteLine(const std::string& s) {
    const std::string line = s + "\n";
    return ::write(stdin_, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  }
  // One line of the child's stdout, or "" after `timeout`.
  std::string ReadLine(std::chrono::milliseconds timeout) {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{stdout_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char c;
      if (::read(stdout_, &c, 1) != 1) return "";
      if (c == '\n') return line;
      line.push_back(c);
    }
    return "";
  }
  // Waits for the child to exit; its wait status, or -1 after `timeout`.
  int Wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return status;
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  bool reaped_ = false;
};

// The address printed by self_patch ("patched 0x55...").
std::uint64_t AddressOf(const std::string& line) {
  const auto sp = line.find(' ');
  return sp == std::string::npos ? 0 : std::stoull(line.substr(sp + 1), nullptr, 16);
}

const MappingIntegrity* Containing(const ProcessIntegrity& pi, std::uint64_t addr) {
  for (const auto& m : pi.mappings)
    if (m.map.start <= addr && addr < m.map.end) return &m;
  return nullptr;
}

const MappingIntegrity* FindLibc(const ProcessIntegrity& pi) {
  for (const auto& m : pi.mappings)
    if (m.map.path.find("/libc.so") != std::string::npos || m.map.path.find("/libc-") != std::string::npos)
      return &m;
  return nullptr;
}

std::string Describe(const ProcessIntegrity& pi) {
  std::string s = "pid " + std::to_string(pi.pid) + " " + pi.exe + "\n";
  for (const auto& m : pi.mappings)
    s += "  " + m.map.path + " " + std::string(MappingKindName(m.kind)) + " " +
         std::string(MappingStatusName(m.status)) + " " + m.detail + "\n";
  return s;
}

TEST(ScanProcess, SelfPatchedCodeIsModifiedAtThePatchedAddress) {
  Child child({PIMS_SELF_PATCH});
  const std::string line = child.ReadLine(10s);
  ASSERT_EQ(line.rfind("patched ", 0), 0u) << "helper said: '" << line << "'";
  const std::uint64_t addr = AddressOf(line);

  auto pi = ScanProcess(child.pid());
  ASSERT_TRUE(pi.ok()) << pi.error().ToString();
  EXPECT_EQ(pi->modified, 1u) << Describe(*pi);
  const MappingIntegrity* m = Containing(*pi, addr);
  ASSERT_NE(m, nullptr) << Describe(*pi);
  EXPECT_EQ(m->kind, MappingKind::kFile);
  EXPECT_EQ(m->status, MappingStatus::kModified) << Describe(*pi);
  ASSERT_TRUE(m->first_difference.has_value());
  // The first 0xcc may coincide with an original byte, never all of them.
  EXPECT_GE(m->map.start + *m->first_difference, addr);
  EXPECT_LT(m->map.start + *m->first_difference, addr + 8);
  EXPECT_NE(m->digest_mem, m->digest_file);
  EXPECT_EQ(m->digest_mem.size(), 32u);
  // Its libc is untouched.
  const MappingIntegrity* libc = FindLibc(*pi);
  ASSERT_NE(libc, nullptr) << Describe(*pi);
  EXPECT_EQ(libc->status, MappingStatus::kIntact);
}

TEST(ScanProcess, UnpatchedHelperIsIntact) {
  Child child({PIMS_SELF_PATCH, "--no-patch"});
  ASSERT_EQ(child.ReadLine(10s).rfind("ready ", 0), 0u);
  auto pi = ScanProcess(child.pid());
  ASSERT_TRUE(pi.ok()) << pi.error().ToString();
  EXPECT_EQ(pi->modified, 0u) << Describe(*pi);
  EXPECT_EQ(pi->file_changed, 0u) << Describe(*pi);
  EXPECT_EQ(pi->unreadable, 0u) << Describe(*pi);
}

// Waits until `pid` runs `exe_suffix` and sleeps in it (the loader is done).
bool WaitUntilSleepingIn(pid_t pid, const std::string& exe_suffix, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string dir = "/proc/" + std::to_string(pid);
  while (std::chrono::steady_clock::now() < deadline) {
    char exe[4096] = {};
    const ssize_t n = ::readlink((dir + "/exe").c_str(), exe, sizeof exe - 1);
    auto stat = ReadTextFile(dir + "/stat");
    if (n > 0 && std::string(exe, static_cast<std::size_t>(n)).ends_with(exe_suffix) && stat.ok()) {
      const auto close_paren = stat->rfind(')');
      if (close_paren != std::string::npos && stat->size() > close_paren + 2 &&
          (*stat)[close_paren + 2] == 'S')
        return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

TEST(ScanProcess, SleepAndItsLibrariesAreIntact) {
  Child child({"/bin/sleep", "60"});
  ASSERT_TRUE(WaitUntilSleepingIn(child.pid(), "sleep", 10s));
  ScanOptions full;
  full.use_pagemap = false;  // read and compare every byte
  auto pi = ScanProcess(child.pid(), full);
  ASSERT_TRUE(pi.ok()) << pi.error().ToString();
  EXPECT_TRUE(pi->exe.ends_with("sleep")) << pi->exe;
  EXPECT_EQ(pi->modified, 0u) << Describe(*pi);
  EXPECT_EQ(pi->unreadable, 0u) << Describe(*pi);
  std::size_t files = 0;
  for (const auto& m : pi->mappings) {
    if (m.kind != MappingKind::kFile) continue;
    ++files;
    EXPECT_EQ(m.status, MappingStatus::kIntact) << m.map.path << ": " << m.detail;
    EXPECT_EQ(m.digest_mem, m.digest_file) << m.map.path;
  }
  EXPECT_GE(files, 3u) << Describe(*pi);  // sleep, libc, ld.so
  const MappingIntegrity* libc = FindLibc(*pi);
  ASSERT_NE(libc, nullptr) << Describe(*pi);
  EXPECT_EQ(libc->status, MappingStatus::kIntact);
  EXPECT_EQ(libc->digest_file.size(), 32u);
  EXPECT_GT(pi->bytes_mem, 0u);
}

TEST(ScanProcess, PagemapFindsUntouchedTextIntactWithoutReadingIt) {
  Child child({"/bin/sleep", "60"});
  ASSERT_TRUE(WaitUntilSleepingIn(child.pid(), "sleep", 10s));
  auto pi = ScanProcess(child.pid());  // use_pagemap by default
  ASSERT_TRUE(pi.ok()) << pi.error().ToString();
  EXPECT_EQ(pi->modified, 0u) << Describe(*pi);
  std::size_t files = 0;
  for (const auto& m : pi->mappings) {
    if (m.kind != MappingKind::kFile) continue;
    ++files;
    EXPECT_EQ(m.status, MappingStatus::kIntact) << m.map.path << ": " << m.detail;
  }
  EXPECT_GE(files, 3u);
  EXPECT_EQ(pi->pagemap_intact, files) << Describe(*pi);
  // Nothing of the files' mappings read (every page is the file's own); the
  // vDSO's page or two are still hashed.
  std::uint64_t vdso = 0;
  for (const auto& m : pi->mappings)
    if (m.kind == MappingKind::kVdso) vdso += m.map.size();
  EXPECT_EQ(pi->bytes_mem, vdso);
}

TEST(ScanProcess, VdsoAndAnonymousCodeAreKindsOfTheirOwn) {
  const long page = ::sysconf(_SC_PAGESIZE);
  const std::size_t len = 3 * static_cast<std::size_t>(page);
  void* region = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(region, MAP_FAILED);
  std::memset(region, 0xc3, len);  // "ret": JIT-like code
  ASSERT_EQ(::mprotect(region, len, PROT_READ | PROT_EXEC), 0);

  ScanOptions opts;
  opts.hash_anonymous = true;
  auto pi = ScanProcess(::getpid(), opts);
  ::munmap(region, len);
  ASSERT_TRUE(pi.ok()) << pi.error().ToString();

  const MappingIntegrity* anon = Containing(*pi, reinterpret_cast<std::uintptr_t>(region));
  ASSERT_NE(anon, nullptr) << Describe(*pi);
  EXPECT_EQ(anon->kind, MappingKind::kAnon);
  EXPECT_EQ(anon->status, MappingStatus::kNotCompared);
  EXPECT_GE(anon->map.size(), len);
  if (anon->map.size() == len) {
    const Bytes code(len, 0xc3);
    EXPECT_EQ(anon->digest_mem, *Hash(HashAlg::kSha256, code));
  }

  if (::getauxval(AT_SYSINFO_EHDR) != 0) {
    const MappingIntegrity* vdso = Containing(*pi, ::getauxval(AT_SYSINFO_EHDR));
    ASSERT_NE(vdso, nullptr) << Describe(*pi);
    EXPECT_EQ(vdso->kind, MappingKind::kVdso);
    EXPECT_EQ(vdso->status, MappingStatus::kNotCompared);
    EXPECT_EQ(vdso->digest_mem.size(), 32u);
  }
  for (const auto& m : pi->mappings)
    EXPECT_NE(m.status, MappingStatus::kModified) << m.map.path << ": " << m.detail;
}

TEST(ScanProcess, ReplacedExecutableIsFileChangedNotModified) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("pims_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::filesystem::path copy = dir / "self_patch";
  std::filesystem::copy_file(PIMS_SELF_PATCH, copy, std::filesystem::copy_options::overwrite_existing);
  Child child({copy.string(), "--no-patch"});
  ASSERT_EQ(child.ReadLine(10s).rfind("ready ", 0), 0u);
  // Replace it on disk the way an update would: a new file renamed over it.
  ASSERT_TRUE(WriteFileAtomic(copy.string(), AsBytes("not the program"), 0755).ok());

  auto pi = ScanProcess(child.pid());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(pi.ok()) << pi.error().ToString();
  EXPECT_EQ(pi->modified, 0u) << Describe(*pi);
  EXPECT_GE(pi->file_changed, 1u) << Describe(*pi);
  bool saw = false;
  for (const auto& m : pi->mappings)
    if (m.map.path == copy.string()) {
      saw = true;
      EXPECT_TRUE(m.map.deleted);
      EXPECT_EQ(m.status, MappingStatus::kFileChanged) << m.detail;
    }
  EXPECT_TRUE(saw) << Describe(*pi);
}

TEST(ScanProcess, MissingProcessIsNotFound) {
  auto pi = ScanProcess(0x3fffffff);  // above any pid_max
  ASSERT_FALSE(pi.ok());
  EXPECT_EQ(pi.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(pi.error().message().find("1073741823"), std::string::npos) << pi.error().message();
}

TEST(ScanProcess, SharedLibraryIsHashedOncePerCache) {
  Child a({"/bin/sleep", "60"});
  Child b({"/bin/sleep", "60"});
  ASSERT_TRUE(WaitUntilSleepingIn(a.pid(), "sleep", 10s));
  ASSERT_TRUE(WaitUntilSleepingIn(b.pid(), "sleep", 10s));
  FileDigestCache cache;
  ScanOptions opts;
  opts.cache = &cache;
  opts.use_pagemap = false;  // compare bytes, so file ranges are hashed
  auto first = ScanProcess(a.pid(), opts);
  auto second = ScanProcess(b.pid(), opts);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_GT(first->bytes_file, 0u);
  EXPECT_EQ(second->bytes_file, 0u);  // every file range came from the cache
  EXPECT_GE(cache.hits(), 3u);
  EXPECT_EQ(second->modified, 0u) << Describe(*second);
}

// Collects violations from the scanner thread.
struct Violations {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<pid_t> pids;
  std::vector<std::uint64_t> periods_before;  // scanner.stats().periods at the callback

  bool WaitFor(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout, [&] { return pids.size() >= n; });
  }
};

TEST(PimsScanner, FirstPeriodDetectsPatchAndKillActionKills) {
  Child child({PIMS_SELF_PATCH});
  ASSERT_EQ(child.ReadLine(10s).rfind("patched ", 0), 0u);
  Violations seen;
  PimsScanner* self = nullptr;
  PimsScannerOptions opts;
  opts.interval = 200ms;
  opts.idle_priority = true;
  PimsScanner scanner(
      opts, PidTargets({child.pid()}),
      [&](const PimsViolation& v) {
        std::lock_guard lock(seen.mu);
        seen.pids.push_back(v.integrity.pid);
        seen.periods_before.push_back(self->stats().periods);
        seen.cv.notify_all();
      },
      PimsKillAction());
  self = &scanner;
  ASSERT_TRUE(scanner.Start().ok());
  ASSERT_TRUE(seen.WaitFor(1, 20s));
  {
    std::lock_guard lock(seen.mu);
    EXPECT_EQ(seen.pids[0], child.pid());
    EXPECT_EQ(seen.periods_before[0], 0u);  // found by the first period, not a later one
  }
  const int status = child.Wait(10s);
  ASSERT_NE(status, -1) << "the kill action did not end the process";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  scanner.Stop();
  const PimsStats st = scanner.stats();
  EXPECT_GE(st.violations, 1u);
  EXPECT_GE(st.processes_scanned, 1u);
  EXPECT_GT(st.bytes_compared, 0u);
  EXPECT_EQ(st.action_failures, 0u);
}

TEST(PimsScanner, OnDemandScanSeesAPatchMadeAfterThePreviousPeriod) {
  Child child({PIMS_SELF_PATCH, "--patch-on-input"});
  ASSERT_EQ(child.ReadLine(10s).rfind("ready ", 0), 0u);
  Violations seen;
  PimsScannerOptions opts;
  opts.interval = std::chrono::hours(1);  // only ScanNow starts later periods
  PimsScanner scanner(opts, PidTargets({child.pid()}), [&](const PimsViolation& v) {
    std::lock_guard lock(seen.mu);
    seen.pids.push_back(v.integrity.pid);
    seen.cv.notify_all();
  });
  ASSERT_TRUE(scanner.Start().ok());
  ASSERT_TRUE(scanner.ScanNow(20s));
  EXPECT_EQ(scanner.stats().violations, 0u);
  ASSERT_TRUE(child.WriteLine("patch"));
  ASSERT_EQ(child.ReadLine(10s).rfind("patched ", 0), 0u);
  ASSERT_TRUE(scanner.ScanNow(20s));
  EXPECT_EQ(scanner.stats().violations, 1u);
  std::lock_guard lock(seen.mu);
  ASSERT_EQ(seen.pids.size(), 1u);
  EXPECT_EQ(seen.pids[0], child.pid());
  // The default action does nothing: the process lives on.
  EXPECT_EQ(::kill(child.pid(), 0), 0);
}

TEST(PimsScanner, BoundedPeriodsContinueWhereTheyStopped) {
  Child a({PIMS_SELF_PATCH});
  Child b({PIMS_SELF_PATCH});
  ASSERT_EQ(a.ReadLine(10s).rfind("patched ", 0), 0u);
  ASSERT_EQ(b.ReadLine(10s).rfind("patched ", 0), 0u);
  Violations seen;
  PimsScannerOptions opts;
  opts.interval = std::chrono::hours(1);
  opts.max_processes_per_period = 1;
  PimsScanner scanner(opts, PidTargets({a.pid(), b.pid()}), [&](const PimsViolation& v) {
    std::lock_guard lock(seen.mu);
    seen.pids.push_back(v.integrity.pid);
  });
  ASSERT_TRUE(scanner.Start().ok());
  ASSERT_TRUE(scanner.ScanNow(20s));  // the first period, or one after it
  ASSERT_TRUE(scanner.ScanNow(20s));
  scanner.Stop();
  std::lock_guard lock(seen.mu);
  ASSERT_GE(seen.pids.size(), 2u);
  // Each period scanned one process, and the second took the other one.
  EXPECT_EQ(scanner.stats().processes_scanned, scanner.stats().periods);
  EXPECT_EQ(std::set<pid_t>(seen.pids.begin(), seen.pids.end()), (std::set<pid_t>{a.pid(), b.pid()}));
  EXPECT_NE(seen.pids[0], seen.pids[1]);
}

TEST(PimsScanner, StartTwiceAndBadIntervalAreErrors) {
  PimsScannerOptions bad;
  bad.interval = 0ms;
  PimsScanner zero(bad, PidTargets({}), nullptr);
  EXPECT_EQ(zero.Start().error().code(), ErrorCode::kInvalidArgument);
  PimsScanner ok(PimsScannerOptions{}, PidTargets({}), nullptr);
  ASSERT_TRUE(ok.Start().ok());
  EXPECT_FALSE(ok.Start().ok());
  ok.Stop();
  EXPECT_FALSE(ok.ScanNow(1s));  // not running
}

}  // namespace
}  // namespace immune::agents
