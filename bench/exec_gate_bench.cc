// The exec gate's in-process costs (bench/exec_gate_bench.sh runs it next to
// the whole-exec comparison):
//  - DecisionCacheHit: one lookup in the gate's decision cache;
//  - CachedDecision: everything the gate does in the daemon for an exec it
//    has decided before: fstat of the event fd, the subject's container
//    (ContainerMap::Lookup with the event's pidfd), the policy generation
//    and the cache lookup; CachedDecisionContainerNode: the same with a
//    container registered (a process's second event on);
//  - ColdMeasurement: hashing a file the first time (MeasureCache through the
//    fd, SHA-256) as the daemon does it (a large file through mappings), in
//    bytes per second, against `openssl speed sha256`; ColdMeasurementPread:
//    the same read with pread into the 256 KiB buffer only, for comparison.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "gate_cache.h"
#include "immune/agents/container_map.h"
#include "immune/policy/document.h"
#include "immune/policy/snapshot.h"
#include "immune/tsb/measure_once.h"

namespace {

using immune::agents::ContainerMap;
using immune::agents::DecisionCache;
using immune::agents::DecisionKey;
using immune::tsb::FileVersion;

FileVersion VersionOf(int fd) {
  struct stat st {};
  ::fstat(fd, &st);
  FileVersion v;
  v.dev = st.st_dev;
  v.ino = st.st_ino;
  v.size = static_cast<std::uint64_t>(st.st_size);
  v.mtime_ns = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
  v.ctime_ns = st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
  return v;
}

void DecisionCacheHit(benchmark::State& state) {
  DecisionCache cache;
  FileVersion v;
  for (std::uint64_t i = 0; i < 10000; ++i) {
    v.ino = i;
    cache.Store(DecisionKey{0, 1, i}, v, 1, true);
  }
  std::uint64_t i = 0;
  for (auto _ : state) {
    v.ino = i % 10000;
    auto hit = cache.Lookup(DecisionKey{0, 1, v.ino}, v, 1);
    benchmark::DoNotOptimize(hit);
    ++i;
  }
}
BENCHMARK(DecisionCacheHit);

// What the gate's reader does for a cached event: fstat the event's file,
// find the subject's scope (ContainerMap::Lookup with its pidfd, as the gate
// calls it), read the policy generation, look the decision up.
void RunCachedDecision(benchmark::State& state, ContainerMap& containers) {
  const int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0));
  DecisionCache cache;
  auto docs = immune::policy::ParseDocuments("apiVersion: immune/v1\nkind: Policy\nscope: host\n", "bench.yaml");
  immune::policy::PolicyStore store(*immune::policy::Compile(std::move(docs).value()));
  const FileVersion v0 = VersionOf(fd);
  cache.Store(DecisionKey{0, v0.dev, v0.ino}, v0, store.generation(), true);
  const pid_t self = ::getpid();
  for (auto _ : state) {
    const FileVersion v = VersionOf(fd);
    auto ct = containers.Lookup(self, pidfd);
    if (!ct.ok() || *ct) state.SkipWithError("the bench process is not the host's");
    auto hit = cache.Lookup(DecisionKey{0, v.dev, v.ino}, v, store.generation());
    if (!hit || !*hit) state.SkipWithError("not a cache hit");
    benchmark::DoNotOptimize(hit);
  }
  ::close(pidfd);
  ::close(fd);
}

void CachedDecision(benchmark::State& state) {
  ContainerMap containers;  // none registered: every process is the host's
  RunCachedDecision(state, containers);
}
BENCHMARK(CachedDecision);

// The same on a node with a container registered (its init a child in a new
// pid namespace): the subject is found by its pid namespace, then kept per
// process (pidfs inode of its pidfd), so a process's later events cost an
// fstat of the pidfd. Needs root (CLONE_NEWPID).
void CachedDecisionContainerNode(benchmark::State& state) {
  if (::unshare(CLONE_NEWPID) != 0) {
    state.SkipWithError("unshare(CLONE_NEWPID) failed (needs root)");
    return;
  }
  const pid_t init = ::fork();
  if (init == 0) {
    ::pause();
    ::_exit(0);
  }
  ContainerMap containers;
  immune::agents::ContainerInfo info;
  info.id = "bench";
  info.init_pid = init;
  if (!containers.Register(info).ok()) {
    state.SkipWithError("could not register the container");
  } else {
    RunCachedDecision(state, containers);
  }
  ::kill(init, SIGKILL);
  ::waitpid(init, nullptr, 0);
}
BENCHMARK(CachedDecisionContainerNode)->Iterations(200000);

void RunColdMeasurement(benchmark::State& state, immune::tsb::MeasureCache& cache) {
  const char* path = std::getenv("IMMUNE_BENCH_HASH_FILE");
  if (!path) {
    state.SkipWithError("set IMMUNE_BENCH_HASH_FILE to a large file (in the page cache)");
    return;
  }
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    state.SkipWithError("cannot open IMMUNE_BENCH_HASH_FILE");
    return;
  }
  std::uint64_t bytes = 0;
  for (auto _ : state) {
    cache.Clear();
    auto m = cache.MeasureFile(fd);
    if (!m.ok()) {
      state.SkipWithError(m.error().ToString().c_str());
      break;
    }
    bytes += m->version.size;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  ::close(fd);
}

// The daemon's configuration: the default MeasureCache.
void ColdMeasurement(benchmark::State& state) {
  immune::tsb::MeasureCache cache;
  RunColdMeasurement(state, cache);
}
BENCHMARK(ColdMeasurement)->Unit(benchmark::kMillisecond);

void ColdMeasurementPread(benchmark::State& state) {
  immune::tsb::MeasureCache cache(immune::HashAlg::kSha256, 256 * 1024, std::chrono::milliseconds(20),
                                  immune::tsb::MeasureCache::kNeverMap);
  RunColdMeasurement(state, cache);
}
BENCHMARK(ColdMeasurementPread)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
