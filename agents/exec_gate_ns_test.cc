// Integration tests of the exec gate across namespaces: filesystem vs mount
// marks seen from a copied mount namespace (what a container's runtime
// does), and vm.memfd_noexec applied in private pid namespaces.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "exec_gate_test_util.h"
#include "immune/agents/exec_gate.h"

namespace immune::agents {
namespace {

using gate_test::AllowDigests;
using gate_test::Outcome;
using gate_test::RunSandboxed;

constexpr const char* kBusybox = "/usr/bin/busybox";

// Execs a binary not allowed from a copy of the sandbox's mount namespace
// (as runc does for a container's rootfs) with a mark of `kind` on the tmpfs.
std::string ExecFromCopiedNamespace(const std::string& mnt, MarkKind kind, Outcome* out) {
  Bytes bad = gate_test::ReadAll(kBusybox);
  GATE_CHECK(!bad.empty(), "busybox-static is missing");
  bad.push_back('\n');
  std::string e = gate_test::WriteFile(mnt + "/bad", bad);
  GATE_CHECK(e.empty(), e);
  auto gate = ExecGate::Create(GateConfig{}, std::make_shared<AllowDigests>());
  GATE_CHECK(gate.ok(), gate.error().ToString());
  Status s = (*gate)->AddMark(mnt, kind);
  GATE_CHECK(s.ok(), s.error().ToString());
  s = (*gate)->Start();
  GATE_CHECK(s.ok(), s.error().ToString());
  const Outcome here = gate_test::RunBusybox(mnt + "/bad");
  GATE_CHECK(here.exec_errno == EPERM || here.exec_errno == EACCES,
             "in the marked namespace: " + here.ToString());
  *out = gate_test::Wait(gate_test::SpawnBusybox(mnt + "/bad", /*new_mount_ns=*/true));
  return "";
}

TEST(ExecGateNamespaces, FilesystemMarkCoversCopiedMounts) {
  EXPECT_EQ("", RunSandboxed([](const std::string& mnt) -> std::string {
              Outcome o;
              std::string e = ExecFromCopiedNamespace(mnt, MarkKind::kFilesystem, &o);
              GATE_CHECK(e.empty(), e);
              GATE_CHECK(o.exec_errno == EPERM || o.exec_errno == EACCES, "from the copy: " + o.ToString());
              return "";
            }));
}

// The reason containers need filesystem marks: a mount mark is on one mount,
// and the copy in a new mount namespace is another.
TEST(ExecGateNamespaces, MountMarkMissesCopiedMounts) {
  EXPECT_EQ("", RunSandboxed([](const std::string& mnt) -> std::string {
              Outcome o;
              std::string e = ExecFromCopiedNamespace(mnt, MarkKind::kMount, &o);
              GATE_CHECK(e.empty(), e);
              GATE_CHECK(o.exec_errno == 0 && o.exit_code == 0,
                         "from the copy the mount mark is not seen: " + o.ToString());
              return "";
            }));
}

// A process that is pid 1 of a new pid namespace, waiting for a byte on a pipe
// before running the memfd helper twice (without and with MFD_EXEC).
struct PidNamespace {
  pid_t outer = -1;  // the process that unshared (in our namespace)
  pid_t init = -1;   // pid 1 of the new namespace, as seen from ours
  int go = -1;       // write a byte to start the helper
};

std::string StartPidNamespace(PidNamespace* ns) {
  int go[2], report[2];
  GATE_CHECK(pipe2(go, O_CLOEXEC) == 0 && pipe2(report, O_CLOEXEC) == 0, std::strerror(errno));
  // Prepared before fork: the sandbox is multi-threaded only when a gate runs,
  // but keep the children to system calls anyway.
  const std::string helper = GATE_MEMFD_EXEC;
  char* noflag_args[] = {const_cast<char*>(helper.c_str()), const_cast<char*>("noflag"),
                         const_cast<char*>(kBusybox),       const_cast<char*>("busybox"),
                         const_cast<char*>("true"),         nullptr};
  char* exec_args[] = {const_cast<char*>(helper.c_str()), const_cast<char*>("exec"),
                       const_cast<char*>(kBusybox),       const_cast<char*>("busybox"),
                       const_cast<char*>("true"),         nullptr};
  const pid_t outer = fork();
  GATE_CHECK(outer >= 0, std::strerror(errno));
  if (outer == 0) {
    close(go[1]);
    close(report[0]);
    if (unshare(CLONE_NEWPID) != 0) _exit(100);
    const pid_t init = fork();
    if (init < 0) _exit(101);
    if (init == 0) {
      char c;
      if (read(go[0], &c, 1) != 1) _exit(102);
      int status = 0;
      const pid_t first = fork();
      if (first == 0) {
        execv(noflag_args[0], noflag_args);
        _exit(103);
      }
      waitpid(first, &status, 0);
      const int noflag = WIFEXITED(status) ? WEXITSTATUS(status) : 99;
      const pid_t second = fork();
      if (second == 0) {
        execv(exec_args[0], exec_args);
        _exit(103);
      }
      waitpid(second, &status, 0);
      const int exec = WIFEXITED(status) ? WEXITSTATUS(status) : 99;
      _exit(noflag * 16 + exec);  // helper codes stay below 16
    }
    (void)!write(report[1], &init, sizeof init);
    int status = 0;
    waitpid(init, &status, 0);
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 200);
  }
  close(go[0]);
  close(report[1]);
  pid_t init = -1;
  const bool got = read(report[0], &init, sizeof init) == static_cast<ssize_t>(sizeof init);
  close(report[0]);
  ns->outer = outer;
  ns->init = init;
  ns->go = go[1];
  GATE_CHECK(got && init > 0, "the namespace's init pid");
  // Never touch the host's namespace: the target must be in another one.
  struct stat ours {
  }, theirs{};
  GATE_CHECK(stat("/proc/self/ns/pid", &ours) == 0, std::strerror(errno));
  GATE_CHECK(stat(("/proc/" + std::to_string(init) + "/ns/pid").c_str(), &theirs) == 0, std::strerror(errno));
  GATE_CHECK(ours.st_ino != theirs.st_ino, "the helper must be in a new pid namespace");
  return "";
}

// Runs the helpers in `ns`; returns (noflag code, exec code) through *codes.
std::string RunHelpers(PidNamespace& ns, int* noflag, int* exec) {
  GATE_CHECK(write(ns.go, "g", 1) == 1, std::strerror(errno));
  close(ns.go);
  int status = 0;
  GATE_CHECK(waitpid(ns.outer, &status, 0) == ns.outer, std::strerror(errno));
  // Exit status noflag * 16 + exec (set-up failures in the children give other values the checks reject).
  GATE_CHECK(WIFEXITED(status), "namespace helper status " + std::to_string(status));
  *noflag = WEXITSTATUS(status) / 16;
  *exec = WEXITSTATUS(status) % 16;
  return "";
}

TEST(ExecGateNamespaces, MemfdNoexecInPrivatePidNamespaces) {
  EXPECT_EQ(
      "", RunSandboxed([](const std::string&) -> std::string {
        Result<int> host_before = GetMemfdNoexec(getpid());
        if (!host_before.ok() && host_before.error().code() == ErrorCode::kUnsupported)
          return "";  // Linux < 6.3
        GATE_CHECK(host_before.ok(), host_before.error().ToString());

        PidNamespace strict;
        std::string e = StartPidNamespace(&strict);
        GATE_CHECK(e.empty(), e);
        Status s = SetMemfdNoexec(strict.init, 2);
        GATE_CHECK(s.ok(), s.error().ToString());
        Result<int> level = GetMemfdNoexec(strict.init);
        GATE_CHECK(level.ok() && *level == 2, level.ok() ? std::to_string(*level) : level.error().ToString());
        int noflag = -1, exec = -1;
        e = RunHelpers(strict, &noflag, &exec);
        GATE_CHECK(e.empty(), e);
        GATE_CHECK(noflag == 12, "level 2, no flag: fexecve must fail, got " + std::to_string(noflag));
        GATE_CHECK(exec == 10, "level 2, MFD_EXEC: memfd_create must fail, got " + std::to_string(exec));

        PidNamespace open;
        e = StartPidNamespace(&open);
        GATE_CHECK(e.empty(), e);
        s = SetMemfdNoexec(open.init, 0);
        GATE_CHECK(s.ok(), s.error().ToString());
        e = RunHelpers(open, &noflag, &exec);
        GATE_CHECK(e.empty(), e);
        GATE_CHECK(noflag == 0 && exec == 0,
                   "level 0: both run, got " + std::to_string(noflag) + "/" + std::to_string(exec));

        Result<int> host_after = GetMemfdNoexec(getpid());
        GATE_CHECK(host_after.ok() && *host_after == *host_before, "the host's level must not change");
        return "";
      }));
}

}  // namespace
}  // namespace immune::agents
