#include "immune/tsbd/control_client.h"

#include "immune/core/module.h"

namespace immune::tsbd {

namespace {

Result<const ControlModuleV1*> Module() {
  static LazyModule<ControlModuleV1> module({"control client module", "immune-tsb-control.so",
                                             "IMMUNE_TSB_CONTROL_MODULE",
#ifdef IMMUNE_CONTROL_MODULE_BUILD_PATH
                                             IMMUNE_CONTROL_MODULE_BUILD_PATH,
#else
                                             "",
#endif
                                             kControlModuleSymbol, kControlModuleAbi});
  return module.Get();
}

}  // namespace

Result<std::string> ControlRequest(std::string_view endpoint, std::string_view body, int timeout_ms) {
  IMMUNE_ASSIGN_OR_RETURN(const ControlModuleV1* m, Module());
  return m->request(endpoint, body, timeout_ms);
}

Status EventSubscribe(std::string_view endpoint, std::string_view topic, int timeout_ms,
                      const std::function<Status()>& on_connected,
                      const std::function<bool(std::string_view topic, std::string_view body)>& on_event) {
  IMMUNE_ASSIGN_OR_RETURN(const ControlModuleV1* m, Module());
  return m->subscribe(endpoint, topic, timeout_ms, on_connected, on_event);
}

}  // namespace immune::tsbd
