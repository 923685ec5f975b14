// What the policy's actions do to a process or a container (policy
// `actions:` kill, freeze, stop), shared by the exec gate and the integrity
// agent. Each returns what went wrong in words; none blocks for long.
//
// Thread safety: functions; any thread.
#ifndef IMMUNE_AGENTS_ACTIONS_H_
#define IMMUNE_AGENTS_ACTIONS_H_

#include <sys/types.h>

#include "immune/agents/container.h"
#include "immune/core/error.h"

namespace immune::agents {

// SIGKILL through `pidfd` when >= 0 (no pid-reuse race), else by pid.
Status KillProcess(pid_t pid, int pidfd);
// Freezes the container's cgroup (v1 freezer.state, else v2 cgroup.freeze).
Status FreezeContainer(const ContainerInfo& container);
// SIGKILLs the container's init, after checking its start time (pid reuse).
Status StopContainer(const ContainerInfo& container);

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_ACTIONS_H_
