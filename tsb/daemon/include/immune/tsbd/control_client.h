// The client side of immuned's control endpoint, for immunectl.
//
// libzmq brings eighteen shared libraries with it; loading them would add
// about a millisecond to every immunectl command, most of which never talk
// to the daemon. So the ZeroMQ part is a module, immune-tsb-control.so
// (core/module.h), loaded the first time ControlRequest is called; immunectl
// links only this loader.
//
// Thread safety: ControlRequest may be called from any thread.
#ifndef IMMUNE_TSBD_CONTROL_CLIENT_H_
#define IMMUNE_TSBD_CONTROL_CLIENT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "immune/core/error.h"

namespace immune::tsbd {

inline constexpr std::uint32_t kControlModuleAbi = 1;
inline constexpr const char* kControlModuleSymbol = "immune_tsb_control_v1";

// Starts with the members of immune::ModuleHeader.
struct ControlModuleV1 {
  std::uint32_t abi;
  const char* build_id;
  // One request/reply on a REQ socket: sends `body`, returns the reply's
  // bytes. kUnavailable when the endpoint does not answer within timeout_ms.
  Result<std::string> (*request)(std::string_view endpoint, std::string_view body, int timeout_ms);
};

// The request through the module (loaded on first use).
Result<std::string> ControlRequest(std::string_view endpoint, std::string_view body, int timeout_ms);

}  // namespace immune::tsbd

#endif  // IMMUNE_TSBD_CONTROL_CLIENT_H_
