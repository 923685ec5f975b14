#include "gate_cache.h"

#include <mutex>

namespace immune::agents {

std::size_t DecisionCache::KeyHash::operator()(const DecisionKey& k) const noexcept {
  // splitmix64-style mixing: inode numbers are dense, so the low bits of a
  // plain xor would put neighbours in neighbouring buckets and shards.
  auto mix = [](std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  };
  return static_cast<std::size_t>(mix(k.ino ^ mix(k.dev ^ mix(k.scope))));
}

DecisionCache::DecisionCache(std::size_t capacity)
    : per_shard_capacity_(capacity / kShards == 0 ? 1 : capacity / kShards) {}

DecisionCache::Shard& DecisionCache::ShardFor(const DecisionKey& key) const {
  return shards_[(KeyHash{}(key) >> 7) % kShards];
}

std::optional<bool> DecisionCache::Lookup(const DecisionKey& key, const tsb::FileVersion& version,
                                          std::uint64_t generation) const {
  Shard& s = ShardFor(key);
  std::shared_lock lock(s.mu);
  auto it = s.map.find(key);
  if (it == s.map.end() || it->second.generation != generation || !(it->second.version == version)) {
    return std::nullopt;
  }
  return it->second.allow;
}

void DecisionCache::Store(const DecisionKey& key, const tsb::FileVersion& version, std::uint64_t generation,
                          bool allow) {
  Shard& s = ShardFor(key);
  std::unique_lock lock(s.mu);
  if (s.map.size() >= per_shard_capacity_ && s.map.find(key) == s.map.end()) s.map.clear();
  s.map.insert_or_assign(key, Entry{version, generation, allow});
}

void DecisionCache::Clear() {
  for (Shard& s : shards_) {
    std::unique_lock lock(s.mu);
    s.map.clear();
  }
}

std::size_t DecisionCache::size() const {
  std::size_t n = 0;
  for (Shard& s : shards_) {
    std::shared_lock lock(s.mu);
    n += s.map.size();
  }
  return n;
}

}  // namespace immune::agents
