// `immunectl tsb ...`: ask a running immuned over its control endpoint
// (docs/tsb-daemon.md, "Control protocol").
#ifndef IMMUNE_CMD_IMMUNECTL_TSB_COMMAND_H_
#define IMMUNE_CMD_IMMUNECTL_TSB_COMMAND_H_

#include <CLI/CLI.hpp>

#include "common.h"

namespace immune::cli {

// Adds the `tsb` subcommand tree (status, log, containers, pcr) to `app`.
// The chosen command's exit code is written to *exit_code when it runs:
// 0 ok, 1 `pcr` found the TPM and the journal disagree, 2 bad input,
// 3 the daemon is not reachable or failed.
void AddTsbCommands(CLI::App& app, const GlobalOptions& global, int* exit_code);

}  // namespace immune::cli

#endif  // IMMUNE_CMD_IMMUNECTL_TSB_COMMAND_H_
