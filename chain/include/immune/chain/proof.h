// Inclusion proofs: a record, its audit path to the Merkle root of a block
// header, and the header's publisher signatures. A proof checks offline
// against the trust configuration alone (docs/chain-format.md, "Proofs").
//
// Proof JSON:
//   {"format": "immune-chain-proof/1",
//    "record": {...record JSON, for people...}, "record_hex": "canonical bytes",
//    "record_id": "leaf hash", "leaf_index": i, "tree_size": n,
//    "audit_path": ["hex", ...],
//    "block": {"height": h, "hash": "hex", "header_hex": "...",
//              "signatures": [{"key_id": "hex", "signature_base64": "..."}]}}
// record_hex and header_hex are authoritative; the other members must agree
// with them.
//
// Thread safety: values and pure functions.
#ifndef IMMUNE_CHAIN_PROOF_H_
#define IMMUNE_CHAIN_PROOF_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "immune/chain/block.h"
#include "immune/chain/hash.h"
#include "immune/chain/trust.h"

namespace immune::chain {

struct InclusionProof {
  BlockHeader header;
  std::vector<BlockSignature> signatures;
  std::uint32_t leaf_index = 0;
  Bytes record;  // canonical bytes
  std::vector<Hash256> audit_path;
};

// The proof of record `index` of `block` (a block that verified).
Result<InclusionProof> BuildProof(const Block& block, std::uint32_t index);

std::string ProofToJson(const InclusionProof& proof);
// Shape, and agreement of the members shown for people ("record",
// "record_id") with "record_hex": InvalidArgument naming a malformed
// member, Corruption when they disagree (an altered proof).
Result<InclusionProof> ProofFromJson(std::string_view text);

// The header's K-of-N signatures under `trust`, the record's canonical
// decoding, and its audit path to the header's Merkle root. Corruption
// error naming what failed.
Status VerifyProof(const InclusionProof& proof, const TrustConfig& trust);

}  // namespace immune::chain

#endif  // IMMUNE_CHAIN_PROOF_H_
