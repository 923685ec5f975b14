#include "immune/agents/exec_gate_agent.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/fanotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "immune/agents/actions.h"
#include "immune/agents/container_discovery.h"
#include "immune/agents/container_proc.h"
#include "immune/agents/overlay_layout.h"
#include "immune/core/hex.h"
#include "immune/core/json_bytes.h"
#include "immune/core/log.h"
#include "immune/policy/document.h"
#include "immune/tsbd/events.h"

namespace immune::agents {

namespace {

using json = nlohmann::json;

std::string ReadExe(pid_t pid) {
  char buf[4096];
  const std::string link = "/proc/" + std::to_string(pid) + "/exe";
  const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

std::uint64_t ScopeKey(const std::string& container_id) {
  // 0 is the host; a container never hashes to it.
  return std::hash<std::string>{}(container_id) | 1;
}

std::string DeniedWhat(CodeKind kind) {
  switch (kind) {
    case CodeKind::kExec: return "execution denied by policy";
    case CodeKind::kElfOpen: return "shared object or loaded program denied by policy";
    case CodeKind::kScriptOpen: return "script denied by policy";
    case CodeKind::kInterpreted: return "file opened by an interpreter denied by policy";
  }
  return "code denied by policy";
}

}  // namespace

std::size_t AnswerOrphanedEvents(int fanotify_fd, std::uint32_t response, int max_fd) {
  std::size_t answered = 0;
  for (int fd = 0; fd < max_fd; ++fd) {
    struct fanotify_response r = {fd, response};
    if (::write(fanotify_fd, &r, sizeof r) == static_cast<ssize_t>(sizeof r)) ++answered;
  }
  return answered;
}

class ExecGateAgent::PolicyDecider final : public Decider {
 public:
  explicit PolicyDecider(ExecGateAgent& agent) : agent_(agent) {}

  std::uint64_t ScopeOf(const GateEvent& ev) override {
    auto ct = agent_.containers_.Lookup(ev.pid, ev.pidfd);
    return ct.ok() && *ct ? ScopeKey((*ct)->id) : 0;
  }

  std::uint64_t Generation() const override { return agent_.policy_.generation(); }

  GateAnswer Decide(const GateEvent& ev) override {
    if (agent_.stopped_) throw std::runtime_error("exec gate agent is stopping");
    ContainerMap::InfoPtr ct;
    if (auto r = agent_.containers_.Lookup(ev.pid, ev.pidfd); r.ok()) ct = *r;

    tsb::MeasurementEntry e;
    e.pid = static_cast<std::uint32_t>(ev.pid);
    e.exe = ReadExe(ev.pid);
    e.path = ev.path.empty() ? "(unknown)" : ev.path;
    e.file_hash_alg = ev.alg;
    e.file_digest = ev.digest;
    const ByteSpan xattr = ev.ima_xattr ? ByteSpan(*ev.ima_xattr) : ByteSpan();
    if (ct) {
      // The path as the container sees it (the kernel names files opened
      // through the container's mounts relative to the host's view when it
      // can: strip the root filesystem's host path).
      if (!ct->rootfs.empty() && e.path.size() > ct->rootfs.size() && e.path.starts_with(ct->rootfs) &&
          e.path[ct->rootfs.size()] == '/')
        e.path.erase(0, ct->rootfs.size());
      e.template_kind = tsb::TemplateKind::kImmuneCt;
      e.container_id = ct->id;
      e.image = ct->image;
    } else if (!xattr.empty()) {
      e.template_kind = tsb::TemplateKind::kImaSig;
      e.signature.assign(xattr.begin(), xattr.end());
    }

    policy::ActionSet actions = policy::kDefaultActions;
    auto snap = agent_.policy_.Current();
    if (snap) {
      const policy::Subject subject{e.container_id, e.image, e.exe, e.pid};
      const policy::Object object{e.path, e.file_hash_alg, e.file_digest, xattr};
      const policy::Decision d = snap->Decide(subject, object);
      if (d.mode == policy::Mode::kLearn) agent_.policy_.learner().Record(subject, object);
      e.decision = tsbd::ToTsbDecision(d.verdict);
      e.rule = std::string(d.rule);
      actions = d.actions;
    } else {
      // No operator policy: the daemon's built-in hook (deny_paths).
      tsbd::Verdict v = agent_.policy_.Decide(e);
      e.decision = v.decision;
      e.rule = v.rule.empty() ? "builtin:allow" : v.rule;
    }

    // Measured before use: the entry is journaled (and extended) first.
    auto submitted = agent_.host_->Submit("exec-gate", {e});
    if (!submitted.ok()) throw std::runtime_error("journal: " + submitted.error().ToString());

    if (e.decision != tsb::Decision::kDeny) return GateAnswer{true, true};
    agent_.OnDenied(actions, ev, ct.get(), e, (*submitted)[0].seq);
    return GateAnswer{!policy::Has(actions, policy::Action::kDeny), true};
  }

 private:
  ExecGateAgent& agent_;
};

ExecGateAgent::ExecGateAgent(tsbd::GateSection config, tsbd::PolicyEngine& policy, int inherited_fd)
    : config_(std::move(config)), policy_(policy), inherited_fd_(inherited_fd) {}

ExecGateAgent::~ExecGateAgent() { Stop(); }

void ExecGateAgent::OnDenied(policy::ActionSet actions, const GateEvent& ev, const ContainerInfo* ct,
                             const tsb::MeasurementEntry& e, std::uint64_t seq) {
  std::vector<std::string> done;
  // What the kernel is answered (fanotify gives the opener EPERM).
  done.push_back(policy::Has(actions, policy::Action::kDeny)
                     ? "refused (EPERM)"
                     : "allowed: the policy's actions (" + policy::ActionSetToString(actions) +
                           ") leave out deny");
  if (policy::Has(actions, policy::Action::kKill)) {
    Status k = KillProcess(ev.pid, ev.pidfd);
    done.push_back(k.ok() ? "killed pid " + std::to_string(ev.pid)
                          : "kill pid " + std::to_string(ev.pid) + " failed: " + k.error().message());
  }
  if (policy::Has(actions, policy::Action::kFreeze)) {
    if (!ct) {
      done.push_back("freeze: not in a container");
    } else {
      Status s = FreezeContainer(*ct);
      done.push_back(s.ok() ? "froze container " + ct->id
                            : "freeze " + ct->id + " failed: " + s.error().message());
    }
  }
  if (policy::Has(actions, policy::Action::kStop)) {
    if (!ct) {
      done.push_back("stop: not in a container");
    } else {
      Status s = StopContainer(*ct);
      done.push_back(s.ok() ? "stopped container " + ct->id
                            : "stop " + ct->id + " failed: " + s.error().message());
    }
  }
  tsbd::Alarm a;
  a.severity = tsbd::Severity::kHigh;
  a.what = DeniedWhat(ev.kind);
  a.why = "rule " + e.rule + ": " + e.path + " (" + std::string(HashAlgName(e.file_hash_alg)) + ":" +
          ToHex(e.file_digest) + ")";
  a.seq = seq;
  a.entry = e;
  a.agent = "exec-gate";
  for (const auto& d : done) a.action += (a.action.empty() ? "" : "; ") + d;
  // The journal entry is there either way; the alarm only when the policy
  // asks for one (its default actions do).
  if (!policy::Has(actions, policy::Action::kAlarm)) {
    LogWarning("exec gate: " + a.what + ": " + a.why + ": " + a.action);
    return;
  }
  host_->RaiseAlarm(std::move(a));
}

Status ExecGateAgent::Start(tsbd::AgentHost& host, const std::map<std::string, std::string>&) {
  host_ = &host;
  GateConfig gc;
  gc.inherited_fd = inherited_fd_;
  gc.gate_code_opens = config_.code_opens;
  gc.use_pidfd = config_.report_pidfd;
  gc.queue_capacity = config_.queue_capacity;
  gc.workers = static_cast<unsigned>(config_.workers);
  gc.reader_nice = config_.reader_nice;
  gc.overload_mode = config_.overload_allow ? FailMode::kOpen : FailMode::kClosed;
  gc.interpreters = policy::DefaultInterpreters();
  decider_ = std::make_shared<PolicyDecider>(*this);
  IMMUNE_ASSIGN_OR_RETURN(gate_, ExecGate::Create(gc, decider_));
  if (inherited_fd_ >= 0) {
    const std::size_t n = AnswerOrphanedEvents(gate_->fanotify_fd(), FAN_DENY);
    LogWarning("exec gate: adopted the supervisor's fanotify group; denied " + std::to_string(n) +
               " event(s) the previous daemon had read but not answered");
  }
  for (const auto& m : config_.mounts) {
    Status s = gate_->AddMark(m.path, m.filesystem ? MarkKind::kFilesystem : MarkKind::kMount);
    if (!s.ok()) return s.error().WithContext("gate.mounts " + m.path);
    std::lock_guard lock(marks_mu_);
    marks_[m.path] = m.filesystem ? "filesystem" : "mount";
  }
  if (config_.memfd_noexec >= 0) {
    Status s = SetMemfdNoexec(::getpid(), config_.memfd_noexec);
    if (!s.ok() && s.error().code() != ErrorCode::kUnsupported)
      return s.error().WithContext("gate.memfd_noexec for the host");
    if (!s.ok()) LogWarning("exec gate: " + s.error().ToString());
  }

  // Containers that run already: discovered from the runtimes' state.
  DiscoveryRoots roots = DefaultDiscoveryRoots();
  if (!config_.runtime_roots.empty()) {
    roots.roots.clear();
    for (const auto& r : config_.runtime_roots) roots.roots.push_back(StateRoot{r});
  }
  const DiscoveryResult found = DiscoverContainers(roots);
  for (const auto& p : found.problems) LogWarning("container discovery: " + p.ToString());
  containers_.Refresh(found);
  for (const auto& ct : containers_.List()) {
    if (ct.rootfs.empty()) continue;
    Status s = gate_->AddMark(ct.rootfs, MarkKind::kFilesystem);
    if (!s.ok()) {
      LogWarning("exec gate: container " + ct.id + ": " + s.error().ToString());
      continue;
    }
    std::lock_guard lock(marks_mu_);
    marks_[ct.rootfs] = "filesystem:" + ct.id;
  }

  IMMUNE_RETURN_IF_ERROR(host.RegisterControl("container.register",
                                              [this](const std::string& a) { return RegisterContainer(a); }));
  IMMUNE_RETURN_IF_ERROR(host.RegisterControl(
      "container.unregister", [this](const std::string& a) { return UnregisterContainer(a); }));
  IMMUNE_ASSIGN_OR_RETURN(overlay_, OverlayMeasurer::Create(OverlayMeasureOptions{}));
  IMMUNE_RETURN_IF_ERROR(host.RegisterControl(
      "container.measure", [this](const std::string& a) { return MeasureContainer(a); }));
  IMMUNE_RETURN_IF_ERROR(
      host.RegisterControl("gate.status", [this](const std::string&) -> Result<std::string> {
        if (stopped_) return Unavailable("the exec gate is stopped");
        return StatusJson();
      }));
  IMMUNE_RETURN_IF_ERROR(gate_->Start());
  LogInfo("exec gate: " + std::to_string(config_.mounts.size()) + " mount(s), " +
          std::to_string(containers_.size()) + " running container(s) marked");
  return OkStatus();
}

void ExecGateAgent::Stop() {
  if (stopped_.exchange(true)) return;
  if (gate_) gate_->Stop();
}

GateStats ExecGateAgent::stats() const { return gate_ ? gate_->Stats() : GateStats{}; }

std::string ExecGateAgent::StatusJson() const {
  const GateStats s = stats();
  json j;
  j["gate"] = {{"events", s.events},
               {"execs", s.execs},
               {"code_opens", s.code_opens},
               {"data_opens", s.data_opens},
               {"cache_hits", s.cache_hits},
               {"cache_misses", s.cache_misses},
               {"content_hits", s.content_hits},
               {"decisions", s.decisions},
               {"allowed", s.allowed},
               {"denied", s.denied},
               {"overload_answers", s.overload_answers},
               {"errors", s.errors},
               {"kernel_overflows", s.kernel_overflows},
               {"queue_high_water", s.queue_high_water},
               {"pidfd_reporting", gate_ ? gate_->pidfd_reporting() : false}};
  json cts = json::array();
  for (const auto& ct : const_cast<ContainerMap&>(containers_).List()) cts.push_back(ContainerInfoToJson(ct));
  j["containers"] = cts;
  json marks = json::object();
  {
    std::lock_guard lock(marks_mu_);
    for (const auto& [p, k] : marks_) marks[p] = k;
  }
  j["marks"] = marks;
  return j.dump(-1, ' ', false,
                json::error_handler_t::replace);  // a mark path from the configuration may be any bytes
}

Result<std::string> ExecGateAgent::RegisterContainer(const std::string& args_json) {
  if (stopped_) return Unavailable("the exec gate is stopped");
  const json j = json::parse(args_json, nullptr, false);
  if (j.is_discarded()) return InvalidArgument("args: not JSON");
  IMMUNE_ASSIGN_OR_RETURN(auto args, ContainerRegisterArgsFromJson(j));
  ContainerInfo& info = args.container;
  if (info.rootfs.empty() || info.rootfs[0] != '/')
    return InvalidArgument("args.container.rootfs: an absolute path is required to gate container " +
                           info.id);
  // Mark first: the hook's reply (and so the container's first exec) waits
  // for it. A root the gate may not mark (the host's own filesystem) refuses
  // the container: fail-closed.
  Status m = gate_->AddMark(info.rootfs, MarkKind::kFilesystem);
  if (!m.ok()) return m.error().WithContext("container " + info.id + ": mark " + info.rootfs);
  const std::string id = info.id;
  const pid_t init = info.init_pid;
  const std::string rootfs = info.rootfs;
  IMMUNE_RETURN_IF_ERROR(containers_.Register(std::move(info)));
  {
    std::lock_guard lock(marks_mu_);
    marks_[rootfs] = "filesystem:" + id;
  }
  json reply = {{"registered", id}, {"marked", json::array({rootfs})}};
  if (config_.memfd_noexec >= 0 && init > 0) {
    Status s = SetMemfdNoexec(init, config_.memfd_noexec);
    if (!s.ok() && s.error().code() != ErrorCode::kUnsupported) {
      containers_.Unregister(id);
      return s.error().WithContext("container " + id + ": vm.memfd_noexec");
    }
    reply["memfd_noexec"] = s.ok() ? config_.memfd_noexec : -1;
  }
  LogInfo("exec gate: container " + id + " registered, " + rootfs + " gated");
  return reply.dump();
}

Result<std::string> ExecGateAgent::UnregisterContainer(const std::string& args_json) {
  if (stopped_) return Unavailable("the exec gate is stopped");
  const json j = json::parse(args_json, nullptr, false);
  if (j.is_discarded()) return InvalidArgument("args: not JSON");
  IMMUNE_ASSIGN_OR_RETURN(auto args, ContainerUnregisterArgsFromJson(j));
  auto info = containers_.Get(args.id);
  const bool known = containers_.Unregister(args.id);
  if (info && !info->rootfs.empty()) {
    std::lock_guard lock(marks_mu_);
    marks_.erase(info->rootfs);
  }
  return json{{"unregistered", args.id}, {"known", known}}.dump();
}

Result<std::string> ExecGateAgent::MeasureContainer(const std::string& args_json) {
  if (stopped_) return Unavailable("the exec gate is stopped");
  const json j = json::parse(args_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("args: not a JSON object");
  if (!j.contains("id") || !j["id"].is_string() || j["id"].get<std::string>().empty())
    return InvalidArgument("args.id: the container id is required");
  const std::string id = j["id"].get<std::string>();
  if (j.contains("image") && !j["image"].is_string()) return InvalidArgument("args.image: a string");
  if (j.contains("image") && !j["image"].is_string()) return InvalidArgument("args.image: a string");
  std::string image = j.contains("image") ? j["image"].get<std::string>() : std::string();

  // The layout: from the registered container's mount, or given (a stopped
  // container whose overlay is no longer mounted).
  OverlayLayout layout;
  if (j.contains("upper") || j.contains("lowers")) {
    if (!j.contains("lowers") || !j["lowers"].is_array() || j["lowers"].empty())
      return InvalidArgument("args.lowers: a non-empty list of layer directories, top first");
    for (const auto& l : j["lowers"]) {
      if (!l.is_string()) return InvalidArgument("args.lowers: directories are strings");
      layout.lowers.push_back(l.get<std::string>());
    }
    if (j.contains("upper")) {
      if (!j["upper"].is_string()) return InvalidArgument("args.upper: a directory");
      layout.upper = j["upper"].get<std::string>();
    }
  } else {
    auto info = containers_.Get(id);
    if (!info) return NotFound("container " + id + " is not registered; give its lowers and upper");
    if (image.empty()) image = info->image;
    IMMUNE_ASSIGN_OR_RETURN(layout, OverlayLayoutForContainer(*info));
  }
  IMMUNE_ASSIGN_OR_RETURN(OverlayReport report, overlay_->Measure(layout));
  IMMUNE_ASSIGN_OR_RETURN(auto entries, OverlayReportEntries(report, OverlayEntryOptions{id, image}));

  // Decide each created/changed file as an exec of it would be, then journal.
  auto snap = policy_.Current();
  std::vector<std::size_t> denied_at;  // indexes into entries
  bool alarm = false;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto& e = entries[i];
    e.exe = "(overlay measurement)";
    policy::ActionSet actions = policy::kDefaultActions;
    if (snap) {
      const policy::Subject subject{e.container_id, e.image, e.exe, 0};
      const policy::Object object{e.path, e.file_hash_alg, e.file_digest, {}};
      const policy::Decision d = snap->Decide(subject, object);
      e.decision = tsbd::ToTsbDecision(d.verdict);
      e.rule = std::string(d.rule);
      actions = d.actions;
    } else {
      tsbd::Verdict v = policy_.Decide(e);
      e.decision = v.decision;
      e.rule = v.rule.empty() ? "builtin:allow" : v.rule;
    }
    if (e.decision == tsb::Decision::kDeny) {
      denied_at.push_back(i);
      alarm = alarm || policy::Has(actions, policy::Action::kAlarm);
    }
  }
  const std::size_t denied = denied_at.size();
  if (!entries.empty()) {
    auto submitted = host_->Submit("exec-gate", entries);
    if (!submitted.ok()) return submitted.error().WithContext("journal");
    // One alarm for the measurement, naming the first denied files (the
    // daemon raises none for entries the agent decided).
    if (alarm) {
      constexpr std::size_t kNamed = 8;
      const auto& first = entries[denied_at[0]];
      tsbd::Alarm a;
      a.severity = tsbd::Severity::kHigh;
      a.what = "container files denied by policy";
      a.why = std::to_string(denied) + " created or changed file(s) of container " + id + " denied:";
      for (std::size_t k = 0; k < denied && k < kNamed; ++k) {
        const auto& e = entries[denied_at[k]];
        a.why += (k ? ", " : " ") + e.path + " (rule " + e.rule + ")";
      }
      if (denied > kNamed) a.why += ", and " + std::to_string(denied - kNamed) + " more";
      a.seq = (*submitted)[denied_at[0]].seq;
      a.entry = first;
      a.agent = "exec-gate";
      a.action = "logged; a measurement blocks nothing (the gate decides each exec as it happens)";
      host_->RaiseAlarm(std::move(a));
    }
  }

  auto items = [](const std::vector<OverlayItem>& list) {
    json a = json::array();
    // Names the container wrote: bytes, not always UTF-8 (json_bytes.h).
    for (const auto& it : list) a.push_back(BytesToJson(it.path));
    return a;
  };
  json reply = {{"id", id},
                {"image", image},
                {"created", items(report.created)},
                {"changed", items(report.changed)},
                {"deleted", items(report.deleted)},
                {"unchanged_copied_up", items(report.unchanged_copied_up)},
                {"inherited", report.inherited},
                {"hashed_files", report.hashed_files},
                {"hashed_bytes", report.hashed_bytes},
                {"layers_cached", report.layers_cached},
                {"layers_built", report.layers_built},
                {"layer_files_hashed", report.layer_files_hashed},
                {"journaled", entries.size()},
                {"denied", denied},
                {"warnings", report.warnings}};
  // The warnings quote file names as they are: replaced, not thrown on, if not UTF-8.
  return reply.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace immune::agents
