// Parsers for the container state files Immune reads. All of them take
// untrusted bytes (a hook's stdin, files under a runtime's state root that a
// compromised runtime or container could have written) and never throw:
// errors are kInvalidArgument and name `source` (the file, or "stdin") and
// the JSON pointer of the bad field ("config.json: /root/path: must be a
// string") or the byte offset of a syntax error.
//
// Thread safety: pure functions.
#ifndef IMMUNE_AGENTS_CONTAINER_OCI_H_
#define IMMUNE_AGENTS_CONTAINER_OCI_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "immune/agents/container.h"
#include "immune/core/error.h"

namespace immune::agents {

// The OCI runtime state (runtime-spec runtime.md "State"): what `runc state`
// prints and what every hook receives on stdin.
struct OciState {
  std::string oci_version;
  std::string id;
  std::string status;  // "creating", "created", "running", "stopped" (runc adds "paused")
  pid_t pid = 0;       // 0 when the runtime left it out (e.g. stopped)
  std::string bundle;
  std::map<std::string, std::string> annotations;
};
// Requires ociVersion, id, status and bundle (strings); pid is optional.
Result<OciState> ParseOciState(std::string_view bytes, std::string_view source);

struct OciHook {
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::int64_t timeout = 0;  // seconds, 0 when absent
};

struct OciMount {
  std::string destination;
  std::string type;
  std::string source;
  std::vector<std::string> options;
};

struct OciNamespace {
  std::string type;  // "pid", "mount", ...
  std::string path;  // empty: a new namespace
};

// The parts of a bundle's config.json (runtime-spec config.md) Immune uses.
struct BundleConfig {
  std::string oci_version;
  std::string root_path;  // as written: relative paths are against the bundle
  bool root_readonly = false;
  std::map<std::string, std::string> annotations;
  std::map<std::string, std::vector<OciHook>> hooks;  // stage name -> hooks
  std::vector<OciNamespace> namespaces;               // linux.namespaces
  std::vector<OciMount> mounts;
};
// Requires root.path. Unknown members are ignored.
Result<BundleConfig> ParseBundleConfig(std::string_view bytes, std::string_view source);

// `root_path` made absolute against `bundle` (lexically normalised, no
// symlinks followed: the bundle may be in another mount namespace).
std::string ResolveRootfs(std::string_view bundle, std::string_view root_path);

// runc's <root>/<id>/state.json (libcontainer's State), the parts used here.
struct RuncState {
  std::string id;
  pid_t init_pid = 0;
  std::uint64_t init_start_time = 0;
  std::string created;
  std::string rootfs;                               // config.rootfs, absolute
  std::string bundle;                               // from config.labels "bundle=..."
  std::map<std::string, std::string> labels;        // config.labels split at the first '='
  std::map<std::string, std::string> cgroup_paths;  // controller ("" = unified) -> path
};
Result<RuncState> ParseRuncState(std::string_view bytes, std::string_view source);

// crun's <root>/<id>/status.
struct CrunStatus {
  pid_t pid = 0;
  std::uint64_t process_start_time = 0;
  std::string cgroup_path;  // relative to the cgroup mount
  std::string rootfs;       // may be relative to the bundle
  std::string bundle;
  std::string created;
};
Result<CrunStatus> ParseCrunStatus(std::string_view bytes, std::string_view source);

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_CONTAINER_OCI_H_
