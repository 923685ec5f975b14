// Publishing: turning records into a block on the head, signing it by K of
// the N publishers (in one process, or one signer at a time with the
// signatures gathered later), and appending it with compare-and-swap.
//
// Thread safety: functions; the store is used by the calling thread only.
#ifndef IMMUNE_CHAIN_PUBLISH_H_
#define IMMUNE_CHAIN_PUBLISH_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "immune/chain/block.h"
#include "immune/chain/keys.h"
#include "immune/chain/record.h"
#include "immune/chain/store.h"
#include "immune/chain/trust.h"

namespace immune::chain {

// An unsigned block at head+1 (height 0 on an empty chain) holding
// `records` (canonical bytes), with their Merkle root. InvalidArgument when
// there are no records or too many, or a record is invalid.
Result<Block> PrepareBlock(const std::optional<ChainHead>& head, const std::vector<Record>& records,
                           const TrustConfig& trust, std::uint64_t time_ms);
// The same from records already encoded (trusted: the caller encoded them).
Block PrepareEncodedBlock(const std::optional<ChainHead>& head, std::vector<Bytes> records,
                          const TrustConfig& trust, std::uint64_t time_ms);

// A signature by `key` over `header`.
Result<BlockSignature> SignHeader(const BlockHeader& header, const PrivateKey& key);

// Checks `block` as a verifier would (VerifyBlock at head+1) and appends it.
// A lost compare-and-swap is an Aborted error ("the head moved"); the
// caller prepares again on the new head.
Result<ChainHead> SubmitBlock(BlockStore& store, const TrustConfig& trust, const Block& block);

// The one-process path: prepare on the store's head, sign with every key,
// submit. Retries up to `attempts` times when another publisher wins.
Result<ChainHead> PublishRecords(BlockStore& store, const TrustConfig& trust,
                                 const std::vector<Record>& records, const std::vector<PrivateKey>& keys,
                                 std::uint64_t time_ms, int attempts = 3);

// Milliseconds since the Unix epoch.
std::uint64_t NowMs();

}  // namespace immune::chain

#endif  // IMMUNE_CHAIN_PUBLISH_H_
