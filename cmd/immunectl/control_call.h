// One request to immuned's control endpoint, shared by the `tsb`, `policy`
// and `gate` command groups (docs/tsb-daemon.md, "Control protocol").
#ifndef IMMUNE_CMD_IMMUNECTL_CONTROL_CALL_H_
#define IMMUNE_CMD_IMMUNECTL_CONTROL_CALL_H_

#include <nlohmann/json.hpp>
#include <string>

#include "common.h"
#include "immune/core/error.h"

namespace immune::cli {

struct DaemonAddress {
  std::string socket;  // an endpoint (ipc://, tcp://) or a socket path; empty: <state_dir>/control.sock
  std::string state_dir = "/var/lib/immune/tsb";
  int timeout_ms = 10000;
};

std::string ControlEndpointOf(const DaemonAddress& a);

// For an ipc:// endpoint: kUnavailable, naming `what` ("control", "events")
// and the endpoint, when its socket file is missing or nothing listens on it
// (a daemon that died); anything else is left to ZeroMQ.
Status CheckIpcEndpoint(const std::string& endpoint, const std::string& what);

// Sends {"v":1,"cmd":cmd,"args":args}; returns the reply's "result", or the
// daemon's error (its code, "immuned: field: message"). kUnavailable when
// the daemon is not reachable (a missing ipc socket says so at once).
Result<nlohmann::json> CallDaemon(const GlobalOptions& g, const DaemonAddress& a, const std::string& cmd,
                                  nlohmann::json args);

}  // namespace immune::cli

#endif  // IMMUNE_CMD_IMMUNECTL_CONTROL_CALL_H_
