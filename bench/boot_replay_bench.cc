// Parse + replay throughput for every event log in shared/testdata, one
// benchmark per log, registered at run time. Reports bytes/s of log input.
//
// The testdata dir is IMMUNE_TESTDATA_DIR (compile definition), overridden
// by the environment variable of the same name.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "immune/boot/event_data.h"
#include "immune/boot/event_log.h"
#include "immune/boot/replay.h"
#include "immune/core/file.h"

#ifndef IMMUNE_TESTDATA_DIR
#define IMMUNE_TESTDATA_DIR "../shared/testdata"
#endif

namespace {

namespace fs = std::filesystem;

std::string TestdataDir() {
  if (const char* env = std::getenv("IMMUNE_TESTDATA_DIR"); env != nullptr && *env != '\0') return env;
  return IMMUNE_TESTDATA_DIR;
}

bool IsEventLog(const fs::path& p) {
  const std::string name = p.filename().string();
  if (name.ends_with(".bin")) return true;
  return name.starts_with("binary_bios_measurements") && !name.ends_with("-bogus") &&
         !name.ends_with(".json");
}

void ParseAndReplay(benchmark::State& state, std::shared_ptr<const immune::Bytes> bytes) {
  for (auto _ : state) {
    auto log = immune::boot::ParseEventLog(*bytes);
    if (!log.ok()) {
      state.SkipWithError(log.error().ToString().c_str());
      return;
    }
    auto pcrs = immune::boot::ReplayEventLog(*log);
    if (!pcrs.ok()) {
      state.SkipWithError(pcrs.error().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(pcrs);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(bytes->size()));
}

void ParseOnly(benchmark::State& state, std::shared_ptr<const immune::Bytes> bytes) {
  for (auto _ : state) {
    auto log = immune::boot::ParseEventLog(*bytes);
    benchmark::DoNotOptimize(log);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(bytes->size()));
}

void ParseAndJson(benchmark::State& state, std::shared_ptr<const immune::Bytes> bytes) {
  for (auto _ : state) {
    auto log = immune::boot::ParseEventLog(*bytes);
    if (!log.ok()) {
      state.SkipWithError(log.error().ToString().c_str());
      return;
    }
    std::size_t total = 0;
    for (const auto& ev : log->events) total += immune::boot::EventToJson(ev).dump().size();
    benchmark::DoNotOptimize(total);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(bytes->size()));
}

int RegisterAll() {
  const fs::path root = fs::path(TestdataDir()) / "eventlogs";
  std::vector<fs::path> logs;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file() && IsEventLog(it->path())) logs.push_back(it->path());
  }
  std::sort(logs.begin(), logs.end());
  for (const fs::path& p : logs) {
    auto bytes = immune::ReadFile(p.string());
    if (!bytes.ok()) continue;
    auto shared = std::make_shared<const immune::Bytes>(std::move(bytes).value());
    const std::string name = fs::relative(p, root).string();
    benchmark::RegisterBenchmark(("BM_ParseReplay/" + name).c_str(), ParseAndReplay, shared);
    benchmark::RegisterBenchmark(("BM_Parse/" + name).c_str(), ParseOnly, shared);
    benchmark::RegisterBenchmark(("BM_ParseJson/" + name).c_str(), ParseAndJson, shared);
  }
  return static_cast<int>(logs.size());
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (RegisterAll() == 0) {
    std::fprintf(stderr, "no event logs found under %s/eventlogs\n", TestdataDir().c_str());
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
