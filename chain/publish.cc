#include "immune/chain/publish.h"

#include <chrono>

#include "immune/chain/merkle.h"
#include "immune/chain/verify.h"

namespace immune::chain {

std::uint64_t NowMs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

Block PrepareEncodedBlock(const std::optional<ChainHead>& head, std::vector<Bytes> records,
                          const TrustConfig& trust, std::uint64_t time_ms) {
  Block b;
  b.header.height = head ? head->height + 1 : 0;
  b.header.prev_hash = head ? head->hash : Hash256{};
  b.header.time_ms = time_ms;
  b.header.trust_digest = trust.digest();
  b.header.record_count = static_cast<std::uint32_t>(records.size());
  std::vector<Hash256> leaves;
  leaves.reserve(records.size());
  for (const auto& r : records) leaves.push_back(LeafHash(r));
  b.header.merkle_root = MerkleRoot(leaves);
  b.records = std::move(records);
  return b;
}

Result<Block> PrepareBlock(const std::optional<ChainHead>& head, const std::vector<Record>& records,
                           const TrustConfig& trust, std::uint64_t time_ms) {
  if (records.empty()) return InvalidArgument("a block needs at least one record");
  if (records.size() > kMaxRecordsPerBlock)
    return InvalidArgument(std::to_string(records.size()) + " records: a block holds at most 1048576");
  std::vector<Bytes> enc;
  enc.reserve(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (Status s = ValidateRecord(records[i]); !s.ok())
      return s.error().WithContext("record " + std::to_string(i));
    enc.push_back(EncodeRecord(records[i]));
  }
  return PrepareEncodedBlock(head, std::move(enc), trust, time_ms);
}

Result<BlockSignature> SignHeader(const BlockHeader& header, const PrivateKey& key) {
  IMMUNE_ASSIGN_OR_RETURN(Bytes sig, key.Sign(SigningMessage(header)));
  return BlockSignature{key.public_key().id(), std::move(sig)};
}

Result<ChainHead> SubmitBlock(BlockStore& store, const TrustConfig& trust, const Block& block) {
  IMMUNE_ASSIGN_OR_RETURN(std::optional<ChainHead> head, store.Head());
  const std::uint64_t next = head ? head->height + 1 : 0;
  if (block.header.height != next || block.header.prev_hash != (head ? head->hash : Hash256{}))
    return Aborted("the head moved: the block is for height " + std::to_string(block.header.height) +
                       ", the chain's next height is " + std::to_string(next) + " (prepare and sign again)");
  if (auto f = VerifyBlock(block, next, block.header.prev_hash, trust))
    return InvalidArgument("refusing to publish: " + f->ToString());
  const Hash256 hash = BlockHash(block.header);
  IMMUNE_ASSIGN_OR_RETURN(AppendOutcome outcome, store.Append(block, hash));
  if (outcome == AppendOutcome::kConflict)
    return Aborted("the head moved while appending block " + std::to_string(block.header.height) +
                       " (another publisher won; prepare and sign again)");
  return ChainHead{block.header.height, hash};
}

Result<ChainHead> PublishRecords(BlockStore& store, const TrustConfig& trust,
                                 const std::vector<Record>& records, const std::vector<PrivateKey>& keys,
                                 std::uint64_t time_ms, int attempts) {
  for (int attempt = 1;; ++attempt) {
    IMMUNE_ASSIGN_OR_RETURN(std::optional<ChainHead> head, store.Head());
    IMMUNE_ASSIGN_OR_RETURN(Block block, PrepareBlock(head, records, trust, time_ms));
    for (const auto& k : keys) {
      IMMUNE_ASSIGN_OR_RETURN(BlockSignature s, SignHeader(block.header, k));
      block.signatures.push_back(std::move(s));
    }
    auto r = SubmitBlock(store, trust, block);
    // Only a lost race is retried: an unreachable store fails at once.
    if (r.ok() || r.error().code() != ErrorCode::kAborted || attempt >= attempts) return r;
  }
}

}  // namespace immune::chain
