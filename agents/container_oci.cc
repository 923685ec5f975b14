#include "immune/agents/container_oci.h"

#include <filesystem>

#include "container_json_util.h"

namespace immune::agents {

namespace ju = json_util;
using nlohmann::json;

namespace {

Result<pid_t> Pid(const json& obj, std::string_view key, std::string_view source, std::string_view path,
                  bool required) {
  IMMUNE_ASSIGN_OR_RETURN(auto v, ju::Int(obj, key, source, path, required));
  if (!v) return 0;
  if (*v < 0 || *v > 0x3fffffff) return ju::FieldError(source, ju::Child(path, key), "is not a pid");
  return static_cast<pid_t>(*v);
}

Result<std::vector<OciHook>> ParseHookList(const json& list, std::string_view source,
                                           const std::string& path) {
  if (!list.is_array()) return ju::FieldError(source, path, "must be an array of hooks");
  std::vector<OciHook> out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string here = path + "/" + std::to_string(i);
    OciHook h;
    IMMUNE_ASSIGN_OR_RETURN(std::string p, ju::RequiredString(list[i], "path", source, here));
    h.path = p;
    IMMUNE_ASSIGN_OR_RETURN(h.args, ju::StringArray(list[i], "args", source, here));
    IMMUNE_ASSIGN_OR_RETURN(h.env, ju::StringArray(list[i], "env", source, here));
    IMMUNE_ASSIGN_OR_RETURN(auto t, ju::Int(list[i], "timeout", source, here, false));
    if (t && *t <= 0) return ju::FieldError(source, here + "/timeout", "must be positive");
    h.timeout = t.value_or(0);
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace

Result<OciState> ParseOciState(std::string_view bytes, std::string_view source) {
  IMMUNE_ASSIGN_OR_RETURN(json j, ju::Parse(bytes, source));
  if (!j.is_object()) return ju::FieldError(source, "", "the OCI state must be a JSON object");
  OciState s;
  IMMUNE_ASSIGN_OR_RETURN(std::string v, ju::RequiredString(j, "ociVersion", source, ""));
  s.oci_version = v;
  IMMUNE_ASSIGN_OR_RETURN(std::string id, ju::RequiredString(j, "id", source, ""));
  if (id.empty()) return ju::FieldError(source, "/id", "must not be empty");
  s.id = id;
  IMMUNE_ASSIGN_OR_RETURN(std::string status, ju::RequiredString(j, "status", source, ""));
  s.status = status;
  IMMUNE_ASSIGN_OR_RETURN(s.pid, Pid(j, "pid", source, "", false));
  IMMUNE_ASSIGN_OR_RETURN(std::string bundle, ju::RequiredString(j, "bundle", source, ""));
  if (bundle.empty() || bundle[0] != '/')
    return ju::FieldError(source, "/bundle", "must be an absolute path");
  s.bundle = bundle;
  IMMUNE_ASSIGN_OR_RETURN(s.annotations, ju::StringMap(j, "annotations", source, ""));
  return s;
}

Result<BundleConfig> ParseBundleConfig(std::string_view bytes, std::string_view source) {
  IMMUNE_ASSIGN_OR_RETURN(json j, ju::Parse(bytes, source));
  if (!j.is_object()) return ju::FieldError(source, "", "config.json must be a JSON object");
  BundleConfig c;
  IMMUNE_ASSIGN_OR_RETURN(auto v, ju::String(j, "ociVersion", source, "", false));
  c.oci_version = v.value_or("");
  if (!j.contains("root")) return ju::FieldError(source, "/root", "is missing");
  IMMUNE_ASSIGN_OR_RETURN(std::string rp, ju::RequiredString(j["root"], "path", source, "/root"));
  if (rp.empty()) return ju::FieldError(source, "/root/path", "must not be empty");
  c.root_path = rp;
  IMMUNE_ASSIGN_OR_RETURN(auto ro, ju::Bool(j["root"], "readonly", source, "/root", false));
  c.root_readonly = ro.value_or(false);
  IMMUNE_ASSIGN_OR_RETURN(c.annotations, ju::StringMap(j, "annotations", source, ""));

  if (auto it = j.find("hooks"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return ju::FieldError(source, "/hooks", "must be an object");
    for (const auto& [stage, list] : it->items()) {
      IMMUNE_ASSIGN_OR_RETURN(auto hooks, ParseHookList(list, source, "/hooks/" + stage));
      c.hooks.emplace(stage, std::move(hooks));
    }
  }
  if (auto it = j.find("linux"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return ju::FieldError(source, "/linux", "must be an object");
    if (auto ns = it->find("namespaces"); ns != it->end() && !ns->is_null()) {
      if (!ns->is_array()) return ju::FieldError(source, "/linux/namespaces", "must be an array");
      for (std::size_t i = 0; i < ns->size(); ++i) {
        const std::string here = "/linux/namespaces/" + std::to_string(i);
        OciNamespace n;
        IMMUNE_ASSIGN_OR_RETURN(std::string t, ju::RequiredString((*ns)[i], "type", source, here));
        IMMUNE_ASSIGN_OR_RETURN(auto p, ju::String((*ns)[i], "path", source, here, false));
        n.type = t;
        n.path = p.value_or("");
        c.namespaces.push_back(std::move(n));
      }
    }
  }
  if (auto it = j.find("mounts"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return ju::FieldError(source, "/mounts", "must be an array");
    for (std::size_t i = 0; i < it->size(); ++i) {
      const std::string here = "/mounts/" + std::to_string(i);
      OciMount m;
      IMMUNE_ASSIGN_OR_RETURN(std::string d, ju::RequiredString((*it)[i], "destination", source, here));
      IMMUNE_ASSIGN_OR_RETURN(auto t, ju::String((*it)[i], "type", source, here, false));
      IMMUNE_ASSIGN_OR_RETURN(auto s, ju::String((*it)[i], "source", source, here, false));
      IMMUNE_ASSIGN_OR_RETURN(m.options, ju::StringArray((*it)[i], "options", source, here));
      m.destination = d;
      m.type = t.value_or("");
      m.source = s.value_or("");
      c.mounts.push_back(std::move(m));
    }
  }
  return c;
}

std::string ResolveRootfs(std::string_view bundle, std::string_view root_path) {
  std::filesystem::path p(root_path);
  if (p.is_relative()) p = std::filesystem::path(bundle) / p;
  return p.lexically_normal().string();
}

Result<RuncState> ParseRuncState(std::string_view bytes, std::string_view source) {
  IMMUNE_ASSIGN_OR_RETURN(json j, ju::Parse(bytes, source));
  if (!j.is_object()) return ju::FieldError(source, "", "state.json must be a JSON object");
  RuncState s;
  IMMUNE_ASSIGN_OR_RETURN(std::string id, ju::RequiredString(j, "id", source, ""));
  s.id = id;
  IMMUNE_ASSIGN_OR_RETURN(s.init_pid, Pid(j, "init_process_pid", source, "", true));
  IMMUNE_ASSIGN_OR_RETURN(auto start, ju::Uint(j, "init_process_start", source, "", true));
  s.init_start_time = *start;
  IMMUNE_ASSIGN_OR_RETURN(auto created, ju::String(j, "created", source, "", false));
  s.created = created.value_or("");
  if (!j.contains("config")) return ju::FieldError(source, "/config", "is missing");
  IMMUNE_ASSIGN_OR_RETURN(std::string rootfs, ju::RequiredString(j["config"], "rootfs", source, "/config"));
  s.rootfs = rootfs;
  IMMUNE_ASSIGN_OR_RETURN(auto labels, ju::StringArray(j["config"], "labels", source, "/config"));
  for (const std::string& l : labels) {
    const auto eq = l.find('=');
    if (eq == std::string::npos)
      s.labels.emplace(l, "");
    else
      s.labels.emplace(l.substr(0, eq), l.substr(eq + 1));
  }
  if (auto it = s.labels.find("bundle"); it != s.labels.end()) s.bundle = it->second;
  IMMUNE_ASSIGN_OR_RETURN(s.cgroup_paths, ju::StringMap(j, "cgroup_paths", source, ""));
  return s;
}

Result<CrunStatus> ParseCrunStatus(std::string_view bytes, std::string_view source) {
  IMMUNE_ASSIGN_OR_RETURN(json j, ju::Parse(bytes, source));
  if (!j.is_object()) return ju::FieldError(source, "", "the crun status must be a JSON object");
  CrunStatus s;
  IMMUNE_ASSIGN_OR_RETURN(s.pid, Pid(j, "pid", source, "", true));
  IMMUNE_ASSIGN_OR_RETURN(auto start, ju::Uint(j, "process-start-time", source, "", false));
  s.process_start_time = start.value_or(0);
  IMMUNE_ASSIGN_OR_RETURN(auto cg, ju::String(j, "cgroup-path", source, "", false));
  s.cgroup_path = cg.value_or("");
  IMMUNE_ASSIGN_OR_RETURN(std::string rootfs, ju::RequiredString(j, "rootfs", source, ""));
  s.rootfs = rootfs;
  IMMUNE_ASSIGN_OR_RETURN(std::string bundle, ju::RequiredString(j, "bundle", source, ""));
  s.bundle = bundle;
  IMMUNE_ASSIGN_OR_RETURN(auto created, ju::String(j, "created", source, "", false));
  s.created = created.value_or("");
  return s;
}

}  // namespace immune::agents
