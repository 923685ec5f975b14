#include "immune/chain/ledger_policy.h"

#include <map>
#include <set>
#include <utility>

#include "immune/chain/block.h"
#include "immune/chain/merkle.h"
#include "immune/chain/record.h"
#include "immune/chain/verify.h"
#include "immune/policy/bundle.h"

namespace immune::chain {

namespace {

bool LooksLikeDsse(std::string_view text) {
  return text.find("\"payloadType\"") != std::string_view::npos &&
         text.find("\"signatures\"") != std::string_view::npos;
}

}  // namespace

Result<LedgerPolicy> PolicyFromLedger(BlockStore& store, const TrustConfig& trust,
                                      const LedgerPolicyOptions& options) {
  LedgerPolicy out;
  IMMUNE_ASSIGN_OR_RETURN(auto head, store.Head());
  if (!head) return out;  // an empty ledger: no documents

  struct Taken {
    Record record;
    Hash256 leaf;
    std::uint64_t height;
  };
  std::vector<Taken> taken;
  std::set<Hash256> revoked;
  Hash256 prev{};
  for (std::uint64_t h = 0; h <= head->height; ++h) {
    IMMUNE_ASSIGN_OR_RETURN(Block block, store.Read(h));
    std::vector<Hash256> leaves;
    std::vector<Record> records;
    if (auto f = VerifyBlock(block, h, prev, trust, &leaves, &records))
      return Corruption("ledger does not verify, no policy taken from it: " + f->ToString());
    prev = BlockHash(block.header);
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (const auto* r = std::get_if<Revocation>(&records[i])) {
        revoked.insert(r->target);
        continue;
      }
      taken.push_back(Taken{std::move(records[i]), leaves[i], h});
    }
    ++out.blocks;
  }

  std::map<std::string, std::map<std::string, std::vector<policy::DigestRef>>> by_image;  // image -> path -> digests
  std::map<std::string, std::pair<const PolicyBundle*, std::uint64_t>> bundles;          // name -> latest
  for (const auto& t : taken) {
    if (revoked.count(t.leaf)) {
      ++out.revoked;
      continue;
    }
    if (const auto* fb = std::get_if<FileBaseline>(&t.record)) {
      auto& digests = by_image[fb->image][fb->path];
      policy::DigestRef d{fb->digest.alg, fb->digest.value};
      bool seen = false;
      for (const auto& x : digests) seen = seen || x == d;
      if (!seen) digests.push_back(std::move(d));
      ++out.file_baselines;
    } else if (const auto* pb = std::get_if<PolicyBundle>(&t.record)) {
      auto& slot = bundles[pb->name];
      if (!slot.first || pb->version >= slot.first->version) slot = {pb, t.height};
    }
  }

  for (const auto& [image, paths] : by_image) {
    policy::Document doc;
    doc.where = policy::Location{"ledger:file-baselines/" + image, 0, 0};
    doc.scope = image == options.host_image ? policy::Scope{policy::ScopeKind::kHost, ""}
                                            : policy::Scope{policy::ScopeKind::kImage, image};
    for (const auto& [path, digests] : paths) {
      policy::Rule rule;
      rule.kind = policy::RuleKind::kPathDigest;
      rule.path = path;
      rule.digests = digests;
      rule.where = doc.where;
      doc.allow.push_back(std::move(rule));
    }
    out.documents.push_back(std::move(doc));
  }

  for (const auto& [name, latest] : bundles) {
    const PolicyBundle& pb = *latest.first;
    const std::string source =
        "ledger:" + name + "@v" + std::to_string(pb.version) + " (block " + std::to_string(latest.second) + ")";
    if (pb.content.empty()) continue;  // the bundle lives elsewhere: only its digest is on the ledger
    IMMUNE_ASSIGN_OR_RETURN(Bytes digest, Hash(pb.digest.alg, pb.content));
    if (digest != pb.digest.value) return Corruption(source + ": content does not match the recorded digest");
    const std::string text(pb.content.begin(), pb.content.end());
    std::vector<policy::Document> docs;
    if (options.bundle_keys) {
      if (!LooksLikeDsse(text)) return PermissionDenied(source + ": not a signed bundle, and bundle keys are required");
      IMMUNE_ASSIGN_OR_RETURN(docs, policy::OpenPolicyBundle(text, source, *options.bundle_keys));
    } else {
      IMMUNE_ASSIGN_OR_RETURN(docs, policy::ParseDocuments(text, source));
    }
    for (auto& d : docs) out.documents.push_back(std::move(d));
    ++out.policy_bundles;
  }
  return out;
}

}  // namespace immune::chain
