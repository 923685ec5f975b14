#include "immune/tsbd/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <syslog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <utility>
#include <zmq.hpp>

#include "immune/core/file.h"
#include "immune/core/hex.h"
#include "immune/core/log.h"

namespace immune::tsbd {

namespace {

std::string Hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

Status MakePrivateDir(const std::string& dir) {
  // Parents as usual; the state directory itself 0700 and ours.
  for (std::size_t i = 1; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      const std::string part = dir.substr(0, i);
      const bool last = i == dir.size();
      if (::mkdir(part.c_str(), last ? 0700 : 0755) != 0 && errno != EEXIST)
        return IoError("state_dir " + part + ": mkdir: " + std::strerror(errno));
    }
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return IoError("state_dir " + dir + ": not a directory");
  if (st.st_uid != ::geteuid())
    return Error(ErrorCode::kPermissionDenied,
                 "state_dir " + dir + ": owned by uid " + std::to_string(st.st_uid) + ", not by us");
  if ((st.st_mode & 07777) != 0700 && ::chmod(dir.c_str(), 0700) != 0)
    return IoError("state_dir " + dir + ": chmod 0700: " + std::strerror(errno));
  return OkStatus();
}

// Alive and not a zombie (an orphan's zombie waits for init to reap it).
bool ProcessRuns(pid_t pid) {
  if (pid <= 1 || ::kill(pid, 0) != 0) return false;
  auto stat = ReadTextFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return false;
  const auto paren = stat->rfind(')');
  return paren == std::string::npos || paren + 2 >= stat->size() || (*stat)[paren + 2] != 'Z';
}

// The embedded swtpm of a previous immuned that died without stopping it
// (SIGKILL): it still runs, holds its state directory's lock and, unlike a
// restarted swtpm, still has the PCRs the journal was extended into. It is
// adopted when the PID in `pidfile` is alive and its command line names our
// swtpm state directory. Returns (pid, tcti) or nullopt.
std::optional<std::pair<pid_t, std::string>> FindOrphanSwtpm(const std::string& pidfile,
                                                             const std::string& swtpm_dir) {
  auto text = ReadTextFile(pidfile);
  if (!text.ok()) return std::nullopt;
  const auto space = text->find(' ');
  if (space == std::string::npos) return std::nullopt;
  const std::string pid_text = text->substr(0, space);
  std::string tcti = text->substr(space + 1);
  while (!tcti.empty() && (tcti.back() == '\n' || tcti.back() == ' ')) tcti.pop_back();
  if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos ||
      pid_text.size() > 9)
    return std::nullopt;
  const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
  if (!ProcessRuns(pid)) return std::nullopt;
  auto cmdline = ReadFile("/proc/" + pid_text + "/cmdline");
  if (!cmdline.ok()) return std::nullopt;
  std::string cmd(cmdline->begin(), cmdline->end());
  for (char& c : cmd)
    if (c == '\0') c = ' ';
  if (cmd.find("swtpm") == std::string::npos || cmd.find("dir=" + swtpm_dir + "/tpm") == std::string::npos)
    return std::nullopt;
  return std::make_pair(pid, tcti);
}

// Stops a process that is not our child: SIGTERM, then SIGKILL after 5 s.
void StopByPid(pid_t pid) {
  if (pid <= 1) return;
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (::kill(pid, 0) == 0) ::kill(pid, SIGKILL);
}

}  // namespace

Daemon::Daemon(DaemonConfig config)
    : config_(std::move(config)), started_(std::chrono::steady_clock::now()) {}

Result<std::unique_ptr<Daemon>> Daemon::Start(DaemonConfig config) {
  std::unique_ptr<Daemon> d(new Daemon(std::move(config)));
  Status s = d->Init();
  if (!s.ok()) {
    d->Stop();
    return s.error();
  }
  return d;
}

Status Daemon::Init() {
  const std::string& dir = config_.state_dir;
  IMMUNE_RETURN_IF_ERROR(MakePrivateDir(dir));
  const std::string lock_path = dir + "/immuned.lock";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) return IoError(lock_path + ": open: " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0)
    return Unavailable(lock_path + ": another immuned runs on this state directory");

  // Endpoints are checked before anything is started.
  IMMUNE_RETURN_IF_ERROR(CheckEndpoint(AgentEndpoint(config_), "agent"));
  IMMUNE_RETURN_IF_ERROR(CheckEndpoint(ControlEndpoint(config_), "control"));
  IMMUNE_RETURN_IF_ERROR(CheckEndpoint(EventsEndpoint(config_), "events"));
  IMMUNE_RETURN_IF_ERROR(InitCurve());

  // The TPM.
  tcti_ = config_.tcti;
  if (tcti_.empty()) tcti_ = tpm::DefaultTcti().value_or("embedded");
  if (tcti_ == "embedded") {
    embedded_ = true;
    tpm::SwtpmOptions so;
    so.state_dir = dir + "/swtpm";
    so.pcr_banks = config_.banks;
    const std::string pidfile = dir + "/swtpm.pid";
    if (auto orphan = FindOrphanSwtpm(pidfile, so.state_dir)) {
      auto t = tpm::OpenTpm(orphan->second);
      if (t.ok()) {
        adopted_swtpm_pid_ = orphan->first;
        tcti_ = orphan->second;
        tpm_ = std::move(t).value();
        LogWarning("adopted the embedded swtpm (pid " + std::to_string(orphan->first) + ", " + tcti_ +
                   ") left running by a previous immuned");
      } else {
        LogWarning("stopping the unresponsive swtpm pid " + std::to_string(orphan->first) +
                   " left by a previous immuned");
        StopByPid(orphan->first);
      }
    }
    if (!tpm_) {
      auto sw = tpm::SwtpmProcess::Start(so);
      if (!sw.ok()) return sw.error().WithContext("embedded swtpm in " + so.state_dir);
      swtpm_ = std::move(sw).value();
      tcti_ = swtpm_->tcti();
      const std::string record = std::to_string(swtpm_->pid()) + " " + tcti_ + "\n";
      IMMUNE_RETURN_IF_ERROR(WriteFileAtomic(
          pidfile, ByteSpan(reinterpret_cast<const std::uint8_t*>(record.data()), record.size()), 0600));
      LogInfo("embedded swtpm pid " + std::to_string(swtpm_->pid()) + " at " + tcti_);
    }
  }
  if (!tpm_) {
    auto t = tpm::OpenTpm(tcti_);
    if (!t.ok()) return t.error().WithContext("TPM " + tcti_);
    tpm_ = std::move(t).value();
  }

  // Events first, so alarms raised while the log recovers are published.
  try {
    zmq_ = std::make_unique<zmq::context_t>(1);
  } catch (const zmq::error_t& e) {
    return Internal(std::string("zmq context: ") + e.what());
  }
  IMMUNE_ASSIGN_OR_RETURN(
      events_, EventPublisher::Bind(*zmq_, EventsEndpoint(config_), config_.events_socket_mode, Hostname()));

  tsb::MeasurementLogOptions lo;
  lo.journal_path = dir + "/journal.db";
  lo.pcr = config_.pcr;
  lo.banks = config_.banks;
  lo.writer = "immuned";
  EventPublisher* ev = events_.get();
  const std::uint32_t pcr = config_.pcr;
  lo.on_alarm = [ev, pcr](const Error& e) {
    Alarm a;
    a.severity = Severity::kCritical;
    a.what = "measurement log does not match the TPM";
    a.why = e.ToString();
    a.pcr = pcr;
    a.action = "new epoch started from the TPM's PCR value; earlier epochs can no longer be quoted";
    ev->PublishAlarm(std::move(a));
  };
  auto log = tsb::MeasurementLog::Open(lo, *tpm_);
  if (!log.ok()) return log.error().WithContext("journal " + lo.journal_path);
  log_ = std::move(log).value();
  const auto& rec = log_->recovery();
  LogInfo("journal " + lo.journal_path + ": " + std::to_string(rec.rows) + " rows, epoch " +
          std::to_string(rec.epoch) + ", " + std::to_string(rec.extended_now) + " extended at open");

  IMMUNE_ASSIGN_OR_RETURN(policy_, PolicyEngine::Create(config_.policy, config_.state_dir,
                                                        NewBuiltinPolicy(config_.deny_paths)));
  writer_ = std::make_unique<Writer>(*log_, *policy_, *this, config_.queue_capacity, config_.max_batch);

  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return IoError(std::string("eventfd: ") + std::strerror(errno));
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) return IoError(std::string("eventfd: ") + std::strerror(errno));
  try {
    agent_socket_ = std::make_unique<zmq::socket_t>(*zmq_, zmq::socket_type::router);
    agent_socket_->set(zmq::sockopt::linger, 0);
    agent_socket_->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(16 * 1024 * 1024 + 1024));
    control_socket_ = std::make_unique<zmq::socket_t>(*zmq_, zmq::socket_type::rep);
    control_socket_->set(zmq::sockopt::linger, 0);
    control_socket_->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(1024 * 1024));
  } catch (const zmq::error_t& e) {
    return Internal(std::string("zmq socket: ") + e.what());
  }
  std::vector<ZapHandler::Monitored> monitored;
  if (curve_allow_.count("agent")) {
    const std::string name = "agent endpoint " + AgentEndpoint(config_);
    IMMUNE_RETURN_IF_ERROR(MakeCurveServer(*agent_socket_, curve_keys_, "agent", name));
    monitored.push_back({agent_socket_.get(), name});
  }
  if (curve_allow_.count("control")) {
    const std::string name = "control endpoint " + ControlEndpoint(config_);
    IMMUNE_RETURN_IF_ERROR(MakeCurveServer(*control_socket_, curve_keys_, "control", name));
    monitored.push_back({control_socket_.get(), name});
  }
  if (!curve_allow_.empty()) {
    IMMUNE_ASSIGN_OR_RETURN(zap_, ZapHandler::Start(*zmq_, curve_allow_, monitored));
  }
  IMMUNE_RETURN_IF_ERROR(
      BindEndpoint(*agent_socket_, AgentEndpoint(config_), config_.agent_socket_mode, "agent"));
  IMMUNE_RETURN_IF_ERROR(BindEndpoint(*control_socket_, ControlEndpoint(config_), 0600, "control"));
  agent_thread_ = std::thread([this] { AgentLoop(agent_socket_.get()); });
  control_thread_ = std::thread([this] { ControlLoop(control_socket_.get()); });

  for (const auto& pc : config_.agents) {
    IMMUNE_ASSIGN_OR_RETURN(auto la, LoadAgentPlugin(pc.path));
    const std::string name = la->agent().name();
    IMMUNE_RETURN_IF_ERROR(registry_.Register(name, AgentRegistry::Kind::kInProcess));
    Status s = la->agent().Start(*this, pc.options);
    if (!s.ok()) {
      registry_.Unregister(name);
      return s.error().WithContext("agent " + name + " (" + pc.path + ")");
    }
    std::lock_guard lock(agents_mu_);
    plugins_.push_back(std::move(la));
    LogInfo("agent " + name + " loaded from " + pc.path);
  }
  LogInfo("immuned ready: state " + dir + ", TPM " + tcti_ + ", PCR " + std::to_string(config_.pcr));
  return OkStatus();
}

Status Daemon::InitCurve() {
  const std::pair<std::string, const std::vector<std::string>*> endpoints[] = {
      {AgentEndpoint(config_), &config_.curve_agent_clients},
      {ControlEndpoint(config_), &config_.curve_control_clients}};
  const char* domains[] = {"agent", "control"};
  for (int i = 0; i < 2; ++i) {
    const auto& [ep, clients] = endpoints[i];
    if (!ep.starts_with("tcp://")) continue;
    const std::string key = std::string("curve_") + domains[i] + "_clients";
    if (!CurveAvailable())
      return Unsupported(std::string(domains[i]) + " endpoint " + ep + ": libzmq was built without CURVE");
    if (clients->empty())
      return InvalidArgument(std::string(domains[i]) + " endpoint " + ep + ": tcp:// needs " + key +
                             " (the public keys of the clients let in)");
    auto keys = LoadClientKeys(*clients, key);
    if (!keys.ok()) return keys.error().WithContext(std::string(domains[i]) + " endpoint " + ep);
    if (keys->empty())
      LogWarning(std::string(domains[i]) + " endpoint " + ep + ": " + key +
                 " lists no key: every client is refused");
    curve_allow_[domains[i]] = std::move(keys).value();
  }
  if (curve_allow_.empty()) return OkStatus();
  IMMUNE_ASSIGN_OR_RETURN(curve_keys_,
                          LoadOrCreateServerKeys(CurveSecretKeyPath(config_), CurvePublicKeyPath(config_),
                                                 config_.curve_server_secret_key.empty()));
  LogInfo("CURVE server public key " + curve_keys_.public_z85 + " (" + CurvePublicKeyPath(config_) + ")");
  return OkStatus();
}

Daemon::~Daemon() { Stop(); }

void Daemon::Stop() {
  {
    std::lock_guard lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    stop_requested_ = true;
    stop_cv_.notify_all();
  }
  stopping_ = true;
  {
    // Agents first: they may still be submitting.
    std::lock_guard lock(agents_mu_);
    for (auto& la : plugins_) la->agent().Stop();
    for (auto& a : agents_) a->Stop();
  }
  if (writer_) writer_->Stop();  // journals what is queued; completions become acks
  endpoints_exit_ = true;
  // The endpoint loops block until a request or one of these (no polling
  // interval: an idle daemon does not wake up).
  for (const int fd : {wake_fd_, stop_fd_}) {
    if (fd < 0) continue;
    const std::uint64_t one = 1;
    (void)!::write(fd, &one, sizeof(one));
  }
  if (agent_thread_.joinable()) agent_thread_.join();
  if (control_thread_.joinable()) control_thread_.join();
  {
    std::lock_guard lock(agents_mu_);
    agents_.clear();
    plugins_.clear();
  }
  writer_.reset();
  agent_socket_.reset();
  control_socket_.reset();
  zap_.reset();
  events_.reset();
  if (zmq_) zmq_->close();
  zmq_.reset();
  log_.reset();
  tpm_.reset();
  if (swtpm_) swtpm_->Stop();
  swtpm_.reset();
  if (adopted_swtpm_pid_ > 0) StopByPid(adopted_swtpm_pid_);
  if (embedded_) ::unlink((config_.state_dir + "/swtpm.pid").c_str());
  adopted_swtpm_pid_ = -1;
  if (wake_fd_ >= 0) ::close(wake_fd_);
  wake_fd_ = -1;
  if (stop_fd_ >= 0) ::close(stop_fd_);
  stop_fd_ = -1;
  if (lock_fd_ >= 0) ::close(lock_fd_);
  lock_fd_ = -1;
}

void Daemon::RequestStop() {
  std::lock_guard lock(stop_mu_);
  stop_requested_ = true;
  stop_cv_.notify_all();
}

void Daemon::Wait() {
  std::unique_lock lock(stop_mu_);
  stop_cv_.wait(lock, [this] { return stop_requested_; });
}

Result<std::vector<Verdict>> Daemon::Submit(std::string_view agent,
                                            std::vector<tsb::MeasurementEntry> entries) {
  if (entries.empty()) return std::vector<Verdict>{};
  for (std::size_t i = 0; i < entries.size(); ++i) {
    Status v = tsb::ValidateEntry(entries[i]);
    if (!v.ok()) return v.error().WithContext("entries[" + std::to_string(i) + "]");
  }
  auto promise = std::make_shared<std::promise<Result<std::vector<Verdict>>>>();
  auto fut = promise->get_future();
  Submission s;
  s.agent = std::string(agent);
  s.entries = std::move(entries);
  s.keep_decisions = true;  // in-process agents only: remote ones go through agent_server.cc
  s.done = [promise](Result<std::vector<Verdict>> r) { promise->set_value(std::move(r)); };
  if (!writer_) return Unavailable("immuned is not running");
  IMMUNE_RETURN_IF_ERROR(writer_->Enqueue(std::move(s), /*wait=*/true));
  return fut.get();
}

Result<tsb::FileMeasurement> Daemon::MeasureFile(const std::string& path) {
  return measure_cache_.MeasureFile(path);
}

void Daemon::RaiseAlarm(Alarm alarm) {
  // An agent's alarm about an entry it journaled knows the entry's seq (from
  // Submit's verdict); where it is in the log is the daemon's to add.
  if (alarm.seq) {
    if (alarm.pcr == 0) alarm.pcr = config_.pcr;
    if (!alarm.epoch && log_) alarm.epoch = log_->current_epoch();
  }
  // syslog as well: an operator without a subscriber still sees it (journald).
  const int prio = alarm.severity == Severity::kCritical ? LOG_CRIT
                   : alarm.severity == Severity::kHigh   ? LOG_ERR
                   : alarm.severity == Severity::kWarning ? LOG_WARNING
                                                          : LOG_INFO;
  // One line whatever the file names in it hold (EscapeForLog).
  const std::string line =
      EscapeForLog("immuned alarm: " + alarm.what + ": " + alarm.why + " (" + alarm.action + ")");
  ::syslog(LOG_AUTHPRIV | prio, "%s", line.c_str());
  if (events_) events_->PublishAlarm(std::move(alarm));
}

Status Daemon::RegisterControl(const std::string& cmd, ControlHandler handler) {
  static const char* const kBuiltin[] = {"status", "pcr", "log", "containers", "view", "alarms",
                                         "policy.status", "policy.apply", "policy.reload", "policy.learned"};
  for (const char* b : kBuiltin)
    if (cmd == b) return InvalidArgument("control command '" + cmd + "' is built in");
  if (cmd.empty() || !handler) return InvalidArgument("control command: empty name or handler");
  std::lock_guard lock(control_mu_);
  if (!control_handlers_.emplace(cmd, std::move(handler)).second)
    return InvalidArgument("control command '" + cmd + "' is already registered");
  return OkStatus();
}

Status Daemon::RegisterAgent(std::unique_ptr<Agent> agent,
                             const std::map<std::string, std::string>& options) {
  if (stopping_) return Unavailable("immuned is stopping");
  const std::string name = agent->name();
  IMMUNE_RETURN_IF_ERROR(registry_.Register(name, AgentRegistry::Kind::kInProcess));
  Status s = agent->Start(*this, options);
  if (!s.ok()) {
    registry_.Unregister(name);
    return s.error().WithContext("agent " + name);
  }
  std::lock_guard lock(agents_mu_);
  agents_.push_back(std::move(agent));
  return OkStatus();
}

void Daemon::OnJournaled(const std::string& agent, const tsb::MeasurementEntry& e, bool decided_by_agent) {
  const bool denied = e.decision == tsb::Decision::kDeny;
  registry_.Count(agent, 1, denied ? 1 : 0);
  events_->PublishMeasurement(agent, e);
  // An agent that decided the entry itself acts on the denial (refuses an
  // exec, kills, freezes) and raises the alarm that says what it did; the
  // daemon knows only its own part for the entries its policy hook decided.
  if (denied && !decided_by_agent) {
    Alarm a;
    a.severity = Severity::kHigh;
    a.what = "measurement denied by policy";
    a.why = "rule " + e.rule + ": " + e.path + " (" + std::string(HashAlgName(e.file_hash_alg)) + ":" +
            ToHex(e.file_digest) + ")";
    a.time_ns = e.time_ns;
    a.pcr = e.pcr;
    a.seq = e.seq;
    a.epoch = e.epoch;
    a.entry = e;
    a.agent = agent;
    a.action = "logged; agent " + agent + " was answered deny";
    RaiseAlarm(std::move(a));
  }
}

void Daemon::OnAppendFailed(const Error& error, std::size_t entries) {
  Alarm a;
  a.severity = error.code() == ErrorCode::kTpm ? Severity::kCritical : Severity::kHigh;
  a.what = error.code() == ErrorCode::kTpm ? "TPM extend failed (entries journaled, extend pending)"
                                           : "journal append failed (entries not logged)";
  a.why = error.ToString() + " (" + std::to_string(entries) + " entries)";
  a.pcr = config_.pcr;
  a.action = "submitters were answered with an error";
  events_->PublishAlarm(std::move(a));
}

void Daemon::PushAck(std::vector<std::string> envelope, std::string reply) {
  {
    std::lock_guard lock(acks_mu_);
    acks_.emplace_back(std::move(envelope), std::move(reply));
  }
  std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
}

int RunDaemonMain(const std::string& config_path, const std::string& state_dir_override,
                  const std::string& tcti_override, const std::function<Status(Daemon&)>& on_started) {
  // Block the stop signals before any thread starts: every thread inherits
  // the mask and only sigwait below takes them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  DaemonConfig cfg;
  if (!config_path.empty()) {
    auto c = LoadConfig(config_path);
    if (!c.ok()) {
      LogError(c.error().ToString());
      return 1;
    }
    cfg = std::move(c).value();
  }
  if (!state_dir_override.empty()) cfg.state_dir = state_dir_override;
  if (!tcti_override.empty()) cfg.tcti = tcti_override;
  if (cfg.log_level == "info") SetLogLevel(LogLevel::kInfo);
  if (cfg.log_level == "debug") SetLogLevel(LogLevel::kDebug);
  if (cfg.log_level == "warning") SetLogLevel(LogLevel::kWarning);
  if (cfg.log_level == "error") SetLogLevel(LogLevel::kError);

  auto d = Daemon::Start(std::move(cfg));
  if (!d.ok()) {
    LogError("immuned: " + d.error().ToString());
    return 1;
  }
  if (on_started) {
    Status s = on_started(**d);
    if (!s.ok()) {
      LogError("immuned: " + s.error().ToString());
      (*d)->Stop();
      return 1;
    }
  }
  std::thread signals([&set, daemon = d->get()] {
    int sig = 0;
    sigwait(&set, &sig);
    LogInfo(std::string("immuned: ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ": stopping");
    daemon->RequestStop();
  });
  (*d)->Wait();
  (*d)->Stop();
  // The signal thread may still wait if the stop came from elsewhere.
  if (signals.joinable()) {
    ::pthread_kill(signals.native_handle(), SIGTERM);
    signals.join();
  }
  LogInfo("immuned: stopped");
  return 0;
}

}  // namespace immune::tsbd
