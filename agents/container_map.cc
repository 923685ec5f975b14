#include "immune/agents/container_map.h"

#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "immune/agents/container_proc.h"
#include "immune/core/file.h"

namespace immune::agents {

namespace {

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

bool PidfdAlive(int pidfd) { return ::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0; }

std::uint64_t NsInode(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_ino) : 0;
}

// Whether pidfds are pidfs files (Linux 6.9 on), whose inode numbers are
// unique per process for the life of the system; before, they were anonymous
// inodes that all share one number.
bool PidfdsHaveUniqueInodes() {
  constexpr long kPidfsMagic = 0x50494446;  // PIDFS_MAGIC, "PIDF"
  const int fd = PidfdOpen(::getpid());
  if (fd < 0) return false;
  struct statfs sf {};
  const bool pidfs = ::fstatfs(fd, &sf) == 0 && static_cast<long>(sf.f_type) == kPidfsMagic;
  ::close(fd);
  return pidfs;
}

}  // namespace

ContainerMap::ContainerMap(std::string proc_root) : proc_root_(std::move(proc_root)) {
  // A container that shares one of these namespaces cannot be told apart by
  // it: such containers are matched by cgroup instead.
  for (const char* who : {"/1/ns/pid", "/self/ns/pid"})
    if (std::uint64_t ino = NsInode(proc_root_ + who); ino != 0) host_pidns_.insert(ino);
  struct stat st {};
  if (::stat((proc_root_ + "/1/root/").c_str(), &st) == 0)
    host_root_dev_ = static_cast<std::uint64_t>(st.st_dev);
  // Kept per process only when /proc is the real one (tests fake it).
  pidfs_inodes_ = proc_root_ == "/proc" && PidfdsHaveUniqueInodes();
}

void ContainerMap::ChangedLocked() {
  count_.store(by_id_.size(), std::memory_order_release);
  cgroup_only_count_.store(cgroup_only_, std::memory_order_release);
  version_.fetch_add(1, std::memory_order_acq_rel);
}

ContainerMap::~ContainerMap() {
  for (auto& [id, e] : by_id_)
    if (e.pidfd >= 0) ::close(e.pidfd);
}

Status ContainerMap::Register(ContainerInfo info) {
  const std::string where = "container \"" + info.id + "\"";
  if (info.id.empty()) return InvalidArgument("container: empty id");
  if (info.init_pid <= 0) return InvalidArgument(where + ": no init pid");
  const std::string pid_text = std::to_string(info.init_pid);
  auto ident = ReadProcessIdentity(info.init_pid, proc_root_);
  if (!ident.ok()) return NotFound(where + ": init process " + pid_text + " is gone");
  if (info.init_start_time != 0 && ident->start_time != info.init_start_time)
    return NotFound(where + ": init pid " + pid_text + " now has start time " +
                    std::to_string(ident->start_time) + ", not " + std::to_string(info.init_start_time) +
                    ": the pid was reused");
  const int pidfd = PidfdOpen(info.init_pid);
  if (pidfd < 0) return NotFound(where + ": pidfd_open(" + pid_text + "): " + std::strerror(errno));
  // The pidfd names whatever held the pid when it was opened: the start time
  // read again afterwards proves that was the init we checked.
  auto again = ReadProcessStartTime(info.init_pid, proc_root_);
  if (!again.ok() || *again != ident->start_time) {
    ::close(pidfd);
    return NotFound(where + ": init process " + pid_text + " exited during registration");
  }
  info.init_start_time = ident->start_time;
  info.pidns_inode = ident->pidns_inode;
  info.mntns_inode = ident->mntns_inode;
  info.cgroup = ident->cgroup;
  // A root on the host's own root device (a plain directory, not an
  // overlay) cannot identify the container by device.
  info.rootfs_dev = ident->root_dev != host_root_dev_ ? ident->root_dev : 0;
  if (info.status == ContainerStatus::kStopped) info.status = ContainerStatus::kRunning;

  Entry e;
  e.pidfd = pidfd;
  e.by_pidns = info.pidns_inode != 0 && host_pidns_.count(info.pidns_inode) == 0;
  const std::uint64_t pidns = info.pidns_inode;
  const std::string id = info.id;
  e.info = std::make_shared<const ContainerInfo>(std::move(info));

  std::unique_lock lock(mu_);
  EraseLocked(id);
  if (e.by_pidns)
    by_pidns_[pidns] = id;
  else
    ++cgroup_only_;
  by_id_.emplace(id, std::move(e));
  ChangedLocked();
  return OkStatus();
}

void ContainerMap::EraseLocked(const std::string& id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  if (it->second.by_pidns) {
    auto p = by_pidns_.find(it->second.info->pidns_inode);
    if (p != by_pidns_.end() && p->second == id) by_pidns_.erase(p);
  } else {
    --cgroup_only_;
  }
  if (it->second.pidfd >= 0) ::close(it->second.pidfd);
  by_id_.erase(it);
  ChangedLocked();
}

bool ContainerMap::Unregister(std::string_view id) {
  std::unique_lock lock(mu_);
  const bool had = by_id_.count(std::string(id)) != 0;
  EraseLocked(std::string(id));
  return had;
}

bool ContainerMap::InitExited(const Entry& e) const {
  // A pidfd polls readable once its process has exited.
  pollfd p{e.pidfd, POLLIN, 0};
  return e.pidfd < 0 || (::poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0);
}

std::size_t ContainerMap::PruneExited() {
  std::unique_lock lock(mu_);
  std::vector<std::string> dead;
  for (const auto& [id, e] : by_id_)
    if (InitExited(e)) dead.push_back(id);
  for (const auto& id : dead) EraseLocked(id);
  return dead.size();
}

void ContainerMap::Refresh(const DiscoveryResult& discovery) {
  for (const ContainerInfo& c : discovery.containers) {
    if (c.status == ContainerStatus::kStopped) {
      Unregister(c.id);
      continue;
    }
    {
      std::unique_lock lock(mu_);
      auto it = by_id_.find(c.id);
      if (it != by_id_.end() && it->second.info->init_pid == c.init_pid &&
          it->second.info->init_start_time == c.init_start_time) {
        if (it->second.info->status != c.status) {
          auto updated = std::make_shared<ContainerInfo>(*it->second.info);
          updated->status = c.status;
          it->second.info = std::move(updated);
          ChangedLocked();
        }
        continue;
      }
    }
    // A container that died since discovery read it simply stays out.
    (void)Register(c);
  }
  PruneExited();
}

Result<ContainerMap::InfoPtr> ContainerMap::Lookup(pid_t pid) {
  if (pid <= 0) return InvalidArgument("pid " + std::to_string(pid) + " is not a process id");
  if (count_.load(std::memory_order_acquire) == 0) return InfoPtr();
  const std::string ns_path = proc_root_ + "/" + std::to_string(pid) + "/ns/pid";
  struct stat st {};
  if (::stat(ns_path.c_str(), &st) != 0) {
    const int e = errno;
    if (e == EACCES || e == EPERM)
      return Error(ErrorCode::kPermissionDenied, ns_path + ": " + std::strerror(e));
    return NotFound(ns_path + ": " + std::strerror(e));
  }
  const auto pidns = static_cast<std::uint64_t>(st.st_ino);
  bool exited = false;
  std::string id;
  {
    std::shared_lock lock(mu_);
    auto p = by_pidns_.find(pidns);
    if (p != by_pidns_.end()) {
      const Entry& e = by_id_.at(p->second);
      if (!InitExited(e)) return e.info;
      exited = true;
      id = p->second;
    }
    if (!exited && cgroup_only_ == 0) return InfoPtr();
  }
  if (exited) {
    // The init died: its namespace is gone with it, and so is the container.
    std::unique_lock lock(mu_);
    auto it = by_id_.find(id);
    if (it != by_id_.end() && InitExited(it->second)) EraseLocked(id);
  }
  return LookupByCgroup(pid);
}

Result<ContainerMap::InfoPtr> ContainerMap::LookupByCgroup(pid_t pid) {
  {
    std::shared_lock lock(mu_);
    if (cgroup_only_ == 0) return InfoPtr();
  }
  const std::string path = proc_root_ + "/" + std::to_string(pid) + "/cgroup";
  auto text = ReadTextFile(path);
  if (!text.ok()) return NotFound(text.error().message());
  IMMUNE_ASSIGN_OR_RETURN(std::string cgroup, ChooseCgroupPath(*text, path));
  std::shared_lock lock(mu_);
  const Entry* best = nullptr;
  for (const auto& [cid, e] : by_id_) {
    if (e.by_pidns || !CgroupWithin(cgroup, e.info->cgroup) || InitExited(e)) continue;
    // The deepest match wins when cgroups nest.
    if (best == nullptr || e.info->cgroup.size() > best->info->cgroup.size()) best = &e;
  }
  return best ? best->info : InfoPtr();
}

Result<ContainerMap::InfoPtr> ContainerMap::Lookup(pid_t pid, int pidfd) {
  // No container: every process is the host's, whoever holds the pid.
  if (count_.load(std::memory_order_acquire) == 0) return InfoPtr();
  if (pidfd < 0) return Lookup(pid);
  std::uint64_t subject = 0;  // the process's pidfs inode, 0 when not kept
  const std::uint64_t version = version_.load(std::memory_order_acquire);
  if (pidfs_inodes_ && cgroup_only_count_.load(std::memory_order_acquire) == 0) {
    struct stat st {};
    if (::fstat(pidfd, &st) == 0) subject = static_cast<std::uint64_t>(st.st_ino);
  }
  if (subject != 0) {
    std::lock_guard lock(subjects_mu_);
    if (subjects_version_ == version) {
      // The pidfd names this very process (no pid reuse can alias it) and a
      // process never leaves its pid namespace: the answer still holds.
      if (auto it = subjects_.find(subject); it != subjects_.end()) {
        subject_hits_.fetch_add(1, std::memory_order_relaxed);
        return it->second;
      }
    }
  }
  IMMUNE_ASSIGN_OR_RETURN(InfoPtr info, Lookup(pid));
  if (!PidfdAlive(pidfd))
    return NotFound("process " + std::to_string(pid) + " exited during the lookup; its pid may be reused");
  if (subject != 0) {
    std::lock_guard lock(subjects_mu_);
    // An answer computed under an older map version is not kept.
    if (version > subjects_version_) {
      subjects_.clear();
      subjects_version_ = version;
    }
    if (subjects_version_ == version) {
      if (subjects_.size() >= kSubjectCapacity) subjects_.clear();
      subjects_.emplace(subject, info);
    }
  }
  return info;
}

ContainerMap::InfoPtr ContainerMap::LookupByFilesystem(std::uint64_t dev) const {
  if (dev == 0) return nullptr;
  std::shared_lock lock(mu_);
  for (const auto& [id, e] : by_id_)
    if (e.info->rootfs_dev == dev) return e.info;
  return nullptr;
}

ContainerMap::InfoPtr ContainerMap::Get(std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = by_id_.find(std::string(id));
  return it == by_id_.end() ? nullptr : it->second.info;
}

std::vector<ContainerInfo> ContainerMap::List() const {
  std::vector<ContainerInfo> out;
  {
    std::shared_lock lock(mu_);
    for (const auto& [id, e] : by_id_) out.push_back(*e.info);
  }
  std::sort(out.begin(), out.end(),
            [](const ContainerInfo& a, const ContainerInfo& b) { return a.id < b.id; });
  return out;
}

std::size_t ContainerMap::size() const {
  std::shared_lock lock(mu_);
  return by_id_.size();
}

}  // namespace immune::agents
