// Learn mode: records what ran and writes draft policies that would allow
// exactly that (one document per scope, path + digest entries, mode
// enforce), for an operator to review before loading.
//
// Thread safety: Record may be called from any number of threads
// concurrently with each other and with Drafts/size (one internal mutex).
#ifndef IMMUNE_POLICY_LEARNER_H_
#define IMMUNE_POLICY_LEARNER_H_

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"
#include "immune/policy/document.h"
#include "immune/policy/snapshot.h"

namespace immune::policy {

struct LearnedDraft {
  Scope scope;
  std::string file_name;  // "host.yaml", "container-<id>.yaml", "image-<sanitised ref>.yaml"
  std::string yaml;       // parses with ParseDocuments
};

class Learner {
 public:
  // Digests of an unknown size for `alg` are ignored (nothing sensible can
  // be allowed from them).
  void Record(const Scope& scope, std::string_view path, HashAlg alg, ByteSpan digest);
  // The subject's container scope (or host when it has no container id).
  void Record(const Subject& subject, const Object& object);

  std::size_t size() const;  // distinct (scope, path, digest) tuples
  // One draft per scope seen, in a stable order.
  std::vector<LearnedDraft> Drafts() const;
  // Writes each draft atomically into `dir` (which must exist).
  Status WriteDrafts(const std::string& dir) const;

 private:
  // (scope kind, value) -> path -> "alg:hex" digests.
  using Key = std::pair<int, std::string>;
  mutable std::mutex mu_;
  std::map<Key, std::map<std::string, std::set<std::string>>> seen_;
  std::size_t count_ = 0;
};

}  // namespace immune::policy

#endif  // IMMUNE_POLICY_LEARNER_H_
