// The client side of immuned's control and event endpoints, for immunectl.
//
// libzmq brings eighteen shared libraries with it; loading them would add
// about a millisecond to every immunectl command, most of which never talk
// to the daemon. So the ZeroMQ part is a module, immune-tsb-control.so
// (core/module.h), loaded the first time ControlRequest is called; immunectl
// links only this loader.
//
// Thread safety: ControlRequest and EventSubscribe may be called from any
// thread.
#ifndef IMMUNE_TSBD_CONTROL_CLIENT_H_
#define IMMUNE_TSBD_CONTROL_CLIENT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "immune/core/error.h"

namespace immune::tsbd {

inline constexpr std::uint32_t kControlModuleAbi = 2;
inline constexpr const char* kControlModuleSymbol = "immune_tsb_control_v1";

// Starts with the members of immune::ModuleHeader.
struct ControlModuleV1 {
  std::uint32_t abi;
  const char* build_id;
  // One request/reply on a REQ socket: sends `body`, returns the reply's
  // bytes. kUnavailable when the endpoint does not answer within timeout_ms.
  Result<std::string> (*request)(std::string_view endpoint, std::string_view body, int timeout_ms);
  // EventSubscribe, below.
  Status (*subscribe)(std::string_view endpoint, std::string_view topic, int timeout_ms,
                      const std::function<Status()>& on_connected,
                      const std::function<bool(std::string_view topic, std::string_view body)>& on_event);
};

// The request through the module (loaded on first use).
Result<std::string> ControlRequest(std::string_view endpoint, std::string_view body, int timeout_ms);

// Subscribes to events whose topic starts with `topic` on the daemon's PUB
// endpoint (docs/tsb-daemon.md, "Events"). Once the connection is made
// (kUnavailable if not within timeout_ms) calls `on_connected`, whose error
// ends the call; then `on_event` for each event, [topic, JSON body], until it
// returns false. Waits for events as long as it takes: across a daemon
// restart the subscription reconnects by itself.
Status EventSubscribe(std::string_view endpoint, std::string_view topic, int timeout_ms,
                      const std::function<Status()>& on_connected,
                      const std::function<bool(std::string_view topic, std::string_view body)>& on_event);

}  // namespace immune::tsbd

#endif  // IMMUNE_TSBD_CONTROL_CLIENT_H_
