// Discovery: the containers on this host, read from the state directories
// the OCI runtimes keep (docs/containers.md, "What is read from where").
//
// Nothing here trusts the state files: each is parsed with the checked
// parsers of container_oci.h, and the init process they name is confirmed
// against /proc (pid and start time) before the container counts as alive.
//
// Thread safety: pure functions over the file system; any thread.
#ifndef IMMUNE_AGENTS_CONTAINER_DISCOVERY_H_
#define IMMUNE_AGENTS_CONTAINER_DISCOVERY_H_

#include <string>
#include <vector>

#include "immune/agents/container.h"
#include "immune/core/error.h"

namespace immune::agents {

// The layout of a state root.
enum class StateFormat {
  kRunc,  // <root>/<id>/state.json (runc, and the runc shims of containerd and docker)
  kCrun,  // <root>/<id>/status
};

struct StateRoot {
  std::string path;
  StateFormat format = StateFormat::kRunc;
  ContainerRuntime runtime = ContainerRuntime::kRunc;  // reported for what is found here
  // containerd keeps one runc root per namespace: <path>/<namespace>/<id>.
  bool per_namespace = false;
};

struct DiscoveryRoots {
  std::vector<StateRoot> roots;
  std::string proc_root = "/proc";
  std::string cgroup_root = "/sys/fs/cgroup";  // for the freezer state (paused)
};

// /run/runc, /run/crun, /run/containerd/runc/<ns>, /run/docker/runtime-runc/moby,
// and $XDG_RUNTIME_DIR/{runc,crun} (rootless podman) when that is set.
DiscoveryRoots DefaultDiscoveryRoots();

struct DiscoveryResult {
  std::vector<ContainerInfo> containers;  // sorted by id
  // Entries that could not be read (a malformed state file, a permission
  // error): reported, not fatal, so one bad container hides no other.
  std::vector<Error> problems;
};

// Scans every root; a root that does not exist is skipped. A container whose
// init process is gone, or whose init's start time differs from the recorded
// one (the pid was reused), is reported with status kStopped and no
// namespace/cgroup facts. Annotations come from the bundle's config.json
// when it is readable, else from runc's labels.
DiscoveryResult DiscoverContainers(const DiscoveryRoots& roots);

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_CONTAINER_DISCOVERY_H_
