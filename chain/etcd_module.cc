// immune-chain-etcd.so: the etcd backend behind etcd_module.h.
#include "immune/chain/etcd_module.h"

#include "immune/chain/etcd_store.h"
#include "immune/core/module.h"

namespace immune::chain {
namespace {
Result<std::unique_ptr<BlockStore>> Open(std::string_view location, bool create) {
  IMMUNE_ASSIGN_OR_RETURN(EtcdOptions o, ParseEtcdLocation(location));
  o.create = create;
  return OpenEtcdStore(o);
}
}  // namespace
}  // namespace immune::chain

extern "C" __attribute__((visibility("default"))) const immune::chain::EtcdModuleV1 immune_chain_etcd_v1 = {
    immune::chain::kEtcdModuleAbi, immune::ModuleBuildId(), &immune::chain::Open};
