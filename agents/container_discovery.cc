#include "immune/agents/container_discovery.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "immune/agents/container_oci.h"
#include "immune/agents/container_proc.h"
#include "immune/core/file.h"

namespace immune::agents {

namespace fs = std::filesystem;

namespace {

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// The first line of a small control file, "" when unreadable.
std::string FirstLine(const std::string& path) {
  auto t = ReadTextFile(path);
  if (!t.ok()) return {};
  std::string s = *t;
  if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  return s;
}

// Frozen through the v1 freezer ("FROZEN"; "FREEZING" counts, as runc
// reports it paused too) or the v2 cgroup.freeze knob.
bool Frozen(const std::vector<std::string>& v1_freezer_dirs, const std::vector<std::string>& v2_dirs) {
  for (const auto& d : v1_freezer_dirs) {
    const std::string s = FirstLine(d + "/freezer.state");
    if (s == "FROZEN" || s == "FREEZING") return true;
  }
  for (const auto& d : v2_dirs)
    if (FirstLine(d + "/cgroup.freeze") == "1") return true;
  return false;
}

// What a state file says, before /proc is consulted.
struct Recorded {
  ContainerInfo info;
  std::vector<std::string> freezer_v1;
  std::vector<std::string> freezer_v2;
};

Result<Recorded> ReadRunc(const std::string& dir, const std::string& id, const DiscoveryRoots&) {
  const std::string path = dir + "/state.json";
  IMMUNE_ASSIGN_OR_RETURN(std::string bytes, ReadTextFile(path));
  IMMUNE_ASSIGN_OR_RETURN(RuncState s, ParseRuncState(bytes, path));
  Recorded r;
  r.info.id = s.id.empty() ? id : s.id;
  r.info.bundle = s.bundle;
  r.info.rootfs = s.rootfs;
  r.info.init_pid = s.init_pid;
  r.info.init_start_time = s.init_start_time;
  for (const auto& [k, v] : s.labels)
    if (k != "bundle") r.info.annotations.emplace(k, v);
  if (auto it = s.cgroup_paths.find("freezer"); it != s.cgroup_paths.end())
    r.freezer_v1.push_back(it->second);
  if (auto it = s.cgroup_paths.find(""); it != s.cgroup_paths.end()) r.freezer_v2.push_back(it->second);
  return r;
}

Result<Recorded> ReadCrun(const std::string& dir, const std::string& id, const DiscoveryRoots& roots) {
  const std::string path = dir + "/status";
  IMMUNE_ASSIGN_OR_RETURN(std::string bytes, ReadTextFile(path));
  IMMUNE_ASSIGN_OR_RETURN(CrunStatus s, ParseCrunStatus(bytes, path));
  Recorded r;
  r.info.id = id;
  r.info.bundle = s.bundle;
  r.info.rootfs = ResolveRootfs(s.bundle, s.rootfs);
  r.info.init_pid = s.pid;
  r.info.init_start_time = s.process_start_time;
  if (!s.cgroup_path.empty()) {
    r.freezer_v1.push_back(roots.cgroup_root + "/freezer" + s.cgroup_path);
    r.freezer_v2.push_back(roots.cgroup_root + s.cgroup_path);
  }
  return r;
}

void AddContainer(const StateRoot& root, const std::string& dir, const std::string& id,
                  const DiscoveryRoots& roots, DiscoveryResult* out) {
  auto rec = root.format == StateFormat::kRunc ? ReadRunc(dir, id, roots) : ReadCrun(dir, id, roots);
  if (!rec.ok()) {
    // A container being created or deleted has a directory without its file.
    if (rec.error().code() != ErrorCode::kNotFound) out->problems.push_back(rec.error());
    return;
  }
  ContainerInfo info = std::move(rec->info);
  info.runtime = root.runtime;

  // The bundle's config.json has the annotations as written (runc's labels
  // hold them too, flattened) and whether the root is read-only.
  if (!info.bundle.empty()) {
    const std::string cfg_path = info.bundle + "/config.json";
    if (auto bytes = ReadTextFile(cfg_path); bytes.ok()) {
      auto cfg = ParseBundleConfig(*bytes, cfg_path);
      if (cfg.ok()) {
        if (!cfg->annotations.empty()) info.annotations = cfg->annotations;
        info.rootfs_readonly = cfg->root_readonly;
        if (info.rootfs.empty()) info.rootfs = ResolveRootfs(info.bundle, cfg->root_path);
      } else {
        out->problems.push_back(cfg.error());
      }
    }
  }
  info.image = ImageFromAnnotations(info.annotations);
  info.runtime = RuntimeFromAnnotations(info.annotations, root.runtime);

  auto ident = info.init_pid > 0 ? ReadProcessIdentity(info.init_pid, roots.proc_root)
                                 : Result<ProcessIdentity>(NotFound("no init pid"));
  const bool alive = ident.ok() && (info.init_start_time == 0 || ident->start_time == info.init_start_time);
  if (!alive) {
    info.status = ContainerStatus::kStopped;
  } else {
    info.init_start_time = ident->start_time;
    info.pidns_inode = ident->pidns_inode;
    info.mntns_inode = ident->mntns_inode;
    info.rootfs_dev = ident->root_dev;
    info.cgroup = ident->cgroup;
    // runc and crun both keep exec.fifo until `start` opens it.
    if (Exists(dir + "/exec.fifo"))
      info.status = ContainerStatus::kCreated;
    else if (Frozen(rec->freezer_v1, rec->freezer_v2))
      info.status = ContainerStatus::kPaused;
    else
      info.status = ContainerStatus::kRunning;
  }
  out->containers.push_back(std::move(info));
}

void ScanRoot(const StateRoot& root, const std::string& path, const DiscoveryRoots& roots,
              DiscoveryResult* out) {
  std::error_code ec;
  fs::directory_iterator it(path, ec);
  if (ec) {
    if (ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
      out->problems.push_back(IoError(path + ": " + ec.message()));
    return;
  }
  for (const auto& entry : it) {
    std::error_code dir_ec;
    if (!entry.is_directory(dir_ec) || entry.is_symlink(dir_ec)) continue;
    AddContainer(root, entry.path().string(), entry.path().filename().string(), roots, out);
  }
}

}  // namespace

DiscoveryRoots DefaultDiscoveryRoots() {
  DiscoveryRoots d;
  d.roots = {
      {"/run/runc", StateFormat::kRunc, ContainerRuntime::kRunc, false},
      {"/run/crun", StateFormat::kCrun, ContainerRuntime::kCrun, false},
      {"/run/containerd/runc", StateFormat::kRunc, ContainerRuntime::kContainerd, true},
      {"/run/docker/runtime-runc/moby", StateFormat::kRunc, ContainerRuntime::kDocker, false},
  };
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && xdg[0] == '/') {
    d.roots.push_back({std::string(xdg) + "/runc", StateFormat::kRunc, ContainerRuntime::kPodman, false});
    d.roots.push_back({std::string(xdg) + "/crun", StateFormat::kCrun, ContainerRuntime::kPodman, false});
  }
  return d;
}

DiscoveryResult DiscoverContainers(const DiscoveryRoots& roots) {
  DiscoveryResult out;
  for (const StateRoot& root : roots.roots) {
    if (!root.per_namespace) {
      ScanRoot(root, root.path, roots, &out);
      continue;
    }
    std::error_code ec;
    fs::directory_iterator it(root.path, ec);
    if (ec) continue;
    for (const auto& ns : it) {
      std::error_code dir_ec;
      if (ns.is_directory(dir_ec)) ScanRoot(root, ns.path().string(), roots, &out);
    }
  }
  std::sort(out.containers.begin(), out.containers.end(),
            [](const ContainerInfo& a, const ContainerInfo& b) { return a.id < b.id; });
  return out;
}

}  // namespace immune::agents
