// ConfigWatch (config_watch.h).
#include "immune/agents/config_watch.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "immune/core/file.h"

namespace immune::agents {
namespace {

constexpr std::uint32_t kDirMask =
    IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_ONLYDIR;
constexpr std::uint32_t kFileMask = IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;

std::string DirName(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::vector<std::string> DefaultCriticalFiles() {
  return {
      "/proc/cmdline",
      // sysctls an attacker turns to weaken the host or hide from it.
      "/proc/sys/kernel/modules_disabled",
      "/proc/sys/kernel/kptr_restrict",
      "/proc/sys/kernel/yama/ptrace_scope",
      "/proc/sys/kernel/randomize_va_space",
      "/proc/sys/kernel/unprivileged_bpf_disabled",
      "/proc/sys/kernel/core_pattern",
      "/proc/sys/fs/suid_dumpable",
      "/proc/sys/net/ipv4/ip_forward",
      "/etc/ssh/sshd_config",
      "/etc/sysctl.conf",
      "/etc/containerd/config.toml",
      "/etc/containers/containers.conf",
      "/etc/containers/policy.json",
      "/etc/crio/crio.conf",
      "/etc/docker/daemon.json",
      "/etc/fapolicyd/fapolicyd.conf",
  };
}

Result<Bytes> MeasureFile(const std::string& path, HashAlg alg) {
  IMMUNE_ASSIGN_OR_RETURN(Bytes content, ReadFile(path));
  auto digest = Hash(alg, content);
  if (!digest.ok()) return digest.error().WithContext(path);
  return digest;
}

bool ConfigWatch::IsPseudoFile(const std::string& path) {
  return path.starts_with("/proc/") || path.starts_with("/sys/");
}

ConfigWatch::ConfigWatch(Options options, Callback on_change)
    : options_(options), on_change_(std::move(on_change)) {}

ConfigWatch::~ConfigWatch() {
  Stop();
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

void ConfigWatch::AddWatchesLocked(const std::string& path, Watched& w) {
  if (inotify_fd_ < 0 || IsPseudoFile(path)) return;
  const std::string dir = DirName(path);
  bool have_dir = false;
  for (const auto& [wd, d] : dir_wds_) have_dir = have_dir || d == dir;
  if (!have_dir) {
    const int wd = ::inotify_add_watch(inotify_fd_, dir.c_str(), kDirMask);
    if (wd >= 0) dir_wds_[wd] = dir;
  }
  // The file's own watch follows its inode: after a rename over it the new
  // inode needs a new watch, which the same call gives (or returns the
  // existing wd when the inode is unchanged).
  const int wd = ::inotify_add_watch(inotify_fd_, path.c_str(), kFileMask);
  if (wd >= 0) {
    file_wds_[wd] = path;
    w.file_wd = wd;
  }
}

Status ConfigWatch::Add(const std::string& path) {
  if (path.empty() || path[0] != '/')
    return InvalidArgument("ConfigWatch: not an absolute path: '" + path + "'");
  auto digest = MeasureFile(path, options_.alg);
  std::lock_guard lock(mu_);
  if (files_.count(path)) return OkStatus();
  Watched& w = files_[path];
  if (digest.ok()) {
    w.digest = std::move(digest).value();
  } else {
    w.error = digest.error().message();
  }
  AddWatchesLocked(path, w);
  return OkStatus();
}

Status ConfigWatch::Start() {
  std::lock_guard lock(mu_);
  if (running_) return InvalidArgument("ConfigWatch: already started");
  if (inotify_fd_ < 0) {
    inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd_ < 0) return IoError(std::string("ConfigWatch: inotify_init1: ") + std::strerror(errno));
  }
  if (stop_fd_ < 0) {
    stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (stop_fd_ < 0) return IoError(std::string("ConfigWatch: eventfd: ") + std::strerror(errno));
  }
  std::uint64_t drain = 0;
  while (::read(stop_fd_, &drain, sizeof drain) > 0) {
  }
  for (auto& [path, w] : files_) AddWatchesLocked(path, w);
  running_ = true;
  thread_ = std::thread([this] { Run(); });
  return OkStatus();
}

void ConfigWatch::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
  }
  const std::uint64_t one = 1;
  if (::write(stop_fd_, &one, sizeof one) < 0) {
    // An eventfd write fails only on counter overflow; the thread is
    // already being woken then.
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  running_ = false;
}

std::vector<ConfigMeasurement> ConfigWatch::Snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<ConfigMeasurement> out;
  for (const auto& [path, w] : files_) out.push_back({path, w.digest, w.error});
  return out;
}

void ConfigWatch::Remeasure(const std::string& path) {
  auto digest = MeasureFile(path, options_.alg);
  ConfigChange change;
  {
    std::lock_guard lock(mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return;
    Watched& w = it->second;
    std::optional<Bytes> now;
    if (digest.ok()) {
      now = std::move(digest).value();
      w.error.clear();
    } else {
      w.error = digest.error().message();
    }
    AddWatchesLocked(path, w);
    if (now == w.digest) return;
    change = {path, w.digest, now};
    w.digest = std::move(now);
  }
  if (on_change_) on_change_(change);
}

void ConfigWatch::RemeasureDirectory(int wd, std::string_view name) {
  std::string path;
  {
    std::lock_guard lock(mu_);
    auto it = dir_wds_.find(wd);
    if (it == dir_wds_.end()) return;
    path = (it->second == "/" ? "" : it->second) + "/" + std::string(name);
    if (!files_.count(path)) return;
  }
  Remeasure(path);
}

void ConfigWatch::Run() {
  auto next_poll = std::chrono::steady_clock::now() + options_.poll_interval;
  alignas(inotify_event) char buf[16384];
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_poll) {
      std::vector<std::string> paths;
      {
        std::lock_guard lock(mu_);
        for (const auto& [path, w] : files_) paths.push_back(path);
      }
      for (const auto& p : paths) Remeasure(p);
      next_poll = std::chrono::steady_clock::now() + options_.poll_interval;
      continue;
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_poll - now).count() + 1;
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int n = ::poll(fds, 2, static_cast<int>(wait));
    if (n < 0 && errno != EINTR) return;
    if (fds[1].revents & POLLIN) return;
    if (!(fds[0].revents & POLLIN)) continue;
    const ssize_t len = ::read(inotify_fd_, buf, sizeof buf);
    if (len <= 0) continue;
    for (ssize_t off = 0; off < len;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      if (ev->mask & IN_Q_OVERFLOW) {
        next_poll = std::chrono::steady_clock::now();  // events lost: measure everything
        continue;
      }
      if (ev->len > 0) {
        RemeasureDirectory(ev->wd, std::string_view(ev->name));
        continue;
      }
      std::string path;
      {
        std::lock_guard lock(mu_);
        auto it = file_wds_.find(ev->wd);
        if (it == file_wds_.end()) continue;
        path = it->second;
        if (ev->mask & IN_IGNORED) {
          file_wds_.erase(it);
          continue;
        }
      }
      Remeasure(path);
    }
  }
}

}  // namespace immune::agents
