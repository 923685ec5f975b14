// The hook's steps (container_hook.h); the executable only adds the
// transport (ControlRequest) and the exit code.
#include <array>

#include "container_json_util.h"
#include "immune/agents/container_hook.h"
#include "immune/agents/container_proc.h"
#include "immune/core/file.h"

namespace immune::agents {

namespace {

// The control protocol's version (tsb/daemon/control_server.cc).
constexpr int kControlVersion = 1;

ErrorCode CodeFromName(std::string_view name) {
  static constexpr std::array<ErrorCode, 10> kCodes = {ErrorCode::kInvalidArgument,
                                                       ErrorCode::kCorruption,
                                                       ErrorCode::kNotFound,
                                                       ErrorCode::kIo,
                                                       ErrorCode::kTpm,
                                                       ErrorCode::kUnsupported,
                                                       ErrorCode::kPermissionDenied,
                                                       ErrorCode::kUnavailable,
                                                       ErrorCode::kAborted,
                                                       ErrorCode::kInternal};
  for (ErrorCode c : kCodes)
    if (ErrorCodeName(c) == name) return c;
  return ErrorCode::kInternal;
}

}  // namespace

Result<HookAction> HookActionForStage(std::string_view stage) {
  if (stage == "createRuntime" || stage == "createContainer" || stage == "prestart")
    return HookAction::kRegister;
  if (stage == "poststop") return HookAction::kUnregister;
  return InvalidArgument("stage \"" + std::string(stage) +
                         "\": the hook runs at createRuntime, createContainer, prestart or poststop");
}

std::string DefaultHookStage(const OciState& state) {
  return state.status == "stopped" ? "poststop" : "createRuntime";
}

Result<ContainerInfo> ContainerInfoFromHook(const OciState& state, const std::string& proc_root) {
  ContainerInfo info;
  info.id = state.id;
  info.bundle = state.bundle;
  auto status = ParseContainerStatus(state.status);
  if (!status.ok()) return status.error().WithContext("stdin: /status");
  info.status = *status;

  const std::string cfg_path = state.bundle + "/config.json";
  IMMUNE_ASSIGN_OR_RETURN(std::string cfg_bytes, ReadTextFile(cfg_path));
  IMMUNE_ASSIGN_OR_RETURN(BundleConfig cfg, ParseBundleConfig(cfg_bytes, cfg_path));
  info.rootfs = ResolveRootfs(state.bundle, cfg.root_path);
  info.rootfs_readonly = cfg.root_readonly;
  // The state's annotations are the config's as the runtime saw them; take
  // the config's and let the state add what a runtime put there itself.
  info.annotations = cfg.annotations;
  for (const auto& [k, v] : state.annotations) info.annotations.emplace(k, v);
  info.image = ImageFromAnnotations(info.annotations);
  info.runtime = RuntimeFromAnnotations(info.annotations, ContainerRuntime::kUnknown);

  if (state.pid <= 0) return InvalidArgument("stdin: /pid: missing, so the container's init is unknown");
  info.init_pid = state.pid;
  auto ident = ReadProcessIdentity(state.pid, proc_root);
  if (!ident.ok()) return ident.error().WithContext(proc_root + "/" + std::to_string(state.pid));
  info.init_start_time = ident->start_time;
  info.pidns_inode = ident->pidns_inode;
  info.mntns_inode = ident->mntns_inode;
  info.rootfs_dev = ident->root_dev;
  info.cgroup = ident->cgroup;
  return info;
}

Result<nlohmann::json> BuildHookRequest(std::string_view state_bytes, const HookOptions& options) {
  IMMUNE_ASSIGN_OR_RETURN(OciState state, ParseOciState(state_bytes, "stdin"));
  const std::string stage = options.stage.empty() ? DefaultHookStage(state) : options.stage;
  IMMUNE_ASSIGN_OR_RETURN(HookAction action, HookActionForStage(stage));
  if (action == HookAction::kUnregister) {
    ContainerUnregisterArgs args{stage, state.id, state.bundle};
    return nlohmann::json{{"v", kControlVersion},
                          {"cmd", kContainerUnregisterCommand},
                          {"args", ContainerUnregisterArgsToJson(args)}};
  }
  IMMUNE_ASSIGN_OR_RETURN(ContainerInfo info, ContainerInfoFromHook(state, options.proc_root));
  ContainerRegisterArgs args{stage, std::move(info)};
  return nlohmann::json{{"v", kControlVersion},
                        {"cmd", kContainerRegisterCommand},
                        {"args", ContainerRegisterArgsToJson(args)}};
}

Status CheckControlReply(std::string_view reply_bytes) {
  namespace ju = json_util;
  auto parsed = ju::Parse(reply_bytes, "daemon reply");
  if (!parsed.ok()) return Corruption(parsed.error().message());
  const nlohmann::json& j = *parsed;
  auto ok = ju::Bool(j, "ok", "daemon reply", "", true);
  if (!ok.ok()) return Corruption(ok.error().message());
  if (**ok) return OkStatus();
  if (!j.contains("error") || !j["error"].is_object())
    return Corruption("daemon reply: /error: missing from a refusal");
  const auto& e = j["error"];
  auto str = [&](const char* k) { return e.contains(k) && e[k].is_string() ? e[k].get<std::string>() : ""; };
  const std::string field = str("field");
  return Error(CodeFromName(str("code")),
               "daemon refused: " + (field.empty() ? "" : field + ": ") + str("message"));
}

}  // namespace immune::agents
