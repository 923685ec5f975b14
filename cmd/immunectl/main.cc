// immunectl: everything a person types. Thin: it parses arguments and wires
// the libraries together; the work is in boot/, tpm/, ... so tests and
// benchmarks exercise the same code.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "boot_command.h"
#include "command_module.h"
#include "exit_codes.h"
#include "immune/core/log.h"

#ifndef IMMUNE_VERSION
#define IMMUNE_VERSION "unknown"
#endif

namespace {

// Command groups built as modules (command_module.h).
constexpr std::string_view kModuleGroups[] = {"ima", "chain", "tsb", "policy"};

// The command group the arguments name: the first word that is not an
// option or the value of -T/--tcti; empty when there is none.
std::string_view ChosenGroup(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "-T" || a == "--tcti") {
      ++i;
      continue;
    }
    if (!a.starts_with("-")) return a;
  }
  return {};
}

}  // namespace

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
  // A module group is loaded only when it is the one chosen; with no known
  // group (top-level --help, an unknown command) all are, and a missing one
  // is then left out.
  const std::string_view chosen = ChosenGroup(argc, argv);
  bool chosen_is_known = chosen == "boot";
  for (std::string_view g : kModuleGroups) chosen_is_known = chosen_is_known || g == chosen;
  for (std::string_view group : kModuleGroups) {
    if (chosen_is_known && chosen != group) continue;
    immune::Status s = immune::cli::AddModuleCommands(group, app, global, &exit_code);
    if (!s.ok() && chosen == group) return immune::cli::ReportError(s.error());
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    // CLI11 returns 0 for --help/--version; usage errors become our "bad input".
    return rc == 0 ? immune::cli::kExitOk : immune::cli::kExitBadInput;
  } catch (const std::exception& e) {
    // A command let an exception out: a bug (commands return errors), but
    // the operator still gets a message and an exit code, not an abort.
    return immune::cli::ReportError(immune::Internal(std::string("uncaught exception: ") + e.what()));
  }
  return exit_code;
}
