// Integrity beyond exec, as an immuned agent (docs/process-integrity.md):
//  - PIMS: every `integrity.pims_interval_ms`, the executable mappings of the
//    processes of registered containers (and, with pims_host, of the host)
//    are compared with the files they map (pims.h); a process whose code was
//    changed in memory gets an entry in the log (its mapping, the digest of
//    what is in memory, the container's identity), decided by the policy as
//    an exec of that code would be (nothing allows it: a deny, or an audit in
//    permissive mode), an alarm, and the policy's actions (kill the process,
//    freeze or stop its container);
//  - critical configuration files (config_watch.h): the configured ones and
//    those policy documents name (critical-files), measured when named and
//    on every change: an entry ("config:changed") and a warning alarm.
// Control commands: integrity.status, integrity.scan (a PIMS period now).
//
// Thread safety: Start/Stop from the daemon's main thread; callbacks run on
// the scanner's and the watcher's threads.
#ifndef IMMUNE_AGENTS_INTEGRITY_AGENT_H_
#define IMMUNE_AGENTS_INTEGRITY_AGENT_H_

#include <atomic>
#include <map>
#include <set>
#include <memory>
#include <string>

#include "immune/agents/config_watch.h"
#include "immune/agents/container_map.h"
#include "immune/agents/pims_scanner.h"
#include "immune/tsbd/agent.h"
#include "immune/tsbd/config.h"
#include "immune/tsbd/policy_engine.h"

namespace immune::agents {

class IntegrityAgent final : public tsbd::Agent {
 public:
  // `containers` (may be null: host only) and `policy` outlive the agent.
  IntegrityAgent(tsbd::IntegritySection config, tsbd::PolicyEngine& policy, ContainerMap* containers);
  ~IntegrityAgent() override;

  std::string name() const override { return "integrity"; }
  Status Start(tsbd::AgentHost& host, const std::map<std::string, std::string>& options) override;
  void Stop() override;

 private:
  std::vector<pid_t> Targets();
  void OnViolation(const PimsViolation& v);
  void OnConfigChange(const ConfigChange& c);
  std::string StatusJson() const;
  Status JournalMeasured(const std::vector<std::string>& paths);

  const tsbd::IntegritySection config_;
  tsbd::PolicyEngine& policy_;
  ContainerMap* containers_;
  tsbd::AgentHost* host_ = nullptr;
  std::unique_ptr<PimsScanner> scanner_;
  std::unique_ptr<ConfigWatch> watch_;
  std::set<std::string> watched_;  // policy-named files already added (installing thread; installs are serialised)
  std::atomic<bool> stopped_{false};
  std::atomic<std::uint64_t> violations_{0}, config_changes_{0};
};

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_INTEGRITY_AGENT_H_
