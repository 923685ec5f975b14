#include "control_call.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

Status CheckIpcEndpoint(const std::string& endpoint, const std::string& what) {
  if (!endpoint.starts_with("ipc://")) return OkStatus();
  const std::string path = endpoint.substr(6);
  const std::string hint = " (is immuned running? --state-dir/--socket/--events)";
  if (::access(path.c_str(), F_OK) != 0)
    return Unavailable(what + " endpoint " + endpoint + ": no such socket" + hint);
  // A socket file left by a daemon that died answers nothing: ZeroMQ would
  // retry in silence until the timeout. A plain connect says so at once.
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return OkStatus();  // ZeroMQ will say what it makes of it
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return OkStatus();
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int err = errno;
  ::close(fd);
  if (rc != 0 && err == ECONNREFUSED)
    return Unavailable(what + " endpoint " + endpoint + ": nothing listens on the socket" + hint);
  return OkStatus();
}

std::string ControlEndpointOf(const DaemonAddress& a) {
  if (a.socket.empty()) return "ipc://" + a.state_dir + "/control.sock";
  if (a.socket.find("://") != std::string::npos) return a.socket;
  return "ipc://" + a.socket;
}

// One request/reply on the control endpoint; the daemon's "result".
Result<json> CallDaemon(const GlobalOptions& g, const DaemonAddress& a, const std::string& cmd, json args) {
  const std::string ep = ControlEndpointOf(a);
  // A missing or dead socket is "daemon not running", not a wait.
  IMMUNE_RETURN_IF_ERROR(CheckIpcEndpoint(ep, "control"));
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
