// The container model shared by discovery, the OCI hook and the daemon.
//
// A ContainerInfo names one OCI container as the host sees it: where its
// bundle and root filesystem are, which process is its init (with the start
// time that guards against pid reuse), which pid and mount namespaces and
// which cgroup its processes live in, and the image it was made from.
//
// The JSON forms below are the wire format of the daemon's control commands
// container.register / container.unregister (docs/containers.md): the hook
// writes them with the ...ToJson functions, the daemon reads them with the
// ...FromJson functions, which never throw and name the offending field.
//
// Thread safety: values and pure functions.
#ifndef IMMUNE_AGENTS_CONTAINER_H_
#define IMMUNE_AGENTS_CONTAINER_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "immune/core/error.h"

namespace immune::agents {

// What created the container. Discovery infers it from the state root it
// found the container under; the hook from annotations.
enum class ContainerRuntime { kUnknown, kRunc, kCrun, kContainerd, kDocker, kPodman };

// The OCI runtime-spec lifecycle states ("creating" counts as kCreated).
enum class ContainerStatus { kCreated, kRunning, kPaused, kStopped };

std::string_view ContainerRuntimeName(ContainerRuntime r);  // "runc", ..., "unknown"
Result<ContainerRuntime> ParseContainerRuntime(std::string_view name);
std::string_view ContainerStatusName(ContainerStatus s);  // "created", "running", ...
// Accepts the four names and "creating" (-> kCreated).
Result<ContainerStatus> ParseContainerStatus(std::string_view name);

struct ContainerInfo {
  std::string id;
  ContainerRuntime runtime = ContainerRuntime::kUnknown;
  std::string bundle;  // absolute bundle directory
  std::string rootfs;  // absolute, resolved against the bundle
  bool rootfs_readonly = false;
  std::string image;  // image reference from annotations, or empty
  pid_t init_pid = 0;
  // Field 22 of /proc/PID/stat (clock ticks since boot): with init_pid, the
  // identity of the init process; a different value means the pid was reused.
  std::uint64_t init_start_time = 0;
  std::uint64_t pidns_inode = 0;  // st_ino of /proc/PID/ns/pid (0: unknown)
  std::uint64_t mntns_inode = 0;  // st_ino of /proc/PID/ns/mnt (0: unknown)
  // st_dev of the container's root as its init sees it (/proc/PID/root), so
  // a file event on that device maps to this container (0: unknown).
  std::uint64_t rootfs_dev = 0;
  // The host view of the init's cgroup (see ProcessIdentity::cgroup).
  std::string cgroup;
  ContainerStatus status = ContainerStatus::kCreated;
  std::map<std::string, std::string> annotations;

  bool operator==(const ContainerInfo&) const = default;
};

// The annotation keys the image reference is taken from, first match wins:
// org.opencontainers.image.ref.name, io.kubernetes.cri.image-name,
// io.containerd.image.name, io.podman.annotations.image (podman),
// com.docker.image (docker labels). Empty when none is present.
std::string ImageFromAnnotations(const std::map<std::string, std::string>& annotations);

// The runtime a set of annotations points to (podman's io.container.manager,
// containerd's and CRI's keys), or `fallback`.
ContainerRuntime RuntimeFromAnnotations(const std::map<std::string, std::string>& annotations,
                                        ContainerRuntime fallback);

// {"id":..,"runtime":"runc","bundle":..,"rootfs":..,"rootfs_readonly":false,"image":..,
//  "init_pid":N,"init_start_time":N,"pidns_inode":N,"mntns_inode":N,"rootfs_dev":N,
//  "cgroup":..,"status":"created","annotations":{..}}
nlohmann::json ContainerInfoToJson(const ContainerInfo& info);
// `where` prefixes errors ("args.container"); unknown keys are ignored so
// that a newer hook can talk to an older daemon. Only "id" is required.
Result<ContainerInfo> ContainerInfoFromJson(const nlohmann::json& j, std::string_view where);

// The args of container.register: {"stage":"createRuntime","container":{ContainerInfo}}.
struct ContainerRegisterArgs {
  std::string stage;  // the OCI hook stage that sent it
  ContainerInfo container;
};
nlohmann::json ContainerRegisterArgsToJson(const ContainerRegisterArgs& args);
// Errors are kInvalidArgument naming the field as "args.container.init_pid".
Result<ContainerRegisterArgs> ContainerRegisterArgsFromJson(const nlohmann::json& args);

// The args of container.unregister: {"stage":"poststop","id":..,"bundle":..}.
struct ContainerUnregisterArgs {
  std::string stage;
  std::string id;
  std::string bundle;
};
nlohmann::json ContainerUnregisterArgsToJson(const ContainerUnregisterArgs& args);
Result<ContainerUnregisterArgs> ContainerUnregisterArgsFromJson(const nlohmann::json& args);

// Control protocol command names.
inline constexpr const char* kContainerRegisterCommand = "container.register";
inline constexpr const char* kContainerUnregisterCommand = "container.unregister";

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_CONTAINER_H_
