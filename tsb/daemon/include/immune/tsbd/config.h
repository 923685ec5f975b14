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
