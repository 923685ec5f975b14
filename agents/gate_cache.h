// The gate's decision cache: (scope, dev, ino) -> (file version, policy
// generation, answer). The hot path of the gate: a hit answers an exec
// without hashing or asking the Decider. Sharded, each shard behind a
// reader-writer lock, so concurrent lookups on different files do not
// contend and a lookup never allocates.
//
// Bounded: a shard that reaches its capacity is emptied before the next
// insert (a crude but allocation-free-on-lookup eviction; a miss only costs a
// re-measurement).
//
// Thread safety: every method may be called from any thread.
#ifndef IMMUNE_AGENTS_GATE_CACHE_H_
#define IMMUNE_AGENTS_GATE_CACHE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <unordered_map>

#include "immune/tsb/measure_once.h"

namespace immune::agents {

struct DecisionKey {
  std::uint64_t scope = 0;
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  bool operator==(const DecisionKey&) const = default;
};

class DecisionCache {
 public:
  explicit DecisionCache(std::size_t capacity = 65536);

  // The cached answer when the entry's version and generation equal these.
  std::optional<bool> Lookup(const DecisionKey& key, const tsb::FileVersion& version,
                             std::uint64_t generation) const;
  void Store(const DecisionKey& key, const tsb::FileVersion& version, std::uint64_t generation, bool allow);
  void Clear();
  std::size_t size() const;

 private:
  struct KeyHash {
    std::size_t operator()(const DecisionKey& k) const noexcept;
  };
  struct Entry {
    tsb::FileVersion version;
    std::uint64_t generation = 0;
    bool allow = false;
  };
  struct Shard {
    mutable std::shared_mutex mu;
    std::unordered_map<DecisionKey, Entry, KeyHash> map;
  };
  static constexpr std::size_t kShards = 32;

  Shard& ShardFor(const DecisionKey& key) const;

  std::size_t per_shard_capacity_;
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_GATE_CACHE_H_
