#include "immune/chain/etcd_module.h"
#include "immune/core/module.h"

namespace immune::chain {

Result<std::unique_ptr<BlockStore>> OpenEtcdStoreModule(std::string_view location, bool create) {
  static LazyModule<EtcdModuleV1> module({"etcd store module", "immune-chain-etcd.so",
                                          "IMMUNE_CHAIN_ETCD_MODULE",
#ifdef IMMUNE_ETCD_MODULE_BUILD_PATH
                                          IMMUNE_ETCD_MODULE_BUILD_PATH,
#else
                                          "",
#endif
                                          kEtcdModuleSymbol, kEtcdModuleAbi});
  IMMUNE_ASSIGN_OR_RETURN(const EtcdModuleV1* m, module.Get());
  return m->open(location, create);
}

}  // namespace immune::chain
