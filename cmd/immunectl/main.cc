// immunectl: everything a person types. Thin: it parses arguments and wires
// the libraries together; the work is in boot/, tpm/, ... so tests and
// benchmarks exercise the same code.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

#include "boot_command.h"
#include "chain_command.h"
#include "exit_codes.h"
#include "ima_command.h"
#include "immune/core/log.h"
#include "tsb_command.h"

#ifndef IMMUNE_VERSION
#define IMMUNE_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  // tpm2-tss logs expected conditions (an undefined NV index, a TPM that is
  // not there) as ERROR lines on stderr; immunectl reports errors itself.
  // An operator who wants the TSS's own log sets TSS2_LOG.
  ::setenv("TSS2_LOG", "all+none", /*overwrite=*/0);
  CLI::App app{"immunectl: measured boot, trusted software base, policy, ledger and attestation for Immune"};
  app.set_version_flag("--version", std::string("immunectl ") + IMMUNE_VERSION);
  app.require_subcommand(1);
  app.fallthrough();

  immune::cli::GlobalOptions global;
  app.add_option("-T,--tcti", global.tcti,
                 "TPM to use, as a TCTI string: swtpm:port=2321, device:/dev/tpmrm0, tabrmd:bus_type=session "
                 "(default: $TPM2TOOLS_TCTI, $TCTI, then /dev/tpmrm0)");
  app.add_flag("-v,--verbose", global.verbose, "Print progress on stderr");

  int exit_code = immune::cli::kExitOk;
  immune::cli::AddBootCommands(app, global, &exit_code);
  immune::cli::AddImaCommands(app, global, &exit_code);
  immune::cli::AddTsbCommands(app, global, &exit_code);
  immune::cli::AddChainCommands(app, global, &exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    // CLI11 returns 0 for --help/--version; usage errors become our "bad input".
    return rc == 0 ? immune::cli::kExitOk : immune::cli::kExitBadInput;
  }
  return exit_code;
}
