// immuned: the Trusted Software Base daemon. Thin: arguments here, the
// daemon in tsb/daemon (immune/tsbd/daemon.h), the exec gate in agents/
// (immune/agents/exec_gate_agent.h), the supervisor in supervisor.h.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <syslog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "immune/agents/exec_gate.h"
#include "immune/agents/exec_gate_agent.h"
#include "immune/agents/integrity_agent.h"
#include "immune/core/log.h"
#include "immune/tsbd/daemon.h"
#include "supervisor.h"

#ifndef IMMUNE_VERSION
#define IMMUNE_VERSION "unknown"
#endif

namespace {

using immune::Result;
using immune::Status;

// A decider for the supervisor's group: never asked (the supervisor never
// starts the gate's threads; it only creates the group and its marks).
class NeverAsked final : public immune::agents::Decider {
 public:
  immune::agents::GateAnswer Decide(const immune::agents::GateEvent&) override { return {false, false}; }
};

// The supervisor's fanotify group for a fail-closed gate: created and marked
// as the daemon's gate would, then kept (a dup) for the daemon's lifetimes.
Result<int> MakeGateGroup(const std::string& config_path) {
  if (config_path.empty()) return -1;
  IMMUNE_ASSIGN_OR_RETURN(auto cfg, immune::tsbd::LoadConfig(config_path));
  if (!cfg.gate.enabled || cfg.gate.fail_open) return -1;
  immune::agents::GateConfig gc;
  gc.gate_code_opens = cfg.gate.code_opens;
  IMMUNE_ASSIGN_OR_RETURN(auto gate, immune::agents::ExecGate::Create(gc, std::make_shared<NeverAsked>()));
  for (const auto& m : cfg.gate.mounts) {
    IMMUNE_RETURN_IF_ERROR(gate->AddMark(
        m.path, m.filesystem ? immune::agents::MarkKind::kFilesystem : immune::agents::MarkKind::kMount));
  }
  const int fd = ::fcntl(gate->fanotify_fd(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return immune::IoError("dup of the gate's fanotify fd");
  return fd;  // the gate object goes; the group and its marks stay with fd
}

}  // namespace

int main(int argc, char** argv) {
  // tpm2-tss logs expected conditions as ERROR lines; TSS2_LOG overrides.
  ::setenv("TSS2_LOG", "all+none", /*overwrite=*/0);
  CLI::App app{"immuned: the Immune Trusted Software Base daemon"};
  app.set_version_flag("--version", std::string("immuned ") + IMMUNE_VERSION);
  std::string config, state_dir, tcti;
  bool supervise = false;
  app.add_option("-c,--config", config, "Configuration file (YAML; see dist/immuned.yaml)");
  app.add_option("--state-dir", state_dir, "Override the configuration's state_dir");
  app.add_option("-T,--tcti", tcti, "Override the configuration's tcti (\"embedded\": a private swtpm)");
  app.add_flag("--supervise", supervise,
               "Run the daemon under a supervisor that restarts it and, for a fail-closed exec gate, keeps the "
               "gate's fanotify group so execs wait for the restarted daemon");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  if (supervise) {
    std::vector<std::string> worker = {"/proc/self/exe"};
    char self[4096];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) worker[0] = std::string(self, static_cast<std::size_t>(n));
    for (int i = 1; i < argc; ++i)
      if (std::string(argv[i]) != "--supervise") worker.push_back(argv[i]);
    return immune::immuned::RunSupervisor(worker, [&] { return MakeGateGroup(config); });
  }

  // Alarms go to syslog too, as "immuned[PID]: immuned alarm: ..." (authpriv).
  ::openlog("immuned", LOG_PID, LOG_AUTHPRIV);

  // The exec gate's reader wake-up signal: blocked here, before any thread
  // starts, so every thread inherits the block and only the gate's reader
  // (which unblocks it for itself) takes one sent to the process.
  sigset_t wake;
  sigemptyset(&wake);
  sigaddset(&wake, immune::agents::ReaderWakeSignal());
  pthread_sigmask(SIG_BLOCK, &wake, nullptr);
  int inherited_fd = -1;
  if (const char* fd = std::getenv(immune::immuned::kGateFdEnv)) {
    inherited_fd = std::atoi(fd);
    ::unsetenv(immune::immuned::kGateFdEnv);
  }
  return immune::tsbd::RunDaemonMain(config, state_dir, tcti, [inherited_fd](immune::tsbd::Daemon& d) -> Status {
    const auto& gate = d.config().gate;
    immune::agents::ContainerMap* containers = nullptr;
    if (gate.enabled) {
      auto agent = std::make_unique<immune::agents::ExecGateAgent>(gate, d.policy(), inherited_fd);
      containers = &agent->containers();
      IMMUNE_RETURN_IF_ERROR(d.RegisterAgent(std::move(agent)));
    }
    // Always: policy documents may name critical files at any reload.
    return d.RegisterAgent(
        std::make_unique<immune::agents::IntegrityAgent>(d.config().integrity, d.policy(), containers));
  });
}
