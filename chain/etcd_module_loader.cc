#include <mutex>

#include "immune/chain/etcd_module.h"
#include "immune/core/module.h"

namespace immune::chain {

Result<std::unique_ptr<BlockStore>> OpenEtcdStoreModule(std::string_view location, bool create) {
  static std::once_flag once;
  static Result<const EtcdModuleV1*> loaded = Internal("not loaded");
  std::call_once(once, [] {
    ModuleSpec spec{"etcd store module",
                    "immune-chain-etcd.so",
                    "IMMUNE_CHAIN_ETCD_MODULE",
#ifdef IMMUNE_ETCD_MODULE_BUILD_PATH
                    IMMUNE_ETCD_MODULE_BUILD_PATH,
#else
                    "",
#endif
                    kEtcdModuleSymbol,
                    kEtcdModuleAbi};
    auto table = LoadModuleTable(spec);
    if (table.ok()) {
      loaded = static_cast<const EtcdModuleV1*>(*table);
    } else {
      loaded = table.error();
    }
  });
  IMMUNE_ASSIGN_OR_RETURN(const EtcdModuleV1* m, loaded);
  return m->open(location, create);
}

}  // namespace immune::chain
