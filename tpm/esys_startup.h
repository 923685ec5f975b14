// Internal: TPM2_Startup(CLEAR) at a chosen locality through ESAPI, for
// SwtpmProcess::Startup (via the module table in loader.h).
#ifndef IMMUNE_TPM_ESYS_STARTUP_H_
#define IMMUNE_TPM_ESYS_STARTUP_H_

#include <cstdint>
#include <string_view>

#include "immune/core/error.h"

namespace immune::tpm::internal {

// Opens `tcti`, sets the TCTI locality (the swtpm TCTI does it with swtpm's
// CMD_SET_LOCALITY control command), sends TPM2_Startup(CLEAR) and closes.
// kUnsupported when the TCTI cannot set a locality; kTpm when the TPM
// refuses (a PC Client TPM accepts Startup only at localities 0 and 3).
Status StartupAtLocality(std::string_view tcti, std::uint8_t locality);

}  // namespace immune::tpm::internal

#endif  // IMMUNE_TPM_ESYS_STARTUP_H_
