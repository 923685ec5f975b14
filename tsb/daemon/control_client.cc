#include "immune/tsbd/control_client.h"

#include "immune/core/module.h"

namespace immune::tsbd {

Result<std::string> ControlRequest(std::string_view endpoint, std::string_view body, int timeout_ms) {
  static LazyModule<ControlModuleV1> module({"control client module", "immune-tsb-control.so",
                                             "IMMUNE_TSB_CONTROL_MODULE",
#ifdef IMMUNE_CONTROL_MODULE_BUILD_PATH
                                             IMMUNE_CONTROL_MODULE_BUILD_PATH,
#else
                                             "",
#endif
                                             kControlModuleSymbol, kControlModuleAbi});
  IMMUNE_ASSIGN_OR_RETURN(const ControlModuleV1* m, module.Get());
  return m->request(endpoint, body, timeout_ms);
}

}  // namespace immune::tsbd
