// BlockStore: where blocks live. Backends (SQLite, etcd) store
// and return bytes; they are not trusted. Readers verify everything
// themselves (verify.h), so a backend never needs to check a signature.
//
// Append is compare-and-swap: a block is appended only when its height is
// the next free one and its previous hash equals the stored head's hash; a
// concurrent publisher that lost the race gets kConflict and retries on
// the new head. An etcd backend maps this onto one transaction comparing
// the head key's revision; SQLite onto one IMMEDIATE transaction. A block is
// stored whole or not at all.
//
// Thread safety: one BlockStore object per thread; several objects (in
// several processes) may share one store.
#ifndef IMMUNE_CHAIN_STORE_H_
#define IMMUNE_CHAIN_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "immune/chain/block.h"
#include "immune/chain/hash.h"
#include "immune/core/error.h"

namespace immune::chain {

struct ChainHead {
  std::uint64_t height = 0;
  Hash256 hash{};  // BlockHash of the block at `height`
  bool operator==(const ChainHead&) const = default;
};

enum class AppendOutcome { kAppended, kConflict };

class BlockStore {
 public:
  virtual ~BlockStore() = default;

  // Stores the trust configuration (TRUST.json text) of a new, empty store.
  // InvalidArgument if the store already has one.
  virtual Status Initialize(std::string_view trust_json) = 0;
  // The stored trust configuration text; NotFound for an uninitialised store.
  virtual Result<std::string> ReadTrustConfig() = 0;

  // The highest stored block as the store records it (not verified);
  // nullopt when there are no blocks.
  virtual Result<std::optional<ChainHead>> Head() = 0;

  // Appends `block` (whose hash is `hash`) if the compare-and-swap holds.
  virtual Result<AppendOutcome> Append(const Block& block, const Hash256& hash) = 0;

  // The block stored at `height`, decoded for shape only; NotFound when
  // there is none, Corruption when its stored bytes do not decode.
  virtual Result<Block> Read(std::uint64_t height) = 0;

  // The stored header bytes' count of blocks (for progress and listings).
  virtual Result<std::uint64_t> BlockCount() = 0;
};

// Opens a store by location: "sqlite:PATH" or a bare PATH (SQLite), or
// "etcd:URL[,URL...][?prefix=/p&timeout_ms=N&stale_reads=0|1]" (etcd_store.h).
// `create` allows creating a new file / an uninitialised etcd prefix.
Result<std::unique_ptr<BlockStore>> OpenStore(std::string_view location, bool create);

// The default location: $IMMUNE_CHAIN_STORE, else "sqlite:./immune-chain.db".
std::string DefaultStoreLocation();

}  // namespace immune::chain

#endif  // IMMUNE_CHAIN_STORE_H_
