// The etcd backend as a module (core/module.h): libcurl, which the etcd
// client needs, brings a dozen shared libraries and libcrypto.so with it, and
// most commands never talk to etcd. OpenStore("etcd:...") loads
// immune-chain-etcd.so on first use; programs that link immune_chain_etcd
// call OpenEtcdStore directly.
#ifndef IMMUNE_CHAIN_ETCD_MODULE_H_
#define IMMUNE_CHAIN_ETCD_MODULE_H_

#include <cstdint>
#include <memory>
#include <string_view>

#include "immune/chain/store.h"
#include "immune/core/error.h"

namespace immune::chain {

inline constexpr std::uint32_t kEtcdModuleAbi = 1;
inline constexpr const char* kEtcdModuleSymbol = "immune_chain_etcd_v1";

// Starts with the members of immune::ModuleHeader.
struct EtcdModuleV1 {
  std::uint32_t abi;
  const char* build_id;
  // ParseEtcdLocation + OpenEtcdStore (etcd_store.h).
  Result<std::unique_ptr<BlockStore>> (*open)(std::string_view location, bool create);
};

// OpenStore's etcd branch: through the module, loaded on first use.
Result<std::unique_ptr<BlockStore>> OpenEtcdStoreModule(std::string_view location, bool create);

}  // namespace immune::chain

#endif  // IMMUNE_CHAIN_ETCD_MODULE_H_
