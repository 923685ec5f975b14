// immuned: the Trusted Software Base daemon (docs/tsb-daemon.md).
//
// Start() brings up, in order: the state directory (0700, one daemon per
// directory: an flock on immuned.lock), the TPM (the configured TCTI or an
// embedded private swtpm with its state in <state_dir>/swtpm; one left
// running by a killed immuned is adopted, see docs/tsb-daemon.md), the
// measurement log (<state_dir>/journal.db, recovered on open), the event
// PUB endpoint, the journal writer, the agent endpoint (ROUTER, ipc:// or
// tcp:// with CURVE, protocol in agent_message.h), the control endpoint
// (REP, ipc:// 0600 or tcp:// with CURVE) and the configured .so agents.
// A tcp:// agent or control endpoint first loads its client allow-list and
// the server key pair (generated on first start, curve.h) and starts the
// ZAP handler, so no client is ever admitted without it. Stop() takes them down in reverse order:
// agents stop submitting, endpoints close (pending remote acknowledgements
// are answered first), the writer journals what is queued, the log and the
// TPM close, an embedded swtpm is stopped by its PID.
//
// Thread safety: Submit, MeasureFile, RegisterAgent, RequestStop and the
// accessors may be called from any thread. Start/Stop from one thread.
#ifndef IMMUNE_TSBD_DAEMON_H_
#define IMMUNE_TSBD_DAEMON_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "immune/core/error.h"
#include "immune/tpm/swtpm.h"
#include "immune/tpm/tpm.h"
#include "immune/tsb/measure_once.h"
#include "immune/tsb/measurement_log.h"
#include "immune/tsbd/agent.h"
#include "immune/tsbd/config.h"
#include "immune/tsbd/curve.h"
#include "immune/tsbd/events.h"
#include "immune/tsbd/plugin.h"
#include "immune/tsbd/policy_engine.h"
#include "immune/tsbd/writer.h"

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace immune::tsbd {

inline constexpr int kControlProtocolVersion = 1;

class Daemon final : public AgentHost, public WriterObserver {
 public:
  // Everything above; on error, what was started is stopped again. The
  // error names the part (file, endpoint, TCTI).
  static Result<std::unique_ptr<Daemon>> Start(DaemonConfig config);
  ~Daemon() override;  // Stop()

  // AgentHost. Validation errors name "entries[i]: field".
  Result<std::vector<Verdict>> Submit(std::string_view agent,
                                      std::vector<tsb::MeasurementEntry> entries) override;
  // Measures a file through the daemon's measure-once cache (hit: not hashed).
  Result<tsb::FileMeasurement> MeasureFile(const std::string& path) override;
  void RaiseAlarm(Alarm alarm) override;
  Status RegisterControl(const std::string& cmd, ControlHandler handler) override;

  // Registers and starts an in-process agent (kInvalidArgument for a
  // duplicate name: the agent is not started). The daemon owns it.
  Status RegisterAgent(std::unique_ptr<Agent> agent, const std::map<std::string, std::string>& options = {});

  // Asks Wait() to return; async-signal-unsafe (call from a normal thread).
  void RequestStop();
  // Blocks until RequestStop.
  void Wait();
  void Stop();

  // The control protocol's "status" result (JSON text), for tests too.
  std::string StatusJson();
  AgentRegistry& registry() { return registry_; }
  // The operator policy (policy_engine.h); in-process agents pin snapshots.
  PolicyEngine& policy() { return *policy_; }
  tsb::MeasurementLog& log() { return *log_; }
  const DaemonConfig& config() const { return config_; }

 private:
  explicit Daemon(DaemonConfig config);
  Status Init();
  Status InitCurve();  // allow-lists and server keys for tcp:// endpoints
  void OnJournaled(const std::string& agent, const tsb::MeasurementEntry& entry,
                   bool decided_by_agent) override;
  void OnAppendFailed(const Error& error, std::size_t entries) override;

  // agent_server.cc / control_server.cc: the endpoint threads.
  void AgentLoop(zmq::socket_t* socket);
  void ControlLoop(zmq::socket_t* socket);
  void PushAck(std::vector<std::string> envelope, std::string reply);
  std::string HandleControl(const std::string& request);

  DaemonConfig config_;
  std::chrono::steady_clock::time_point started_;
  int lock_fd_ = -1;
  std::unique_ptr<tpm::SwtpmProcess> swtpm_;
  bool embedded_ = false;
  pid_t adopted_swtpm_pid_ = -1;  // an embedded swtpm left by a killed immuned
  std::string tcti_;
  std::unique_ptr<tpm::Tpm> tpm_;
  std::unique_ptr<tsb::MeasurementLog> log_;
  std::unique_ptr<PolicyEngine> policy_;
  tsb::MeasureCache measure_cache_;
  std::unique_ptr<zmq::context_t> zmq_;
  std::unique_ptr<EventPublisher> events_;
  CurveKeyPair curve_keys_;  // set when a tcp:// agent/control endpoint is configured
  std::map<std::string, std::set<std::string>> curve_allow_;  // ZAP domain -> client keys
  std::unique_ptr<ZapHandler> zap_;
  std::unique_ptr<Writer> writer_;
  AgentRegistry registry_;

  std::atomic<bool> stopping_{false};
  int wake_fd_ = -1;  // eventfd: the writer's completions (and Stop) wake the agent loop
  int stop_fd_ = -1;  // eventfd, written once by Stop and never read: wakes the control loop
  std::mutex acks_mu_;
  std::vector<std::pair<std::vector<std::string>, std::string>> acks_;  // (envelope, reply)
  std::atomic<bool> endpoints_exit_{false};
  std::unique_ptr<zmq::socket_t> agent_socket_, control_socket_;
  std::thread agent_thread_, control_thread_;

  std::mutex control_mu_;
  std::map<std::string, ControlHandler> control_handlers_;  // added by agents

  std::mutex agents_mu_;
  std::vector<std::unique_ptr<Agent>> agents_;  // in process, started
  std::vector<std::unique_ptr<LoadedAgent>> plugins_;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_requested_ = false;
  bool stopped_ = false;
  std::vector<Error> startup_alarms_;
};

// main(): loads `config_path`, starts the daemon, waits for SIGTERM or
// SIGINT (blocked in every thread and taken with sigwait), stops cleanly.
// `on_started` (optional) runs once the daemon is up, before signals are
// awaited: the executable wires its in-process agents there (the exec gate);
// an error stops the daemon and fails the start.
// Returns the process exit code (0 clean, 1 start failure).
int RunDaemonMain(const std::string& config_path, const std::string& state_dir_override,
                  const std::string& tcti_override,
                  const std::function<Status(Daemon&)>& on_started = nullptr);

}  // namespace immune::tsbd

#endif  // IMMUNE_TSBD_DAEMON_H_
