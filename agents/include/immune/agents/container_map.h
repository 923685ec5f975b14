// ContainerMap: which container a process belongs to.
//
// Containers enter the map from the OCI hook (Register, before their first
// exec) and from discovery (Refresh). Each registered container holds a
// pidfd on its init process, opened after checking the init's start time
// against the recorded one, so a container whose init died is noticed and
// dropped even if its pid has since been given to another process.
//
// Lookup(pid) maps a process by its pid namespace (st_ino of
// /proc/PID/ns/pid), looked up in a hash index, and falls back to its cgroup
// only while some registered container shares the host's pid namespace
// (docs/containers.md, "From a pid to a container").
//
// Thread safety: every member may be called from any thread; lookups share a
// reader lock, changes take it exclusively. Returned infos are immutable
// snapshots that stay valid after the container is dropped.
#ifndef IMMUNE_AGENTS_CONTAINER_MAP_H_
#define IMMUNE_AGENTS_CONTAINER_MAP_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "immune/agents/container.h"
#include "immune/agents/container_discovery.h"
#include "immune/core/error.h"

namespace immune::agents {

class ContainerMap {
 public:
  using InfoPtr = std::shared_ptr<const ContainerInfo>;

  // `proc_root` is "/proc" except in tests.
  explicit ContainerMap(std::string proc_root = "/proc");
  ~ContainerMap();  // closes the pidfds
  ContainerMap(const ContainerMap&) = delete;
  ContainerMap& operator=(const ContainerMap&) = delete;

  // Adds or replaces the container `info.id`. The init process must exist
  // and, when info.init_start_time is not 0, have that start time; its pid
  // and mount namespaces, cgroup and root device are then taken from /proc
  // (not from `info`: /proc is the authority). Errors: kInvalidArgument for
  // an empty id or no init pid; kNotFound when the init is gone or its start
  // time differs (the pid was reused), naming both start times.
  Status Register(ContainerInfo info);

  // Removes the container; false when it was not registered.
  bool Unregister(std::string_view id);

  // Brings the map in line with a discovery: live containers not yet known
  // are registered, known ones get the discovered status, stopped ones are
  // dropped, and so is every container whose init has exited.
  void Refresh(const DiscoveryResult& discovery);

  // Drops every container whose init has exited; returns how many.
  std::size_t PruneExited();

  // The container of process `pid`, nullptr for a host process. kNotFound
  // when the process does not exist, kPermissionDenied when its /proc entry
  // may not be read (a caller without CAP_SYS_PTRACE over it). With no
  // container registered every process is the host's: answered without
  // reading /proc (the exec gate's hot path on a node without containers).
  Result<InfoPtr> Lookup(pid_t pid);

  // As Lookup(pid), then checks that `pidfd` (a pidfd for `pid`, opened by
  // the caller before it learnt of the event) still refers to a live process,
  // so an answer about a recycled pid is never given: kNotFound otherwise.
  // With pidfd < 0 this is Lookup(pid) (no guard against pid reuse).
  //
  // Where pidfds live on pidfs (Linux 6.9 on), a pidfd's inode number names
  // its process uniquely for the life of the system, so answers are kept per
  // process (keyed by that inode; dropped whenever a container is added,
  // changed or removed): a process's second lookup costs one fstat. Only
  // while no registered container is matched by cgroup: a process cannot
  // leave its pid namespace, but it can be moved to another cgroup.
  Result<InfoPtr> Lookup(pid_t pid, int pidfd);

  // The container whose root file system is on device `dev`, or nullptr.
  // Only containers whose root is its own mount (an overlay, as container
  // engines make them) have a device; one on the host's root device has none.
  InfoPtr LookupByFilesystem(std::uint64_t dev) const;

  InfoPtr Get(std::string_view id) const;
  std::vector<ContainerInfo> List() const;  // sorted by id
  std::size_t size() const;

  // Whether Lookup(pid, pidfd) keeps answers per process (pidfs present),
  // and how many lookups it answered from them.
  bool keeps_subjects() const { return pidfs_inodes_; }
  std::uint64_t subject_hits() const { return subject_hits_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    InfoPtr info;
    int pidfd = -1;
    bool by_pidns = false;  // indexed by its pid namespace (not the host's)
  };

  void EraseLocked(const std::string& id);
  void ChangedLocked();  // after any change to by_id_: publishes count_ and version_
  bool InitExited(const Entry& e) const;
  Result<InfoPtr> LookupByCgroup(pid_t pid);

  const std::string proc_root_;
  std::unordered_set<std::uint64_t> host_pidns_;
  std::uint64_t host_root_dev_ = 0;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, Entry> by_id_;             // guarded by mu_
  std::unordered_map<std::uint64_t, std::string> by_pidns_;  // guarded by mu_
  std::size_t cgroup_only_ = 0;                              // guarded by mu_
  // Read without mu_ on the exec gate's hot path (set by ChangedLocked).
  std::atomic<std::size_t> count_{0};
  std::atomic<std::size_t> cgroup_only_count_{0};
  std::atomic<std::uint64_t> version_{0};

  // Per-process answers keyed by pidfs inode (see Lookup(pid, pidfd)).
  static constexpr std::size_t kSubjectCapacity = 8192;
  bool pidfs_inodes_ = false;
  mutable std::mutex subjects_mu_;
  std::uint64_t subjects_version_ = 0;                      // guarded by subjects_mu_
  std::unordered_map<std::uint64_t, InfoPtr> subjects_;  // guarded by subjects_mu_
  std::atomic<std::uint64_t> subject_hits_{0};
};

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_CONTAINER_MAP_H_
