// The baseline ledger's speed: records published per second into SQLite,
// full verification of a 1,000,000-record chain, and baseline look-up by
// digest. Targets (the issue): >= 100,000 records/s published embedded,
// 1,000,000 records verified in < 3 s on one core, look-up < 10 us.
//
// The 1,000,000-record chain is generated once per run in $TMPDIR (blocks of
// 1,000 records, one Ed25519 signature each) and removed at exit.
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "immune/chain/index.h"
#include "immune/chain/merkle.h"
#include "immune/chain/publish.h"
#include "immune/chain/sqlite_store.h"
#include "immune/chain/verify.h"

namespace immune::chain {
namespace {

struct Setup {
  PrivateKey key = *PrivateKey::Generate(KeyType::kEd25519);
  TrustConfig trust = *TrustConfig::Make({{"bench", key.public_key()}}, 1);
  std::string dir;
  Setup() {
    const char* tmp = std::getenv("TMPDIR");
    std::string t = std::string(tmp != nullptr ? tmp : "/tmp") + "/chain-bench-XXXXXX";
    dir = ::mkdtemp(t.data());
  }
  ~Setup() { std::filesystem::remove_all(dir); }
};

Setup& S() {
  static Setup s;
  return s;
}

FileBaseline Baseline(std::uint64_t i) {
  FileBaseline f;
  f.image = "node-image-" + std::to_string(i % 16);
  f.path = "/usr/lib/x86_64-linux-gnu/lib" + std::to_string(i) + ".so";
  const Hash256 d = Sha256(AsBytes(std::to_string(i)));
  f.digest = {HashAlg::kSha256, Bytes(d.begin(), d.end())};
  return f;
}

std::vector<Record> Batch(std::uint64_t first, std::uint64_t n) {
  std::vector<Record> out;
  out.reserve(n);
  for (std::uint64_t i = first; i < first + n; ++i) out.emplace_back(Baseline(i));
  return out;
}

std::unique_ptr<BlockStore> NewStore(const std::string& name, bool sync_full) {
  const std::string path = S().dir + "/" + name;
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  SqliteOptions o;
  o.create = true;
  o.synchronous_full = sync_full;
  auto s = std::move(OpenSqliteStore(path, o)).value();
  (void)s->Initialize(S().trust.ToJson());
  return s;
}

// One block of range(0) records per iteration, signed and appended (one
// transaction each); record construction is outside the timing.
void BM_Publish(benchmark::State& state) {
  const auto per_block = static_cast<std::uint64_t>(state.range(0));
  const bool sync_full = state.range(1) != 0;
  auto store = NewStore("publish.db", sync_full);
  std::uint64_t next = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto records = Batch(next, per_block);
    next += per_block;
    state.ResumeTiming();
    auto h = PublishRecords(*store, S().trust, records, {S().key}, NowMs());
    if (!h.ok()) state.SkipWithError(h.error().ToString().c_str());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(next));
  state.SetLabel(sync_full ? "synchronous=FULL" : "synchronous=NORMAL");
}
BENCHMARK(BM_Publish)
    ->Args({1000, 1})
    ->Args({10000, 1})
    ->Args({1000, 0})
    ->Args({10000, 0})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0)
    ->UseRealTime();

constexpr std::uint64_t kChainRecords = 1'000'000;
constexpr std::uint64_t kBlockSize = 1000;

BlockStore& MillionChain() {
  static std::unique_ptr<BlockStore> store = [] {
    auto s = NewStore("million.db", /*sync_full=*/false);
    for (std::uint64_t b = 0; b < kChainRecords / kBlockSize; ++b) {
      auto h = PublishRecords(*s, S().trust, Batch(b * kBlockSize, kBlockSize), {S().key}, 1);
      if (!h.ok()) std::fprintf(stderr, "setup: %s\n", h.error().ToString().c_str());
    }
    return s;
  }();
  return *store;
}

void BM_VerifyMillionRecords(benchmark::State& state) {
  BlockStore& store = MillionChain();
  const bool with_index = state.range(0) != 0;
  for (auto _ : state) {
    BaselineIndex index;
    VerifyOptions o;
    if (with_index) o.index = &index;
    auto r = VerifyChain(store, S().trust, o);
    if (!r.ok() || !r->ok() || r->records != kChainRecords) state.SkipWithError("verification failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kChainRecords));
  state.SetLabel(with_index ? "with index build" : "links, signatures, records, Merkle roots");
}
BENCHMARK(BM_VerifyMillionRecords)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->UseRealTime();

const BaselineIndex& MillionIndex() {
  static BaselineIndex index = [] {
    BaselineIndex i;
    VerifyOptions o;
    o.index = &i;
    (void)VerifyChain(MillionChain(), S().trust, o);
    return i;
  }();
  return index;
}

void BM_LookupByDigest(benchmark::State& state) {
  const BaselineIndex& index = MillionIndex();
  std::vector<Hash256> probes;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 4096; ++i) probes.push_back(Sha256(AsBytes(std::to_string(rng() % kChainRecords))));
  std::size_t k = 0, found = 0;
  for (auto _ : state) {
    found += index.CountByDigest(probes[k++ & 4095], HashAlg::kSha256);
  }
  if (found != static_cast<std::size_t>(state.iterations())) state.SkipWithError("a probe was not found");
}
BENCHMARK(BM_LookupByDigest);

void BM_LookupByDigestWithResult(benchmark::State& state) {
  const BaselineIndex& index = MillionIndex();
  std::vector<TaggedDigest> probes;
  std::mt19937_64 rng(9);
  for (int i = 0; i < 4096; ++i) {
    const Hash256 d = Sha256(AsBytes(std::to_string(rng() % kChainRecords)));
    probes.push_back({HashAlg::kSha256, Bytes(d.begin(), d.end())});
  }
  std::size_t k = 0;
  for (auto _ : state) {
    auto hits = index.FindByDigest(probes[k++ & 4095]);
    benchmark::DoNotOptimize(hits);
  }
}
BENCHMARK(BM_LookupByDigestWithResult);

}  // namespace
}  // namespace immune::chain

BENCHMARK_MAIN();
