#include "exec_gate_test_util.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>

#include "immune/core/digest.h"

extern char** environ;

namespace immune::agents::gate_test {

namespace {

void WriteAllFd(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

// Waits for `pid` to exit within timeout_ms; false when it did not.
bool WaitPid(pid_t pid, int* status, int timeout_ms) {
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    struct pollfd p = {pidfd, POLLIN, 0};
    int r;
    do {
      r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    close(pidfd);
    if (r == 0) return false;
    return waitpid(pid, status, 0) == pid;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, status, WNOHANG) == pid) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

}  // namespace

std::string RunSandboxed(const std::function<std::string(const std::string&)>& scenario, int timeout_s) {
  char dir[] = "/tmp/immune-gate-XXXXXX";
  if (mkdtemp(dir) == nullptr) return std::string("mkdtemp: ") + std::strerror(errno);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
  const pid_t child = fork();
  if (child < 0) return std::string("fork: ") + std::strerror(errno);
  if (child == 0) {
    close(fds[0]);
    alarm(static_cast<unsigned>(timeout_s));  // belt and braces: the parent kills too
    std::string msg;
    if (unshare(CLONE_NEWNS) != 0) {
      msg = std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
    } else if (mount("", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      msg = std::string("making / rprivate: ") + std::strerror(errno);
    } else if (mount("immune-gate-test", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=128m,mode=0755") != 0) {
      msg = std::string("mounting a tmpfs on ") + dir + ": " + std::strerror(errno);
    } else {
      try {
        msg = scenario(dir);
      } catch (const std::exception& e) {
        msg = std::string("scenario threw: ") + e.what();
      }
    }
    WriteAllFd(fds[1], msg);
    _exit(msg.empty() ? 0 : 1);
  }
  close(fds[1]);
  std::string msg;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s + 5);
  bool timed_out = false;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
            .count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    struct pollfd p = {fds[0], POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      timed_out = r == 0;
      break;
    }
    char buf[4096];
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    msg.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  if (timed_out || !WaitPid(child, &status, 10000)) {
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    rmdir(dir);
    return "sandbox child timed out and was killed" + (msg.empty() ? "" : ": " + msg);
  }
  rmdir(dir);
  if (WIFSIGNALED(status))
    return "sandbox child killed by signal " + std::to_string(WTERMSIG(status)) + " " + msg;
  if (WEXITSTATUS(status) != 0 && msg.empty())
    return "sandbox child exited " + std::to_string(WEXITSTATUS(status));
  return msg;
}

std::string Outcome::ToString() const {
  if (timed_out) return "timed out";
  if (exec_errno != 0) return "exec failed: " + std::string(std::strerror(exec_errno));
  if (signal != 0) return "killed by signal " + std::to_string(signal);
  return "exit " + std::to_string(exit_code);
}

Spawned Spawn(const std::string& path, const std::vector<std::string>& argv,
              const std::vector<std::string>& env, bool new_mount_ns) {
  // Everything allocated before fork: the child only makes system calls.
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  envp.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {};
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return {};
  }
  if (pid == 0) {
    close(fds[0]);
    // Hold no inherited fd while exec may block on a permission event: a
    // fanotify group fd held by the blocked process itself would keep its
    // events pending for ever should the gate die.
    if (fds[1] > 3) syscall(SYS_close_range, 3u, static_cast<unsigned>(fds[1] - 1), 0u);
    syscall(SYS_close_range, static_cast<unsigned>(fds[1] + 1), ~0u, 0u);
    if (new_mount_ns && unshare(CLONE_NEWNS) != 0) {
      _exit(125);
    }
    execve(path.c_str(), args.data(), envp.data());
    const int e = errno;
    (void)!write(fds[1], &e, sizeof e);
    _exit(127);
  }
  close(fds[1]);
  return {pid, fds[0]};
}

Outcome Wait(Spawned s, int timeout_ms) {
  Outcome o;
  if (s.pid < 0) {
    o.exec_errno = EAGAIN;
    return o;
  }
  int status = 0;
  if (!WaitPid(s.pid, &status, timeout_ms)) {
    kill(s.pid, SIGKILL);
    waitpid(s.pid, &status, 0);
    o.timed_out = true;
  } else if (WIFSIGNALED(status)) {
    o.signal = WTERMSIG(status);
  } else {
    o.exit_code = WEXITSTATUS(status);
  }
  int e = 0;
  if (read(s.err_pipe, &e, sizeof e) == static_cast<ssize_t>(sizeof e)) o.exec_errno = e;
  close(s.err_pipe);
  return o;
}

Bytes ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string WriteFile(const std::string& path, const Bytes& data) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
  if (fd < 0) return path + ": open: " + std::strerror(errno);
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n <= 0) {
      close(fd);
      return path + ": write: " + std::strerror(errno);
    }
    off += static_cast<std::size_t>(n);
  }
  close(fd);
  return "";
}

Bytes Sha256(const Bytes& data) { return Hash(HashAlg::kSha256, data).value(); }

bool WaitFor(const std::function<bool()>& cond, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

void AllowDigests::Allow(const Bytes& digest) {
  std::lock_guard lock(mu_);
  allowed_.insert(digest);
}

GateAnswer AllowDigests::Decide(const GateEvent& event) {
  calls.fetch_add(1);
  if (event.pidfd >= 0) pidfds_seen.fetch_add(1);
  std::unique_lock lock(mu_);
  kinds_.push_back(event.kind);
  entered.fetch_add(1);
  if (block) cv_.wait(lock, [&] { return released_; });
  if (throw_instead) throw std::runtime_error("test decider fails on purpose");
  return {allowed_.count(event.digest) > 0, cacheable};
}

void AllowDigests::Release() {
  {
    std::lock_guard lock(mu_);
    released_ = true;
  }
  cv_.notify_all();
}

std::vector<CodeKind> AllowDigests::Kinds() const {
  std::lock_guard lock(mu_);
  return kinds_;
}

}  // namespace immune::agents::gate_test
