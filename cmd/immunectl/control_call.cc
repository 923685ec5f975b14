#include "control_call.h"

#include <unistd.h>

#include "immune/core/log.h"
#include "immune/tsbd/control_client.h"

namespace immune::cli {

using nlohmann::json;

namespace {

ErrorCode CodeFromName(const std::string& n) {
  for (ErrorCode c : {ErrorCode::kInvalidArgument, ErrorCode::kCorruption, ErrorCode::kNotFound,
                      ErrorCode::kIo, ErrorCode::kTpm, ErrorCode::kUnsupported, ErrorCode::kPermissionDenied,
                      ErrorCode::kUnavailable, ErrorCode::kInternal}) {
    if (ErrorCodeName(c) == n) return c;
  }
  return ErrorCode::kInternal;
}

}  // namespace

std::string ControlEndpointOf(const DaemonAddress& a) {
  if (a.socket.empty()) return "ipc://" + a.state_dir + "/control.sock";
  if (a.socket.find("://") != std::string::npos) return a.socket;
  return "ipc://" + a.socket;
}

// One request/reply on the control endpoint; the daemon's "result".
Result<json> CallDaemon(const GlobalOptions& g, const DaemonAddress& a, const std::string& cmd, json args) {
  const std::string ep = ControlEndpointOf(a);
  if (ep.starts_with("ipc://")) {
    // A missing socket file is "daemon not running", not a hang.
    const std::string path = ep.substr(6);
    if (::access(path.c_str(), F_OK) != 0)
      return Unavailable("control endpoint " + ep +
                         ": no such socket (is immuned running? --state-dir/--socket)");
  }
  json req = {{"v", 1}, {"cmd", cmd}, {"args", std::move(args)}};
  if (g.verbose) LogInfo("connecting to " + ep);
  IMMUNE_ASSIGN_OR_RETURN(std::string text, tsbd::ControlRequest(ep, req.dump(), a.timeout_ms));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ok") || !j["ok"].is_boolean()) {
    return Corruption("control endpoint " + ep + ": malformed reply");
  }
  if (j["ok"].get<bool>()) return j.contains("result") ? j["result"] : json();
  try {  // json::value throws on a member of the wrong type
    const json e = j.value("error", json::object());
    std::string msg = e.value("message", "unknown error");
    const std::string field = e.value("field", "");
    if (!field.empty()) msg = field + ": " + msg;
    return Error(CodeFromName(e.value("code", "internal")), "immuned: " + msg);
  } catch (const json::exception& e) {
    return Corruption("control endpoint " + ep + ": malformed error reply: " + e.what());
  }
}

}  // namespace immune::cli
