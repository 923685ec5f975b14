#include "immune/tpm/loader.h"

#include "immune/core/module.h"

namespace immune::tpm {

const char* TpmModuleBuildId() { return ModuleBuildId(); }

Result<const TpmModuleV1*> LoadTpmModule() {
  static LazyModule<TpmModuleV1> module({"TPM module", "immune-tpm-esys.so", "IMMUNE_TPM_MODULE",
#ifdef IMMUNE_TPM_MODULE_BUILD_PATH
                                         IMMUNE_TPM_MODULE_BUILD_PATH,
#else
                                         "",
#endif
                                         kTpmModuleSymbol, kTpmModuleAbi});
  return module.Get();
}

Result<std::unique_ptr<Tpm>> OpenTpmModule(std::string_view tcti) {
  IMMUNE_ASSIGN_OR_RETURN(const TpmModuleV1* m, LoadTpmModule());
  return m->open(tcti);
}

}  // namespace immune::tpm
