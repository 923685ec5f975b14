// Compiled policy: an immutable Snapshot that answers "may this subject
// run/open this object?", and the PolicyStore that swaps snapshots on reload.
//
// Decision order (docs/policy.md):
//   1. Scope: the host uses the `host` documents. A container uses, from most
//      to least specific, its own `container: ID` documents, its image's
//      `image: REF` documents and the `containers: all` documents. Mode,
//      actions and interpreters come from the most specific layer that sets
//      them (default enforce, [deny, alarm], the built-in interpreters).
//   2. Learn mode: everything is allowed, rule "learn".
//   3. Deny wins: a deny entry of any applicable layer that matches (digest,
//      path+digest, path glob, signed list, IMA signature) decides.
//   4. Then the first allow entry that matches, most specific layer first.
//   5. Otherwise the default deny, rule "builtin:default-deny".
//   Permissive mode reports every deny as kAuditDeny (allowed, logged).
//
// Thread safety: a Snapshot is immutable; Decide() may run on any number of
// threads. PolicyStore::Current/Swap are lock-free-safe from any thread; a
// caller that pinned a snapshot keeps it (and the rule ids its Decisions
// point into) alive until it drops the pointer.
#ifndef IMMUNE_POLICY_SNAPSHOT_H_
#define IMMUNE_POLICY_SNAPSHOT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"
#include "immune/policy/document.h"
#include "immune/policy/dsse.h"

namespace immune::policy {

// Who acts. Views: the caller owns the strings for the call's duration.
struct Subject {
  std::string_view container_id;  // empty: the host
  std::string_view image;         // image reference ("busybox:1.36", "repo@sha256:...")
  std::string_view exe;
  std::uint32_t pid = 0;
};

// What is acted on: a file and its measured digest.
struct Object {
  std::string_view path;
  HashAlg alg = HashAlg::kSha256;
  ByteSpan digest;
  ByteSpan ima_signature;  // the security.ima value; may be empty
};

enum class Verdict : std::uint8_t { kAllow, kDeny, kAuditDeny };
std::string_view VerdictName(Verdict v);

struct Decision {
  Verdict verdict = Verdict::kDeny;
  // "host.yaml:12", "builtin:default-deny" or "learn". Points into the
  // Snapshot (or static storage): valid while the snapshot is pinned.
  std::string_view rule;
  ActionSet actions = kDefaultActions;  // what to do when verdict != kAllow
  Mode mode = Mode::kEnforce;
};

inline constexpr std::string_view kRuleDefaultDeny = "builtin:default-deny";
inline constexpr std::string_view kRuleLearn = "learn";

struct CompileOptions {
  // Keys that `signed-lists` entries without their own `keys:` verify with.
  const DsseTrustedKeys* list_keys = nullptr;
  // 0: take the next value of a process-wide counter.
  std::uint64_t generation = 0;
};

class Snapshot {
 public:
  ~Snapshot();
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  // Never fails and does not allocate (except verifying an IMA signature,
  // which OpenSSL does).
  Decision Decide(const Subject& subject, const Object& object) const;

  // True when `exe` (a path or a name) is an interpreter for this subject's
  // scope: its basename (or full path, for entries starting with '/')
  // matches an `interpreters` glob.
  bool IsInterpreter(const Subject& subject, std::string_view exe) const;
  // The effective mode and actions for a subject (its most specific layer).
  Mode ModeFor(const Subject& subject) const;

  std::uint64_t generation() const { return generation_; }
  // The documents it was compiled from (for export and lint).
  const std::vector<Document>& documents() const { return documents_; }

 private:
  friend Result<std::shared_ptr<const Snapshot>> Compile(std::vector<Document> docs,
                                                         const CompileOptions& options);
  struct Layer;
  struct Impl;
  Snapshot();

  std::uint64_t generation_ = 0;
  std::vector<Document> documents_;
  std::unique_ptr<Impl> impl_;
};

// Compiles documents: merges those of the same scope (conflicting modes or
// actions are an error naming both places), loads and verifies signed lists
// and IMA keys (errors name the entry's FILE:LINE:COLUMN).
Result<std::shared_ptr<const Snapshot>> Compile(std::vector<Document> docs,
                                                const CompileOptions& options = {});

// The current snapshot, swapped atomically on reload.
class PolicyStore {
 public:
  explicit PolicyStore(std::shared_ptr<const Snapshot> initial = nullptr)
      : current_(initial), generation_(initial ? initial->generation() : 0) {}

  // Pins the current snapshot (null until the first Swap when constructed empty).
  std::shared_ptr<const Snapshot> Current() const { return current_.load(std::memory_order_acquire); }
  // Publishes `next`; returns the previous one. Evaluators holding the old
  // snapshot finish with it.
  std::shared_ptr<const Snapshot> Swap(std::shared_ptr<const Snapshot> next) {
    const std::uint64_t g = next ? next->generation() : 0;
    auto previous = current_.exchange(std::move(next), std::memory_order_acq_rel);
    // Published after the snapshot: whoever reads a generation then pins a
    // snapshot at least that new (what the exec gate's cache relies on).
    generation_.store(g, std::memory_order_release);
    return previous;
  }
  // The generation of Current() without pinning it (one atomic load; the
  // exec gate asks on every event). It may lag a Swap in progress, never lead it.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::shared_ptr<const Snapshot>> current_;
  std::atomic<std::uint64_t> generation_;
};

}  // namespace immune::policy

#endif  // IMMUNE_POLICY_SNAPSHOT_H_
