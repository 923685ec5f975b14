// PimsScanner: periodic and on-demand process integrity scans on a thread of
// their own (pims.h does one process; this decides which, when, how much).
//
// Each period the scanner asks its TargetSource for pids, scans them with a
// fresh FileDigestCache (so a library shared by many processes is hashed
// once per period), and for every process found with modified code calls
// the violation callback (to raise an alarm) and then the action callback
// (to enforce the policy: PimsKillAction() kills through a pidfd opened
// before the scan, so a recycled pid is never signalled). Work per period is
// bounded by a process count and a byte budget; targets not reached are
// scanned first in the next period.
//
// Thread safety: Start/Stop/ScanNow/SetTargets/stats may be called from any
// thread. Callbacks run on the scanner's thread, one at a time; they must
// not call Stop() (they may call SetTargets and stats).
#ifndef IMMUNE_AGENTS_PIMS_SCANNER_H_
#define IMMUNE_AGENTS_PIMS_SCANNER_H_

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "immune/agents/pims.h"
#include "immune/core/error.h"

namespace immune::agents {

// Which processes to scan; called on the scanner thread once per period.
using TargetSource = std::function<std::vector<pid_t>()>;

// A fixed list of pids.
TargetSource PidTargets(std::vector<pid_t> pids);
// Every process in `proc_root` except kernel threads and the caller itself.
TargetSource AllProcessTargets(std::string proc_root = "/proc");
// The processes listed in `cgroup.procs` of each cgroup directory given
// (e.g. a container's /sys/fs/cgroup/...); the daemon maps container ids to
// these with ContainerMap.
TargetSource CgroupTargets(std::vector<std::string> cgroup_dirs);

struct PimsViolation {
  const ProcessIntegrity& integrity;
  // A pidfd for integrity.pid, opened before its maps were read; -1 if
  // pidfd_open failed. Valid only during the callback (the scanner closes it).
  int pidfd;
};

using ViolationCallback = std::function<void(const PimsViolation&)>;
using ActionCallback = std::function<Status(const PimsViolation&)>;

// An action that does nothing (the default: alarm only).
ActionCallback PimsNoAction();
// An action that sends SIGKILL through the violation's pidfd.
ActionCallback PimsKillAction();

struct PimsScannerOptions {
  std::chrono::milliseconds interval{1000};  // between the starts of two periods
  std::size_t max_processes_per_period = 0;  // 0: no limit
  std::uint64_t max_bytes_per_period = 0;    // 0: no limit (memory + file bytes read)
  bool idle_priority = false;                // run the thread as SCHED_IDLE (else nice +10)
  bool report_file_changed = false;          // also call back for replaced/deleted files
  ScanOptions scan;                          // proc_root, hash_anonymous, chunk_size (cache: ignored)
};

struct PimsStats {
  std::uint64_t periods = 0;
  std::uint64_t processes_scanned = 0;
  std::uint64_t processes_gone = 0;    // exited (or refused) before or during their scan
  std::uint64_t mappings_checked = 0;  // executable mappings examined
  std::uint64_t bytes_compared = 0;    // memory bytes read and compared
  std::uint64_t bytes_file = 0;        // file bytes read (cache misses)
  std::uint64_t violations = 0;        // processes reported as modified
  std::uint64_t action_failures = 0;
  std::chrono::nanoseconds wall_time{0};  // time spent scanning
  std::chrono::nanoseconds cpu_time{0};   // scanner thread CPU time
};

class PimsScanner {
 public:
  PimsScanner(PimsScannerOptions options, TargetSource targets, ViolationCallback on_violation,
              ActionCallback action = PimsNoAction());
  ~PimsScanner();  // stops the thread
  PimsScanner(const PimsScanner&) = delete;
  PimsScanner& operator=(const PimsScanner&) = delete;

  // Starts the thread; the first period begins at once. kInvalidArgument if
  // already started or the interval is not positive.
  Status Start();
  // Stops and joins the thread (waits for a scan in progress to finish).
  void Stop();

  // Asks for a period to start now and waits until one that started after
  // the request has finished. Returns false on timeout or when not running.
  bool ScanNow(std::chrono::milliseconds timeout);

  void SetTargets(TargetSource targets);
  PimsStats stats() const;

 private:
  void Run();
  void RunPeriod();

  const PimsScannerOptions options_;
  const ViolationCallback on_violation_;
  const ActionCallback action_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  TargetSource targets_;         // guarded by mu_
  PimsStats stats_;              // guarded by mu_
  bool running_ = false;         // guarded by mu_
  bool stop_ = false;            // guarded by mu_
  std::uint64_t requested_ = 0;  // guarded by mu_: ScanNow requests
  std::uint64_t started_ = 0;    // guarded by mu_: periods started
  std::uint64_t finished_ = 0;   // guarded by mu_: periods finished
  std::vector<pid_t> backlog_;   // scanner thread only: pids not reached last period
  std::thread thread_;
};

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_PIMS_SCANNER_H_
