// Loading an Immune module (a .so built from this source tree) on demand.
//
// Some dependencies are expensive to load at process start (tpm2-tss pulls in
// libcrypto.so and five more libraries; libzmq eighteen), and most immunectl
// commands never use them. Those parts are built as modules that export one
// versioned table, and loaded with dlopen the first time they are needed.
//
// A module is looked for, first hit wins, at:
//   1. $<env_var> (a path to the .so), if set: an explicit choice is final;
//   2. <directory of the running executable>/../lib/immune/<file_name>
//      (the installed layout);
//   3. `build_path` (the build tree's copy), if given.
// The table must start with the ABI number and build id of ModuleHeader; a
// module built by another compiler or from another version of its table is
// refused with a clear error.
//
// Thread safety: may be called from several threads; loaded handles stay
// open for the life of the process.
#ifndef IMMUNE_CORE_MODULE_H_
#define IMMUNE_CORE_MODULE_H_

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>

#include "immune/core/error.h"

namespace immune {

// The first members of every module table.
struct ModuleHeader {
  std::uint32_t abi;
  const char* build_id;
};

struct ModuleSpec {
  std::string description;  // "TPM module", for messages
  std::string file_name;    // "immune-tpm-esys.so"
  std::string env_var;      // "IMMUNE_TPM_MODULE"
  std::string build_path;   // may be empty
  std::string symbol;       // the exported table
  std::uint32_t abi;        // the table version this program expects
};

// The compiler and C++ library ABI this binary was built with; a module must
// have been built with the same.
const char* ModuleBuildId();

// Loads the module and returns its table (checked against spec.abi and
// ModuleBuildId()). kUnavailable names every path tried, or why loading or
// the check failed.
Result<const void*> LoadModuleTable(const ModuleSpec& spec);

// A module loaded on the first Get(); later calls return the first outcome
// (a module that failed to load is not retried). Keep one per module, with
// static storage duration.
template <typename Table>
class LazyModule {
 public:
  explicit LazyModule(ModuleSpec spec) : spec_(std::move(spec)) {}

  Result<const Table*> Get() {
    std::call_once(once_, [this] {
      auto table = LoadModuleTable(spec_);
      if (table.ok()) {
        result_ = static_cast<const Table*>(*table);
      } else {
        result_ = table.error();
      }
    });
    return result_;
  }

 private:
  ModuleSpec spec_;
  std::once_flag once_;
  Result<const Table*> result_ = Internal("module not loaded");
};

}  // namespace immune

#endif  // IMMUNE_CORE_MODULE_H_
