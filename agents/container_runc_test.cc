// Discovery and the container map against real runc containers (root, runc,
// busybox-static). Each test enters a private mount namespace first, so the
// binary runs one test per process (gtest_discover_tests).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "immune/agents/container_discovery.h"
#include "immune/agents/container_map.h"
#include "immune/agents/container_proc.h"
#include "runc_harness.h"

namespace immune::agents {
namespace {

using testing::BundleOptions;
using testing::OverlayBundle;
using testing::Runc;
using testing::ScratchDir;

class RuncContainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    IMMUNE_REQUIRE_RUNC_HARNESS();
    auto scene = testing::MakeRuncScene(dir_.path());
    ASSERT_TRUE(scene.ok()) << scene.error().ToString();
    runc_ = std::move(scene->runc);
    BundleOptions opt;
    opt.args = {"sleep", "1000"};
    opt.annotations = {{"org.opencontainers.image.ref.name", "example.org/busybox:1.36"}};
    auto b = OverlayBundle::Create(dir_.path() + "/bundle", scene->lower, opt);
    ASSERT_TRUE(b.ok()) << b.error().ToString();
    bundle_ = std::move(*b);
    id_ = testing::UniqueContainerId("disc");
  }

  DiscoveryRoots Roots() const {
    DiscoveryRoots roots;
    roots.roots = {{runc_->root(), StateFormat::kRunc, ContainerRuntime::kRunc, false}};
    return roots;
  }

  // The one container discovery finds under our root.
  ContainerInfo DiscoverOne() {
    DiscoveryResult d = DiscoverContainers(Roots());
    for (const auto& p : d.problems) ADD_FAILURE() << p.ToString();
    EXPECT_EQ(d.containers.size(), 1u);
    return d.containers.empty() ? ContainerInfo{} : d.containers[0];
  }

  void CreateAndStart() {
    auto c = runc_->Create(id_, bundle_->bundle());
    ASSERT_TRUE(c.ok()) << c.error().ToString();
    auto s = runc_->Start(id_);
    ASSERT_TRUE(s.ok()) << s.error().ToString();
    ASSERT_TRUE(runc_->WaitForStatus(id_, "running").ok());
  }

  pid_t InitPid() {
    auto st = runc_->State(id_);
    return st.ok() ? st->value("pid", 0) : 0;
  }

  ScratchDir dir_;  // destroyed last: after the containers and the overlay
  std::unique_ptr<OverlayBundle> bundle_;
  std::unique_ptr<Runc> runc_;
  std::string id_;
};

TEST_F(RuncContainerTest, DiscoveryFindsARunningContainer) {
  CreateAndStart();
  const pid_t pid = InitPid();
  ASSERT_GT(pid, 0);
  const ContainerInfo c = DiscoverOne();
  EXPECT_EQ(c.id, id_);
  EXPECT_EQ(c.runtime, ContainerRuntime::kRunc);
  EXPECT_EQ(c.status, ContainerStatus::kRunning);
  EXPECT_EQ(c.bundle, bundle_->bundle());
  EXPECT_EQ(c.rootfs, bundle_->rootfs());
  EXPECT_EQ(c.init_pid, pid);
  EXPECT_EQ(c.image, "example.org/busybox:1.36");
  struct stat ns {};
  ASSERT_EQ(::stat(("/proc/" + std::to_string(pid) + "/ns/pid").c_str(), &ns), 0);
  EXPECT_EQ(c.pidns_inode, static_cast<std::uint64_t>(ns.st_ino));
  struct stat self_ns {};
  ASSERT_EQ(::stat("/proc/self/ns/pid", &self_ns), 0);
  EXPECT_NE(c.pidns_inode, static_cast<std::uint64_t>(self_ns.st_ino));
  auto start = ReadProcessStartTime(pid);
  ASSERT_TRUE(start.ok());
  EXPECT_EQ(c.init_start_time, *start);
  EXPECT_FALSE(c.cgroup.empty());
  EXPECT_NE(c.cgroup, "/");
  // The overlay is its own file system.
  struct stat root {};
  ASSERT_EQ(::stat(bundle_->rootfs().c_str(), &root), 0);
  EXPECT_EQ(c.rootfs_dev, static_cast<std::uint64_t>(root.st_dev));
}

TEST_F(RuncContainerTest, CreatedThenPausedThenRunning) {
  ASSERT_TRUE(runc_->Create(id_, bundle_->bundle()).ok());
  EXPECT_EQ(DiscoverOne().status, ContainerStatus::kCreated);
  ASSERT_TRUE(runc_->Start(id_).ok());
  ASSERT_TRUE(runc_->WaitForStatus(id_, "running").ok());
  ASSERT_TRUE(runc_->Pause(id_).ok());
  ASSERT_TRUE(runc_->WaitForStatus(id_, "paused").ok());
  EXPECT_EQ(DiscoverOne().status, ContainerStatus::kPaused);
  ASSERT_TRUE(runc_->Resume(id_).ok());
  ASSERT_TRUE(runc_->WaitForStatus(id_, "running").ok());
  EXPECT_EQ(DiscoverOne().status, ContainerStatus::kRunning);
}

TEST_F(RuncContainerTest, LookupMapsAnExecedProcessAndNotTheHost) {
  CreateAndStart();
  ContainerMap map;
  map.Refresh(DiscoverContainers(Roots()));
  ASSERT_EQ(map.size(), 1u);

  auto exec_pid = runc_->ExecDetached(id_, {"sleep", "1000"});
  ASSERT_TRUE(exec_pid.ok()) << exec_pid.error().ToString();
  auto hit = map.Lookup(*exec_pid);
  ASSERT_TRUE(hit.ok()) << hit.error().ToString();
  ASSERT_NE(*hit, nullptr);
  EXPECT_EQ((*hit)->id, id_);

  auto host = map.Lookup(::getpid());
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(*host, nullptr);
  const pid_t host_child = ::fork();
  if (host_child == 0) {
    for (;;) ::pause();
  }
  ASSERT_GT(host_child, 0);
  auto other = map.Lookup(host_child);
  ::kill(host_child, SIGKILL);
  int st = 0;
  ::waitpid(host_child, &st, 0);
  ASSERT_TRUE(other.ok()) << other.error().ToString();
  EXPECT_EQ(*other, nullptr);

  // A file event on the container's overlay maps to it; one on / does not.
  struct stat in_ct {};
  ASSERT_EQ(::stat((bundle_->rootfs() + "/bin/busybox").c_str(), &in_ct), 0);
  auto by_fs = map.LookupByFilesystem(in_ct.st_dev);
  ASSERT_NE(by_fs, nullptr);
  EXPECT_EQ(by_fs->id, id_);
  struct stat host_root {};
  ASSERT_EQ(::stat("/", &host_root), 0);
  EXPECT_EQ(map.LookupByFilesystem(host_root.st_dev), nullptr);
}

TEST_F(RuncContainerTest, PidReuseGuard) {
  CreateAndStart();
  ContainerInfo c = DiscoverOne();
  ContainerMap map;
  c.init_start_time += 1;  // as if init had died and its pid been reused
  auto s = map.Register(c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("reused"), std::string::npos) << s.error().message();
  EXPECT_EQ(map.size(), 0u);

  // A state file whose recorded start time differs from the live process's
  // is reported stopped by discovery.
  const std::string forged_root = dir_.path() + "/forged";
  std::filesystem::create_directories(forged_root + "/fake");
  std::ifstream in(runc_->root() + "/" + id_ + "/state.json");
  nlohmann::json st = nlohmann::json::parse(in);
  st["id"] = "fake";
  st["init_process_start"] = st["init_process_start"].get<std::uint64_t>() + 1;
  std::ofstream(forged_root + "/fake/state.json") << st.dump();
  DiscoveryRoots roots;
  roots.roots = {{forged_root, StateFormat::kRunc, ContainerRuntime::kRunc, false}};
  DiscoveryResult d = DiscoverContainers(roots);
  ASSERT_EQ(d.containers.size(), 1u);
  EXPECT_EQ(d.containers[0].id, "fake");
  EXPECT_EQ(d.containers[0].status, ContainerStatus::kStopped);
  EXPECT_EQ(d.containers[0].pidns_inode, 0u);
}

TEST_F(RuncContainerTest, KilledThenDeletedIsGone) {
  CreateAndStart();
  ContainerMap map;
  map.Refresh(DiscoverContainers(Roots()));
  ASSERT_EQ(map.size(), 1u);
  const pid_t pid = InitPid();
  ASSERT_TRUE(runc_->Kill(id_, "KILL").ok());
  ASSERT_TRUE(runc_->WaitForStatus(id_, "stopped").ok());
  EXPECT_EQ(DiscoverOne().status, ContainerStatus::kStopped);
  map.Refresh(DiscoverContainers(Roots()));
  EXPECT_EQ(map.size(), 0u);
  EXPECT_FALSE(map.Lookup(pid).ok() && *map.Lookup(pid) != nullptr);
  ASSERT_TRUE(runc_->Delete(id_).ok());
  EXPECT_TRUE(DiscoverContainers(Roots()).containers.empty());
}

TEST_F(RuncContainerTest, MalformedStateIsAProblemNotACrash) {
  CreateAndStart();
  const std::string bad_root = dir_.path() + "/bad";
  std::filesystem::create_directories(bad_root + "/broken");
  std::ofstream(bad_root + "/broken/state.json") << R"({"id":"broken","init_process_pid":"x"})";
  DiscoveryRoots roots = Roots();
  roots.roots.push_back({bad_root, StateFormat::kRunc, ContainerRuntime::kRunc, false});
  DiscoveryResult d = DiscoverContainers(roots);
  ASSERT_EQ(d.containers.size(), 1u);
  EXPECT_EQ(d.containers[0].id, id_);
  ASSERT_EQ(d.problems.size(), 1u);
  EXPECT_NE(d.problems[0].message().find("broken/state.json: /init_process_pid"), std::string::npos)
      << d.problems[0].message();
}

}  // namespace
}  // namespace immune::agents
