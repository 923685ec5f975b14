// Throughput and memory of immuned's measurement path, in process, against
// the daemon's embedded swtpm (a real software TPM, no mock):
//   BM_NewFiles       each measurement is a file not seen before: hashed
//                     through the measure-once cache, submitted in batches of
//                     256 (journal append + fsync + one TPM extend per batch,
//                     as the writer does);
//   BM_RepeatedFiles  the same files again: measure-once cache hits, which an
//                     agent does not submit again;
//   BM_Rss100k        the process's VmRSS before and after 100,000 small files
//                     are measured once through the cache and journaled
//                     (journal:1), or only measured through the cache
//                     (journal:0). Run one benchmark per process for a clean
//                     RSS (--benchmark_filter=BM_Rss100k/journal:1): freed
//                     heap is not given back between benchmarks.
// Run: build/release/bench/tsb_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "immune/core/log.h"
#include "immune/tsbd/daemon.h"

namespace {

using immune::tsbd::Daemon;
using immune::tsbd::DaemonConfig;

constexpr std::size_t kBatch = 256;

class TempDir {
 public:
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "tsb_bench.XXXXXX").string();
    if (::mkdtemp(t.data()) == nullptr) std::abort();
    path_ = t;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// `n` files of `size` bytes (distinct contents) in dir/files; older than the
// measure-once racy window when this returns.
std::vector<std::string> MakeFiles(const std::string& dir, std::size_t n, std::size_t size) {
  std::filesystem::create_directories(dir);
  std::vector<std::string> files;
  files.reserve(n);
  std::string body(size, 'x');
  for (std::size_t i = 0; i < n; ++i) {
    files.push_back(dir + "/f" + std::to_string(i));
    std::ofstream(files.back(), std::ios::binary) << body << i;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  return files;
}

std::unique_ptr<Daemon> StartDaemon(const std::string& state_dir, benchmark::State& state) {
  DaemonConfig cfg;
  cfg.state_dir = state_dir;
  cfg.tcti = "embedded";
  auto d = Daemon::Start(cfg);
  if (!d.ok()) {
    state.SkipWithError(("immuned: " + d.error().ToString()).c_str());
    return nullptr;
  }
  return std::move(d).value();
}

// Measures `files` through the daemon's cache and submits the misses in
// batches of kBatch, as an in-process agent does. Returns (misses, hits).
std::pair<std::size_t, std::size_t> Pass(Daemon& d, const std::vector<std::string>& files, std::size_t from,
                                         std::size_t to, benchmark::State& state) {
  std::vector<immune::tsb::MeasurementEntry> batch;
  std::size_t misses = 0, hits = 0;
  auto flush = [&] {
    if (batch.empty()) return;
    auto r = d.Submit("bench", std::move(batch));
    if (!r.ok()) state.SkipWithError(r.error().ToString().c_str());
    batch.clear();
  };
  for (std::size_t i = from; i < to; ++i) {
    auto m = d.MeasureFile(files[i]);
    if (!m.ok()) {
      state.SkipWithError(m.error().ToString().c_str());
      return {misses, hits};
    }
    if (m->hit) {
      ++hits;
      continue;
    }
    ++misses;
    immune::tsb::MeasurementEntry e;
    e.path = files[i];
    e.file_digest = m->digest;
    e.file_hash_alg = m->alg;
    batch.push_back(std::move(e));
    if (batch.size() == kBatch) flush();
  }
  flush();
  return {misses, hits};
}

long VmRssKiB() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

double LoadAverage() {
  double l = -1;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &l) != 1) l = -1;
    std::fclose(f);
  }
  return l;
}

// Each iteration: kBatch new 4 KiB files, measured and journaled + extended.
void BM_NewFiles(benchmark::State& state) {
  TempDir tmp;
  const std::size_t n = static_cast<std::size_t>(state.max_iterations) * kBatch;
  const auto files = MakeFiles(tmp.path() + "/files", n, 4096);
  auto d = StartDaemon(tmp.path() + "/state", state);
  if (!d) return;
  std::size_t at = 0, measured = 0;
  for (auto _ : state) {
    auto [misses, hits] = Pass(*d, files, at, at + kBatch, state);
    at += kBatch;
    measured += misses;
    if (hits != 0) state.SkipWithError("a new file was a cache hit");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(measured));
  state.counters["measurements_per_s"] =
      benchmark::Counter(static_cast<double>(measured), benchmark::Counter::kIsRate);
  state.counters["loadavg_1m"] = LoadAverage();
  d->Stop();
}
BENCHMARK(BM_NewFiles)->Iterations(40)->Unit(benchmark::kMillisecond)->UseRealTime();

// Each iteration: kBatch files measured before, all cache hits (nothing submitted).
void BM_RepeatedFiles(benchmark::State& state) {
  TempDir tmp;
  const std::size_t n = 10 * kBatch;
  const auto files = MakeFiles(tmp.path() + "/files", n, 4096);
  auto d = StartDaemon(tmp.path() + "/state", state);
  if (!d) return;
  Pass(*d, files, 0, n, state);  // warm the cache
  std::size_t at = 0, measured = 0;
  for (auto _ : state) {
    auto [misses, hits] = Pass(*d, files, at, at + kBatch, state);
    at = (at + kBatch) % n;
    measured += hits;
    if (misses != 0) state.SkipWithError("a repeated file missed the cache");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(measured));
  state.counters["measurements_per_s"] =
      benchmark::Counter(static_cast<double>(measured), benchmark::Counter::kIsRate);
  state.counters["loadavg_1m"] = LoadAverage();
  d->Stop();
}
BENCHMARK(BM_RepeatedFiles)->Unit(benchmark::kMicrosecond)->UseRealTime();

// 100,000 small files, each measured once through the cache and journaled.
void BM_Rss100k(benchmark::State& state) {
  constexpr std::size_t kFiles = 100000;
  TempDir tmp;
  const auto files = MakeFiles(tmp.path() + "/files", kFiles, 64);
  auto d = StartDaemon(tmp.path() + "/state", state);
  if (!d) return;
  const long before = VmRssKiB();
  std::size_t misses = 0;
  const bool journal = state.range(0) != 0;
  for (auto _ : state) {
    if (journal) {
      misses = Pass(*d, files, 0, kFiles, state).first;
    } else {
      for (const auto& f : files) {
        auto m = d->MeasureFile(f);
        if (m.ok() && !m->hit) ++misses;
      }
    }
  }
  const long after = VmRssKiB();
  if (misses != kFiles) state.SkipWithError("not every file was new");
  state.counters["files"] = static_cast<double>(kFiles);
  state.counters["rss_before_MiB"] = before / 1024.0;
  state.counters["rss_after_MiB"] = after / 1024.0;
  state.counters["rss_delta_MiB"] = (after - before) / 1024.0;
  state.counters["rss_bytes_per_file"] = (after - before) * 1024.0 / kFiles;
  state.counters["measurements_per_s"] =
      benchmark::Counter(static_cast<double>(kFiles), benchmark::Counter::kIsRate);
  state.counters["loadavg_1m"] = LoadAverage();
  d->Stop();
}
// journal=1: measured and journaled (the daemon's whole path); journal=0:
// measured through the cache only (the cache's share of the memory).
BENCHMARK(BM_Rss100k)
    ->ArgName("journal")
    ->Arg(1)
    ->Arg(0)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  immune::SetLogLevel(immune::LogLevel::kWarning);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("cores", std::to_string(std::thread::hardware_concurrency()));
  benchmark::AddCustomContext("loadavg_1m_at_start", std::to_string(LoadAverage()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
