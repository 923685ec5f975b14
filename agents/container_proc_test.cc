// /proc parsing: start time, cgroup layouts, a live process.
#include "immune/agents/container_proc.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace immune::agents {
namespace {

TEST(ProcStat, StartTimeSurvivesHostileCommandNames) {
  // comm "a) (b 1 2" tries to shift the fields.
  const std::string line =
      "42 (a) (b 1 2) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 "
      "18446744073709551615\n";
  auto t = ParseProcStatStartTime(line, "/proc/42/stat");
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  EXPECT_EQ(*t, 987654u);
}

TEST(ProcStat, MalformedLinesNameTheSource) {
  auto r = ParseProcStatStartTime("42 noparen S 1", "/proc/42/stat");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("/proc/42/stat"), std::string::npos);
  r = ParseProcStatStartTime("42 (x) S 1 2 3", "/proc/42/stat");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("field 22"), std::string::npos);
  r = ParseProcStatStartTime("42 (x) S 1 42 42 0 -1 4 1 0 0 0 1 2 0 0 20 0 1 0 12x4 1", "s");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("12x4"), std::string::npos);
}

TEST(ProcCgroup, ChoosesOnePathInEveryLayout) {
  EXPECT_EQ(*ChooseCgroupPath("0::/system.slice/containerd.service\n", "f"),
            "/system.slice/containerd.service");
  // Hybrid, as runc leaves a container here: the unified path is set.
  EXPECT_EQ(*ChooseCgroupPath("9:name=systemd:/c1\n8:pids:/c1\n4:memory:/x/c1\n0::/c1\n", "f"), "/c1");
  // Hybrid, host process: "0::/" says nothing; use pids.
  EXPECT_EQ(*ChooseCgroupPath("9:name=systemd:/user.slice\n8:pids:/user.slice/u\n0::/\n", "f"),
            "/user.slice/u");
  // Pure v1, controllers joined by commas.
  EXPECT_EQ(*ChooseCgroupPath("3:cpu,cpuacct:/docker/abc\n2:memory:/docker/abc\n", "f"), "/docker/abc");
  auto bad = ChooseCgroupPath("0::/ok\ngarbage\n", "/proc/7/cgroup");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("/proc/7/cgroup:2"), std::string::npos) << bad.error().message();
  EXPECT_FALSE(ChooseCgroupPath("", "f").ok());
}

TEST(ProcCgroup, Within) {
  EXPECT_TRUE(CgroupWithin("/c1", "/c1"));
  EXPECT_TRUE(CgroupWithin("/c1/sub", "/c1"));
  EXPECT_FALSE(CgroupWithin("/c10", "/c1"));
  EXPECT_FALSE(CgroupWithin("/c1", "/"));
  EXPECT_FALSE(CgroupWithin("/c1", ""));
}

TEST(ProcIdentity, ReadsThisProcess) {
  auto id = ReadProcessIdentity(::getpid());
  ASSERT_TRUE(id.ok()) << id.error().ToString();
  EXPECT_GT(id->start_time, 0u);
  EXPECT_GT(id->pidns_inode, 0u);
  EXPECT_GT(id->mntns_inode, 0u);
  EXPECT_FALSE(id->cgroup.empty());
  auto again = ReadProcessStartTime(::getpid());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, id->start_time);
}

TEST(ProcIdentity, MissingProcessIsNotFound) {
  // pid_max is at most 2^22, so this pid never exists.
  auto id = ReadProcessIdentity(0x3ffffff0);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.error().code(), ErrorCode::kNotFound) << id.error().ToString();
  EXPECT_EQ(ReadProcessIdentity(0).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace immune::agents
