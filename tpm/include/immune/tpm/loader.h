// Loading the ESAPI backend on demand.
//
// tpm2-tss pulls in libcrypto's shared library and its own five; mapping and
// relocating them costs about a millisecond, as much as starting a small
// command. Commands that need no TPM (parsing and replaying a log) must not
// pay it, so immunectl does not link the backend: it loads the module
// `immune-tpm-esys.so` with dlopen the first time a TPM is opened. The daemon
// and the tests link the backend directly and call OpenTpm().
//
// Where the module is looked for, first hit wins:
//   (core/module.h LoadModuleTable with env IMMUNE_TPM_MODULE:)
//   1. $IMMUNE_TPM_MODULE (a path to the .so);
//   2. <directory of the running executable>/../lib/immune/immune-tpm-esys.so
//      (the installed layout);
//   3. the build tree's copy (compiled in), for running from a build.
// The module exports a versioned table; a module built from another version
// of Immune (another ABI) is refused with a clear error.
//
// Thread safety: may be called from several threads; the module is loaded once.
#ifndef IMMUNE_TPM_LOADER_H_
#define IMMUNE_TPM_LOADER_H_

#include <cstdint>
#include <memory>
#include <string_view>

#include "immune/core/error.h"
#include "immune/tpm/tpm.h"

namespace immune::tpm {

// Bumped whenever tpm.h or this table changes in a way that breaks a module
// built against the old one.
inline constexpr std::uint32_t kTpmModuleAbi = 1;

// Starts with the members of immune::ModuleHeader (core/module.h).
struct TpmModuleV1 {
  std::uint32_t abi;
  const char* build_id;  // compiler and library ABI the module was built with
  Result<std::unique_ptr<Tpm>> (*open)(std::string_view tcti);
  // TPM2_Startup(CLEAR) at a locality (swtpm with deferred startup).
  Status (*startup)(std::string_view tcti, std::uint8_t locality);
};

// The exported symbol's name.
inline constexpr const char* kTpmModuleSymbol = "immune_tpm_module_v1";

// The build id this binary was compiled with; a module must match it.
const char* TpmModuleBuildId();

// The loaded module's table, loading it on first call.
Result<const TpmModuleV1*> LoadTpmModule();

// OpenTpm() through the module.
Result<std::unique_ptr<Tpm>> OpenTpmModule(std::string_view tcti);

}  // namespace immune::tpm

#endif  // IMMUNE_TPM_LOADER_H_
