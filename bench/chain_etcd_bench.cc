// Appends per second through a 3-member etcd cluster on loopback (the etcd
// backend, etcd_store.h): each iteration publishes one block (prepare on
// the head, sign with one Ed25519 key, verify as a publisher, one etcd
// transaction) through PublishRecords. Arg: records per block. The cluster
// is started once per run (etcd from $IMMUNE_ETCD or /usr/bin/etcd, data in
// $TMPDIR or /tmp) and stopped by PID at exit.
#include <benchmark/benchmark.h>

#include <memory>

#include "etcd_test_cluster.h"
#include "immune/chain/publish.h"
#include "immune/chain/store.h"
#include "immune/chain/verify.h"

namespace immune::chain {
namespace {

struct Setup {
  PrivateKey key = *PrivateKey::Generate(KeyType::kEd25519);
  TrustConfig trust = *TrustConfig::Make({{"bench", key.public_key()}}, 1);
  std::unique_ptr<testing::EtcdTestCluster> cluster;
  std::unique_ptr<BlockStore> store;
  std::string error;
  Setup() {
    auto c = testing::EtcdTestCluster::Start(3);
    if (!c.ok()) {
      error = c.error().ToString();
      return;
    }
    cluster = std::move(c).value();
    auto s = OpenStore(cluster->Location(5000), /*create=*/true);
    if (!s.ok() || !(*s)->Initialize(trust.ToJson()).ok()) {
      error = s.ok() ? "initialising failed" : s.error().ToString();
      return;
    }
    store = std::move(s).value();
  }
};

Setup& S() {
  static Setup s;
  return s;
}

std::vector<Record> Baselines(int first, int count) {
  std::vector<Record> out;
  for (int i = first; i < first + count; ++i) {
    FileBaseline b;
    b.image = "bench";
    b.path = "/usr/bin/t" + std::to_string(i);
    b.digest.alg = HashAlg::kSha256;
    b.digest.value.assign(32, static_cast<std::uint8_t>(i));
    b.digest.value[0] = static_cast<std::uint8_t>(i >> 8);
    out.emplace_back(std::move(b));
  }
  return out;
}

void BM_EtcdAppend(benchmark::State& state) {
  Setup& s = S();
  if (!s.error.empty()) {
    state.SkipWithError(s.error.c_str());
    return;
  }
  const int per_block = static_cast<int>(state.range(0));
  const std::vector<Record> records = Baselines(0, per_block);
  std::uint64_t t = 1;
  for (auto _ : state) {
    auto h = PublishRecords(*s.store, s.trust, records, {s.key}, t++);
    if (!h.ok()) {
      state.SkipWithError(h.error().ToString().c_str());
      return;
    }
  }
  state.SetItemsProcessed(state.iterations());  // blocks appended
  state.counters["records/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * per_block), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EtcdAppend)->Arg(1)->Arg(100)->Arg(1000)->UseRealTime()->MinTime(3.0);

// Full verification of what the appends stored (linearizable reads).
void BM_EtcdVerify(benchmark::State& state) {
  Setup& s = S();
  if (!s.error.empty() || s.store == nullptr) {
    state.SkipWithError(s.error.c_str());
    return;
  }
  std::uint64_t blocks = 0;
  for (auto _ : state) {
    auto r = VerifyChain(*s.store, s.trust);
    if (!r.ok() || !r->ok()) {
      state.SkipWithError("verification failed");
      return;
    }
    blocks += r->blocks;
  }
  state.counters["blocks/s"] = benchmark::Counter(static_cast<double>(blocks), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EtcdVerify)->UseRealTime()->Iterations(1);

}  // namespace
}  // namespace immune::chain

BENCHMARK_MAIN();
