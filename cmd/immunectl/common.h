// Pieces every immunectl command shares: global options, output, opening the
// configured TPM, and reporting a verification.
#ifndef IMMUNE_CMD_IMMUNECTL_COMMON_H_
#define IMMUNE_CMD_IMMUNECTL_COMMON_H_

#include <memory>
#include <string>

#include "immune/boot/verify.h"
#include "immune/core/error.h"
#include "immune/core/pcr.h"
#include "immune/tpm/tpm.h"

namespace immune::cli {

struct GlobalOptions {
  std::string tcti;  // empty: DefaultTcti()
  bool verbose = false;
};

// Writes all of s to stdout.
void WriteOut(const std::string& s);

// "sha256:\n  0  : hex\n ..." for people.
std::string PcrText(const PcrValues& values);

// Every (bank, PCR) present in `values`.
PcrSelection SelectionOf(const PcrValues& values);

// The TPM named by --tcti, $TPM2TOOLS_TCTI, $TCTI or /dev/tpmrm0, through the
// on-demand ESAPI module.
Result<std::unique_ptr<tpm::Tpm>> OpenConfiguredTpm(const GlobalOptions& g);

// Prints a verification report (text on stdout/stderr, or JSON on stdout)
// and returns the exit code: 0 passed, 1 not. `what` names the reference
// ("the TPM", a file name).
int ReportVerify(const boot::VerifyReport& r, bool strict, bool json, const std::string& what);

}  // namespace immune::cli

#endif  // IMMUNE_CMD_IMMUNECTL_COMMON_H_
