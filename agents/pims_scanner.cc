// PimsScanner (pims_scanner.h).
#include "immune/agents/pims_scanner.h"

#include <dirent.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <unordered_set>

#include "immune/core/log.h"

namespace immune::agents {
namespace {

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

std::chrono::nanoseconds ThreadCpuTime() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

std::optional<pid_t> ParsePid(std::string_view s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  pid_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v > 0 ? std::optional<pid_t>(v) : std::nullopt;
}

}  // namespace

TargetSource PidTargets(std::vector<pid_t> pids) {
  return [pids = std::move(pids)] { return pids; };
}

TargetSource AllProcessTargets(std::string proc_root) {
  return [proc_root = std::move(proc_root)] {
    std::vector<pid_t> out;
    DIR* dir = ::opendir(proc_root.c_str());
    if (dir == nullptr) return out;
    const pid_t self = ::getpid();
    while (const dirent* d = ::readdir(dir)) {
      auto pid = ParsePid(d->d_name);
      if (!pid || *pid == self) continue;
      // Kernel threads have no exe link (and no user memory to check).
      char buf[8];
      const std::string exe = proc_root + "/" + d->d_name + "/exe";
      if (::readlink(exe.c_str(), buf, sizeof buf) < 0 && errno == ENOENT) continue;
      out.push_back(*pid);
    }
    ::closedir(dir);
    std::sort(out.begin(), out.end());
    return out;
  };
}

TargetSource CgroupTargets(std::vector<std::string> cgroup_dirs) {
  return [dirs = std::move(cgroup_dirs)] {
    std::vector<pid_t> out;
    for (const std::string& dir : dirs) {
      std::ifstream in(dir + "/cgroup.procs");
      std::string line;
      while (std::getline(in, line))
        if (auto pid = ParsePid(line)) out.push_back(*pid);
    }
    return out;
  };
}

ActionCallback PimsNoAction() {
  return [](const PimsViolation&) { return OkStatus(); };
}

ActionCallback PimsKillAction() {
  return [](const PimsViolation& v) -> Status {
    const std::string who = "pid " + std::to_string(v.integrity.pid);
    if (v.pidfd < 0) return Unavailable(who + ": no pidfd, not killing by pid (it may have been reused)");
    if (::syscall(SYS_pidfd_send_signal, v.pidfd, SIGKILL, nullptr, 0) != 0) {
      if (errno == ESRCH) return OkStatus();  // already gone
      return IoError(who + ": pidfd_send_signal(SIGKILL): " + std::strerror(errno));
    }
    return OkStatus();
  };
}

PimsScanner::PimsScanner(PimsScannerOptions options, TargetSource targets, ViolationCallback on_violation,
                         ActionCallback action)
    : options_(std::move(options)),
      on_violation_(std::move(on_violation)),
      action_(action ? std::move(action) : PimsNoAction()),
      targets_(std::move(targets)) {}

PimsScanner::~PimsScanner() { Stop(); }

Status PimsScanner::Start() {
  if (options_.interval.count() <= 0) return InvalidArgument("PimsScanner: interval must be positive");
  std::lock_guard lock(mu_);
  if (running_) return InvalidArgument("PimsScanner: already started");
  running_ = true;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
  return OkStatus();
}

void PimsScanner::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  running_ = false;
  cv_.notify_all();
}

bool PimsScanner::ScanNow(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!running_ || stop_) return false;
  // A period already under way may have read its targets before the call:
  // only one that starts after it counts.
  const std::uint64_t need = started_ + 1;
  ++requested_;
  cv_.notify_all();
  return cv_.wait_for(lock, timeout, [&] { return finished_ >= need || stop_; }) && finished_ >= need;
}

void PimsScanner::SetTargets(TargetSource targets) {
  std::lock_guard lock(mu_);
  targets_ = std::move(targets);
}

PimsStats PimsScanner::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void PimsScanner::Run() {
  if (options_.idle_priority) {
    sched_param param{};
    // On Linux a pid of 0 means the calling thread, not the whole process.
    if (::sched_setscheduler(0, SCHED_IDLE, &param) != 0)
      LogWarning(std::string("pims: SCHED_IDLE refused: ") + std::strerror(errno));
  } else {
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
  }
  std::uint64_t served = 0;
  std::unique_lock lock(mu_);
  auto next = std::chrono::steady_clock::now();
  while (!stop_) {
    cv_.wait_until(lock, next, [&] { return stop_ || requested_ > served; });
    if (stop_) break;
    served = requested_;
    ++started_;
    lock.unlock();
    const auto begin = std::chrono::steady_clock::now();
    RunPeriod();
    lock.lock();
    ++finished_;
    cv_.notify_all();
    next = begin + options_.interval;
  }
}

void PimsScanner::RunPeriod() {
  const auto wall0 = std::chrono::steady_clock::now();
  const auto cpu0 = ThreadCpuTime();
  TargetSource source;
  {
    std::lock_guard lock(mu_);
    source = targets_;
  }
  std::vector<pid_t> fresh = source ? source() : std::vector<pid_t>{};
  // Targets a bounded period did not reach go first; then the rest.
  std::vector<pid_t> order;
  std::unordered_set<pid_t> in_order;
  const std::unordered_set<pid_t> wanted(fresh.begin(), fresh.end());
  for (pid_t p : backlog_)
    if (wanted.count(p) && in_order.insert(p).second) order.push_back(p);
  for (pid_t p : fresh)
    if (in_order.insert(p).second) order.push_back(p);
  backlog_.clear();

  FileDigestCache cache;
  ScanOptions scan = options_.scan;
  scan.cache = &cache;
  PimsStats delta;
  std::uint64_t bytes = 0;
  std::size_t done = 0;
  for (; done < order.size(); ++done) {
    if (options_.max_processes_per_period != 0 && done >= options_.max_processes_per_period) break;
    if (options_.max_bytes_per_period != 0 && bytes >= options_.max_bytes_per_period) break;
    const pid_t pid = order[done];
    const int pidfd = PidfdOpen(pid);
    auto result = ScanProcess(pid, scan);
    if (!result.ok()) {
      ++delta.processes_gone;
      if (result.error().code() != ErrorCode::kNotFound)
        LogWarning("pims: pid " + std::to_string(pid) + ": " + result.error().ToString());
      if (pidfd >= 0) ::close(pidfd);
      continue;
    }
    const ProcessIntegrity& pi = *result;
    ++delta.processes_scanned;
    delta.mappings_checked += pi.mappings.size();
    delta.bytes_compared += pi.bytes_mem;
    delta.bytes_file += pi.bytes_file;
    bytes += pi.bytes_mem + pi.bytes_file;
    if (pi.modified > 0 || (options_.report_file_changed && pi.file_changed > 0)) {
      const PimsViolation v{pi, pidfd};
      if (pi.modified > 0) ++delta.violations;
      if (on_violation_) on_violation_(v);
      if (Status s = action_(v); !s.ok()) {
        ++delta.action_failures;
        LogWarning("pims: action on pid " + std::to_string(pid) + " failed: " + s.error().ToString());
      }
    }
    if (pidfd >= 0) ::close(pidfd);
  }
  backlog_.assign(order.begin() + static_cast<std::ptrdiff_t>(done), order.end());

  std::lock_guard lock(mu_);
  ++stats_.periods;
  stats_.processes_scanned += delta.processes_scanned;
  stats_.processes_gone += delta.processes_gone;
  stats_.mappings_checked += delta.mappings_checked;
  stats_.bytes_compared += delta.bytes_compared;
  stats_.bytes_file += delta.bytes_file;
  stats_.violations += delta.violations;
  stats_.action_failures += delta.action_failures;
  stats_.wall_time +=
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - wall0);
  stats_.cpu_time += ThreadCpuTime() - cpu0;
}

}  // namespace immune::agents
