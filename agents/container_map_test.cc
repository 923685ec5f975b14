// ContainerMap against real processes: a child in its own pid namespace
// plays a container's init (root only; skipped otherwise).
#include "immune/agents/container_map.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "immune/agents/container_proc.h"

namespace immune::agents {
namespace {

// A process in a new pid namespace: fork, unshare(CLONE_NEWPID) in the
// child, fork again (the grandchild is pid 1 of the new namespace) and
// report its host pid. The destructor kills both.
class NamespacedInit {
 public:
  NamespacedInit() {
    int fds[2];
    if (::pipe(fds) != 0) return;
    middle_ = ::fork();
    if (middle_ == 0) {
      ::close(fds[0]);
      if (::unshare(CLONE_NEWPID) != 0) _exit(1);
      const pid_t init = ::fork();
      if (init == 0) {
        for (;;) ::pause();
      }
      (void)!::write(fds[1], &init, sizeof init);
      int st;
      ::waitpid(init, &st, 0);
      _exit(0);
    }
    ::close(fds[1]);
    if (::read(fds[0], &pid_, sizeof pid_) != sizeof pid_) pid_ = 0;
    ::close(fds[0]);
  }
  ~NamespacedInit() {
    Kill();
    if (middle_ > 0) {
      ::kill(middle_, SIGKILL);
      int st;
      ::waitpid(middle_, &st, 0);
    }
  }
  pid_t pid() const { return pid_; }
  // Kills the init and waits until it is reaped (so its pidfd polls readable).
  void Kill() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
    if (middle_ > 0) {
      int st;
      ::waitpid(middle_, &st, 0);
      middle_ = 0;
    }
    pid_ = 0;
  }

 private:
  pid_t middle_ = 0;
  pid_t pid_ = 0;
};

ContainerInfo InfoFor(pid_t pid, const std::string& id) {
  ContainerInfo c;
  c.id = id;
  c.init_pid = pid;
  c.status = ContainerStatus::kRunning;
  return c;
}

class ContainerMapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (unshare(CLONE_NEWPID))";
  }
};

TEST_F(ContainerMapTest, WithNoContainerEveryProcessIsTheHostsWithoutReadingProc) {
  ContainerMap map("/nonexistent-proc");  // would fail any /proc read
  auto self = map.Lookup(::getpid());
  ASSERT_TRUE(self.ok()) << self.error().ToString();
  EXPECT_EQ(*self, nullptr);
}

TEST_F(ContainerMapTest, LookupByPidNamespace) {
  NamespacedInit init;
  ASSERT_GT(init.pid(), 0);
  ContainerMap map;
  ASSERT_TRUE(map.Register(InfoFor(init.pid(), "ct-a")).ok());
  EXPECT_EQ(map.size(), 1u);

  auto hit = map.Lookup(init.pid());
  ASSERT_TRUE(hit.ok()) << hit.error().ToString();
  ASSERT_NE(*hit, nullptr);
  EXPECT_EQ((*hit)->id, "ct-a");
  EXPECT_NE((*hit)->pidns_inode, 0u);
  EXPECT_NE((*hit)->init_start_time, 0u);

  auto host = map.Lookup(::getpid());
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(*host, nullptr) << "a host process mapped to " << (*host)->id;

  auto gone = map.Lookup(0x3ffffff0);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), ErrorCode::kNotFound);
}

TEST_F(ContainerMapTest, WrongStartTimeIsRejected) {
  NamespacedInit init;
  ASSERT_GT(init.pid(), 0);
  ContainerMap map;
  ContainerInfo c = InfoFor(init.pid(), "ct-reused");
  auto real = ReadProcessStartTime(init.pid());
  ASSERT_TRUE(real.ok());
  c.init_start_time = *real + 1;  // as if the pid now belonged to someone else
  auto s = map.Register(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(s.error().message().find("reused"), std::string::npos) << s.error().message();
  EXPECT_EQ(map.size(), 0u);
  c.init_start_time = *real;
  EXPECT_TRUE(map.Register(c).ok());
}

TEST_F(ContainerMapTest, ContainerWhoseInitDiedIsDropped) {
  NamespacedInit init;
  ASSERT_GT(init.pid(), 0);
  ContainerMap map;
  ASSERT_TRUE(map.Register(InfoFor(init.pid(), "ct-dies")).ok());
  init.Kill();
  EXPECT_EQ(map.PruneExited(), 1u);
  EXPECT_EQ(map.size(), 0u);
  EXPECT_EQ(map.Get("ct-dies"), nullptr);
}

TEST_F(ContainerMapTest, PidfdVariantRefusesADeadProcess) {
  NamespacedInit init;
  ASSERT_GT(init.pid(), 0);
  ContainerMap map;
  ASSERT_TRUE(map.Register(InfoFor(init.pid(), "ct-b")).ok());

  // A short-lived child of ours: its pidfd goes dead once it is reaped.
  const pid_t child = ::fork();
  if (child == 0) _exit(0);
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
  ASSERT_GE(pidfd, 0);
  int st;
  ASSERT_EQ(::waitpid(child, &st, 0), child);
  auto r = map.Lookup(::getpid(), pidfd);  // /proc answers for a live pid, the pidfd says it is stale
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
  ::close(pidfd);

  const int live = static_cast<int>(::syscall(SYS_pidfd_open, init.pid(), 0));
  ASSERT_GE(live, 0);
  auto ok = map.Lookup(init.pid(), live);
  ::close(live);
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  ASSERT_NE(*ok, nullptr);
  EXPECT_EQ((*ok)->id, "ct-b");
}

TEST_F(ContainerMapTest, AnswersAreKeptPerProcessUntilTheMapChanges) {
  NamespacedInit init;
  ASSERT_GT(init.pid(), 0);
  ContainerMap map;
  if (!map.keeps_subjects()) GTEST_SKIP() << "pidfds are not on pidfs here (Linux < 6.9)";
  ASSERT_TRUE(map.Register(InfoFor(init.pid(), "ct-k")).ok());
  const int in_ct = static_cast<int>(::syscall(SYS_pidfd_open, init.pid(), 0));
  const int host = static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0));
  ASSERT_GE(in_ct, 0);
  ASSERT_GE(host, 0);

  for (int round = 0; round < 2; ++round) {  // the second round is answered from what was kept
    auto c = map.Lookup(init.pid(), in_ct);
    ASSERT_TRUE(c.ok()) << c.error().ToString();
    ASSERT_NE(*c, nullptr);
    EXPECT_EQ((*c)->id, "ct-k");
    auto h = map.Lookup(::getpid(), host);
    ASSERT_TRUE(h.ok()) << h.error().ToString();
    EXPECT_EQ(*h, nullptr);
  }
  EXPECT_EQ(map.subject_hits(), 2u);

  // Unregistered: the kept answer goes with it.
  ASSERT_TRUE(map.Unregister("ct-k"));
  ASSERT_TRUE(map.Register(InfoFor(init.pid(), "ct-k2")).ok());
  auto again = map.Lookup(init.pid(), in_ct);
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  ASSERT_NE(*again, nullptr);
  EXPECT_EQ((*again)->id, "ct-k2") << "a kept answer outlived the container it named";

  // A status change (discovery) is a change too: the kept info is replaced.
  DiscoveryResult d;
  ContainerInfo paused = InfoFor(init.pid(), "ct-k2");
  auto start = ReadProcessStartTime(init.pid());
  ASSERT_TRUE(start.ok());
  paused.init_start_time = *start;
  paused.status = ContainerStatus::kPaused;
  d.containers.push_back(paused);
  ASSERT_TRUE(map.Lookup(init.pid(), in_ct).ok());
  map.Refresh(d);
  auto after = map.Lookup(init.pid(), in_ct);
  ASSERT_TRUE(after.ok());
  ASSERT_NE(*after, nullptr);
  EXPECT_EQ((*after)->status, ContainerStatus::kPaused);
  ::close(in_ct);
  ::close(host);
}

TEST_F(ContainerMapTest, WithoutAPidfdTheLookupIsByPidAlone) {
  NamespacedInit init;
  ASSERT_GT(init.pid(), 0);
  ContainerMap map;
  ASSERT_TRUE(map.Register(InfoFor(init.pid(), "ct-n")).ok());
  auto r = map.Lookup(init.pid(), -1);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ASSERT_NE(*r, nullptr);
  EXPECT_EQ((*r)->id, "ct-n");
}

TEST_F(ContainerMapTest, RefreshDropsStoppedAndUpdatesStatus) {
  NamespacedInit init;
  ASSERT_GT(init.pid(), 0);
  ContainerMap map;
  ContainerInfo c = InfoFor(init.pid(), "ct-r");
  DiscoveryResult d;
  d.containers.push_back(c);
  map.Refresh(d);
  ASSERT_NE(map.Get("ct-r"), nullptr);
  auto start = ReadProcessStartTime(init.pid());
  ASSERT_TRUE(start.ok());
  d.containers[0].init_start_time = *start;
  d.containers[0].status = ContainerStatus::kPaused;
  map.Refresh(d);
  ASSERT_NE(map.Get("ct-r"), nullptr);
  EXPECT_EQ(map.Get("ct-r")->status, ContainerStatus::kPaused);
  d.containers[0].status = ContainerStatus::kStopped;
  map.Refresh(d);
  EXPECT_EQ(map.Get("ct-r"), nullptr);
  EXPECT_TRUE(map.Unregister("nope") == false);
}

TEST(ContainerMapBasics, RegisterNeedsIdAndInit) {
  ContainerMap map;
  EXPECT_EQ(map.Register(ContainerInfo{}).error().code(), ErrorCode::kInvalidArgument);
  ContainerInfo c;
  c.id = "x";
  EXPECT_EQ(map.Register(c).error().code(), ErrorCode::kInvalidArgument);
  c.init_pid = 0x3ffffff0;
  EXPECT_EQ(map.Register(c).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(map.LookupByFilesystem(0), nullptr);
}

}  // namespace
}  // namespace immune::agents
