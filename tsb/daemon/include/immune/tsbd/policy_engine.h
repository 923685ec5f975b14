// The daemon's policy: operator documents (policy/, docs/policy.md) loaded
// from the configured paths, compiled into an immutable snapshot and swapped
// atomically on reload or `immunectl policy apply`; the learn-mode recorder;
// and the PolicyHook the journal writer asks about entries no in-process
// agent has decided (remote agents).
//
// With `policy.bundle_keys` configured only DSSE bundles signed by one of
// those keys load (files and applied texts alike); a bundle is verified
// before a byte of its payload is parsed.
//
// Thread safety: every member may be called from any thread. Snapshots are
// pinned by the caller (Current()); Apply/Reload build a new one and swap it.
#ifndef IMMUNE_TSBD_POLICY_ENGINE_H_
#define IMMUNE_TSBD_POLICY_ENGINE_H_

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/error.h"
#include "immune/policy/document.h"
#include "immune/policy/dsse.h"
#include "immune/policy/learner.h"
#include "immune/policy/snapshot.h"
#include "immune/tsbd/agent.h"
#include "immune/tsbd/config.h"

namespace immune::tsbd {

class PolicyEngine final : public PolicyHook {
 public:
  // Loads and compiles `section.paths` (errors name the file and place).
  // No paths: an empty policy set (everything denied in enforce mode) is
  // NOT installed; has_policy() is false and the hook falls back to
  // `fallback` (the built-in deny_paths hook).
  static Result<std::unique_ptr<PolicyEngine>> Create(PolicySection section, std::string state_dir,
                                                      std::unique_ptr<PolicyHook> fallback);

  bool has_policy() const { return store_.Current() != nullptr; }
  std::shared_ptr<const policy::Snapshot> Current() const { return store_.Current(); }
  // Current()'s generation without pinning it (0 without a policy).
  std::uint64_t generation() const { return store_.generation(); }
  policy::Learner& learner() { return learner_; }

  // Re-reads the configured paths; the old snapshot stays on error.
  Result<std::uint64_t> Reload();
  // Replaces the policy files' part with `text` (a YAML/JSON document set,
  // or a DSSE bundle: required when bundle keys are configured), named
  // `source` in errors; the ledger's part (policy.ledger) is read again and
  // kept. Returns the new generation.
  Result<std::uint64_t> Apply(std::string_view text, std::string_view source);
  // Writes learn mode's drafts into the learn directory; returns their paths.
  Result<std::vector<std::string>> WriteLearned();
  // {"generation":..,"documents":[{"scope":..,"mode":..,"source":..}],"learned":N,...}
  std::string StatusJson() const;

  // Called with every snapshot installed from now on (and at once with the
  // current one), on the installing thread: agents that follow the policy
  // (the integrity agent's critical files) hook in here.
  void AddInstallListener(std::function<void(const policy::Snapshot&)> listener);

  // PolicyHook: entries of remote agents (no security.ima at hand).
  Verdict Decide(const tsb::MeasurementEntry& entry) override;

 private:
  PolicyEngine(PolicySection section, std::string state_dir, std::unique_ptr<PolicyHook> fallback);
  Result<std::vector<policy::Document>> LoadText(std::string_view text, std::string_view source) const;
  Result<std::vector<policy::Document>> LoadPaths() const;  // files, then the ledger
  Result<std::vector<policy::Document>> LoadLedger() const;  // none without policy.ledger
  Result<std::uint64_t> Install(std::vector<policy::Document> docs, std::string origin);

  const PolicySection section_;
  const std::string learn_dir_;
  std::unique_ptr<PolicyHook> fallback_;
  policy::DsseTrustedKeys bundle_keys_;
  policy::PolicyStore store_;
  policy::Learner learner_;
  mutable std::mutex mu_;  // serialises Install; guards origin_
  std::string origin_;     // where the current snapshot came from
  std::vector<std::function<void(const policy::Snapshot&)>> listeners_;  // guarded by mu_
};

// The tsb decision an entry gets for a policy verdict: kAllow -> allow,
// kDeny -> deny, kAuditDeny (permissive) -> audit.
tsb::Decision ToTsbDecision(policy::Verdict v);

}  // namespace immune::tsbd

#endif  // IMMUNE_TSBD_POLICY_ENGINE_H_
