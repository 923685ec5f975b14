// The logic of immune-oci-hook (cmd/immune-oci-hook), kept in the library
// so tests and the fuzzer run the same code the hook does.
//
// An OCI runtime runs the hook at a lifecycle stage (runtime-spec config.md,
// "POSIX-platform Hooks") with the container's state on stdin. The hook:
//
//   started -> state read -> bundle read -> request sent -> registered
//                  |              |               |
//                  +--------------+---------------+----> refused (exit 1)
//
// For createRuntime, createContainer and prestart it registers the
// container with the daemon (container.register) and waits for the reply:
// the daemon answers only once the container's file systems are marked, so
// the first exec inside is already gated. For poststop it unregisters.
//
// Thread safety: pure functions (they read /proc and the bundle).
#ifndef IMMUNE_AGENTS_CONTAINER_HOOK_H_
#define IMMUNE_AGENTS_CONTAINER_HOOK_H_

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "immune/agents/container.h"
#include "immune/agents/container_oci.h"
#include "immune/core/error.h"

namespace immune::agents {

enum class HookAction { kRegister, kUnregister };

// createRuntime, createContainer, prestart -> kRegister; poststop ->
// kUnregister. Other stages (startContainer, poststart) are refused: there
// is nothing to do there and a misconfigured hook should be noticed.
Result<HookAction> HookActionForStage(std::string_view stage);

// The stage a runtime that passes none most likely ran us in: "poststop"
// for a stopped container, else "createRuntime".
std::string DefaultHookStage(const OciState& state);

struct HookOptions {
  std::string stage;                // empty: DefaultHookStage
  std::string proc_root = "/proc";  // where /proc/<state.pid> is read
};

// The ContainerInfo a hook registers: the state's id, pid and bundle, the
// bundle's config.json (root path, read-only flag, annotations -> image and
// runtime) and /proc/<pid> (start time, namespaces, cgroup, root device).
// Errors name the input: "stdin: /pid: ...", "BUNDLE/config.json: /root/path: ...",
// "/proc/PID: ...".
Result<ContainerInfo> ContainerInfoFromHook(const OciState& state, const std::string& proc_root);

// The control request {"v":1,"cmd":"container.register"|"container.unregister","args":{...}}
// for the state bytes a hook read from stdin.
Result<nlohmann::json> BuildHookRequest(std::string_view state_bytes, const HookOptions& options);

// Checks a control reply: OK for {"v":1,"ok":true,...}; an error carrying the
// daemon's code, field and message for {"ok":false,...}; kCorruption for a
// reply that is not the control protocol.
Status CheckControlReply(std::string_view reply_bytes);

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_CONTAINER_HOOK_H_
