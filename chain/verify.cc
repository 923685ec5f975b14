#include "immune/chain/verify.h"

#include "immune/chain/merkle.h"

namespace immune::chain {

namespace {

VerifyFailure Fail(std::uint64_t height, std::string reason,
                   std::optional<std::uint32_t> record = std::nullopt) {
  return VerifyFailure{height, record, std::move(reason)};
}

// A store read error that is about the stored bytes (missing, undecodable)
// is a chain fault at that height; anything else is operational.
bool IsChainFault(const Error& e) {
  return e.code() == ErrorCode::kNotFound || e.code() == ErrorCode::kCorruption;
}

}  // namespace

std::string VerifyFailure::ToString() const {
  std::string s = "block " + std::to_string(height);
  if (record) s += ", record " + std::to_string(*record);
  return s + ": " + reason;
}

std::optional<VerifyFailure> VerifyBlock(const Block& block, std::uint64_t height, const Hash256& prev,
                                         const TrustConfig& trust, std::vector<Hash256>* leaves,
                                         std::vector<Record>* records) {
  const BlockHeader& h = block.header;
  if (h.height != height)
    return Fail(height, "header says height " + std::to_string(h.height) + " (a moved or swapped block)");
  if (h.prev_hash != prev)
    return Fail(height, "previous-block hash " + HashHex(h.prev_hash) + " is not the hash " + HashHex(prev) +
                            " of block " +
                            (height == 0 ? std::string("-1 (zero)") : std::to_string(height - 1)));
  if (h.trust_digest != trust.digest())
    return Fail(height, "signed under trust configuration " + HashHex(h.trust_digest) +
                            ", not the one in use (" + HashHex(trust.digest()) + ")");
  if (block.records.size() != h.record_count)
    return Fail(height, "header counts " + std::to_string(h.record_count) + " records, the store holds " +
                            std::to_string(block.records.size()));
  if (Status s = trust.CheckSignatures(h, block.signatures); !s.ok())
    return Fail(height, s.error().message());
  std::vector<Hash256> local;
  std::vector<Hash256>& lv = leaves != nullptr ? *leaves : local;
  lv.clear();
  lv.reserve(block.records.size());
  for (std::uint32_t i = 0; i < block.records.size(); ++i) {
    auto rec = DecodeRecord(block.records[i]);
    if (!rec.ok()) return Fail(height, rec.error().message(), i);
    if (records != nullptr) records->push_back(std::move(rec).value());
    lv.push_back(LeafHash(block.records[i]));
  }
  if (MerkleRoot(lv) != h.merkle_root)
    return Fail(
        height,
        "the Merkle root of the " + std::to_string(lv.size()) +
            " stored records does not match the signed header (a record was changed, added or removed)");
  return std::nullopt;
}

Result<VerifyReport> VerifyChain(BlockStore& store, const TrustConfig& trust, const VerifyOptions& options) {
  VerifyReport report;
  BaselineIndex* index = options.index;
  auto fail = [&](VerifyFailure f) -> Result<VerifyReport> {
    if (index != nullptr) index->MarkBroken(f.height, f.reason);
    report.failure = std::move(f);
    return report;
  };

  IMMUNE_ASSIGN_OR_RETURN(std::optional<ChainHead> stored_head, store.Head());
  std::uint64_t start = options.from;
  if (options.pinned) start = std::min(start, options.pinned->height);
  report.first_height = start;
  if (options.pinned && (!stored_head || stored_head->height < options.pinned->height))
    return fail(
        Fail(options.pinned->height, "the store's chain ends before the pinned head (" +
                                         (stored_head ? "head is block " + std::to_string(stored_head->height)
                                                      : std::string("no blocks")) +
                                         ")"));
  if (!stored_head) return report;
  if (start > stored_head->height)
    return fail(Fail(start, "the chain ends at block " + std::to_string(stored_head->height)));

  Hash256 prev{};
  if (start > 0) {
    auto anchor = store.Read(start - 1);
    if (!anchor.ok()) {
      if (!IsChainFault(anchor.error())) return anchor.error();
      return fail(Fail(start - 1, anchor.error().message()));
    }
    if (Status s = trust.CheckSignatures(anchor->header, anchor->signatures); !s.ok())
      return fail(Fail(start - 1, s.error().message()));
    prev = BlockHash(anchor->header);
  }

  std::vector<Hash256> leaves;
  std::vector<Record> records;
  for (std::uint64_t height = start; height <= stored_head->height; ++height) {
    auto block = store.Read(height);
    if (!block.ok()) {
      if (!IsChainFault(block.error())) return block.error();
      return fail(Fail(height, block.error().message()));
    }
    records.clear();
    if (auto f = VerifyBlock(*block, height, prev, trust, &leaves, index != nullptr ? &records : nullptr))
      return fail(std::move(*f));
    const Hash256 hash = BlockHash(block->header);
    if (options.pinned && options.pinned->height == height && options.pinned->hash != hash)
      return fail(Fail(height, "hash " + HashHex(hash) + " is not the pinned " +
                                   HashHex(options.pinned->hash) +
                                   ": this chain does not extend the pinned one"));
    if (index != nullptr) {
      for (std::uint32_t i = 0; i < records.size(); ++i) index->Add(std::move(records[i]), leaves[i], {height, i});
      index->SetVerifiedThrough(height);
    }
    ++report.blocks;
    report.records += block->records.size();
    report.head = ChainHead{height, hash};
    prev = hash;
  }
  return report;
}

}  // namespace immune::chain
