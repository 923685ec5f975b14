// The exec gate's in-process costs (bench/exec_gate_bench.sh runs it next to
// the whole-exec comparison):
//  - DecisionCacheHit: one lookup in the gate's decision cache;
//  - CachedDecision: everything the gate does in the daemon for an exec it
//    has decided before: fstat of the event fd, the subject's container
//    (ContainerMap::Lookup: the pid namespace), the policy generation
//    (pinning the snapshot) and the cache lookup;
//  - ColdMeasurement: hashing a file the first time (MeasureCache through the
//    fd, SHA-256), in bytes per second, against `openssl speed sha256`.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

void CachedDecision(benchmark::State& state) {
  const int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  DecisionCache cache;
  ContainerMap containers;
  auto docs = immune::policy::ParseDocuments("apiVersion: immune/v1\nkind: Policy\nscope: host\n", "bench.yaml");
  immune::policy::PolicyStore store(*immune::policy::Compile(std::move(docs).value()));
  const FileVersion v0 = VersionOf(fd);
  cache.Store(DecisionKey{0, v0.dev, v0.ino}, v0, store.Current()->generation(), true);
  const pid_t self = ::getpid();
  for (auto _ : state) {
    const FileVersion v = VersionOf(fd);
    auto ct = containers.Lookup(self);
    const std::uint64_t scope = ct.ok() && *ct ? 1 : 0;
    const std::uint64_t gen = store.Current()->generation();
    auto hit = cache.Lookup(DecisionKey{scope, v.dev, v.ino}, v, gen);
    if (!hit || !*hit) state.SkipWithError("not a cache hit");
    benchmark::DoNotOptimize(hit);
  }
  ::close(fd);
}
BENCHMARK(CachedDecision);

// The same on a node with containers registered: the subject's pid namespace
// is read from /proc (stat of /proc/PID/ns/pid) and its pidfd checked.
void CachedDecisionContainerNode(benchmark::State& state) {
  const int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  DecisionCache cache;
  auto docs = immune::policy::ParseDocuments("apiVersion: immune/v1\nkind: Policy\nscope: host\n", "bench.yaml");
  immune::policy::PolicyStore store(*immune::policy::Compile(std::move(docs).value()));
  const FileVersion v0 = VersionOf(fd);
  cache.Store(DecisionKey{0, v0.dev, v0.ino}, v0, store.Current()->generation(), true);
  const std::string ns = "/proc/" + std::to_string(::getpid()) + "/ns/pid";
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0));
  for (auto _ : state) {
    const FileVersion v = VersionOf(fd);
    struct stat st {};
    ::stat(ns.c_str(), &st);
    ::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0);
    const std::uint64_t gen = store.Current()->generation();
    auto hit = cache.Lookup(DecisionKey{0, v.dev, v.ino}, v, gen);
    if (!hit || !*hit) state.SkipWithError("not a cache hit");
    benchmark::DoNotOptimize(hit);
  }
  ::close(pidfd);
  ::close(fd);
}
BENCHMARK(CachedDecisionContainerNode);

void ColdMeasurement(benchmark::State& state) {
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
  immune::tsb::MeasureCache cache;
  std::uint64_t bytes = 0;
  for (auto _ : state) {
    cache.Clear();
    auto m = cache.MeasureFile(fd);
    if (!m.ok()) state.SkipWithError("measure failed");
    bytes += m->version.size;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  ::close(fd);
}
BENCHMARK(ColdMeasurement)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
