// The gate's caches, keyed by (scope, dev, ino) and valid for one file
// version (and one policy generation):
//   DecisionCache  (scope, dev, ino) -> the answer. The hot path of the gate:
//                  a hit answers an exec without hashing or asking the Decider.
//   ContentCache   (0, dev, ino) -> what the file is (ELF, script, other), so
//                  an open of a file already seen needs no read of its first
//                  bytes (an exec's FAN_OPEN_PERM right after its
//                  FAN_OPEN_EXEC_PERM, a library every program loads).
// Sharded, each shard behind a reader-writer lock, so concurrent lookups on
// different files do not contend and a lookup never allocates.
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
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <unordered_map>

#include "gate_classify.h"
#include "immune/tsb/measure_once.h"

namespace immune::agents {

struct DecisionKey {
  std::uint64_t scope = 0;
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  bool operator==(const DecisionKey&) const = default;
};

struct DecisionKeyHash {
  std::size_t operator()(const DecisionKey& k) const noexcept;
};

template <typename Value>
class VersionedCache {
 public:
  explicit VersionedCache(std::size_t capacity = 65536)
      : per_shard_capacity_(capacity / kShards == 0 ? 1 : capacity / kShards) {}

  // The cached value when the entry's version and generation equal these.
  std::optional<Value> Lookup(const DecisionKey& key, const tsb::FileVersion& version,
                              std::uint64_t generation) const {
    Shard& s = ShardFor(key);
    std::shared_lock lock(s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end() || it->second.generation != generation || !(it->second.version == version))
      return std::nullopt;
    return it->second.value;
  }

  void Store(const DecisionKey& key, const tsb::FileVersion& version, std::uint64_t generation, Value value) {
    Shard& s = ShardFor(key);
    std::unique_lock lock(s.mu);
    if (s.map.size() >= per_shard_capacity_ && s.map.find(key) == s.map.end()) s.map.clear();
    s.map.insert_or_assign(key, Entry{version, generation, value});
  }

  void Clear() {
    for (Shard& s : shards_) {
      std::unique_lock lock(s.mu);
      s.map.clear();
    }
  }

  std::size_t size() const {
    std::size_t n = 0;
    for (Shard& s : shards_) {
      std::shared_lock lock(s.mu);
      n += s.map.size();
    }
    return n;
  }

 private:
  struct Entry {
    tsb::FileVersion version;
    std::uint64_t generation = 0;
    Value value{};
  };
  struct Shard {
    mutable std::shared_mutex mu;
    std::unordered_map<DecisionKey, Entry, DecisionKeyHash> map;
  };
  static constexpr std::size_t kShards = 32;

  Shard& ShardFor(const DecisionKey& key) const { return shards_[(DecisionKeyHash{}(key) >> 7) % kShards]; }

  std::size_t per_shard_capacity_;
  mutable std::array<Shard, kShards> shards_;
};

using DecisionCache = VersionedCache<bool>;
using ContentCache = VersionedCache<Content>;

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_GATE_CACHE_H_
