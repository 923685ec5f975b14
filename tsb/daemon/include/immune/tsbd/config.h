// immuned's configuration: a YAML file (dist/immuned.yaml is the annotated
// sample; docs/tsb-daemon.md the reference).
//
// Thread safety: values and pure functions.
#ifndef IMMUNE_TSBD_CONFIG_H_
#define IMMUNE_TSBD_CONFIG_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/digest.h"
#include "immune/core/error.h"

namespace immune::tsbd {

// A loadable agent: a shared object exporting the C ABI of plugin.h.
struct AgentPluginConfig {
  std::string path;
  std::map<std::string, std::string> options;  // handed to the agent's Start
};

// Where operator policy comes from (docs/policy.md).
struct PolicySection {
  // Policy documents: files, or directories whose *.yaml, *.yml and *.json
  // files are read in name order. Empty: the built-in deny_paths hook only.
  std::vector<std::string> paths;
  // Public keys (PEM). When set, every document must be a DSSE bundle signed
  // by one of them (`immunectl policy sign`); unsigned files are refused.
  std::vector<std::string> bundle_keys;
  // Where learn mode writes its draft policies; empty: <state_dir>/learned.
  std::string learn_dir;
  // The baseline ledger as a policy source (chain/ledger_policy.h): its
  // verified file baselines and policy bundles are added to the documents
  // above. `ledger` is a store location (sqlite:PATH, etcd:...), verified
  // with the operator's trust configuration `ledger_trust` (required).
  std::string ledger;
  std::string ledger_trust;
  std::string ledger_host_image = "host";  // file baselines of this image apply to the host
};

// A filesystem the exec gate watches (docs/exec-gate.md).
struct GateMount {
  std::string path;
  bool filesystem = false;  // FAN_MARK_FILESYSTEM (the superblock) instead of the mount
};

// The exec gate: fanotify permission events, decided by policy.
struct GateSection {
  bool enabled = false;
  std::vector<GateMount> mounts;
  bool code_opens = true;  // FAN_OPEN_PERM too: scripts, libraries, ld.so ./binary
  // FAN_REPORT_PIDFD: a pidfd with every event, so a recycled pid is never
  // attributed or killed (costs the kernel a pidfd per event).
  bool report_pidfd = true;
  // The nice value of the thread that reads and answers events (cached
  // answers never leave it): every gated exec waits on it (docs/exec-gate.md).
  int reader_nice = -10;
  std::size_t workers = 2;
  std::size_t queue_capacity = 4096;
  bool overload_allow = false;  // a full queue answers deny (fail-closed) unless set
  // What happens while immuned is down: fail-closed needs `immuned
  // --supervise`, whose parent keeps the fanotify group (execs wait for the
  // restarted daemon); fail-open lets execs run unchecked until it is back.
  bool fail_open = false;
  // vm.memfd_noexec applied in the host's and every registered container's
  // pid namespace (2: executable memfds refused); -1 leaves it alone.
  int memfd_noexec = 2;
  // Container runtimes' state roots scanned at start and on demand; empty:
  // the defaults (docs/containers.md).
  std::vector<std::string> runtime_roots;
};

// Integrity beyond exec (docs/process-integrity.md): running processes'
// code compared with their files (PIMS), critical configuration files.
struct IntegritySection {
  std::uint32_t pims_interval_ms = 0;  // 0: no periodic scan
  bool pims_host = false;              // host processes too (else registered containers' only)
  bool watch_critical_files = false;
  std::vector<std::string> critical_files;  // empty: the defaults (DefaultCriticalFiles)
  std::uint32_t poll_interval_ms = 5000;    // for /proc files inotify does not see
};

struct DaemonConfig {
  // Everything the daemon writes lives here (created 0700): journal.db,
  // swtpm/ (embedded TPM state), agent.sock, control.sock, events.sock.
  std::string state_dir = "/var/lib/immune/tsb";
  // TCTI string of the TPM ("device:/dev/tpmrm0", "swtpm:port=2321").
  // "embedded": a private swtpm with its state in <state_dir>/swtpm.
  // Empty: DefaultTcti(), else embedded.
  std::string tcti;
  std::uint32_t pcr = 13;
  std::vector<HashAlg> banks = {HashAlg::kSha1, HashAlg::kSha256};

  // ZeroMQ endpoints; empty: ipc://<state_dir>/<name>.sock. Agent and
  // control: ipc://, or tcp:// with ZeroMQ CURVE (curve.h; the matching
  // curve_*_clients must then be set). Events: ipc:// or tcp:// on loopback.
  std::string agent_endpoint;
  std::string control_endpoint;
  std::string events_endpoint;
  // Mode of the ipc socket files (agent: 0660 lets a group of agents in).
  unsigned agent_socket_mode = 0600;
  unsigned events_socket_mode = 0660;

  // CURVE (tcp:// agent/control endpoints only). The server's Z85 secret key
  // file; empty: <state_dir>/curve_server.secret, generated on first start
  // (0600) with the public key in <state_dir>/curve_server.pub. A configured
  // file must exist; its public key goes to <file without .secret>.pub.
  std::string curve_server_secret_key;
  // Allow-lists: Z85 public key files or directories of *.pub files. A
  // client whose key is not listed is refused at the handshake.
  std::vector<std::string> curve_agent_clients;
  std::vector<std::string> curve_control_clients;

  // Bounded queue between submitters and the journal writer (entries).
  std::size_t queue_capacity = 65536;
  // Most entries journaled and extended in one batch (one fsync, one extend).
  std::size_t max_batch = 4096;

  // The built-in policy hook: a measurement whose path equals one of these
  // or starts with one ending in '/' is denied (rule "builtin:deny-path").
  std::vector<std::string> deny_paths;

  PolicySection policy;
  GateSection gate;
  IntegritySection integrity;

  std::vector<AgentPluginConfig> agents;
  std::string log_level = "info";  // debug, info, warning, error
};

// Parses YAML text; `source` names it in errors ("FILE:LINE: ...").
Result<DaemonConfig> ParseConfig(std::string_view yaml_text, std::string_view source);
Result<DaemonConfig> LoadConfig(const std::string& path);

// The endpoint strings after defaults are applied.
std::string AgentEndpoint(const DaemonConfig& c);
std::string ControlEndpoint(const DaemonConfig& c);
std::string EventsEndpoint(const DaemonConfig& c);
// The CURVE server key files after defaults are applied.
std::string CurveSecretKeyPath(const DaemonConfig& c);
std::string CurvePublicKeyPath(const DaemonConfig& c);

}  // namespace immune::tsbd

#endif  // IMMUNE_TSBD_CONFIG_H_
