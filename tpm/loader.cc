#include "immune/tpm/loader.h"

#include <mutex>

#include "immune/core/module.h"

namespace immune::tpm {

const char* TpmModuleBuildId() { return ModuleBuildId(); }

Result<const TpmModuleV1*> LoadTpmModule() {
  static std::once_flag once;
  static Result<const TpmModuleV1*> loaded = Internal("not loaded");
  std::call_once(once, [] {
    ModuleSpec spec{"TPM module",
                    "immune-tpm-esys.so",
                    "IMMUNE_TPM_MODULE",
#ifdef IMMUNE_TPM_MODULE_BUILD_PATH
                    IMMUNE_TPM_MODULE_BUILD_PATH,
#else
                    "",
#endif
                    kTpmModuleSymbol,
                    kTpmModuleAbi};
    auto table = LoadModuleTable(spec);
    if (table.ok()) {
      loaded = static_cast<const TpmModuleV1*>(*table);
    } else {
      loaded = table.error();
    }
  });
  return loaded;
}

Result<std::unique_ptr<Tpm>> OpenTpmModule(std::string_view tcti) {
  IMMUNE_ASSIGN_OR_RETURN(const TpmModuleV1* m, LoadTpmModule());
  return m->open(tcti);
}

}  // namespace immune::tpm
