#include "immune/agents/integrity_agent.h"

#include <dirent.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "immune/agents/actions.h"
#include "immune/core/json_bytes.h"
#include "immune/core/hex.h"
#include "immune/core/log.h"
#include "immune/tsbd/events.h"

namespace immune::agents {

namespace {

using json = nlohmann::json;

std::vector<pid_t> AllPids() {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (end && *end == '\0' && pid > 0) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return out;
}

}  // namespace

IntegrityAgent::IntegrityAgent(tsbd::IntegritySection config, tsbd::PolicyEngine& policy, ContainerMap* containers)
    : config_(std::move(config)), policy_(policy), containers_(containers) {}

IntegrityAgent::~IntegrityAgent() { Stop(); }

std::vector<pid_t> IntegrityAgent::Targets() {
  std::vector<pid_t> out;
  const pid_t self = ::getpid();
  for (pid_t pid : AllPids()) {
    if (pid == self) continue;
    if (config_.pims_host) {
      out.push_back(pid);
      continue;
    }
    if (!containers_ || containers_->size() == 0) continue;
    auto ct = containers_->Lookup(pid);
    if (ct.ok() && *ct) out.push_back(pid);
  }
  return out;
}

void IntegrityAgent::OnViolation(const PimsViolation& v) {
  if (stopped_) return;
  const ProcessIntegrity& pi = v.integrity;
  ContainerMap::InfoPtr ct;
  if (containers_) {
    if (auto r = containers_->Lookup(pi.pid, v.pidfd); r.ok()) ct = *r;
  }
  auto snap = policy_.Current();
  policy::ActionSet actions = policy::kDefaultActions;
  bool enforce = true;
  std::vector<tsb::MeasurementEntry> entries;
  for (const auto& m : pi.mappings) {
    if (m.status != MappingStatus::kModified || m.digest_mem.size() != DigestSize(HashAlg::kSha256)) continue;
    tsb::MeasurementEntry e;
    e.pid = static_cast<std::uint32_t>(pi.pid);
    e.exe = pi.exe;
    e.path = m.map.path.empty() ? "[anonymous]" : m.map.path;
    e.file_hash_alg = HashAlg::kSha256;
    e.file_digest = m.digest_mem;  // what is in memory now
    if (ct) {
      e.template_kind = tsb::TemplateKind::kImmuneCt;
      e.container_id = ct->id;
      e.image = ct->image;
    }
    // Decided as an exec of that code would be: nothing allows a patched
    // text, so a deny (or an audit in permissive mode).
    e.decision = tsb::Decision::kDeny;
    if (snap) {
      const policy::Subject subject{e.container_id, e.image, e.exe, e.pid};
      const policy::Object object{e.path, e.file_hash_alg, e.file_digest, {}};
      const policy::Decision d = snap->Decide(subject, object);
      actions = d.actions;
      if (d.mode != policy::Mode::kEnforce) {
        enforce = false;
        e.decision = tsb::Decision::kAudit;
      }
    }
    e.rule = "pims:modified-text";
    entries.push_back(std::move(e));
  }
  if (entries.empty()) return;
  ++violations_;
  const std::string first = entries[0].path;
  auto submitted = host_->Submit("integrity", entries);
  if (!submitted.ok()) LogError("integrity: journal: " + submitted.error().ToString());

  std::vector<std::string> done;
  if (enforce && policy::Has(actions, policy::Action::kKill)) {
    Status s = KillProcess(pi.pid, v.pidfd);
    done.push_back(s.ok() ? "killed pid " + std::to_string(pi.pid) : s.error().message());
  }
  if (enforce && ct && policy::Has(actions, policy::Action::kFreeze)) {
    Status s = FreezeContainer(*ct);
    done.push_back(s.ok() ? "froze container " + ct->id : s.error().message());
  }
  if (enforce && ct && policy::Has(actions, policy::Action::kStop)) {
    Status s = StopContainer(*ct);
    done.push_back(s.ok() ? "stopped container " + ct->id : s.error().message());
  }
  tsbd::Alarm a;
  a.severity = tsbd::Severity::kCritical;
  a.what = "process code modified in memory";
  a.why = "pid " + std::to_string(pi.pid) + " (" + pi.exe + "): " + std::to_string(pi.modified) +
          " executable mapping(s) differ from their files, first " + first;
  a.agent = "integrity";
  a.entry = entries[0];
  if (submitted.ok() && !submitted->empty()) a.seq = (*submitted)[0].seq;
  for (const auto& d : done) a.action += (a.action.empty() ? "" : "; ") + d;
  if (a.action.empty()) a.action = enforce ? "logged" : "logged (permissive)";
  LogWarning("integrity: " + a.why + ": " + a.action);
  host_->RaiseAlarm(std::move(a));
}

void IntegrityAgent::OnConfigChange(const ConfigChange& c) {
  if (stopped_) return;
  ++config_changes_;
  tsb::MeasurementEntry e;
  e.path = c.path;
  e.exe = "(configuration watch)";
  e.file_hash_alg = HashAlg::kSha256;
  // A removed file is measured as IMA measures what it cannot read: zeros.
  e.file_digest = c.new_digest ? *c.new_digest : Bytes(DigestSize(HashAlg::kSha256), 0);
  e.decision = tsb::Decision::kAudit;
  e.rule = c.old_digest ? (c.new_digest ? "config:changed" : "config:removed") : "config:created";
  auto submitted = host_->Submit("integrity", {e});
  if (!submitted.ok()) LogError("integrity: journal: " + submitted.error().ToString());
  tsbd::Alarm a;
  a.severity = tsbd::Severity::kWarning;
  a.what = "critical configuration file changed";
  a.why = c.path + ": " + (c.old_digest ? ToHex(*c.old_digest) : std::string("(absent)")) + " -> " +
          (c.new_digest ? ToHex(*c.new_digest) : std::string("(absent)"));
  a.agent = "integrity";
  a.entry = e;
  a.action = "logged";
  host_->RaiseAlarm(std::move(a));
}

Status IntegrityAgent::Start(tsbd::AgentHost& host, const std::map<std::string, std::string>&) {
  host_ = &host;
  if (config_.pims_interval_ms > 0) {
    PimsScannerOptions po;
    po.interval = std::chrono::milliseconds(config_.pims_interval_ms);
    scanner_ = std::make_unique<PimsScanner>(
        po, [this] { return Targets(); }, [this](const PimsViolation& v) { OnViolation(v); });
    IMMUNE_RETURN_IF_ERROR(scanner_->Start());
  }
  // Critical files: the configured ones (or the defaults) and every file a
  // policy document names in critical-files, now and after each reload.
  ConfigWatch::Options wo;
  wo.poll_interval = std::chrono::milliseconds(config_.poll_interval_ms);
  watch_ = std::make_unique<ConfigWatch>(wo, [this](const ConfigChange& c) { OnConfigChange(c); });
  std::vector<std::string> files;
  if (config_.watch_critical_files)
    files = config_.critical_files.empty() ? DefaultCriticalFiles() : config_.critical_files;
  for (const auto& f : files) {
    Status s = watch_->Add(f);
    if (!s.ok()) return s.error().WithContext("integrity.critical_files");
  }
  IMMUNE_RETURN_IF_ERROR(watch_->Start());
  IMMUNE_RETURN_IF_ERROR(JournalMeasured(files));
  policy_.AddInstallListener([this](const policy::Snapshot& snap) {
    std::vector<std::string> named;
    for (const auto& d : snap.documents())
      for (const auto& f : d.critical_files) named.push_back(f);
    std::vector<std::string> added;
    for (const auto& f : named) {
      if (watched_.insert(f).second) {
        if (Status s = watch_->Add(f); !s.ok()) LogWarning("integrity: " + s.error().ToString());
        added.push_back(f);
      }
    }
    // On the installing thread (start, or a control request): journaling
    // here waits for the writer, which never waits on policy installs.
    if (!added.empty()) {
      Status s = JournalMeasured(added);
      if (!s.ok()) LogWarning("integrity: " + s.error().ToString());
    }
  });
  IMMUNE_RETURN_IF_ERROR(host.RegisterControl("integrity.status", [this](const std::string&) -> Result<std::string> {
    if (stopped_) return Unavailable("the integrity agent is stopped");
    return StatusJson();
  }));
  IMMUNE_RETURN_IF_ERROR(host.RegisterControl("integrity.scan", [this](const std::string&) -> Result<std::string> {
    if (stopped_ || !scanner_) return Unavailable("no PIMS scanner (integrity.pims_interval_ms is 0)");
    if (!scanner_->ScanNow(std::chrono::seconds(30))) return Unavailable("the scan did not finish within 30 s");
    return StatusJson();
  }));
  return OkStatus();
}

Status IntegrityAgent::JournalMeasured(const std::vector<std::string>& paths) {
  // The measurements at start go into the log as well (IMA measures
  // policy-named files at first use; these are measured when named).
  std::vector<tsb::MeasurementEntry> entries;
  for (const auto& m : watch_->Snapshot()) {
    if (!m.digest || std::find(paths.begin(), paths.end(), m.path) == paths.end()) continue;
    tsb::MeasurementEntry e;
    e.path = m.path;
    e.exe = "(configuration watch)";
    e.file_digest = *m.digest;
    e.decision = tsb::Decision::kAllow;
    e.rule = "config:measured";
    entries.push_back(std::move(e));
  }
  if (entries.empty()) return OkStatus();
  auto r = host_->Submit("integrity", entries);
  if (!r.ok()) return r.error().WithContext("integrity: journal");
  return OkStatus();
}

void IntegrityAgent::Stop() {
  if (stopped_.exchange(true)) return;
  if (scanner_) scanner_->Stop();
  if (watch_) watch_->Stop();
}

std::string IntegrityAgent::StatusJson() const {
  json j;
  if (scanner_) {
    const PimsStats s = scanner_->stats();
    j["pims"] = {{"periods", s.periods},
                 {"processes_scanned", s.processes_scanned},
                 {"mappings_checked", s.mappings_checked},
                 {"bytes_compared", s.bytes_compared},
                 {"violations", s.violations},
                 {"cpu_ms", std::chrono::duration<double, std::milli>(s.cpu_time).count()}};
  }
  j["violations"] = violations_.load();
  j["config_changes"] = config_changes_.load();
  json files = json::array();
  if (watch_)
    for (const auto& m : watch_->Snapshot())
      files.push_back({{"path", BytesToJson(m.path)}, {"digest", m.digest ? ToHex(*m.digest) : ""}, {"error", m.error}});
  j["critical_files"] = files;
  return j.dump();
}

}  // namespace immune::agents
