#include "supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "immune/core/log.h"

namespace immune::immuned {

namespace {

pid_t StartWorker(const std::vector<std::string>& argv, int group_fd, const sigset_t& old_mask) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  // Child: the group fd survives exec, the signal mask is the one main had.
  if (group_fd >= 0) {
    ::fcntl(group_fd, F_SETFD, 0);
    ::setenv(kGateFdEnv, std::to_string(group_fd).c_str(), 1);
  } else {
    ::unsetenv(kGateFdEnv);
  }
  // The worker dies with the supervisor: it must not outlive the group's
  // holder unnoticed.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  std::fprintf(stderr, "immuned --supervise: exec %s: %s\n", args[0], std::strerror(errno));
  ::_exit(127);
}

std::string Describe(int status) {
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by ") + ::strsignal(WTERMSIG(status));
  return "stopped";
}

}  // namespace

int RunSupervisor(const std::vector<std::string>& worker_argv, const std::function<Result<int>()>& make_group) {
  sigset_t set, old_mask;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &set, &old_mask);

  auto group = make_group();
  if (!group.ok()) {
    LogError("immuned --supervise: " + group.error().ToString());
    return 1;
  }
  const int group_fd = *group;
  if (group_fd >= 0) LogInfo("immuned --supervise: holding the exec gate's fanotify group (fail-closed)");

  using Clock = std::chrono::steady_clock;
  auto backoff = std::chrono::milliseconds(100);
  bool stopping = false;
  int last_status = 0;
  pid_t worker = StartWorker(worker_argv, group_fd, old_mask);
  if (worker < 0) {
    LogError(std::string("immuned --supervise: fork: ") + std::strerror(errno));
    return 1;
  }
  auto started = Clock::now();
  for (;;) {
    siginfo_t info{};
    const int sig = ::sigwaitinfo(&set, &info);
    if (sig < 0) continue;
    if (sig == SIGTERM || sig == SIGINT) {
      stopping = true;
      if (worker > 0) ::kill(worker, sig);
      continue;
    }
    // SIGCHLD: reap everything (signals coalesce).
    for (;;) {
      int status = 0;
      const pid_t p = ::waitpid(-1, &status, WNOHANG);
      if (p <= 0) break;
      if (p != worker) continue;
      worker = -1;
      last_status = status;
      if (stopping) {
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
      }
      const auto lived = Clock::now() - started;
      backoff = lived > std::chrono::seconds(10) ? std::chrono::milliseconds(100)
                                                 : std::min(backoff * 2, std::chrono::milliseconds(5000));
      LogWarning("immuned --supervise: daemon " + Describe(status) + "; restarting in " +
                 std::to_string(backoff.count()) + " ms");
    }
    if (worker < 0 && !stopping) {
      // Wait out the back-off, still taking SIGTERM.
      timespec ts{static_cast<time_t>(backoff.count() / 1000), static_cast<long>((backoff.count() % 1000) * 1000000)};
      sigset_t stop_set;
      sigemptyset(&stop_set);
      sigaddset(&stop_set, SIGTERM);
      sigaddset(&stop_set, SIGINT);
      if (::sigtimedwait(&stop_set, nullptr, &ts) > 0) return WIFEXITED(last_status) ? WEXITSTATUS(last_status) : 1;
      worker = StartWorker(worker_argv, group_fd, old_mask);
      if (worker < 0) {
        LogError(std::string("immuned --supervise: fork: ") + std::strerror(errno));
        return 1;
      }
      started = Clock::now();
    }
  }
}

}  // namespace immune::immuned
