// The parts of tpm.h that need no TPM software stack (in immune_tpm_base).
#include <cstdlib>
#include <filesystem>

#include "immune/tpm/tpm.h"

namespace immune::tpm {

std::string_view KeyAlgName(KeyAlg alg) { return alg == KeyAlg::kEccP256 ? "ecc" : "rsa"; }

std::optional<std::string> DefaultTcti() {
  for (const char* var : {"TPM2TOOLS_TCTI", "TCTI"}) {
    const char* v = std::getenv(var);
    if (v != nullptr && *v != '\0') return std::string(v);
  }
  std::error_code ec;
  if (std::filesystem::exists("/dev/tpmrm0", ec)) return std::string("device:/dev/tpmrm0");
  return std::nullopt;
}

}  // namespace immune::tpm
