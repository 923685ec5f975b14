// Verification of a stored chain: for every block, its position (height,
// link to the previous block's hash), the trust configuration digest, its
// K-of-N signatures, the canonical decoding of every record and the Merkle
// root over them. The first block that fails stops the walk and is named
// with, where it can be told, the record.
//
// Thread safety: functions; the store is used by the calling thread only.
#ifndef IMMUNE_CHAIN_VERIFY_H_
#define IMMUNE_CHAIN_VERIFY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "immune/chain/block.h"
#include "immune/chain/index.h"
#include "immune/chain/store.h"
#include "immune/chain/trust.h"

namespace immune::chain {

struct VerifyFailure {
  std::uint64_t height = 0;
  std::optional<std::uint32_t> record;  // when one record is to blame
  std::string reason;
  // "block 7, record 3: ..." / "block 7: ...".
  std::string ToString() const;
};

struct VerifyOptions {
  // First block to verify fully. Block from-1's header is checked (hash and
  // signatures) to anchor the link; blocks below are not read.
  std::uint64_t from = 0;
  // Consistency: the chain must hold exactly this block (a later chain
  // extends the pinned one). Verification starts at or below its height.
  std::optional<ChainHead> pinned;
  // Filled from blocks that verify, in order; marked broken at a failure.
  BaselineIndex* index = nullptr;
};

struct VerifyReport {
  std::uint64_t first_height = 0;
  std::uint64_t blocks = 0;       // fully verified
  std::uint64_t records = 0;      // in those blocks
  std::optional<ChainHead> head;  // the last verified block
  std::optional<VerifyFailure> failure;
  bool ok() const { return !failure.has_value(); }
};

// Checks `block`, expected at `height` after a block whose hash is `prev`.
// On success fills `leaves` (if given) with the records' leaf hashes and
// `records` (if given) with the decoded records.
std::optional<VerifyFailure> VerifyBlock(const Block& block, std::uint64_t height, const Hash256& prev,
                                         const TrustConfig& trust, std::vector<Hash256>* leaves = nullptr,
                                         std::vector<Record>* records = nullptr);

// Walks the store from options.from to its head. Chain faults are reported
// in VerifyReport::failure; the Result's error is for operational failures
// (the store cannot be read at all).
Result<VerifyReport> VerifyChain(BlockStore& store, const TrustConfig& trust,
                                 const VerifyOptions& options = {});

}  // namespace immune::chain

#endif  // IMMUNE_CHAIN_VERIFY_H_
