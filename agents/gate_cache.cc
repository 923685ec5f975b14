#include "gate_cache.h"

namespace immune::agents {

std::size_t DecisionKeyHash::operator()(const DecisionKey& k) const noexcept {
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

}  // namespace immune::agents
