#include "immune/agents/container.h"

#include <array>
#include <utility>

#include "container_json_util.h"

namespace immune::agents {

namespace {

constexpr std::array<std::pair<ContainerRuntime, std::string_view>, 6> kRuntimeNames{{
    {ContainerRuntime::kUnknown, "unknown"},
    {ContainerRuntime::kRunc, "runc"},
    {ContainerRuntime::kCrun, "crun"},
    {ContainerRuntime::kContainerd, "containerd"},
    {ContainerRuntime::kDocker, "docker"},
    {ContainerRuntime::kPodman, "podman"},
}};

constexpr std::array<std::pair<ContainerStatus, std::string_view>, 4> kStatusNames{{
    {ContainerStatus::kCreated, "created"},
    {ContainerStatus::kRunning, "running"},
    {ContainerStatus::kPaused, "paused"},
    {ContainerStatus::kStopped, "stopped"},
}};

}  // namespace

std::string_view ContainerRuntimeName(ContainerRuntime r) {
  for (const auto& [v, n] : kRuntimeNames)
    if (v == r) return n;
  return "unknown";
}

Result<ContainerRuntime> ParseContainerRuntime(std::string_view name) {
  for (const auto& [v, n] : kRuntimeNames)
    if (n == name) return v;
  return InvalidArgument("unknown container runtime \"" + std::string(name) +
                         "\" (runc, crun, containerd, docker, podman, unknown)");
}

std::string_view ContainerStatusName(ContainerStatus s) {
  for (const auto& [v, n] : kStatusNames)
    if (v == s) return n;
  return "stopped";
}

Result<ContainerStatus> ParseContainerStatus(std::string_view name) {
  if (name == "creating") return ContainerStatus::kCreated;
  for (const auto& [v, n] : kStatusNames)
    if (n == name) return v;
  return InvalidArgument("unknown container status \"" + std::string(name) +
                         "\" (creating, created, running, paused, stopped)");
}

std::string ImageFromAnnotations(const std::map<std::string, std::string>& annotations) {
  static constexpr std::array<std::string_view, 5> kKeys = {
      "org.opencontainers.image.ref.name", "io.kubernetes.cri.image-name", "io.containerd.image.name",
      "io.podman.annotations.image", "com.docker.image"};
  for (std::string_view k : kKeys) {
    auto it = annotations.find(std::string(k));
    if (it != annotations.end() && !it->second.empty()) return it->second;
  }
  return {};
}

ContainerRuntime RuntimeFromAnnotations(const std::map<std::string, std::string>& annotations,
                                        ContainerRuntime fallback) {
  auto has = [&](const char* k) { return annotations.count(k) != 0; };
  auto it = annotations.find("io.container.manager");
  if (it != annotations.end() && it->second == "libpod") return ContainerRuntime::kPodman;
  if (has("io.kubernetes.cri.container-type") || has("io.containerd.image.name"))
    return ContainerRuntime::kContainerd;
  if (has("com.docker.image")) return ContainerRuntime::kDocker;
  return fallback;
}

nlohmann::json ContainerInfoToJson(const ContainerInfo& c) {
  return {{"id", c.id},
          {"runtime", ContainerRuntimeName(c.runtime)},
          {"bundle", c.bundle},
          {"rootfs", c.rootfs},
          {"rootfs_readonly", c.rootfs_readonly},
          {"image", c.image},
          {"init_pid", c.init_pid},
          {"init_start_time", c.init_start_time},
          {"pidns_inode", c.pidns_inode},
          {"mntns_inode", c.mntns_inode},
          {"rootfs_dev", c.rootfs_dev},
          {"cgroup", c.cgroup},
          {"status", ContainerStatusName(c.status)},
          {"annotations", c.annotations}};
}

Result<ContainerInfo> ContainerInfoFromJson(const nlohmann::json& j, std::string_view where) {
  namespace ju = json_util;
  const std::string_view src = where;
  ContainerInfo c;
  IMMUNE_ASSIGN_OR_RETURN(std::string id, ju::RequiredString(j, "id", src, ""));
  if (id.empty()) return ju::FieldError(src, "/id", "must not be empty");
  c.id = id;
  IMMUNE_ASSIGN_OR_RETURN(auto runtime, ju::String(j, "runtime", src, "", false));
  if (runtime) {
    auto r = ParseContainerRuntime(*runtime);
    if (!r.ok()) return ju::FieldError(src, "/runtime", r.error().message());
    c.runtime = *r;
  }
  IMMUNE_ASSIGN_OR_RETURN(auto bundle, ju::String(j, "bundle", src, "", false));
  c.bundle = bundle.value_or("");
  IMMUNE_ASSIGN_OR_RETURN(auto rootfs, ju::String(j, "rootfs", src, "", false));
  c.rootfs = rootfs.value_or("");
  IMMUNE_ASSIGN_OR_RETURN(auto ro, ju::Bool(j, "rootfs_readonly", src, "", false));
  c.rootfs_readonly = ro.value_or(false);
  IMMUNE_ASSIGN_OR_RETURN(auto image, ju::String(j, "image", src, "", false));
  c.image = image.value_or("");
  IMMUNE_ASSIGN_OR_RETURN(auto pid, ju::Uint(j, "init_pid", src, "", false));
  if (pid && *pid > 0x7fffffffULL) return ju::FieldError(src, "/init_pid", "is not a pid");
  c.init_pid = static_cast<pid_t>(pid.value_or(0));
  IMMUNE_ASSIGN_OR_RETURN(auto start, ju::Uint(j, "init_start_time", src, "", false));
  c.init_start_time = start.value_or(0);
  IMMUNE_ASSIGN_OR_RETURN(auto pidns, ju::Uint(j, "pidns_inode", src, "", false));
  c.pidns_inode = pidns.value_or(0);
  IMMUNE_ASSIGN_OR_RETURN(auto mntns, ju::Uint(j, "mntns_inode", src, "", false));
  c.mntns_inode = mntns.value_or(0);
  IMMUNE_ASSIGN_OR_RETURN(auto dev, ju::Uint(j, "rootfs_dev", src, "", false));
  c.rootfs_dev = dev.value_or(0);
  IMMUNE_ASSIGN_OR_RETURN(auto cgroup, ju::String(j, "cgroup", src, "", false));
  c.cgroup = cgroup.value_or("");
  IMMUNE_ASSIGN_OR_RETURN(auto status, ju::String(j, "status", src, "", false));
  if (status) {
    auto s = ParseContainerStatus(*status);
    if (!s.ok()) return ju::FieldError(src, "/status", s.error().message());
    c.status = *s;
  }
  IMMUNE_ASSIGN_OR_RETURN(c.annotations, ju::StringMap(j, "annotations", src, ""));
  return c;
}

nlohmann::json ContainerRegisterArgsToJson(const ContainerRegisterArgs& a) {
  return {{"stage", a.stage}, {"container", ContainerInfoToJson(a.container)}};
}

Result<ContainerRegisterArgs> ContainerRegisterArgsFromJson(const nlohmann::json& args) {
  ContainerRegisterArgs a;
  IMMUNE_ASSIGN_OR_RETURN(auto stage, json_util::String(args, "stage", "args", "", false));
  a.stage = stage.value_or("");
  if (!args.is_object() || !args.contains("container")) return InvalidArgument("args.container: is missing");
  auto c = ContainerInfoFromJson(args["container"], "args.container");
  if (!c.ok()) return c.error();
  a.container = std::move(*c);
  return a;
}

nlohmann::json ContainerUnregisterArgsToJson(const ContainerUnregisterArgs& a) {
  return {{"stage", a.stage}, {"id", a.id}, {"bundle", a.bundle}};
}

Result<ContainerUnregisterArgs> ContainerUnregisterArgsFromJson(const nlohmann::json& args) {
  ContainerUnregisterArgs a;
  IMMUNE_ASSIGN_OR_RETURN(auto stage, json_util::String(args, "stage", "args", "", false));
  IMMUNE_ASSIGN_OR_RETURN(std::string id, json_util::RequiredString(args, "id", "args", ""));
  IMMUNE_ASSIGN_OR_RETURN(auto bundle, json_util::String(args, "bundle", "args", "", false));
  if (id.empty()) return json_util::FieldError("args", "/id", "must not be empty");
  a.stage = stage.value_or("");
  a.id = id;
  a.bundle = bundle.value_or("");
  return a;
}

}  // namespace immune::agents
