// The exec gate as an immuned agent: ExecGate (exec_gate.h) decided by the
// daemon's policy (tsbd::PolicyEngine) for the host and for every container
// the OCI hook registers (container_map.h), with every first decision of a
// file in a scope journaled in the measurement log before it is answered.
//
// Per permission event: scope = the subject's container (pid namespace,
// pidfd-checked) or the host; a cached answer for (scope, file version,
// policy generation) is given at once; otherwise the file's digest (measured
// through the event fd) and security.ima go to Snapshot::Decide, the entry
// (ima-ng/ima-sig for the host, immune-ct with the container's id and image
// otherwise) is submitted with the decision already taken, and the answer
// follows the verdict: allow, deny (enforce), allow and log "audit"
// (permissive) or allow and record (learn). A deny also runs the policy's
// actions: kill the process, freeze or stop its container, alarm.
//
// Control commands it adds: container.register / container.unregister (the
// OCI hook: the reply is sent only once the container's root filesystem is
// marked, so its first exec is gated), gate.status, and container.measure:
// the container's filesystem measured from its overlay metadata
// (overlay_measure.h: lower layers hashed once per image, only the upper
// dir walked), from the host, running, paused or stopped (then with its
// layer directories given); every created or changed file is decided by
// the policy and journaled under the container's identity, so a file the
// image's baseline does not allow raises the daemon's alarm.
//
// Thread safety: Start/Stop from the daemon's main thread; the rest is
// called by the gate's workers and the control thread.
#ifndef IMMUNE_AGENTS_EXEC_GATE_AGENT_H_
#define IMMUNE_AGENTS_EXEC_GATE_AGENT_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "immune/agents/container_map.h"
#include "immune/agents/exec_gate.h"
#include "immune/agents/overlay_measure.h"
#include "immune/tsbd/agent.h"
#include "immune/tsbd/config.h"
#include "immune/tsbd/policy_engine.h"

namespace immune::agents {

class ExecGateAgent final : public tsbd::Agent {
 public:
  // `policy` must outlive the agent. `inherited_fd` >= 0: the fanotify group
  // a supervisor keeps (immuned --supervise, fail-closed); events the dead
  // predecessor had read but not answered are answered first (deny).
  ExecGateAgent(tsbd::GateSection config, tsbd::PolicyEngine& policy, int inherited_fd = -1);
  ~ExecGateAgent() override;

  std::string name() const override { return "exec-gate"; }
  Status Start(tsbd::AgentHost& host, const std::map<std::string, std::string>& options) override;
  void Stop() override;

  GateStats stats() const;
  ContainerMap& containers() { return containers_; }
  // {"gate":{stats...},"containers":[...],"marks":[...]}
  std::string StatusJson() const;

 private:
  class PolicyDecider;
  Result<std::string> RegisterContainer(const std::string& args_json);
  Result<std::string> UnregisterContainer(const std::string& args_json);
  Result<std::string> MeasureContainer(const std::string& args_json);
  // Kill / freeze / stop for a denied event (journaled as `seq`), then the
  // denial's alarm saying what was done (when the actions include alarm; the
  // daemon raises none for entries the gate decided).
  void OnDenied(policy::ActionSet actions, const GateEvent& ev, const ContainerInfo* ct,
                const tsb::MeasurementEntry& e, std::uint64_t seq);

  const tsbd::GateSection config_;
  tsbd::PolicyEngine& policy_;
  const int inherited_fd_;
  tsbd::AgentHost* host_ = nullptr;
  ContainerMap containers_;
  std::shared_ptr<PolicyDecider> decider_;
  std::unique_ptr<ExecGate> gate_;
  std::unique_ptr<OverlayMeasurer> overlay_;
  std::atomic<bool> stopped_{false};
  mutable std::mutex marks_mu_;
  std::map<std::string, std::string> marks_;  // path -> "mount" | "filesystem:<container>"
};

// Answers the permission events a dead reader of `fanotify_fd` left pending
// (their fds were numbers in its fd table, now closed): writes `response`
// (FAN_ALLOW/FAN_DENY) for every fd number below `max_fd`. Call before the
// gate starts reading. Returns how many were pending.
std::size_t AnswerOrphanedEvents(int fanotify_fd, std::uint32_t response, int max_fd = 65536);

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_EXEC_GATE_AGENT_H_
