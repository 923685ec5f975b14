// The cost of periodic PIMS scanning on a workload (docs/process-integrity.md).
//
// Two workloads, each run as a child process: (a) CPU-bound, SHA-256 over a
// 1 MiB buffer N times; (b) fork/exec-heavy, fork+exec /bin/true M times.
// Each is timed with no scanner, with a PimsScanner scanning the workload's
// processes every 100 ms, and every 1 s, in interleaved rounds; the median
// of each is compared with the unscanned median. Prints JSON on stdout.
//
//   pims_bench [--rounds R] [--cpu-iters N] [--exec-iters M] [--idle] [--root-only]
// PIMS (CMES 2023) reports 3.57% container overhead; the goal here is < 1%.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "immune/agents/pims_scanner.h"
#include "immune/core/digest.h"

extern char** environ;

namespace {

using immune::agents::PimsScanner;
using immune::agents::PimsScannerOptions;
using Clock = std::chrono::steady_clock;

int CpuWorker(long iters) {
  std::vector<std::uint8_t> buf(1 << 20, 0x5a);
  immune::Hasher h(immune::HashAlg::kSha256);
  for (long i = 0; i < iters; ++i) {
    h.Update(buf);
    auto d = h.Final();
    if (!d.ok()) return 1;
    buf[0] = (*d)[0];  // a dependency between iterations
    h.Reset();
  }
  return 0;
}

int ExecWorker(long iters) {
  for (long i = 0; i < iters; ++i) {
    char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
    // A real fork (not posix_spawn's vfork-like clone): the page-table copy
    // is part of the cost a scanner reading this process's memory may add to.
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execv(argv[0], argv);
      ::_exit(127);
    }
    if (pid < 0) return 1;
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
  return 0;
}

bool g_root_only = false;  // --root-only: scan the workload's first process, not its children
bool g_idle = false;       // --idle: scanner thread as SCHED_IDLE instead of nice +10

// The workload process and its children: what the scanner scans.
std::vector<pid_t> WorkloadPids(pid_t root) {
  std::vector<pid_t> out;
  if (root <= 0) return out;
  out.push_back(root);
  if (g_root_only) return out;
  std::ifstream in("/proc/" + std::to_string(root) + "/task/" + std::to_string(root) + "/children");
  pid_t child = 0;
  while (in >> child) out.push_back(child);
  return out;
}

std::atomic<pid_t> g_workload{0};

// Runs this program as a worker; returns its wall time in seconds.
double RunWorkload(const std::string& mode, long iters) {
  std::string self = "/proc/self/exe";
  std::string arg_iters = std::to_string(iters);
  char* argv[] = {self.data(), const_cast<char*>(mode.c_str()), arg_iters.data(), nullptr};
  const auto t0 = Clock::now();
  pid_t pid = 0;
  if (::posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv, environ) != 0) {
    std::perror("posix_spawn");
    std::exit(1);
  }
  g_workload = pid;
  int status = 0;
  ::waitpid(pid, &status, 0);
  g_workload = 0;
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "pims_bench: worker %s failed (status %d)\n", mode.c_str(), status);
    std::exit(1);
  }
  return s;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct Arm {
  std::string name;
  int interval_ms;  // 0: no scanner
  std::vector<double> times;
  immune::agents::PimsStats stats;
};

nlohmann::json Measure(const std::string& mode, long iters, int rounds) {
  std::vector<Arm> arms = {{"none", 0, {}, {}}, {"scan_100ms", 100, {}, {}}, {"scan_1s", 1000, {}, {}}};
  RunWorkload(mode, iters);  // warm-up: page cache, CPU frequency
  for (int r = 0; r < rounds; ++r) {
    // Interleaved (and rotated) so drift in machine load hits every arm alike.
    for (std::size_t k = 0; k < arms.size(); ++k) {
      Arm& arm = arms[(k + static_cast<std::size_t>(r)) % arms.size()];
      if (arm.interval_ms == 0) {
        arm.times.push_back(RunWorkload(mode, iters));
        continue;
      }
      PimsScannerOptions opts;
      opts.interval = std::chrono::milliseconds(arm.interval_ms);
      opts.idle_priority = g_idle;
      PimsScanner scanner(
          opts, [] { return WorkloadPids(g_workload.load()); }, [](const immune::agents::PimsViolation&) {});
      if (!scanner.Start().ok()) std::exit(1);
      arm.times.push_back(RunWorkload(mode, iters));
      scanner.Stop();
      const auto st = scanner.stats();
      arm.stats.periods += st.periods;
      arm.stats.processes_scanned += st.processes_scanned;
      arm.stats.bytes_compared += st.bytes_compared;
      arm.stats.violations += st.violations;
      arm.stats.cpu_time += st.cpu_time;
      arm.stats.wall_time += st.wall_time;
    }
  }
  nlohmann::json j;
  j["iterations"] = iters;
  j["rounds"] = rounds;
  const double base = Median(arms[0].times);
  j["none_median_s"] = base;
  j["none_times_s"] = arms[0].times;
  for (std::size_t i = 1; i < arms.size(); ++i) {
    const Arm& a = arms[i];
    const double med = Median(a.times);
    j[a.name] = {
        {"median_s", med},
        {"times_s", a.times},
        {"overhead_pct", (med - base) / base * 100.0},
        {"periods", a.stats.periods},
        {"processes_scanned", a.stats.processes_scanned},
        {"bytes_compared", a.stats.bytes_compared},
        {"violations", a.stats.violations},
        {"scanner_cpu_ms_per_period",
         a.stats.periods ? std::chrono::duration<double, std::milli>(a.stats.cpu_time).count() /
                               static_cast<double>(a.stats.periods)
                         : 0.0},
    };
  }
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--worker-cpu") == 0) return CpuWorker(std::atol(argv[2]));
  if (argc == 3 && std::strcmp(argv[1], "--worker-exec") == 0) return ExecWorker(std::atol(argv[2]));
  int rounds = 5;
  long cpu_iters = 1000;
  long exec_iters = 2000;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--idle" || flag == "--root-only") {
      (flag == "--idle" ? g_idle : g_root_only) = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "pims_bench: %s needs a value\n", argv[i]);
      return 2;
    }
    if (flag == "--rounds")
      rounds = std::atoi(argv[i + 1]);
    else if (flag == "--cpu-iters")
      cpu_iters = std::atol(argv[i + 1]);
    else if (flag == "--exec-iters")
      exec_iters = std::atol(argv[i + 1]);
    else {
      std::fprintf(
          stderr, "usage: pims_bench [--rounds R] [--cpu-iters N] [--exec-iters M] [--idle] [--root-only]\n");
      return 2;
    }
  }
  if (rounds < 1 || cpu_iters < 1 || exec_iters < 1) {
    std::fprintf(stderr, "pims_bench: --rounds, --cpu-iters and --exec-iters must be positive\n");
    return 2;
  }
  nlohmann::json out;
  out["cpu_bound"] = Measure("--worker-cpu", cpu_iters, rounds);
  out["fork_exec"] = Measure("--worker-exec", exec_iters, rounds);
  out["nproc"] = ::sysconf(_SC_NPROCESSORS_ONLN);
  out["scanned"] = g_root_only ? "workload process only" : "workload process and its children";
  out["scanner_priority"] = g_idle ? "SCHED_IDLE" : "nice +10";
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
