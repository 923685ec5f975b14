#include "immune/agents/actions.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>

#include "immune/agents/container_proc.h"

namespace immune::agents {

namespace {

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int PidfdSignal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

}  // namespace

Status KillProcess(pid_t pid, int pidfd) {
  const int rc = pidfd >= 0 ? PidfdSignal(pidfd, SIGKILL) : ::kill(pid, SIGKILL);
  if (rc != 0) return IoError("kill " + std::to_string(pid) + ": " + std::strerror(errno));
  return OkStatus();
}

Status FreezeContainer(const ContainerInfo& ct) {
  const std::string& cgroup = ct.cgroup;
  if (cgroup.empty() || cgroup == "/") return InvalidArgument("container " + ct.id + " has no cgroup of its own to freeze");
  const std::pair<std::string, std::string> targets[] = {
      {"/sys/fs/cgroup/freezer" + cgroup + "/freezer.state", "FROZEN"},
      {"/sys/fs/cgroup" + cgroup + "/cgroup.freeze", "1"},
      {"/sys/fs/cgroup/unified" + cgroup + "/cgroup.freeze", "1"}};
  for (const auto& [file, value] : targets) {
    std::ofstream out(file);
    if (!out) continue;
    out << value << std::flush;
    if (out) return OkStatus();
  }
  return IoError("cgroup " + cgroup + ": no writable freezer");
}

Status StopContainer(const ContainerInfo& ct) {
  const int pidfd = PidfdOpen(ct.init_pid);
  if (pidfd < 0) return NotFound("init " + std::to_string(ct.init_pid) + " is gone");
  auto start = ReadProcessStartTime(ct.init_pid);
  Status s = OkStatus();
  if (!start.ok() || (ct.init_start_time != 0 && *start != ct.init_start_time)) {
    s = NotFound("init " + std::to_string(ct.init_pid) + " is no longer the container's (pid reused)");
  } else if (PidfdSignal(pidfd, SIGKILL) != 0) {
    s = IoError(std::string("kill init: ") + std::strerror(errno));
  }
  ::close(pidfd);
  return s;
}

}  // namespace immune::agents
