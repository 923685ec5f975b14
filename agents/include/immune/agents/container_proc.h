// What /proc says about a process: the facts that tie it to a container.
//
// Every read races with the process exiting and its pid being reused; the
// start time (field 22 of /proc/PID/stat) lets a caller detect the reuse,
// and a pidfd (container_map.h) closes the race entirely.
//
// Thread safety: pure functions over /proc; any thread.
#ifndef IMMUNE_AGENTS_CONTAINER_PROC_H_
#define IMMUNE_AGENTS_CONTAINER_PROC_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "immune/core/error.h"

namespace immune::agents {

struct ProcessIdentity {
  pid_t pid = 0;
  std::uint64_t start_time = 0;  // field 22 of /proc/PID/stat, clock ticks since boot
  std::uint64_t pidns_inode = 0;
  std::uint64_t mntns_inode = 0;
  std::uint64_t root_dev = 0;  // st_dev of /proc/PID/root (0 when unreadable)
  std::string cgroup;          // ChooseCgroupPath of /proc/PID/cgroup
};

// Reads the identity of `pid` under `proc_root` ("/proc"). kNotFound when
// the process does not exist (or exited while being read).
Result<ProcessIdentity> ReadProcessIdentity(pid_t pid, const std::string& proc_root = "/proc");

// Field 22 (starttime) of a /proc/PID/stat line. The command name (field 2)
// may hold spaces and ')', so fields are counted after its last ')'.
// Errors name `source`.
Result<std::uint64_t> ParseProcStatStartTime(std::string_view stat_line, std::string_view source);

// The start time of `pid`, kNotFound when it does not exist.
Result<std::uint64_t> ReadProcessStartTime(pid_t pid, const std::string& proc_root = "/proc");

// One path out of /proc/PID/cgroup that identifies the process's cgroup in
// both layouts: the unified ("0::") path when it is not "/" (cgroup v2 and
// the hybrid layout), else the v1 "pids", then "name=systemd", then
// "memory" hierarchy, else the first line's path. Errors name `source` and
// the line number of a malformed line.
Result<std::string> ChooseCgroupPath(std::string_view cgroup_file, std::string_view source);

// True when `cgroup` is `container_cgroup` or below it.
bool CgroupWithin(std::string_view cgroup, std::string_view container_cgroup);

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_CONTAINER_PROC_H_
