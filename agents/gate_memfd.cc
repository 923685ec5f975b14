// vm.memfd_noexec in another pid namespace: see exec_gate.h.
//
// The sysctl acts on the pid namespace of the process that writes it, not on
// the one /proc was mounted for, so the write must come from a process inside
// the target namespace: setns(CLONE_NEWPID) only moves the caller's future
// children, hence fork, setns, fork. The caller may be multi-threaded (the
// gate's threads run), so between fork and _exit only async-signal-safe
// calls are made; everything else is prepared before the fork.
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "immune/agents/exec_gate.h"

namespace immune::agents {
namespace {

constexpr const char* kSysctl = "/proc/sys/vm/memfd_noexec";

enum Step : int { kOk = 0, kSetns, kFork, kOpen, kWrite, kRead, kParse };

struct Report {
  int step = kFork;  // what failed (kOk: nothing)
  int err = 0;       // its errno
  int value = -1;    // the level read
};

void SendReport(int fd, Step step, int err, int value) {
  Report r;
  r.step = step;
  r.err = err;
  r.value = value;
  (void)!write(fd, &r, sizeof r);
}

// Writes `level` (>= 0) or reads (level < 0) the sysctl in the pid namespace of `pid`.
Result<int> InPidNamespace(pid_t pid, int level) {
  const std::string ns_path = "/proc/" + std::to_string(pid) + "/ns/pid";
  const std::string where = "memfd_noexec in the pid namespace of pid " + std::to_string(pid);
  const int nsfd = open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) {
    return Error(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                 ns_path + ": " + std::strerror(errno));
  }
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    const int e = errno;
    close(nsfd);
    return IoError(where + ": pipe: " + std::strerror(e));
  }
  char value[4] = {static_cast<char>('0' + (level < 0 ? 0 : level)), '\n', 0, 0};
  const pid_t child = fork();
  if (child < 0) {
    const int e = errno;
    close(nsfd);
    close(pipefd[0]);
    close(pipefd[1]);
    return IoError(where + ": fork: " + std::strerror(e));
  }
  if (child == 0) {
    close(pipefd[0]);
    if (setns(nsfd, CLONE_NEWPID) != 0) {
      SendReport(pipefd[1], kSetns, errno, -1);
      _exit(1);
    }
    const pid_t grandchild = fork();
    if (grandchild < 0) {
      SendReport(pipefd[1], kFork, errno, -1);
      _exit(1);
    }
    if (grandchild == 0) {
      const int fd = open(kSysctl, level >= 0 ? O_WRONLY : O_RDONLY);
      if (fd < 0) {
        SendReport(pipefd[1], kOpen, errno, -1);
        _exit(1);
      }
      if (level >= 0) {
        if (write(fd, value, 2) != 2) {
          SendReport(pipefd[1], kWrite, errno, -1);
          _exit(1);
        }
        SendReport(pipefd[1], kOk, 0, level);
        _exit(0);
      }
      char buf[16];
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) {
        SendReport(pipefd[1], kRead, n < 0 ? errno : 0, -1);
        _exit(1);
      }
      if (buf[0] < '0' || buf[0] > '9') {
        SendReport(pipefd[1], kParse, 0, -1);
        _exit(1);
      }
      SendReport(pipefd[1], kOk, 0, buf[0] - '0');
      _exit(0);
    }
    int status = 0;
    while (waitpid(grandchild, &status, 0) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  close(nsfd);
  close(pipefd[1]);
  Report r;
  ssize_t n;
  do {
    n = read(pipefd[0], &r, sizeof r);
  } while (n < 0 && errno == EINTR);
  close(pipefd[0]);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(sizeof r)) return Internal(where + ": the helper process reported nothing");
  switch (r.step) {
    case kOk: return r.value;
    case kSetns:
      return Error(r.err == EPERM ? ErrorCode::kPermissionDenied : ErrorCode::kIo,
                   where + ": setns: " + std::strerror(r.err));
    case kOpen:
      if (r.err == ENOENT)
        return Unsupported(where + ": " + kSysctl + " does not exist (Linux >= 6.3 needed)");
      return Error(r.err == EACCES || r.err == EPERM ? ErrorCode::kPermissionDenied : ErrorCode::kIo,
                   where + ": open " + kSysctl + ": " + std::strerror(r.err));
    case kWrite:
      // EINVAL: out of range, or below the parent namespace's level.
      return Error(
          r.err == EINVAL  ? ErrorCode::kInvalidArgument
          : r.err == EPERM ? ErrorCode::kPermissionDenied
                           : ErrorCode::kIo,
          where + ": writing " + std::to_string(level) + " to " + kSysctl + ": " + std::strerror(r.err));
    case kParse: return Corruption(where + ": " + kSysctl + " does not hold a number");
    default: return IoError(where + ": step " + std::to_string(r.step) + ": " + std::strerror(r.err));
  }
}

}  // namespace

Status SetMemfdNoexec(pid_t pid_in_target_ns, int level) {
  if (level < 0 || level > 2) {
    return InvalidArgument("memfd_noexec level " + std::to_string(level) + " is not 0, 1 or 2");
  }
  if (pid_in_target_ns <= 0) return InvalidArgument("memfd_noexec: pid " + std::to_string(pid_in_target_ns));
  IMMUNE_RETURN_IF_ERROR(InPidNamespace(pid_in_target_ns, level));
  return OkStatus();
}

Result<int> GetMemfdNoexec(pid_t pid_in_target_ns) {
  if (pid_in_target_ns <= 0) return InvalidArgument("memfd_noexec: pid " + std::to_string(pid_in_target_ns));
  return InPidNamespace(pid_in_target_ns, -1);
}

}  // namespace immune::agents
