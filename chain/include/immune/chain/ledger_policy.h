// Operator policy from the baseline ledger: the verified chain's file
// baselines and policy bundles as policy documents (docs/policy.md,
// "Baselines from the ledger"), so immuned decides by reference values no
// single host can rewrite.
//
// The whole chain is verified first (every block's link, K-of-N signatures
// under the operator's trust configuration, records, Merkle root); a chain
// that does not verify yields an error and no documents: a policy is never
// built from a ledger past a break. Revoked records are left out.
//
//  - FileBaseline records become allow entries {path, digest} in a document
//    per image: scope {image: IMAGE}, or host for the image named
//    `host_image` ("host" by default). Several digests of one path are all
//    allowed (an image may list versions).
//  - PolicyBundle records that carry their content become the documents of
//    that content (a DSSE bundle verified with `bundle_keys`, which must then
//    be given, or plain YAML/JSON when no keys are given), after the
//    content's digest is checked against the record; the latest version of
//    each name wins.
//
// Thread safety: a function over one store, used by the calling thread.
#ifndef IMMUNE_CHAIN_LEDGER_POLICY_H_
#define IMMUNE_CHAIN_LEDGER_POLICY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "immune/chain/store.h"
#include "immune/chain/trust.h"
#include "immune/core/error.h"
#include "immune/policy/document.h"
#include "immune/policy/dsse.h"

namespace immune::chain {

struct LedgerPolicyOptions {
  std::string host_image = "host";
  // Keys policy bundles from the ledger must be signed with; null: bundles
  // are taken as plain documents (the ledger's signatures vouch for them).
  const policy::DsseTrustedKeys* bundle_keys = nullptr;
};

struct LedgerPolicy {
  std::vector<policy::Document> documents;
  std::uint64_t blocks = 0;             // verified
  std::uint64_t file_baselines = 0;     // taken (unrevoked)
  std::uint64_t policy_bundles = 0;     // taken (latest per name)
  std::uint64_t revoked = 0;            // records left out
};

Result<LedgerPolicy> PolicyFromLedger(BlockStore& store, const TrustConfig& trust,
                                      const LedgerPolicyOptions& options = {});

}  // namespace immune::chain

#endif  // IMMUNE_CHAIN_LEDGER_POLICY_H_
