#include "immune/tsbd/control_client.h"

#include <mutex>

#include "immune/core/module.h"

namespace immune::tsbd {

namespace {
Result<const ControlModuleV1*> LoadControlModule() {
  static std::once_flag once;
  static Result<const ControlModuleV1*> loaded = Internal("not loaded");
  std::call_once(once, [] {
    ModuleSpec spec{"control client module",
                    "immune-tsb-control.so",
                    "IMMUNE_TSB_CONTROL_MODULE",
#ifdef IMMUNE_CONTROL_MODULE_BUILD_PATH
                    IMMUNE_CONTROL_MODULE_BUILD_PATH,
#else
                    "",
#endif
                    kControlModuleSymbol,
                    kControlModuleAbi};
    auto table = LoadModuleTable(spec);
    if (table.ok()) {
      loaded = static_cast<const ControlModuleV1*>(*table);
    } else {
      loaded = table.error();
    }
  });
  return loaded;
}
}  // namespace

Result<std::string> ControlRequest(std::string_view endpoint, std::string_view body, int timeout_ms) {
  IMMUNE_ASSIGN_OR_RETURN(const ControlModuleV1* m, LoadControlModule());
  return m->request(endpoint, body, timeout_ms);
}

}  // namespace immune::tsbd
